"""The build's alerts evaluated just after the exporter's scrape, not up to a second later.

Prometheus runs each scrape and each rule group at a fixed phase within its
interval, chosen by hashing: a target's phase from its labels, its URL and
the host's name; a group's from its name and file. With the exporter scraped
every second and the build's alerts evaluated every second, the time from a
scrape to the evaluation that sees it is therefore fixed for a stack's life,
anywhere from 0 to 1 s: one stack's crisis p95 was 1.24 s, another's 1.84 s
(bench/crisis.py, 200 trials each). Shortening both intervals would cost idle
CPU that the 1 % budget does not have.

So `warden up` computes, before Prometheus starts, the scrape's phase as
Prometheus 2.42 will (`predicted_scrape`), and gives the fast group the first
name (`warden-critical`, then `warden-critical-phase1`, ...) whose hashed phase
(xxhash64 of its `file` and `name` labels) falls WINDOW after it. Once
Prometheus has scraped, it reads the phase back (`exporter_scrape`); if it
differs, it renames the group to follow it and Prometheus reloads its rules on
SIGHUP. The stack test reads both phases back from the real Prometheus. A
group's name is carried by no alert, so nothing downstream sees the change.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash
import yaml

from warden.config.values import parse_duration
from warden.rfc3339 import instant

WINDOW = (0.05, 0.15)
"""Seconds from the scrape's start to the evaluation: the scrape must have ended and
its samples be stored (the exporter serves a cached page in a few ms; under a CPU
load, tens), and any later the alert just waits."""
TRIES = 1000
"""Names tried: a window of a tenth of the interval fits about one name in ten."""
_SEP = b"\xff"


def labels_hash(labels: dict[str, str]) -> int:
    """Go's labels.Hash: xxhash64 of each name and value, sorted by name, each
    followed by 0xff."""
    pairs = sorted(labels.items())
    return xxhash.xxh64_intdigest(b"".join(n.encode() + _SEP + v.encode() + _SEP for n, v in pairs))


def fnv1a64(data: bytes) -> int:
    """Go's hash/fnv New64a, which Prometheus hashes targets and its jitter seed with."""
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def group_phase(name: str, file: str, interval: float) -> float:
    """Seconds into each interval at which Prometheus evaluates the group `name` of the
    rules file `file` (as given in `rule_files`): the hash of the labels {file, name}
    modulo the interval in nanoseconds."""
    return labels_hash({"file": file, "name": name}) % round(interval * 1e9) / 1e9


def scrape_phase(
    address: str, job: str, interval: str, timeout: str, external: dict[str, str], host: str
) -> float:
    """Seconds into each interval at which Prometheus scrapes `http://address/metrics` of
    `job` (its scrape_interval and scrape_timeout as Go prints them: "1s"): the target's
    hash (its labels after relabelling, and its URL) XOR the server's jitter seed (the
    host's name as Go resolves it, and the external labels)."""
    labels = {
        "__address__": address,
        "__metrics_path__": "/metrics",
        "__scheme__": "http",
        "__scrape_interval__": interval,
        "__scrape_timeout__": timeout,
        "instance": address,
        "job": job,
    }
    target = fnv1a64(f"{labels_hash(labels):016d}http://{address}/metrics".encode())
    shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(external.items()))
    seed = fnv1a64(f"{host}{{{shown}}}".encode())
    seconds = duration(interval) or 0.0
    return (target ^ seed) % round(seconds * 1e9) / 1e9


def go_fqdn() -> str:
    """The host's name as Prometheus' jitter seed has it (Go's osutil.GetFQDN): the name
    of the first IPv4 address the host name resolves to, else the host name."""
    host = socket.gethostname()
    try:
        found = socket.getaddrinfo(host, None, socket.AF_INET)
    except OSError:
        return host
    for ip in dict.fromkeys(str(a[4][0]) for a in found):
        try:
            return socket.gethostbyaddr(ip)[0].rstrip(".")
        except OSError:
            continue
    return host


def predicted_scrape(prometheus: dict[str, Any], exporter: str) -> Scrape | None:
    """The exporter's scrape as a Prometheus with this config will run it, before it
    starts (None when its job is not the plain one this computes: its own interval
    and timeout, no params, relabelling, scheme or path of its own)."""
    external = prometheus.get("global", {}).get("external_labels") or {}
    plain = ("job_name", "scrape_interval", "scrape_timeout", "static_configs", "basic_auth")
    for job in prometheus.get("scrape_configs", []):
        if exporter not in job.get("static_configs", [{}])[0].get("targets", []):
            continue
        interval, timeout = str(job.get("scrape_interval")), str(job.get("scrape_timeout"))
        seconds = duration(interval)
        if set(job) - set(plain) or seconds is None or duration(timeout) is None:
            return None
        phase = scrape_phase(exporter, job["job_name"], interval, timeout, external, go_fqdn())
        return Scrape(seconds, phase)
    return None


def behind(later: float, earlier: float, interval: float) -> float:
    """How far the phase `later` follows the phase `earlier`, in [0, interval)."""
    return (later - earlier) % interval


def aligned_name(base: str, file: str, interval: float, scrape_at: float) -> str:
    """The first of `base`, `base-phase1`, ... evaluated WINDOW after a scrape at phase
    `scrape_at`; `base` if none of TRIES is."""
    for k in range(TRIES):
        name = base if k == 0 else f"{base}-phase{k}"
        after = behind(group_phase(name, file, interval), scrape_at, interval)
        if WINDOW[0] <= after < WINDOW[1]:
            return name
    return base


@dataclass(frozen=True)
class Scrape:
    """The exporter's scrape as Prometheus' /api/v1/targets reports it."""

    interval: float
    phase: float
    """Seconds into each interval at which it starts."""


def exporter_scrape(targets: Any, exporter: str) -> Scrape | None:
    """The scrape of the exporter at `exporter` (host:port) from /api/v1/targets' JSON;
    None before its first scrape."""
    try:
        active = targets["data"]["activeTargets"]
    except (KeyError, TypeError):
        return None
    for t in active:
        if t.get("labels", {}).get("instance") != exporter:
            continue
        at = instant(str(t.get("lastScrape", "")))
        interval = duration(str(t.get("scrapeInterval", "")))
        if at is None or at <= 0 or interval is None:
            return None
        return Scrape(interval, at % interval)
    return None


def duration(text: str) -> float | None:
    """A Prometheus duration in seconds (`parse_duration`); None if it is not one."""
    try:
        return parse_duration(text)
    except ValueError:
        return None


def align(rules: Path, base: str, scrape: Scrape) -> bool:
    """Rename the group `base` (or its earlier aligned name) of the rules file so that
    it is evaluated WINDOW after `scrape`; True if the file changed (Prometheus must
    reload it). Nothing to align when the group's interval is not the scrape's."""
    doc = yaml.safe_load(rules.read_text(encoding="utf-8"))
    for group in doc["groups"]:
        name = str(group["name"])
        if name != base and not name.startswith(f"{base}-phase"):
            continue
        if duration(str(group.get("interval", ""))) != scrape.interval:
            return False
        wanted = aligned_name(base, str(rules), scrape.interval, scrape.phase)
        if wanted == name:
            return False
        group["name"] = wanted
        text = yaml.safe_dump(doc, sort_keys=False, width=1000, allow_unicode=True)
        rules.write_text(text, encoding="utf-8")
        return True
    return False
