"""The rules every path asks before it acts: may work start (admission), what the
budget allows, which mode the project is in, which swarm types are paused
(breaker), and which policy answers an alert. Plain functions of facts; they
start nothing.
"""
