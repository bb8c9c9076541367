"""examples/content_capture.py runs offline and shows what README says it shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "content_capture.py"


def test_the_example_records_the_consenting_customer_only_redacted() -> None:
    finished = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120, check=True
    )
    lines = finished.stdout.splitlines()
    assert lines[0] == "--- chat gpt-4o-mini for cust-ada"
    recorded = {line.split(": ", 1)[0]: json.loads(line.split(": ", 1)[1]) for line in lines[1:3]}
    assert recorded["gen_ai.input.messages"][1]["parts"][0]["content"] == (
        "I'm [identity.display_name] ([identity.email]). My order paid with card [card] "
        "never arrived."
    )
    (reply,) = recorded["gen_ai.output.messages"]
    assert reply["parts"][1]["arguments"] == {"card": "[card]"}
    assert lines[3:] == [
        "--- chat gpt-4o-mini for cust-alan",
        "gen_ai.input.messages: (not recorded)",
        "gen_ai.output.messages: (not recorded)",
    ]
    for secret in ("Ada Lovelace", "ada@example.com", "4111"):
        assert secret not in finished.stdout
