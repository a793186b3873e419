"""What the owner hands the workshop, and what it hands back: copies, never the
owner's rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from responder.verify.checks import Hands
from responder.verify.judge import Judgement

BRANCH_PREFIX = "warden/"


@dataclass(frozen=True)
class Work:
    """A swarm's work as the workshop needs it."""

    swarm_id: str
    type: str
    trigger: str
    tree: Path
    branch: str
    base: str | None
    user: str | None
    hands: Hands
    setup: tuple[str, ...]
    share: tuple[str, ...]
    setup_timeout: float
    land: str
    expects_change: bool


@dataclass(frozen=True)
class Prepared:
    swarm_id: str
    base: str
    error: str | None
    """Why no worktree could be made (None: it is ready)."""


@dataclass(frozen=True)
class Verdict:
    swarm_id: str
    judgement: Judgement
    landed: str | None
    seconds: float
    checked: tuple[str, ...]
    """The checks that ran on the work (build, tests, typecheck, coverage)."""
