"""The venue's websockets driven by alpaca-py's real ``StockDataStream`` and ``TradingStream``.

Each test serves a flat $100,000 account on ``SimulatedMarket(seed=7)`` (daily bars) from a
:class:`~activetrader.server.Sandbox` starting Monday 2024-03-04 09:00 New York time, runs the
real alpaca-py client in a thread with ``url_override``, moves the clock with ``sb.advance_to``
and checks what the client's handlers received against the market's own bars and the orders
the REST API reports. Protocol details alpaca-py does not exercise (error codes, unsubscribe,
the JSON codec) are checked with a plain websockets client.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time

import msgpack
import pandas as pd
import pytest
from alpaca.data.live import StockDataStream
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import (GetOrderByIdRequest, LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest,
                                     StopLossRequest, TakeProfitRequest)
from alpaca.trading.stream import TradingStream
from websockets.sync.client import connect

from activetrader.market import SimulatedMarket
from activetrader.server import Sandbox

START = "2024-03-04 09:00-05:00"  # Monday, before the open
ET = "America/New_York"


@pytest.fixture(scope="module")
def market():
    return SimulatedMarket(seed=7)


@pytest.fixture
def sb(market):
    with Sandbox(market=market, start=START) as sandbox:
        yield sandbox


class Inbox:
    """An async handler for alpaca-py's streams that collects what it is given, thread-safely."""

    def __init__(self) -> None:
        self.items: list = []
        self._cond = threading.Condition()

    async def handle(self, item) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait(self, pred, timeout: float = 15.0, what: str = "") -> list:
        with self._cond:
            if not self._cond.wait_for(lambda: pred(self.items), timeout):
                raise AssertionError(f"timed out waiting for {what or pred}; received {self.items!r}")
            return list(self.items)

    def of(self, cls) -> list:
        with self._cond:
            return [x for x in self.items if isinstance(x, cls)]


