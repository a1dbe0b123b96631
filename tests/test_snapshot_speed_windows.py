"""The fast path reads symbols on one time grid together (issue 7): ``bar_windows`` searches once
per grid of bar times, ``WindowSource`` reads prices and RSIs a row per grid. Symbols whose bars
lie on other grids (a missing session, a later listing) must still get exactly their own bars,
prices and RSIs, the ones the frame-based path computes; caches must follow the data they were
computed from."""

import gc

import numpy as np
import pandas as pd

from activetrader import Settings, Trader
from activetrader.broker import SimBroker
from activetrader.fastpath import _ROLLING, RsiCache, WindowSource
from activetrader.market import HistoricalMarket, MarketCalendar
from activetrader.strategy import Snapshot
from activetrader.strategy.indicators import rsi_rolling_last

NY = "America/New_York"


def _frame(days, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, len(days))))
    return pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "open": close, "high": close * 1.01,
                         "low": close * 0.99, "close": close, "volume": 1000.0})


def sessions_2023() -> pd.DatetimeIndex:
    """The NYSE sessions of 2023."""
    return MarketCalendar("2023-01-03", "2023-12-29").sessions_between("2023-01-03", "2023-12-29")


def _market() -> HistoricalMarket:
    """AAA, BBB, DDD trade every session of 2023; CCC misses 2023-03-15 (a third grid beside
    EEE, listed only from 2023-06-01): three grids of daily bar times."""
    days = sessions_2023()
    frames = {s: _frame(days, k) for k, s in enumerate(("AAA", "BBB", "DDD"))}
    frames["CCC"] = _frame(days[days != "2023-03-15"], 7)
    frames["EEE"] = _frame(days[days >= "2023-06-01"], 8)
    return HistoricalMarket(frames)


SYMBOLS = ["EEE", "CCC", "AAA", "DDD", "BBB"]  # not in order: windows come back in symbol order


def test_bar_windows_with_three_grids_give_each_symbol_its_own_bars():
    m = _market()
    for moment in ("2023-03-15 14:00", "2023-03-16 14:00", "2023-06-02 09:00", "2023-12-29 22:00"):
        m.as_of = pd.Timestamp(moment, tz=NY)
        start = m.as_of - pd.Timedelta(days=120)
        windows = m.bar_windows(SYMBOLS, start.value, m.as_of.value)
        assert len(windows.blocks) == 3
        assert sorted(len(b.symbols) for b in windows.blocks) == [1, 1, 3]
        assert [w.symbol for w in windows] == sorted(SYMBOLS) and len(windows) == 5
        for w in windows:
            expected = m.bars(w.symbol, start, m.as_of)
            got = w.view.label[w.start:w.stop].astype("datetime64[ns]")
            assert list(pd.DatetimeIndex(got).tz_localize("UTC")) == \
                list(expected.index.get_level_values("timestamp")), (moment, w.symbol)
            assert w.view.close[w.start:w.stop].tolist() == expected["close"].tolist()


def test_window_source_prices_and_rsi_over_three_grids_match_the_frame_path():
    m = _market()
    cache = RsiCache()
    asked = [*SYMBOLS, "ZZZ", "AAA"]  # ZZZ has no bars: None; AAA asked twice, answered once
    seen_short_window = False
    for moment in pd.bdate_range("2023-06-01", "2023-12-29", freq="7B"):
        m.as_of = moment.tz_localize(NY) + pd.Timedelta(hours=9)
        src = WindowSource(m.bar_windows(SYMBOLS, 0, m.as_of.value), cache)
        slow = Snapshot(now=m.as_of, account=None, bars=src.frame())
        fast = Snapshot(now=m.as_of, account=None, bars=None, source=src)
        for period, window in ((14, 100), (14, 30), (5, 20)):
            got = fast.rsi(asked, period, window)
            assert got == slow.rsi(asked, period, window), (moment, period, window)
            assert list(got) == [*SYMBOLS, "ZZZ"]  # in the order first asked
        seen_short_window |= fast.rsi(["EEE"], 14, 100)["EEE"] is not None and len(fast.closes("EEE")) < 100
        with_bars = [s for s in sorted(SYMBOLS) if len(slow.closes(s))]  # EEE has none on June 1
        assert src.prices() == {s: float(slow.closes(s).iloc[-1]) for s in with_bars}
        assert list(src.prices()) == with_bars
    assert seen_short_window, "EEE (listed in June) was read with fewer closes than the window"


def test_rsi_cache_rolling_is_shared_and_dropped_with_its_array():
    close = np.cumsum(np.random.default_rng(1).normal(0, 1, 300)) + 100
    a, b = RsiCache(), RsiCache()
    first = a.rolling(close, 14, 100)
    assert b.rolling(close, 14, 100) is first  # computed once for both
    assert np.array_equal(first, rsi_rolling_last(close, 100, 14), equal_nan=True)
    other = close.copy()
    other[-1] += 5  # different data, its own entry: the change is seen
    assert b.rolling(other, 14, 100)[-1] == rsi_rolling_last(other, 100, 14)[-1] != first[-1]
    key = id(close)
    assert key in _ROLLING
    del close, first
    gc.collect()
    assert key not in _ROLLING or _ROLLING[key][0]() is not None  # gone, or the id reused by a live array


def test_trader_universe_follows_the_settings_and_the_positions():
    m = _market()
    settings = Settings()
    settings.hedge.sentiment_symbols = ("AAA",)
    settings.entry.watchlist = ("BBB",)
    broker = SimBroker(m, cash=100_000, start=pd.Timestamp("2023-09-01 09:00", tz=NY))
    trader = Trader(broker=broker, settings=settings)
    assert trader._universe([]) == ["AAA", "BBB"]  # SH, the inverse ETF, is not in this market
    settings.entry.watchlist = ("CCC", "BBB")
    assert trader._universe([]) == ["AAA", "BBB", "CCC"]
    assert trader._universe(["EEE", "NOPE"]) == ["AAA", "BBB", "CCC", "EEE"]  # held; unknown left out
    assert trader._universe([]) == ["AAA", "BBB", "CCC"]
    trader.settings = Settings()  # another object, maybe at the same version
    assert trader._universe([]) == []  # none of the default symbols is in this market
