"""The package's seams: layers import downward only, and no module imports itself back.

Every import counts: at the top, inside functions and under TYPE_CHECKING alike, since a
type-only import is a dependency all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "orq_otel"
# A subpackage may import the shared top-level modules and the layers listed for it.
MAY_IMPORT = {
    "_identity": set(),
    "_report": set(),
    "testing": set(),
    "_content": set(),
    "_openai": {"_identity", "_content"},
    "_setup": {"_identity", "_openai"},
    "demo": {"__init__", "_identity", "_openai", "testing"},
    "__init__": {"_identity", "_openai", "_setup"},
}
SHARED = {"_cache", "_config", "_config_content", "_log", "_names", "_version"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every orq_otel module this file imports (a `from x import y` may name a module y)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("orq_otel"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("orq_otel"):
            module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}
GRAPH = {
    name: {imported for imported in imports_of(path) if imported in MODULES and imported != name}
    for name, path in MODULES.items()
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_imports_downward_only(module: str) -> None:
    layer = layer_of(module)
    allowed = SHARED | {layer} | MAY_IMPORT.get(layer, set())
    if layer in SHARED:
        allowed = SHARED
    upward = {imported for imported in GRAPH[module] if layer_of(imported) not in allowed}
    assert upward == set()


def test_no_module_imports_itself_back() -> None:
    cycles = []
    for start in GRAPH:
        stack = [(start, [start])]
        seen = set()
        while stack:
            module, path = stack.pop()
            for imported in GRAPH[module]:
                if imported == start:
                    cycles.append(" -> ".join([*path, start]))
                elif imported not in seen:
                    seen.add(imported)
                    stack.append((imported, [*path, imported]))
    assert cycles == []


def test_every_module_stays_small() -> None:
    lines = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    assert {name: n for name, n in lines.items() if n > 300} == {}


def test_every_function_stays_small() -> None:
    # Counted as the review counts them: from `def` to the function's last line.
    long = {
        f"{name}.{node.name}:{node.lineno}": node.end_lineno - node.lineno + 1
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno
        if node.end_lineno - node.lineno + 1 > 40
    }
    assert long == {}