def _until(pred, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def running(client, sb, kind: str, *, ready: bool = True):
    """Run an alpaca-py stream client in a thread; stop it (and its socket) on exit."""
    hub = sb.venue.streams
    thread = threading.Thread(target=client.run, daemon=True)
    thread.start()
    _until(lambda: client._loop is not None, what="the client's event loop")
    if ready:
        _until(lambda: hub.listeners(kind) >= 1, what=f"a {kind} stream connection ready for data")
    try:
        yield client
    finally:
        client.stop()
        hub.drop_all(kind)  # alpaca-py only notices a stop between receives: wake it up
        thread.join(15)
        assert not thread.is_alive(), "the stream client did not stop"


def _bars_frame(market, symbol: str, lo: str, hi: str) -> pd.DataFrame:
    as_of = market.as_of
    market.as_of = None
    try:
        return market.bars(symbol, start=lo, end=hi).loc[symbol]
    finally:
        market.as_of = as_of


# ---------------------------------------------------------------------------- market data
def test_data_stream_clock_advances_bars_and_trades_equal_market_bars(sb, market):
    """Bars of a week arrive as the clock passes each close: values equal ``market.bars``; one
    trade per bar at its close, stamped at the session's 16:00 close; nothing else."""
    inbox = Inbox()
    client = StockDataStream(sb.key_id, sb.secret_key, url_override=sb.data_stream_url)
    client.subscribe_bars(inbox.handle, "AAPL", "MSFT")
    client.subscribe_trades(inbox.handle, "AAPL")
    with running(client, sb, "data"):
        sb.advance_to("2024-03-08 16:00-05:00")  # Friday's close: Mon..Fri complete
        items = inbox.wait(lambda xs: len(xs) >= 15, what="5 bars x 2 symbols + 5 trades")
    from alpaca.data.models import Bar, Trade

    bars = [x for x in items if isinstance(x, Bar)]
    trades = [x for x in items if isinstance(x, Trade)]
    assert len(items) == 15 and len(bars) == 10 and len(trades) == 5
    for sym in ("AAPL", "MSFT"):
        want = _bars_frame(market, sym, "2024-03-04", "2024-03-08")
        got = [b for b in bars if b.symbol == sym]
        assert [b.timestamp for b in got] == list(want.index)
        for b, (_, row) in zip(got, want.iterrows()):
            assert (b.open, b.high, b.low, b.close, b.volume, b.vwap, b.trade_count) == pytest.approx(
                (row.open, row.high, row.low, row.close, row.volume, row.vwap, row.trade_count))
    want = _bars_frame(market, "AAPL", "2024-03-04", "2024-03-08")
    assert [t.symbol for t in trades] == ["AAPL"] * 5
    assert [t.price for t in trades] == pytest.approx(list(want.close))
    assert [t.timestamp for t in trades] == [pd.Timestamp(f"2024-03-0{d} 16:00", tz=ET) for d in (4, 5, 6, 7, 8)]
    assert {t.size for t in trades} == {100}
    # in time order: each day's trade and bars come before the next day's
    days = [pd.Timestamp(x.timestamp).tz_convert(ET).date() for x in items]
    assert days == sorted(days)


def test_data_stream_bar_in_progress_not_sent_until_complete(sb, market):
    """At Monday noon Monday's bar is not complete: nothing is sent; at its 16:00 close it is, once."""
    inbox = Inbox()
    client = StockDataStream(sb.key_id, sb.secret_key, url_override=sb.data_stream_url)
    client.subscribe_bars(inbox.handle, "SPY")
    with running(client, sb, "data"):
        sb.advance_to("2024-03-04 12:00-05:00")
        time.sleep(0.5)  # a frame sent now would have arrived by then (localhost)
        assert inbox.items == []
        sb.advance_to("2024-03-04 16:00-05:00")
        inbox.wait(lambda xs: len(xs) == 1, what="Monday's bar")
        sb.advance_to("2024-03-05 10:00-05:00")
        time.sleep(0.5)
    (bar,) = inbox.items
    want = _bars_frame(market, "SPY", "2024-03-04", "2024-03-04")
    assert bar.timestamp == want.index[0] and bar.close == pytest.approx(want.close.iloc[0])


def test_data_stream_hourly_market_bars_in_time_order_then_daily_bar_at_close():
    """On an hourly market one advance over a day sends each hourly bar (native, extended hours
    included) in time order, each with its quote, and the session's daily bar (``dailyBars``)
    at the 16:00 close, its values the market's own 1Day aggregate."""
    hourly = SimulatedMarket(seed=3, start="2024-03-01", end="2024-03-29", timeframe="1Hour")
    with Sandbox(market=hourly, start="2024-03-05 00:00-05:00") as hsb:
        inbox = Inbox()
        client = StockDataStream(hsb.key_id, hsb.secret_key, url_override=hsb.data_stream_url)
        client.subscribe_bars(inbox.handle, "QQQ")
        client.subscribe_daily_bars(inbox.handle, "QQQ")
        client.subscribe_quotes(inbox.handle, "QQQ")
        with running(client, hsb, "data"):
            hsb.advance_to("2024-03-05 23:59-05:00")
            hourly.as_of = None
            want = hourly.bars("QQQ", start="2024-03-05", end="2024-03-05").loc["QQQ"]
            day = hourly.bars("QQQ", start="2024-03-05", end="2024-03-05", timeframe="1Day").loc["QQQ"]
            hsb.advance_to("2024-03-06 00:00-05:00")  # puts the market's as_of back in step
            items = inbox.wait(lambda xs: len(xs) >= 2 * len(want) + 1, what="hourly bars, quotes, the daily bar")
    from alpaca.data.models import Bar, Quote

    assert len(want) >= 7 and len(items) == 2 * len(want) + 1
    quotes = [x for x in items if isinstance(x, Quote)]
    bars = [x for x in items if isinstance(x, Bar)]
    (daily,) = [b for b in bars if b.timestamp == day.index[0]]
    hour_bars = [b for b in bars if b is not daily]
    assert [b.timestamp for b in hour_bars] == list(want.index)
    assert [b.close for b in hour_bars] == pytest.approx(list(want.close))
    assert [q.bid_price for q in quotes] == [q.ask_price for q in quotes] == pytest.approx(list(want.close))
    assert daily.timestamp == day.index[0] and (daily.open, daily.high, daily.low, daily.close, daily.volume) == \
        pytest.approx((day.open.iloc[0], day.high.iloc[0], day.low.iloc[0], day.close.iloc[0], day.volume.iloc[0]))
    # the daily bar comes at the 16:00 close, right after the session's last bar (15:30-16:00)
    a = hourly.arrays("QQQ")
    last_regular = a.start[a.end.searchsorted(pd.Timestamp("2024-03-05 16:00", tz=ET).value)]
    before = [x for x in items[:items.index(daily)] if isinstance(x, Bar)]
    assert pd.Timestamp(before[-1].timestamp).value == last_regular
    assert pd.Timestamp(last_regular, tz="UTC").tz_convert(ET) == pd.Timestamp("2024-03-05 15:30", tz=ET)


def test_data_stream_bad_keys_refused_with_auth_failed(sb, caplog):
    """A wrong secret gets error 402 "auth failed": alpaca-py logs it and never receives data
    (it keeps retrying with backoff, as it does against Alpaca)."""
    inbox = Inbox()
    client = StockDataStream(sb.key_id, "not-the-secret", url_override=sb.data_stream_url)
    client.subscribe_bars(inbox.handle, "AAPL")
    with caplog.at_level(logging.ERROR, logger="alpaca.data.live.websocket"):
        with running(client, sb, "data", ready=False):
            _until(lambda: any("auth failed" in r.getMessage() for r in caplog.records), what="auth failed")
            assert sb.venue.streams.listeners("data") == 0
            sb.advance_to("2024-03-05 16:00-05:00")
            time.sleep(0.3)
    assert inbox.items == []


def _raw_data_socket(sb, *, msgpack_codec: bool = True):
    headers = {"Content-Type": "application/msgpack"} if msgpack_codec else {}
    return connect(sb.data_stream_url, additional_headers=headers, open_timeout=5)


def _err(code: int, msg: str) -> dict:
    return {"T": "error", "code": code, "msg": msg}


def _ask(ws, msg):
    ws.send(msgpack.packb(msg))
    return msgpack.unpackb(ws.recv(timeout=5))


def test_data_stream_protocol_errors_and_subscription_echo(sb):
    """The handshake and errors of alpaca-contract.md §7: 401 before auth, 402 wrong keys (and
    the socket closed), 403 auth twice, 400 bad syntax; ``subscription`` lists the whole set."""
    with _raw_data_socket(sb) as ws:
        assert msgpack.unpackb(ws.recv(timeout=5)) == [{"T": "success", "msg": "connected"}]
        assert _ask(ws, {"action": "subscribe", "bars": ["AAPL"]}) == [_err(401, "not authenticated")]
        assert _ask(ws, {"action": "auth", "key": sb.key_id, "secret": "wrong"}) == [_err(402, "auth failed")]
        with pytest.raises(Exception, match="1000|closed"):
            ws.recv(timeout=5)
    with _raw_data_socket(sb) as ws:
        ws.recv(timeout=5)
        auth = {"action": "auth", "key": sb.key_id, "secret": sb.secret_key}
        assert _ask(ws, auth) == [{"T": "success", "msg": "authenticated"}]
        assert _ask(ws, auth) == [_err(403, "already authenticated")]
        ws.send(b"\xc1not msgpack")
        assert msgpack.unpackb(ws.recv(timeout=5)) == [_err(400, "invalid syntax")]
        (sub,) = _ask(ws, {"action": "subscribe", "trades": ["AAPL"], "bars": ["MSFT", "AAPL"]})
        assert sub["T"] == "subscription" and sub["trades"] == ["AAPL"] and sub["bars"] == ["AAPL", "MSFT"]
        (sub,) = _ask(ws, {"action": "unsubscribe", "bars": ["MSFT"]})
        assert sub["bars"] == ["AAPL"] and sub["trades"] == ["AAPL"] and sub["quotes"] == []
        sb.advance_to("2024-03-04 16:00-05:00")
        frame = msgpack.unpackb(ws.recv(timeout=5))
    assert [(m["T"], m["S"]) for m in frame] == [("t", "AAPL"), ("b", "AAPL")]
    assert isinstance(frame[0]["t"], msgpack.Timestamp)  # §7: msgpack Timestamp extension


def test_data_stream_json_codec_quotes_and_wildcard(sb, market):
    """Without the msgpack header the stream speaks JSON (Alpaca's default codec); ``*``
    subscribes every symbol; a quote is bid = ask = the bar's close."""
    with _raw_data_socket(sb, msgpack_codec=False) as ws:
        assert json.loads(ws.recv(timeout=5)) == [{"T": "success", "msg": "connected"}]
        ws.send(json.dumps({"action": "auth", "key": sb.key_id, "secret": sb.secret_key}))
        assert json.loads(ws.recv(timeout=5))[0]["msg"] == "authenticated"
        ws.send(json.dumps({"action": "subscribe", "quotes": ["*"]}))
        assert json.loads(ws.recv(timeout=5))[0]["quotes"] == ["*"]
        sb.advance_to("2024-03-04 16:00-05:00")
        frame = json.loads(ws.recv(timeout=5))
    assert sorted(m["S"] for m in frame) == sorted(market.symbols)
    aapl = next(m for m in frame if m["S"] == "AAPL")
    close = _bars_frame(market, "AAPL", "2024-03-04", "2024-03-04").close.iloc[0]
    assert aapl["T"] == "q" and aapl["bp"] == aapl["ap"] == pytest.approx(close)
    assert aapl["t"] == "2024-03-04T21:00:00Z"


# ---------------------------------------------------------------------------- trade updates
def test_trading_stream_bracket_entry_fill_then_stop_loss_exit(sb, market):
    """A bracket's life on ``trade_updates``, against the REST view of the same orders.

    Path (SimulatedMarket seed 7): AAPL closed 193.82 on Fri 03-01. Buy 10 at market with
    TP 222.89 (+15 %) and SL 190.00. Mon 03-04 opens 193.93 (the entry fills there; the TP leg
    goes ``new``), Mon's and Tue's lows (191.67, 190.08) stay above 190.00, Wed 03-06 opens
    191.11 and trades down to 185.97: the stop fills at 190.00 and cancels the TP.
    Expected: new(entry) → fill(entry @ Mon open, position 10) → new(TP) → fill(SL @ 190.00,
    position 0) → canceled(TP).
    """
    bars = _bars_frame(market, "AAPL", "2024-03-01", "2024-03-08")
    assert bars.close.iloc[0] == pytest.approx(193.82, abs=0.005)
    assert bars.low.iloc[1] > 190 and bars.low.iloc[2] > 190 and bars.open.iloc[3] > 190 > bars.low.iloc[3]
    inbox = Inbox()
    stream = TradingStream(sb.key_id, sb.secret_key, paper=True, url_override=sb.trading_stream_url)
    stream.subscribe_trade_updates(inbox.handle)
    rest = TradingClient(sb.key_id, sb.secret_key, url_override=sb.url)
    with running(stream, sb, "trading"):
        entry = rest.submit_order(MarketOrderRequest(
            symbol="AAPL", qty=10, side="buy", time_in_force="gtc", order_class="bracket",
            take_profit=TakeProfitRequest(limit_price=222.89), stop_loss=StopLossRequest(stop_price=190.00)))
        inbox.wait(lambda xs: len(xs) == 1, what="the entry's new")
        sb.advance_to("2024-03-08 16:00-05:00")
        updates = inbox.wait(lambda xs: len(xs) >= 5, what="five updates")
    time.sleep(0.2)
    assert len(inbox.items) == 5
    nested = rest.get_order_by_id(entry.id, filter=GetOrderByIdRequest(nested=True))
    tp, sl = sorted(nested.legs, key=lambda o: o.type.value)  # limit, stop
    assert [(u.event.value if hasattr(u.event, "value") else u.event, u.order.id) for u in updates] == [
        ("new", entry.id), ("fill", entry.id), ("new", tp.id), ("fill", sl.id), ("canceled", tp.id)]
    new, fill, tp_new, sl_fill, tp_cancel = updates
    assert new.timestamp == pd.Timestamp(START) and new.order.status.value == "new" and new.order.legs is None
    assert fill.price == pytest.approx(bars.open.iloc[1], abs=0.01) == float(nested.filled_avg_price)
    assert fill.qty == 10 and fill.position_qty == 10
    assert fill.timestamp == pd.Timestamp("2024-03-04 09:30", tz=ET) == nested.filled_at
    assert tp_new.order.status.value == "new" and tp_new.order.limit_price == "222.89"
    assert sl_fill.price == 190.00 and sl_fill.qty == 10 and sl_fill.position_qty == 0
    assert sl_fill.timestamp == sl.filled_at
    assert pd.Timestamp(sl_fill.timestamp).tz_convert(ET).date().isoformat() == "2024-03-06"
    assert tp_cancel.order.status.value == "canceled" and tp_cancel.timestamp == sl_fill.timestamp == tp.canceled_at
    # the order in each update is the REST serialisation at that moment
    assert sl_fill.order.model_dump() == sl.model_dump()


def test_trading_stream_replace_cancel_expire_events(sb):
    """``replaced`` carries the old order and ``new`` the replacement; a cancel is ``canceled``
    at the venue's time; a DAY order still open at the 16:00 close is ``expired`` then."""
    inbox = Inbox()
    stream = TradingStream(sb.key_id, sb.secret_key, paper=True, url_override=sb.trading_stream_url)
    stream.subscribe_trade_updates(inbox.handle)
    rest = TradingClient(sb.key_id, sb.secret_key, url_override=sb.url)
    with running(stream, sb, "trading"):
        day = rest.submit_order(LimitOrderRequest(symbol="MSFT", qty=1, side="buy", time_in_force="day", limit_price=150))
        gtc = rest.submit_order(LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="gtc", limit_price=150))
        sb.advance_to("2024-03-04 09:10-05:00")
        moved = rest.replace_order_by_id(gtc.id, ReplaceOrderRequest(limit_price=151))
        rest.cancel_order_by_id(moved.id)
        sb.advance_to("2024-03-04 16:00-05:00")
        updates = inbox.wait(lambda xs: len(xs) >= 6, what="six updates")
    events = [(u.event.value if hasattr(u.event, "value") else u.event, u.order.id) for u in updates]
    assert events == [("new", day.id), ("new", gtc.id), ("replaced", gtc.id), ("new", moved.id),
                      ("canceled", moved.id), ("expired", day.id)]
    replaced = updates[2]
    assert replaced.order.replaced_by == moved.id and replaced.timestamp == pd.Timestamp("2024-03-04 09:10", tz=ET)
    assert updates[4].timestamp == pd.Timestamp("2024-03-04 09:10", tz=ET)
    assert updates[5].timestamp == pd.Timestamp("2024-03-04 16:00", tz=ET)
    assert all(u.position_qty == 0 and u.price is None for u in updates)


