"""The page encoded family by family, with unchanged families' texts kept, is the
library's page of the same registry byte for byte, in both encodings, however
the samples move between scrapes."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from warden.exposition import KEPT_ENCODINGS, Pages

ACCEPTS = (
    "",  # the text format 0.0.4
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4",
)
FAMILIES = 4


class Moving(Collector):
    """Families whose values the test sets between scrapes; one histogram."""

    def __init__(self) -> None:
        self.values = [0.0] * FAMILIES

    def collect(self) -> Iterable[Metric]:
        for i, value in enumerate(self.values[:-1]):
            kind = CounterMetricFamily if i % 2 else GaugeMetricFamily
            family = kind(f"test_family_{i}", f"Family {i}.", labels=["type"])
            for t in ("a", 'b"\\'):
                family.add_metric([t], value)
            yield family
        hist = HistogramMetricFamily("test_seconds", "A histogram.", labels=["type"])
        v = self.values[-1]
        hist.add_metric(["a"], [("1", min(v, 1.0)), ("+Inf", v)], v * 0.5)
        yield hist


def direct(registry: CollectorRegistry, accept: str) -> tuple[bytes, str]:
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, FAMILIES - 1), st.sampled_from([0.0, 1.0, 2.5, 7.0])),
        min_size=1,
        max_size=12,
    )
)
def test_the_page_is_the_librarys_page_after_any_changes(changes: list[tuple[int, float]]) -> None:
    moving = Moving()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(moving)
    pages = Pages(registry)
    for family, value in [(0, 0.0), *changes]:
        moving.values[family] = value
        for accept in ACCEPTS:
            assert pages.page(accept) == direct(registry, accept)


def test_an_unchanged_family_is_not_encoded_again() -> None:
    """What the kept texts are for: a second scrape with nothing changed encodes
    nothing; one changed value encodes its family alone."""
    moving = Moving()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(moving)
    pages = Pages(registry)
    accept = ACCEPTS[1]
    pages.page(accept)
    kept = pages._kept[choose_encoder(accept)[1]][2]
    pages.page(accept)
    again = pages._kept[choose_encoder(accept)[1]][2]
    assert all(again[name][1] is kept[name][1] for name in kept)
    moving.values[1] = 3.0
    pages.page(accept)
    after = pages._kept[choose_encoder(accept)[1]][2]
    assert [name for name in kept if after[name][1] is not kept[name][1]] == ["test_family_1"]


def test_with_a_version_the_page_is_collected_again_only_when_it_moves() -> None:
    """The exporter's way: its collectors do not run during a scrape."""
    moving, version = Moving(), [0]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(moving)
    pages = Pages(registry, lambda: version[0])
    first = pages.page(ACCEPTS[0])
    moving.values[0] = 5.0
    assert pages.page(ACCEPTS[0]) == first  # not collected: the version did not move
    version[0] += 1
    assert pages.page(ACCEPTS[0]) == direct(registry, ACCEPTS[0]) != first


def test_what_is_kept_is_bounded_whatever_the_clients_ask_for() -> None:
    """The content type carries the version a client names: 100 made-up versions
    keep at most KEPT_ENCODINGS pages, and every page is still right."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Moving())
    pages = Pages(registry)
    for i in range(100):
        accept = f"application/openmetrics-text;version=1.0.{i}"
        assert pages.page(accept) == direct(registry, accept)
        assert len(pages._kept) <= KEPT_ENCODINGS
