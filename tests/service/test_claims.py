"""Many responders, one action: episodes claimed with a lease on a shared PostgreSQL.

Each responder here is a whole `Service` (handler, runtime, jobs) on its own
state folder, as on its own host, with its own exporter `instance`; the
webhook bodies are stored in each one's inbox as its HTTP handler would, and
the workers step in threads of their own, racing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from responder.intake.webhook import parse_body
from responder.service.worker import Service
from tests.alerting import TOKEN
from tests.conftest import Database, fake_swarm_keys, wait_for, write_config
from tests.pgserver import PostgresServer
from tests.service.test_modes import Clock
from tests.service.test_responder import alert, body
from warden.config import load_config

HANG = "{stuck_after: 1h, env: {FAKE_CLAUDE: 'mode=hang'}}"
BUILD = alert("BuildFailing", fp="b1", severity="critical", instance="h0:9464")
DISK = alert("DiskSpaceLow", fp="d2", severity="critical", instance="h2:9464")
MEMORY = alert("MemoryHigh", fp="a1", severity="warning", instance="h1:9464")


@pytest.fixture
def shared(postgres: PostgresServer) -> Database:
    return Database(postgres.database(), postgres.password, postgres.password_file)


class Fleet:
    def __init__(self, tmp_path: Path, database: Database, n: int) -> None:
        self.clock = Clock("2026-11-26T12:00:00+00:00")
        (tmp_path / "token").write_text(TOKEN + "\n")
        self.services = [self._service(tmp_path, database, i) for i in range(n)]
        self.dead: set[int] = set()

    def _service(self, tmp_path: Path, database: Database, i: int) -> Service:
        cfg = write_config(
            tmp_path / f"r{i}.yml",
            f"""\
state_dir: {tmp_path / f"r{i}"}
responder:
  id: r{i}
  instance: h{i}:9464
  claim_lease: 30s
  token_file: {tmp_path / "token"}
  prometheus_url: http://127.0.0.1:1
  alertmanager_url: http://127.0.0.1:1
{database.config_keys()}  policies:
    DiskSpaceLow: {{spawn: [{{type: cleanup, priority: CRITICAL}}], max_running: 1}}
swarms:
{fake_swarm_keys()}  types:
    bugfix: {HANG}
    cleanup: {HANG}
""",
        )
        return Service(load_config(cfg), clock=self.clock)

    def deliver(self, raw: bytes, to: list[int] | None = None) -> None:
        """Alertmanager's webhook reaching each responder (all by default)."""
        for i, svc in enumerate(self.services):
            if to is None or i in to:
                svc.runtime.store.add_inbox(raw, self.clock(), svc.config.responder.id)

    def stored(self, waiting: bool = False) -> int:
        """Bodies in the fleet's inbox (`waiting`: those not yet worked off)."""
        sql = "SELECT COUNT(*) FROM inbox WHERE done = 0 OR NOT :waiting"
        with self.services[0].runtime.store.engine.connect() as db:
            return int(db.execute(text(sql), {"waiting": waiting}).scalar_one())

    def waiting(self) -> int:
        return self.stored(waiting=True)

    def step_together(self, which: list[int] | None = None) -> None:
        chosen = [s for i, s in enumerate(self.services) if which is None or i in which]
        barrier = threading.Barrier(len(chosen))
        errors: list[BaseException] = []

        def step(svc: Service) -> None:
            barrier.wait()
            try:
                svc.step()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=step, args=(s,)) for s in chosen]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors, errors

    def acted(self, via: int = 0) -> dict[str, list[str]]:
        """Per alert, the outcomes of acting on it in the (shared) decision log."""
        out: dict[str, list[str]] = {}
        for d in self.services[via].runtime.store.decisions(500):
            if d["kind"] == "alert":
                out.setdefault(str(d["alert"]), []).append(str(d["outcome"]))
        return out

    def swarms(self, via: int = 0) -> list[tuple[str, str]]:
        """(type, owner's host) of every swarm."""
        rows = self.services[via].runtime.store.swarms()
        return sorted((s.type, s.owner.partition("/")[0]) for s in rows)

    def kill(self, i: int) -> None:
        """What SIGKILL leaves: nothing more written, the agents left running."""
        self.services[i].runtime.drop()
        self.dead.add(i)

    def close(self) -> None:
        for i, svc in enumerate(self.services):
            rt = svc.runtime
            if i in self.dead:
                continue
            for s in rt.store.swarms("running", owner=rt.owner):
                rt.kill_swarm(s.id, "test end", wait=True)
            rt.close()


@pytest.fixture
def fleet(tmp_path: Path, shared: Database) -> Iterator[Fleet]:
    made = Fleet(tmp_path, shared, 3)
    yield made
    made.close()


