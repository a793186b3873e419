"""The swarm runtime with real agent processes (examples/fake_claude.py) and a real SQLite file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psutil
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from responder.act.launcher import ENV_AGENT, ENV_RUNTIME
from responder.act.live import SpawnRefused
from responder.act.runtime import Runtime
from responder.model import Priority
from responder.observe.decisions import describe
from responder.observe.metrics import RuntimeMetrics
from responder.rules.admission import Refusal
from responder.rules.budget import Period
from responder.rules.modes import Situation
from tests.conftest import REPO, fake_swarm_keys, wait_for, write_config
from tests.docs_table import documented_metrics, served_metrics
from tests.service.test_exporter import promtool
from warden.config import Config, load_config


def config(tmp_path: Path, types: str = "", extra: str = "", **defaults: str) -> Config:
    """A config whose swarms run the fake agent, with quick timings for tests; `extra`,
    top-level keys."""
    base = {
        "retries": "2",
        "retry_backoff": "100ms",
        "kill_grace": "500ms",
        "stuck_after": "1s",
        "spawn_timeout": "1s",
        "budget_usd": "1.0",
        "timeout": "1m",
        **defaults,
    }
    keys = "\n".join(f"  {k}: {v}" for k, v in base.items())
    # These tests are about the runtime, not the modes: the night (23:00-07:00
    # by the real clock) must not refuse their MEDIUM and LOW swarms, whatever
    # the hour CI runs at.
    body = f"""\
state_dir: {tmp_path / "state"}
modes:
  NIGHT: {{max_swarms: 10, priorities: [CRITICAL, HIGH, MEDIUM, LOW]}}
swarms:
{fake_swarm_keys()}{keys}
  types:
{textwrap.indent(textwrap.dedent(types), "    ")}
{extra}"""
    return load_config(write_config(tmp_path / "warden.yml", body))


@pytest.fixture
def runtimes() -> Iterator[list[Runtime]]:
    """Runtimes made by a test; whatever they still run is killed at the end."""
    made: list[Runtime] = []
    yield made
    for rt in made:
        try:
            for s in rt.store.swarms("running"):
                rt.kill_swarm(s.id, "test teardown")
            rt.close()  # waits for the kills
        except sqlite3.ProgrammingError:
            pass  # closed by the test


def make(runtimes: list[Runtime], cfg: Config, **kw: object) -> Runtime:
    rt = Runtime(cfg, **kw)  # type: ignore[arg-type]
    runtimes.append(rt)
    return rt


def run_until(rt: Runtime, cond: Callable[[], bool], timeout: float = 20) -> None:
    def step() -> bool:
        rt.poll()
        return cond()

    wait_for(step, timeout, 0.05)


def _running(pid: int | None) -> bool:
    """Whether the process runs (a zombie has ended)."""
    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _swarms_written(db_file: Path) -> int:
    """Swarms committed to a SQLite store another process writes (0 before its schema)."""
    if not db_file.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=5)) as db:
            return int(db.execute("SELECT COUNT(*) FROM swarms").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def swarm_state(rt: Runtime, swarm_id: str) -> str:
    row = rt.store.swarm(swarm_id)
    assert row is not None
    return row.state


def ended(rt: Runtime, swarm_id: str) -> Callable[[], bool]:
    return lambda: swarm_state(rt, swarm_id) != "running"


def marked_stray(instance: str, agent: str = "s0-0-0", **popen: Any) -> subprocess.Popen[bytes]:
    """A process carrying the mark of runtime `instance`, as its agents do, that no
    runtime knows as live: an orphan, alive until it is reaped (60 s at most)."""
    env = {**os.environ, ENV_RUNTIME: instance, ENV_AGENT: agent}
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env, **popen)


def marked_processes(rt: Runtime) -> list[psutil.Process]:
    """Every process carrying this runtime's mark: agents and all they started."""
    out = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(ENV_RUNTIME) == rt.instance and p.status() != "zombie":
                out.append(p)
        except psutil.Error:
            pass
    return out


