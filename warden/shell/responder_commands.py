"""`warden swarm run|list|kill` and `warden budget`: the runtime from a terminal.

`swarm run` and `swarm kill` act: each runs a runtime of its own on the shared
store, which owns the swarm it starts (and takes over swarms whose owner
died). `swarm list`, `budget` and `status` only look: they open the store
read-only, so they never adopt, reap or settle anything, and need no agent
program on PATH.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.text import Text

from responder.act import cleanup
from responder.act.live import SpawnRefused
from responder.act.runtime import Runtime
from responder.model import LIVE_AGENT_STATES, LIVE_SWARM_STATES, EndReason, Priority
from responder.observe import review
from responder.observe.decisions import level_name, mode_name
from responder.rules import breaker
from responder.rules.admission import budget_status, gather_facts
from responder.rules.modes import assess, maintenance_seconds
from responder.state.store import Store, SwarmRow, open_store
from warden.config import Config
from warden.config.values import parse_duration
from warden.shell.view import LEVEL_STYLES, budget_bars, decisions_table

POLL_SECONDS = 0.2


def swarm_run(config: Config, args: argparse.Namespace) -> int:
    """Run one swarm in the foreground until it ends; Ctrl-C kills it."""
    runtime = Runtime(config)
    context = sys.stdin.read() if args.context == "-" else (args.context or "")
    try:
        swarm = runtime.start_swarm(
            args.type, Priority(args.priority), "cli", context, size=args.size, path="cli"
        )
    except SpawnRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        runtime.close()
        return 3

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    last = ""
    try:
        while True:
            runtime.held.look()  # a pause lifted, a window started in another terminal
            runtime.poll()
            row = runtime.store.swarm(swarm.id)
            assert row is not None
            if not args.json:
                states = " ".join(
                    f"{a.slot}:{a.state}"
                    for a in runtime.store.agents(swarm.id)
                    if a.attempt
                    == max(b.attempt for b in runtime.store.agents(swarm.id) if b.slot == a.slot)
                )
                line = f"swarm {swarm.id} {args.type} {row.state}  agents {states}"
                if line != last and sys.stderr.isatty():
                    print(f"\r{line}\033[K", end="", file=sys.stderr, flush=True)
                last = line
            if not row.live:
                # Ended from elsewhere (`warden swarm kill`): this runtime owns the
                # agents and records their ends; wait for that before reporting.
                _settle(runtime, swarm)
                break
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        runtime.kill_swarm(swarm.id, "interrupted", EndReason.SHUTDOWN, wait=True)
    if not args.json and sys.stderr.isatty():
        print(file=sys.stderr)
    out = outcome(runtime.store, swarm.id, runtime.clock())
    runtime.close()
    if args.json:
        print(json.dumps(out, indent=1, sort_keys=True))
    else:
        landed = f"; landed {out['landed'][:12]}" if out["landed"] else ""
        print(
            f"swarm {out['id']} ({out['type']}, {out['priority']}): {out['state']}"
            f" - {out['reason']}; spent ${out['spend_usd']:.4f}{landed}"
        )
        for a in out["agents"]:
            refused = a["cost_refused"]
            note = "" if refused is None else f" (reported {refused}: not a cost)"
            print(
                f"  agent {a['id']}: {a['state']} exit={a['exit_code']} "
                f"cost=${a['cost_usd'] or 0:.4f}{note} log={a['log']}"
            )
    return 0 if out["state"] == "succeeded" else 1


def _settle(runtime: Runtime, swarm: SwarmRow) -> None:
    """Poll until no agent of the swarm is live (its killer's grace, and a little)."""
    deadline = time.monotonic() + runtime.config.swarm_types[swarm.type].kill_grace + 5.0
    while runtime.store.agents(swarm.id, states=LIVE_AGENT_STATES):
        if time.monotonic() > deadline:
            return
        runtime.poll()
        time.sleep(POLL_SECONDS)


def outcome(store: Store, swarm_id: str, now: float) -> dict[str, Any]:
    row = store.swarm(swarm_id)
    assert row is not None
    bases = store.bases_of_swarm(row.id)
    return {
        "id": row.id,
        "type": row.type,
        "priority": row.priority,
        "size": row.size,
        "state": row.state,
        "reason": row.reason,
        "failure_class": row.failure_class,
        "outcome": row.outcome,
        "landed": row.landed,
        "branch": row.branch,
        "worktree": row.worktree,
        "retry_of": row.retry_of,
        "spend_usd": store.swarm_spend(row.id),
        "duration_seconds": (row.ended_at or now) - row.created_at,
        "agents": [
            {
                "id": a.id,
                "slot": a.slot,
                "attempt": a.attempt,
                "state": a.state,
                "exit_code": a.exit_code,
                "death_reason": a.death_reason,
                "end_reason": a.end_reason,
                "failure_class": a.failure_class,
                "failure_text": a.failure_text,
                "cost_usd": a.cost_usd,
                "cost_basis": bases.get(a.id),
                "cost_refused": a.cost_refused,
                "session_id": a.session_id,
                "log": a.log_path,
            }
            for a in store.agents(row.id)
        ],
    }


def _read_only(config: Config) -> Store:
    """The store for a command that only looks; StoreError (exit 2) names the file."""
    return open_store(config, read_only=True)


def swarm_list(config: Config, args: argparse.Namespace) -> int:
    store = _read_only(config)
    try:
        swarms = (
            store.swarms()
            if args.all
            else [s for st in LIVE_SWARM_STATES for s in store.swarms(st)]
        )
        rows = [outcome(store, s.id, time.time()) for s in swarms]
        pauses = store.pauses()
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=1, sort_keys=True))
        return 0
    if not rows:
        print("no running swarms" if not args.all else "no swarms")
    for r in rows:
        bases = Counter(a["cost_basis"] for a in r["agents"] if a["cost_basis"])
        basis = ", ".join(f"{b} {n}" for b, n in sorted(bases.items()))
        print(
            f"{r['id']}  {r['type']:<11} {r['priority']:<8} {r['state']:<9} "
            f"{r['outcome'] or r['failure_class'] or '-':<14} agents={r['size']} "
            f"spent=${r['spend_usd']:.4f}{f' ({basis})' if basis else ''}  {r['reason']}"
        )
    for p in pauses:
        print(f"PAUSED {p.type} ({p.cls}): {p.error}  - `warden swarm resume {p.type}`")
    return 0


