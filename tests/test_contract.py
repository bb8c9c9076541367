"""The public surface is CONTRACT.md's: names exported, options accepted.

CONTRACT.md is a copy of the contract the project is held to (../shared/CONTRACT.md where
that exists, which it must then equal).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import orq_otel
from orq_otel._config import Settings

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = (ROOT / "CONTRACT.md").read_text()
SHARED = ROOT.parent / "shared" / "CONTRACT.md"
# Exported beyond the contract, each documented in README: the processor behind
# setup(identity_on_every_span=True), setup()'s return type, the version.
ADDITIONS = {"IdentitySpanProcessor", "SetupHandle", "__version__"}


def table_names(heading: str) -> set[str]:
    """The names in the first column of the table under `heading` (`name(...)` -> name)."""
    section = CONTRACT.split(heading, 1)[1].split("\n## ", 1)[0]
    names = set()
    for row in section.splitlines():
        if row.startswith("| `"):
            first_cell = row.split("|")[1]
            names.update(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)", first_cell))
    return names


def test_the_copy_is_the_contract() -> None:
    if not SHARED.exists():
        pytest.skip("../shared/CONTRACT.md is not beside this checkout")
    assert SHARED.read_text() == CONTRACT


def test_every_contract_name_is_exported_and_nothing_else_but_the_additions() -> None:
    contract = table_names("## Python API")
    assert contract == {
        "Identity",
        "use_identity",
        "set_identity",
        "get_identity",
        "setup",
        "use_thread",
        "get_thread",
        "DropIncomingIdentity",
        "OrqInstrumentor",
    }
    assert set(orq_otel.__all__) == contract | ADDITIONS
    assert all(getattr(orq_otel, name) is not None for name in orq_otel.__all__)
    assert sorted(dir(orq_otel)) == sorted(orq_otel.__all__)


def test_every_contract_option_is_an_option_of_instrument() -> None:
    options = table_names("## Options")
    assert "propagate_to" in options  # the table was read
    assert options <= set(Settings._fields)
