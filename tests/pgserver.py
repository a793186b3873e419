"""A real PostgreSQL server on loopback for tests and benches (Debian's `postgresql`).

PostgreSQL refuses to run as root, and tests here run as root: the server
then runs as the `postgres` user the Debian package creates, in a folder of
its own under /tmp (the test's tmp_path is root's alone). Password auth
(scram-sha-256) on TCP, so Warden's `database_password_file` path is what
the tests use.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.conftest import free_port

USER = "warden"


def binary(name: str) -> str:
    """A server program: on PATH, or in Debian's versioned folder (not on PATH)."""
    found = shutil.which(name)
    if found:
        return found
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    for folder in reversed(folders):
        if os.access(f"{folder}/{name}", os.X_OK):
            return f"{folder}/{name}"
    raise RuntimeError(f"{name} not found: the README's test command installs Debian's postgresql")


@dataclass
class PostgresServer:
    """One server; `database()` makes a fresh database for each test."""

    folder: Path
    port: int
    password: str
    password_file: Path
    proc: subprocess.Popen[bytes] | None = None
    made: list[str] = field(default_factory=list)
    durable: bool = False

    @classmethod
    def start(cls, durable: bool = False) -> PostgresServer:
        """`durable`: fsync as in production (benches); tests run without it."""
        folder = Path(tempfile.mkdtemp(prefix="warden-pg-"))
        folder.chmod(0o755)
        run_as = _run_as()
        password = secrets.token_hex(16)
        pwfile = folder / "password"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o644)
        if run_as is not None:
            os.chown(folder, run_as.pw_uid, run_as.pw_gid)
        server = cls(folder, free_port(), password, pwfile, durable=durable)
        _run(
            run_as,
            binary("initdb"),
            "-D",
            str(folder / "data"),
            "-U",
            USER,
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            f"--pwfile={pwfile}",
            "--no-sync",
            "-E",
            "UTF8",
        )
        server.launch()
        return server

    def launch(self) -> None:
        """Start the server on its folder and port (again, after `halt`)."""
        args = [
            binary("postgres"),
            "-D",
            str(self.folder / "data"),
            "-p",
            str(self.port),
            "-k",
            str(self.folder),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=200",
        ]
        if not self.durable:
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off"]
        run_as = _run_as()
        log = (self.folder / "server.log").open("ab")
        self.proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            user=run_as.pw_uid if run_as else None,
            group=run_as.pw_gid if run_as else None,
            extra_groups=[] if run_as else None,
            start_new_session=True,
        )
        self._wait_ready()

    def url(self, database: str = "postgres") -> str:
        """The URL Warden's config takes (no password in it)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=USER,
            password=self.password,
            dbname=database,
            autocommit=True,
        )

    def database(self) -> str:
        """A new empty database; its URL."""
        name = f"t{secrets.token_hex(6)}"
        with self.connect() as db:
            db.execute(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return self.url(name)

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"postgres exited {self.proc.returncode}: "
                    + (self.folder / "server.log").read_text(errors="replace")[-2000:]
                )
            try:
                with self.connect():
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def halt(self) -> None:
        """Stop the server, its data kept: an outage, clients cut off ("fast" shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.folder, ignore_errors=True)


def _run_as() -> pwd.struct_passwd | None:
    """Who runs the server: ourselves, or `postgres` (or `nobody`) when we are root."""
    if os.getuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root with neither a postgres nor a nobody user")


def _run(run_as: pwd.struct_passwd | None, *args: str) -> None:
    out = subprocess.run(
        args,
        capture_output=True,
        user=run_as.pw_uid if run_as else None,
        group=run_as.pw_gid if run_as else None,
        extra_groups=[] if run_as else None,
        check=False,
        cwd="/",
    )
    if out.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {out.stderr.decode(errors='replace')}")
