"""The package's import graph, read from the source with ast: no module imports itself through
others (no cycle, imports inside functions included), and the report reads results files
without knowing the lab (report/ imports nothing from lab/)."""

from __future__ import annotations

import ast
from pathlib import Path

import attnlab

PACKAGE = Path(attnlab.__file__).resolve().parent


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the attnlab modules it imports anywhere in its file. `from P import n` counts
    as importing P.n when n is a module of the package, else P."""
    files = {_module_name(path, package): path for path in sorted(package.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's package, `level` steps up
                    anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    child = f"{base}.{alias.name}"
                    found.add(child if child in files else base)
        graph[name] = {m for m in found if m in files and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_one_and_only_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_graph_reads_from_imports_of_submodules_and_packages() -> None:
    graph = import_graph()
    assert "attnlab.lab.runner" in graph["attnlab.lab.workers"]  # from attnlab.lab.runner import
    assert "attnlab.lab.real" in graph["attnlab.lab.length"]  # from attnlab.lab import real
    assert "attnlab.train" in graph["attnlab.lab.common"]


def test_no_import_cycle_in_the_package() -> None:
    assert find_cycle(import_graph()) is None


def test_report_does_not_import_the_lab() -> None:
    graph = import_graph()
    report = [m for m in graph if m == "attnlab.report" or m.startswith("attnlab.report.")]
    assert report, "no report modules found"
    for module in report:
        lab = [m for m in graph[module] if m == "attnlab.lab" or m.startswith("attnlab.lab.")]
        assert not lab, f"{module} imports {lab}"
