"""Decisions: what to do about a firing alert, which swarm type and size the
learning picks, and when J1 wakes.
"""