def test_a_swarm_succeeds_and_pays_what_it_reported(
    tmp_path: Path, runtimes: list[Runtime]
) -> None:
    cfg = config(tmp_path, "bugfix: {size: 2, env: {FAKE_CLAUDE: 'cost=0.25,turns=2'}}")
    rt = make(runtimes, cfg)
    swarm = rt.start_swarm(
        "bugfix",
        Priority.CRITICAL,
        "alert:BuildFailing",
        "error TS2322: Type 'string' is not assignable",
    )
    assert "error TS2322" in Path(swarm.context_file).read_text()
    run_until(rt, ended(rt, swarm.id))
    assert swarm_state(rt, swarm.id) == "succeeded"
    agents = rt.store.agents(swarm.id)
    assert [a.state for a in agents] == ["succeeded", "succeeded"]
    assert all(a.exit_code == 0 and a.cost_usd == 0.25 for a in agents)
    assert rt.store.swarm_spend(swarm.id) == 0.5
    assert rt.facts().period_spend == 0.5
    log = Path(agents[0].log_path).read_text()
    assert '"type": "result"' in log
    assert not marked_processes(rt)


def test_spend_is_what_was_spent_and_says_on_what_basis(
    tmp_path: Path, runtimes: list[Runtime]
) -> None:
    """B6, issue 29 item 3. Was: Claude Code's $6.00 on a $2 cap (it stops after the
    turn that passes it) was booked $2, and a run killed after its first line its
    whole cap ($8.00 for four such kills, $0 spent). Placeholders fill whole arguments."""
    cfg = config(
        tmp_path,
        """
        tests: {budget_usd: 0.3, retries: 0, env: {FAKE_CLAUDE: 'cost=0.9'}}
        review: {budget_usd: 0.3, retries: 0, env: {FAKE_CLAUDE: 'cost=5'}}
        monitor: {budget_usd: 0.5, stuck_after: 1h, env: {FAKE_CLAUDE: 'mode=chatty,delay=0.02'}}
        improvement: {budget_usd: 0.5, stuck_after: 1h, env: {FAKE_CLAUDE: 'mode=hang'}}
    """,
    )
    rt = make(runtimes, cfg)
    past = rt.start_swarm("tests", Priority.HIGH, "job", "$(touch pwned) {prompt} `id`")
    liar = rt.start_swarm("review", Priority.HIGH, "job", "")
    chatty = rt.start_swarm("monitor", Priority.HIGH, "job", "")
    stalled = rt.start_swarm("improvement", Priority.HIGH, "job", "")
    run_until(rt, lambda: ended(rt, past.id)() and ended(rt, liar.id)())
    run_until(rt, lambda: all(a.state == "running" for a in rt.live_agents()))
    [talker] = rt.store.agents(chatty.id)
    wait_for(lambda: Path(talker.log_path).read_text().count('"type": "assistant"') >= 5, 20)
    for s in (chatty, stalled):
        rt.kill_swarm(s.id)
    rt.wait_kills()
    turns = Path(talker.log_path).read_text().count('"type": "assistant"')
    spent = {s.type: rt.store.swarm_spend(s.id) for s in (past, liar, chatty, stalled)}
    assert spent["tests"] == pytest.approx(0.9), "its own word, past its $0.30 cap"
    assert spent["review"] == pytest.approx(0.3), "$5 is past 10 times the cap: set aside"
    # Sonnet's list price for the 1,000 input and 200 output tokens of each answer.
    assert spent["monitor"] == pytest.approx(turns * (1000 * 3 + 200 * 15) / 1e6)
    assert spent["improvement"] == 0.0, "it began and had no answer yet"
    bases = {
        s.type: set(rt.store.bases_of_swarm(s.id).values()) for s in (past, liar, chatty, stalled)
    }
    assert bases == {
        "tests": {"reported"},
        "review": {"set_aside"},
        "monitor": {"usage"},
        "improvement": {"usage"},
    }
    assert swarm_state(rt, past.id) == "failed"  # error_max_budget_usd: it reached its cap
    [aside] = [d for d in rt.store.decisions() if d["kind"] == "cost_set_aside"]
    assert aside["reported_usd"] == 5.0 and rt.set_aside == [rt.store.agents(liar.id)[0].id]
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("adapter", "reported", "shown"),
    [
        ("claude", "-500", "-500.0"),
        ("claude", "nan", "NaN"),
        ("generic", "-1000", "-1000.0"),
        ("generic", "-inf", "-Infinity"),
    ],
)
def test_a_cost_that_is_not_a_cost_is_charged_as_unreported(
    tmp_path: Path, runtimes: list[Runtime], adapter: str, reported: str, shown: str
) -> None:
    """B6: an agent printing a negative, NaN or infinite cost gives back no budget and
    switches no cap off: the run is charged its cap, the report is logged and counted."""
    cfg = config(
        tmp_path,
        f"bugfix: {{adapter: {adapter}, budget_usd: 1.5, env: {{FAKE_CLAUDE: 'cost={reported}'}}}}",
    )
    rt = make(runtimes, cfg)
    swarm = rt.start_swarm("bugfix", Priority.CRITICAL, "job", "")
    run_until(rt, ended(rt, swarm.id))
    assert rt.store.swarm_spend(swarm.id) == 1.5
    assert rt.facts().period_spend == 1.5
    [agent] = rt.store.agents(swarm.id)
    assert agent.cost_usd == 1.5 and agent.cost_refused == shown
    [decision] = [d for d in rt.store.decisions() if d["kind"] == "cost_refused"]
    assert decision["agent"] == agent.id and decision["reported"] == shown
    assert describe(decision) == (
        f"agent {agent.id} reported {shown} as its cost: not a cost, charged $1.50"
    )
    registry = CollectorRegistry()
    registry.register(RuntimeMetrics(rt))
    refused = registry.get_sample_value(
        "warden_swarm_cost_reports_refused_total", {"type": "bugfix"}
    )
    assert refused == 1.0


