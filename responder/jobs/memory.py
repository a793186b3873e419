"""W2, MemoryHigh: what Warden does while the host runs short of memory.

Its runbook promised it and nothing acted (issue 29). Now, while it fires:
1. at once, once per episode: orphaned agent processes (no runtime knows them) are
   reaped, the usual cause; the runtime kills stuck agents by itself;
2. the mode's cap on running swarms is halved (the admission rule: `Facts.max_swarms`),
   so the least urgent, youngest swarms above it stop and fewer start;
3. when it has lasted `TOO_LONG_SECONDS`, a person is told, once per episode.
"""

from __future__ import annotations

from responder.act.notify import Notifier
from responder.act.runtime import Runtime

ALERT = "MemoryHigh"
TOO_LONG_SECONDS = 600.0


class MemoryWatch:
    """Owned by the worker (J1's watch)."""

    def __init__(self, runtime: Runtime, notifier: Notifier) -> None:
        self.runtime, self.notifier = runtime, notifier
        self._reaped_for: float | None = None
        """The episode (its first sight) whose orphans were reaped."""

    def look(self) -> list[str]:
        """This look's actions, as sentences for the decision log."""
        rt, now = self.runtime, self.runtime.clock()
        episode = rt.held.read(rt.store.open_problems).get(ALERT)
        if episode is None:
            return []
        began, told = episode.began, episode.told_at
        actions = []
        if self._reaped_for != began:
            self._reaped_for = began
            reaped = rt.reap_orphans()
            actions.append(
                f"{ALERT}: {len(reaped)} orphaned agent process(es) reaped; the mode's cap"
                " on running swarms is halved while it fires"
            )
        if told is None and now - began >= TOO_LONG_SECONDS and rt.store.tell_once([ALERT], now):
            actions.append(
                self.notifier.told(
                    "alert_unresolved",
                    f"{ALERT} has fired for {int((now - began) // 60)} minutes.",
                    "Orphaned agents were reaped and Warden runs half its swarms; memory is"
                    " still short. `warden_agents_memory_bytes` on the exporter shows what"
                    " agents use.",
                    {"unresolved": ALERT},
                )
            )
        return actions
