"""The README's "Run it" walkthrough, on the screen a person sees (issue 13).

`warden up` runs on a pseudo-terminal; pyte plays its output back as a
terminal would. At each moment the README describes, the screen says what
the README says: the parts up and the mode; after the build breaks, CRISIS,
BuildFailing and a CRITICAL bugfix swarm; after the mend, the crisis over;
on Ctrl-C, what is stopped and the grace counted down. No log line ever
reaches the screen: the parts' logs are files.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, git, run_cli
from tests.screen import Terminal
from tests.stack.test_up import StackClock, stack_config
from warden.shell.view import Part, Scene, render

LOG_LINE = re.compile(r"\b(INFO|WARNING|DEBUG|Traceback)\b|level=(info|warn)")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_run_it_walkthrough_on_screen(tmp_path: Path, demo_repo: Path) -> None:
    # The bugfix agent hangs and ignores SIGTERM: shutdown must count its grace down.
    cfg, ports = stack_config(tmp_path, demo_repo, bugfix="mode=hang,ignore_term=1")
    clock = StackClock.at_noon(tmp_path)  # the README's daytime, whatever the hour
    term = Terminal(
        [sys.executable, "-m", "warden.shell.cli", "up", "-c", str(cfg)], REPO, env=clock.env
    )
    screens = []
    try:
        # "It prints where each part listens and keeps a live view of the mode,
        # the escalation level, what fires, the swarms and the budget."
        screen = term.wait_for(lambda s: "mode ACTIVE" in s and "firing nothing" in s, 90)
        screens.append(screen)
        for part in ("exporter", "responder", "prometheus", "alertmanager"):
            assert re.search(rf"{part} up 127\.0\.0\.1:{ports[part]}", screen), part
        assert "level 1 HEALTHY" in screen and "swarms: 0 running" in screen
        assert re.search(r"budget day:\S+ +━+ \$0\.00 of \$100\.00", screen)

        # "echo 'def broken(:' >> examples/demo/src/calc.py: within seconds the
        # view shows mode CRISIS, firing: BuildFailing and a CRITICAL bugfix swarm."
        with (demo_repo / "src" / "calc.py").open("a") as fh:
            fh.write("def broken(:\n")
        screen = term.wait_for(
            lambda s: (
                re.search(r"│ mode CRISIS +level 3 CRISIS", s) is not None
                and re.search(r"firing .*BuildFailing", s) is not None
                and re.search(r"\bbugfix +CRITICAL +1 +running\b.*BuildFailing", s) is not None
            ),
            60,
        )
        screens.append(screen)
        assert "level 3 CRISIS" in screen

        # "Mend it and the crisis ends."
        git(demo_repo, "checkout", "src/calc.py")
        # The header's mode (the decisions below may still say "mode CRISIS -> ACTIVE").
        screens.append(
            term.wait_for(lambda s: re.search(r"│ mode ACTIVE +level", s) is not None, 90)
        )
        status = run_cli("status", "-c", str(cfg), env=clock.env)
        assert status.returncode == 0 and "mode ACTIVE" in status.stdout

        # Ctrl-C stops all of it, saying what it stops; the bugfix agent ignores
        # SIGTERM, so its grace is counted down on screen.
        term.ctrl_c()
        countdown = r"stopping 1 swarm\(s\): \w+ bugfix CRITICAL: SIGTERM sent, forced in \d+ s"
        screens.append(term.wait_for(lambda s: re.search(countdown, s) is not None, 30))
        assert "Stopping Warden" in screens[-1] and "stopped responder" in screens[-1]
        screens.append(term.wait_for(lambda s: "Warden is down." in s, 60))
        assert term.proc.wait(30) == 0
        final = screens[-1]
        assert re.search(r"stopped 1 swarm\(s\): \w+ bugfix CRITICAL \((9|10|11)\.\d s\)", final)
        assert "stopped exporter, prometheus, alertmanager" in final
    finally:
        term.close()
    for screen in screens:
        assert not LOG_LINE.search(screen), screen
    assert "warden up: state in" in (tmp_path / "state" / "logs" / "up.log").read_text()


def test_the_view_draws_every_part_of_the_status() -> None:
    """Decisions are sentences, ended swarms stay listed with how they ended, the
    trigger is the alert's name, paused types and the log pane show."""
    status = {
        "mode": "CRISIS",
        "escalation": 3,
        "pipeline_silent": False,
        "kill_method": "cgroup",
        "swarms": [
            {
                "id": "s1",
                "type": "bugfix",
                "priority": "CRITICAL",
                "size": 1,
                "trigger": "alert:BuildFailing:abc:2026-11-27T10:00:00Z:0",
                "created_at": 1.0,
            }
        ],
        "paused": [{"type": "review", "cls": "authentication", "error": "Not logged in"}],
        "decisions": [
            {"kind": "verifying", "swarm": "s2", "type": "bugfix", "at": 3},
            {"kind": "swarm_end", "swarm": "s0", "state": "succeeded", "reason": "done", "at": 2},
            {
                "kind": "verified",
                "swarm": "s0",
                "outcome": "verified",
                "failed": [],
                "landed": "0123456789abcdef",
                "at": 2,
            },
            {"kind": "verifying", "swarm": "s0", "type": "tests", "at": 2},
            {
                "kind": "spawn",
                "swarm": "s2",
                "type": "bugfix",
                "priority": "CRITICAL",
                "size": 1,
                "trigger": "alert:BuildFailing:abc:x:1",
                "at": 1,
            },
            {
                "kind": "spawn",
                "swarm": "s0",
                "type": "tests",
                "priority": "CRITICAL",
                "size": 1,
                "trigger": "alert:TestsFailing:def:x:0",
                "at": 1,
            },
            {"kind": "J1", "decision": "a critical alert fires", "snapshot": {"big": 1}, "at": 1},
        ],
        "budget": {
            "period": "crisis:1",
            "spend_usd": 180.0,
            "cap_usd": 200.0,
            "tier": "notify",
            "ceilings": {"day": {"spend_usd": 10.0, "cap_usd": 200.0}},
            "by_basis": {"reported": 172.0, "cap": 8.0},
        },
    }
    firing = [{"labels": {"alertname": "BuildFailing", "severity": "critical"}}]
    from rich.console import Console

    console = Console(width=140, record=True)
    scene = Scene([Part("exporter", True, 2, "127.0.0.1:1")], status, firing, ["exporter: x"])
    console.print(render(scene))
    text = console.export_text()
    assert "exporter up (restarts 2)" in text and "firing BuildFailing" in text
    assert re.search(r"s1 +bugfix +CRITICAL +1 +running .* BuildFailing", text)
    assert re.search(r"s0 +tests +CRITICAL +1 +succeeded verified .* TestsFailing", text)
    assert re.search(r"s2 +bugfix +CRITICAL +1 +verifying .* BuildFailing", text)
    assert "swarm s2 (bugfix) done: its work is checked" in text
    assert "PAUSED" in text and "warden swarm resume review" in text
    # Was: $8.11 of a crisis's budget after four killed agents, nothing saying why.
    assert "of it: the caps of runs that reported nothing $8.00, reported by the runs" in text
    assert "$180.00 of $200.00 (90%)" in text and "budget tier notify reached" in text
    assert "swarm s0 succeeded: done" in text and "snapshot" not in text
    assert "logs" in text and "exporter: x" in text
