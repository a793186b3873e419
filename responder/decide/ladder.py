"""N1: the escalation ladder of one problem episode, a plain function of what was tried.

A problem is an alert of the project (not the fleet's own: `wake.problems`), and
its episode lasts from when it began firing until it resolves. The ladder moves
one rung only when what the rung before started has ended and the problem still
fires `GRACE_SECONDS` later (the time a fix takes to resolve its alert: a build
run on the change, an evaluation, a resolved notification):

- usual: swarms of the usual size, `escalation.attempts` of them (the alert
  path's first swarm counts);
- bigger: one swarm one agent bigger than any that ran for it, at most
  `escalation.max_size`;
- call: a person is told once, with what was tried and what it cost;
- spent: nothing more is spent on it until something changes.

Before this the ladder ran on the clock (5 minutes without "progress") and any
swarm's claim of success, or any other alert resolving, reset it: a build broken
for 10 hours bought 31 bigger swarms and 18 calls (issue 29). Now a swarm's own
word moves the ladder on like a failure does (the problem still fires), and what
resets it is what changes the problem: it resolves and fires again (a new
episode), verified work on it lands (attempts before a verified one no longer
count), or a person asks for another try (`warden retry ALERTNAME`: what was tried
before no longer counts, and the person may be called again). Swarms Warden
stopped itself (the mode, the budget, R4, a pause, a person's kill) are no
attempts: a shortfall of Warden's own making never calls a person, and a swarm
still at work is never escalated over, however long it takes (the runtime kills
stuck and overdue ones, which then count as failed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

GRACE_SECONDS = 120.0
"""After the last attempt ended, the problem may still resolve: wait this long."""
TRIED = ("succeeded", "failed")
"""How an attempt ends: by its own word or its failure, not stopped by Warden."""


class Rung(StrEnum):
    WORKING = "working"
    """A swarm on it runs, or one ended less than the grace ago: wait."""
    USUAL = "usual"
    """Nothing runs on it and usual-size attempts are left: start one."""
    BIGGER = "bigger"
    """The usual attempts ended with it firing: one bigger swarm."""
    CALL = "call"
    """The bigger one ended with it firing too: a person, once; then nothing more."""


@dataclass(frozen=True)
class Attempt:
    """A swarm started for the problem in its episode."""

    type: str
    size: int
    state: str
    ended_at: float | None
    spent_usd: float
    bigger: bool
    """Started as the ladder's bigger swarm."""
    verified: bool
    """Its work was verified and landed: progress, whatever the alert says yet."""

    def said(self) -> str:
        """How it ended, as a person reads it: a claim is not a fix."""
        if self.verified:
            return "verified"
        return "said it succeeded" if self.state == "succeeded" else self.state


def counted(attempts: Sequence[Attempt], retried: float | None = None) -> list[Attempt]:
    """The attempts that move the ladder: ended by their own word or failure, after
    the last verified one and after a person's `warden retry` (at `retried`)."""
    last_verified = max((a.ended_at or 0.0 for a in attempts if a.verified), default=None)
    since = max(last_verified or 0.0, retried or 0.0)
    return [a for a in ended_since(attempts, since) if a.state in TRIED and not a.verified]


def ended_since(attempts: Sequence[Attempt], moment: float | None) -> list[Attempt]:
    """The attempts that ended at or after `moment` (all, if None): what counts after a
    verified landing or a person's `warden retry`."""
    return [a for a in attempts if (a.ended_at or 0.0) >= (moment or 0.0)]


def rung(attempts: Sequence[Attempt], now: float, usual: int, retried: float | None = None) -> Rung:
    """Where the ladder of a problem that still fires stands, from its attempts."""
    if any(a.ended_at is None for a in attempts):
        return Rung.WORKING
    tried = counted(attempts, retried)
    # A verified landing is the attempt most likely to resolve it: the grace after it too.
    landed = [a for a in ended_since(attempts, retried) if a.verified]
    settling = [a.ended_at or 0.0 for a in (*tried, *landed)]
    if settling and now - max(settling) < GRACE_SECONDS:
        return Rung.WORKING
    if any(a.bigger for a in tried):
        return Rung.CALL
    if sum(not a.bigger for a in tried) < usual:
        return Rung.USUAL
    return Rung.BIGGER


def what_was_tried(attempts: Sequence[Attempt]) -> str:
    """A sentence for the person: each attempt, how it ended, and the total cost."""
    if not attempts:
        return "nothing could start (see the refusals)"
    parts = [f"{a.type} x{a.size} {a.said()}" for a in attempts]
    total = sum(a.spent_usd for a in attempts)
    return f"{len(attempts)} swarm(s), ${total:.2f}: " + ", ".join(parts)
