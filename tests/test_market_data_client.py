"""The StockHistoricalDataClient drop-ins and ``bars()``: shapes, as_of (no look-ahead), limits."""

import warnings
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from activetrader.market import HistoricalMarket, SimulatedMarket, UnknownSymbolError

with warnings.catch_warnings():
    # alpaca-py 0.44 imports websockets.legacy, deprecated upstream (also ignored in pyproject)
    warnings.filterwarnings("ignore", message="websockets.legacy is deprecated", category=DeprecationWarning)
    from alpaca.data.models import BarSet, Snapshot, Trade
    from alpaca.data.requests import StockBarsRequest, StockLatestTradeRequest, StockSnapshotRequest
    from alpaca.data.timeframe import TimeFrame


@pytest.fixture(scope="module")
def market():
    return SimulatedMarket(seed=7, start="2024-01-02", end="2024-06-28")


@pytest.fixture(scope="module")
def hourly():
    return SimulatedMarket(seed=7, start="2024-01-02", end="2024-06-28", timeframe="1Hour")


@pytest.fixture(autouse=True)
def _reset_as_of(market, hourly):
    yield
    market.as_of = hourly.as_of = None


def _days(frame: pd.DataFrame, symbol: str) -> list[str]:
    stamps = frame.loc[symbol].index.tz_convert("America/New_York")
    return stamps.strftime("%Y-%m-%d").tolist()


def test_get_stock_bars_returns_barset_with_alpaca_df_shape(market):
    req = StockBarsRequest(symbol_or_symbols=["SPY", "AAPL"], timeframe=TimeFrame.Day,
                           start=datetime(2024, 3, 1), end=datetime(2024, 3, 8))
    bs = market.get_stock_bars(req)
    assert isinstance(bs, BarSet)  # alpaca-py's class (a subclass whose .df does not warn)
    df = bs.df
    assert df.index.names == ["symbol", "timestamp"]
    assert list(df.columns) == ["open", "high", "low", "close", "volume", "trade_count", "vwap"]
    assert df.loc["AAPL"].index[0] == pd.Timestamp("2024-03-01 05:00", tz="UTC")
    assert _days(df, "SPY") == ["2024-03-01", "2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07"]
    assert bs["AAPL"][0].close == market.arrays("AAPL").close[int(np.searchsorted(
        market.arrays("AAPL").start, pd.Timestamp("2024-03-01", tz="UTC").value))]


def test_get_stock_bars_matches_bars_frame(market):
    req = StockBarsRequest(symbol_or_symbols=["MSFT", "SH"], timeframe=TimeFrame.Day, start=datetime(2024, 2, 1))
    via_client = market.get_stock_bars(req).df
    direct = market.bars(["MSFT", "SH"], start="2024-02-01")
    pd.testing.assert_frame_equal(via_client, direct, check_index_type=False)
    assert (via_client.index.get_level_values("timestamp") == direct.index.get_level_values("timestamp")).all()


def test_get_stock_bars_as_of_mid_session_hides_todays_daily_bar(market):
    req = StockBarsRequest(symbol_or_symbols="AAPL", timeframe=TimeFrame.Day, start=datetime(2024, 3, 1))
    market.as_of = pd.Timestamp("2024-03-06 12:00", tz="America/New_York")
    assert _days(market.get_stock_bars(req).df, "AAPL")[-1] == "2024-03-05"
    market.as_of = pd.Timestamp("2024-03-06 16:00", tz="America/New_York")
    assert _days(market.get_stock_bars(req).df, "AAPL")[-1] == "2024-03-06"


def test_get_stock_bars_hourly_aggregated_to_day_only_after_close(hourly):
    req = StockBarsRequest(symbol_or_symbols="SPY", timeframe=TimeFrame.Day, start=datetime(2024, 3, 4))
    hourly.as_of = pd.Timestamp("2024-03-06 15:59", tz="America/New_York")
    assert _days(hourly.get_stock_bars(req).df, "SPY")[-1] == "2024-03-05"
    hourly.as_of = pd.Timestamp("2024-03-06 16:00", tz="America/New_York")
    assert _days(hourly.get_stock_bars(req).df, "SPY")[-1] == "2024-03-06"
    hourly.as_of = pd.Timestamp("2024-03-06 15:59", tz="America/New_York")
    hours = hourly.bars("SPY", "2024-03-06", timeframe="1Hour").loc["SPY"].index
    assert hours[-1] == pd.Timestamp("2024-03-06 14:30", tz="America/New_York")  # the 15:30 bar is not complete


def test_get_stock_bars_without_start_begins_at_current_day(market):
    market.as_of = pd.Timestamp("2024-03-07 10:00", tz="America/New_York")
    req = StockBarsRequest(symbol_or_symbols="AAPL", timeframe=TimeFrame.Day)
    assert market.get_stock_bars(req).data == {}
    market.as_of = pd.Timestamp("2024-03-07 16:30", tz="America/New_York")
    assert _days(market.get_stock_bars(req).df, "AAPL") == ["2024-03-07"]


