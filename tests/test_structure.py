"""The house stays in order: no import circles inside ``llmgw``, no module over 400 lines.

The import graph is read from the source with ``ast`` (nothing is imported): absolute and
relative imports, ``from pkg import module`` as an import of ``pkg.module`` (and of ``pkg``
itself only when a name that is not a submodule is taken from it), imports inside functions
and under ``TYPE_CHECKING`` alike: a circle that only a lazy import keeps from failing at
import time is still a circle in the design. A failure names every strongly connected group
of modules and, for each, one shortest circle with the file and line of every import on it.
"""

from __future__ import annotations

import ast
import itertools
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400
SIZED = ("llmgw", "benchmarks")

# module -> imported module -> line of the first such import
Graph = dict[str, dict[str, int]]


def module_files(package_dir: Path) -> dict[str, Path]:
    """Every module of the package at ``package_dir`` by dotted name (packages by their own)."""
    base = package_dir.parent
    out: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(base).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement in ``module`` may refer to (modules or not)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module if is_package else module.rpartition(".")[0]
        parts = package.split(".")
        if node.level - 1 > len(parts):
            return []
        base = ".".join(parts[: len(parts) - (node.level - 1)])
        source = f"{base}.{node.module}" if node.module else base
    else:
        source = node.module or ""
    return [source, *(f"{source}.{alias.name}" for alias in node.names)]


def import_graph(package_dir: Path) -> tuple[Graph, dict[str, Path]]:
    """The import edges between the modules of the package at ``package_dir``."""
    files = module_files(package_dir)
    graph: Graph = {name: {} for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            targets = _imported(node, name, is_package)
            if isinstance(node, ast.ImportFrom) and targets:
                source, members = targets[0], targets[1:]
                modules = [m for m in members if m in files]
                # the package itself only when something other than a submodule comes from it
                targets = modules + ([source] if len(modules) < len(members) else [])
            for target in targets:
                if target in files and target != name:
                    graph[name].setdefault(target, node.lineno)
    return graph, files


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Groups of two or more modules that all reach each other (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def shortest_cycle(graph: Graph, group: list[str]) -> list[str]:
    """One shortest circle inside ``group``, starting and ending at its first module."""
    members = set(group)
    start = group[0]
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child not in members:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    raise AssertionError(f"no circle through {start}")  # a group always has one


def describe(graph: Graph, files: dict[str, Path], group: list[str]) -> str:
    """A group and one circle in it, each step with the import's file and line."""
    cycle = shortest_cycle(graph, group)
    steps = [
        f"    {a} -> {b}  ({files[a].relative_to(ROOT)}:{graph[a][b]})"
        for a, b in itertools.pairwise(cycle)
    ]
    return f"  {', '.join(group)}\n" + "\n".join(steps)


def test_no_import_cycles_in_llmgw() -> None:
    graph, files = import_graph(ROOT / "llmgw")
    groups = strongly_connected(graph)
    report = "\n".join(describe(graph, files, g) for g in groups)
    assert not groups, f"{len(groups)} import circle(s) in llmgw:\n{report}"


def test_no_module_over_400_lines() -> None:
    too_long = {
        str(path.relative_to(ROOT)): n
        for top in SIZED
        for path in sorted((ROOT / top).rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    listing = "\n".join(f"  {path}: {n} lines" for path, n in too_long.items())
    assert not too_long, f"modules over {MAX_LINES} lines (split them by concept):\n{listing}"


# -- the checker itself, on a package made for the purpose -------------------------------------


def make_package(tmp_path: Path, modules: dict[str, str]) -> Path:
    """Write ``modules`` ({"pkg/a.py": source}) under ``tmp_path``; the top package's dir."""
    for rel, source in modules.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return tmp_path / "pkg"


@pytest.mark.parametrize(
    "importer",
    [
        "import pkg.b\n",
        "import pkg.b as bee\n",
        "from pkg.b import thing\n",
        "from pkg import b\n",
        "from . import b\n",
        "from .b import thing\n",
        "def later():\n    from pkg.b import thing\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import thing\n",
    ],
)
def test_checker_sees_each_kind_of_import(tmp_path: Path, importer: str) -> None:
    package = make_package(
        tmp_path,
        {"pkg/__init__.py": "", "pkg/a.py": importer, "pkg/b.py": "from pkg.a import x\n"},
    )
    graph, _ = import_graph(package)
    assert strongly_connected(graph) == [["pkg.a", "pkg.b"]]


def test_checker_resolves_relative_imports_in_subpackages(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "from .inner import y\n",
            "pkg/sub/inner.py": "from ..top import z\n",
            "pkg/top.py": "from pkg.sub import y\n",
        },
    )
    graph, _ = import_graph(package)
    assert graph["pkg.sub"] == {"pkg.sub.inner": 1}
    assert graph["pkg.sub.inner"] == {"pkg.top": 1}
    groups = strongly_connected(graph)
    assert groups == [["pkg.sub", "pkg.sub.inner", "pkg.top"]]
    assert shortest_cycle(graph, groups[0]) == ["pkg.sub", "pkg.sub.inner", "pkg.top", "pkg.sub"]


def test_checker_counts_from_package_import_module_as_the_module(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        {
            "pkg/__init__.py": "def __getattr__(name):\n    from pkg import a\n",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "import os\n",
        },
    )
    graph, _ = import_graph(package)
    assert graph["pkg.a"] == {"pkg.b": 1}  # not the package: nothing is taken from it
    assert strongly_connected(graph) == []


def test_checker_finds_no_circle_in_a_layered_package(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.top import run\n",
            "pkg/top.py": "from pkg.mid import m\nfrom pkg import low\n",
            "pkg/mid.py": "from .low import value\n",
            "pkg/low.py": "value = 1\n",
        },
    )
    graph, _ = import_graph(package)
    assert strongly_connected(graph) == []