def test_a_restarted_runtime_adopts_a_run_that_reported_nan_and_charges_its_cap(
    tmp_path: Path, runtimes: list[Runtime]
) -> None:
    """The adoption path reads the same log through the same adapter: a NaN cost that
    ended while no runtime watched is charged the cap, and the runtime goes on."""
    cfg = config(tmp_path, "tests: {env: {FAKE_CLAUDE: 'turns=3,delay=0.3,cost=nan'}}")
    first = Runtime(cfg)
    swarm = first.start_swarm("tests", Priority.HIGH, "job", "")
    run_until(first, lambda: all(a.state == "running" for a in first.live_agents()))
    [agent] = first.store.agents(swarm.id)
    first.close()  # the responder "dies"; its agent finishes alone
    wait_for(lambda: '"type": "result"' in Path(agent.log_path).read_text(), 20)

    second = make(runtimes, cfg)
    run_until(second, ended(second, swarm.id))
    assert swarm_state(second, swarm.id) == "succeeded"
    assert second.store.swarm_spend(swarm.id) == 1.0
    assert second.store.agents(swarm.id)[0].cost_refused == "NaN"
    again = second.start_swarm("tests", Priority.HIGH, "job", "")
    assert again.id != swarm.id, "it still starts work: the ledger took the row"


def test_a_failing_agent_is_retried_then_the_swarm_fails(
    tmp_path: Path, runtimes: list[Runtime]
) -> None:
    cfg = config(tmp_path, "tests: {env: {FAKE_CLAUDE: 'mode=fail,cost=0.1'}}")
    rt = make(runtimes, cfg)
    swarm = rt.start_swarm("tests", Priority.HIGH, "job", "")
    run_until(rt, ended(rt, swarm.id))
    row = rt.store.swarm(swarm.id)
    assert row is not None and row.state == "failed"
    assert "failed 3 times" in row.reason
    agents = rt.store.agents(swarm.id)
    # T3 (third wave): a run that ended with an error result is a failed run, not a death.
    assert [(a.attempt, a.state, a.death_reason) for a in agents] == [
        (0, "failed", None),
        (1, "failed", None),
        (2, "failed", None),
    ]
    # Backoff: the retries started at least 100 ms and 200 ms after the failures.
    assert agents[1].started_at is not None and agents[0].ended_at is not None
    assert agents[1].started_at - agents[0].ended_at >= 0.1
    assert agents[2].started_at - (agents[1].ended_at or 0) >= 0.2  # type: ignore[operator]
    assert rt.store.swarm_spend(swarm.id) == pytest.approx(0.3)
    assert rt.store.death_counts() == {}