def test_trading_stream_bad_keys_unauthorized(sb):
    """A wrong secret is answered ``unauthorized`` and the socket closed; the ``auth`` form of
    the current docs is accepted too (alpaca-contract.md §7)."""
    with connect(sb.trading_stream_url, open_timeout=5) as ws:
        ws.send(json.dumps({"action": "authenticate", "data": {"key_id": sb.key_id, "secret_key": "wrong"}}))
        assert json.loads(ws.recv(timeout=5)) == {"stream": "authorization",
                                                  "data": {"status": "unauthorized", "action": "authenticate"}}
        with pytest.raises(Exception, match="1000|closed"):
            ws.recv(timeout=5)
    with connect(sb.trading_stream_url, open_timeout=5) as ws:
        ws.send(json.dumps({"action": "auth", "key": sb.key_id, "secret": sb.secret_key}))
        assert json.loads(ws.recv(timeout=5))["data"]["status"] == "authorized"
        ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert json.loads(ws.recv(timeout=5)) == {"stream": "listening", "data": {"streams": ["trade_updates"]}}


def test_trading_stream_client_bad_keys_never_listens(sb, caplog):
    inbox = Inbox()
    stream = TradingStream(sb.key_id, "wrong", paper=True, url_override=sb.trading_stream_url)
    stream.subscribe_trade_updates(inbox.handle)
    with caplog.at_level(logging.ERROR, logger="alpaca.trading.stream"):
        with running(stream, sb, "trading", ready=False):
            _until(lambda: any("failed to authenticate" in r.getMessage() for r in caplog.records),
                   what="failed to authenticate")
            TradingClient(sb.key_id, sb.secret_key, url_override=sb.url).submit_order(
                LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="gtc", limit_price=150))
            time.sleep(0.3)
            assert sb.venue.streams.listeners("trading") == 0
    assert inbox.items == []


