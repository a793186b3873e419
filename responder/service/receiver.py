"""The responder's front: Alertmanager's webhooks accepted in a process of their own.

In one process the webhook's accept path and the worker took turns on one
interpreter lock: in a storm each body cost the lock about 1 ms to accept
and 1.2 ms to work off, so the two together, not the cores, bounded the
alerts handled a second (about 2,100/s on two cores, the cores 65 % busy).
Here the accept path runs apart (`warden responder` starts it,
`responder.service.serve`): this process owns the responder's port and
answers `POST /api/v1/alerts` itself: authenticated, size-limited, parsed
(400 with the reason, nothing stored), stored in the database and only then
acknowledged, as before. Every other request is forwarded as it came to the
responder's own process, over a Unix socket only processes of its user may
use, and answered with what that process answers: those routes read or
change the worker's state, which has one owner.

It tells the responder what it did through a pipe, a byte a note (`NOTES`):
a body stored (the worker reads the inbox again and wakes), a request
refused and why (counted in the responder's metrics). It dies with the
responder (`warden.parentdeath`) and the responder with it
(`responder.service.serve`), so a supervisor restarts the two together.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass

from aiohttp import ClientError, ClientSession, ClientTimeout, UnixConnector, web

from responder.intake.webhook import BadBody, parse_body
from responder.state.errors import StoreUnavailable
from responder.state.store import Store
from warden import logsetup
from warden.gates import Failure, bearer, guard
from warden.parentdeath import die_with
from warden.serve import Limits, read_body, run, trust

log = logging.getLogger(__name__)
STORED = b"s"
COPY = b"c"
NOTES = {b"u": "unauthorized", b"b": "bad_body", b"t": "too_large"}
"""The receiver's notes to the responder, a byte each: `STORED`, `COPY` (accepted,
not stored: a copy of it still waits, `warden_responder_webhook_copies_total`), or
a refusal by its reason (the responder's `warden_responder_webhooks_rejected`)."""
REFUSED = {reason: note for note, reason in NOTES.items()}
FORWARD_SECONDS = 60.0
"""How long a forwarded request may take the responder before it is answered 502:
a command (maintenance, resume) waits for the worker's next step, seconds at
most; one that waits longer waits on a frozen worker, which is the supervisor's
to see (its health check gives up after 5 s), and the connection is freed."""
HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te")
)


@dataclass(frozen=True)
class Settings:
    """What the receiver needs, sent on its standard input (the token and the
    database's password are secrets: never in its arguments or environment)."""

    token: str
    max_body_bytes: int
    limits: Limits
    database: str
    """The store's target: a SQLite file's path or a PostgreSQL URL."""
    database_password: str | None
    responder: str
    """The responder's id, whose inbox the bodies go to."""
    upstream: str
    """The Unix socket the responder serves its other routes on."""
    log_level: str

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Settings:
        fields = json.loads(raw)
        return cls(**{**fields, "limits": Limits(**fields["limits"])})


