"""Metric families declared as a table: name, help, labels, and how one scrape's
view gives their samples.

Each service builds one view of what it publishes per scrape (cheap: it reads
snapshots, never the store) and runs its table over it, so a family is one
row, not a block of code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

V = TypeVar("V")
V_contra = TypeVar("V_contra", contravariant=True)
Labels = Sequence[str]
Samples = Iterable[tuple[Labels, float]]
Buckets = Sequence[tuple[str, float]]


class Row(Protocol[V_contra]):
    def build(self, view: V_contra) -> Metric: ...


@dataclass(frozen=True)
class Family(Generic[V]):
    name: str
    help: str
    labels: tuple[str, ...]
    samples: Callable[[V], Samples]
    """(label values, value) of every series, read from the scrape's view."""
    counter: bool = False
    """A counter (the exposition adds `_total`), else a gauge."""

    def build(self, view: V) -> Metric:
        kind = CounterMetricFamily if self.counter else GaugeMetricFamily
        family = kind(self.name, self.help, labels=list(self.labels))
        for labels, value in self.samples(view):
            family.add_metric(list(labels), value)
        return family


@dataclass(frozen=True)
class Histogram(Generic[V]):
    name: str
    help: str
    labels: tuple[str, ...]
    samples: Callable[[V], Iterable[tuple[Labels, Buckets, float]]]
    """(label values, cumulative buckets ending with +Inf, sum) of every series."""

    def build(self, view: V) -> Metric:
        family = HistogramMetricFamily(self.name, self.help, labels=list(self.labels))
        for labels, buckets, total in self.samples(view):
            family.add_metric(list(labels), list(buckets), total)
        return family


def gauge(
    name: str, help_: str, labels: tuple[str, ...], samples: Callable[[V], Samples]
) -> Family[V]:
    return Family(name, help_, labels, samples)


def counter(
    name: str, help_: str, labels: tuple[str, ...], samples: Callable[[V], Samples]
) -> Family[V]:
    return Family(name, help_, labels, samples, counter=True)


def one(value: float) -> Samples:
    """The one series of a family without labels."""
    return [((), value)]


def cumulative(bounds: Sequence[float], within: Sequence[float], count: float) -> Buckets:
    """Histogram buckets from the counts within each bound, with +Inf."""
    return [*((f"{b:g}", v) for b, v in zip(bounds, within, strict=True)), ("+Inf", count)]


def build_all(table: Sequence[Row[V]], view: V) -> Iterator[Metric]:
    for row in table:
        yield row.build(view)
