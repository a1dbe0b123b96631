"""Market data from the local venue through alpaca-py's real StockHistoricalDataClient."""

from __future__ import annotations

import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import (StockBarsRequest, StockLatestBarRequest, StockLatestQuoteRequest,
                                  StockLatestTradeRequest, StockQuotesRequest, StockSnapshotRequest,
                                  StockTradesRequest)
from alpaca.data.timeframe import TimeFrame

from activetrader.market import SimulatedMarket
from activetrader.market.frames import TRADE_SIZE
from activetrader.server import Sandbox

KEY, SECRET = "test-key-server-data", "sandbox-data-secret-for-tests-0000"
NOW = pd.Timestamp("2024-06-28 17:00", tz="America/New_York")  # after the last session's close
SYMBOLS = ["AAPL", "MSFT", "SPY"]


def _market(timeframe: str = "1Day") -> SimulatedMarket:
    return SimulatedMarket(seed=3, start="2024-01-02", end="2024-06-28", timeframe=timeframe)


@pytest.fixture(scope="module")
def sb():
    """Venue at NOW with pages of at most 100 bars, so every multi-symbol request pages."""
    with Sandbox(_market(), start=NOW, key_id=KEY, secret_key=SECRET, page_size=100) as box:
        yield box


def _data(sb) -> StockHistoricalDataClient:
    return StockHistoricalDataClient(sb.key_id, sb.secret_key, url_override=sb.url)


def _bars_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got[["open", "high", "low", "close", "volume"]]
    want = want[["open", "high", "low", "close", "volume"]]
    assert list(got.index) == list(want.index)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False)


def test_multi_symbol_daily_bars_across_several_pages_equal_the_markets_own_bars(sb):
    sb.reset_counts()
    req = StockBarsRequest(symbol_or_symbols=SYMBOLS, timeframe=TimeFrame.Day,
                           start=pd.Timestamp("2024-01-01", tz="UTC"), feed="iex")
    got = _data(sb).get_stock_bars(req).df
    # 3 symbols x 124 sessions (2024-01-02 .. 2024-06-28) = 372 bars; pages of 100 -> 4 requests.
    assert len(got) == 3 * 124
    assert sb.request_counts == {"GET /v2/stocks/bars": 4}
    _bars_equal(got, _market().bars(SYMBOLS, start="2024-01-02", end="2024-06-28"))


def test_bars_limit_counts_across_symbols_in_alphabetical_order(sb):
    got = _data(sb).get_stock_bars(StockBarsRequest(symbol_or_symbols=["SPY", "AAPL"], timeframe=TimeFrame.Day,
                                                    start=pd.Timestamp("2024-01-01", tz="UTC"), limit=130)).df
    # Alpaca pages symbol by symbol: all 124 AAPL bars, then the first 6 SPY bars.
    counts = got.groupby(level="symbol").size().to_dict()
    assert counts == {"AAPL": 124, "SPY": 6}


def test_bars_sort_desc_and_end_bound(sb):
    raw = requests.get(sb.url + "/v2/stocks/bars", timeout=30,
                       headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET},
                       params={"symbols": "MSFT", "timeframe": "1Day", "start": "2024-03-01",
                               "end": "2024-03-08T12:00:00Z", "sort": "desc"}).json()
    days = [b["t"][:10] for b in raw["bars"]["MSFT"]]
    # Daily bars are stamped at midnight New York time (05:00 UTC in winter), newest first; the
    # bounds apply to those stamps (a bare date is midnight UTC, before that day's stamp).
    assert days == ["2024-03-08", "2024-03-07", "2024-03-06", "2024-03-05", "2024-03-04", "2024-03-01"]
    assert raw["bars"]["MSFT"][0]["t"] == "2024-03-08T05:00:00Z" and raw["next_page_token"] is None


def test_bars_in_a_coarser_timeframe_are_aggregated_from_hourly_bars():
    with Sandbox(_market("1Hour"), start=NOW, key_id=KEY, secret_key=SECRET) as box:
        req = StockBarsRequest(symbol_or_symbols="KO", timeframe=TimeFrame.Day,
                               start=pd.Timestamp("2024-06-01", tz="UTC"))
        got = _data(box).get_stock_bars(req).df
        _bars_equal(got, _market("1Hour").bars("KO", start="2024-06-01", end="2024-06-28", timeframe="1Day"))
        with pytest.raises(APIError) as err:  # finer than the market's bars: refused, named
            _data(box).get_stock_bars(StockBarsRequest(symbol_or_symbols="KO", timeframe=TimeFrame.Minute))
        assert err.value.status_code == 400 and "timeframe" in err.value.message


def test_the_venue_shows_only_bars_complete_by_its_clock():
    with Sandbox(_market(), start="2024-03-04 12:00-05:00", key_id=KEY, secret_key=SECRET) as box:
        client = _data(box)
        req = StockBarsRequest(symbol_or_symbols="AAPL", timeframe=TimeFrame.Day,
                               start=pd.Timestamp("2024-02-26", tz="UTC"))
        # Monday noon: the week before is complete (5 sessions), Monday's bar is not.
        assert len(client.get_stock_bars(req).df) == 5
        box.advance_to("2024-03-04 16:00-05:00")
        assert len(client.get_stock_bars(req).df) == 6


