"""Warden's responder: from firing alerts to swarms of agents, within a budget.

Data flows one way through its packages, each owning one thing:

- `intake`: Alertmanager's webhook bodies, read strictly; claims on episodes
  and their reconciliation with what Alertmanager holds.
- `decide`: what to do about a firing alert, the learning loop, J1's wake.
- `rules`: the questions every path asks: admission, budget, modes, breaker,
  policies.
- `act`: what touches the world: the swarm runtime and its launcher,
  cgroups, adapters, failure classes, recovery commands, notifications.
- `state`: the store (SQLite or PostgreSQL), its schema and migrations.
- `observe`: what people and Prometheus read: metrics, reviews, reports,
  charts, patterns, decision sentences.
- `jobs`: the scheduled jobs on APScheduler.
- `service`: the worker that owns the state, the HTTP routes, the state file.
- `simulate`: the decision core under a virtual clock.

`model` is the vocabulary all of them share. The map with each module is in
docs/responder.md.
"""
