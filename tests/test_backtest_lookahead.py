"""No look-ahead: a backtest's past does not depend on its future.

Every bar of every symbol after a date D is scaled by a random factor (between 0.7 and 1.3,
the whole bar at once, so it stays a valid bar): gaps that would trigger stops, take-profits
and new entries. A backtest of the unchanged and of the perturbed market must then agree on
everything up to and including the first decision after D (09:00 New York of the next
session, which may only see D's bar): every order submitted, every fill, every round trip
closed, every equity point. After D they must differ (else the perturbation proved nothing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from activetrader import Settings, backtest
from activetrader.market import BarArrays, HistoricalMarket, SimulatedMarket
from activetrader.scenario import default_market

NY = "America/New_York"
REAL_NAMES = ("AAPL", "MSFT", "GOOGL", "AMZN", "META", "NVDA", "TSLA", "JPM", "JNJ", "XOM", "KO", "WMT", "UNH")


def _decisions(result, upto: pd.Timestamp) -> list:
    """What each decision up to ``upto`` saw and decided: RSIs of every symbol it scanned, and the plan."""
    return [(r.timestamp, dict(r.plan.sentiment), dict(r.plan.watchlist_rsi), r.plan.describe())
            for r in result.reports if r.timestamp <= upto]


def _perturbed(frames: dict[str, pd.DataFrame], after: str, seed: int = 3) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    out = {}
    for sym, df in frames.items():
        df = df.copy()
        late = pd.DatetimeIndex(df["date"]) > pd.Timestamp(after)
        factor = rng.uniform(0.7, 1.3, late.sum())
        for c in ("open", "high", "low", "close"):
            df.loc[late, c] = df.loc[late, c] * factor
        out[sym] = df
    return out


def _simulated_frames() -> tuple[dict[str, pd.DataFrame], Settings]:
    bars = default_market().bars(list(Settings().entry.watchlist) + ["SH", "AAPL", "MSFT", "GOOGL", "NVDA", "TSLA"],
                                 "2023-10-02", "2024-06-28")
    frames = {}
    for sym, g in bars.groupby(level="symbol"):
        g = g.droplevel(0)
        frames[sym] = g.assign(date=g.index.tz_convert(NY).tz_localize(None).normalize())[
            ["date", "open", "high", "low", "close", "volume"]].reset_index(drop=True)
    return frames, Settings()


def _real_frames(folder) -> tuple[dict[str, pd.DataFrame], Settings]:
    frames = {}
    for sym in (*REAL_NAMES, "SH", "SPY"):
        df = pd.read_csv(folder / f"{sym}.csv", parse_dates=["date"])
        frames[sym] = df[(df["date"] >= "2021-06-01") & (df["date"] <= "2022-06-30")].reset_index(drop=True)
    settings = Settings()
    settings.entry.watchlist = REAL_NAMES
    return frames, settings


CASES = {
    # source, start, D (perturbed after it), end
    "simulated": (None, "2024-03-18", "2024-04-10", "2024-05-10"),
    "real": ("real", "2022-02-01", "2022-03-07", "2022-04-08"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_backtest_perturbing_bars_after_a_date_changes_nothing_before_it(case, request):
    source, start, d, end = CASES[case]
    frames, settings = _real_frames(request.getfixturevalue("real_data_dir")) if source else _simulated_frames()
    run = dict(start=start, end=end, progress=False)
    a = backtest(HistoricalMarket(frames), settings=settings, **run)
    b = backtest(HistoricalMarket(_perturbed(frames, d)), settings=settings, **run)

    sessions = HistoricalMarket(frames).calendar.sessions
    next_session = sessions[sessions.searchsorted(pd.Timestamp(d), side="right")]
    decision = pd.Timestamp(next_session).tz_localize(NY) + pd.Timedelta(hours=9)  # sees D's bar, not the next

    cols = ["client_order_id", "symbol", "side", "type", "qty", "limit_price", "stop_price", "submitted_at"]
    early = [r.orders[r.orders["submitted_at"] <= decision][cols].reset_index(drop=True) for r in (a, b)]
    assert early[0]["client_order_id"].str.startswith("at-").sum() >= 3, "the strategy must trade before D"
    pd.testing.assert_frame_equal(early[0], early[1])
    fills = [r.fills[r.fills["timestamp"] < decision].reset_index(drop=True) for r in (a, b)]
    assert len(fills[0]) >= 3
    pd.testing.assert_frame_equal(fills[0], fills[1])
    closed = [r.trades[r.trades["exit_time"] < decision].drop(columns=["entry_order_id", "exit_order_id"])
              .reset_index(drop=True) for r in (a, b)]
    pd.testing.assert_frame_equal(closed[0], closed[1])
    pd.testing.assert_series_equal(a.equity[a.equity.index <= decision], b.equity[b.equity.index <= decision])
    assert _decisions(a, decision) == _decisions(b, decision)
    # ...and the perturbation did matter after D.
    assert not a.equity[a.equity.index > decision].equals(b.equity[b.equity.index > decision])
    later = [set(r.orders.loc[r.orders["submitted_at"] > decision, "client_order_id"]) for r in (a, b)]
    assert later[0] != later[1]


class PerturbedAfter(SimulatedMarket):
    """The simulated market with every bar starting at or after ``cut`` scaled by a random factor."""

    def __init__(self, *args, cut: pd.Timestamp, **kwargs):
        super().__init__(*args, **kwargs)
        self._cut, self._perturbed = cut.value, {}

    def arrays(self, symbol):
        a = super().arrays(symbol)
        if symbol not in self._perturbed:
            late = a.start >= self._cut
            f = np.where(late, np.random.default_rng(len(symbol)).uniform(0.7, 1.3, len(a)), 1.0)
            self._perturbed[symbol] = BarArrays(symbol, a.start, a.end, a.open * f, a.high * f, a.low * f,
                                                a.close * f, a.volume, a.regular)
        return self._perturbed[symbol]


def test_backtest_hourly_perturbing_bars_from_mid_session_changes_nothing_before():
    """Hourly iterations on the simulated market; every bar from 13:30 on 2024-07-10 is perturbed.
    The decision at 13:30 sees the 12:30-13:30 bar but not that day's (incomplete) daily bar, so
    everything up to and including it is the same; fills before 13:30 too."""
    cut = pd.Timestamp("2024-07-10 13:30", tz=NY)
    span = dict(seed=10, start="2024-03-01", end="2024-07-31", timeframe="1Hour")
    run = dict(start="2024-07-01", end="2024-07-19", every="1h", progress=False)
    a = backtest(SimulatedMarket(**span), **run)
    b = backtest(PerturbedAfter(**span, cut=cut), **run)
    cols = ["client_order_id", "symbol", "side", "type", "qty", "limit_price", "stop_price", "submitted_at"]
    early = [r.orders[r.orders["submitted_at"] <= cut][cols].reset_index(drop=True) for r in (a, b)]
    assert len(early[0]) >= 3, "the strategy must trade before the cut"
    pd.testing.assert_frame_equal(early[0], early[1])
    pd.testing.assert_frame_equal(*[r.fills[r.fills["timestamp"] < cut].reset_index(drop=True) for r in (a, b)])
    pd.testing.assert_series_equal(a.equity[a.equity.index <= cut], b.equity[b.equity.index <= cut])
    seen = _decisions(a, cut)
    assert seen[-1][0] == cut and any(rsi is not None for rsi in seen[-1][1].values())
    assert seen == _decisions(b, cut)  # the 13:30 decision included: RSIs of complete daily bars only
    assert not a.equity[a.equity.index > cut].equals(b.equity[b.equity.index > cut])
