"""Market data routes under ``/v2/stocks``, served from the venue's market at the venue's time.

Only bars complete by the venue's ``now`` exist (the broker keeps the market's ``as_of`` at its
``now``), so a client can never see the future.

* **Bars** (``/v2/stocks/bars``, ``/v2/stocks/{symbol}/bars``) are the market's own bars
  (``market.bars``) in any timeframe the market can build (its native one, coarser multiples,
  ``1Day``). Paging is Alpaca's: at most ``limit`` bars per page counted across symbols
  (default 1000, at most 10000), symbols in alphabetical order, and ``next_page_token`` until
  the last page; the token names the last bar sent, so pages stay consistent while the clock
  moves. A missing ``start`` means the start of the current New York day, as at Alpaca.
* **Trades** are derived from bars, as there are no ticks: one trade per complete native bar,
  at its close, stamped at the bar's end (when the close is known), size ``TRADE_SIZE``,
  exchange ``V`` (IEX). **Quotes** likewise: one per bar, at its end, with bid = ask = the close
  (a zero spread) and sizes of 1. This is the same trade and quote the market's own
  ``get_stock_latest_trade``/``get_stock_snapshot`` give.
* **Latest** trade, quote and bar, and **snapshots**, as Alpaca shapes them (§6: snapshots have
  no wrapper). Unknown symbols are left out, as Alpaca leaves out symbols without data.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
from starlette.routing import Route

from ..broker.errors import NOT_FOUND
from ..market.frames import TRADE_SIZE, iso_times, parse_timeframe
from ..market.sessions import ET
from . import wire
from .wire import BAD_REQUEST, Query, WireError, call, endpoint, ok

_FEEDS = ("iex", "sip", "delayed_sip", "otc", "boats", "overnight")
_ADJUSTMENTS = ("raw", "split", "dividend", "spin-off", "all")
_MAX_LIMIT = 10_000


def _tape(symbol: str) -> str:
    """Tape of a listing (A: NYSE, B: ARCA and other exchanges, C: NASDAQ)."""
    return "B" if symbol in ("SPY", "QQQ", "SH", "SPXS", "SQQQ") else "C"


def _common(q: Query) -> None:
    q.choice("feed", _FEEDS)
    q.choice("adjustment", _ADJUSTMENTS)
    q.choice("currency", ("usd",))


def _timeframe(q: Query, market) -> str:
    raw = q.get("timeframe")
    if raw is None:
        raise WireError("timeframe: missing (e.g. 1Day, 1Hour, 15Min)", 400, BAD_REQUEST)
    try:
        tf = parse_timeframe(raw)[0]
        native, native_ns = parse_timeframe(market.timeframe)
        want_ns = parse_timeframe(tf)[1]
    except ValueError as e:
        raise WireError(f"invalid timeframe: {e}", 400, BAD_REQUEST) from None
    ok_tf = tf == native or tf == "1Day" or (native_ns is not None and want_ns is not None
                                             and want_ns > native_ns and want_ns % native_ns == 0)
    if not ok_tf:
        raise WireError(f"invalid timeframe: {tf} cannot be built from this venue's {native} bars "
                        "(use it, a coarser multiple, or 1Day)", 400, BAD_REQUEST)
    return tf


def _known(market, symbols: list[str]) -> list[str]:
    return sorted({s for s in symbols if s in market})


def _day_start(now: pd.Timestamp) -> pd.Timestamp:
    return now.tz_convert(ET).normalize().tz_convert("UTC")


def _token(symbol: str, ns: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([symbol, int(ns)]).encode()).decode().rstrip("=")


def _untoken(token: str) -> tuple[str, int]:
    try:
        symbol, ns = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(symbol, str) or not isinstance(ns, int):
            raise ValueError
        return symbol, ns
    except (ValueError, TypeError):
        raise WireError("page_token: invalid page token", 400, BAD_REQUEST) from None


def _bar_json(t: str, o, h, lo, c, v, n, vw) -> dict:
    return {"t": t, "o": o, "h": h, "l": lo, "c": c, "v": int(v) if float(v).is_integer() else v,
            "n": None if n != n else int(n), "vw": None if vw != vw else vw}


def _bars_page(venue, symbols, tf, start, end, limit, token, desc) -> tuple[dict[str, list], str | None]:
    market = venue.market
    known = _known(market, symbols)
    if start is None:
        start = _day_start(venue.now)
    if not known or (end is not None and end < start):
        return {}, None
    frame = market.bars(known, start=start, end=end, timeframe=tf)
    syms = frame.index.get_level_values(0).to_numpy(dtype=object)
    ns = frame.index.get_level_values(1).as_unit("ns").asi8
    order = np.lexsort((-ns if desc else ns, syms)) if len(ns) else np.empty(0, dtype=np.int64)
    syms, ns = syms[order], ns[order]
    cols = [frame[c].to_numpy()[order] for c in ("open", "high", "low", "close", "volume", "trade_count", "vwap")]
    i0 = 0
    if token is not None:
        s0, t0 = _untoken(token)
        after = (syms > s0) | ((syms == s0) & ((ns < t0) if desc else (ns > t0)))
        hits = np.flatnonzero(after)
        i0 = int(hits[0]) if len(hits) else len(ns)
    i1 = min(i0 + min(limit, venue.page_size), len(ns))
    out: dict[str, list] = {}
    rows = zip(syms[i0:i1].tolist(), iso_times(ns[i0:i1]), *(col[i0:i1].tolist() for col in cols))
    for sym, *bar in rows:
        out.setdefault(sym, []).append(_bar_json(*bar))
    nxt = _token(syms[i1 - 1], ns[i1 - 1]) if i1 < len(ns) else None
    return out, nxt


def _page_args(q: Query):
    """``start, end, limit, page_token, descending?`` of a historical request, each checked."""
    start, end = q.timestamp("start"), q.timestamp("end")
    limit = q.integer("limit", 1000, lo=1, hi=_MAX_LIMIT)
    token = q.get("page_token")
    if token is not None:
        _untoken(token)
    desc = q.choice("sort", ("asc", "desc"), "asc") == "desc"
    return start, end, limit, token, desc


def _bars_args(venue, q: Query):
    _common(q)
    tf = _timeframe(q, venue.market)
    start, end, limit, token, desc = _page_args(q)
    q.timestamp("asof")
    return tf, start, end, limit, token, desc


@endpoint
async def get_bars(request, venue):
    q = Query(request.query_params)
    symbols = q.symbols("symbols", required=True)
    args = _bars_args(venue, q)
    bars, nxt = await call(venue, _bars_page, venue, symbols, *args)
    return ok({"bars": bars, "next_page_token": nxt})


@endpoint
async def get_symbol_bars(request, venue):
    q = Query(request.query_params)
    symbol = _path_symbol(request)
    args = _bars_args(venue, q)
    bars, nxt = await call(venue, _bars_page, venue, [symbol], *args)
    return ok({"bars": bars.get(symbol, []), "symbol": symbol, "next_page_token": nxt})


def _path_symbol(request) -> str:
    raw = request.path_params["symbol"]
    return Query({"s": raw}).symbols("s", required=True)[0]


# ---------------------------------------------------------------- trades and quotes (from bars)
def _ticks(venue, symbols, start, end, limit, token, desc, kind: str) -> tuple[dict[str, list], str | None]:
    market = venue.market
    now_ns = int(venue.now.value)
    lo = int(start.value) if start is not None else int(_day_start(venue.now).value)
    hi = int(end.value) if end is not None else now_ns
    rows: list[tuple[str, int, float]] = []
    for sym in _known(market, symbols):
        arr = market.arrays(sym)
        n = arr.complete_by(now_ns)
        i0 = int(np.searchsorted(arr.end[:n], lo, side="left"))
        i1 = int(np.searchsorted(arr.end[:n], hi, side="right"))
        idx = range(i1 - 1, i0 - 1, -1) if desc else range(i0, i1)
        rows.extend((sym, int(arr.end[i]), float(arr.close[i]), i) for i in idx)
    if token is not None:
        s0, t0 = _untoken(token)
        rows = [r for r in rows if r[0] > s0 or (r[0] == s0 and ((r[1] < t0) if desc else (r[1] > t0)))]
    limit = min(limit, venue.page_size)
    page, rest = rows[:limit], rows[limit:]
    out: dict[str, list] = {}
    times = _iso_times(np.array([r[1] for r in page], dtype=np.int64))
    for (sym, _, price, i), t in zip(page, times):
        out.setdefault(sym, []).append(_tick_json(kind, sym, t, price, i))
    nxt = _token(page[-1][0], page[-1][1]) if rest else None
    return out, nxt


def _iso_times(ns: np.ndarray) -> list[str]:
    """``wire.iso`` of each int-ns instant: in one batch when all are whole seconds (bars always are)."""
    if (ns % 1_000_000_000).any():
        return [wire.iso_ns(t) for t in ns]
    return iso_times(ns)


def _tick_json(kind: str, symbol: str, t: str | int, price: float, i: int) -> dict:
    """A trade or quote of bar ``i``'s close at time ``t`` (RFC 3339 for REST, int ns for the stream)."""
    if kind == "trades":
        return {"t": t, "x": "V", "p": price, "s": TRADE_SIZE, "c": ["@"], "i": i + 1, "z": _tape(symbol)}
    return {"t": t, "ax": "V", "ap": price, "as": 1, "bx": "V", "bp": price, "bs": 1, "c": ["R"], "z": _tape(symbol)}


