"""Same RSI: the number a decision uses is the same in a backtest and in a live iteration.

The rule (Snapshot.rsi, Draft.rsi): **the RSI a decision uses is Wilder's RSI(period) over
exactly the last N complete daily closes, N = max(entry.lookback_bars, 3 x period) = 100 by
default, seeded inside that window**. A backtest-style trader (the native fast path, reading
its causal per-bar cache, warmed by walking day by day) and a live-style trader (a fresh
``Trader(fast=False)`` built at that moment, reading alpaca-py bars as on Alpaca) must report
identical numbers in ``Plan.sentiment`` / ``Plan.watchlist_rsi``; and both must equal an
independent computation from the CSV files: ``talib.RSI`` over the 100 closes up to the
previous session.
"""

import numpy as np
import pandas as pd
import talib

from activetrader import Settings, Trader
from activetrader.broker import SimBroker
from activetrader.market import HistoricalMarket

NY = "America/New_York"
WATCHLIST = ("AAPL", "MSFT", "GOOGL", "AMZN", "META", "NVDA", "TSLA", "JPM", "JNJ", "XOM", "KO", "WMT", "UNH")


def _settings() -> Settings:
    s = Settings()
    s.entry.watchlist = WATCHLIST
    return s


def test_decision_rsi_is_the_same_in_a_backtest_and_a_fresh_live_iteration(real_data_dir):
    frames = {s: pd.read_csv(real_data_dir / f"{s}.csv") for s in (*WATCHLIST, "SH", "SPY")}
    market = HistoricalMarket(frames)
    start = pd.Timestamp("2019-06-03 09:00", tz=NY)
    backtest = Trader(broker=SimBroker(market, cash=100_000, start=start), settings=_settings())
    days = market.calendar.sessions_between("2019-06-03", "2020-06-30")
    checked = 0
    for k, day in enumerate(days):
        moment = pd.Timestamp(day.date()).tz_localize(NY) + pd.Timedelta(hours=9)
        backtest.broker.advance_to(moment)
        plan = backtest.iteration().plan
        if k % 25:
            continue
        live = Trader(broker=SimBroker(HistoricalMarket(frames), cash=100_000, start=moment),
                      settings=_settings(), fast=False)
        live_plan = live.iteration(dry_run=True).plan
        assert plan.sentiment == live_plan.sentiment, day
        assert plan.watchlist_rsi == live_plan.watchlist_rsi, day
        for sym, value in {**plan.sentiment, **plan.watchlist_rsi}.items():
            csv = frames[sym].assign(date=pd.to_datetime(frames[sym]["date"]))
            closes = csv.loc[csv["date"] < pd.Timestamp(day.date()), "close"].to_numpy(float)[-100:]
            assert len(closes) == 100
            assert abs(value - talib.RSI(closes, 14)[-1]) < 1e-9, (day, sym)
        checked += 1
    assert checked == 11  # every 25th of the 274 sessions


def test_decision_rsi_uses_exactly_the_last_hundred_closes(real_data_dir):
    """A close 101 sessions back does not move the number; the 100th does."""
    frame = pd.read_csv(real_data_dir / "AAPL.csv")
    moment = pd.Timestamp("2021-03-01 09:00", tz=NY)
    dates = pd.to_datetime(frame["date"])
    before = np.flatnonzero(dates < pd.Timestamp("2021-03-01"))

    def decision_rsi(frame):
        m = HistoricalMarket({"AAPL": frame, "SH": pd.read_csv(real_data_dir / "SH.csv")})
        s = Settings()
        s.entry.watchlist = ("AAPL",)
        s.hedge.sentiment_symbols = ("AAPL",)
        return Trader(broker=SimBroker(m, cash=1_000, start=moment), settings=s).iteration(dry_run=True) \
            .plan.watchlist_rsi["AAPL"]

    base = decision_rsi(frame)
    for back, changes in ((101, False), (100, True)):
        bumped = frame.copy()
        i = before[-back]
        bumped.loc[i, ["open", "high", "low", "close"]] *= 1.5
        assert (decision_rsi(bumped) != base) is changes, back
