"""The sections of `warden.yml` besides the collectors and the swarms: where the parts
listen, the responder, `warden up`'s stack, the day, the modes, the budget, the
learning loop and the alerts' thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, create_model
from pydantic.json_schema import JsonSchemaValue

from warden.alertspecs import ALERTS, BUDGET_TIERS, AlertSpec, Param
from warden.config.listen import DEFAULT_EXPORTER_PORT, DEFAULT_RESPONDER_PORT, Listen
from warden.config.section import Section, key, with_defaults
from warden.config.values import (
    EMPTY_LIST,
    EMPTY_MAP,
    RATIO,
    Address,
    Addresses,
    Amount,
    Choice,
    ClockTime,
    Command,
    Count,
    Counts,
    Cron,
    Duration,
    Flag,
    Nested,
    Removed,
    Text,
    TextMap,
    Texts,
    TimeZone,
    Url,
    refuse,
    text,
)

PRIORITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
MODES = ("ACTIVE", "NIGHT", "MAINTENANCE", "CRISIS")
LEARNED_JOBS = ("J1", "J2", "J8")
"""The scheduled jobs that start swarms (kinds of work besides alerts)."""
Mapping = EMPTY_MAP
NOT_A_POLICY_KEY = (
    "no longer a policy key: the admission rule stops what may not run "
    "(R4, modes, budget tiers) for every alert; remove it (docs/responder.md)"
)


class Project(Section):
    dir: Annotated[str, Text()] = key(".", description="the watched project; commands run in it")


class Exporter(Section):
    listen: Annotated[Listen, Address()] = key(
        f"127.0.0.1:{DEFAULT_EXPORTER_PORT}",
        description="where `warden exporter` listens (overridden by --listen); loopback, "
        "outside Prometheus' exporter range and away from 9464 (Claude Code's own)",
    )


class Spawn(Section):
    type: Annotated[str, Text()] = key(description="a swarm type")
    priority: Annotated[str, Choice(PRIORITIES)] = key("HIGH", description="its priority")


class Policy(Section):
    """One alert's policy (docs/responder.md): what it starts."""

    spawn: Annotated[list[Spawn], EMPTY_LIST] = key([], description="the swarms it starts")
    max_running: Annotated[int, Count(1)] = key(
        1, description="swarms of this alert at most at once"
    )
    recover: Annotated[str, Text()] | None = key(
        None, description="a recovery run first; its swarms follow only if it fails"
    )
    host_bound: Annotated[bool, Flag()] | None = key(
        None, description="only the responder of the alert's instance acts; null: the default's"
    )
    kill_below: Annotated[None, Removed(NOT_A_POLICY_KEY)] = key(None, validate_default=False)
    enforce_budget: Annotated[None, Removed(NOT_A_POLICY_KEY)] = key(None, validate_default=False)


class Recovery(Section):
    """A5: a command that may set right what an alert reports, before any swarm."""

    command: Annotated[list[str], Command()] = key(description="an argument list")
    timeout: Annotated[float, Duration(minimum=0.1)] = key("1m", description="then it has failed")
    settle: Annotated[float, Duration(minimum=0)] = key(
        "2m", description="after it succeeded, how long the alert may still fire"
    )
    env: Annotated[dict[str, str], TextMap()] = key(
        {}, description="extra environment variables for the command"
    )


