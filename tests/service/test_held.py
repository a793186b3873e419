"""What an owner holds in memory stays what the store says: its own writes go through
to both, and another writer's (a command in a terminal, a responder of another
host) are seen at its next look, and only then read again."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest

from responder.state.held import ANSWERS, Held
from responder.state.store import Pause, Store
from tests.conftest import Database, statements_run
from tests.service.test_store import swarm


@pytest.fixture
def two(database: Database) -> Iterator[tuple[Store, Store]]:
    """The owner's store and another process's, on one database."""
    mine, theirs = database.store(), database.store()
    yield mine, theirs
    mine.close()
    theirs.close()


def test_a_write_moves_its_kinds_serial_in_its_own_transaction(
    two: tuple[Store, Store],
) -> None:
    mine, theirs = two
    assert theirs.serials() == {}
    mine.pause("review", "authentication", "Not logged in", 1.0)
    assert mine.bumped() == {"pauses": 1} and theirs.serials() == {"pauses": 1}
    mine.log_decision("noted", {}, 2.0)  # no held table written: no serial moves
    assert mine.bumped() == {} and theirs.serials() == {"pauses": 1}
    with pytest.raises(RuntimeError), mine.spawn_guard():
        mine.resume("review")
        raise RuntimeError("undone")
    assert theirs.serials() == {"pauses": 1} and [p.type for p in theirs.pauses()] == ["review"]


def test_the_owner_reads_again_only_what_another_writer_changed(
    two: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, theirs = two
    held = Held(mine)
    reads: list[str] = []
    pauses = Store.pauses

    def counted(store: Store) -> list[Pause]:
        reads.append("pauses")
        return pauses(store)

    monkeypatch.setattr(Store, "pauses", counted)
    assert held.pause("review", "authentication", "Not logged in", 1.0)
    assert held.tell_once_about_pause("review", 1.0, 2.0)
    assert [(p.type, p.told_at) for p in held.pauses()] == [("review", 2.0)]
    held.look()
    assert reads == [], "its own writes are in memory already"

    assert theirs.resume("review") is not None  # `warden swarm resume` in a terminal
    assert [p.type for p in held.pauses()] == ["review"], "seen at the next look"
    held.look()
    assert held.pauses() == [] and reads == ["pauses"]

    theirs.pause("tests", "billing", "Credit balance is too low", 3.0)
    held.pause("bugfix", "authentication", "Not logged in", 4.0)  # after theirs, unseen
    assert [p.type for p in held.pauses()] == ["tests", "bugfix"]
    assert reads == ["pauses", "pauses"], "a gap in the serial: read again, with theirs"
    held.look()
    assert len(reads) == 2
    assert held.pauses() == mine.pauses()


def test_a_write_inside_a_longer_transaction_is_read_again_once_committed(
    two: tuple[Store, Store],
) -> None:
    mine, _ = two
    held = Held(mine)
    with mine.spawn_guard():
        held.pause("review", "authentication", "Not logged in", 1.0)
    held.look()
    assert [p.type for p in held.pauses()] == ["review"]


def test_firing_episodes_follow_this_process_at_once_and_others_at_the_look(
    two: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Episodes are written by many parts of the owner (the inbox, the claims, the
    expiry) and by the webhook's threads: a write of this process shows at the next
    read, another's at the next look, each read once from the database."""
    mine, theirs = two
    held = Held(mine)
    build = {"alertname": "BuildFailing", "severity": "critical", "component": "build"}
    disk = {"alertname": "DiskSpaceLow", "severity": "warning", "component": "host"}
    reads: list[int] = []
    firing = Store.firing

    def counted(store: Store) -> list[tuple[str, str, str]]:
        reads.append(1)
        return firing(store)

    monkeypatch.setattr(Store, "firing", counted)
    assert held.firing() == [] and len(reads) == 1
    assert held.firing() == [] and len(reads) == 1, "nothing written: from memory"
    mine.open_episode("fp1", "t0", build, 1.0)
    assert held.firing() == [("BuildFailing", "critical", "build")]
    held.look()
    assert held.firing() and len(reads) == 2, "our own write: read once, not at the look"
    theirs.open_episode("fp2", "t0", disk, 2.0)  # another host's responder
    assert len(held.firing()) == 1, "seen at the next look"
    held.look()
    assert len(reads) == 2
    assert sorted(held.firing()) == [
        ("BuildFailing", "critical", "build"),
        ("DiskSpaceLow", "warning", "host"),
    ]
    assert len(reads) == 3
    theirs.close_episode("fp1", "t0", 3.0)
    held.look()
    assert held.firing() == [("DiskSpaceLow", "warning", "host")]


