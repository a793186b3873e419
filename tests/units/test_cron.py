"""Maintenance windows' cron expressions read as crontab(5) reads them."""

from __future__ import annotations

import datetime as dt

import pytest

from warden.config.values import crontab

SAT = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)  # a Saturday


@pytest.mark.parametrize(
    ("weekday", "first"),
    [("0", 29), ("7", 29), ("1", 30), ("1-5", 30), ("*/2", 28), ("6", 28), ("sun", 29)],
)
def test_weekday_numbers_are_crontabs_not_apschedulers(weekday: str, first: int) -> None:
    """APScheduler 3's from_crontab takes 0 for Monday: '0 3 * * 0' fired on Mondays."""
    fire = crontab(f"0 13 * * {weekday}", dt.UTC).get_next_fire_time(None, SAT)
    assert fire is not None and fire.day == first


@pytest.mark.parametrize("bad", ["0 3 * *", "0 3 * * 8", "0 25 * * *", "0 3 * * 5-2"])
def test_a_bad_expression_says_so(bad: str) -> None:
    with pytest.raises(ValueError):
        crontab(bad, dt.UTC)
