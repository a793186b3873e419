"""`warden swarm run|list|kill` and `warden budget`: the runtime from a terminal."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from types import FrameType
from typing import Any

from responder.model import Priority
from responder.runtime import Runtime, SpawnRefused
from warden.config import Config

POLL_SECONDS = 0.2


def swarm_run(config: Config, args: argparse.Namespace) -> int:
    """Run one swarm in the foreground until it ends; Ctrl-C kills it."""
    runtime = Runtime(config)
    context = sys.stdin.read() if args.context == "-" else (args.context or "")
    try:
        swarm = runtime.start_swarm(
            args.type, Priority(args.priority), "cli", context, size=args.size
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
            if row.state != "running":
                break
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        runtime.kill_swarm(swarm.id, "interrupted")
    if not args.json and sys.stderr.isatty():
        print(file=sys.stderr)
    out = outcome(runtime, swarm.id)
    runtime.close()
    if args.json:
        print(json.dumps(out, indent=1, sort_keys=True))
    else:
        print(
            f"swarm {out['id']} ({out['type']}, {out['priority']}): {out['state']}"
            f" - {out['reason']}; spent ${out['spend_usd']:.4f}"
        )
        for a in out["agents"]:
            print(
                f"  agent {a['id']}: {a['state']} exit={a['exit_code']} "
                f"cost=${a['cost_usd'] or 0:.4f} log={a['log']}"
            )
    return 0 if out["state"] == "succeeded" else 1


def outcome(runtime: Runtime, swarm_id: str) -> dict[str, Any]:
    row = runtime.store.swarm(swarm_id)
    assert row is not None
    return {
        "id": row.id,
        "type": row.type,
        "priority": row.priority,
        "size": row.size,
        "state": row.state,
        "reason": row.reason,
        "spend_usd": runtime.store.swarm_spend(row.id),
        "duration_seconds": (row.ended_at or runtime.clock()) - row.created_at,
        "agents": [
            {
                "id": a.id,
                "slot": a.slot,
                "attempt": a.attempt,
                "state": a.state,
                "exit_code": a.exit_code,
                "death_reason": a.death_reason,
                "cost_usd": a.cost_usd,
                "log": a.log_path,
            }
            for a in runtime.store.agents(row.id)
        ],
    }


def swarm_list(config: Config, args: argparse.Namespace) -> int:
    runtime = Runtime(config)
    swarms = runtime.store.swarms(None if args.all else "running")
    rows = [outcome(runtime, s.id) for s in swarms]
    runtime.close()
    if args.json:
        print(json.dumps(rows, indent=1, sort_keys=True))
        return 0
    if not rows:
        print("no running swarms" if not args.all else "no swarms")
    for r in rows:
        print(
            f"{r['id']}  {r['type']:<11} {r['priority']:<8} {r['state']:<9} "
            f"agents={r['size']} spent=${r['spend_usd']:.4f}  {r['reason']}"
        )
    return 0


def swarm_kill(config: Config, args: argparse.Namespace) -> int:
    runtime = Runtime(config)
    killed = runtime.kill_swarm(args.id, "killed from the command line")
    runtime.close()
    if not killed:
        print(f"swarm {args.id} is not running", file=sys.stderr)
        return 1
    print(f"killed swarm {args.id}")
    return 0


def budget(config: Config, args: argparse.Namespace) -> int:
    runtime = Runtime(config)
    status = runtime.budget_status()
    runtime.close()
    if args.json:
        print(json.dumps(status, indent=1, sort_keys=True))
    else:
        print(
            f"{status['period']} ({status['mode']}): spent ${status['spend_usd']:.2f} of "
            f"${status['cap_usd']:.2f}, ${status['remaining_usd']:.2f} left, "
            f"${status['committed_usd']:.2f} committed to running agents"
        )
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    swarm = sub.add_parser("swarm", help="run, list and kill swarms")
    swarm_sub = swarm.add_subparsers(dest="swarm_command", required=True)
    run = swarm_sub.add_parser("run", help="run one swarm in the foreground")
    run.add_argument("type")
    run.add_argument("--priority", default="HIGH", choices=[p.value for p in Priority])
    run.add_argument("--size", type=int, help="agents (default: the type's size)")
    run.add_argument("--context", help="context text handed to the agents ('-': stdin)")
    run.add_argument("--json", action="store_true", help="print the outcome as JSON")
    run.set_defaults(runtime_func=swarm_run)
    lst = swarm_sub.add_parser("list", help="list running swarms")
    lst.add_argument("--all", action="store_true", help="ended swarms too")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(runtime_func=swarm_list)
    kill = swarm_sub.add_parser("kill", help="kill a swarm and all its processes")
    kill.add_argument("id")
    kill.set_defaults(runtime_func=swarm_kill)
    bud = sub.add_parser("budget", help="the current period's spend and cap")
    bud.add_argument("--json", action="store_true")
    bud.set_defaults(runtime_func=budget)
    for p in (swarm, run, lst, kill, bud):
        p.add_argument("-c", "--config", default="warden.yml", help="config file (warden.yml)")
