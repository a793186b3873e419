"""Shared fixtures: real git repos, real exporter processes, free loopback ports."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from responder.state.store import Store
from warden.auth import SCRAPE, Credentials, Secrets, fetch
from warden.config import load_config

if TYPE_CHECKING:
    from tests.pgserver import PostgresServer

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
AGENT_USER = "nobody"
"""Whom agents run as when the tests run as root (A3: agents never run as root)."""
AGENT_PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin") or sys.executable
"""The fake agent needs only the standard library; this Python is one the agent user
may run (the virtual environment's may live in root's home)."""


DEFAULT_TIMEOUT = 120.0
"""pyproject's `timeout`: a test that needs longer says so with its own mark."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest tests first, dealt out to the workers in turn: xdist's worksteal
    gives each worker a contiguous share of the collection, so the tests that take
    minutes (through `warden up`, weeks of simulation) would otherwise queue up on
    the last worker and decide the suite's time. A test's own timeout mark is the
    measure of its length (the long ones all carry one); steals take the short
    tests from a queue's end."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    if workers < 2:
        return

    def length(item: pytest.Item) -> float:
        mark = item.get_closest_marker("timeout")
        return float(mark.args[0]) if mark is not None and mark.args else DEFAULT_TIMEOUT

    ranked = sorted(items, key=length, reverse=True)  # stable: file order among equals
    items[:] = [item for share in range(workers) for item in ranked[share::workers]]


AGENTS_DIR = Path(tempfile.mkdtemp(prefix="warden-agents-"))
"""Where the tests put the programs agents run: the checkout may be in a folder the
agent user cannot enter (root's home, a `mktemp -d` folder)."""
AGENTS_DIR.chmod(0o755)
atexit.register(shutil.rmtree, AGENTS_DIR, True)


def for_agents(program: Path) -> Path:
    """`program` in AGENTS_DIR: a hard link (the real CLI is 400 MB), else a copy."""
    placed = AGENTS_DIR / program.name
    if not placed.exists():
        try:
            os.link(program.resolve(), placed)
        except OSError:  # another file system
            shutil.copy2(program, placed)
    return placed


FAKE_CLAUDE = for_agents(REPO / "examples" / "fake_claude.py")


def fake_swarm_keys() -> str:
    """The `swarms:` keys that run the fake Claude with the shipped command's flags,
    as the agent user (YAML lines indented for that section)."""
    return f"""\
  command: [{AGENT_PYTHON}, {FAKE_CLAUDE}, -p, "{{prompt}}", --output-format, stream-json,
            --verbose, --permission-mode, "{{permission_mode}}", --allowedTools,
            "{{allowed_tools}}", --model, "{{model}}", --max-budget-usd, "{{budget_usd}}"]
  user: {AGENT_USER}
"""


def enterable(folder: Path) -> Path:
    """Let the agent user into a test folder (pytest makes them 0700): as root,
    the tests start agents as AGENT_USER, whose working folder is in there."""
    for p in (folder, *folder.parents):
        if p == Path(tempfile.gettempdir()) or p == p.parent:
            break
        if p.stat().st_uid == os.geteuid():
            p.chmod(p.stat().st_mode | 0o711)
    return folder


@pytest.fixture
def tmp_path(tmp_path: Path) -> Path:
    return enterable(tmp_path)


@pytest.fixture(scope="session", autouse=True)
def tmp_path_factory(tmp_path_factory: pytest.TempPathFactory) -> pytest.TempPathFactory:
    """At each worker's start, not at its first use of a tmp_path: pytest takes the
    group and other bits off /tmp/pytest-of-USER when a worker first makes its
    temporary folder, and a worker doing so late (its first tests needed none)
    would shut the agents of another worker's running test out of their folders."""
    enterable(tmp_path_factory.getbasetemp())
    return tmp_path_factory


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session; each test makes its own database."""
    from tests.pgserver import PostgresServer

    server = PostgresServer.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class Database:
    """Where a test's store lives: a SQLite path, or a PostgreSQL URL and password."""

    target: Path | str
    password: str | None = None
    password_file: Path | None = None

    def store(self, read_only: bool = False) -> Store:
        return Store(self.target, read_only, self.password)

    def config_keys(self) -> str:
        """The responder keys that put a config on this database (nothing for SQLite)."""
        if isinstance(self.target, Path):
            return ""
        return f"  database: {self.target}\n  database_password_file: {self.password_file}\n"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """Each engine in turn: the test runs once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        return Database(tmp_path / "state" / "warden.db")
    server: PostgresServer = request.getfixturevalue("postgres")
    return Database(server.database(), server.password, server.password_file)


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free now and not handed out before in this process. Nothing holds a
    port between its draw and its use, and the kernel may give a port closed a
    moment ago again: a stack's responder and its second Alertmanager once got
    the same one (the responder could not listen, and the test timed out)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def git(cwd: Path, *args: str, date: int | None = None) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{date} +0000"
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit_all(repo: Path, message: str, when: int | None = None) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message, date=when)
    return git(repo, "rev-parse", "HEAD")


def make_demo_repo(repo: Path) -> Path:
    """A copy of the demo project at `repo`, as a git repository of its own."""
    shutil.copytree(
        DEMO,
        repo,
        ignore=shutil.ignore_patterns("dist", "reports", "coverage", "logs", "__pycache__"),
    )
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "initial")
    return repo


@pytest.fixture
def demo_repo(tmp_path: Path) -> Path:
    return make_demo_repo(tmp_path / "demo")


def write_config(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """`warden ARGS` as a separate process, as a person would run it (with `env`
    added to the environment), from `cwd` (the checkout whose warden it runs)."""
    return subprocess.run(
        [sys.executable, "-m", "warden.shell.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=180,  # a guard against a hang: a busy machine runs them slower
        check=False,
        env=None if env is None else {**os.environ, **env},
    )


def http_get(url: str, timeout: float = 5.0, auth: Credentials | None = None) -> tuple[int, str]:
    """GET with the credentials a part asks for (warden.auth); (status, body)."""
    try:
        return 200, fetch(url, auth, timeout).decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def stack_auth(config: Path, name: str = SCRAPE) -> Credentials:
    """The credentials of a stack run with `config` (its secrets_dir)."""
    return Secrets(load_config(config, check_programs=False).secrets_dir).credentials(name)


class ServiceProcess:
    """`warden exporter` or `warden responder` as a real process on a free port."""

    component = "exporter"

    def __init__(self, config: Path, port: int | None = None) -> None:
        port = port or free_port()
        self.port = port
        self.config = config
        self.url = f"http://127.0.0.1:{port}"
        self.log = config.parent / f"{self.component}-{port}.log"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "warden.shell.cli",
                self.component,
                "-c",
                str(config),
                "--listen",
                f"127.0.0.1:{port}",
            ],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.component} exited: {self.log.read_text()}")
            try:
                if http_get(self.url + "/healthz", timeout=1)[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"{self.component} did not come up: {self.log.read_text()}")

    @property
    def auth(self) -> Credentials:
        """What Prometheus shows it: the scrape password of its config's secrets_dir."""
        return stack_auth(self.config)

    def get(self, path: str) -> tuple[int, str]:
        return http_get(self.url + path, auth=self.auth)

    def metrics(self) -> str:
        status, body = self.get("/metrics")
        assert status == 200
        return body

    def wait_until(self, predicate: Callable[[str], bool], timeout: float = 20.0) -> str:
        """Scrape until `predicate(text)` holds; return that scrape's text."""
        found: list[str] = []

        def check() -> bool:
            text = self.metrics()
            if predicate(text):
                found.append(text)
                return True
            return False

        wait_for(check, timeout)
        return found[0]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


