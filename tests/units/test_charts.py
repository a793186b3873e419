"""The reviews' charts label what they draw, and say when there is nothing to draw."""

from __future__ import annotations

import pytest

from responder.observe.charts import money_places


@pytest.mark.parametrize(
    ("ticks", "places"),
    [
        ([0.0, 0.005, 0.01, 0.015, 0.02], 3),  # was $0.00, $0.01, $0.01, $0.02, $0.02
        ([0.0, 0.0025, 0.005], 4),
        ([0.0, 25.0, 50.0], 2),
        ([0.0, 0.1, 0.2], 2),
        ([1.0], 2),
    ],
)
def test_a_dollar_axis_never_repeats_a_label(ticks: list[float], places: int) -> None:
    assert money_places(ticks) == places
    labels = [f"${v:,.{places}f}" for v in ticks]
    assert len(set(labels)) == len(labels)