def test_crash_and_external_kill_are_deaths_and_are_replaced(
    tmp_path: Path, runtimes: list[Runtime]
) -> None:
    cfg = config(
        tmp_path,
        """
        bugfix: {retries: 0, env: {FAKE_CLAUDE: 'mode=crash'}}
        monitor: {env: {FAKE_CLAUDE: 'mode=hang'}, stuck_after: 1h}
    """,
    )
    rt = make(runtimes, cfg)
    crash = rt.start_swarm("bugfix", Priority.HIGH, "job", "")
    run_until(rt, ended(rt, crash.id))
    agent = rt.store.agents(crash.id)[0]
    assert (agent.state, agent.death_reason, agent.exit_code) == ("failed", "crashed", -11)
    assert swarm_state(rt, crash.id) == "failed"

    hang = rt.start_swarm("monitor", Priority.MEDIUM, "job", "")
    run_until(rt, lambda: rt.store.agents(hang.id)[0].state == "running")
    first = rt.store.agents(hang.id)[0]
    assert first.pid is not None
    os.kill(first.pid, signal.SIGKILL)
    run_until(
        rt,
        lambda: (
            len(rt.store.agents(hang.id)) == 2 and rt.store.agents(hang.id)[1].state == "running"
        ),
    )
    died = rt.store.agents(hang.id)[0]
    assert (died.state, died.death_reason) == ("failed", "killed")
    assert rt.store.death_counts() == {("bugfix", "crashed"): 1, ("monitor", "killed"): 1}
    # Killed from outside without a result: charged the tokens its stream showed (B6),
    # none: it began and had no answer yet (it was charged its cap).
    assert died.cost_usd == 0.0


def test_silent_and_hanging_agents_are_stuck_killed_and_replaced(
    tmp_path: Path, runtimes: list[Runtime]
) -> None:
    cfg = config(
        tmp_path,
        """
        monitor: {retries: 1, env: {FAKE_CLAUDE: 'mode=hang'}}
        review: {retries: 1, env: {FAKE_CLAUDE: 'mode=silent'}}
    """,
    )
    rt = make(runtimes, cfg)
    hang = rt.start_swarm("monitor", Priority.MEDIUM, "job", "")
    silent = rt.start_swarm("review", Priority.MEDIUM, "job", "")
    run_until(rt, lambda: rt.store.agents(hang.id)[0].state == "running")
    registry = CollectorRegistry()
    registry.register(RuntimeMetrics(rt))
    assert (
        registry.get_sample_value("warden_swarm_agents", {"type": "review", "state": "spawning"})
        == 1
    )
    run_until(
        rt,
        lambda: swarm_state(rt, hang.id) != "running" and swarm_state(rt, silent.id) != "running",
        timeout=30,
    )
    for swarm, why in ((hang, "silent"), (silent, "spawning")):
        agents = rt.store.agents(swarm.id)
        # Warden ended them: recorded as killed, with why; not deaths.
        assert [(a.state, a.end_reason) for a in agents] == [("killed", f"stuck_{why}")] * 2
        assert all(a.death_reason is None for a in agents), "a stuck agent is not a death"
        assert swarm_state(rt, swarm.id) == "failed"
    kinds = [d["why"] for d in rt.store.decisions() if d["kind"] == "agent_stuck"]
    assert sorted(kinds) == ["silent", "silent", "spawning", "spawning"]
    # W3/W4 alert on the increase of this counter: counted when Warden acts.
    rt.poll()
    for t, why in (("monitor", "silent"), ("review", "spawning")):
        labels = {"type": t, "why": why}
        assert registry.get_sample_value("warden_swarm_agents_stuck_total", labels) == 2
    assert not marked_processes(rt)


