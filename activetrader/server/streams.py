"""The venue's two websockets: market data (as ``StockDataStream`` speaks it) and ``trade_updates``.

Both follow alpaca-contract.md §7; the venue's app mounts :func:`websocket_routes` and the
:class:`~activetrader.server.venue.Venue` calls the hub after every clock advance and every order
mutation (from whichever thread made it; the hub hands frames to each connection's event loop).

**Market data** (``/v2/iex``, ``/v2/sip``, ``/v2/test``): msgpack frames when the client sends
``Content-Type: application/msgpack`` (alpaca-py always does), else JSON text (Alpaca's default
codec). ``[{"T":"success","msg":"connected"}]`` on connect; ``auth`` → ``authenticated`` or error
402; ``subscribe``/``unsubscribe`` → a ``subscription`` message listing the whole current set
(``*`` means every symbol). As simulated time passes, every bar of a subscribed symbol that is
*complete* by the new clock time and was not by the old one is sent, in time order:

* ``b`` (bars): the market's native bars, the same values ``GET /v2/stocks/bars`` serves;
* ``t`` (trades): **one synthetic trade per bar, at its close**, stamped at the bar's end, size
  ``market.frames.TRADE_SIZE``, exchange ``V`` (no tick data here; the trade ``/v2/stocks/trades``
  serves, in the same wire shape);
* ``q`` (quotes): bid = ask = that close, sizes 1, at the bar's end (a zero spread, as the
  REST snapshot's quote);
* ``d`` (dailyBars): each session's daily bar once its session has closed.

``updatedBars``, ``statuses`` and the rest are accepted and listed but never sent (the market has
no corrections or halts). Within one instant a trade comes before its quote and its bar.

**Trade updates** (``/stream``): JSON in binary frames (as paper sends them); auth with
``{"action":"authenticate","data":{"key_id","secret_key"}}`` or ``{"action":"auth","key","secret"}``,
answered by ``authorization`` (authorized, or unauthorized and the connection closed), then
``listen`` → ``listening``. Each order change the venue publishes
(:class:`~activetrader.server.venue.OrderChange`: ``new``, ``fill``, ``canceled``, ``expired``,
``replaced``; a held bracket leg is announced ``new`` when it becomes active) becomes one
message with ``timestamp`` (when it happened in simulated time), ``order`` exactly as
``GET /v2/orders/{id}`` serialises it (legs null: legs come as their own events) and the signed
``position_qty`` after it; a fill adds that execution's ``price``, ``qty`` and an
``execution_id``. The SimBroker fills whole orders and refuses bad orders at submission (the
REST answer), so ``partial_fill`` and ``rejected`` are never sent by this venue.

Faults: the venue's fault rules (``POST /admin/faults``) apply to the websocket upgrade, a
``GET`` of the stream's path (``/v2/iex``, ``/stream``): ``status`` refuses the handshake,
``hang`` delays it, ``drop`` closes the new connection at once. :meth:`StreamHub.drop_all`
drops live connections (``venue.streams.drop_all()``). A drop is a close with code 1011;
alpaca-py's clients then reconnect by themselves (after a 1-2 s backoff), authenticate and
subscribe again. Whatever happens while a client is away is not replayed (as at Alpaca).

A client speaking the data stream by hand (alpaca-py's ``StockDataStream`` does the same):

>>> from websockets.sync.client import connect
>>> from activetrader.server import Sandbox
>>> with Sandbox() as sb, connect(sb.data_stream_url, additional_headers={"Content-Type": "application/msgpack"}) as ws:
...     hello = msgpack.unpackb(ws.recv(timeout=10))
...     ws.send(msgpack.packb({"action": "auth", "key": sb.key_id, "secret": sb.secret_key}))
...     auth = msgpack.unpackb(ws.recv(timeout=10))
...     ws.send(msgpack.packb({"action": "subscribe", "bars": ["SPY"], "trades": ["SPY"]}))
...     sub = msgpack.unpackb(ws.recv(timeout=10))
...     sb.advance_to(sb.now + pd.Timedelta(days=1))  # past the session's 16:00 close
...     frame = msgpack.unpackb(ws.recv(timeout=10))
>>> hello, auth, sub[0]["bars"]
([{'T': 'success', 'msg': 'connected'}], [{'T': 'success', 'msg': 'authenticated'}], ['SPY'])
>>> [(m["T"], m["S"], m["t"].to_datetime().isoformat()) for m in frame]
[('t', 'SPY', '2024-08-27T20:00:00+00:00'), ('b', 'SPY', '2024-08-27T04:00:00+00:00')]
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np
import pandas as pd
from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ..market.frames import parse_timeframe
from ..market.sessions import to_ns
from . import wire
from .data import _bar_json, _tick_json  # one wire shape for REST and stream

log = logging.getLogger(__name__)

#: Subscription channels of the data stream, in the order ``subscription`` lists them (D-RT).
DATA_CHANNELS = ["trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds",
                 "corrections", "cancelErrors"]
#: Feeds served at ``/v2/{feed}`` (alpaca-py accepts iex and sip; ``test`` is Alpaca's test stream).
FEEDS = ("iex", "sip", "test")
#: Seconds a data client has to authenticate before error 404 (D-RT "auth timeout").
AUTH_TIMEOUT = 10.0
#: Close code of a dropped connection (server error: alpaca-py reconnects).
DROP_CODE = 1011

_KIND_RANK = {"t": 0, "q": 1, "b": 2, "d": 3}


# ---------------------------------------------------------------------------- connections
@dataclass(eq=False)
class _Conn:
    ws: WebSocket
    kind: str  # "data" | "trading"
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    msgpack: bool = True
    authenticated: bool = False
    listening: bool = False
    subs: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in DATA_CHANNELS})

    def push(self, item) -> None:
        """Queue a frame (or a close) from any thread."""
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class _Drop:
    """Queue marker: close the connection as a dropped one."""


# ---------------------------------------------------------------------------- the hub
class StreamHub:
    """The venue's websocket connections and the events they are sent.

    Created by :func:`websocket_routes`; the venue calls it with each of its events:
    ``("advanced", prev, now)`` after a clock move and ``("orders", [OrderChange, ...])`` after
    order changes. Connections live on the server's event loop; the hub only queues frames.
    """

    def __init__(self, venue) -> None:
        self.venue = venue
        self._lock = threading.Lock()
        self._conns: list[_Conn] = []
        #: Connections accepted so far, per kind (tests read it to see reconnects).
        self.accepted = {"data": 0, "trading": 0}

    @property
    def broker(self):
        return self.venue.broker

    @property
    def market(self):
        return self.venue.broker.market

    def routes(self) -> list[WebSocketRoute]:
        return [WebSocketRoute("/v2/{feed}", self._data_endpoint),
                WebSocketRoute("/stream", self._trading_endpoint)]

    def connections(self, kind: str | None = None) -> int:
        """Open connections (authenticated or not), of one kind or all."""
        with self._lock:
            return sum(1 for c in self._conns if kind is None or c.kind == kind)

    def listeners(self, kind: str) -> int:
        """Connections ready for data: authenticated ``data`` ones with a subscription, or
        ``trading`` ones listening to ``trade_updates``."""
        with self._lock:
            if kind == "data":
                return sum(1 for c in self._conns if c.kind == "data" and c.authenticated
                           and any(c.subs.values()))
            return sum(1 for c in self._conns if c.kind == "trading" and c.listening)

    def drop_all(self, kind: str | None = None) -> int:
        """Drop every open connection (of one kind): the "drop the connection" fault. Returns how many."""
        with self._lock:
            conns = [c for c in self._conns if kind is None or c.kind == kind]
        for c in conns:
            c.push(_Drop)
        return len(conns)

    # -- venue events (any thread, with the venue's lock held) ----------------------------
    def __call__(self, event: tuple) -> None:
        with self._lock:  # subscriptions change on the event loop: work on a copy
            conns = [(c, {k: set(v) for k, v in c.subs.items()}) for c in self._conns]
        if event[0] == "advanced":
            prev, now = to_ns(event[1]), to_ns(event[2])
            for c, subs in conns:
                if c.kind == "data" and c.authenticated and now > prev:
                    for frame in self._data_frames(subs, c.msgpack, prev, now):
                        c.push(frame)
        elif event[0] == "orders":
            listeners = [c for c, _ in conns if c.kind == "trading" and c.listening]
            if listeners:
                frames = [_update_frame(change) for change in event[1]]
                for c in listeners:
                    for frame in frames:
                        c.push(frame)

    # -- market data ----------------------------------------------------------------------
    def _symbols(self, subs: dict[str, set[str]], channel: str) -> list[str]:
        wanted = subs[channel]
        if "*" in wanted:
            return list(self.market.symbols)
        return sorted(s for s in wanted if s in self.market)

    def _data_frames(self, subs: dict[str, set[str]], packed: bool, prev: int, now: int) -> list[Any]:
        """The messages for bars complete in (prev, now], grouped in one frame per instant."""
        entries: list[tuple[int, str, str, dict]] = []
        tf = self.market.timeframe
        for sym in sorted(set(self._symbols(subs, "trades")) | set(self._symbols(subs, "quotes"))):
            a = self.market.arrays(sym)
            i0, i1 = a.complete_by(prev), a.complete_by(now)
            for i, end, close in zip(range(i0, i1), a.end[i0:i1].tolist(), a.close[i0:i1].tolist()):
                for channel, kind in (("trades", "t"), ("quotes", "q")):
                    if sym in subs[channel] or "*" in subs[channel]:
                        entries.append((end, sym, kind, _tick_json(channel, sym, end, close, i)))
        for channel, kind, timeframe in (("bars", "b", tf), ("dailyBars", "d", "1Day")):
            for sym in self._symbols(subs, channel):
                for end, bar in self._bars_between(sym, timeframe, prev, now):
                    entries.append((end, sym, kind, bar))
        entries.sort(key=lambda e: (e[0], e[1], _KIND_RANK[e[2]]))
        frames, current, at = [], [], None
        for end, sym, kind, body in entries:
            if end != at and current:
                frames.append(_encode(packed, current))
                current = []
            at = end
            msg = {"T": kind, "S": sym, **body}
            msg.setdefault("t", end)
            current.append(msg)
        if current:
            frames.append(_encode(packed, current))
        return frames

    def _bars_between(self, sym: str, timeframe: str, prev: int, now: int) -> list[tuple[int, dict]]:
        """``(end ns, bar message body)`` of ``sym``'s bars complete in (prev, now], from the market's
        own bar frame (``Market.bars``), so the values are the REST endpoint's."""
        mkt = self.market
        daily = parse_timeframe(timeframe)[1] is None
        cal = mkt.calendar
        # Most clock ticks complete no bar: answer those without building a frame.
        if daily:
            k = int(np.searchsorted(cal.closes, prev, side="right"))
            if k >= len(cal.closes) or cal.closes[k] > now:
                return []
            lo = cal.day_stamps[k]
        else:
            a = mkt.arrays(sym)
            i0 = a.complete_by(prev)
            if a.complete_by(now) == i0:
                return []
            lo = int(a.start[i0])
        df = mkt.bars(sym, start=pd.Timestamp(lo, tz="UTC"), timeframe=timeframe)
        out = []
        labels = df.index.get_level_values("timestamp").as_unit("ns").asi8 if len(df) else []
        if daily:
            ends = cal.closes[np.searchsorted(cal.day_stamps, np.asarray(labels, dtype=np.int64))] if len(df) else []
        else:
            a = mkt.arrays(sym)
            ends = a.end[np.searchsorted(a.start, np.asarray(labels, dtype=np.int64))] if len(df) else []
        for label, end, row in zip(labels, ends, df.itertuples(index=False)):
            end = int(end)
            if not prev < end <= now:
                continue
            out.append((end, {**_bar_json("", row.open, row.high, row.low, row.close, row.volume, row.trade_count,
                                          row.vwap), "t": int(label)}))
        return out

    # -- endpoints --------------------------------------------------------------------------
    def _register(self, conn: _Conn) -> None:
        with self._lock:
            self._conns.append(conn)
            self.accepted[conn.kind] += 1

    def _unregister(self, conn: _Conn) -> None:
        with self._lock:
            if conn in self._conns:
                self._conns.remove(conn)

    async def _accept(self, ws: WebSocket, kind: str) -> _Conn | None:
        """Accept a connection unless a venue fault rule (``POST /admin/faults``) fires on it.

        The upgrade is a ``GET`` of the stream's path, counted and matched like any request:
        ``status`` refuses the handshake with that HTTP status, ``hang`` waits first, ``drop``
        accepts and closes at once (code 1011), as a connection lost right after connecting.
        """
        faults = getattr(getattr(ws.app, "state", None), "faults", None) if "app" in ws.scope else None
        rule = faults.pick("GET", ws.url.path) if faults is not None else None
        if rule is not None and rule.status is not None:
            await ws.send_denial_response(Response(status_code=rule.status))
            return None
        if rule is not None and rule.hang is not None:
            await asyncio.sleep(rule.hang)
        await ws.accept()
        if rule is not None and rule.drop:
            await ws.close(code=DROP_CODE)
            return None
        conn = _Conn(ws, kind, asyncio.get_running_loop(),
                     msgpack=kind == "data" and "msgpack" in ws.headers.get("content-type", ""))
        self._register(conn)
        return conn

    async def _data_endpoint(self, ws: WebSocket) -> None:
        feed = ws.path_params["feed"]
        if feed not in FEEDS:
            await ws.close(code=1008, reason=f"unknown feed {feed!r}: use one of {', '.join(FEEDS)}")
            return
        conn = await self._accept(ws, "data")
        if conn is None:
            return
        try:
            await _send_data(conn, [{"T": "success", "msg": "connected"}])
            await _pump(conn, self._on_data_message)
        finally:
            self._unregister(conn)

    async def _trading_endpoint(self, ws: WebSocket) -> None:
        conn = await self._accept(ws, "trading")
        if conn is None:
            return
        try:
            await _pump(conn, self._on_trading_message)
        finally:
            self._unregister(conn)

    async def _on_data_message(self, conn: _Conn, raw) -> bool:
        """Handle one client message; False closes the connection."""
        try:
            msg = msgpack.unpackb(raw) if isinstance(raw, bytes) else json.loads(raw)
        except Exception:
            await _send_data(conn, [_error(400, "invalid syntax")])
            return True
        action = msg.get("action") if isinstance(msg, dict) else None
        if action == "auth":
            if conn.authenticated:
                await _send_data(conn, [_error(403, "already authenticated")])
                return True
            if not self._keys_ok(msg.get("key"), msg.get("secret")):
                await _send_data(conn, [_error(402, "auth failed")])
                return False
            conn.authenticated = True
            await _send_data(conn, [{"T": "success", "msg": "authenticated"}])
            return True
        if not conn.authenticated:
            await _send_data(conn, [_error(401, "not authenticated")])
            return True
        if action not in ("subscribe", "unsubscribe"):
            await _send_data(conn, [_error(400, "invalid syntax")])
            return True
        lists = {k: v for k, v in msg.items() if k in DATA_CHANNELS}
        if not all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in lists.values()):
            await _send_data(conn, [_error(400, "invalid syntax")])
            return True
        with self._lock:
            for k, syms in lists.items():
                (conn.subs[k].update if action == "subscribe" else conn.subs[k].difference_update)(syms)
            reply = {"T": "subscription", **{k: sorted(conn.subs[k]) for k in DATA_CHANNELS}}
        await _send_data(conn, [reply])
        return True

    async def _on_trading_message(self, conn: _Conn, raw) -> bool:
        try:
            msg = json.loads(raw)
        except Exception:
            await _send_json(conn, {"stream": "error", "data": {"error_message": "invalid syntax"}})
            return True
        action = msg.get("action") if isinstance(msg, dict) else None
        data = msg.get("data") if isinstance(msg, dict) and isinstance(msg.get("data"), dict) else {}
        if action in ("authenticate", "auth"):
            key = data.get("key_id", msg.get("key"))
            secret = data.get("secret_key", msg.get("secret"))
            ok = self._keys_ok(key, secret)
            conn.authenticated = ok
            await _send_json(conn, {"stream": "authorization",
                                    "data": {"status": "authorized" if ok else "unauthorized",
                                             "action": "authenticate"}})
            return ok
        if action == "listen":
            if not conn.authenticated:
                await _send_json(conn, {"stream": "authorization",
                                        "data": {"status": "unauthorized", "action": "listen"}})
                return True
            streams = data.get("streams") or []
            conn.listening = isinstance(streams, list) and "trade_updates" in streams
            await _send_json(conn, {"stream": "listening",
                                    "data": {"streams": ["trade_updates"] if conn.listening else []}})
            return True
        await _send_json(conn, {"stream": "error", "data": {"error_message": f"unknown action {action!r}"}})
        return True

    def _keys_ok(self, key, secret) -> bool:
        return isinstance(key, str) and isinstance(secret, str) and self.venue.authorized(key, secret)


