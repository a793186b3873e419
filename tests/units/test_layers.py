"""The house's layout, read from the code: imports (every one, also under
TYPE_CHECKING) and sizes.

Layers, bottom up: the shared core (`warden.*` but `warden.shell`), the two
services (`exporter`, `responder`) on it, and the command line
(`warden.shell`) above them. Data flows one way through the responder's
packages, so they import one another without a circle. A module is read in
one sitting (600 lines at most) and a function on one screen (60 lines of
logic at most).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
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


MODULE_LINES = 600
FUNCTION_LINES = 60
FROZEN = "responder/state/migrations/versions/"
"""Migrations are records of what a schema was: never edited once released."""
CLOSING = re.compile(r"^[)\]}][)\]},]*$")


def logic_lines(source: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's lines but blank ones, comments, its docstring, lines that only
    close brackets and lines that only continue a text literal: what a reader
    follows, not what a long message or a declaration spreads over."""
    skip: set[int] = set()
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        skip |= set(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    for n in ast.walk(node):
        if isinstance(n, ast.JoinedStr) or (
            isinstance(n, ast.Constant) and isinstance(n.value, str)
        ):
            for line in range(n.lineno, (n.end_lineno or n.lineno) + 1):
                text = source[line - 1].strip().rstrip(",")
                if (text[:1] in "\"'" and text[-1:] in "\"'") or text[:2] in ('f"', "f'"):
                    skip.add(line)
    count = 0
    for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
        text = source[line - 1].strip()
        if line in skip or not text or text.startswith("#") or CLOSING.match(text):
            continue
        count += 1
    return count


def test_no_module_is_longer_than_a_sitting() -> None:
    long = {
        str(path.relative_to(REPO)): n
        for path in modules().values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LINES
    }
    assert long == {}


def test_no_function_is_longer_than_a_screen() -> None:
    long = []
    for path in modules().values():
        name = str(path.relative_to(REPO))
        if name.startswith(FROZEN):
            continue
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        functions = [
            node
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        long += [
            f"{name}:{f.lineno} {f.name} ({n} lines)"
            for f in functions
            if (n := logic_lines(lines, f)) > FUNCTION_LINES
        ]
    assert long == []


def test_the_length_counts_logic_and_not_text() -> None:
    """The measure is not blind: code counts, a docstring, comments, a message
    spread over lines and closing brackets do not."""
    source = (
        "def f(x):\n"
        '    """Doc\n    string."""\n'
        "    # a comment\n"
        "    y = g(\n"
        '        "a long message "\n'
        '        f"in parts {x}",\n'
        "    )\n"
        "    return y\n"
    )
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef)
    assert logic_lines(source.splitlines(), node) == 3
