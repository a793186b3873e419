"""The patterns that cause issues (L2): recurring alerts, failure classes, and the files
that failing swarms were handed, counted over a period for the reviews.

Files are read from failing swarms' contexts (the failing tests, the build's
output, the files whose coverage fell, as the exporter handed them), so the
files that keep breaking show up without any agent telling Warden about them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from responder.state.store import Store

TOP = 10
_EXT = (
    r"\.(?:py|pyi|ts|tsx|js|jsx|mjs|go|rs|java|kt|rb|php|c|h|cc|cpp|hpp|cs|swift|scala|sql"
    r"|sh|vue|svelte)"
)
FILE = re.compile(
    rf"(?<![\w/.:-])(/?(?:[\w.-]+/)+[\w-][\w.-]*{_EXT}|[\w-][\w.-]*{_EXT}(?=:\d|\(\d|::))"
    r"(?=[\s:(),'\"\]]|$)"
)
"""A source file's path as tools print it: with a folder (`src/app/db.py`), or with
a line or test after it (`db.py:12`, `db.py(12,5)`, `test_x.py::test_y`); a bare
`node.js` in a sentence is a name, not a file."""


@dataclass(frozen=True)
class Patterns:
    alerts: Counter[str]
    classes: Counter[str]
    files: Counter[str]


def files_in(context: str) -> set[str]:
    """The source files a context names, each once (a context that names a file ten
    times is one failing swarm about it)."""
    return {f.removeprefix("./") for f in FILE.findall(context)}


def count(store: Store, start: float, end: float) -> Patterns:
    files: Counter[str] = Counter()
    for context in store.failed_contexts(start, end):
        files.update(files_in(context))
    return Patterns(
        Counter(store.episodes_between(start, end)),
        Counter(store.failure_classes_between(start, end)),
        files,
    )


def section(p: Patterns) -> list[str]:
    """The review's Markdown lines."""

    def top(c: Counter[str]) -> str:
        # Ties by name: the same store reads the same, whatever the order of its rows.
        ranked = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
        return ", ".join(f"{name} {n}" for name, n in ranked) or "none"

    return [
        "## Patterns that cause issues (L2)",
        "",
        f"- Recurring alerts (firing episodes that began): {top(p.alerts)}.",
        f"- Failure classes of agent runs: {top(p.classes)}.",
        f"- Files named by failing swarms' contexts: {top(p.files)}.",
    ]
