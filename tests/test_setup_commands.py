"""The set-up a newcomer copies is what CI runs, and every environment comes from a lock.

The README's two commands are read by scripts/readme_commands.py, which .ci/run runs them
through; the lock files in constraints/ (made by scripts/lock.sh) must still satisfy
pyproject.toml, and constraints/lowest.txt must pin exactly the minimums it declares.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.version import Version
from readme_commands import readme_commands

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomli.loads((ROOT / "pyproject.toml").read_text())
CI = (ROOT / ".ci" / "run").read_text()
COMMANDS = readme_commands((ROOT / "README.md").read_text())
# The environments README and CI install, each with its lock and the extras it installs.
LOCKS = {
    "examples.txt": ["examples"],
    "test.txt": ["test"],
    "frameworks.txt": ["frameworks"],
    "bench.txt": ["bench"],
    "bench-genai.txt": ["bench-genai"],
    "lowest.txt": ["test"],
    "oldest-openai.txt": ["test"],
}
# The Pythons pyproject.toml supports, for locks with version markers.
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


def _pins(lock: str) -> dict[str, list[tuple[Version, Marker | None]]]:
    pins: dict[str, list[tuple[Version, Marker | None]]] = {}
    for line in (ROOT / "constraints" / lock).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            name = requirement.name.lower().replace("_", "-")
            pins.setdefault(name, []).append((Version(specifier.version), requirement.marker))
    return pins


def _requirements(extras: list[str]) -> Iterator[Requirement]:
    """The package's own dependencies and those of the extras, self-references followed."""
    yield from map(Requirement, PYPROJECT["project"]["dependencies"])
    seen: set[str] = set()
    pending = list(extras)
    while pending:
        extra = pending.pop()
        seen.add(extra)
        for line in PYPROJECT["project"]["optional-dependencies"][extra]:
            requirement = Requirement(line)
            if requirement.name == "orq-otel":
                pending.extend(sorted(requirement.extras - seen))
            else:
                yield requirement


def _pinned_for(pins: list[tuple[Version, Marker | None]], python: str) -> list[Version]:
    environment = {"python_version": python, "python_full_version": f"{python}.0"}
    return [version for version, marker in pins if marker is None or marker.evaluate(environment)]


def test_readme_commands_install_from_the_locks() -> None:
    demo, tests = COMMANDS
    assert "-c constraints/examples.txt -e '.[examples]'" in demo
    assert demo.endswith("&& .venv/bin/python -m orq_otel.demo")
    assert "-c constraints/test.txt -e '.[test]'" in tests
    assert tests.endswith("&& .venv/bin/python -m pytest")
    for command in COMMANDS:
        words = shlex.split(command)
        for flag, value in itertools.pairwise(words):
            if flag == "-c":
                assert (ROOT / value).is_file(), value


def test_ci_runs_both_readme_commands_as_written() -> None:
    runs = re.findall(r"^run_readme_command (\d)$", CI, flags=re.MULTILINE)
    assert runs == ["1", "2"]
    assert 'command=$("$PYTHON" scripts/readme_commands.py "$1")' in CI
    assert 'bash -eo pipefail -c "$command"' in CI
    # CI installs the test extra's newest pins only through the README's command.
    installs = [line for line in CI.splitlines() if "'.[test]'" in line]
    assert installs == ["pinned_venv .venv-lowest constraints/lowest.txt -e '.[test]'"]


def test_readme_commands_reject_a_changed_block() -> None:
    readme = (ROOT / "README.md").read_text()
    with pytest.raises(ValueError, match="holds 3 commands"):
        readme_commands(readme.replace(COMMANDS[1], f"{COMMANDS[1]}\necho third", 1))


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_lock_satisfies_pyproject(lock: str) -> None:
    """A requirement changed in pyproject.toml without rerunning scripts/lock.sh fails here."""
    pins = _pins(lock)
    for requirement in _requirements(LOCKS[lock]):
        for python in PYTHONS:
            versions = _pinned_for(pins.get(requirement.name.lower(), []), python)
            assert len(versions) == 1, f"{lock} pins {requirement.name} {versions} on {python}"
            assert requirement.specifier.contains(versions[0], prereleases=True), (
                f"{lock} pins {requirement.name}=={versions[0]}, pyproject says {requirement}"
            )


def test_lowest_lock_pins_every_declared_minimum() -> None:
    """CI's lowest environment tests exactly the minimums users are promised."""
    pins = _pins("lowest.txt")
    for requirement in _requirements(LOCKS["lowest.txt"]):
        specifiers = requirement.specifier
        minimums = [Version(spec.version) for spec in specifiers if spec.operator == ">="]
        exact = [Version(spec.version) for spec in specifiers if spec.operator == "=="]
        for python in PYTHONS:
            (pinned,) = _pinned_for(pins[requirement.name.lower()], python)
            assert [pinned] == (minimums or exact), f"lowest.txt: {requirement.name}=={pinned}"


def test_demo_lock_is_the_test_lock_without_the_test_tools() -> None:
    """Command 1 then command 2 in one .venv changes no installed version."""
    test_pins = _pins("test.txt")
    for name, pins in _pins("examples.txt").items():
        for python in PYTHONS:
            assert _pinned_for(pins, python) == _pinned_for(test_pins[name], python), name


def test_test_lock_runs_tests_in_random_order() -> None:
    assert "pytest-randomly" in _pins("test.txt")
