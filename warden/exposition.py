"""A scrape's page, encoded one metric family at a time, each family's text kept
while its samples stay the same.

Why: prometheus_client's encoders spend 5-8 µs a sample, and most of a page
does not move between two scrapes. The responder's 800-odd series are mostly
zeros preset for every swarm type and reason (so that `increase()` sees the
first event); the exporter's change one collector at a time. Encoding them all
again at every scrape was most of an idle responder's CPU (5.4 ms a scrape).
The page is byte for byte what the library's encoder makes of the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

OPENMETRICS = "application/openmetrics-text"
EOF = b"# EOF\n"
"""OpenMetrics ends a page (once) with this line; the text format has no end line."""
KEPT_ENCODINGS = 4


class _One(Collector):
    """One family, handed to the library's encoder as a registry of its own."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def collect(self) -> Iterable[Metric]:
        return (self.metric,)


class Pages:
    """The pages of one registry, in the encoding a scrape asks for (Accept).

    Two scrapes at once each read the texts kept by the last one and replace
    them whole with theirs: neither changes what the other reads, and no lock
    is held while a page is encoded."""

    def __init__(self, registry: Collector, version: Callable[[], int] | None = None) -> None:
        self._registry = registry
        self._version = version
        """When given, the registry's samples change only when it does: until then
        a page is served again without collecting (the exporter's collectors do not
        run during a scrape)."""
        self._kept: dict[str, tuple[int | None, bytes, dict[str, tuple[Metric, bytes]]]] = {}
        """By content type: the version, the page, and each family's samples when
        last encoded with its text. At most KEPT_ENCODINGS: the content type
        carries what the client asked for, so a client may name any number."""

    def page(self, accept: str) -> tuple[bytes, str]:
        """The page and its content type."""
        encoder, content_type = choose_encoder(accept)
        version = None if self._version is None else self._version()
        kept = self._kept.get(content_type)
        if kept is not None and version is not None and kept[0] == version:
            return kept[1], content_type
        families = {} if kept is None else kept[2]
        fresh: dict[str, tuple[Metric, bytes]] = {}
        for metric in self._registry.collect():
            last = families.get(metric.name)
            if last is None or last[0] != metric:
                last = (metric, encoder(_One(metric)).removesuffix(EOF))
            fresh[metric.name] = last
        end = EOF if content_type.startswith(OPENMETRICS) else b""
        body = b"".join(text for _, text in fresh.values()) + end
        others = {k: v for k, v in self._kept.items() if k != content_type}
        if len(others) >= KEPT_ENCODINGS:
            others.clear()
        self._kept = {**others, content_type: (version, body, fresh)}
        return body, content_type
