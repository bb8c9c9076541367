"""The README's two set-up commands, read from its "Try it: two commands" block.

`.ci/run` runs what this prints, so CI runs exactly what a newcomer copies:
`python3 scripts/readme_commands.py 1` prints the demo command, `2` the test command.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Try it: two commands"
COMMAND_COUNT = 2


def readme_commands(readme: str) -> list[str]:
    """The command lines (not comments) of the first bash block under SECTION."""
    _, found, section = readme.partition(SECTION)
    block = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    if not found or block is None:
        raise ValueError(f"README.md has no bash block under {SECTION!r}")
    lines = (line.strip() for line in block.group(1).splitlines())
    commands = [line for line in lines if line and not line.startswith("#")]
    if len(commands) != COMMAND_COUNT:
        raise ValueError(f"{SECTION!r} holds {len(commands)} commands, not {COMMAND_COUNT}")
    return commands


def main(argv: list[str]) -> int:
    number = int(argv[1]) if len(argv) == 2 and argv[1] in {"1", "2"} else 0
    if not number:
        print("usage: readme_commands.py 1|2", file=sys.stderr)
        return 2
    print(readme_commands(README.read_text())[number - 1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