class Notes:
    """The pipe to the responder. Never blocks: the pipe holds 64 KiB of notes,
    and a responder that stopped reading them (frozen) is the supervisor's to
    restart; a note that finds it full is dropped (a body stays stored, and
    the notes already in the pipe wake the worker)."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd = fd

    def tell(self, note: bytes) -> None:
        try:
            os.write(self.fd, note)
        except BlockingIOError:
            pass
        except BrokenPipeError:
            log.warning("the responder no longer reads the receiver's notes")

    def refused(self, reason: str) -> None:
        self.tell(REFUSED.get(reason, b"?"))


class Writer:
    """Where the receiver's bodies are committed, in the order they came.

    On SQLite, on the event loop: a commit of a local file waits for the disk
    (its fsync) and at most for the worker's transaction in progress, which
    is all a forwarded request then waits for; a hand-over to a thread cost
    more than the write (alone, the receiver took 0.53-0.57 ms of CPU a body
    with the write on the loop, 0.69-0.87 ms with it on a thread). On
    PostgreSQL, on the receiver's one writing thread: a server away holds a
    connection attempt up to its timeout (10 s), and the loop must go on
    answering meanwhile (503s, the forwarded health checks)."""

    def __init__(self, store: Store, responder: str) -> None:
        self.store, self.responder = store, responder
        self._bodies: queue.SimpleQueue[tuple[bytes, asyncio.Future[bool]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        if store.shared:
            self._thread = threading.Thread(target=self._write, name="receiver-writer")
            self._thread.start()

    async def add(self, body: bytes) -> bool:
        """Once the body is committed (raises what the store raised); False if a copy
        of it still waits, stored by this receiver or another of the fleet."""
        if self._thread is None:
            return self._store(body)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._bodies.put((body, done))
        return await done

    def _store(self, body: bytes) -> bool:
        return self.store.add_inbox(body, time.time(), self.responder) is not None

    def _write(self) -> None:
        while (item := self._bodies.get()) is not None:
            body, done = item
            loop = done.get_loop()
            try:
                stored = self._store(body)
            except Exception as exc:
                loop.call_soon_threadsafe(_settle, done, exc)
            else:
                loop.call_soon_threadsafe(_settle, done, stored)

    def stop(self) -> None:
        if self._thread is not None:
            self._bodies.put(None)
            self._thread.join()


def _settle(done: asyncio.Future[bool], outcome: bool | Exception) -> None:
    if done.cancelled():
        return  # its client went away; the body is stored all the same
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)


WRITER: web.AppKey[Writer] = web.AppKey("writer", Writer)
NOTES_KEY: web.AppKey[Notes] = web.AppKey("notes", Notes)
UPSTREAM: web.AppKey[ClientSession] = web.AppKey("upstream", ClientSession)


FAILURES: dict[type[Exception], Failure] = {
    BadBody: Failure(400, "bad_body"),
    web.HTTPRequestEntityTooLarge: Failure(413, "too_large", "body too large"),
    # Nothing was recorded: a sender that retries (Alertmanager) loses nothing.
    StoreUnavailable: Failure(503),
}
"""How the responder's handlers' failures are answered, in both its processes."""


def make_app(settings: Settings, writer: Writer, notes: Notes) -> web.Application:
    gates = {"/api/v1/alerts": bearer(settings.token)}
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[guard(gates, None, FAILURES, notes.refused)],
    )
    app[WRITER], app[NOTES_KEY] = writer, notes

    async def upstream(app: web.Application) -> AsyncIterator[None]:
        connector = UnixConnector(path=settings.upstream)
        timeout = ClientTimeout(total=FORWARD_SECONDS)
        async with ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False
        ) as session:
            app[UPSTREAM] = session
            yield

    app.cleanup_ctx.append(upstream)
    app.router.add_post("/api/v1/alerts", alerts)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def alerts(request: web.Request) -> web.Response:
    raw = await read_body(request)
    parsed = parse_body(raw)
    stored = await request.app[WRITER].add(raw)
    request.app[NOTES_KEY].tell(STORED if stored else COPY)  # a copy wakes nobody
    return web.json_response({"accepted": len(parsed)})


async def forward(request: web.Request) -> web.Response:
    """The request as it came, to the responder; its answer as it gave it."""
    body = await read_body(request)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    try:
        async with request.app[UPSTREAM].request(
            request.method,
            f"http://responder{request.rel_url}",
            headers=headers,
            data=body,
            allow_redirects=False,
        ) as answer:
            payload = await answer.read()
    except (ClientError, TimeoutError) as exc:
        return web.json_response(
            {"error": f"the responder does not answer: {type(exc).__name__}: {exc}"}, status=502
        )
    if answer.status != 401:
        trust(request)  # it showed what the route asks: it keeps its connection
    kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
    return web.Response(status=answer.status, body=payload, headers=kept)


def main() -> None:
    """`python -m responder.service.receiver PARENT NOTES_FD LISTEN_FD...`: the
    settings come on standard input."""
    parent, notes_fd, *listening = map(int, sys.argv[1:])
    die_with(parent)
    settings = Settings.decode(sys.stdin.buffer.read())
    logsetup.configure(settings.log_level)
    sockets = [socket.socket(fileno=fd) for fd in listening]
    store = Store(settings.database, password=settings.database_password)
    writer = Writer(store, settings.responder)
    try:
        run(make_app(settings, writer, Notes(notes_fd)), settings.limits, sockets)
    finally:
        writer.stop()
        store.close()


if __name__ == "__main__":
    main()