class Responder(Section):
    listen: Annotated[Listen, Address()] = key(
        f"127.0.0.1:{DEFAULT_RESPONDER_PORT}",
        description="where `warden responder` listens: webhooks, /metrics, the API",
    )
    token_file: Annotated[str, Text()] = key(
        "alertmanager/secrets/webhook-token",
        description="the webhook bearer token; Alertmanager sends the same file's content",
    )
    max_body_bytes: Annotated[int, Count(1024)] = key(
        1 << 20, description="larger webhook bodies get 413"
    )
    alertmanager_url: Annotated[str, Url()] | None = key(
        None, description="where the responder posts its own alerts; null: stack's"
    )
    prometheus_url: Annotated[str, Url()] | None = key(
        None, description="where the wake cycle (J1) asks PromQL; null: stack's"
    )
    poll_interval: Annotated[float, Duration()] = key(
        "200ms", description="how often the swarm runtime looks at its agents"
    )
    max_connections: Annotated[int, Count(8)] = key(
        256,
        description="open HTTP connections at most; at the limit the oldest "
        "unauthenticated one gives way (503 if all authenticated)",
    )
    header_timeout: Annotated[float, Duration(minimum=0.1)] = key(
        "5s", description="a client must send its request headers within this"
    )
    body_timeout: Annotated[float, Duration(minimum=0.1)] = key(
        "10s", description="... and its body within this (408 otherwise)"
    )
    id: Annotated[str, Text()] | None = key(
        None, description="this responder among those sharing a database; null: the host name"
    )
    database: Annotated[str, Text()] | None = key(
        None,
        description="a PostgreSQL URL without a password, shared by responders on several "
        "hosts; null: SQLite in state_dir",
    )
    database_password_file: Annotated[str, Text()] | None = key(
        None, description="the PostgreSQL password (or libpq's PGPASSWORD, ~/.pgpass)"
    )
    instance: Annotated[str, Text()] | None = key(
        None, description="this host's exporter as alerts name it; null: exporter.listen"
    )
    claim_lease: Annotated[float, Duration(minimum=1.0)] = key(
        "30s", description="a dead responder's claimed alerts are taken over after this"
    )
    policies: Annotated[dict[str, Policy], Mapping] = key(
        {}, description="per alertname, what replaces its default policy"
    )
    recoveries: Annotated[dict[str, Recovery], Mapping] = key(
        {},
        description="commands a policy runs before its swarms; openclaw_restart and "
        "disk_cleanup exist without being written",
    )


class Stack(Section):
    """`warden up`: where Prometheus and Alertmanager listen, and their configs."""

    prometheus_listen: Annotated[Listen, Address()] = key(
        "127.0.0.1:9090", description="where Prometheus listens"
    )
    alertmanager_listen: Annotated[Listen, Address()] = key(
        "127.0.0.1:9093", description="where Alertmanager listens"
    )
    prometheus_config: Annotated[str, Text()] | None = key(
        None, description="null: the one shipped with Warden"
    )
    alertmanager_config: Annotated[str, Text()] | None = key(
        None, description="null: the one shipped with Warden"
    )
    prometheus_lifecycle: Annotated[bool, Flag()] = key(
        False, description="/-/reload and /-/quit: off, so no client can stop it"
    )
    hang_after: Annotated[float, Duration(minimum=1.0)] = key(
        "1m", description="a part unhealthy this long is killed and restarted (R1: 2 min)"
    )
    prometheus_replica_listen: Annotated[Listen, Address()] | None = key(
        None, description="a second Prometheus, same rules and targets; null: one"
    )
    alertmanager_peer_listen: Annotated[Listen, Address()] | None = key(
        None, description="a second Alertmanager gossiping on each one's port + 1; null: one"
    )
    other_exporters: Annotated[list[str], Addresses()] = key(
        [], description="host:port of the fleet's other exporters, which Prometheus scrapes"
    )
    other_responders: Annotated[list[str], Addresses()] = key(
        [], description="host:port of the fleet's other responders: sent every alert"
    )


class Window(Section):
    """A maintenance window that recurs (M3)."""

    cron: Annotated[str, Cron()] = key(
        description="when it begins, in schedule.timezone: minute hour day month weekday"
    )
    duration: Annotated[float, Duration(minimum=60.0, maximum=7 * 86400.0)] = key(
        description="how long it lasts (1m to 7d)"
    )


class Schedule(Section):
    """The project's day: NIGHT runs from night_start to day_start, ACTIVE the rest."""

    timezone: Annotated[Any, TimeZone()] = key("UTC", description="an IANA name")
    night_start: Annotated[Any, ClockTime()] = key("23:00", description="local time")
    day_start: Annotated[Any, ClockTime()] = key("07:00", description="local time")
    maintenance: Annotated[list[Window], EMPTY_LIST] = key(
        [],
        description="M3: maintenance windows that recur, e.g. [{cron: '0 3 * * 0', "
        "duration: 2h}]; `warden maintenance start` opens one now",
    )


