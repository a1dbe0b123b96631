"""Alpaca's wire format: alpaca-py models to JSON, query strings and bodies to request models.

Responses follow the Trading API as alpaca-py reads it (alpaca-contract.md §1, §4, §5, §9):
decimals are strings, enums their values, timestamps RFC 3339 (UTC, ``Z``; the clock in New
York time, as Alpaca writes it), and errors ``{"code": int, "message": str}``.

>>> from starlette.datastructures import QueryParams
>>> q = Query(QueryParams("nested=True&limit=5&symbols=AAPL,MSFT"))
>>> q.boolean("nested"), q.integer("limit", lo=1, hi=500), q.symbols("symbols")
(True, 5, ['AAPL', 'MSFT'])
>>> q.integer("limit", lo=10, hi=500)
Traceback (most recent call last):
...
activetrader.server.wire.WireError: limit: 5 is out of range (10 to 500)
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse, Response

from ..broker.errors import INVALID, UNPROCESSABLE
from ..market.sessions import to_timestamp

#: Alpaca error codes (alpaca-contract.md §2) the broker never answers (the rest are in
#: :mod:`activetrader.broker.errors`), plus the authorization one (40110000).
BAD_REQUEST = 40010000
UNAUTHORIZED = 40110000


class WireError(Exception):
    """A request Alpaca would refuse: HTTP status, Alpaca error code and message."""

    def __init__(self, message: str, status: int = 422, code: int = INVALID) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> JSONResponse:
        return error(self.status, self.code, self.message)


def error(status: int, code: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status)


def api_error_response(e) -> JSONResponse:
    """The HTTP answer for an ``alpaca.common.exceptions.APIError`` the SimBroker raised."""
    try:
        body = json.loads(e._error)
    except (TypeError, ValueError):
        body = {"code": UNPROCESSABLE, "message": str(e)}
    return JSONResponse(body, status_code=e.status_code or 422)


# ---------------------------------------------------------------- responses
def dump(model: BaseModel | None) -> Any:
    """An alpaca-py model as Alpaca's JSON (aliases such as ``class``; enums as values)."""
    return None if model is None else model.model_dump(mode="json", by_alias=True)


def ok(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status)


def iso(ts) -> str:
    """RFC 3339 in UTC with ``Z``, as Alpaca writes timestamps."""
    ts = to_timestamp(ts)
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ts.microsecond:06d}" if ts.microsecond else "") + "Z"


def iso_ns(ns: int) -> str:
    """:func:`iso` of an int-ns UTC instant (the market's bar times).

    >>> iso_ns(1_709_562_600_000_000_000)
    '2024-03-04T14:30:00Z'
    """
    return iso(pd.Timestamp(int(ns), tz="UTC"))


def et(ts) -> str:
    """RFC 3339 in New York time (``-04:00``/``-05:00``), as ``/v2/clock`` writes it."""
    return to_timestamp(ts).tz_convert("America/New_York").isoformat()


_ACCOUNT_DROP = ("daytrading_buying_power", "pattern_day_trader", "daytrade_count")  # removed 2026-07-06 (§4)


def account_json(account) -> dict:
    data = dump(account)
    for key in _ACCOUNT_DROP:
        if data.get(key) is None:
            data.pop(key, None)
    return {k: v for k, v in data.items() if v is not None or k in ("crypto_status",)}


def asset_json(asset) -> dict:
    data = dump(asset)
    for key in ("min_order_size", "min_trade_increment", "price_increment"):
        if data.get(key) is not None:  # decimals are strings on the wire
            data[key] = _decimal(data[key])
    # The SimBroker's margin (30 % maintenance on longs, no shorting); the spec types the
    # deprecated field as a number and its successors as strings (§4).
    if data.get("maintenance_margin_requirement") is None:
        data["maintenance_margin_requirement"] = 30
    data.setdefault("margin_requirement_long", "30")
    data.setdefault("margin_requirement_short", "100")
    if data.get("attributes") is None:
        data["attributes"] = []
    return data


def _decimal(x: float) -> str:
    if isinstance(x, str):
        return x
    s = format(x, "f") if abs(x) >= 1e-4 or x == 0 else format(x, ".9f")
    return s.rstrip("0").rstrip(".") if "." in s else s


def clock_json(clock) -> dict:
    return {"timestamp": et(clock.timestamp), "is_open": bool(clock.is_open),
            "next_open": et(clock.next_open), "next_close": et(clock.next_close)}


# ---------------------------------------------------------------- requests
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
_SYMBOL = re.compile(r"^[A-Za-z][A-Za-z0-9.\-/]{0,19}$")