def _encode(packed: bool, msgs: list[dict]) -> bytes | str:
    """One data frame: msgpack with ``t`` as a msgpack Timestamp, or JSON with RFC 3339 ``t``.

    >>> _encode(False, [{"T": "t", "S": "AAPL", "p": 193.79, "s": 100, "t": 1_709_586_000_000_000_000}])
    '[{"T": "t", "S": "AAPL", "p": 193.79, "s": 100, "t": "2024-03-04T21:00:00Z"}]'
    >>> msgpack.unpackb(_encode(True, [{"T": "b", "S": "SPY", "t": 1_709_586_000_000_000_000}]))[0]["t"].to_datetime()
    datetime.datetime(2024, 3, 4, 21, 0, tzinfo=datetime.timezone.utc)
    """
    if packed:
        for m in msgs:
            m["t"] = msgpack.Timestamp.from_unix_nano(int(m["t"]))
        return msgpack.packb(msgs)
    for m in msgs:
        m["t"] = wire.iso_ns(m["t"])
    return json.dumps(msgs)


async def _send_data(conn: _Conn, msgs: list[dict]) -> None:
    if conn.msgpack:
        await conn.ws.send_bytes(msgpack.packb(msgs))
    else:
        await conn.ws.send_text(json.dumps(msgs))