@dataclass(frozen=True)
class Priorities(Texts):
    """Priorities of swarms that may start in a mode."""

    def item(self, value: Any) -> Any:
        written = text(value)
        if written not in PRIORITIES:
            refuse(f"unknown priority {written!r}")
        return written

    def json(self) -> JsonSchemaValue:
        return {"type": "array", "items": {"type": "string", "enum": list(PRIORITIES)}}


class Mode(Section):
    """M1-M4: how a mode runs (its budget cap is `budget.caps`)."""

    heartbeat: Annotated[float, Duration()] = key(description="how often J1 looks")
    crisis_wake: Annotated[float, Duration(minimum=0)] = key(
        description="how often J1 decides during a crisis that broke into the mode"
    )
    max_swarms: Annotated[int, Count()] = key(description="swarms running at most")
    priorities: Annotated[list[str], Priorities()] = key(
        description="priorities of swarms that may start"
    )


Active = with_defaults(
    Mode,
    "Active",
    "The day.",
    heartbeat="1m",
    crisis_wake="10s",
    max_swarms=10,
    priorities=list(PRIORITIES),
)
Night = with_defaults(
    Mode,
    "Night",
    "The night.",
    heartbeat="3m",
    crisis_wake="30s",
    max_swarms=3,
    priorities=["CRITICAL", "HIGH"],
)
Maintenance = with_defaults(
    Mode,
    "Maintenance",
    "A window started by a person.",
    heartbeat="5m",
    crisis_wake="1m",
    max_swarms=5,
    priorities=list(PRIORITIES),
)
Crisis = with_defaults(
    Mode,
    "Crisis",
    "While a critical alert fires; crisis_wake 0s: a critical alert is acted on as it arrives.",
    heartbeat="10s",
    crisis_wake="0s",
    max_swarms=15,
    priorities=["CRITICAL", "HIGH"],
)


class Modes(Section):
    """CRISIS lasts while a critical alert of the project (not a budget tier,
    AgentDied or SwarmFailed) fires;
    MAINTENANCE is a window started from the CLI or the API; otherwise the
    schedule picks ACTIVE or NIGHT."""

    ACTIVE: Annotated[Mode, Nested(Active)] = key({}, description="the day")
    NIGHT: Annotated[Mode, Nested(Night)] = key({}, description="schedule.night_start to day_start")
    MAINTENANCE: Annotated[Mode, Nested(Maintenance)] = key(
        {}, description="a window started by a person"
    )
    CRISIS: Annotated[Mode, Nested(Crisis)] = key(
        {}, description="while a critical alert of the project fires"
    )


class Caps(Section):
    """USD per period, by the mode the period belongs to (M1-M4)."""

    ACTIVE: Annotated[float, Amount()] = key(100.0, description="the day")
    NIGHT: Annotated[float, Amount()] = key(25.0, description="the night")
    MAINTENANCE: Annotated[float, Amount()] = key(50.0, description="a maintenance window")
    CRISIS: Annotated[float, Amount()] = key(200.0, description="a crisis")


class Ceilings(Section):
    """B5: caps over every period of a local calendar day, week or month."""

    day: Annotated[float, Amount()] | None = key(
        None, description="left out: caps.CRISIS; null: none", validate_default=False
    )
    week: Annotated[float, Amount()] | None = key(None, description="null: none")
    month: Annotated[float, Amount()] | None = key(None, description="null: none")


_TIERS: dict[str, Any] = {
    name: (Annotated[float, RATIO], key(default, description=f"the {name} tier"))
    for name, default in BUDGET_TIERS.items()
}
Tiers = create_model(
    "Tiers",
    __base__=Section,
    __doc__="Fractions of the current period's cap at which each tier starts, rising.",
    **_TIERS,
)


