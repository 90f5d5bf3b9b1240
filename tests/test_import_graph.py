"""The layers stay layers: no import cycle between packages, no reaching into another
package's private names.

Every ``import`` in ``src/gpudoctor`` is read with ``ast`` (those inside functions too, which
is where a cycle likes to hide). A unit is a subpackage (``probes``, ``checks`` ...) or a
top-level module (``model``, ``registry`` ...).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from conftest import REPO

SRC = REPO / "src" / "gpudoctor"


def _unit(module: str) -> str:
    parts = module.split(".")
    if len(parts) < 2:
        return "gpudoctor"
    candidate = SRC / parts[1]
    return parts[1] if candidate.is_dir() else parts[1].removesuffix(".py")


def _module_of(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((a.name, [], node.lineno) for a in node.names)
    return [(m, names, line) for m, names, line in found if m.split(".")[0] == "gpudoctor"]


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        here = _unit(_module_of(path))
        for module, _names, _line in _imports(path):
            there = _unit(module)
            if there != here and there != "gpudoctor":
                edges[here].add(there)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_no_import_cycle_between_packages():
    assert _cycles(_graph()) == []


def test_no_module_imports_a_private_name_of_another_package():
    offences = []
    for path in SRC.rglob("*.py"):
        here = _unit(_module_of(path))
        for module, names, line in _imports(path):
            if _unit(module) == here:
                continue
            private_module = any(part.startswith("_") for part in module.split(".")[1:])
            private_names = [n for n in names if n.startswith("_") and n != "__version__"]
            if (private_module and module != "gpudoctor._version") or private_names:
                offences.append(f"{path.relative_to(SRC)}:{line} imports {module} {names}")
    assert offences == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_example_plugin_uses_only_the_public_api():
    plugin = REPO / "examples" / "gpudoctor-example-plugin" / "src"
    modules = {module for path in plugin.rglob("*.py") for module, _n, _l in _imports(path)}
    assert modules == {"gpudoctor.api"}