def _tick_route(kind: str):
    @endpoint
    async def route(request, venue):
        q = Query(request.query_params)
        symbols = q.symbols("symbols", required=True)
        _common(q)
        start, end, limit, token, desc = _page_args(q)
        items, nxt = await call(venue, _ticks, venue, symbols, start, end, limit, token, desc, kind)
        return ok({kind: items, "next_page_token": nxt})
    route.__name__ = f"get_{kind}"
    return route


# ---------------------------------------------------------------- latest and snapshots
def _latest(venue, symbols, kind: str) -> dict:
    market = venue.market
    now_ns = int(venue.now.value)
    out = {}
    known = _known(market, symbols)
    if kind == "bars":
        if known:
            frame = market.bars(known, timeframe=market.timeframe, limit=1)
            for (sym, ts), row in zip(frame.index, frame.itertuples(index=False)):
                out[sym] = _bar_json(wire.iso(ts), *map(float, row))
        return out
    for sym in known:
        arr = market.arrays(sym)
        n = arr.complete_by(now_ns)
        if n:
            out[sym] = _tick_json(kind, sym, wire.iso_ns(arr.end[n - 1]), float(arr.close[n - 1]), n - 1)
    return out


def _latest_route(kind: str):
    @endpoint
    async def route(request, venue):
        q = Query(request.query_params)
        symbols = q.symbols("symbols", required=True)
        _common(q)
        return ok({kind: await call(venue, _latest, venue, symbols, kind)})
    route.__name__ = f"get_latest_{kind}"
    return route


