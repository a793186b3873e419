"""Warden's settings from a file the schema accepted: what one key means given another
(URLs derived from listen addresses, a responder's instance, recoveries and
learning checked against the swarm types), and what the file names outside
itself (the project folder, the stack's configs)."""

from __future__ import annotations

import re
import socket
import sys
import urllib.parse
from pathlib import Path

import warden.config.sections as written
from warden.alertspecs import ALERTS, BUDGET_TIERS
from warden.config.listen import Listen
from warden.config.place import Place
from warden.config.resolve_collectors import collectors
from warden.config.resolve_swarms import swarm_types
from warden.config.schema import WardenFile
from warden.config.sections import LEARNED_JOBS, MODES
from warden.config.settings import (
    AlertSettings,
    AlertValue,
    BudgetSettings,
    Config,
    EscalationSettings,
    ExporterSettings,
    LearningSettings,
    ModeSettings,
    PolicySettings,
    Recovery,
    ResponderSettings,
    ScheduleSettings,
    StackSettings,
)
from warden.config.values import NAME_RE

SHIPPED_DIR = Path(__file__).resolve().parent.parent.parent
"""Where Warden's shipped Prometheus and Alertmanager configs are."""
ANY_HOST = ("0.0.0.0", "::", "")
"""Listen hosts that mean every interface: reached on loopback."""


def resolve(f: WardenFile, at: Place, check_programs: bool) -> Config:
    project = at.path("project.dir", f.project.dir, must_exist="dir")
    exporter = ExporterSettings(f.exporter.listen)
    stack = _stack(f.stack, at)
    responder = _responder(f, exporter, stack, at, project)
    state_dir = at.path("state_dir", f.state_dir)
    c = collectors(f.collectors, at, project)
    types = swarm_types(f.swarms, "swarms" in f.model_fields_set, at, project, check_programs)
    _check_policies(responder, set(types), at)
    return Config(
        file=at.problems.file,
        project_dir=project,
        state_dir=state_dir,
        secrets_dir=(
            at.path("secrets_dir", f.secrets_dir)
            if f.secrets_dir is not None
            else state_dir / "secrets"
        ),
        exporter=exporter,
        responder=responder,
        stack=stack,
        build=c.build,
        tests=c.tests,
        typecheck=c.typecheck,
        coverage=c.coverage,
        git=c.git,
        logs=c.logs,
        host=c.host,
        probes=c.probes,
        agents=c.agents,
        budget=_budget(f.budget),
        alerts=_alerts(f.alerts),
        schedule=ScheduleSettings(
            f.schedule.timezone,
            f.schedule.night_start,
            f.schedule.day_start,
            tuple((w.cron, w.duration) for w in f.schedule.maintenance),
        ),
        modes={
            mode: ModeSettings(m.heartbeat, m.crisis_wake, m.max_swarms, tuple(m.priorities))
            for mode in MODES
            for m in [getattr(f.modes, mode)]
        },
        swarm_types=types,
        learning=_learning(f.learning, set(responder.policies), set(types), at),
        escalation=EscalationSettings(f.escalation.attempts, f.escalation.max_size),
        warnings=(),
    )


def _responder(
    f: WardenFile, exporter: ExporterSettings, stack: StackSettings, at: Place, project: Path
) -> ResponderSettings:
    r = f.responder
    key = "responder"
    stack_written = "stack" in f.model_fields_set
    return ResponderSettings(
        listen=r.listen,
        token_file=at.path(f"{key}.token_file", r.token_file),
        max_body_bytes=r.max_body_bytes,
        alertmanager_url=_stack_url(
            r.alertmanager_url,
            "alertmanager_url",
            stack.alertmanager_listen,
            "stack.alertmanager_listen",
            stack_written,
            at,
        ),
        prometheus_url=_stack_url(
            r.prometheus_url,
            "prometheus_url",
            stack.prometheus_listen,
            "stack.prometheus_listen",
            stack_written,
            at,
        ),
        poll_interval=r.poll_interval,
        policies={
            name: PolicySettings(
                spawn=tuple((s.type, s.priority) for s in p.spawn),
                max_running=p.max_running,
                recover=p.recover,
                host_bound=p.host_bound,
            )
            for name, p in r.policies.items()
        },
        max_connections=r.max_connections,
        header_timeout=r.header_timeout,
        body_timeout=r.body_timeout,
        recoveries=_recoveries(r.recoveries, at, project),
        id=_responder_id(r.id, at),
        database=_database(r.database, at),
        database_password_file=(
            at.path(f"{key}.database_password_file", r.database_password_file, must_exist="file")
            if r.database_password_file is not None
            else None
        ),
        instance=(
            r.instance
            if r.instance is not None
            else f"{exporter.listen.host}:{exporter.listen.port}"
        ),
        claim_lease=r.claim_lease,
    )


