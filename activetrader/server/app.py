"""The ASGI app of the venue: Alpaca's REST paths, the streams, the admin endpoints.

:func:`create_app` builds a Starlette app around a :class:`~activetrader.server.venue.Venue`:

* ``/v2/...`` trading routes (:mod:`.trading`) and ``/v2/stocks/...`` market data (:mod:`.data`);
* the websocket routes of :mod:`activetrader.server.streams`;
* ``/admin/clock``, ``/admin/faults``, ``/admin/stats`` (:mod:`.admin`), outside ``/v2``.

One outer middleware does, for every HTTP request: count it (per ``METHOD /path``), apply a
matching fault rule (:mod:`.faults`), and check the keys (``APCA-API-KEY-ID`` and
``APCA-API-SECRET-KEY``; a missing or wrong key gets Alpaca's 401 body). The admin endpoints
need the same keys; they are neither counted nor faulted.
"""

from __future__ import annotations

import asyncio
import json

from starlette.applications import Starlette

from ..broker.errors import NOT_FOUND
from . import admin, data, streams, trading, wire
from .faults import Faults
from .venue import Venue

_UNAUTHORIZED = json.dumps({"code": wire.UNAUTHORIZED, "message": "request is not authorized"}).encode()
_FAULT_MESSAGES = {429: "rate limit exceeded", 500: "internal server error (injected fault)",
                   502: "bad gateway (injected fault)", 503: "service unavailable (injected fault)",
                   504: "gateway timeout (injected fault)"}


def create_app(venue: Venue, faults: Faults | None = None):
    """The ASGI application serving ``venue`` (``app.state.venue``, ``app.state.faults``)."""
    routes = trading.routes + data.routes + admin.routes + list(streams.websocket_routes(venue))

    async def not_found(request, exc):
        return wire.error(404, NOT_FOUND, "endpoint not found")

    async def not_allowed(request, exc):
        return wire.error(405, 40510000, "method not allowed")

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
    app.state.venue = venue
    app.state.faults = faults if faults is not None else Faults()
    return _Gate(app, venue, app.state.faults)


class _Gate:
    """Outer ASGI middleware: request counting, fault injection and authentication."""

    def __init__(self, app, venue: Venue, faults: Faults) -> None:
        self.app, self.venue, self.faults = app, venue, faults
        self.state = app.state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        if not path.startswith("/admin"):
            rule = self.faults.pick(method, path)
            if rule is not None:
                if rule.hang is not None:
                    # Take the request in first, then wait: like a slow venue, it still acts on a
                    # request whose client has given up (e.g. the order is placed).
                    receive = await _buffered(receive)
                    await asyncio.sleep(rule.hang)
                elif rule.drop:
                    return await _drop(send)
                else:
                    return await _send_json(send, rule.status, json.dumps(
                        {"code": rule.status * 100000 + 10000, "message": _FAULT_MESSAGES[rule.status]}).encode())
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not self.venue.authorized(headers.get("apca-api-key-id"), headers.get("apca-api-secret-key")):
            # 401 for a missing or wrong key (the spec's 401: "Authentication headers are missing
            # or invalid"); the body is Alpaca's well-known 40110000 answer.
            return await _send_json(send, 401, _UNAUTHORIZED)
        return await self.app(scope, receive, send)


async def _buffered(receive):
    """Read the whole request body now; return a ``receive`` that replays it."""
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the client left before sending its body
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return replay


async def _send_json(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _drop(send) -> None:
    """Close the connection without answering (uvicorn's request cycle holds the transport)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:  # not uvicorn: fail loudly rather than answer something else
        raise ConnectionAbortedError("drop fault: the server does not expose the connection")
    transport.abort()
    for _ in range(10):  # let uvicorn see the lost connection, so it does not try to answer
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)
