"""What the responder does when an alert fires: the policies, defaulting to the seed.

A policy says, for one alertname, which swarms to start (type, priority),
which jobs to run, and whether the work belongs to the host the alert is
about. `max_running` caps how many swarms one alertname may have running at
once. Whether a swarm may start, and what running work must stop
(R4's "kill non-critical", the budget tiers, the mode), is not a policy's
call: the admission rule (`responder.rules.admission`) decides it for every path.
Policies are overridden per alertname in `warden.yml` (`responder.policies`).
"""

from __future__ import annotations

from dataclasses import dataclass

from responder.model import Priority
from warden.config import PolicySettings


@dataclass(frozen=True)
class Spawn:
    type: str
    priority: Priority


@dataclass(frozen=True)
class Policy:
    spawn: tuple[Spawn, ...] = ()
    max_running: int = 1
    run_jobs: tuple[str, ...] = ()
    """Scheduled jobs to run at once (SwarmsBelowMinimum runs J2, the swarm watchdog)."""
    recover: str | None = None
    """A recovery command (responder.act.recovery) to run first: the swarms follow only if
    it fails or the alert keeps firing."""
    host_bound: bool = False
    """The alert is about one host (its `instance`): only that host's responder acts,
    as only it can run a command or watch agents there. Project-wide work (the build,
    the tests, the budget) goes to whichever responder claims it first."""


def _p(
    *spawn: tuple[str, Priority],
    max_running: int = 1,
    run_jobs: tuple[str, ...] = (),
    recover: str | None = None,
    host_bound: bool = False,
) -> Policy:
    """A policy of the seed: its swarms as (type, priority) pairs."""
    swarms = tuple(Spawn(t, p) for t, p in spawn)
    return Policy(swarms, max_running, run_jobs, recover, host_bound)


C, H, M = Priority.CRITICAL, Priority.HIGH, Priority.MEDIUM

DEFAULT_POLICIES: dict[str, Policy] = {
    # R4: a CRITICAL bugfix swarm with the failure output; the admission rule
    # stops everything less urgent until the build passes.
    "BuildFailing": _p(("bugfix", C)),
    "TestsFailing": _p(("tests", C)),
    "ErrorLogSpike": _p(("bugfix", C)),
    # A5: the gateway is restarted, old logs and reports are removed; a swarm
    # follows only if that does not set it right, then a person.
    "OpenClawDisconnected": _p(("bugfix", C), recover="openclaw_restart", host_bound=True),
    "DiskSpaceLow": _p(("cleanup", C), recover="disk_cleanup", host_bound=True),
    # T3/T4, W3/W4: the runtime already retries and replaces agents; the
    # alerts are recorded, and a failed swarm's type is not started again here.
    "AgentDied": Policy(host_bound=True),
    "SwarmFailed": Policy(host_bound=True),
    "SwarmStuck": Policy(host_bound=True),
    "AgentStuckSpawning": Policy(host_bound=True),
    "SlowResponse": _p(("monitor", H)),
    "MemoryHigh": Policy(host_bound=True),
    "CoverageDecreased": _p(("coverage", H)),
    "CommitsAwaitingReview": _p(("review", M)),
    # R2: the swarm watchdog (J2) tops the swarms up with recovery swarms
    # (bugfix, coverage, monitor), so the alert and the job never both spawn.
    "SwarmsBelowMinimum": Policy(run_jobs=("J2",)),
    "HumanNeeded": Policy(),
    # B: the runtime enforces the tiers as spend is recorded; the alerts are
    # for a person (Alertmanager's human route) and recorded here.
    "BudgetNearlyExhausted": Policy(),
    "BudgetNonCriticalStopped": Policy(),
    "BudgetCriticalOnly": Policy(),
    "BudgetExhausted": Policy(),
    # What the responder cannot fix itself goes to a person (Alertmanager's
    # human route); it records them.
    "ResponderHeartbeatMissing": Policy(),
    "TargetDown": Policy(),
    "CollectorFailing": Policy(),
    "Watchdog": Policy(),
}


def policies_from(overrides: dict[str, PolicySettings]) -> dict[str, Policy]:
    """The seed's policies with `responder.policies` of warden.yml over them."""
    out = dict(DEFAULT_POLICIES)
    for name, p in overrides.items():
        default = out.get(name, Policy())
        out[name] = Policy(
            spawn=tuple(Spawn(t, Priority(pr)) for t, pr in p.spawn),
            max_running=p.max_running,
            recover=p.recover,
            host_bound=default.host_bound if p.host_bound is None else p.host_bound,
        )
    return out
