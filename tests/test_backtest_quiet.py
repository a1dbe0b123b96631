"""Skipping quiet iterations (``backtest(..., skip_quiet=True)``, activetrader.backtest.quiet).

The claim: an iteration a strategy's wake rule lets the backtest skip would have had an empty
plan, so skipping changes nothing a user can see except time: the same orders (client order
ids, quantities, levels, statuses), the same fills, trades and equity to the cent, and the
same stats. Each test runs the same backtest twice, once with every iteration and once
skipping, and compares everything; and in the run of every iteration, every iteration whose
plan had an intent must be one the skipping run also ran.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from alpaca.trading.requests import MarketOrderRequest, StopLossRequest, TakeProfitRequest

from activetrader import Settings, backtest
from activetrader.broker import SimBroker
from activetrader.backtest.quiet import wake_mask
from activetrader.market import HistoricalMarket, MarketCalendar, SimulatedMarket
from activetrader.strategy import CombinedStrategy, ExitPosition, ProtectPosition, RsiBracket, Wake

NY = "America/New_York"
REAL_SYMBOLS = ("AAPL", "AMZN", "JNJ", "JPM", "KO", "MSFT", "NVDA", "TSLA", "XOM", "SPY")


def _both(market, strategy, settings, **kw):
    every = backtest(market, strategy, settings, skip_quiet=False, progress=False, **kw)
    quiet = backtest(market, strategy, settings, skip_quiet=True, progress=False, **kw)
    return every, quiet


def assert_same_run(every, quiet) -> None:
    """Everything a user sees is equal; only the skipped reports are missing."""
    pd.testing.assert_frame_equal(every.orders, quiet.orders)
    pd.testing.assert_frame_equal(every.fills, quiet.fills)
    pd.testing.assert_frame_equal(every.trades, quiet.trades)
    pd.testing.assert_series_equal(every.equity, quiet.equity)  # exact, to the cent
    pd.testing.assert_series_equal(every.stats.drop("elapsed_s"), quiet.stats.drop("elapsed_s"))
    assert every.skipped == 0 and len(every.reports) == every.stats["iterations"]
    assert quiet.skipped + len(quiet.reports) == quiet.stats["iterations"]
    ran = {r.timestamp for r in quiet.reports}
    busy = [r.timestamp for r in every.reports if r.plan.intents or r.outcomes]
    assert set(busy) <= ran, f"skipped iterations that had a plan: {sorted(set(busy) - ran)[:3]}"
    for r in quiet.reports:  # the reports it has are those of the full run, value for value
        twin = next(e for e in every.reports if e.timestamp == r.timestamp)
        assert r.to_dict() == twin.to_dict()


def test_quiet_real_daily_ten_symbols_same_orders_fills_equity_as_every_iteration(real_data_dir):
    """Ten real series, 2015-2019, the simple rule: most mornings nothing is oversold and every
    position is protected, so most iterations are skipped; entries, exits at the levels, and
    the re-protection after Alpaca's 90-day GTC expiry of the legs (an iteration woken by the
    cancelled legs) all come out the same."""
    frames = {}
    for sym in REAL_SYMBOLS:
        df = pd.read_csv(real_data_dir / f"{sym}.csv", parse_dates=["date"])
        frames[sym] = df[(df["date"] >= "2014-07-01") & (df["date"] <= "2019-12-31")]
    s = Settings()
    s.entry.watchlist = list(REAL_SYMBOLS)
    every, quiet = _both(HistoricalMarket(frames), RsiBracket(dollars=10_000), s, start="2015-01-02",
                         end="2019-12-31", cash=1_000_000)
    assert_same_run(every, quiet)
    assert quiet.skipped > 0.5 * quiet.stats["iterations"]  # the point of it: most are quiet
    assert len(quiet.trades) > 50
    reprotected = [r for r in every.reports for i in r.plan.intents if isinstance(i, ProtectPosition)]
    assert reprotected, "the scenario must exercise the re-protection after a GTC expiry"


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), oversold=st.floats(30, 49), stop=st.sampled_from([0.02, 0.05, 0.1]),
       lookback=st.integers(42, 130), hourly=st.booleans(), same_bar=st.sampled_from(["worst", "best", "path"]),
       dollars=st.sampled_from([None, 3_000.0, 30_000.0]))
def test_quiet_random_markets_same_run_as_every_iteration(seed, oversold, stop, lookback, hourly, same_bar,
                                                            dollars):
    """Random simulated markets (daily, or hourly bars with an iteration per hour), thresholds
    that make signals common, stops from tight to wide, budgets that run out of cash (refused
    or shrunk orders): the skipping run equals the full one."""
    market = SimulatedMarket(seed=seed, start="2023-01-03", end="2023-12-29",
                             timeframe="1Hour" if hourly else "1Day")
    s = Settings()
    s.entry.watchlist = ["AAPL", "MSFT", "TSLA", "XOM", "KO"]
    s.entry.oversold, s.entry.lookback_bars = oversold, lookback
    s.bracket.stop_loss_pct = stop
    every, quiet = _both(market, RsiBracket(s, dollars=dollars), s, start="2023-07-03",
                         end="2023-09-29" if hourly else "2023-12-28", every="1h" if hourly else "1d",
                         same_bar=same_bar, cash=50_000)
    assert_same_run(every, quiet)


def _walk(dates, seed) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, len(dates))))
    open_ = close * np.exp(rng.normal(0, 0.005, len(dates)))
    return pd.DataFrame({"date": dates, "open": open_, "high": np.maximum(open_, close) * 1.01,
                         "low": np.minimum(open_, close) * 0.99, "close": close, "volume": 1e6})


def test_quiet_gap_in_the_data_wakes_while_a_decision_sees_fewer_closes_than_the_window():
    """GAP has no bars from April to June 2024 (a halt). From July, a decision is given 165
    calendar days of bars, which hold fewer than the 100 closes of the rule's window until
    late in the year, so it computes its RSI on fewer closes: the rule cannot vouch for those
    mornings and signals every one of them (the backtest runs those where GAP is not held).
    SMOOTH, with full data, lets most be skipped."""
    days = MarketCalendar("2023-06-01", "2024-12-31").sessions_between("2023-06-01", "2024-12-31")
    held = days[(days < "2024-04-01") | (days >= "2024-07-01")]
    market = HistoricalMarket({"GAP": _walk(held, 1), "SMOOTH": _walk(days, 2)})
    s = Settings()
    s.entry.watchlist = ["GAP", "SMOOTH"]
    every, quiet = _both(market, RsiBracket(s), s, start="2024-01-02", end="2024-12-30")
    assert_same_run(every, quiet)
    times = every.equity.index[:-1]
    hits, _ = wake_mask(RsiBracket(s), s, copy.copy(market), ["GAP", "SMOOTH"], times.asi8)
    after_gap = (times >= pd.Timestamp("2024-07-01", tz="America/New_York")) & (
        times <= pd.Timestamp("2024-09-30", tz="America/New_York"))
    assert after_gap.sum() > 60 and all("GAP" in hits[k] for k in np.flatnonzero(after_gap))
    assert quiet.skipped > 20  # before the gap, mornings with nothing oversold were skipped


class _Deaf(RsiBracket):
    """Claims it never has anything to do (a wrong rule: it shows the skipping is real)."""

    def wake(self, closes, settings, **kwargs):
        return Wake({}, on_cancel=False)


def test_quiet_rule_that_never_wakes_skips_every_iteration_and_trades_nothing():
    s = Settings()
    s.entry.oversold = 45.0  # many signals: the honest rule trades
    honest = backtest(SimulatedMarket(seed=5), RsiBracket(s), s, start="2024-01-02", end="2024-06-28", progress=False)
    deaf = backtest(SimulatedMarket(seed=5), _Deaf(s), s, start="2024-01-02", end="2024-06-28", progress=False)
    assert len(honest.trades) > 0 and honest.skipped < honest.stats["iterations"]
    assert deaf.skipped == deaf.stats["iterations"] and deaf.reports == () and deaf.trades.empty
    assert (deaf.equity == 100_000.0).all()
    assert "skipped as quiet" in repr(deaf)


class _OwnHedge(CombinedStrategy):
    """Overrides a step: the rule cannot know what it proposes, so there is none."""

    def hedge(self, d):
        super().hedge(d)


def test_quiet_strategy_without_rule_runs_every_iteration():
    """January 2024 has 21 sessions from the 2nd (MLK day off), February 20 (Presidents Day)."""
    assert _OwnHedge().wake({}, Settings()) is None
    r = backtest(SimulatedMarket(seed=7), _OwnHedge(), start="2024-01-02", end="2024-02-29", progress=False)
    assert r.skipped == 0 and len(r.reports) == r.stats["iterations"] == 41
    assert "skipped" not in repr(r)


class _Returns(RsiBracket):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def wake(self, closes, settings, **kwargs):
        return self.value(closes) if callable(self.value) else self.value


@pytest.mark.parametrize("value, error, words", [
    ({"AAPL": True}, TypeError, "_Returns.wake() returned dict, not a Wake or None"),
    (lambda c: Wake({"NOPE": np.zeros(3, bool)}), ValueError, "signals for 'NOPE', which it was not given bars of"),
    (lambda c: Wake({"AAPL": np.zeros(len(c["AAPL"].close) - 1, bool)}), ValueError,
     "the signals of 'AAPL' must be a bool array of"),
    (lambda c: Wake({"AAPL": np.zeros(len(c["AAPL"].close))}), ValueError, "got float64"),
])
def test_quiet_bad_wake_rule_is_refused_naming_what_is_wrong(value, error, words):
    with pytest.raises(error) as e:
        backtest(SimulatedMarket(seed=7), _Returns(value), start="2024-01-02", end="2024-01-31", progress=False)
    assert words in str(e.value)


# ---------------------------------------------------------------- CombinedStrategy's rule
def _combined_settings() -> Settings:
    """Thresholds that make every step of the combined strategy act often on a simulated year:
    oversold at 40 (entries), bearish when 2 of the 5 sentiment names are above 62 (hedges),
    entries of 9% under a 10% position cap (a rise of a tenth trims), default 5% / 15% levels."""
    s = Settings()
    s.entry.oversold, s.entry.position_pct = 40.0, 0.09
    s.hedge.overbought, s.hedge.bearish_ratio = 62.0, 0.4
    s.rebalance.max_position_pct = 0.1
    return s


def _intent_kinds(result) -> set[str]:
    return {type(i).__name__ + ("/hedge" if getattr(i, "purpose", "") == "hedge" else "")
            for r in result.reports for i in r.plan.intents}


def test_quiet_combined_real_daily_ten_years_same_run_as_every_iteration(real_data_dir):
    """The benchmark's run: 13 real stocks + SH + SPY, 2015-2024, default settings. Entries,
    exits at the levels, hedges and trims all happen, and the skipping run equals the full one
    order for order and cent for cent, while most mornings are skipped."""
    names = ("AAPL", "MSFT", "GOOGL", "AMZN", "META", "NVDA", "TSLA", "JPM", "JNJ", "XOM", "KO", "WMT", "UNH")
    market = HistoricalMarket({s: pd.read_csv(real_data_dir / f"{s}.csv") for s in (*names, "SH", "SPY")})
    s = Settings()
    s.entry.watchlist = list(names)
    every, quiet = _both(market, CombinedStrategy(), s, start="2015-01-01", end="2024-12-31")
    assert_same_run(every, quiet)
    assert {"EnterBracket", "EnterBracket/hedge", "TrimPosition"} <= _intent_kinds(every)
    assert quiet.skipped > 0.7 * quiet.stats["iterations"]


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), hourly=st.booleans(), cap=st.sampled_from([0.1, 0.12, 0.2]),
       ratio=st.sampled_from([0.2, 0.4, 0.6]), tif=st.sampled_from(["gtc", "day"]),
       same_bar=st.sampled_from(["worst", "best", "path"]), etf=st.sampled_from(["SH", "SQQQ", "SPXS"]),
       steps=st.sampled_from([(True, True, True), (False, True, True), (True, False, True), (True, True, False)]),
       trail=st.sampled_from([None, None, 0.02, 0.05, 0.1]))
def test_quiet_combined_random_markets_same_run_as_every_iteration(seed, hourly, cap, ratio, tif, same_bar, etf,
                                                                     steps, trail):
    """Random simulated markets, daily or hourly, with caps that trim, ratios that hedge with
    any of the inverse ETFs, exit legs that live a day (expiring every close: woken by the
    cancel to re-protect) or until cancelled, with entries, the hedge or the rebalance
    switched off in turn, and with or without trailing stops (tight to wide): the skipping run
    equals the full one."""
    market = SimulatedMarket(seed=seed, start="2023-01-03", end="2023-12-29", timeframe="1Hour" if hourly else "1Day")
    s = _combined_settings()
    s.rebalance.max_position_pct, s.hedge.bearish_ratio, s.bracket.time_in_force = cap, ratio, tif
    s.hedge.inverse_etf = etf
    s.entry.enabled, s.hedge.enabled, s.rebalance.enabled = steps
    s.bracket.trailing_stop_pct = trail
    every, quiet = _both(market, CombinedStrategy(), s, start="2023-07-03",
                         end="2023-09-29" if hourly else "2023-12-28", every="1h" if hourly else "1d",
                         same_bar=same_bar)
    assert_same_run(every, quiet)


class _NoCapRule(CombinedStrategy):
    """The rule without its account condition (a wrong rule: it misses the trims)."""

    def wake(self, closes, settings, **kwargs):
        return dataclasses.replace(super().wake(closes, settings), max_weight=None)


class _NoTrailRule(CombinedStrategy):
    """The rule without its trailing condition (a wrong rule: it misses stop raises)."""

    def wake(self, closes, settings, **kwargs):
        return dataclasses.replace(super().wake(closes, settings), trail_pct=None)


def test_quiet_combined_trailing_stops_real_daily_same_run_and_the_trail_condition_is_needed(real_data_dir):
    """Five real stocks + SH + SPY, 2018-2020, stops trailing 5% below each new high: stop legs
    are raised dozens of times, and the skipping run equals the full one. Without the rule's
    trailing condition, raises on mornings nothing else wakes are lost."""
    names = ("AAPL", "MSFT", "NVDA", "JPM", "XOM")
    market = HistoricalMarket({s: pd.read_csv(real_data_dir / f"{s}.csv") for s in (*names, "SH", "SPY")})
    s = Settings()
    s.entry.watchlist = list(names)
    s.bracket.trailing_stop_pct = 0.05
    kw = dict(start="2018-01-02", end="2020-12-31")
    every, quiet = _both(market, CombinedStrategy(), s, **kw)
    assert_same_run(every, quiet)
    raises = _orders_coded(every, "s")
    assert raises > 30 and quiet.skipped > 0.3 * quiet.stats["iterations"]
    assert _orders_coded(backtest(market, _NoTrailRule(), s, progress=False, **kw), "s") < raises


class _NoHedgeRule(CombinedStrategy):
    """The rule without the inverse ETF's bearish flags (a wrong rule: it misses the hedges)."""

    def wake(self, closes, settings, **kwargs):
        rule = super().wake(closes, settings)
        return dataclasses.replace(rule, signals={k: v for k, v in rule.signals.items() if k != "SH"})