def test_kill_is_certain_for_the_whole_tree(tmp_path: Path, runtimes: list[Runtime]) -> None:
    cfg = config(
        tmp_path,
        """
        cleanup:
          size: 3
          kill_grace: 300ms
          stuck_after: 1h
          env: {FAKE_CLAUDE: 'mode=hang,fork=2,ignore_term=1'}
        improvement:
          stuck_after: 1h
          env: {FAKE_CLAUDE: 'mode=hang,fork=1,setsid=1'}
    """,
    )
    rt = make(runtimes, cfg)
    stubborn = rt.start_swarm("cleanup", Priority.LOW, "job", "")
    escaped = rt.start_swarm("improvement", Priority.LOW, "job", "")
    wait_for(lambda: len(marked_processes(rt)) == 3 * 3 + 2, 20)
    procs = marked_processes(rt)
    t0 = time.monotonic()
    assert rt.kill_swarm(stubborn.id)
    assert rt.kill_swarm(escaped.id, wait=True)
    assert time.monotonic() - t0 < 10
    assert not rt.kill_swarm(stubborn.id), "killing twice is a no-op"
    assert not any(p.is_running() and p.status() != "zombie" for p in procs)
    assert not marked_processes(rt)
    assert [(a.state, a.end_reason) for a in rt.store.agents(stubborn.id)] == [
        ("killed", "swarm_killed")
    ] * 3
    assert swarm_state(rt, stubborn.id) == "killed"
    assert rt.store.death_counts() == {}


def test_a_restarted_runtime_adopts_live_agents_and_settles_dead_ones(
    tmp_path: Path, runtimes: list[Runtime]
) -> None:
    cfg = config(
        tmp_path,
        """
        monitor: {stuck_after: 1h, env: {FAKE_CLAUDE: 'mode=chatty,delay=0.2'}}
        tests: {env: {FAKE_CLAUDE: 'turns=3,delay=0.3,cost=0.2'}}
    """,
    )
    first = Runtime(cfg)
    live = first.start_swarm("monitor", Priority.MEDIUM, "job", "")
    ending = first.start_swarm("tests", Priority.HIGH, "job", "")
    run_until(first, lambda: all(a.state == "running" for a in first.live_agents()))
    pid = first.store.agents(live.id)[0].pid
    [finishing] = first.store.agents(ending.id)
    first.close()  # the process "dies"; its agents go on
    # The tests agent finishes while no runtime watches: its result is in its log
    # and its process is gone (a zombie of this test process until reaped).
    wait_for(lambda: '"type": "result"' in Path(finishing.log_path).read_text(), 20)
    wait_for(lambda: not _running(finishing.pid), 20)

    second = make(runtimes, cfg)
    adopted = second.live_agents()
    assert [a.pid for a in adopted] == [pid]
    second.poll()
    assert swarm_state(second, ending.id) == "succeeded"
    assert second.store.swarm_spend(ending.id) == 0.2, "the result line was read from the log"
    assert second.kill_swarm(live.id, wait=True)
    assert (pid is not None and not psutil.pid_exists(pid)) or psutil.Process(
        pid
    ).status() == "zombie"


def test_orphans_of_this_runtime_are_reaped_at_start(
    tmp_path: Path, runtimes: list[Runtime]
) -> None:
    cfg = config(tmp_path)
    rt = make(runtimes, cfg)
    rt.close()
    stray = marked_stray(rt.instance, "s-gone-0-0", start_new_session=True)
    other = marked_stray("another-warden", "s-gone-0-0", start_new_session=True)
    try:
        time.sleep(0.2)
        again = make(runtimes, cfg)
        stray.wait(timeout=10)  # reaped already by the runtime's kill, or here
        assert not psutil.pid_exists(stray.pid)
        assert other.poll() is None, "another Warden's agents are left alone"
        assert any(d["kind"] == "reap_orphans" for d in again.store.decisions())
    finally:
        other.kill()
        other.wait()


def situation(period: Period) -> Situation:
    """A set situation: its mode runs every priority, with `period`'s cap."""
    return Situation(period.mode, 1, period, None, None)