class ExporterProcess(ServiceProcess):
    component = "exporter"


class ResponderProcess(ServiceProcess):
    component = "responder"

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        self.proc.kill()
        self.proc.wait()

    def end_agents(self) -> None:
        """Kill what its state's agents left running: a responder leaves them for the
        next one to adopt (R1), so a test's hang on (a review agent that hangs was left
        by every suite run)."""
        folder = str(self.config.parent.resolve())
        if not folder.startswith(tempfile.gettempdir() + os.sep):
            return  # a test's own folder only: never one a pytest worker's command names
        for p in psutil.process_iter(["cmdline"]):
            if p.pid != os.getpid() and folder in " ".join(p.info["cmdline"] or []):
                with contextlib.suppress(psutil.Error):
                    p.kill()


def receiver_of(responder: int) -> psutil.Process:
    """The receiver of the responder with pid `responder` (its one child running
    `responder.service.receiver`)."""
    children = psutil.Process(responder).children()
    found = [c for c in children if "responder.service.receiver" in c.cmdline()]
    assert len(found) == 1, [c.cmdline() for c in children]
    return found[0]


def _factory(kind: type[ServiceProcess]) -> Iterator[type[ServiceProcess]]:
    """A subclass of `kind` whose processes are stopped when the test ends."""
    started: list[ServiceProcess] = []

    class Factory(kind):  # type: ignore[valid-type,misc]
        def __init__(self, config: Path, port: int | None = None) -> None:
            super().__init__(config, port)
            started.append(self)

    yield Factory
    for e in started:
        e.stop()
        if isinstance(e, ResponderProcess):
            e.end_agents()


@pytest.fixture
def exporter_factory() -> Iterator[type[ServiceProcess]]:
    yield from _factory(ExporterProcess)


@pytest.fixture
def responder_factory() -> Iterator[type[ServiceProcess]]:
    yield from _factory(ResponderProcess)


def sample(text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """The value of one sample in exposition text, or None when it is absent."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and (
                labels is None or all(s.labels.get(k) == v for k, v in labels.items())
            ):
                return float(s.value)
    return None


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1, why=None):  # type: ignore[no-untyped-def]
    """`predicate()` once it is true; `why()`, if given, says what was seen when it never was."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            seen = f"; {why()}" if why is not None else ""
            raise AssertionError(f"condition not met in {timeout} s (last value: {value!r}){seen}")
        time.sleep(interval)


@contextlib.contextmanager
def statements_run(store: Store) -> Iterator[list[str]]:
    """The SQL of each statement `store` runs within: through SQLAlchemy (its
    `before_cursor_execute` event), and the reads that go through the driver
    (responder/state/driver.py), which pass no SQLAlchemy event."""
    from sqlalchemy import event

    seen: list[str] = []

    def note(*args: object) -> None:
        seen.append(str(args[2]))

    original = store._rows

    def rows(query: Any, **params: Any) -> Any:
        plan = store._read_plan(query)
        if plan is not None:
            seen.append(plan.sql)
        return original(query, **params)

    event.listen(store.engine, "before_cursor_execute", note)
    setattr(store, "_rows", rows)  # noqa: B010  (an instance's method, for this block)
    try:
        yield seen
    finally:
        delattr(store, "_rows")
        event.remove(store.engine, "before_cursor_execute", note)