def _responder_id(written_id: str | None, at: Place) -> str:
    value = socket.gethostname() if written_id is None else written_id
    if not NAME_RE.match(value):
        at.problems.add(
            "responder.id",
            f"expected a short name of letters, digits, '_', '.', '-', got {value!r}",
        )
    return value


def _database(url: str | None, at: Place) -> str | None:
    """A PostgreSQL URL without a password (that goes in database_password_file)."""
    if url is None:
        return None
    if not url.startswith(("postgresql://", "postgres://")):
        at.problems.add(
            "responder.database",
            f"expected a URL such as postgresql://warden@db.example/warden, got {url!r} "
            "(leave it out for SQLite in state_dir)",
        )
        return None
    if re.match(r"^postgres(ql)?://[^/@]*:[^/@]*@", url):
        at.problems.add(
            "responder.database",
            "the URL holds a password; put it in responder.database_password_file "
            "(or libpq's PGPASSWORD / ~/.pgpass) so config files and logs never show it",
        )
        return None
    return url


def default_recoveries(config_file: Path) -> dict[str, Recovery]:
    """The recoveries the default policies name: OpenClaw's own restart, and Warden's
    cleanup of its old agent logs and reports (`warden cleanup`)."""
    return {
        "openclaw_restart": Recovery(
            "openclaw_restart", ("openclaw", "gateway", "restart"), 60.0, 120.0, {}
        ),
        "disk_cleanup": Recovery(
            "disk_cleanup",
            (sys.executable, "-m", "warden.shell.cli", "cleanup", "-c", str(config_file)),
            300.0,
            300.0,
            {},
        ),
    }


def _recoveries(
    given: dict[str, written.Recovery], at: Place, project: Path
) -> dict[str, Recovery]:
    """Named recovery commands, run in the project folder. Their programs are not
    required on PATH: a host without OpenClaw needs no `openclaw`, and a missing
    program fails its recovery (`cannot start`), so the swarms follow."""
    out = default_recoveries(at.problems.file.resolve())
    for name, r in given.items():
        if not NAME_RE.match(name):
            at.problems.add(
                f"responder.recoveries.{name}", "expected a short name of letters, digits and _"
            )
        out[name] = Recovery(name, tuple(r.command), r.timeout, r.settle, dict(r.env))
    return out


def _check_policies(responder: ResponderSettings, types: set[str], at: Place) -> None:
    for name, policy in responder.policies.items():
        if policy.recover is not None and policy.recover not in responder.recoveries:
            known = ", ".join(sorted(responder.recoveries))
            at.problems.add(
                f"responder.policies.{name}.recover",
                f"unknown recovery {policy.recover!r} (known: {known})",
            )
        for i, (stype, _) in enumerate(policy.spawn):
            if stype not in types:
                at.problems.add(
                    f"responder.policies.{name}.spawn[{i}].type",
                    f"unknown swarm type {stype!r} (known: {', '.join(sorted(types))})",
                )


def _learning(
    r: written.Learning, policies: set[str], types: set[str], at: Place
) -> LearningSettings:
    """The kinds of work are checked against the policies' alertnames and the jobs
    that start swarms, the types against the swarm types."""
    works = {*(a.name for a in ALERTS), *policies, *LEARNED_JOBS}
    for work, chosen in r.choices.items():
        key = f"learning.choices.{work}"
        if work not in works:
            at.problems.add(
                key,
                f"unknown kind of work {work!r} (an alertname with a policy, or "
                f"{', '.join(LEARNED_JOBS)})",
            )
        for i, t in enumerate(chosen):
            if t not in types:
                at.problems.add(
                    f"{key}[{i}]",
                    f"unknown swarm type {t!r} (known: {', '.join(sorted(types))})",
                )
        if not chosen:
            at.problems.add(key, "expected at least one swarm type")
    return LearningSettings(
        enabled=r.enabled,
        window=r.window,
        half_life=r.half_life,
        sizes=tuple(sorted(set(r.sizes or ()))),
        choices={work: tuple(chosen) for work, chosen in r.choices.items()},
    )


def _stack(s: written.Stack, at: Place) -> StackSettings:
    settings = StackSettings(
        prometheus_listen=s.prometheus_listen,
        alertmanager_listen=s.alertmanager_listen,
        prometheus_config=_shipped(
            "prometheus_config", s.prometheus_config, "prometheus/prometheus.yml", at
        ),
        alertmanager_config=_shipped(
            "alertmanager_config", s.alertmanager_config, "alertmanager/alertmanager.yml", at
        ),
        prometheus_lifecycle=s.prometheus_lifecycle,
        hang_after=s.hang_after,
        prometheus_replica_listen=s.prometheus_replica_listen,
        alertmanager_peer_listen=s.alertmanager_peer_listen,
        other_exporters=tuple(s.other_exporters),
        other_responders=tuple(s.other_responders),
    )
    _check_ports(settings, at)
    return settings