def test_budget_tiers_and_the_spawn_guard(tmp_path: Path, runtimes: list[Runtime]) -> None:
    cfg = config(
        tmp_path,
        """
        improvement: {stuck_after: 1h, env: {FAKE_CLAUDE: 'mode=hang'}}
        bugfix: {env: {FAKE_CLAUDE: 'cost=0.95'}}
        tests: {env: {FAKE_CLAUDE: 'cost=0.04'}}
    """,
        budget_usd="1.0",
    )
    period = Period("ACTIVE", "day:test", 2.0)
    rt = make(runtimes, cfg, situation=lambda: situation(period))
    # Spend 0.95 of 2.00, then 0.04: 49.5 %.
    for kind in ("bugfix", "tests"):
        swarm_id = rt.start_swarm(kind, Priority.HIGH, "job", "").id
        run_until(rt, ended(rt, swarm_id))
    assert rt.store.spend("day:test") == pytest.approx(0.99)
    low = rt.start_swarm("improvement", Priority.LOW, "job", "")
    # Running agents' caps count: 0.99 spent + 1.0 committed + 1.0 would pass 2.0.
    with pytest.raises(SpawnRefused, match="period's cap") as refused:
        rt.start_swarm("improvement", Priority.CRITICAL, "job", "")
    assert refused.value.reason == Refusal.BUDGET_CAP
    rt.poll()
    assert swarm_state(rt, low.id) == "running", "49.5 % kills nothing"
    # 95 %: the LOW swarm is killed (charged its cap: 1.99 of 2.00 = 99.5 %).
    period = Period("ACTIVE", "day:test", 1.04)
    rt.poll()
    rt.wait_kills()
    assert swarm_state(rt, low.id) == "killed"
    assert [a.end_reason for a in rt.store.agents(low.id)] == ["budget"]
    assert rt.store.spend("day:test") == pytest.approx(1.99)
    assert rt.snapshot.refusals == {("cli", "budget_cap"): 1, ("keep", "budget_tier"): 1}
    decisions = [d["kind"] for d in rt.store.decisions()]
    assert "refused" in decisions


def test_a_spent_period_stops_all_but_critical_work_until_the_next_day(
    tmp_path: Path, runtimes: list[Runtime]
) -> None:
    """B7. Was: once the day's cap was spent, HIGH work started again at 23:00 (the
    night's fresh cap) or as a crisis opened (the crisis's), where the seed sleeps
    until the next day; and the 95 % tier left HIGH swarms running."""
    cfg = config(
        tmp_path,
        """
        improvement: {stuck_after: 1h, env: {FAKE_CLAUDE: 'mode=hang'}}
        bugfix: {env: {FAKE_CLAUDE: 'cost=1.0'}}
    """,
        extra="budget: {caps: {ACTIVE: 1.0, NIGHT: 5.0, CRISIS: 5.0}, ceilings: {day: 20.0}}\n",
        budget_usd="1.0",
    )
    now = [time.time()]
    period = [Period("ACTIVE", "day:today", 2.0)]
    rt = make(runtimes, cfg, clock=lambda: now[0], situation=lambda: situation(period[0]))
    high = rt.start_swarm("improvement", Priority.HIGH, "job", "")
    spent = rt.start_swarm("bugfix", Priority.CRITICAL, "job", "").id
    run_until(rt, ended(rt, spent))  # 1.00 of 2.00 (50 %), with 1.00 committed
    assert swarm_state(rt, high.id) == "running"
    period[0] = Period("ACTIVE", "day:today", 1.04)  # 96 %: only CRITICAL runs
    rt.poll()
    rt.wait_kills()
    assert swarm_state(rt, high.id) == "killed", "95 % kills HIGH swarms too"
    assert rt.store.spend("day:today") == 1.0, "the day's cap (1.00) is spent"
    for key in ("NIGHT", "CRISIS"):  # the night's or a crisis's own fresh cap
        period[0] = Period(key, f"{key.lower()}:today", 5.0)
        with pytest.raises(SpawnRefused, match="until the next day") as refused:
            rt.start_swarm("bugfix", Priority.HIGH, "job", "")
        assert refused.value.reason == Refusal.BUDGET_TIER
        critical = rt.start_swarm("bugfix", Priority.CRITICAL, "job", "").id
        run_until(rt, ended(rt, critical))
    now[0] += 86400.0  # the next day
    period[0] = Period("ACTIVE", "day:tomorrow", 2.0)
    assert rt.start_swarm("bugfix", Priority.HIGH, "job", "")