def cleanup_files(config: Config, args: argparse.Namespace) -> int:
    """Remove Warden's own old files (DiskSpaceLow's default recovery)."""
    try:
        keep = parse_duration(args.older_than)
    except ValueError:
        print(
            f"--older-than: expected a duration such as 168h, got {args.older_than!r}",
            file=sys.stderr,
        )
        return 2
    store = open_store(config)
    try:
        removed = cleanup.remove_old(config, store, time.time() - keep, reports=True)
    finally:
        store.close()
    print(
        f"removed {removed.files} files ({removed.bytes / 1e6:.1f} MB): the logs of "
        f"{removed.swarms} swarms, and reports and recovery logs older than {args.older_than}; "
        f"{removed.worktrees} worktrees of ended swarms, {removed.branches} merged branches"
    )
    return 0


def swarm_resume(config: Config, args: argparse.Namespace) -> int:
    """Lift the circuit breaker's pause: the responder reads it from the shared store."""
    if args.type not in config.swarm_types:
        known = ", ".join(sorted(config.swarm_types))
        print(f"unknown swarm type {args.type!r} (known: {known})", file=sys.stderr)
        return 2
    store = open_store(config)
    try:
        resumed = breaker.resume(store, store, args.type, time.time())
    finally:
        store.close()
    print(f"resumed {args.type}" if resumed else f"{args.type} was not paused")
    return 0


def retry(config: Config, args: argparse.Namespace) -> int:
    """A person's action on a problem (N1): after the ladder's call Warden spends
    nothing more on it; this makes what was tried before count no more, so its
    ladder starts again at the usual swarm (the responder sees it at its next look)."""
    store = open_store(config)
    try:
        now = time.time()
        retried = store.retry_problem(args.alertname, now)
        if retried:
            store.log_decision("retried", {"alertname": args.alertname}, now)
    finally:
        store.close()
    if not retried:
        print(f"{args.alertname} is not firing: no open episode to try again", file=sys.stderr)
        return 1
    print(f"{args.alertname}: its ladder starts again at the next look (within 30 s)")
    return 0


def swarm_kill(config: Config, args: argparse.Namespace) -> int:
    runtime = Runtime(config)
    killed = runtime.kill_swarm(args.id, "killed from the command line", wait=True)
    runtime.close()
    if not killed:
        print(f"swarm {args.id} is not running", file=sys.stderr)
        return 1
    print(f"killed swarm {args.id}")
    return 0


def budget(config: Config, args: argparse.Namespace) -> int:
    store = _read_only(config)
    try:
        now = time.time()
        sit = assess(config, store, now, store)
        facts = gather_facts(config, store, sit, now, store.pauses())
        status = budget_status(facts)
    finally:
        store.close()
    if args.json:
        print(json.dumps(status, indent=1, sort_keys=True))
    else:
        print(
            f"{status['period']} ({status['mode']}): spent ${status['spend_usd']:.2f} of "
            f"${status['cap_usd']:.2f}, ${status['remaining_usd']:.2f} left, "
            f"${status['committed_usd']:.2f} committed to running agents; tier {status['tier']}"
        )
        for name, c in status["ceilings"].items():
            print(f"  {name} ceiling: spent ${c['spend_usd']:.2f} of ${c['cap_usd']:.2f}")
    return 0


