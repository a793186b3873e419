"""One middleware for every service's HTTP routes: who may call each, and how a
request that fails is answered.

Each route has a gate (the sender's bearer token, the scrape password, or none
for a health check that tells nothing); a request without what its gate asks
gets 401 with the scheme to use, counted as `unauthorized`. A handler's
failure of a known kind (a malformed body, a body too large, a database
away) is answered with its status and its words, counted under its reason:
handlers parse and act, and never repeat the checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from warden.auth import Credentials
from warden.serve import authorization_is, authorized, refused


@dataclass(frozen=True)
class Gate:
    """What a route asks of a request, and the 401 it answers without it."""

    passes: Callable[[web.Request], bool]
    refusal: Callable[[], web.Response]


@dataclass(frozen=True)
class Failure:
    """How a handler's exception of one kind is answered."""

    status: int
    reason: str | None = None
    """Counted as a rejected request under this reason (None: not a rejection)."""
    text: str | None = None
    """The error the body gives (None: the exception's own words)."""


def basic(expected: Credentials) -> Gate:
    """Basic auth with `expected`: Prometheus' scrapes, a person reading status."""
    return Gate(lambda request: authorized(request, expected), refused)


def bearer(token: str) -> Gate:
    """The bearer token a sender (Alertmanager, `warden`) shows."""
    header = f"Bearer {token}"
    return Gate(lambda request: authorization_is(request, header), _no_token)


def _no_token() -> web.Response:
    return web.json_response(
        {"error": "missing or wrong bearer token"},
        status=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _uncounted(reason: str) -> None:
    """Rejections are not counted (a service without the metric)."""


def guard(
    gates: Mapping[str, Gate | None],
    default: Gate | None,
    failures: Mapping[type[Exception], Failure] | None = None,
    rejected: Callable[[str], None] = _uncounted,
) -> Middleware:
    """The middleware: `gates` by route (its pattern, `/api/v1/swarm-types/{type}/resume`),
    `default` for any other path; `failures` by exception type; `rejected(reason)`
    counts what was refused."""
    known = tuple((failures or {}).items())

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = request.path if resource is None else resource.canonical
        gate = gates.get(route, default)
        if gate is not None and not gate.passes(request):
            rejected("unauthorized")
            return gate.refusal()
        try:
            return await handler(request)
        except Exception as exc:
            failure = next((f for kind, f in known if isinstance(exc, kind)), None)
            if failure is None:
                raise
            if failure.reason is not None:
                rejected(failure.reason)
            return web.json_response({"error": failure.text or str(exc)}, status=failure.status)

    return check