def test_a_critical_start_takes_capacity_from_the_least_urgent(
    tmp_path: Path, runtimes: list[Runtime]
) -> None:
    """Issue 29, item 1. Was: at the mode's cap a CRITICAL fix was refused
    (mode_capacity) while LOW work ran. Now the least urgent, youngest swarm makes
    room for it; nothing else preempts."""
    cfg = config(
        tmp_path,
        "improvement: {stuck_after: 1h, env: {FAKE_CLAUDE: 'mode=hang'}}\n",
        extra="modes: {ACTIVE: {max_swarms: 2}}\n",
    )
    period = Period("ACTIVE", "day:test", 100.0)
    rt = make(runtimes, cfg, situation=lambda: Situation("ACTIVE", 1, period, None, None))
    low = rt.start_swarm("improvement", Priority.LOW, "job", "")
    medium = rt.start_swarm("improvement", Priority.MEDIUM, "job", "")
    with pytest.raises(SpawnRefused) as refused:
        rt.start_swarm("improvement", Priority.HIGH, "job", "")
    assert refused.value.reason == Refusal.MODE_CAPACITY, "only CRITICAL preempts"
    fix = rt.start_swarm("improvement", Priority.CRITICAL, "job", "")
    assert swarm_state(rt, low.id) == "killed"
    assert swarm_state(rt, medium.id) == "running" and swarm_state(rt, fix.id) == "running"
    rt.wait_kills()
    assert [a.end_reason for a in rt.store.agents(low.id)] == ["mode"]
    assert "preempted" in rt.store.swarm(low.id).reason  # type: ignore[union-attr]


def test_a_type_runs_at_most_its_max_running(tmp_path: Path, runtimes: list[Runtime]) -> None:
    """Was: no cap per swarm type (issue 29): only the mode's max_swarms counted."""
    cfg = config(
        tmp_path,
        """
        improvement: {max_running: 1, stuck_after: 1h, env: {FAKE_CLAUDE: 'mode=hang'}}
        bugfix: {max_running: 1, retries: 1, env: {FAKE_CLAUDE: 'mode=fail'}}
    """,
    )
    rt = make(runtimes, cfg)
    first = rt.start_swarm("improvement", Priority.LOW, "job", "")
    with pytest.raises(SpawnRefused, match="1 improvement swarm") as refused:
        rt.start_swarm("improvement", Priority.CRITICAL, "job", "")
    assert refused.value.reason == Refusal.TYPE_CAPACITY
    # Another type is not held back; its own retry is no second swarm of it.
    fails = rt.start_swarm("bugfix", Priority.HIGH, "job", "").id
    run_until(rt, ended(rt, fails))
    assert swarm_state(rt, fails) == "failed"
    assert len(rt.store.agents(fails)) == 2, "the retry started"
    rt.kill_swarm(first.id)
    rt.wait_kills()
    assert rt.start_swarm("improvement", Priority.LOW, "job", "")
    assert rt.snapshot.refusals == {("cli", "type_capacity"): 1}


def test_scheduled_periods_follow_the_local_clock(tmp_path: Path) -> None:
    import datetime as dt

    from responder.rules.budget import scheduled_period

    cfg = load_config(
        write_config(
            tmp_path / "w.yml",
            """
        schedule: {timezone: Europe/Berlin, night_start: "23:00", day_start: "07:00"}
    """,
        )
    )

    def at(text: str) -> Period:
        return scheduled_period(dt.datetime.fromisoformat(text), cfg.schedule, cfg.budget)

    assert at("2026-11-26T21:59:00+00:00") == Period("ACTIVE", "day:2026-11-26", 100.0)
    assert at("2026-11-26T22:00:00+00:00") == Period("NIGHT", "night:2026-11-26", 25.0)
    assert at("2026-11-27T05:59:00+00:00") == Period("NIGHT", "night:2026-11-26", 25.0)
    assert at("2026-11-27T06:00:00+00:00") == Period("ACTIVE", "day:2026-11-27", 100.0)


