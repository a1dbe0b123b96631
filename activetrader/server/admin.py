"""Admin endpoints, outside Alpaca's ``/v2`` (they need the venue's keys like any request).

* ``POST /admin/clock`` with ``{"advance_to": "2024-08-27T16:00:00-04:00"}`` moves a manual
  clock (fills, expiries and stream messages happen); ``GET /admin/clock`` tells the time and
  mode. Refused (409) when the clock is realtime or accelerated.
* ``POST /admin/faults`` with a rule (see :mod:`activetrader.server.faults`) or a list of
  rules; ``GET /admin/faults`` lists them; ``DELETE /admin/faults`` clears them.
* ``GET /admin/stats``: requests received per ``METHOD /path``; ``DELETE /admin/stats`` resets.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from . import wire
from .faults import FaultError, FaultRule
from .wire import WireError, call, endpoint, ok


def _clock_state(venue) -> dict:
    mode = "manual" if venue.speed is None else ("realtime" if venue.speed == 1 else "accelerated")
    return {"now": wire.iso(venue.now), "mode": mode, "speed": venue.speed}


@endpoint
async def get_clock(request, venue):
    return ok(_clock_state(venue))


@endpoint
async def post_clock(request, venue):
    body = await wire.json_body(request)
    if set(body) != {"advance_to"} or not isinstance(body["advance_to"], str):
        raise WireError('expected {"advance_to": "<ISO-8601 timestamp>"}')
    ts = wire.parse_time(body["advance_to"], "advance_to")
    if venue.speed is not None:
        raise WireError("the clock is not manual: time follows the wall clock", 409, 40910000)
    if ts < venue.now:
        raise WireError(f"advance_to: {wire.iso(ts)} is before the venue's time {wire.iso(venue.now)} "
                        "(time never goes backwards)")
    await call(venue, venue.advance_to, ts)
    return ok(_clock_state(venue))


@endpoint
async def get_faults(request, venue):
    return ok(request.app.state.faults.snapshot()["faults"])


@endpoint
async def post_faults(request, venue):
    import json

    try:
        data = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise WireError("request body format is invalid", 400, wire.BAD_REQUEST) from None
    items = data if isinstance(data, list) else [data]
    try:
        rules = [FaultRule.from_dict(d) for d in items]
    except FaultError as e:
        raise WireError(str(e)) from None
    for r in rules:
        request.app.state.faults.add(r)
    return ok([r.to_dict() for r in rules], 201)


@endpoint
async def delete_faults(request, venue):
    request.app.state.faults.clear()
    return Response(status_code=204)


@endpoint
async def get_stats(request, venue):
    return ok(request.app.state.faults.snapshot()["requests"])


@endpoint
async def delete_stats(request, venue):
    request.app.state.faults.reset_counts()
    return Response(status_code=204)


routes = [
    Route("/admin/clock", get_clock, methods=["GET"]),
    Route("/admin/clock", post_clock, methods=["POST"]),
    Route("/admin/faults", get_faults, methods=["GET"]),
    Route("/admin/faults", post_faults, methods=["POST"]),
    Route("/admin/faults", delete_faults, methods=["DELETE"]),
    Route("/admin/stats", get_stats, methods=["GET"]),
    Route("/admin/stats", delete_stats, methods=["DELETE"]),
]
