"""The ladder's grace (responder/decide/ladder.py)."""

from __future__ import annotations

from responder.decide.ladder import GRACE_SECONDS, Attempt, Rung, rung


def test_a_verified_landing_gets_the_grace_before_a_new_swarm() -> None:
    """Was: right after a verified fix landed (its alert not yet resolved), the ladder
    said USUAL and J1 started a swarm on the fixed tree (the real CLI's stack test saw
    its edit fail: the break was gone)."""
    landed = Attempt("bugfix", 1, "succeeded", 100.0, 0.1, False, True)
    assert rung([landed], 101.0, 2) is Rung.WORKING
    assert rung([landed], 100.0 + GRACE_SECONDS + 1, 2) is Rung.USUAL
    assert rung([landed], 101.0, 2, retried=100.5) is Rung.USUAL, "a person's retry: at once"
