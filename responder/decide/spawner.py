"""The swarms a policy starts for a firing episode: by the alert, or when a recovery
command did not set it right.

Each swarm's trigger names the episode and its place in the policy, so doing
it again (after a crash, a takeover) starts nothing twice; `max_running`
bounds the swarms one alert keeps running; the learning picks type and size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from responder.act.runtime import Runtime
from responder.decide.learning import Learner
from responder.intake.claims import Claims
from responder.rules.admission import Refusal
from responder.rules.policy import Policy


class PolicySwarms:
    def __init__(
        self,
        runtime: Runtime,
        learner: Learner,
        claims: Claims,
        policies: Mapping[str, Policy],
        actions: Counter[tuple[str, str]],
    ) -> None:
        """`actions`: where spawns are counted (done, refused), for the metrics."""
        self.runtime = runtime
        self.store = runtime.store
        self.learner = learner
        self.claims = claims
        self.policies = policies
        self.actions = actions

    def start(
        self, name: str, fingerprint: str, starts_at: str, context: str
    ) -> tuple[list[str], list[str]]:
        """Start the policy's swarms for a firing episode: (what happened, ids started)."""
        policy = self.policies.get(name, Policy())
        rt = self.runtime
        done: list[str] = []
        started: list[str] = []
        base = f"alert:{name}:{fingerprint}:{starts_at}"
        # The store, not the published snapshot: swarms this step started count too.
        running = [
            s for s in self.store.swarms("running") if s.trigger.startswith(f"alert:{name}:")
        ]
        for i, spawn in enumerate(policy.spawn):
            self.claims.renew()
            trigger = f"{base}:{i}"
            if self.store.swarms_by_trigger(trigger):
                done.append(f"{spawn.type} already started")
                continue
            if len(running) >= policy.max_running:
                detail = f"{name} has {len(running)} swarm(s) running (max_running)"
                rt.refuse("alert", Refusal.CONCURRENCY, detail, type=spawn.type, trigger=trigger)
                done.append(f"{spawn.type} refused: {detail}")
                continue
            # `learning.choices` may name other types for a policy of one swarm.
            own = (spawn.type,)
            types = self.learner.types(name, own) if len(policy.spawn) == 1 else own
            swarm, text = self.learner.start(
                rt, name, types, spawn.priority, trigger, context, "alert"
            )
            done.append(text)
            if swarm is None:
                self.actions[("spawn", "refused")] += 1
                continue
            running.append(swarm)
            started.append(swarm.id)
            self.actions[("spawn", "done")] += 1
        return done, started

    def escalate(self, name: str, fingerprint: str, starts_at: str, context: str) -> list[str]:
        """A recovery did not set it right: the policy's swarms, as for the alert itself."""
        done, started = self.start(name, fingerprint, starts_at, context)
        self.store.log_decision(
            "alert",
            {
                "alert": name,
                "fingerprint": fingerprint,
                "startsAt": starts_at,
                "outcome": "escalated: " + ("; ".join(done) or "nothing to start"),
            },
            self.runtime.clock(),
        )
        return started