def test_event_periods_have_their_own_caps(tmp_path: Path) -> None:
    from responder.rules.budget import event_period

    cfg = load_config(write_config(tmp_path / "w.yml", "budget: {caps: {CRISIS: 150}}\n"))
    crisis = event_period("CRISIS", "c1", cfg.budget)
    assert (crisis.key, crisis.cap_usd, crisis.label) == ("crisis:c1", 150.0, "crisis")
    assert event_period("MAINTENANCE", "w", cfg.budget).cap_usd == 50.0
    with pytest.raises(ValueError, match="not ACTIVE"):
        event_period("ACTIVE", "x", cfg.budget)


def test_metrics_are_clean_and_documented(tmp_path: Path, runtimes: list[Runtime]) -> None:
    cfg = config(tmp_path, "bugfix: {env: {FAKE_CLAUDE: 'mode=fail'}, retries: 0}")
    rt = make(runtimes, cfg)
    s = rt.start_swarm("bugfix", Priority.CRITICAL, "job", "")
    run_until(rt, ended(rt, s.id))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeMetrics(rt))
    text = generate_latest(registry).decode()
    check = subprocess.run(
        [promtool(), "check", "metrics"], input=text, text=True, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    served = served_metrics(text)
    documented = documented_metrics("Responder")
    missing = {k: v for k, v in served.items() if documented.get(k) != v}
    assert not missing, f"served but not documented as such: {missing}"
    assert (
        registry.get_sample_value(
            "warden_swarms_finished_total", {"type": "bugfix", "size": "1", "result": "failed"}
        )
        == 1
    )
    # Its error result made it a failed run (T3), not a death of any reason.
    for kind in ("bugfix", "tests"):
        for reason in ("crashed", "killed"):
            labels = {"type": kind, "reason": reason}
            assert registry.get_sample_value("warden_swarm_agent_deaths_total", labels) == 0
    assert 'reason="error"' not in text


def test_sigkill_of_the_runtime_mid_writes_loses_nothing(
    tmp_path: Path, runtimes: list[Runtime]
) -> None:
    cfg = config(tmp_path, "tests: {size: 3, env: {FAKE_CLAUDE: 'turns=1,delay=0.01,cost=0.01'}}")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from responder.model import Priority
        from responder.act.runtime import Runtime
        from warden.config import load_config
        rt = Runtime(load_config({str(tmp_path / "warden.yml")!r}))
        while True:
            rt.start_swarm("tests", Priority.HIGH, "job", "x" * 10000)
            for _ in range(5):
                rt.poll()
    """)
    worker = subprocess.Popen([sys.executable, "-c", script])
    db_file = tmp_path / "state" / "warden.db"
    # Killed mid-stream: after many swarms were written, while it writes more.
    wait_for(lambda: _swarms_written(db_file) >= 10, 60)
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    db = sqlite3.connect(tmp_path / "state" / "warden.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    swarms = db.execute("SELECT COUNT(*) FROM swarms").fetchone()[0]
    assert swarms > 3
    # Every swarm was written with all its agents, or not at all.
    per_swarm = db.execute(
        "SELECT s.id, COUNT(DISTINCT a.slot) FROM swarms s LEFT JOIN agents a"
        " ON a.swarm_id = s.id GROUP BY s.id"
    ).fetchall()
    assert all(n == 3 for _, n in per_swarm)
    # Every ended run that started is paid for exactly once.
    unpaid = db.execute(
        "SELECT COUNT(*) FROM agents a LEFT JOIN ledger l ON l.agent_id = a.id"
        " WHERE a.state IN ('succeeded', 'failed', 'killed') AND a.pid IS NOT NULL"
        " AND l.agent_id IS NULL"
    ).fetchone()[0]
    assert unpaid == 0
    db.close()

    # A new runtime takes over what was live, settles it, and leaves nothing behind.
    rt = make(runtimes, cfg)
    run_until(rt, lambda: not rt.store.swarms("running"), timeout=30)
    assert {s.state for s in rt.store.swarms()} == {"succeeded"}
    assert not marked_processes(rt)
