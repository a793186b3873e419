"""Warden's responder: swarms of agents, their budget, and (later) the decisions.

The swarm runtime (`runtime`) starts, watches, retries and kills agent
processes; every fact about them is kept in SQLite (`store`) so a restarted
process carries on; the budget (`budget`) decides what may spend.
"""
