"""Processes that carry this state's mark but whose agent no runtime knows as live:
their agent ended, yet something it started lives on."""

from __future__ import annotations

from responder.act.launcher import Launcher
from responder.state.store import Store


def reap(launcher: Launcher, instance: str, live: set[str], store: Store, now: float) -> list[int]:
    """SIGKILL the orphans of this state (`live`: the runtime's own live agents);
    their pids.

    The processes (and cgroups) are listed before the live agents are read
    from the store: an agent's row is live before its process starts, so one
    another runtime on this state started meanwhile is always known. When all
    listed are this runtime's own live agents, there is nothing to read.
    Nothing is waited for: waiting would reap this process's own children
    behind the runtime's back."""
    marked = launcher.marked(instance)
    if {agent for _, agent in marked} | launcher.agent_cgroups() <= live:
        return []
    known = store.live_agent_ids() | live
    pids = [pid for pid, agent in marked if agent not in known]
    if pids:
        launcher.kill(pids)
        store.log_decision("reap_orphans", {"pids": pids}, now)
    launcher.sweep(known)
    return pids