def test_get_stock_bars_limit_counts_across_symbols_in_alphabetical_order(market):
    req = StockBarsRequest(symbol_or_symbols=["MSFT", "AAPL"], timeframe=TimeFrame.Day,
                           start=datetime(2024, 1, 2), end=datetime(2024, 1, 10), limit=7)
    bs = market.get_stock_bars(req)
    assert len(bs["AAPL"]) == 6 and len(bs["MSFT"]) == 1


def test_bars_limit_keeps_most_recent_bars_per_symbol(market):
    market.as_of = "2024-03-06 21:00"
    frame = market.bars(["AAPL", "KO"], limit=3)
    assert _days(frame, "AAPL") == _days(frame, "KO") == ["2024-03-04", "2024-03-05", "2024-03-06"]


def test_bars_date_bounds_are_inclusive_new_york_days(market):
    frame = market.bars("AAPL", "2024-03-04", "2024-03-06")
    assert _days(frame, "AAPL") == ["2024-03-04", "2024-03-05", "2024-03-06"]


def test_bars_finer_than_native_timeframe_raises(market):
    with pytest.raises(ValueError, match="cannot be built"):
        market.bars("AAPL", timeframe="1Hour")


def test_latest_trade_is_last_complete_close_stamped_at_bar_end(hourly):
    hourly.as_of = pd.Timestamp("2024-03-06 11:00", tz="America/New_York")
    trade = hourly.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols=["NVDA"]))["NVDA"]
    a = hourly.arrays("NVDA")
    i = a.complete_by(hourly.as_of.value) - 1
    assert isinstance(trade, Trade)
    assert trade.price == a.close[i] == a.last_close(hourly.as_of.value)
    assert pd.Timestamp(trade.timestamp) == pd.Timestamp("2024-03-06 10:30", tz="America/New_York")


def test_snapshot_has_trade_quote_and_complete_daily_bars(hourly):
    hourly.as_of = pd.Timestamp("2024-03-06 11:00", tz="America/New_York")
    snap = hourly.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols="AAPL"))["AAPL"]
    assert isinstance(snap, Snapshot)
    assert snap.latest_quote.bid_price == snap.latest_quote.ask_price == snap.latest_trade.price
    assert snap.minute_bar.close == snap.latest_trade.price
    assert pd.Timestamp(snap.daily_bar.timestamp) == pd.Timestamp("2024-03-05", tz="America/New_York")
    assert pd.Timestamp(snap.previous_daily_bar.timestamp) == pd.Timestamp("2024-03-04", tz="America/New_York")


def test_snapshot_before_first_bar_has_no_data(market):
    market.as_of = "2024-01-02 15:00"
    snap = market.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols="AAPL"))["AAPL"]
    assert snap.latest_trade is None and snap.daily_bar is None
    assert market.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAPL")) == {}


@pytest.mark.parametrize("call", ["bars", "get_stock_bars", "get_stock_latest_trade", "get_stock_snapshot"])
def test_data_methods_unknown_symbol_raise_with_did_you_mean(market, call):
    requests = {"get_stock_bars": StockBarsRequest(symbol_or_symbols=["AAPL", "NVDAA"], timeframe=TimeFrame.Day),
                "get_stock_latest_trade": StockLatestTradeRequest(symbol_or_symbols="NVDAA"),
                "get_stock_snapshot": StockSnapshotRequest(symbol_or_symbols="NVDAA")}
    with pytest.raises(UnknownSymbolError, match="unknown symbol 'NVDAA' \\(did you mean 'NVDA'\\?\\)"):
        getattr(market, call)(requests.get(call, ["NVDAA"]))


def test_historical_market_has_the_same_data_methods():
    df = pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "open": [10.0, 10.5], "high": [11.0, 10.9],
                       "low": [9.8, 10.1], "close": [10.5, 10.2], "volume": [1000, 1200]})
    m = HistoricalMarket({"ABC": df})
    m.as_of = "2024-01-03 20:59"
    trade = m.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="ABC"))["ABC"]
    assert trade.price == 10.5
    bars = m.bars("ABC")
    assert len(bars) == 1 and np.isnan(bars["trade_count"]).all()


def test_bars_for_200_symbols_has_one_block_per_symbol():
    m = SimulatedMarket(seed=3, start="2024-01-02", end="2024-05-28", symbols=195)
    m.as_of = "2024-05-20 21:00"
    frame = m.bars(m.symbols)
    counts = frame.groupby(level="symbol").size()
    assert len(counts) == 200 and (counts == counts.iloc[0]).all()
    assert frame.index.get_level_values("timestamp").max() == pd.Timestamp("2024-05-20 04:00", tz="UTC")