class Query:
    """Typed access to a query string, each parser naming the parameter it refuses."""

    def __init__(self, params) -> None:
        self.params = params

    def get(self, name: str) -> str | None:
        v = self.params.get(name)
        return None if v is None or v == "" else v

    def _convert(self, name: str, convert, what: str) -> tuple[str | None, Any]:
        """The raw value and ``convert(raw)`` (both None when absent); a refusal names ``what``."""
        v = self.get(name)
        if v is None:
            return None, None
        try:
            return v, convert(v)
        except ValueError:
            raise WireError(f"{name}: {v!r} is not {what}") from None

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        v = self.get(name)
        if v is None:
            return default
        if v.lower() in _TRUE:  # alpaca-py sends True/False capitalised (§5)
            return True
        if v.lower() in _FALSE:
            return False
        raise WireError(f"{name}: {v!r} is not a boolean (true or false)")

    def integer(self, name: str, default: int | None = None, *, lo: int | None = None,
                hi: int | None = None) -> int | None:
        v, n = self._convert(name, int, "an integer")
        if v is None:
            return default
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise WireError(f"{name}: {n} is out of range ({lo} to {hi})")
        return n

    def number(self, name: str, *, lo: float | None = None, hi: float | None = None) -> float | None:
        v, x = self._convert(name, float, "a number")
        if v is None:
            return None
        if not math.isfinite(x) or (lo is not None and x < lo) or (hi is not None and x > hi):
            raise WireError(f"{name}: {v!r} is out of range ({lo} to {hi})")
        return x

    def choice(self, name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
        v = self.get(name)
        if v is None:
            return default
        if v.lower() not in allowed:
            raise WireError(f"{name}: {v!r} is not one of {', '.join(allowed)}")
        return v.lower()

    def timestamp(self, name: str) -> pd.Timestamp | None:
        v = self.get(name)
        return None if v is None else parse_time(v, name)

    def symbols(self, name: str, required: bool = False) -> list[str] | None:
        v = self.get(name)
        if v is None:
            if required:
                raise WireError(f"{name}: missing (a comma-separated list of symbols)", 400, BAD_REQUEST)
            return None
        out = [s.strip().upper() for s in v.split(",") if s.strip()]
        bad = [s for s in out if not _SYMBOL.match(s)]
        if bad or not out:
            raise WireError(f"{name}: invalid symbol {bad[0] if bad else v!r}", 400, BAD_REQUEST)
        return out


def parse_time(value: str, name: str) -> pd.Timestamp:
    """An RFC 3339 timestamp or a date (a date is midnight UTC); naive times are UTC (as alpaca-py)."""
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}", value.strip()):
        raise WireError(f"{name}: {value!r} is not an RFC 3339 timestamp or a date", 422, INVALID)
    try:
        ts = pd.Timestamp(value.strip())
    except (ValueError, TypeError, OverflowError):
        raise WireError(f"{name}: {value!r} is not an RFC 3339 timestamp or a date", 422, INVALID) from None
    if ts is pd.NaT or not (1900 <= ts.year <= 2200):
        raise WireError(f"{name}: {value!r} is out of range", 422, INVALID)
    return to_timestamp(ts)


def validation_message(e: ValidationError) -> str:
    """One line naming each refused field, from a pydantic error of an alpaca-py request model."""
    parts = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"


async def json_body(request) -> dict:
    """The request's JSON object, or Alpaca's 400 for a body that is not one."""
    raw = await request.body()
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise WireError("request body format is invalid", 400, BAD_REQUEST) from None
    if not isinstance(data, dict):
        raise WireError("request body format is invalid (expected a JSON object)", 400, BAD_REQUEST)
    return data


def endpoint(fn):
    """Wrap an ``async def fn(request, venue)`` route: Alpaca's error bodies for refusals.

    ``WireError`` (bad input found here) and alpaca-py's ``APIError`` (a rule the SimBroker
    enforces) become Alpaca's ``{code, message}`` answers; anything else is a bug and
    propagates (the app answers 500, and tests must find none).
    """
    import functools

    from alpaca.common.exceptions import APIError
    from starlette.requests import ClientDisconnect

    @functools.wraps(fn)
    async def route(request):
        try:
            return await fn(request, request.app.state.venue)
        except WireError as e:
            return e.response()
        except APIError as e:
            return api_error_response(e)
        except ClientDisconnect:  # the client left before its body arrived: nothing to answer
            return Response(status_code=400)
    return route


async def call(venue, fn, *args, mutate: bool = False, **kwargs):
    """Run a broker call in a worker thread under the venue lock (``mutate``: publish and save)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(venue.mutate if mutate else venue.read, fn, *args, **kwargs)