def _orders_coded(result, code: str) -> int:
    """Orders the Trader sent for one kind of intent (its client order ids read at-TIME-CODE-SYMBOL)."""
    return sum(f"-{code}-" in str(c) for c in result.orders.get("client_order_id", ()))


def test_quiet_combined_each_part_of_the_rule_is_needed():
    """Seed 0's simulated year (2023) with the busy thresholds: every step acts. Dropping the
    position-cap condition from the rule loses trims. With entries and trims off (only the
    hedge can act), dropping the hedge's flags loses hedges (SH is not on the watchlist): each
    part wakes iterations the plan needs."""
    market = SimulatedMarket(seed=0, start="2023-01-03", end="2023-12-29")
    s = _combined_settings()
    kw = dict(start="2023-03-01", end="2023-12-28", progress=False)
    every, quiet = _both(market, CombinedStrategy(), s, start="2023-03-01", end="2023-12-28")
    assert_same_run(every, quiet)
    assert {"EnterBracket", "EnterBracket/hedge", "TrimPosition", "ProtectPosition"} <= _intent_kinds(every)
    assert "SH" not in s.entry.watchlist
    no_cap = backtest(market, _NoCapRule(), s, **kw)
    trims = _orders_coded(every, "t")
    assert trims > 0 and _orders_coded(no_cap, "t") < trims
    s.entry.enabled = s.rebalance.enabled = False
    hedge_only, no_hedge = backtest(market, CombinedStrategy(), s, **kw), backtest(market, _NoHedgeRule(), s, **kw)
    hedges = _orders_coded(hedge_only, "h")
    assert hedges > 0 and _orders_coded(no_hedge, "h") < hedges