def test_every_responder_gets_every_alert_and_one_acts(fleet: Fleet) -> None:
    """Three responders receive the same bodies (and a Prometheus pair's repeat)
    and step at once: the fleet stores each body once and one worker works it (5
    alerts handled, not 15); each episode is acted on once; host-bound ones by the
    responder of the alert's instance, within a look for dropped claims of the
    worker that recorded them, and its swarm runs on that host."""
    fleet.deliver(body(BUILD, DISK, MEMORY))
    fleet.deliver(body(BUILD, DISK))
    assert fleet.stored() == 2, "one copy of each body, whoever received it"
    fleet.step_together()
    fleet.clock.now += 1  # TAKEOVER_EVERY: the hosts look for their work
    fleet.step_together()
    acted = fleet.acted()
    assert sorted(acted) == ["BuildFailing", "DiskSpaceLow", "MemoryHigh"], acted
    assert all(len(v) == 1 for v in acted.values()), acted
    swarms = fleet.swarms()
    assert [t for t, _ in swarms] == ["bugfix", "cleanup"], swarms
    assert ("cleanup", "r2") in swarms, "disk work runs on the disk's host"
    claims = {
        fp: state.claimed_by
        for fp in ("b1", "d2", "a1")
        if (state := fleet.services[0].runtime.store.claim_state(fp, BUILD["startsAt"]))
    }
    assert claims["d2"] == "r2" and claims["a1"] == "r1", claims
    received = sum(sum(s.counts.received.values()) for s in fleet.services)
    assert received == 5, "each alert of the two bodies worked by one responder"


def test_a_dead_workers_body_is_worked_by_another_after_its_lease(fleet: Fleet) -> None:
    """r0's worker claims the fleet's one body and dies before working it (SIGKILL:
    nothing written after the claim): the others leave it while the lease holds,
    then one of them works it, once."""
    fleet.deliver(body(BUILD))
    now = fleet.clock()
    assert len(fleet.services[0].runtime.store.claim_inbox("r0", now, now + 30, 4)) == 1
    fleet.kill(0)
    fleet.step_together([1, 2])
    assert fleet.acted(1) == {} and fleet.waiting() == 1, "r0's lease holds"
    fleet.clock.now += 31
    fleet.step_together([1, 2])
    acted = fleet.acted(1)
    assert len(acted["BuildFailing"]) == 1, acted
    assert fleet.waiting() == 0


def test_a_long_body_keeps_its_worker(fleet: Fleet) -> None:
    """A body of 500 alerts takes r0 several steps (200 alerts a step at most): r0
    moves its lease while it holds the body, so the others do not take it over
    meanwhile, however long past the first lease it works."""
    r0, r1, _ = fleet.services
    fleet.deliver(body(*(alert("Unknown", fp=f"{i:x}") for i in range(500))))
    r0.step()
    assert fleet.waiting() == 1, "cut short"
    rounds = 0
    while fleet.waiting() and rounds < 10:
        fleet.clock.now += 20  # past a third of the 30 s lease each time: moved
        r1.step()  # nothing to take: r0's lease holds
        r0.step()
        rounds += 1
    assert fleet.waiting() == 0 and rounds >= 2, rounds
    received = [sum(s.counts.received.values()) for s in fleet.services]
    assert received == [500, 0, 0], received


def test_a_resolution_worked_before_its_firing_leaves_nothing_to_do(fleet: Fleet) -> None:
    """Workers of a fleet work bodies side by side: r1 works the body that resolves
    BuildFailing before r0 works the older one where it fires. The episode is over
    when r0 comes to it: nobody acts, and nothing is left open to expire."""
    r0, r1, _ = fleet.services
    fleet.deliver(body(BUILD))
    fleet.deliver(body({**BUILD, "status": "resolved"}))
    now = fleet.clock()
    assert len(r0.runtime.store.claim_inbox("r0", now, now + 30, 1)) == 1  # the older
    r1.step()  # the older is r0's: r1 claims and works the resolution
    assert fleet.waiting() == 1
    r0.step()
    assert fleet.waiting() == 0
    assert fleet.acted() == {} and fleet.swarms() == []
    assert r0.runtime.store.open_episodes() == []