async def _send_json(conn: _Conn, obj: dict) -> None:
    await conn.ws.send_bytes(json.dumps(obj).encode())


async def _pump(conn: _Conn, handle) -> None:
    """Serve one connection: client messages to ``handle``, queued frames to the client."""
    ws = conn.ws

    async def reader():
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("bytes") if message.get("bytes") is not None else message.get("text")
            if not await handle(conn, raw):
                return

    async def auth_deadline():
        if conn.kind != "data":
            return await asyncio.Event().wait()
        await asyncio.sleep(AUTH_TIMEOUT)
        if not conn.authenticated:
            await _send_data(conn, [_error(404, "auth timeout")])
            return
        await asyncio.Event().wait()

    async def writer():
        while True:
            item = await conn.queue.get()
            if item is _Drop:
                await ws.close(code=DROP_CODE)
                return
            if isinstance(item, bytes):
                await ws.send_bytes(item)
            else:
                await ws.send_text(item)

    tasks = [asyncio.ensure_future(t()) for t in (reader, writer, auth_deadline)]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t.exception() is not None:  # the client went away mid-send, most likely
                log.debug("stream connection ended: %r", t.exception())
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if ws.application_state == WebSocketState.CONNECTED and ws.client_state == WebSocketState.CONNECTED:
        try:
            await ws.close()
        except (RuntimeError, WebSocketDisconnect):  # the client left meanwhile
            pass