def test_quiet_combined_sentiment_on_another_grid_counts_while_the_etf_bar_is_last():
    """SH has bars on Mondays, Wednesdays and Fridays only, the sentiment names every session
    (another time grid): while SH's Monday bar is its last complete one, the sentiment names'
    Monday and Tuesday bars are theirs in turn, and a Tuesday turning bearish must wake the
    Tuesday-evening iteration. The skipping run equals the full one, hedges included."""
    days = MarketCalendar("2023-01-03", "2024-06-28").sessions_between("2023-01-03", "2024-06-28")
    sparse = days[days.day_of_week.isin([0, 2, 4])]
    frames = {sym: _walk(days, k) for k, sym in enumerate(("AAPL", "MSFT", "GOOGL", "NVDA", "TSLA"))}
    frames |= {"SH": _walk(sparse, 9), "KO": _walk(days, 10)}
    market = HistoricalMarket(frames)
    s = _combined_settings()
    s.entry.watchlist = ["KO"]
    s.entry.lookback_bars = 42
    every, quiet = _both(market, CombinedStrategy(), s, start="2023-09-01", end="2024-06-28")
    assert_same_run(every, quiet)
    assert "EnterBracket/hedge" in _intent_kinds(every) and quiet.skipped > 0


class _NearStopExits(CombinedStrategy):
    """Overrides the helper the protect step hands its Draft to, and exits there."""

    def _near_stop(self, d, p, stop):
        d.add(ExitPosition(symbol=p.symbol, qty=p.qty, price=p.current_price, stop_loss=stop, reason="nervous"))