def status(config: Config, args: argparse.Namespace) -> int:
    """The state file, for a person (or as JSON); works while the responder is down.

    Modes are shown by Warden's names, as in the live view; `--json` prints the
    state file itself, which keeps the seed's names (docs/responder.md)."""
    path = config.state_dir / "state.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        view = status_view(state, time.time())
    except FileNotFoundError:
        print(f"no state yet: {path} appears once `warden responder` has run", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"warden status: {path}: cannot read it ({exc.strerror})", file=sys.stderr)
        return 1
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # Written whole by the responder, so only something else broke it.
        why = f"{type(exc).__name__}: {exc}"[:200]
        print(
            f"warden status: {path} is not a Warden state file ({why}); the responder "
            "writes it anew at its next step, or remove it",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(state, indent=1, sort_keys=True))
        return 0
    Console().print(view)
    return 0


def status_view(state: dict[str, Any], now: float) -> Group:
    """`warden status`: the same words and colours as `warden up`'s view."""
    op, mode = state["operationalState"], state["modeConfig"]
    age = now - state["lastHeartbeat"] / 1000
    escalation = int(state["escalationLevel"])
    head = Text()
    head.append("mode ", style="dim").append(mode_name(state["mode"]), style="bold")
    head.append("   level ", style="dim")
    head.append(level_name(escalation), style=LEVEL_STYLES.get(escalation, ""))
    head.append(f"   heartbeat {age:.0f} s ago", style="dim" if age < 120 else "bold red")
    swarms = Text(
        f"swarms {op['activeSwarms']} running of {mode['maxSwarms']}"
        f"   stuck agents {op['agentsStuck']}   build {op['buildStatus']}"
    )
    firing = Text("firing ", style="dim").append(
        ", ".join(op["firingAlerts"]) or "nothing",
        style="bold red" if op["firingAlerts"] else "green",
    )
    budget = {
        "period": op["budgetPeriod"],
        "spend_usd": max(0.0, mode["budgetLimit"] - op["budgetRemaining"]),
        "cap_usd": mode["budgetLimit"],
        "tier": op.get("budgetTier", "none"),
        "ceilings": {
            name: {"spend_usd": c["spendUsd"], "cap_usd": c["capUsd"]}
            for name, c in op.get("budgetCeilings", {}).items()
        },
    }
    rows: list[RenderableType] = [head, swarms, firing, budget_bars(budget)]
    rows += [
        Text(f"PAUSED {p['type']} ({p['class']}): {p['error']}", style="bold red")
        for p in op.get("pausedSwarmTypes", [])
    ]
    if op.get("deadLetters"):
        rows.append(
            Text(
                f"set aside: {op['deadLetters']} alert(s) whose handling failed "
                "(GET /api/v1/status shows the errors)",
                style="yellow",
            )
        )
    rows.append(decisions_table(state["recentDecisions"], 10))
    return Group(*rows)


def maintenance(config: Config, args: argparse.Namespace) -> int:
    """Start or stop a maintenance window; the responder sees it at its next cycle."""
    try:
        seconds = maintenance_seconds(args.duration)
    except ValueError as exc:
        print(f"warden maintenance: --for: {exc}", file=sys.stderr)
        return 2
    store = open_store(config)
    now = time.time()
    if args.action == "start":
        window = store.start_maintenance(now, now + seconds)
        print(
            f"maintenance window {window} until "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now + seconds))}"
        )
    else:
        print("maintenance stopped" if store.stop_maintenance(now) else "no maintenance window")
    store.close()
    return 0


def report(config: Config, args: argparse.Namespace) -> int:
    """The review of the last `--period` now (24h: what J10 writes at 22:00; 1w: the
    weekly review; 1h: the hourly roll-up), with its charts."""
    try:
        seconds = parse_duration(args.period)
    except ValueError:
        print(f"--period: expected a duration such as 24h, got {args.period!r}", file=sys.stderr)
        return 2
    store = _read_only(config)
    try:
        now = time.time()
        folder = Path(args.output) if args.output else config.state_dir / "reports"
        stem = time.strftime("report-%Y%m%d-%H%M%S", time.gmtime(now))
        situation = assess(config, store, now, store)
        written = review.write(config, store, situation, now - seconds, now, folder, stem)
    finally:
        store.close()
    for path in written:
        print(f"wrote {path}")
    return 0


def simulate(config: Config, args: argparse.Namespace) -> int:
    """The decision core living `--days` under a virtual clock; exit 1 if an invariant broke."""
    from responder.simulate.run import simulate as run
    from responder.simulate.scenario import DEFAULT_SCENARIO, ScenarioError, load_scenario

    try:
        scenario = load_scenario(Path(args.scenario) if args.scenario else DEFAULT_SCENARIO)
    except ScenarioError as exc:
        print(f"warden simulate: {exc}", file=sys.stderr)
        return 2
    # The decisions are in the report; the responder's own log lines are noise here.
    logging.getLogger("responder").setLevel(logging.ERROR)
    review_dir = Path(args.review) if args.review else config.state_dir / "reports" / "simulation"
    report = run(config, scenario, args.days, args.seed, review_dir=review_dir)
    print(json.dumps(report.summary(), indent=2) if args.json else report.text())
    return 1 if report.broken else 0
