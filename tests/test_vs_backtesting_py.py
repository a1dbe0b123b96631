"""Differential test: the simple rule through ``activetrader.backtest`` and through backtesting.py.

The rule (:class:`~activetrader.strategy.RsiBracket`, $10,000 per entry in whole shares): Wilder
RSI(14) of the last 100 closes below 30 at a close -> a market buy at the next open with a
take-profit at +15% and a stop at -5% of that close (cent-rounded), one position per symbol.

**Aligned conventions** (backtesting.py 0.6 allows all of them): the same bars; the same signal
(the peer's indicator is the project's public ``rsi()`` applied to each bar's last 100 closes);
the same size and levels (``whole`` and ``bracket_levels``); $100,000 per symbol, no
commission; ``trade_on_close=False`` (the order placed after bar t's close fills at bar t+1's
open); sl/tp given with the order. backtesting.py's own rules, read in
``backtesting/backtesting.py::_Broker._process_orders`` (0.6.x), then agree with the SimBroker on:

* **gap fills**: a stop gapped through fills at the open (``min(open, stop)`` there, the path's
  first point here); a take-profit gapped through fills at the open too (``max(open, tp)``);
* **entry-bar stops**: after a market entry fills, its SL/TP orders are processed again in the
  same bar (``reprocess_orders``, kernc/backtesting.py#119), as our legs are active on the rest
  of the entry bar's path;
* **same-bar ties**: SL orders are queued first (``orders.insert(0, ...)``), so when both are
  reachable in one bar the stop wins; our default ``same_bar="worst"`` picks the stop too.

**Named remaining differences**, each asserted as such:

* ``gtc_expiry_90d``: Alpaca cancels GTC orders 90 days after creation (alpaca-contract.md §1),
  bracket legs included; backtesting.py's sl/tp never expire. The SimBroker cancels the legs at
  entry day + 90 days, 16:15 New York; at the next iteration ``RsiBracket`` re-protects the
  position with an OCO at the *entry-based* levels (average entry x 1.15 / x 0.95) or sells at
  market if the price is already at that stop. The trade then ends at other levels than in
  backtesting.py. With that convention emulated in backtesting.py (``trade.sl``/``trade.tp``
  moved at the same bar), every trade matches exactly (second test).
* ``one_position_after_gtc_expiry``: a trade that only one engine makes, because on its entry
  day the other engine still held the symbol from a ``gtc_expiry_90d`` trade (or from another
  trade of this kind).
* ``open_at_end``: still held after the last bar: ours reports ``exit_reason="open"``;
  backtesting.py (``finalize_trades=True``) closes it with a market order that it fills on the
  last bar again, i.e. at the last bar's open.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from activetrader import Settings, backtest
from activetrader.market import HistoricalMarket, MarketCalendar
from activetrader.strategy import RsiBracket
from activetrader.strategy.caps import whole
from activetrader.strategy.indicators import rsi
from activetrader.strategy.levels import bracket_levels
from activetrader.ticks import round_price
SYMBOLS = ("AAPL", "JNJ", "JPM", "KO", "NVDA", "TSLA", "XOM")
WARMUP, START, END = "2014-07-01", "2015-01-02", "2019-12-31"
DOLLARS, PERIOD, LOOKBACK, TP, SL = 10_000.0, 14, 100, 0.15, 0.05
GTC_DAYS = pd.Timedelta(days=90)
NY = "America/New_York"


# ----------------------------------------------------------------------------- the two runs
@pytest.fixture(scope="module")
def frames(real_data_dir) -> dict[str, pd.DataFrame]:
    """The real daily bars (every test here uses them: without ../shared they skip, saying why)."""
    out = {}
    for sym in SYMBOLS:
        df = pd.read_csv(real_data_dir / f"{sym}.csv", parse_dates=["date"]).set_index("date")
        out[sym] = df.loc[WARMUP:END, ["open", "high", "low", "close", "volume"]].astype(float)
    return out


@pytest.fixture(scope="module")
def ours(frames):
    market = HistoricalMarket({s: f.reset_index() for s, f in frames.items()})
    settings = Settings()
    settings.entry.watchlist = list(SYMBOLS)
    result = backtest(market, RsiBracket(dollars=DOLLARS), settings, start=START, end=END,
                      cash=100_000.0 * len(SYMBOLS), progress=False)
    return result


def _trades_of_ours(result) -> pd.DataFrame:
    t, orders = result.trades, result.orders
    legs = orders[orders["parent_id"].notna()]
    rows = []
    for tr in t.itertuples():
        mine = legs[legs["parent_id"] == tr.entry_order_id]
        rows.append(dict(
            symbol=tr.symbol, entry=tr.entry_time.tz_convert(NY).date(), entry_price=tr.entry_price, qty=tr.qty,
            exit=None if pd.isna(tr.exit_time) else tr.exit_time.tz_convert(NY).date(),
            exit_price=tr.exit_price, reason=tr.exit_reason, gap=bool(tr.gap), level=tr.exit_level,
            tp=float(mine.loc[mine["role"] == "take_profit", "limit_price"].iloc[0]),
            sl=float(mine.loc[mine["role"] == "stop_loss", "stop_price"].iloc[0])))
    return pd.DataFrame(rows)


def _peer(frames, *, emulate_gtc: bool, start: str = START) -> pd.DataFrame:
    """backtesting.py, one Backtest per symbol; with ``emulate_gtc`` the 90-day convention is
    played through its public API (``trade.sl``, ``trade.tp``, ``trade.close()``)."""
    from backtesting import Backtest, Strategy

    def tail_rsi(close):
        c = np.asarray(close, dtype=float)
        return np.array([rsi(c[t - LOOKBACK + 1:t + 1], PERIOD).iloc[-1] if t >= LOOKBACK - 1 else np.nan
                         for t in range(len(c))])

    class SimpleRule(Strategy):
        first_signal = None  # the last warm-up close may signal the first entry
        sessions = None  # every date of the data (a calendar fact, not a price)

        def init(self):
            self.rsi = self.I(tail_rsi, self.data.Close)
            self.covered_until = None  # legs (or the last OCO) protect bars up to this date

        def next(self):
            today = self.data.index[-1]
            if self.position and emulate_gtc:
                self._expire_legs(today)
            if today < self.first_signal or self.position or not self.rsi[-1] < 30:
                return
            close = float(self.data.Close[-1])
            qty = whole(DOLLARS / close)
            tp, sl = bracket_levels(close, take_profit_pct=TP, stop_loss_pct=SL)
            if qty:
                self.buy(size=qty, sl=sl, tp=tp)
                self.covered_until = None

        def _expire_legs(self, today):
            i = self.sessions.searchsorted(today)
            if i + 1 >= len(self.sessions):
                return
            trade = self.trades[-1]
            if self.covered_until is None:  # entry order submitted at 09:00 of the entry day
                self.covered_until = trade.entry_time + GTC_DAYS
            tomorrow = self.sessions[i + 1]
            if tomorrow <= self.covered_until:
                return
            # The legs are gone before tomorrow's open; RsiBracket acts at tomorrow's 09:00.
            entry, close = trade.entry_price, float(self.data.Close[-1])
            if close < round_price(entry * (1 - SL)) + 0.01 - 1e-9:
                trade.close()  # a market sell, filled at tomorrow's open
                return
            trade.tp, trade.sl = bracket_levels(entry, take_profit_pct=TP, stop_loss_pct=SL, base=close)
            self.covered_until = tomorrow + GTC_DAYS

    rows = []
    for sym, df in frames.items():
        SimpleRule.sessions = df.index
        SimpleRule.first_signal = df.index[df.index.searchsorted(pd.Timestamp(start)) - 1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its progress bar and end-of-data notices
            stats = Backtest(df.rename(columns=str.capitalize), SimpleRule, cash=100_000, commission=0.0,
                             trade_on_close=False, exclusive_orders=False, finalize_trades=True).run()
        for tr in stats._trades.itertuples():
            rows.append(dict(symbol=sym, entry=tr.EntryTime.date(), entry_price=tr.EntryPrice, qty=float(tr.Size),
                             exit=tr.ExitTime.date(), exit_price=tr.ExitPrice))
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- classification
def _same(a, b) -> bool:
    return (a.qty == b.qty and math.isclose(a.entry_price, b.entry_price, abs_tol=1e-9)
            and a.exit == b.exit and math.isclose(a.exit_price, b.exit_price, abs_tol=1e-6))


def _reprotections(result, symbol, entry, until) -> pd.DataFrame:
    """Our re-protection orders (OCO ``-p-`` or market exit ``-x-``) for ``symbol`` in (entry, until]."""
    o = result.orders
    when = o["submitted_at"].dt.tz_convert(NY).dt.date
    mine = (o["symbol"] == symbol) & o["client_order_id"].str.contains(r"-[px]-", regex=True)
    return o[mine & (when > entry) & ((when <= until) if until is not None else True)]


def _exit_by_reprotection(a, order, orders, bars) -> bool:
    """Our exit came from the last re-protection: an OCO at the entry-based levels (stop at
    entry x 0.95, take-profit at entry x 1.15 or higher when re-based above the price), filled
    at a level or at a gapped open; or a market sell at the open of the day it was sent."""
    if order["type"] == "market":
        day = order["submitted_at"].tz_convert(NY).date()
        return a.exit == day and math.isclose(a.exit_price, bars.loc[str(day), "open"], abs_tol=1e-6)
    stop = orders.loc[orders["parent_id"] == order["id"], "stop_price"]
    tp, sl = float(order["limit_price"]), float(stop.iloc[0])
    return (math.isclose(sl, round_price(a.entry_price * (1 - SL)), abs_tol=1e-9)
            and tp >= round_price(a.entry_price * (1 + TP)) - 1e-9
            and _at_level_or_open(a.exit_price, (tp, sl), bars.loc[str(a.exit)]))


def _at_level_or_open(price, levels, bar) -> bool:
    return any(math.isclose(price, x, abs_tol=1e-6) for x in (*levels, bar["open"]))


def classify(ours_t: pd.DataFrame, theirs: pd.DataFrame, result, frames, symbols=SYMBOLS) -> list[tuple]:
    """(symbol, entry, convention, detail) for every trade of either engine; convention is
    ``same``, one of the named differences, or ``UNEXPLAINED``."""
    out = []
    for sym in symbols:
        bars = frames[sym]
        last = bars.index[-1].date()
        mine = {r.entry: r for r in ours_t[ours_t.symbol == sym].itertuples()}
        peer = {r.entry: r for r in theirs[theirs.symbol == sym].itertuples()}
        explained: dict[str, list] = {"ours": [], "peer": []}  # differing trades, for the cascade rule
        for entry in sorted(set(mine) | set(peer)):
            a, b = mine.get(entry), peer.get(entry)
            if a is not None and b is not None:
                if a.reason == "open" and b.exit == last and math.isclose(b.exit_price, bars["open"].iloc[-1]):
                    out.append((sym, entry, "open_at_end" if a.qty == b.qty else "UNEXPLAINED", ""))
                    continue
                if _same(a, b):
                    out.append((sym, entry, "same", a.reason))
                    continue
                expiry = pd.Timestamp(entry) + GTC_DAYS
                reprotect = _reprotections(result, sym, entry, a.exit)
                first_after = bars.index[bars.index > expiry]
                ok = (a.qty == b.qty and math.isclose(a.entry_price, b.entry_price, abs_tol=1e-9)
                      and len(reprotect) > 0 and len(first_after) > 0
                      # our re-protection came at the first session after the legs expired ...
                      and reprotect["submitted_at"].dt.tz_convert(NY).dt.date.min() == first_after[0].date()
                      # ... and neither engine had exited while the legs were alive
                      and (a.exit is None or a.exit >= first_after[0].date()) and b.exit >= first_after[0].date())
                if ok and a.exit is not None:
                    ok = (_exit_by_reprotection(a, reprotect.iloc[-1], result.orders, bars)
                          and (b.exit == last or _at_level_or_open(b.exit_price, (a.tp, a.sl), bars.loc[str(b.exit)])))
                kind = "gtc_expiry_90d" if ok else "UNEXPLAINED"
                if ok:
                    explained["ours"].append(a)
                    explained["peer"].append(b)
                out.append((sym, entry, kind, f"ours exit {a.exit} @ {a.exit_price}, peer {b.exit} @ {b.exit_price}"))
                continue
            one, other = ("ours", "peer") if a is not None else ("peer", "ours")
            blockers = [t for t in explained[other]
                        if t.entry < entry and (t.exit is None or t.exit >= entry)]
            kind = "one_position_after_gtc_expiry" if blockers else "UNEXPLAINED"
            trade = a if a is not None else b
            if blockers:
                explained[one].append(trade)
            out.append((sym, entry, kind, f"only in {one}"))
    return out


# ----------------------------------------------------------------------------- the tests
def test_simple_rule_on_real_data_every_difference_has_a_named_convention(frames, ours):
    theirs = _peer(frames, emulate_gtc=False)
    mine = _trades_of_ours(ours)
    kinds = classify(mine, theirs, ours, frames)
    unexplained = [k for k in kinds if k[2] == "UNEXPLAINED"]
    assert not unexplained, f"differences no named convention explains: {unexplained}"
    counts = pd.Series([k[2] for k in kinds]).value_counts().to_dict()
    # The data exercise the named difference, and most trades agree exactly.
    assert counts.get("gtc_expiry_90d", 0) >= 3, counts
    assert counts["same"] >= 0.75 * len(kinds), counts
    # Every trade of each engine is classified exactly once.
    assert len(kinds) == len({(s, e) for s, e, *_ in kinds})
    assert {(r.symbol, r.entry) for r in theirs.itertuples()} | {(r.symbol, r.entry) for r in mine.itertuples()} \
        == {(s, e) for s, e, *_ in kinds}


def test_simple_rule_with_gtc_expiry_emulated_in_backtesting_py_matches_every_trade(frames, ours):
    theirs = _peer(frames, emulate_gtc=True)
    mine = _trades_of_ours(ours)
    kinds = classify(mine, theirs, ours, frames)
    assert {k[2] for k in kinds} <= {"same", "open_at_end"}, [k for k in kinds if k[2] not in ("same", "open_at_end")]
    assert len(mine) == len(theirs) >= 60


def test_simple_rule_gap_and_entry_bar_conventions_agree_with_backtesting_py(frames, ours):
    """The aligned conventions are exercised by the data, not merely equal by absence: trades
    whose stop gapped (filled at an open below the stop) and trades stopped on their entry bar
    are among the trades that match backtesting.py exactly."""
    theirs = _peer(frames, emulate_gtc=True)
    mine = _trades_of_ours(ours)
    same = {(s, e) for s, e, kind, _ in classify(mine, theirs, ours, frames) if kind == "same"}
    matched = mine[[(r.symbol, r.entry) in same for r in mine.itertuples()]]
    gapped = matched[matched.gap & (matched.reason == "stop_loss")]
    assert len(gapped) >= 2
    for r in gapped.itertuples():  # filled at the exit bar's open, below the stop level
        bar = frames[r.symbol].loc[str(r.exit)]
        assert r.exit_price == pytest.approx(bar["open"]) and r.exit_price < r.level
    entry_bar = matched[matched.exit == matched.entry]
    assert len(entry_bar) >= 2
    assert set(entry_bar.reason) <= {"stop_loss", "take_profit"}


def _scripted_ties() -> pd.DataFrame:
    """120 quiet bars (closes 100, 101, 100, ...), then closes 100.5, 100, 99, 97, 94, 89: the
    RSI(14) of the last 100 closes is 31.0 at 94 and first below 30 at 89 (23.3). Then:

    * bar 126, the entry bar of the signal at 89 (take-profit 102.35, stop 84.55): quiet;
    * bar 127: high 103 and low 84, both levels reachable in one bar (a same-bar tie);
    * bar 128, the entry bar of the next signal at 89.5 (take-profit 102.93, stop 85.03): high 104
      and low 84.5, a tie on the entry bar itself;
    * then closes rising by 1.5 a bar, and flat.
    """
    closes = [100.0 + i % 2 for i in range(120)] + [100.5, 100.0, 99.0, 97.0, 94.0, 89.0]
    bars = [(c if i == 0 else closes[i - 1], c) for i, c in enumerate(closes)]
    rows = [(o, max(o, c) + 0.2, min(o, c) - 0.2, c) for o, c in bars]
    rows += [(89.0, 89.5, 88.5, 89.2), (89.2, 103.0, 84.0, 89.5), (89.5, 104.0, 84.5, 90.0)]
    price = 90.0
    for _ in range(12):
        rows.append((price, price + 1.7, price - 0.2, price + 1.5))
        price += 1.5
    rows += [(price, price + 0.2, price - 0.2, price)] * 5
    days = MarketCalendar("2019-01-02", "2019-12-31").sessions_between("2019-01-02", "2019-12-31")[:len(rows)]
    index = pd.DatetimeIndex([d.date() for d in days], name="date")
    df = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)
    return df.assign(volume=1_000.0)


def test_simple_rule_same_bar_ties_take_the_stop_in_both_engines():
    frame = _scripted_ties()
    start = str(frame.index[121].date())
    market = HistoricalMarket({"TIE": frame.reset_index()})
    settings = Settings()
    settings.entry.watchlist = ["TIE"]
    result = backtest(market, RsiBracket(dollars=DOLLARS), settings, start=start, end=str(frame.index[-1].date()),
                      cash=100_000.0, progress=False)
    mine = _trades_of_ours(result)
    theirs = _peer({"TIE": frame}, emulate_gtc=False, start=start)
    # Both engines: in at 89 on bar 126, out at the 84.55 stop on bar 127 (the tie); in again at
    # 89.5 on bar 128 and out at its 85.03 stop on that same bar (a tie on the entry bar).
    day = [d.date() for d in frame.index]
    expected = [(day[126], 89.0, day[127], 84.55), (day[128], 89.5, day[128], 85.03)]
    for trades in (mine, theirs):
        got = [(r.entry, r.entry_price, r.exit, round(r.exit_price, 2)) for r in trades.itertuples()][:2]
        assert got == expected
    assert list(mine.reason[:2]) == ["stop_loss", "stop_loss"]
    kinds = classify(mine, theirs, result, {"TIE": frame}, symbols=("TIE",))
    assert {k[2] for k in kinds} <= {"same", "open_at_end"}, kinds
