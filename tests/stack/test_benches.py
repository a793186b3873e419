"""Every bench under `bench/` runs from a fresh clone, as the README shows it, with
tiny parameters (issue 30, item 5): three of them had rotted unseen (the scrape
bench's exporter without its secrets, the swarms bench stopped by the day's
ceiling, the crisis bench's `--defaults` that kept the shipped intervals).

Each runs as `python -m bench.NAME` in a process of its own, from the checkout,
and must exit 0 and print its closing figure; where a bench has an anchor that
runs in seconds, the ratio printed beside it is checked too. The anchors that
take minutes (Prometheus' and Alertmanager's default intervals: a minute's scrape
and evaluation, 30 s group wait) are left out here (`--default-trials 0`); the
configs they would run on are checked in `test_the_defaults_anchor_is_the_tools_defaults`.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

from tests.conftest import REPO, wait_for

BENCHES: dict[str, tuple[tuple[str, ...], str]] = {
    "alert_latency": (("--trials", "1", "--default-trials", "0"), r"shipped : n=1 p50="),
    "breaker": (
        ("--minutes", "0.1", "--quiet", "0.1", "--fake"),
        r"launches an hour: \d+ over this run",
    ),
    "core": (
        ("--history", "200", "--scrapes", "50", "--idle", "1", "--warmup", "1", "--grace", "1"),
        r"with 200 ended swarms, scrape p99 x[\d.]+, spawn p99 x[\d.]+",
    ),
    "crisis": (
        ("--trials", "1", "--default-trials", "0", "--load", "0"),
        r"shipped: lost crises 0 of 1",
    ),
    "file_events": (("--edits", "1", "--trials", "1"), r"mypy says 232, Warden 232"),
    "fleet_budget": (("--responders", "2", "--trials", "1"), r"postgresql: 2 responders"),
    "hostile": (
        ("--held", "5", "--deliveries", "5", "--alerts", "60"),
        r"longest gap [\d.]+ s as one body, [\d.]+ s as one alert a body \(x[\d.]+\)",
    ),
    "idle": (("--runs", "1", "--seconds", "2", "--warmup", "1"), r"total\s+[\d.]+%"),
    "landing": (
        (
            "--trials",
            "1",
        ),
        r"agent done -> landed over the build and tests: [\d.]+x",
    ),
    "learning": (
        (
            "--weeks",
            "1",
        ),
        r"believed, learning on: \d+ verified",
    ),
    "logs": (
        ("--rate", "200", "--files", "2", "--seconds", "1", "--drain-lines", "2000"),
        r"sustained: .* missed 0",
    ),
    "openclaw_outage": (("--trials", "1", "--fast"), r"1 trials .* healthy again p50"),
    "scrape": (
        ("--agents", "20", "--logs", "2", "--scrapes", "20", "--quiet", "1"),
        r"warden/node_exporter p50 latency per exported series: [\d.]+",
    ),
    "swarms": (
        ("--trials", "2", "--chatty", "20", "--seconds", "1"),
        r"kill: 10 swarms of 10 agents, every process gone",
    ),
    "takeover": (
        (
            "--trials",
            "1",
        ),
        r"one swarm per episode",
    ),
    "verified": (("--swarms", "2", "--pause", "0.1"), r"\(ratio [\d.]+\)"),
    "webhook": (
        ("--bodies", "50", "--episodes", "10", "--decisions", "5"),
        r"accept path CPU [\d.]+ ms a body, [\d.]+x the anchor's",
    ),
}


def test_every_bench_has_a_smoke_test() -> None:
    # bench/webhook.py's anchor and its hosts of their own
    helpers = {"__init__", "common", "minimal_receiver", "cpu_quota"}
    shipped = {p.stem for p in (REPO / "bench").glob("*.py")} - helpers
    assert shipped == set(BENCHES), "a bench without its smoke test, or the reverse"


LONG = {"openclaw_outage": 300, "learning": 300, "core": 240, "file_events": 240}
"""The smoke tests that take a minute or more on a loaded machine (the real gateway;
seven simulated weeks): their timeout marks put them first (tests/conftest.py)."""


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.timeout(LONG.get(n, 180))) for n in sorted(BENCHES)],
)
def test_the_bench_runs_with_tiny_parameters(name: str) -> None:
    args, closing = BENCHES[name]
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=LONG.get(name, 180) - 20,
        check=False,
    )
    said = f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, said
    assert re.search(closing, done.stdout), said


def test_the_defaults_anchor_is_the_tools_defaults(tmp_path: Path) -> None:
    """`bench/crisis.py`'s anchor runs `warden up` on copies of the shipped Prometheus
    and Alertmanager configs without their intervals; the shipped warden.yml names
    neither file (null: Warden's own), so the copies must be named in it (they were
    not: the anchor ran the shipped intervals)."""
    from bench.crisis import defaults_configs
    from tests.conftest import make_demo_repo
    from tests.stack.test_up import stack_config

    cfg, _ = stack_config(tmp_path, make_demo_repo(tmp_path / "demo"))
    defaults_configs(tmp_path, cfg)
    stack = yaml.safe_load(cfg.read_text())["stack"]
    assert stack["prometheus_config"] == str(tmp_path / "prometheus.yml")
    assert stack["alertmanager_config"] == str(tmp_path / "alertmanager.yml")
    prom = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    assert not prom["global"]
    assert not any("scrape_interval" in job for job in prom["scrape_configs"])
    am = yaml.safe_load((tmp_path / "alertmanager.yml").read_text())
    timed = [r for r in [am["route"], *am["route"]["routes"]] if "group_wait" in r]
    assert all('alertname="Watchdog"' in r["matchers"] for r in timed), timed


def test_a_bench_stopped_with_sigterm_leaves_no_busy_process() -> None:
    """`--load`'s busy processes run in sessions of their own; a bench stopped with
    `kill` used to die without killing them (a core stayed busy after the run)."""
    # The bench works until its input ends, which only its kill ends here.
    script = "import sys\nfrom bench.common import cpu_load\nwith cpu_load(1):\n"
    script += "    print('busy', flush=True)\n    sys.stdin.read()\n"
    bench = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert bench.stdout is not None and bench.stdout.readline().strip() == "busy"
    [busy] = psutil.Process(bench.pid).children()
    bench.send_signal(signal.SIGTERM)
    assert bench.wait(timeout=30) == 128 + signal.SIGTERM
    assert not psutil.pid_exists(busy.pid)


def test_a_bench_killed_outright_leaves_none_of_its_processes() -> None:
    """bench/scrape.py's look-alike agents run in sessions of their own: a run killed
    by a test's timeout (SIGKILL, no cleanup) left them, and every later run on the
    machine counted them with its own and failed ("exporter never reported 20
    agents"). They now die with the bench, and a run counts only its own."""
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench.scrape", "--agents", "5", "--logs", "1", "--quiet", "60"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    mark = f"0.{bench.pid:09d}"  # bench/scrape.py's RUN

    def its_agents() -> list[int]:
        return [
            p.pid for p in psutil.process_iter(["cmdline"]) if mark in (p.info["cmdline"] or [])
        ]

    try:
        wait_for(lambda: len(its_agents()) == 5, 60)
        children = psutil.Process(bench.pid).children()  # the exporter among them
    finally:
        bench.kill()
        bench.wait()
    wait_for(lambda: not its_agents(), 30)
    wait_for(lambda: not any(c.is_running() for c in children), 30)


def test_a_cpu_quota_holds_a_process_tree_and_is_removed() -> None:
    """bench/webhook.py's `--cores-each`: a responder and what it started are held to
    their quota (a host of their own), and nothing is left once they end."""
    from bench.cpu_quota import PERIOD_US, CpuQuota, NoQuota

    try:
        quota = CpuQuota("test", 0.25)
    except NoQuota as exc:
        pytest.skip(str(exc))
    parent = subprocess.Popen(["/bin/sh", "-c", "sleep 60 & wait"])
    try:
        child = wait_for(lambda: next(iter(psutil.Process(parent.pid).children()), None), 10)
        quota.hold(parent.pid)
        held = set((quota.path / "cgroup.procs").read_text().split())
        assert {str(parent.pid), str(child.pid)} <= held
        limit = (
            (quota.path / "cpu.max").read_text().split()[0]
            if (quota.path / "cpu.max").exists()
            else (quota.path / "cpu.cfs_quota_us").read_text().strip()
        )
        assert int(limit) == PERIOD_US // 4
    finally:
        # The child first, reaped by its shell, which then ends: no orphan is left.
        for p in psutil.Process(parent.pid).children():
            p.kill()
        parent.wait(10)
        quota.remove()
    assert not quota.path.exists()
