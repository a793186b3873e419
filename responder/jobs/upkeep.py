"""Each responder's upkeep: J7 keeps history compact and writes the short context
new swarms are handed; J9 takes the new mode at night start and day start."""

from __future__ import annotations

from responder.act import cleanup
from responder.act.runtime import Runtime
from responder.decide import learning
from responder.decide.situation import CurrentSituation
from responder.observe import reports
from warden.config import Config

HISTORY_DAYS = 7
"""J7 keeps ended swarms' contexts and logs this long; their rows and spend stay."""


class ContextCompression:
    def __init__(self, config: Config, runtime: Runtime, situation: CurrentSituation) -> None:
        self.config, self.runtime, self.situation = config, runtime, situation
        self.clock = runtime.clock

    def run(self) -> None:
        """J7: keep history compact, and write the short context new swarms are handed."""
        rt, now, sit = self.runtime, self.clock(), self.situation.get()
        cleanup.remove_old(self.config, rt.store, now - HISTORY_DAYS * 86400)
        recent = [
            f"- {d['kind']}: "
            + ", ".join(
                f"{k}={v}" for k, v in sorted(d.items()) if k not in ("at", "kind", "snapshot")
            )
            for d in rt.store.decisions(15)
        ]
        stats = learning.stats(rt.store, now - 86400)
        lines = [
            "# What Warden knows now",
            "",
            f"Mode {sit.mode}, escalation {sit.escalation}; firing: "
            + (", ".join(sorted({a[0] for a in rt.held.firing()})) or "nothing")
            + ".",
            "",
            "Swarm results today: "
            + (", ".join(f"{s.type} {s.succeeded}/{s.runs}" for s in stats) or "none yet")
            + ".",
            "",
            "Recent decisions:",
            *recent,
        ]
        reports.write(self.config.state_dir, "context.md", "\n".join(lines) + "\n")


class ModeSwitch:
    def __init__(self, runtime: Runtime, situation: CurrentSituation) -> None:
        self.runtime, self.situation, self.clock = runtime, situation, runtime.clock

    def run(self) -> None:
        """J9: at night start and day start, take the new mode at once."""
        self.situation.reassess()
        self.runtime.store.log_decision("J9", {"mode": self.situation.get().mode}, self.clock())