def test_latest_trade_quote_bar_and_snapshot_come_from_the_last_complete_bar(sb):
    client = _data(sb)
    m = _market()
    last = m.bars(["AAPL"], start="2024-06-28", end="2024-06-28").iloc[-1]
    trade = client.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols=["AAPL", "NOPE"]))
    # One trade per bar at its close, stamped when the bar completed (16:00 ET); unknown symbols left out.
    assert list(trade) == ["AAPL"]
    assert (trade["AAPL"].price, trade["AAPL"].size) == (pytest.approx(last.close), TRADE_SIZE)
    assert trade["AAPL"].timestamp == pd.Timestamp("2024-06-28 16:00", tz="America/New_York")
    quote = client.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="AAPL"))["AAPL"]
    assert quote.bid_price == quote.ask_price == pytest.approx(last.close)
    bar = client.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols="AAPL"))["AAPL"]
    assert (bar.open, bar.close) == (pytest.approx(last.open), pytest.approx(last.close))
    snap = client.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=["AAPL", "SPY"]))
    assert set(snap) == {"AAPL", "SPY"}
    assert snap["AAPL"].daily_bar.close == pytest.approx(last.close)
    prev = m.bars(["AAPL"], start="2024-06-27", end="2024-06-27").iloc[-1]
    assert snap["AAPL"].previous_daily_bar.close == pytest.approx(prev.close)
    assert snap["AAPL"].latest_trade.price == pytest.approx(last.close)


def test_trades_and_quotes_are_derived_one_per_bar_and_page(sb):
    client = _data(sb)
    start, end = pd.Timestamp("2024-06-03", tz="UTC"), pd.Timestamp("2024-06-29", tz="UTC")
    trades = client.get_stock_trades(StockTradesRequest(symbol_or_symbols=SYMBOLS, start=start, end=end)).df
    closes = _market().bars(SYMBOLS, start="2024-06-03", end="2024-06-28")["close"]
    assert len(trades) == len(closes) == 3 * 19  # 19 sessions in June 2024 (Juneteenth closed)
    assert trades["price"].tolist() == pytest.approx(closes.tolist())
    quotes = client.get_stock_quotes(StockQuotesRequest(symbol_or_symbols="MSFT", start=start, end=end)).df
    assert (quotes["bid_price"] == quotes["ask_price"]).all() and len(quotes) == 19


@pytest.mark.parametrize("params, status", [
    ({"timeframe": "1Day"}, 400),  # no symbols
    ({"symbols": "AAPL"}, 400),  # no timeframe
    ({"symbols": "AAPL", "timeframe": "7Fortnight"}, 400),
    ({"symbols": "AAPL", "timeframe": "1Day", "limit": "0"}, 422),
    ({"symbols": "AAPL", "timeframe": "1Day", "limit": "10001"}, 422),
    ({"symbols": "AAPL", "timeframe": "1Day", "page_token": "!!!"}, 400),
    ({"symbols": "AAPL", "timeframe": "1Day", "start": "last week"}, 422),
    ({"symbols": "AAPL", "timeframe": "1Day", "feed": "nasdaq"}, 422),
    ({"symbols": "AAPL", "timeframe": "1Day", "sort": "sideways"}, 422),
    ({"symbols": "AA PL", "timeframe": "1Day"}, 400),
])
def test_bad_bars_request_gets_4xx_with_code_and_message(sb, params, status):
    resp = requests.get(sb.url + "/v2/stocks/bars", params=params, timeout=30,
                        headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})
    assert resp.status_code == status, resp.text
    assert isinstance(resp.json()["code"], int) and resp.json()["message"]


def test_data_client_with_wrong_keys_gets_401(sb):
    with pytest.raises(APIError) as err:
        StockHistoricalDataClient(KEY, "wrong", url_override=sb.url).get_stock_latest_trade(
            StockLatestTradeRequest(symbol_or_symbols="AAPL"))
    assert err.value.status_code == 401


def test_real_daily_data_served_from_a_folder_pages_back_exactly(real_data_dir):
    from activetrader.market import HistoricalMarket

    REAL_DATA_DIR = real_data_dir  # the conftest fixture skips, saying why, on a clone without ../shared
    market = HistoricalMarket.from_folder(REAL_DATA_DIR)
    symbols = list(market.symbols)
    with Sandbox(HistoricalMarket.from_folder(REAL_DATA_DIR), start=market.end, key_id=KEY, secret_key=SECRET,
                 page_size=5_000) as box:
        got = _data(box).get_stock_bars(StockBarsRequest(
            symbol_or_symbols=symbols, timeframe=TimeFrame.Day, start=pd.Timestamp("1990-01-01", tz="UTC"))).df
        want = market.bars(symbols)
        # Every bar of every file (22 symbols, some from 1999), in pages of 5,000.
        assert len(got) == len(want) and box.request_counts["GET /v2/stocks/bars"] == -(-len(want) // 5_000)
        _bars_equal(got, want)