def _rising(tiers: Any) -> Any:
    values = [getattr(tiers, name) for name in BUDGET_TIERS]
    if values != sorted(values):
        refuse(f"tiers must rise in the order {', '.join(BUDGET_TIERS)}, got {values}")
    return tiers


class Price(Section):
    """USD per million tokens of the models whose name holds the key."""

    input: Annotated[float, Amount()] = key(description="input tokens")
    output: Annotated[float, Amount()] = key(description="output tokens")
    cache_write: Annotated[float, Amount()] = key(description="tokens written to the cache")
    cache_read: Annotated[float, Amount()] = key(description="tokens read from the cache")


class Budget(Section):
    """B: each period has its cap; spend comes from the agents' reported totals."""

    caps: Caps = key({}, description="USD per period")
    ceilings: Ceilings = key({}, description="B5: over every period of a calendar day")
    tiers: Annotated[Any, Nested(Tiers), AfterValidator(_rising)] = key(
        {}, description="what each fraction of the cap stops"
    )
    report_limit: Annotated[float, Amount()] = key(
        10.0,
        description="B6: a reported cost above this many times the run's cap is set aside "
        "(the run is charged its cap) and a person told",
    )
    prices: Annotated[dict[str, Price], Mapping] = key(
        {},
        description="part of a model's name -> USD per million tokens: what a run that "
        "ended without its cost is charged for the tokens its stream showed; opus, "
        "sonnet and haiku exist without being written",
    )


class Learning(Section):
    """Level 3 (L1-L5): how each swarm's type and size are chosen for a kind of work."""

    enabled: Annotated[bool, Flag()] = key(
        True, description="false: configured sizes; several types taken in turn"
    )
    window: Annotated[int, Count(1)] = key(
        12, description="the latest runs of each type that count, all its sizes"
    )
    half_life: Annotated[float, Duration(minimum=60.0)] = key(
        "6h", description="a run's weight halves every this long: the choice follows a change"
    )
    sizes: Annotated[tuple[int, ...], Counts(1)] | None = key(
        None, description="sizes any type may take; null: its size and one more"
    )
    choices: Annotated[dict[str, Annotated[list[str], Texts()]], Mapping] = key(
        {}, description="kind of work (an alertname, J1, J2, J8) -> swarm types, first the default"
    )


class Escalation(Section):
    """N1: the ladder of one problem episode, when the swarms on it end and it still fires."""

    attempts: Annotated[int, Count(1)] = key(
        1, description="swarms of the usual size that end with the problem still firing"
    )
    max_size: Annotated[int, Count(1)] = key(
        4, description="then one swarm one agent bigger than any before, at most this size"
    )


def _param(p: Param) -> tuple[Any, Any]:
    """An alert parameter's kind and default, as the file writes it."""
    if p.kind in ("seconds", "window"):
        return Annotated[float, Duration()], key(str(p.default), description=p.doc)
    if isinstance(p.default, tuple):
        return Annotated[list[str], Texts()], key(list(p.default), description=p.doc)
    number = RATIO if p.kind == "ratio" else Amount()
    return Annotated[float, number], key(float(p.default), description=p.doc)


def _rule(spec: AlertSpec) -> Any:
    fields: dict[str, Any] = {
        name: _param(p) for name, p in spec.params.items() if p.kind != "budget"
    }
    fields["for_"] = (
        Annotated[float, Duration(minimum=0)],
        key(spec.for_, alias="for", description="how long the condition holds first"),
    )
    return create_model(spec.name, __base__=Section, __doc__=spec.summary, **fields)


_RULES: dict[str, Any] = {
    spec.name: (Annotated[Any, Nested(_rule(spec))], key({})) for spec in ALERTS
}
Rules = create_model(
    "Rules",
    __base__=Section,
    __doc__="Every alert's thresholds; `warden rules` renders them into Prometheus rules.",
    **_RULES,
)


class Alerts(Section):
    runbook_base_url: Annotated[str, Text()] = key(
        "docs/runbooks.md", description="where runbook_url annotations point; #alertname is added"
    )
    rules: Annotated[Any, Nested(Rules)] = key({}, description="per alert")
