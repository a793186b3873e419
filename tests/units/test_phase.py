"""The rule group's phase chosen after the exporter's scrape (warden/phase.py); the
live Prometheus confirms the hash in tests/stack/test_up.py."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from warden.phase import (
    WINDOW,
    Scrape,
    align,
    aligned_name,
    behind,
    duration,
    exporter_scrape,
    fnv1a64,
    group_phase,
    predicted_scrape,
)

FILE = "/var/lib/warden/stack/prometheus/warden.rules.yml"


@given(st.floats(min_value=0.0, max_value=0.999999))
def test_a_name_is_found_for_any_scrape_phase(phase: float) -> None:
    name = aligned_name("warden-critical", FILE, 1.0, phase)
    assert WINDOW[0] <= behind(group_phase(name, FILE, 1.0), phase, 1.0) < WINDOW[1]


def test_the_targets_api_gives_the_exporters_phase_and_interval() -> None:
    targets = {
        "data": {
            "activeTargets": [
                {"labels": {"instance": "127.0.0.1:2"}, "lastScrape": "2026-12-07T13:00:01.5Z"},
                {
                    "labels": {"instance": "127.0.0.1:1"},
                    "lastScrape": "2026-12-07T13:00:01.123456789Z",
                    "scrapeInterval": "1s",
                },
            ]
        }
    }
    scrape = exporter_scrape(targets, "127.0.0.1:1")
    assert scrape is not None and scrape.interval == 1.0
    assert abs(scrape.phase - 0.123456789) < 1e-6
    never = {"labels": {"instance": "127.0.0.1:1"}, "lastScrape": "0001-01-01T00:00:00Z"}
    assert exporter_scrape({"data": {"activeTargets": [never]}}, "127.0.0.1:1") is None
    assert exporter_scrape(None, "127.0.0.1:1") is None
    assert [duration(t) for t in ("1s", "500ms", "2m", "1.5s", "")] == [
        1.0,
        0.5,
        120.0,
        None,
        None,
    ]


def test_align_renames_only_the_fast_group_and_only_when_needed(tmp_path: Path) -> None:
    rules = tmp_path / "warden.rules.yml"
    groups = [
        {"name": "warden-critical", "interval": "1s", "rules": []},
        {"name": "warden-critical-5s", "interval": "5s", "rules": []},
    ]
    rules.write_text(yaml.safe_dump({"groups": groups}))
    base_phase = group_phase("warden-critical", str(rules), 1.0)
    # The base name already follows this scrape by 0.1 s: nothing to do.
    assert not align(rules, "warden-critical", Scrape(1.0, (base_phase - 0.1) % 1.0))
    # Another scrape phase: renamed once, then left alone.
    scrape = Scrape(1.0, (base_phase + 0.5) % 1.0)
    assert align(rules, "warden-critical", scrape)
    names = [g["name"] for g in yaml.safe_load(rules.read_text())["groups"]]
    assert names[0].startswith("warden-critical-phase") and names[1] == "warden-critical-5s"
    assert WINDOW[0] <= behind(group_phase(names[0], str(rules), 1.0), scrape.phase, 1.0)
    assert not align(rules, "warden-critical", scrape)
    # A scrape of another interval than the group's (Prometheus' defaults): left alone.
    assert not align(rules, "warden-critical", Scrape(60.0, 12.0))


def test_the_hashes_are_gos() -> None:
    """FNV-1a 64 (Go's hash/fnv) on its reference vectors; the phases' agreement with
    the real Prometheus is the stack test's."""
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8


def test_a_scrape_is_foreseen_only_for_the_plain_job() -> None:
    job = {
        "job_name": "warden-exporter",
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "static_configs": [{"targets": ["127.0.0.1:9"]}],
    }
    config = {"global": {"external_labels": {"replica": "a"}}, "scrape_configs": [job]}
    scrape = predicted_scrape(config, "127.0.0.1:9")
    assert scrape is not None and scrape.interval == 1.0 and 0 <= scrape.phase < 1
    other = predicted_scrape({"scrape_configs": [job]}, "127.0.0.1:9")
    assert other is not None and other.phase != scrape.phase, "the external labels count"
    assert predicted_scrape(config, "127.0.0.1:10") is None
    for unusual in ({"params": {"x": ["1"]}}, {"metrics_path": "/m"}, {"scrape_timeout": None}):
        assert predicted_scrape({"scrape_configs": [{**job, **unusual}]}, "127.0.0.1:9") is None