def test_quiet_combined_subclass_overriding_a_step_has_no_rule_but_a_veto_keeps_it():
    """A subclass that overrides a step (or ``_near_stop``, which is given the Draft) may add
    intents the rule knows nothing of: no rule, so every iteration runs and such a strategy's
    exits all happen. ``confidence`` and ``filter_entry`` can only veto entries the rule already
    wakes for: they keep it."""
    class Picky(CombinedStrategy):
        def filter_entry(self, symbol, **kwargs):
            return symbol != "TSLA"

    s = Settings()
    closes = _closes_of(SimulatedMarket(seed=3), s)
    assert _OwnHedge().wake(closes, s) is None and _NearStopExits().wake(closes, s) is None
    assert isinstance(Picky().wake(closes, s), Wake) and isinstance(CombinedStrategy().wake(closes, s), Wake)
    r = backtest(SimulatedMarket(seed=3), _NearStopExits(), s, start="2024-01-02", end="2024-03-28", progress=False)
    assert r.skipped == 0


def _closes_of(market, settings):
    from activetrader.backtest.quiet import daily_closes
    return daily_closes(market.fork(), CombinedStrategy().universe(settings))


def test_quiet_bad_max_weight_is_refused_naming_it():
    class Bad(CombinedStrategy):
        def wake(self, closes, settings, **kwargs):
            return dataclasses.replace(super().wake(closes, settings), max_weight=-1)

    with pytest.raises(ValueError, match=r"Bad.wake\(\): max_weight=-1 is not allowed"):
        backtest(SimulatedMarket(seed=7), Bad(), start="2024-01-02", end="2024-01-31", progress=False)


