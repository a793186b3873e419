"""Serve an aiohttp app so slow or many clients cannot starve the others.

aiohttp bounds nothing by itself that a slow client controls: a connection
that trickles its headers is held until the keep-alive timeout (75 s by
default), and connections are not counted, so a thousand of them exhaust the
process's file descriptors and Alertmanager's webhooks time out. Here:
- a connection must finish its request headers within `header_timeout`
  (aiohttp's keep-alive timer runs from the connection's start and closes an
  idle handler, one still waiting for a whole request included). The same
  timer ends kept-alive connections idle that long: clients open a new one
  (Go's HTTP client, Alertmanager's and Prometheus', retries a request whose
  reused connection the server had closed);
- at most `max_connections` are open. At the limit, a new connection takes the
  place of the oldest one that has not shown credentials (it is closed), so a
  local user who holds connections open without finishing them cannot keep
  Alertmanager's deliveries out: theirs always give way first. Only when every
  open connection has authenticated is one more answered 503 and closed at
  once (a flood costs one descriptor per open slot, not one per attempt);
- request bodies are read under `body_timeout` by the handlers that read them
  (`read_body`), which answer 408 when it passes.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from warden.auth import Credentials

log = logging.getLogger(__name__)
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\n"
)


@dataclass(frozen=True)
class Limits:
    max_connections: int = 256
    header_timeout: float = 5.0
    body_timeout: float = 10.0


LIMITS: web.AppKey[Limits] = web.AppKey("limits", Limits)


class Connections:
    """The open connections, oldest first, and whether each has shown credentials.

    Owned by the event loop: only its callbacks (a connection made or lost, a
    request authenticated) touch it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[asyncio.BaseProtocol, bool] = {}
        self._doomed: set[asyncio.BaseProtocol] = set()
        """Evicted before asyncio handed them their transport: closed once it does."""
        self.evicted = 0

    def admit(self) -> bool:
        """Whether one more may open: under the limit, or after the oldest connection
        without credentials was closed to make room."""
        if len(self._open) < self.limit:
            return True
        victim = next((c for c, trusted in self._open.items() if not trusted), None)
        if victim is None:
            return False
        del self._open[victim]
        self.evicted += 1
        transport = getattr(victim, "transport", None)
        if transport is None:  # accepted in the same burst: not made yet
            self._doomed.add(victim)
        else:
            transport.close()
        return True

    def opened(self, connection: asyncio.BaseProtocol) -> None:
        self._open[connection] = False

    def made(self, connection: asyncio.BaseProtocol, transport: asyncio.BaseTransport) -> None:
        """asyncio handed the connection its transport: closed now if it was evicted."""
        if connection in self._doomed:
            self._doomed.discard(connection)
            transport.close()

    def closed(self, connection: asyncio.BaseProtocol) -> None:
        self._open.pop(connection, None)
        self._doomed.discard(connection)

    def trust(self, connection: asyncio.BaseProtocol | None) -> None:
        """It carried an authenticated request: it no longer gives way to newcomers."""
        if connection in self._open:
            self._open[connection] = True

    def __len__(self) -> int:
        return len(self._open)


CONNECTIONS: web.AppKey[Connections] = web.AppKey("connections", Connections)


class _Counted(asyncio.Protocol):
    """aiohttp's handler of one connection, counted from the moment asyncio hands it
    its transport to its end: aiohttp registers a connection later, and asyncio
    accepts a burst of them before any is registered."""

    def __init__(self, handler: asyncio.Protocol, connections: Connections) -> None:
        self.handler, self.connections = handler, connections

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.handler.connection_made(transport)
        self.connections.made(self.handler, transport)

    def data_received(self, data: bytes) -> None:
        self.handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self.handler.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.closed(self.handler)
        self.handler.connection_lost(exc)

    def pause_writing(self) -> None:
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.handler.resume_writing()


class _Busy(asyncio.Protocol):
    """What a connection over the limit gets: 503 and a close."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(BUSY)
        transport.close()


async def read_body(request: web.Request) -> bytes:
    """The request's body, or 408 when the client sends it slower than the limit."""
    if request.content.is_eof():
        # All of it came with the headers (a webhook's body, mostly): nothing to wait
        # for, and no timer to arm and cancel (7 % of the receiver's CPU a body).
        return await request.read()
    limits = request.app.get(LIMITS, Limits())
    try:
        async with asyncio.timeout(limits.body_timeout):
            return await request.read()
    except TimeoutError:
        raise web.HTTPRequestTimeout(
            text=f"request body not received within {limits.body_timeout:g} s"
        ) from None


class MalformedRequests(logging.Filter):
    """aiohttp logs a request it cannot parse at ERROR with its traceback (~1 KB):
    anyone who reaches the port, without credentials, could fill a log that is
    never rotated. Such a request is already answered 400; the log gets one line,
    at most once a minute, with how many came since."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every, self.clock = every, clock
        self._told_at = float("-inf")
        self._since = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        self._since += 1
        now = self.clock()
        if now - self._told_at < self.every:
            return False
        first = str(exc.message).strip().splitlines()[0] if exc.message else type(exc).__name__
        record.msg = "malformed HTTP request(s) answered 400: %d since the last report; last: %s"
        record.args = (self._since, first)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        self._told_at, self._since = now, 0
        return True


Where = tuple[str, int] | Sequence[socket.socket]
"""A host and port to listen on, or sockets already listening (bound by a parent)."""


def run(app: web.Application, limits: Limits, where: Where) -> None:
    """Serve until SIGINT or SIGTERM, then clean the app up (its cleanup contexts run)."""
    app[LIMITS] = limits
    logging.getLogger("aiohttp.server").addFilter(MalformedRequests())
    asyncio.run(_serve(app, limits, where))


async def _serve(app: web.Application, limits: Limits, where: Where) -> None:
    connections = app[CONNECTIONS] = Connections(limits.max_connections)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=limits.header_timeout)
    await runner.setup()
    server = runner.server
    assert server is not None

    def factory() -> asyncio.BaseProtocol:
        if not connections.admit():
            log.warning("connection refused: %d open and authenticated", len(connections))
            return _Busy()
        handler = server()
        connections.opened(handler)
        return _Counted(handler, connections)

    loop = asyncio.get_running_loop()
    if isinstance(where, tuple):
        listeners = [await loop.create_server(factory, *where, reuse_address=True)]
    else:
        listeners = [await loop.create_server(factory, sock=s) for s in where]
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for listener in listeners:
            listener.close()
        await runner.cleanup()
        for listener in listeners:
            await listener.wait_closed()


def authorized(request: web.Request, expected: Credentials) -> bool:
    """Basic auth with `expected`, compared in constant time."""
    return authorization_is(request, expected.header)


def authorization_is(request: web.Request, expected: str) -> bool:
    """Whether the request's Authorization header is `expected` (compared in constant
    time); its connection is then trusted (`Connections.trust`)."""
    # aiohttp keeps undecodable header bytes as surrogates: encoded back as they
    # came, any header compares (and fails) without raising.
    given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, expected.encode()):
        return False
    trust(request)
    return True


def trust(request: web.Request) -> None:
    """The request showed credentials: its connection no longer gives way to
    newcomers (`Connections.trust`)."""
    connections = request.app.get(CONNECTIONS)
    if connections is not None:
        connections.trust(request.protocol)


def refused() -> web.Response:
    """401 with the realm and user to use."""
    return web.json_response(
        {"error": "missing or wrong credentials (basic auth, user warden)"},
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="warden"'},
    )