def _check_ports(s: StackSettings, at: Place) -> None:
    """Two parts on one port: the second could never start."""
    gossip = [
        (f"{key} (+1, its gossip)", Listen(listen.host, listen.port + 1))
        for key, listen in (
            ("alertmanager_listen", s.alertmanager_listen),
            ("alertmanager_peer_listen", s.alertmanager_peer_listen),
        )
        if listen is not None and s.alertmanager_peer_listen is not None
    ]
    taken: dict[int, str] = {}
    for key, listen in [
        ("prometheus_listen", s.prometheus_listen),
        ("alertmanager_listen", s.alertmanager_listen),
        ("prometheus_replica_listen", s.prometheus_replica_listen),
        ("alertmanager_peer_listen", s.alertmanager_peer_listen),
        *gossip,
    ]:
        if listen is None:
            continue
        if listen.port in taken:
            at.problems.add(
                f"stack.{key.split(' ')[0]}", f"port {listen.port} is {taken[listen.port]}'s too"
            )
        taken[listen.port] = key


def _shipped(key: str, written_path: str | None, name: str, at: Place) -> Path:
    """A config `warden up` starts from: Warden's own unless the key names one,
    so a warden.yml copied anywhere still finds them."""
    if written_path is not None:
        return at.path(f"stack.{key}", written_path, must_exist="file")
    path = SHIPPED_DIR / name
    if not path.is_file():
        at.problems.add(f"stack.{key}", f"Warden's shipped {name} is missing ({path}): name one")
    return path


def _stack_url(
    url: str | None,
    name: str,
    listen: Listen,
    listen_key: str,
    stack_written: bool,
    at: Place,
) -> str:
    """Where the responder reaches a part of the stack: derived from the stack's
    listen address when left out (or null); when written beside a `stack`
    section, it must name the same port there, or the responder would ask a
    Prometheus that `warden up` never started."""
    host = "127.0.0.1" if listen.host in ANY_HOST else listen.host
    if url is None:
        return f"http://{host}:{listen.port}"
    if stack_written:
        parsed = urllib.parse.urlsplit(url)
        try:
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
        except ValueError:
            port = None
        if port != listen.port or (listen.host not in ANY_HOST and parsed.hostname != listen.host):
            at.problems.add(
                f"responder.{name}",
                f"{url} is not where {listen_key} ({listen}) makes it listen; "
                "leave it out to derive it, or make the two agree",
            )
    return url


def _budget(b: written.Budget) -> BudgetSettings:
    caps = {mode: getattr(b.caps, mode) for mode in MODES}
    ceilings: dict[str, float] = {}
    if "day" not in b.ceilings.model_fields_set:
        ceilings["day"] = caps["CRISIS"]
    for name in ("day", "week", "month"):
        value = getattr(b.ceilings, name)
        if value is not None:
            ceilings[name] = value
    prices = {
        **DEFAULT_PRICES,
        **{k: (p.input, p.output, p.cache_write, p.cache_read) for k, p in b.prices.items()},
    }
    return BudgetSettings(
        tiers={name: getattr(b.tiers, name) for name in BUDGET_TIERS},
        caps=caps,
        ceilings=ceilings,
        report_limit=b.report_limit,
        prices=dict(sorted(prices.items(), key=lambda kv: -len(kv[0]))),
    )


DEFAULT_PRICES = {
    "opus": (15.0, 75.0, 18.75, 1.5),
    "sonnet": (3.0, 15.0, 3.75, 0.3),
    "haiku": (1.0, 5.0, 1.25, 0.1),
}
"""Anthropic's list prices in USD per million tokens (input, output, 5-minute cache
write, cache read): Opus 4 and 4.1, Sonnet 4 and 4.5, Haiku 4.5. Newer Opus models
cost less; an estimate above the truth errs toward the budget."""


def _alerts(a: written.Alerts) -> AlertSettings:
    values: dict[str, dict[str, AlertValue]] = {}
    for_: dict[str, float] = {}
    for spec in ALERTS:
        rule = getattr(a.rules, spec.name)
        for_[spec.name] = rule.for_
        values[spec.name] = {
            name: tuple(v) if isinstance(v := getattr(rule, name), list) else v
            for name, p in spec.params.items()
            if p.kind != "budget"
        }
    return AlertSettings(a.runbook_base_url, values, for_)
