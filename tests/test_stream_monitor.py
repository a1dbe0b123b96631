"""The streaming monitor: near-stop warnings within one message, trailing stops on each price,
subscriptions that follow the positions; on the simulated stream and on the local venue's
real websockets (alpaca-py's StockDataStream and TradingStream), including a dropped stream."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from alpaca.data.enums import DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.live import StockDataStream
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import GetOrdersRequest
from alpaca.trading.stream import TradingStream
from scenario import bracket, et, hourly_market

from activetrader import Settings, Trader
from activetrader.alpaca import AlpacaClient
from activetrader.broker import SimBroker
from activetrader.live.monitor import StreamMonitor
from activetrader.live.stream import AlpacaStream
from activetrader.server import Sandbox


def _hours(closes: list[float], day: str = "2024-03-04", lows: dict[int, float] | None = None) -> list[tuple]:
    """Hourly bars from 09:30 ET: bar k opens at the previous close and closes at ``closes[k]``."""
    rows, prev = [], closes[0]
    for k, c in enumerate(closes):
        start = pd.Timestamp(f"{day} 09:30") + pd.Timedelta(hours=k)
        low = (lows or {}).get(k, min(prev, c))
        rows.append((str(start), prev, max(prev, c), low, c))
        prev = c
    return rows


def _settings(trailing: float | None = None) -> Settings:
    s = Settings()
    s.bracket.trailing_stop_pct = trailing
    return s


def _sim(closes, *, trailing=None, lows=None, journal=None):
    """A SimBroker on an hourly market of AAA, holding 10 AAA bought at the 09:30 open (100)
    with a bracket (take-profit 115, stop 95); the clock at 10:30, when that first bar is
    complete and the entry filled (the monitor then sees bars 1, 2, ... as they complete)."""
    b = SimBroker(hourly_market({"AAA": _hours(closes, lows=lows)}), cash=100_000, start=et("2024-03-04 09:00"))
    b.submit_order(bracket("AAA", 10, tp=115.0, sl=95.0))
    trader = Trader(broker=b, settings=_settings(trailing), journal=journal)
    b.advance_to(et("2024-03-04 10:30"))
    assert float(b.get_open_position("AAA").qty) == 10
    monitor = StreamMonitor.for_trader(trader)
    monitor.start()
    return b, trader, monitor


def _hour(trader, monitor, k: int) -> None:
    """Let hourly bar k (09:30 + k h) complete and the stream deliver it."""
    trader.advance(et("2024-03-04 09:30") + pd.Timedelta(hours=k + 1))
    monitor.pump()


def _stop_legs(b) -> dict:
    (top,) = [o for o in b.get_orders(GetOrdersRequest(status="all", nested=True)) if o.order_class.value == "bracket"]
    return {leg.type.value: leg for leg in top.legs}


# ---------------------------------------------------------------- simulated stream
def test_monitor_price_crossing_the_warning_band_warns_within_one_message():
    # Stop 95; the 2% band starts at 96.94 (95 / 0.98). Closes: 99 (4.0% above), 98, 97.5 (2.6%),
    # 96.9 (1.96%: inside) -> the warning comes with that very message; 97 (2.06%) leaves the
    # band and re-arms it; 96.5 (1.6%) warns again.
    b, trader, monitor = _sim([100, 99, 98, 97.5, 96.9, 97, 96.5])
    seen = []
    for k in range(1, 7):
        _hour(trader, monitor, k)
        seen.append(len(monitor.warnings))
    assert monitor.ticks == 6
    assert seen == [0, 0, 0, 1, 1, 2]
    first, second = monitor.warnings
    assert (first.symbol, first.price, first.stop) == ("AAA", 96.9, 95.0)
    assert first.describe() == "NEAR STOP AAA: price $96.90 is 2.0% above its stop $95.00"
    assert second.price == 96.5


def test_monitor_trailing_stop_ratchets_on_each_new_high_and_keeps_the_take_profit(tmp_path):
    # trailing 5%: bought at 100; closes 100 (stop stays 95), 104 -> 98.80, 110 -> 104.50, 108 (no new high).
    b, trader, monitor = _sim([100, 100, 104, 110, 108], trailing=0.05, journal=tmp_path / "j.sqlite")
    stops = []
    for k in range(1, 5):
        _hour(trader, monitor, k)
        stops.append(float(_stop_legs(b)["stop"].stop_price))
    assert stops == [95.0, 98.80, 104.50, 104.50]
    assert float(_stop_legs(b)["limit"].limit_price) == 115.0
    assert [(a.old_stop, a.new_stop, a.accepted) for a in monitor.actions] == [(95.0, 98.8, True), (98.8, 104.5, True)]
    entries = trader.journal.iterations()
    assert entries["mode"].tolist() == ["stream", "stream"] and entries["complete"].all()
    assert trader.journal.orders()["client_order_id"].str.startswith("at-s-").all()
    trader.close()


def test_monitor_subscription_follows_the_positions():
    # trailing 5% raises the stop to 104.50 at the 110 close; the next bar trades down to 103:
    # the stop fills, the fill event refreshes the monitor, and AAA leaves the subscription.
    b, trader, monitor = _sim([100, 110, 106], trailing=0.05, lows={2: 103.0})
    assert monitor.stream.symbols == frozenset({"AAA"})
    for k in range(1, 3):
        _hour(trader, monitor, k)
    assert b.get_all_positions() == []
    assert monitor.stream.symbols == frozenset()


# ---------------------------------------------------------------- the venue's websockets
@pytest.fixture
def venue():
    # AAA: hourly bars 09:30-15:30 on 2024-03-04, closes 100, 99, 98, 97.5, 96.9, 97, 96.5.
    market = hourly_market({"AAA": _hours([100, 99, 98, 97.5, 96.9, 97, 96.5])})
    with Sandbox(market=market, cash=100_000, start=et("2024-03-04 09:00")) as sb:
        yield sb


def _venue_monitor(sb):
    trading = AlpacaClient(TradingClient(sb.key_id, sb.secret_key, url_override=sb.url))
    trading.submit_order(bracket("AAA", 10, tp=115.0, sl=95.0))
    sb.advance_to(et("2024-03-04 10:30"))  # the first bar is complete: the entry filled at 100
    data = StockHistoricalDataClient(sb.key_id, sb.secret_key, url_override=sb.url)
    trader = Trader(broker=trading, market=data, settings=_settings())
    stream = AlpacaStream(StockDataStream(sb.key_id, sb.secret_key, feed=DataFeed.IEX, url_override=sb.data_stream_url),
                          TradingStream(sb.key_id, sb.secret_key, url_override=sb.trading_stream_url))
    monitor = StreamMonitor(trader, stream)
    monitor.start()
    return trader, monitor


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _subscribed(sb) -> bool:
    return sb.venue.streams.listeners("data") >= 1


def test_venue_stream_price_crossing_the_band_warns_within_one_message(venue):
    trader, monitor = _venue_monitor(venue)
    try:
        _wait(lambda: _subscribed(venue))
        for k in range(1, 4):   # 99, 98, 97.5: outside the band
            venue.advance_to(et("2024-03-04 09:30") + pd.Timedelta(hours=k + 1))
        _wait(lambda: monitor.ticks == 3)
        assert len(monitor.warnings) == 0
        venue.advance_to(et("2024-03-04 14:30"))   # 96.9: the fourth message
        _wait(lambda: monitor.ticks == 4)
        assert [(w.symbol, w.price) for w in monitor.warnings] == [("AAA", 96.9)]
    finally:
        monitor.stop()


def test_venue_dropped_stream_reconnects_and_resubscribes(venue):
    trader, monitor = _venue_monitor(venue)
    try:
        _wait(lambda: _subscribed(venue))
        venue.advance_to(et("2024-03-04 11:30"))   # 99
        _wait(lambda: monitor.ticks == 1)
        # The venue drops the data socket, and refuses (drops) the first reconnection as well.
        venue.add_fault(path="/v2/iex", drop=True, times=1)
        assert venue.venue.streams.drop_all("data") >= 1
        _wait(lambda: not _subscribed(venue), timeout=10)
        _wait(lambda: _subscribed(venue), timeout=60)      # alpaca-py reconnected and subscribed again
        for k in range(2, 5):   # 98, 97.5, 96.9 after the reconnection
            venue.advance_to(et("2024-03-04 09:30") + pd.Timedelta(hours=k + 1))
        _wait(lambda: monitor.ticks == 4)
        assert [w.price for w in monitor.warnings] == [96.9]
    finally:
        monitor.stop()
