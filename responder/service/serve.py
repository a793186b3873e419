"""`warden responder`'s process: the worker's routes behind the receiver.

This process binds the responder's port and hands it to the receiver
(`responder.service.receiver`, a process of its own: the webhook's accept
path no longer takes turns with the worker on one interpreter lock), and
serves its own routes (status, metrics, commands, health: they read or
change the worker's state) on a Unix socket in the abstract namespace (no
file: nothing left behind by a kill), where a request from another user's
process is refused (its peer's credentials), which the receiver forwards
to. The receiver's notes arrive on a pipe, read on the event loop: a body
stored marks the inbox written and wakes the worker; a refusal is counted.

The two live and die together. The receiver is killed by the kernel when
this process dies (its parent-death signal); when the receiver ends (a
crash, a kill), this process stops, with status 1, so that its supervisor
(`warden up`, `warden supervise`, systemd) restarts both: one way back, the
one a crash of either already takes. A SIGTERM or SIGINT stops the receiver
first (no body is accepted that the worker would not see), then the worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys

from aiohttp import web
from aiohttp.typedefs import Handler

from responder.service.receiver import COPY, NOTES, STORED, Settings
from responder.service.routes import make_app
from responder.service.worker import Service
from responder.state.store import store_target
from warden.config.listen import Listen
from warden.serve import LIMITS, Limits

log = logging.getLogger(__name__)
_UCRED = struct.Struct("3i")
"""struct ucred: the pid, uid and gid of a Unix socket's peer (SO_PEERCRED)."""
RECEIVER_STOP_SECONDS = 10.0
"""How long the receiver may take to answer what it is answering when stopped."""


def run(service: Service, listen: Listen, limits: Limits, log_level: str) -> int:
    """Serve until SIGINT or SIGTERM (0), or until the receiver ends (1)."""
    return asyncio.run(_run(service, listen, limits, log_level))


async def _run(service: Service, listen: Listen, limits: Limits, log_level: str) -> int:
    loop = asyncio.get_running_loop()
    try:
        sockets = await _bind(listen)
    except OSError as exc:
        log.error("cannot listen on %s: %s", listen, exc.strerror or exc)
        return 1
    upstream = f"\0warden-responder-{os.getpid()}-{secrets.token_hex(8)}"
    app = make_app(service)
    app.middlewares.append(_own_user_only)
    app[LIMITS] = limits
    runner = web.AppRunner(app, access_log=None)
    receiver: subprocess.Popen[bytes] | None = None
    ended = asyncio.Event()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    notes, told = os.pipe()
    try:
        await runner.setup()  # the worker starts (the app's lifecycle)
        await web.UnixSite(runner, upstream).start()
        target, password = store_target(service.config)
        r = service.config.responder
        settings = Settings(
            service.token,
            r.max_body_bytes,
            limits,
            str(target),
            password,
            r.id,
            upstream,
            log_level,
        )
        receiver = _start_receiver(settings, told, sockets)
        service.receiver = receiver.pid
        os.close(told)  # the receiver's alone: its end is the pipe's end
        told = -1
        for s in sockets:
            s.close()
        loop.add_reader(notes, _relay, notes, service, ended)
        waits = [asyncio.ensure_future(e.wait()) for e in (stopping, ended)]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        if not stopping.is_set():
            code = await loop.run_in_executor(None, receiver.wait)
            log.error(
                "the webhook receiver (pid %d) ended with status %d: stopping, for the "
                "supervisor to start both again",
                receiver.pid,
                code,
            )
            return 1
        return 0
    finally:
        for s in sockets:
            s.close()
        if receiver is not None:
            await loop.run_in_executor(None, _stop, receiver)
        loop.remove_reader(notes)
        os.close(notes)
        if told >= 0:
            os.close(told)
        await runner.cleanup()  # the worker stops


@web.middleware
async def _own_user_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Only a process of this user (the receiver) may reach the worker's routes: a
    socket in the abstract namespace has no file whose mode would say so (and none
    left behind by a responder killed outright)."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None:
        return web.json_response({"error": "not the receiver"}, status=403)
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    if _UCRED.unpack(creds)[1] != os.getuid():
        return web.json_response({"error": "not the receiver"}, status=403)
    return await handler(request)


async def _bind(listen: Listen) -> list[socket.socket]:
    """The port, bound here so that a port taken fails the start at once, as
    asyncio binds it (each address the host name resolves to)."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        asyncio.Protocol, listen.host, listen.port, reuse_address=True, start_serving=False
    )
    sockets = [s.dup() for s in server.sockets]
    server.close()
    return sockets


def _start_receiver(
    settings: Settings, told: int, sockets: list[socket.socket]
) -> subprocess.Popen[bytes]:
    """Started from the event loop's thread, the main one: the receiver's
    parent-death signal comes when the thread that started it ends."""
    fds = [s.fileno() for s in sockets]
    argv = [sys.executable, "-m", "responder.service.receiver", str(os.getpid()), str(told)]
    receiver = subprocess.Popen(
        [*argv, *map(str, fds)], stdin=subprocess.PIPE, pass_fds=(told, *fds)
    )
    assert receiver.stdin is not None
    with receiver.stdin:
        receiver.stdin.write(settings.encode())
    log.info("webhook receiver started (pid %d)", receiver.pid)
    return receiver


def _relay(notes: int, service: Service, ended: asyncio.Event) -> None:
    """The receiver's notes that came: a byte each (`receiver.NOTES`). An end of
    the pipe is the receiver's end (nobody else holds its writing end)."""
    data = os.read(notes, 65536)
    if not data:
        asyncio.get_running_loop().remove_reader(notes)
        ended.set()
        return
    stored = False
    for i in range(len(data)):
        note = data[i : i + 1]
        if note == STORED:
            stored = True
        elif note == COPY:
            service.copies += 1
        elif note in NOTES:
            service.reject(NOTES[note])
        else:
            log.warning("the webhook receiver sent an unknown note %r", note)
    if stored:
        service.inbox_added()


def _stop(receiver: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not ended in RECEIVER_STOP_SECONDS."""
    if receiver.poll() is None:
        receiver.terminate()
    try:
        receiver.wait(RECEIVER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        log.warning("the webhook receiver (pid %d) did not stop: killed", receiver.pid)
        receiver.kill()
        receiver.wait()