def test_quiet_bad_trail_pct_is_refused_naming_it():
    class Bad(CombinedStrategy):
        def wake(self, closes, settings, **kwargs):
            return dataclasses.replace(super().wake(closes, settings), trail_pct=1.5)

    with pytest.raises(ValueError, match=r"Bad.wake\(\): trail_pct=1.5 is not allowed: use a fraction above 0 "
                                         r"and below 1"):
        backtest(SimulatedMarket(seed=7), Bad(), start="2024-01-02", end="2024-01-31", progress=False)


def test_quiet_exit_that_closes_the_position_is_no_cancel_event_but_a_cancel_is():
    """Daily bars: March 4 closes at 100; March 5 opens at 100 (the bracket buy of 10 AAA fills,
    take-profit 115 / stop 95 start working) and trades up to 120, so the take-profit fills and
    the stop is cancelled with it. The position is closed, nothing is left unprotected: no event
    for a wake rule (``ended_unfilled`` stays 0). Then a bracket buy (at 116: take-profit 130 /
    stop 110) cancelled by the user ends unfilled with its two legs: three events."""
    days = pd.DatetimeIndex(["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07"])
    bars = pd.DataFrame({"date": days, "open": [100.0, 100.0, 116.0, 116.0], "high": [100.0, 120.0, 117.0, 117.0],
                         "low": [100.0, 99.0, 115.0, 115.0], "close": [100.0, 116.0, 116.0, 116.0], "volume": 1e6})
    broker = SimBroker(HistoricalMarket({"AAA": bars}), cash=10_000, start=pd.Timestamp("2024-03-05 09:00", tz=NY))

    def bracket(tp, sl):
        return broker.submit_order(MarketOrderRequest(symbol="AAA", qty=10, side="buy", time_in_force="gtc",
                                                      order_class="bracket",
                                                      take_profit=TakeProfitRequest(limit_price=tp),
                                                      stop_loss=StopLossRequest(stop_price=sl)))
    bracket(115.0, 95.0)
    broker.advance_to(pd.Timestamp("2024-03-06 09:00", tz=NY))
    assert [(f.side, f.price) for f in broker.fills] == [("buy", 100.0), ("sell", 115.0)]
    assert not broker.get_all_positions() and broker.ended_unfilled == 0
    order = bracket(130.0, 110.0)
    broker.cancel_order_by_id(order.id)
    assert broker.ended_unfilled == 3


