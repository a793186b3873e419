"""Keep a Warden service running: restart it when it dies, kill and restart it when it hangs.

R1: a crash is seen at once (the child exits); a hang (a deadlock, SIGSTOP)
is seen when `/healthz` stops answering or reports a heartbeat older than
`hang_after`, or gives no healthy answer within `start_within` of a start
(loading can take longer than a short `hang_after`). The whole process group
is SIGKILLed (which works on a stopped process too), then started again. The
service continues from its persisted state. The responder's agents lead
sessions of their own and are left running (`adopts_children`): its next run
adopts them, so a restart costs no agent its work. Restarts back off from 1 s
to 30 s while they keep failing.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from warden.auth import Credentials, fetch
from warden.proc import kill_group
from warden.wakeup import Wakeup

log = logging.getLogger(__name__)
# R1 asks a hang to be seen within 2 minutes: a minute without a healthy
# answer (or with a stale heartbeat), plus one round of checks, is well inside.
HANG_AFTER_SECONDS = 60.0
# A child is starting until its first healthy answer: loading the config and
# the database can take seconds on a busy host, longer than a short hang_after.
# A start that never answers is a hang after this long (or hang_after, if longer).
START_WITHIN_SECONDS = 60.0


class Supervisor:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        health_url: str,
        hang_after: float,
        check_interval: float = 5.0,
        adopts_children: bool = False,
        log_path: Path | None = None,
        credentials: Credentials | None = None,
        start_within: float = START_WITHIN_SECONDS,
    ) -> None:
        self.name = name
        self.log_path = log_path
        """Where the child's output goes (appended); None: this process's own."""
        self.argv = list(argv)
        self.health_url = health_url
        self.credentials = credentials
        """Shown to a health page behind basic auth (Prometheus', Alertmanager's)."""
        self.hang_after = hang_after
        self.start_within = max(start_within, hang_after)
        self.check_interval = check_interval
        self.adopts_children = adopts_children
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stopping = False

    def start(self) -> None:
        if self.log_path is None:
            self.proc = subprocess.Popen(self.argv, start_new_session=True)
        else:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as out:
                self.proc = subprocess.Popen(
                    self.argv,
                    start_new_session=True,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
        self._started = time.monotonic()
        self._last_ok: float | None = None
        """When it last answered healthy; None while it is starting."""
        log.info("%s started (pid %d)", self.name, self.proc.pid)

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def healthy(self) -> bool:
        """/healthz answers and its heartbeat (if it reports one) is recent."""
        try:
            text = fetch(self.health_url, self.credentials, timeout=min(5.0, self.hang_after))
        except OSError:
            return False
        try:
            body = json.loads(text)
        except ValueError:
            return True  # a plain-text health page (Prometheus, Alertmanager): it answered
        if not isinstance(body, dict) or "heartbeat" not in body:
            return True  # no heartbeat to judge (the exporter): it answered
        # A heartbeat of 0 is a worker that never finished its first cycle: not
        # health, or a responder blocked at start would be restarted only once.
        try:
            beat = float(body["heartbeat"])
        except (TypeError, ValueError):
            return False
        return beat > 0 and time.time() - beat <= self.hang_after

    def check(self) -> str | None:
        """One look at the child; restarts it if needed and says why."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            why = f"exited with {self.proc.returncode}"
        elif self.healthy():
            if self._last_ok is None:
                took = time.monotonic() - self._started
                log.info(
                    "%s is up (pid %d), %.1f s after its start", self.name, self.proc.pid, took
                )
            self._last_ok = time.monotonic()
            return None
        elif self._last_ok is None:
            if time.monotonic() - self._started <= self.start_within:
                return None
            why = f"hung: no healthy answer within {self.start_within:g} s of its start"
        elif time.monotonic() - self._last_ok > self.hang_after:
            why = f"hung: no healthy answer for {self.hang_after:g} s"
        else:
            return None
        self.restart(why)
        return why

    def restart(self, why: str) -> None:
        assert self.proc is not None
        log.warning("%s %s: restarting", self.name, why)
        kill_group(self.proc.pid, grace=0.0, descendants=not self.adopts_children)
        self.proc.wait()
        self.restarts += 1
        failing_fast = time.monotonic() - self._started < 30
        time.sleep(min(30.0, 2.0 ** min(self.restarts, 5)) if failing_fast else 1.0)
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            kill_group(self.proc.pid, grace=10.0, descendants=not self.adopts_children)
            self.proc.wait()

    def run_forever(self) -> int:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            self._stopping = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        try:
            with Wakeup() as wakeup:
                while not self._stopping:
                    wakeup.wait(self.check_interval)
                    if not self._stopping:
                        self.check()
        finally:
            self.stop()
        return 0