# ---------------------------------------------------------------------------- helpers
def websocket_routes(venue) -> list[WebSocketRoute]:
    """The stream routes of ``venue``; the hub subscribes to the venue's events.

    The hub is kept as ``venue.streams`` (tests and faults reach it there).
    """
    hub = StreamHub(venue)
    venue.streams = hub
    venue.subscribe(hub)
    return hub.routes()


def _error(code: int, msg: str) -> dict:
    return {"T": "error", "code": code, "msg": msg}


def _dec(x: float) -> str:
    """A decimal on the wire as a string, as Alpaca writes them (``"10"``, ``"101.25"``)."""
    r = round(float(x), 9)
    return str(int(r)) if r == int(r) else repr(r)


def _update_frame(change) -> bytes:
    """One ``trade_updates`` message from the venue's :class:`~activetrader.server.venue.OrderChange`."""
    order = wire.dump(change.order)
    ns = to_ns(change.timestamp)
    data = {"event": change.event, "timestamp": wire.iso_ns(ns), "order": order,
            "position_qty": _dec(change.position_qty)}
    if change.qty is not None:
        data["execution_id"] = str(uuid.uuid5(uuid.UUID(str(order["id"])), f"exec:{ns}"))
        data["price"] = _dec(change.price)
        data["qty"] = _dec(change.qty)
    return json.dumps({"stream": "trade_updates", "data": data}).encode()
