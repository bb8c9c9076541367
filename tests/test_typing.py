"""The per-call entry points keep their signatures through the error boundary (`guarded`):
mypy rejects a wrongly typed call of each one, and accepts a correct one."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[1]
HEADER = """\
from opentelemetry.context import Context

from orq_otel._openai.call import Call
from orq_otel._openai.instrumentation import Instrumentation
from orq_otel._openai.request import OutgoingRequest
from orq_otel._openai.subject import Subjects


async def correct(
    instrumentation: Instrumentation, call: Call, subjects: Subjects, request: OutgoingRequest
) -> None:
    begun = instrumentation.begin(object(), (), {})
    await instrumentation.begin_async(object(), (), {})
    call.deliver(begun)
    call.fail(RuntimeError("x"))
    subjects.of(request, Context())
    await subjects.of_async(request, Context())


async def wrong(instrumentation: Instrumentation, call: Call, subjects: Subjects) -> None:
"""
# One wrong call per entry point, and the error mypy must report for it.
WRONG = {
    "begin": ('instrumentation.begin("not a request", 1, 2, 3, 4)', "Too many arguments"),
    "begin_async": ("await instrumentation.begin_async(object(), [], {})", '"list[Never]"'),
    "deliver": ("call.deliver(1, 2)", "Too many arguments"),
    "fail": ('call.fail("not an error")', 'incompatible type "str"'),
    "subjects.of": ("subjects.of(1, Context())", 'incompatible type "int"'),
    "subjects.of_async": ("await subjects.of_async(None, None)", 'incompatible type "None"'),
}
FIRST_WRONG_LINE = HEADER.count("\n") + 1


@pytest.fixture(scope="module")
def errors(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """mypy's errors on the snippet, by line (one run: mypy takes seconds to start)."""
    source = tmp_path_factory.mktemp("typing") / "snippet.py"
    source.write_text(HEADER + "".join(f"    {call}\n" for call, _ in WRONG.values()))
    stdout, stderr, _ = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),  # shared with the lint step's run: warm in CI
            "--follow-imports=silent",
            str(source),
        ]
    )
    found: dict[int, str] = {}
    for text in (stdout + stderr).splitlines():
        name, _, rest = text.partition(":")
        line, _, message = rest.partition(":")
        if name.endswith("snippet.py") and line.isdigit() and "error" in message:
            found[int(line)] = found.get(int(line), "") + message
    return found


def test_correct_calls_of_the_entry_points_type_check(errors: dict[int, str]) -> None:
    assert {line: text for line, text in errors.items() if line < FIRST_WRONG_LINE} == {}


@pytest.mark.parametrize("entry_point", sorted(WRONG))
def test_a_wrongly_typed_call_is_rejected(entry_point: str, errors: dict[int, str]) -> None:
    line = FIRST_WRONG_LINE + list(WRONG).index(entry_point)
    assert WRONG[entry_point][1] in errors.get(line, ""), errors