def _snapshots(venue, symbols) -> dict:
    market = venue.market
    trades = _latest(venue, symbols, "trades")
    quotes = _latest(venue, symbols, "quotes")
    minute = _latest(venue, symbols, "bars")
    known = _known(market, symbols)
    daily: dict[str, list] = {}
    if known:
        frame = market.bars(known, timeframe="1Day", limit=2)
        for (sym, ts), row in zip(frame.index, frame.itertuples(index=False)):
            daily.setdefault(sym, []).append(_bar_json(wire.iso(ts), *map(float, row)))
    out = {}
    for sym in known:
        d = daily.get(sym, [])
        out[sym] = {"latestTrade": trades.get(sym), "latestQuote": quotes.get(sym), "minuteBar": minute.get(sym),
                    "dailyBar": d[-1] if d else None, "prevDailyBar": d[-2] if len(d) > 1 else None}
    return out


@endpoint
async def get_snapshots(request, venue):
    q = Query(request.query_params)
    symbols = q.symbols("symbols", required=True)
    _common(q)
    return ok(await call(venue, _snapshots, venue, symbols))


@endpoint
async def get_snapshot(request, venue):
    q = Query(request.query_params)
    symbol = _path_symbol(request)
    _common(q)
    snaps = await call(venue, _snapshots, venue, [symbol])
    if symbol not in snaps:
        raise WireError(f"no data for symbol {symbol}", 404, NOT_FOUND)
    return ok({"symbol": symbol, **snaps[symbol]})


routes = [
    Route("/v2/stocks/bars", get_bars, methods=["GET"]),
    Route("/v2/stocks/trades", _tick_route("trades"), methods=["GET"]),
    Route("/v2/stocks/quotes", _tick_route("quotes"), methods=["GET"]),
    Route("/v2/stocks/bars/latest", _latest_route("bars"), methods=["GET"]),
    Route("/v2/stocks/trades/latest", _latest_route("trades"), methods=["GET"]),
    Route("/v2/stocks/quotes/latest", _latest_route("quotes"), methods=["GET"]),
    Route("/v2/stocks/snapshots", get_snapshots, methods=["GET"]),
    Route("/v2/stocks/{symbol}/bars", get_symbol_bars, methods=["GET"]),
    Route("/v2/stocks/{symbol}/snapshot", get_snapshot, methods=["GET"]),
]
