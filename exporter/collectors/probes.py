"""Probes collector (T7, W1): is the real thing answering, and how fast?

HTTP probes ask an endpoint that checks readiness (OpenClaw's gateway
`/readyz`), not a port; command probes run a health command and read its exit
code, or with `output: json` what it printed (`openclaw health --json`: exit
0 and `"ok": true` is healthy; otherwise `error.kind`, such as `closed` when
nothing answers, becomes the bounded `kind` label of
`warden_probe_error_kind`). All probes of a run go out at once, so one that
hangs until its timeout does not delay the others.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors import Collector
from warden.config import CommandProbe, HttpProbe, ProbesSettings
from warden.runner import CommandRunner


@dataclass(frozen=True)
class ProbeResult:
    name: str
    kind: str
    success: bool
    duration_seconds: float
    code: int
    """HTTP status (0 when no answer came) or the command's exit code (-1 on timeout)."""
    error_kind: str = "none"
    """One of ERROR_KINDS: why it failed, as the probed thing said or as seen."""


ERROR_KINDS = (
    "none",
    "closed",
    "refused",
    "timeout",
    "auth",
    "http_status",
    "invalid_output",
    "other",
)
"""The bounded set of `warden_probe_error_kind`'s `kind` label."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is an answer of its own; report its status


_opener = urllib.request.build_opener(_NoRedirect)


def probe_http(p: HttpProbe) -> ProbeResult:
    # The config admits only http:// and https:// URLs.
    request = urllib.request.Request(p.url, headers=p.headers, method="GET")  # noqa: S310
    t0 = time.monotonic()
    try:
        with _opener.open(request, timeout=p.timeout) as resp:
            resp.read(65536)
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError):
        status = 0
    duration = time.monotonic() - t0
    ok = status in p.expect_status if p.expect_status else 200 <= status < 300
    kind = "none" if ok else ("closed" if status == 0 else "http_status")
    return ProbeResult(p.name, "http", ok, duration, status, kind)


def probe_command(p: CommandProbe, runner: CommandRunner, cwd: Path) -> ProbeResult:
    try:
        r = runner.run(p.command, cwd, p.timeout, tail_bytes=65536, env=p.env)
    except OSError:
        return ProbeResult(p.name, "command", False, 0.0, -1, "other")
    code = -1 if r.exit_code is None else r.exit_code
    if r.timed_out:
        return ProbeResult(p.name, "command", False, r.duration_seconds, code, "timeout")
    if p.output == "exit":
        kind = "none" if r.ok else "other"
        return ProbeResult(p.name, "command", r.ok, r.duration_seconds, code, kind)
    verdict = read_health(r.output_tail)
    ok = code == 0 and verdict == "none"
    kind = "other" if not ok and verdict == "none" else verdict
    return ProbeResult(p.name, "command", ok, r.duration_seconds, code, kind)


def read_health(output: str) -> str:
    """The error kind a health command's JSON reports ("none" when it says ok): the
    first JSON object in the output (stderr's lines may come before it)."""
    decoder = json.JSONDecoder()
    start = output.find("{")
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(output, start)
        except ValueError:
            start = output.find("{", start + 1)
            continue
        if not isinstance(obj, dict):
            break
        if obj.get("ok") is True:
            return "none"
        error = obj.get("error")
        kind = error.get("kind") if isinstance(error, dict) else None
        return kind if kind in ERROR_KINDS and kind != "none" else "other"
    return "invalid_output"


class ProbesCollector(Collector):
    name = "probes"

    def __init__(self, settings: ProbesSettings, project_dir: Path, runner: CommandRunner):
        self.settings = settings
        self.interval = settings.interval
        self.project_dir = project_dir
        self.runner = runner
        workers = max(1, len(settings.http) + len(settings.commands))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe")

    def collect(self) -> Sequence[Metric]:
        futures = [self._pool.submit(probe_http, p) for p in self.settings.http] + [
            self._pool.submit(probe_command, p, self.runner, self.project_dir)
            for p in self.settings.commands
        ]
        results = [f.result() for f in futures]
        success = GaugeMetricFamily(
            "warden_probe_success",
            "Whether the probe's last check succeeded.",
            labels=["probe", "kind"],
        )
        duration = GaugeMetricFamily(
            "warden_probe_duration_seconds",
            "How long the probe's last check took.",
            labels=["probe", "kind"],
        )
        status = GaugeMetricFamily(
            "warden_probe_http_status_code",
            "HTTP status of the probe's last answer; 0 when none came.",
            labels=["probe"],
        )
        exit_code = GaugeMetricFamily(
            "warden_probe_command_exit_code",
            "Exit code of the probe command's last run; -1 when it could not run or timed out.",
            labels=["probe"],
        )
        error_kind = GaugeMetricFamily(
            "warden_probe_error_kind",
            "1 for why the probe's last check failed (none when it succeeded), else 0.",
            labels=["probe", "kind"],
        )
        for r in results:
            success.add_metric([r.name, r.kind], 1.0 if r.success else 0.0)
            duration.add_metric([r.name, r.kind], r.duration_seconds)
            (status if r.kind == "http" else exit_code).add_metric([r.name], r.code)
            for kind in ERROR_KINDS:
                error_kind.add_metric([r.name, kind], 1.0 if r.error_kind == kind else 0.0)
        return [success, duration, status, exit_code, error_kind]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
