"""A swarm's outcome from what the checks said at its base and on its work: the
judgement of a fix as SWE-bench makes it (what failed now passes, nothing that
passed breaks), and the merge queue's rule (the watched branch only moves to
work whose checks pass). Pure: the same checks give the same outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from responder.model import BUILD_BROKEN_ALERTS, Outcome
from responder.verify.checks import TreeChecks

NAMED = 5
"""Test cases named in a reason at most."""


@dataclass(frozen=True)
class Judgement:
    outcome: Outcome
    reasons: tuple[str, ...]
    """What failed or broke, a line each (empty when verified)."""
    obsolete: bool = False
    """Nothing was there to do: its problem was gone at its base (a swarm started
    while the alert was still on its way out)."""


def judge(base: TreeChecks, head: TreeChecks, trigger: str, changed: bool) -> Judgement:
    """`trigger`: the swarm's (an alert's `alert:<name>:...`, or a job's); a swarm
    sent for a broken build or failing tests must leave none failing."""
    if not changed:
        return Judgement(Outcome.NO_CHANGE, ("it changed nothing",))
    broke = regressions(base, head)
    if broke:
        return Judgement(Outcome.REGRESSED, broke)
    left = unfinished(base, head, alert_of(trigger) in BUILD_BROKEN_ALERTS)
    if left:
        return Judgement(Outcome.UNVERIFIED, left)
    return Judgement(Outcome.VERIFIED, ())


def nothing_to_fix(base: TreeChecks, trigger: str) -> Judgement | None:
    """A swarm sent for a broken build or failing tests that changed nothing, whose
    base builds and fails no test: the problem was gone before it began."""
    if alert_of(trigger) not in BUILD_BROKEN_ALERTS or (base.build, base.tests) == (None, None):
        return None
    if unfinished(base, base, broken_build=True):
        return None
    why = "nothing to fix: at its base the build passes and no test fails"
    return Judgement(Outcome.NO_CHANGE, (why,), obsolete=True)


def regressions(base: TreeChecks, head: TreeChecks) -> tuple[str, ...]:
    """What passed at the base and fails on the work."""
    out = []
    if base.build and head.build is False:
        out.append("the build passed at the base and fails")
    broke = head.failing & base.passing
    if broke:
        out.append(f"{len(broke)} tests that passed fail: {_names(broke)}")
    elif base.tests and head.tests is False and not (head.cases or base.cases):
        out.append("the tests passed at the base and fail")
    if base.cases and head.tests is not None and not head.cases:
        out.append("the tests wrote no report")
    # A failing test deleted is not a test fixed; but where the base did not build,
    # its report is no list of its tests (a suite that cannot load is one case).
    whole = base.build is not False
    gone = (base.passing | (base.failing if whole else frozenset())) - head.cases.keys()
    if gone and head.cases:
        out.append(f"{len(gone)} tests of the base are gone: {_names(gone)}")
    was, now = base.type_errors, head.type_errors
    if was is not None and now is not None and now > was:
        out.append(f"type errors {was} -> {now}")
    before, after = base.coverage, head.coverage
    if before is not None and after is not None and after < before - 1e-9:
        out.append(f"line coverage {before:.1%} -> {after:.1%}")
    return tuple(out)


def unfinished(base: TreeChecks, head: TreeChecks, broken_build: bool) -> tuple[str, ...]:
    """What still fails: the build, new failing tests, and for a broken build's
    swarm every failing test."""
    out = []
    if head.build is False:
        out.append("the build fails")
    new = head.failing - base.failing - base.passing
    if new:
        out.append(f"{len(new)} new tests fail: {_names(new)}")
    still = head.failing & base.failing
    if broken_build and still:
        out.append(f"{len(still)} tests still fail: {_names(still)}")
    elif broken_build and head.tests is False and not head.cases:
        out.append("the tests still fail")
    return tuple(out)


def alert_of(trigger: str) -> str:
    """The alertname of an alert's trigger (`alert:<name>:...`); '' for a job's."""
    parts = trigger.split(":")
    return parts[1] if len(parts) > 1 and parts[0] == "alert" else ""


def _names(cases: frozenset[str]) -> str:
    named = sorted(cases)[:NAMED]
    more = len(cases) - len(named)
    return ", ".join(named) + (f" and {more} more" if more else "")
