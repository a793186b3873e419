"""The `warden` commands of the responder's side (`swarm`, `budget`, `status`,
`retry`, `maintenance`, `report`, `simulate`, `cleanup`): their arguments only.

Every `warden` invocation builds the whole parser, so this module stays light:
a command's code (`warden.shell.responder_commands`, with the runtime, the store, SQLAlchemy)
is imported only when that command runs.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from warden.config import Config
from warden.config.sections import PRIORITIES

Command = Callable[[Config, argparse.Namespace], int]


def _lazy(name: str) -> Command:
    """`warden.shell.responder_commands.<name>`, imported when the command runs."""

    def run(config: Config, args: argparse.Namespace) -> int:
        command: Command = getattr(importlib.import_module("warden.shell.responder_commands"), name)
        return int(command(config, args))

    return run


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    swarm = sub.add_parser("swarm", help="run, list and kill swarms")
    swarm_sub = swarm.add_subparsers(dest="swarm_command", required=True)
    run = swarm_sub.add_parser("run", help="run one swarm in the foreground")
    run.add_argument("type")
    run.add_argument("--priority", default="HIGH", choices=list(PRIORITIES))
    run.add_argument("--size", type=int, help="agents (default: the type's size)")
    run.add_argument("--context", help="context text handed to the agents ('-': stdin)")
    run.add_argument("--json", action="store_true", help="print the outcome as JSON")
    run.set_defaults(runtime_func=_lazy("swarm_run"))
    lst = swarm_sub.add_parser("list", help="list running swarms")
    lst.add_argument("--all", action="store_true", help="ended swarms too")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(runtime_func=_lazy("swarm_list"), starts_no_agents=True)
    kill = swarm_sub.add_parser("kill", help="kill a swarm and all its processes")
    kill.add_argument("id")
    kill.set_defaults(runtime_func=_lazy("swarm_kill"))
    res = swarm_sub.add_parser("resume", help="lift the circuit breaker's pause of a swarm type")
    res.add_argument("type")
    res.set_defaults(runtime_func=_lazy("swarm_resume"), starts_no_agents=True)
    again = sub.add_parser(
        "retry", help="try a problem Warden gave up on again: its escalation ladder restarts"
    )
    again.add_argument("alertname", help="the firing alert, as `warden status` names it")
    again.set_defaults(runtime_func=_lazy("retry"), starts_no_agents=True)
    bud = sub.add_parser("budget", help="the current period's spend and cap")
    bud.add_argument("--json", action="store_true")
    bud.set_defaults(runtime_func=_lazy("budget"), starts_no_agents=True)
    st = sub.add_parser("status", help="mode, escalation, swarms, budget, last decisions")
    st.add_argument("--json", action="store_true", help="print the state file")
    st.set_defaults(runtime_func=_lazy("status"), starts_no_agents=True)
    mt = sub.add_parser("maintenance", help="start or stop a maintenance window")
    mt.add_argument("action", choices=["start", "stop"])
    mt.add_argument("--for", dest="duration", default="1h", help="how long (default 1h)")
    mt.set_defaults(runtime_func=_lazy("maintenance"))
    rep = sub.add_parser(
        "report", help="the review of a period (a day: the daily summary; 1w: the weekly review)"
    )
    rep.add_argument("-o", "--output", help="folder (default: state_dir/reports)")
    rep.add_argument("--period", default="24h", help="what it covers, up to now (24h; 1w, 1h)")
    rep.set_defaults(runtime_func=_lazy("report"), starts_no_agents=True)
    sim = sub.add_parser(
        "simulate", help="the decision core under a virtual clock, with invariants checked"
    )
    sim.add_argument("--days", type=float, default=7.0, help="simulated days (7)")
    sim.add_argument("--scenario", help="scenario file (default: the shipped week)")
    sim.add_argument("--seed", type=int, default=0, help="random seed (0)")
    sim.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object, for machines"
    )
    sim.add_argument(
        "--review",
        help="folder for the review of the simulated week, with its charts "
        "(default: state_dir/reports/simulation)",
    )
    # A simulation touches nothing of the real state: not even its modes.
    sim.set_defaults(runtime_func=_lazy("simulate"), starts_no_agents=True, leaves_state=True)
    clean = sub.add_parser("cleanup", help="remove Warden's own old agent logs and reports")
    clean.add_argument("--older-than", default="1w", help="what ended before this long ago (1w)")
    clean.set_defaults(runtime_func=_lazy("cleanup_files"), starts_no_agents=True)
    for p in (swarm, run, lst, kill, res, again, bud, st, mt, rep, sim, clean):
        p.add_argument("-c", "--config", default="warden.yml", help="config file (warden.yml)")