# ---------------------------------------------------------------------------- dropped connections
def test_streams_dropped_connections_alpaca_py_reconnects_and_resubscribes(sb):
    """A dropped socket (close 1011) is seen by both clients, which reconnect by themselves
    (after alpaca-py's backoff of about a second), authenticate, subscribe or listen again, and
    then receive what happens next. What happened while they were away is not replayed (as at
    Alpaca): Monday's bar and the first order, both during the gap, never arrive."""
    bars, updates = Inbox(), Inbox()
    data = StockDataStream(sb.key_id, sb.secret_key, url_override=sb.data_stream_url)
    data.subscribe_bars(bars.handle, "AAPL")
    trading = TradingStream(sb.key_id, sb.secret_key, paper=True, url_override=sb.trading_stream_url)
    trading.subscribe_trade_updates(updates.handle)
    hub = sb.venue.streams
    with running(data, sb, "data"), running(trading, sb, "trading"):
        assert hub.accepted == {"data": 1, "trading": 1}
        rest = TradingClient(sb.key_id, sb.secret_key, url_override=sb.url)
        assert hub.drop_all() == 2
        sb.advance_to("2024-03-04 16:00-05:00")  # in the gap
        gap = rest.submit_order(LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="gtc", limit_price=150))
        _until(lambda: hub.accepted == {"data": 2, "trading": 2} and hub.listeners("data") == 1
               and hub.listeners("trading") == 1, what="both clients back")
        sb.advance_to("2024-03-05 16:00-05:00")
        after = rest.submit_order(LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="gtc", limit_price=151))
        bars.wait(lambda xs: len(xs) == 1, what="a bar after the reconnect")
        updates.wait(lambda xs: len(xs) == 1, what="an update after the reconnect")
        time.sleep(0.3)
    assert [pd.Timestamp(b.timestamp).tz_convert(ET).date().isoformat() for b in bars.items] == ["2024-03-05"]
    assert [u.order.id for u in updates.items] == [after.id] and gap.id != after.id