def test_maintenance_windows_are_held_as_the_store_answers(two: tuple[Store, Store]) -> None:
    """`warden maintenance start` in a terminal writes the store: seen at the look; a
    window the owner starts (the API, on the owner) at once."""
    mine, theirs = two
    held = Held(mine)
    assert held.maintenance_at(150.0) is None
    window = theirs.start_maintenance(100.0, 200.0)
    assert held.maintenance_at(150.0) is None, "seen at the next look"
    held.look()
    assert held.maintenance_at(150.0) == (window, 200.0) == mine.maintenance_at(150.0)
    assert held.maintenance_at(99.0) is None and held.maintenance_at(200.0) is None
    mine.stop_maintenance(160.0)
    assert held.maintenance_at(150.0) == (window, 160.0)
    assert held.maintenance_at(170.0) is None
    later = mine.start_maintenance(300.0, 400.0)
    assert held.maintenance_at(350.0) == (later, 400.0) == mine.maintenance_at(350.0)


def test_a_held_read_is_read_again_only_when_a_table_it_read_changed(
    two: tuple[Store, Store], exits: contextlib.ExitStack
) -> None:
    """What the owner reads is answered from memory until this process (any of its
    threads) writes a table it read; another process's write is seen by the
    admission check under `spawn_guard` at once, and by the owner at its next look."""
    mine, theirs = two
    held = Held(mine)
    run = exits.enter_context(statements_run(mine))

    def selects() -> int:
        return sum(1 for sql in run if sql.lstrip().upper().startswith("SELECT"))

    assert not held.running_by_type()
    mine.log_decision("spawn", {}, 1.0)  # a table running_by_type does not read
    asked = selects()
    assert not held.running_by_type()
    assert selects() == asked  # answered from memory
    theirs.add_swarm(swarm("s1"), [])
    assert not held.running_by_type()  # another process: seen at the next look...
    with mine.spawn_guard():
        assert held.running_by_type() == {"bugfix": 1}  # ...but admission reads the database
    mine.add_swarm(swarm("s2"), [])
    assert held.running_by_type() == {"bugfix": 2}  # this process wrote the table
    ending = threading.Thread(target=mine.end_swarm, args=("s2", "succeeded", "done", 2.0))
    ending.start()
    ending.join()
    assert held.running_by_type() == {"bugfix": 1}  # another thread of this process wrote it
    theirs.end_swarm("s1", "succeeded", "done", 3.0)
    assert held.running_by_type() == {"bugfix": 1}  # until the next look
    held.look()
    assert not held.running_by_type()
    asked = selects()
    held.read(mine.decisions, 5)
    held.read(mine.decisions, 5)
    assert selects() == asked + 2, "the log of decisions is not held: read each time"
    rows = held.read(mine.swarms)
    rows.clear()
    assert len(held.read(mine.swarms)) == 2, "each reader has its own copy"


def test_what_nobody_asks_for_again_is_let_go(
    two: tuple[Store, Store], exits: contextlib.ExitStack
) -> None:
    """Reads with a moving argument (a time gone by, the inbox after an id) are each
    asked once: past ANSWERS held, the one asked longest ago goes, not kept for
    the life of the responder; one asked at every step stays."""
    mine, _ = two
    held = Held(mine)
    selects = exits.enter_context(statements_run(mine))
    for i in range(3 * ANSWERS):
        held.read(mine.swarms, since=float(i))
        held.read(mine.swarms, "running")
    assert len(held._answers) == ANSWERS
    assert len(selects) == 3 * ANSWERS + 1, "the one asked at every step was read once"


@pytest.fixture
def exits() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as stack:
        yield stack