# ---------------------------------------------------------------- reports on demand
@pytest.mark.parametrize("strategy", [CombinedStrategy(), RsiBracket()], ids=["combined", "rsi_bracket"])
def test_quiet_report_of_a_skipped_iteration_is_the_one_a_run_of_every_iteration_makes(strategy):
    """The embedded market through 2024: most mornings are skipped. The report of a skipped
    morning, made on demand by replaying the run to it, equals the report the run of every
    iteration made there, field for field (plan, sentiment, RSI, account, outcomes); the report
    of a morning that ran is the stored one."""
    from activetrader.scenario import default_market

    market = default_market()
    every, quiet = _both(market, strategy, Settings(), start="2024-01-02", end="2024-12-31")
    ran = {r.timestamp.value for r in quiet.reports}
    skipped = [k for k, t in enumerate(quiet.iteration_times) if t.value not in ran]
    assert len(skipped) > 100
    for k in (skipped[0], skipped[len(skipped) // 2], skipped[-1]):
        assert quiet.report(quiet.iteration_times[k]).to_dict() == every.reports[k].to_dict()
    first_ran = quiet.reports[0]
    assert quiet.report(first_ran.timestamp) is first_ran
    assert every.report(every.iteration_times[skipped[0]]) is every.reports[skipped[0]]


def test_quiet_report_finds_an_iteration_by_time_or_date_and_names_what_is_not_one():
    """Daily at 09:00 New York over March 2024: a date, a naive New York time and a UTC time all
    find the same iteration; a Saturday, another hour, the final close and a non-time do not."""
    r = backtest(SimulatedMarket(seed=7), RsiBracket(), start="2024-03-01", end="2024-03-28", progress=False)
    by_date = r.report("2024-03-12")
    assert by_date.timestamp == pd.Timestamp("2024-03-12 13:00", tz="UTC")  # 09:00 EDT
    assert r.report("2024-03-12 09:00").to_dict() == r.report(pd.Timestamp("2024-03-12 13:00", tz="UTC")).to_dict()
    with pytest.raises(ValueError, match=r"2024-03-09 00:00:00-05:00 is not an iteration time of this backtest"):
        r.report("2024-03-09")  # a Saturday
    with pytest.raises(ValueError, match=r"is not an iteration time"):
        r.report("2024-03-12 10:00")
    with pytest.raises(ValueError, match=r"the final close, is not one"):
        r.report(r.equity.index[-1])
    with pytest.raises(ValueError, match=r"when='soon' is not a time"):
        r.report("soon")


def test_quiet_report_of_a_date_with_several_hourly_iterations_asks_for_the_time():
    market = SimulatedMarket(seed=3, start="2024-01-02", end="2024-03-28", timeframe="1Hour")
    r = backtest(market, RsiBracket(), start="2024-03-04", end="2024-03-08", every="1h", progress=False)
    with pytest.raises(ValueError, match=r"2024-03-05 has 7 iterations \(09:30 to 15:30 New York\): give the time"):
        r.report("2024-03-05")
    assert r.report("2024-03-05 10:30").timestamp == pd.Timestamp("2024-03-05 15:30", tz="UTC")


def test_quiet_report_on_demand_names_a_rule_that_skipped_a_non_empty_plan():
    """A wrong rule (it never wakes) skips the mornings the honest rule trades on: asked for
    such a morning, the replay finds a plan with an entry and says which rule is wrong."""
    s = Settings()
    s.entry.oversold = 45.0
    kw = dict(start="2024-01-02", end="2024-06-28", progress=False)
    honest = backtest(SimulatedMarket(seed=5), RsiBracket(s), s, **kw)
    busy = next(r.timestamp for r in honest.reports if r.plan.intents)
    deaf = backtest(SimulatedMarket(seed=5), _Deaf(s), s, **kw)
    with pytest.raises(RuntimeError, match=r"_Deaf.wake\(\) let the backtest skip the iteration at .* but its plan "
                                           r"there is not empty .*run with skip_quiet=False"):
        deaf.report(busy)


def test_quiet_report_replays_the_run_settings_not_the_results_edited_ones():
    """A result's settings are the user's to change after the run; the report of a skipped
    morning still replays the run's own (a 3% cap would have trimmed there)."""
    from activetrader.scenario import default_market

    market = default_market()
    every, quiet = _both(market, CombinedStrategy(), Settings(), start="2024-01-02", end="2024-06-28")
    ran = {r.timestamp.value for r in quiet.reports}
    k = max(i for i, t in enumerate(quiet.iteration_times) if t.value not in ran)
    quiet.settings.rebalance.max_position_pct = 0.03
    assert quiet.report(quiet.iteration_times[k]).to_dict() == every.reports[k].to_dict()


def test_quiet_pickled_result_keeps_its_reports_and_says_why_a_skipped_one_is_gone():
    import pickle

    r = backtest(SimulatedMarket(seed=7), RsiBracket(), start="2024-01-02", end="2024-03-28", progress=False)
    back = pickle.loads(pickle.dumps(r))
    assert back.replay is None and len(pickle.dumps(r)) < 500_000
    pd.testing.assert_series_equal(back.equity, r.equity)
    assert back.report(r.reports[0].timestamp).to_dict() == r.reports[0].to_dict()
    ran = {x.timestamp.value for x in r.reports}
    skipped = next(t for t in r.iteration_times if t.value not in ran)
    with pytest.raises(LookupError, match=r"was skipped as quiet, and this result no longer has its run to replay"):
        back.report(skipped)
    assert r.report(skipped).timestamp.value == skipped.value  # the original still replays