def test_streams_fault_rule_drop_first_connection_then_data(sb):
    """``POST /admin/faults`` with ``drop`` on the stream's path cuts the first connection right
    after the handshake; alpaca-py reconnects and gets its data. The upgrade is counted."""
    import requests

    auth = {"APCA-API-KEY-ID": sb.key_id, "APCA-API-SECRET-KEY": sb.secret_key}
    r = requests.post(sb.url + "/admin/faults", json={"path": "/v2/iex", "drop": True, "times": 1},
                      headers=auth, timeout=5)
    assert r.status_code in (200, 201), r.text
    inbox = Inbox()
    client = StockDataStream(sb.key_id, sb.secret_key, url_override=sb.data_stream_url)
    client.subscribe_trades(inbox.handle, "AAPL")
    with running(client, sb, "data"):
        sb.advance_to("2024-03-04 16:00-05:00")
        inbox.wait(lambda xs: len(xs) == 1, what="a trade")
    assert sb.request_counts["GET /v2/iex"] == 2


def test_streams_fault_rule_status_refuses_handshake_then_trading_client_listens(sb):
    """A ``status`` rule refuses the websocket upgrade with HTTP 503; alpaca-py's TradingStream
    treats it as a connection error, reconnects and listens; updates then flow."""
    sb.add_fault(path="/stream", status=503, times=1)
    inbox = Inbox()
    stream = TradingStream(sb.key_id, sb.secret_key, paper=True, url_override=sb.trading_stream_url)
    stream.subscribe_trade_updates(inbox.handle)
    with running(stream, sb, "trading"):
        order = TradingClient(sb.key_id, sb.secret_key, url_override=sb.url).submit_order(
            LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="gtc", limit_price=150))
        (update,) = inbox.wait(lambda xs: len(xs) == 1, what="the new order's update")
    assert update.order.id == order.id and sb.request_counts["GET /stream"] == 2
    assert sb.venue.streams.accepted["trading"] == 1  # the refused handshake never became a connection
