"""The house's layout, read from the imports (every one, also under TYPE_CHECKING).

Layers, bottom up: the shared core (`warden.*` but `warden.shell`), the two
services (`exporter`, `responder`) on it, and the command line
(`warden.shell`) above them. Data flows one way through the responder's
packages, so they import one another without a circle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("warden", "exporter", "responder")


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def imports() -> dict[str, set[str]]:
    """Each project module -> the project modules it imports."""
    known = modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: Iterable[str] = ()
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[name] |= {t for t in targets if t in known and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer(module: str) -> str:
    if module.startswith("warden.shell"):
        return "shell"
    return module.split(".")[0]


def test_no_module_imports_itself_round_a_circle() -> None:
    assert cycles(imports()) == []


def test_the_responders_packages_form_no_circle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, targets in imports().items():
        for b in targets:
            pa, pb = ".".join(a.split(".")[:2]), ".".join(b.split(".")[:2])
            if a.startswith("responder.") and b.startswith("responder.") and pa != pb:
                graph[pa].add(pb)
    assert cycles(graph) == []


def test_each_layer_imports_only_those_below_it() -> None:
    allowed = {
        "warden": {"warden"},
        "exporter": {"exporter", "warden"},
        "responder": {"responder", "warden"},
        "shell": {"shell", "warden", "exporter", "responder"},
    }
    wrong = sorted(
        (a, b)
        for a, targets in imports().items()
        for b in targets
        if layer(b) not in allowed[layer(a)]
    )
    assert wrong == []


def test_the_checks_see_a_circle_and_a_layer_broken() -> None:
    """The checks above are not blind: a made-up circle and an upward import show."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = imports()
    assert "responder.service.worker" in graph["responder.service.routes"]
    assert layer("warden.shell.cli") == "shell" and layer("warden.config") == "warden"