def test_a_dead_claimers_work_is_taken_over_after_its_lease(fleet: Fleet) -> None:
    """r0 claims BuildFailing and dies before acting (SIGKILL: nothing written after
    the claim). The others skip it while the lease holds, then one takes it over,
    once, and says so."""
    r0, r1, r2 = fleet.services
    (build,) = parse_body(body(BUILD))
    r0.claims.record(build, "")
    assert r0.claims.take(*build.episode)
    fleet.kill(0)
    fleet.deliver(body(BUILD), to=[1, 2])
    fleet.step_together([1, 2])
    assert fleet.acted(1) == {} and fleet.swarms(1) == []
    fleet.clock.now += 31
    fleet.step_together([1, 2])
    acted = fleet.acted(1)
    assert len(acted["BuildFailing"]) == 1, acted
    assert acted["BuildFailing"][0].startswith("taken over from r0; started bugfix")
    assert r1.claims.taken_over + r2.claims.taken_over == 1


def test_a_resend_claimed_over_a_dead_claimers_lease_says_whose_it_was(fleet: Fleet) -> None:
    """r0 claims BuildFailing and dies; after its lease, a re-send of the alert reaches
    r1, whose worker claims the episode over the lapsed lease on its way through the
    alert path (before any look for dropped claims): the decision log says whose work
    it took over, as a takeover by the look does (the fleet test counts on it)."""
    r0, r1, _ = fleet.services
    (build,) = parse_body(body(BUILD))
    r0.claims.record(build, "")
    assert r0.claims.take(*build.episode)
    fleet.kill(0)
    fleet.clock.now += 31
    fleet.deliver(body(BUILD), to=[1])
    r1.step()
    [outcome] = fleet.acted(1)["BuildFailing"]
    assert outcome.startswith("taken over from r0; started bugfix"), outcome
    assert r1.claims.taken_over == 1


def test_host_bound_work_waits_for_its_host(fleet: Fleet) -> None:
    """A DiskSpaceLow of host 2 reaches only r0 and r1 (r2 is down): neither acts
    on it, however long it waits; r2, back, takes it over from nobody."""
    fleet.deliver(body(DISK), to=[0, 1])
    fleet.step_together([0, 1])
    fleet.clock.now += 120
    fleet.step_together([0, 1])
    assert fleet.acted() == {}
    fleet.services[2].step()
    acted = fleet.acted()
    [outcome] = acted["DiskSpaceLow"]
    assert outcome.startswith(f"taken over from nobody; started cleanup {_only(fleet)} (size 1;")
    assert fleet.swarms() == [("cleanup", "r2")]


def test_a_swarm_killed_from_another_host_is_ended_by_its_own(fleet: Fleet) -> None:
    """`warden swarm kill` on host 0 of a swarm running on host 2 marks it killed
    (a pid means nothing on host 0); host 2's responder, at its next step,
    kills the agents it runs."""
    fleet.deliver(body(DISK), to=[2])
    fleet.services[2].step()
    swarm_id = _only(fleet)
    r0, r2 = fleet.services[0].runtime, fleet.services[2].runtime
    (agent,) = r2.store.agents(swarm_id)

    def running() -> bool:
        r2.poll()
        row = r2.store.agent(agent.id)
        return row is not None and row.state == "running"

    wait_for(running)
    assert r0.kill_swarm(swarm_id, "killed on request")
    assert r2.launcher.alive(agent.pid, agent.start_time), "host 0 does not touch host 2's pids"

    def step() -> bool:
        """Host 2's owner: it looks for what others wrote, then polls its agents."""
        r2.held.look()
        r2.poll()
        return not r2.killing() and not r2.snapshot.live

    wait_for(step)
    ended = r2.store.agent(agent.id)
    assert ended is not None and ended.state == "killed", ended
    assert not r2.launcher.alive(agent.pid, agent.start_time)


def _only(fleet: Fleet) -> str:
    (swarm,) = fleet.services[0].runtime.store.swarms()
    return swarm.id


def test_one_responder_runs_the_fleets_scheduled_jobs(fleet: Fleet) -> None:
    """J8 scheduled on all three starts one improvement swarm: only the holder of
    the jobs' lease runs it; when the holder dies, another takes the lease over."""
    fleet.step_together()
    leaders = [i for i, s in enumerate(fleet.services) if s.claims.leading]
    assert len(leaders) == 1, leaders
    ran = [s.jobs.scheduled("J8") for s in fleet.services]
    assert ran == [i in leaders for i in range(3)]
    assert [t for t, _ in fleet.swarms()] == ["improvement"]
    fleet.kill(leaders[0])
    alive = [i for i in range(3) if i not in leaders]
    fleet.clock.now += 31
    fleet.step_together(alive)
    now_leading = [i for i in alive if fleet.services[i].claims.leading]
    assert len(now_leading) == 1, now_leading
    for i in alive:
        fleet.services[i].jobs.scheduled("J8")
    assert [t for t, _ in fleet.swarms(alive[0])] == ["improvement", "improvement"]
