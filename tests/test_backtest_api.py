"""The backtest API: the same code path as a hand loop, schedules, progress, inputs, results.

Market paths here are the embedded simulated market's (seeded); what is asserted does not depend
on its prices except where stated.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from activetrader import BacktestResult, Settings, Trader, backtest, compare
from activetrader.backtest import progress as progress_mod
from activetrader.broker import SimBroker
from activetrader.market import SimulatedMarket
from activetrader.scenario import default_market
from activetrader.strategy import CombinedStrategy

NY = "America/New_York"


@pytest.fixture(scope="module")
def market():
    return default_market()


@pytest.fixture(scope="module")
def spring(market):
    """The active strategy over six weeks of spring 2024 (it enters and exits in that time)."""
    return backtest(market, start="2024-03-18", end="2024-04-26", progress=False)


def _hand_loop(market, times, settings=None):
    broker = SimBroker(market, cash=100_000, start=times[0])
    trader = Trader(broker=broker, settings=settings or Settings())
    for t in times:
        broker.advance_to(t)
        trader.iteration()
    return broker.orders_frame()


# ---------------------------------------------------------------- same code path
def test_backtest_submits_exactly_the_orders_of_a_hand_loop(market, spring):
    days = market.calendar.sessions_between("2024-03-18", "2024-04-26")
    times = [pd.Timestamp(d).tz_localize(NY) + pd.Timedelta(hours=9) for d in days]
    by_hand = _hand_loop(market, times)
    cols = ["client_order_id", "symbol", "side", "type", "order_class", "qty", "limit_price", "stop_price"]
    top = lambda o: o[o["parent_id"].isna()][cols].reset_index(drop=True)  # noqa: E731 - legs have uuid ids
    assert len(top(by_hand)) >= 10, "the window must have orders to compare"
    pd.testing.assert_frame_equal(top(spring.orders), top(by_hand))
    assert len(spring.orders) == len(by_hand)  # legs included


def test_backtest_hourly_on_simulated_market_runs_once_per_regular_hour_like_a_hand_loop():
    hourly = SimulatedMarket(seed=10, start="2024-06-03", end="2024-07-31", timeframe="1Hour")
    r = backtest(hourly, start="2024-07-01", end="2024-07-12", every="1h", progress=False)
    stamps = r.equity.index[:-1]
    per_day = pd.Series(1, index=stamps).groupby(stamps.date).size()
    # 09:30 ... 15:30 on a full day; 09:30 ... 12:30 on Wednesday 3 July (13:00 early close); the 4th is a holiday.
    assert per_day[dt.date(2024, 7, 3)] == 4 and dt.date(2024, 7, 4) not in per_day.index
    assert set(per_day.drop(dt.date(2024, 7, 3))) == {7}
    assert [t.strftime("%H:%M") for t in stamps[:7]] == ["09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30"]
    assert r.equity.index[-1] == pd.Timestamp("2024-07-12 16:00", tz=NY)
    assert r.stats["iterations"] == len(stamps) == 9 * 7 - 3
    by_hand = _hand_loop(hourly, list(stamps.tz_convert("UTC")))
    assert list(r.orders["client_order_id"][r.orders["parent_id"].isna()]) == \
        list(by_hand["client_order_id"][by_hand["parent_id"].isna()])
    assert list(r.orders["qty"]) == list(by_hand["qty"])


class DataClientOnly:
    """A market-data client that is not a Market: only ``get_stock_bars`` (as alpaca-py's
    ``StockHistoricalDataClient``), counting the requests."""

    def __init__(self, market):
        self._market, self.requests = market, []

    def get_stock_bars(self, request):
        self.requests.append(request)
        return self._market.get_stock_bars(request)


def test_trader_backtest_on_a_data_client_fetches_once_and_matches_the_market_backtest(market, spring):
    client = DataClientOnly(default_market())
    trader = Trader(broker=SimBroker(market, cash=5_000), market=client)
    assert not hasattr(trader.market, "arrays")
    r = trader.backtest("2024-03-18", "2024-04-26", progress=False)
    assert len(client.requests) == 1
    req = client.requests[0]
    assert sorted(req.symbol_or_symbols) == sorted({*Settings().entry.watchlist, *Settings().hedge.sentiment_symbols,
                                                    "SH"})
    start = pd.Timestamp(req.start)
    start = start.tz_localize("UTC") if start.tzinfo is None else start  # alpaca-py: naive is UTC
    assert start < pd.Timestamp("2024-03-18", tz=NY) - pd.Timedelta(days=100)  # the first decision's lookback
    cols = ["client_order_id", "symbol", "qty"]
    pd.testing.assert_frame_equal(r.orders[cols], spring.orders[cols])
    assert r.equity.tolist() == pytest.approx(spring.equity.tolist())
    assert float(trader.broker.get_account().cash) == 5_000  # the trader's own broker is untouched


def test_trader_backtest_uses_its_own_settings_and_strategy(market):
    settings = Settings()
    settings.entry.enabled = False
    settings.hedge.enabled = False
    trader = Trader(broker=SimBroker(market, cash=100_000), settings=settings)
    r = trader.backtest("2024-03-18", "2024-04-05", progress=False)
    assert r.orders.empty and set(r.equity) == {100_000.0}
    assert r.strategy == "CombinedStrategy" and r.settings == settings and r.settings is not settings


# ---------------------------------------------------------------- progress
def test_backtest_progress_false_prints_nothing_and_true_draws_a_bar(market, capsys):
    run = dict(start="2024-03-18", end="2024-03-22")
    backtest(market, progress=False, **run)
    assert capsys.readouterr().err == ""
    backtest(market, progress=True, **run)
    err = capsys.readouterr().err
    assert "backtest" in err and "5/5" in err


def test_backtest_progress_callable_hears_start_steps_and_end(market):
    calls = []
    backtest(market, start="2024-03-18", end="2024-03-28", progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 9) and calls[-1] == (9, 9)
    assert [d for d, _ in calls] == sorted({d for d, _ in calls})


def test_backtest_progress_callback_is_throttled_on_long_runs():
    calls = []
    p = progress_mod.reporter(lambda d, t: calls.append(d), 10_000)
    for i in range(10_000):
        p.update(i + 1)
    assert calls[0] == 0 and calls[-1] == 10_000 and len(calls) <= progress_mod.CALLBACK_STEPS + 2


def test_backtest_progress_none_is_off_outside_an_interactive_session(monkeypatch):
    monkeypatch.setattr(progress_mod, "interactive", lambda: False)
    assert repr(progress_mod.reporter(None, 5_000)) == "Progress(off)"
    monkeypatch.setattr(progress_mod, "interactive", lambda: True)
    p = progress_mod.reporter(None, 5_000)
    try:
        assert repr(p) == "Progress(bar)" and p._bar.delay == progress_mod.DELAY_S  # only long runs show it
    finally:
        p.close()


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(every="1w"), ValueError, r"every='1w' is not a backtest schedule"),
    (dict(at="25:00"), ValueError, r"at='25:00' is not a time of day"),
    (dict(at=9), ValueError, r"at=9 is not a time of day"),
    (dict(start="2024-04-05", end="2024-04-01"), ValueError, r"start \(2024-04-05\) must be before end"),
    (dict(start="2024-04-05", end="2024-04-05"), ValueError, r"must be before end"),
    (dict(start="2020-01-02"), ValueError, r"outside the market's bars \(2023-01-03\.\.2025-12-31\)"),
    (dict(end="2026-06-30"), ValueError, r"outside the market's bars"),
    (dict(start="someday"), ValueError, r"start='someday' is not a date"),
    (dict(start="2024-03-30", end="2024-03-31"), ValueError, r"no trading session between 2024-03-30 and 2024-03-31"),
    (dict(cash=0), ValueError, r"cash=0 is not allowed: use a positive number"),
    (dict(cash=-5), ValueError, r"cash=-5"),
    (dict(cash="lots"), ValueError, r"cash='lots'"),
    (dict(cash=True), ValueError, r"cash=True"),
    (dict(cash=float("nan")), ValueError, r"cash=nan"),
    (dict(same_bar="sometimes"), ValueError, r"same_bar='sometimes' is not allowed"),
    (dict(every="1h"), ValueError, r"every='1h' needs intraday bars; this market has '1Day' bars"),
    (dict(strategy=CombinedStrategy), TypeError, r"is a class: pass an instance, e.g. CombinedStrategy\(\)"),
    (dict(strategy="rsi"), TypeError, r"strategy must be an activetrader.strategy.Strategy, not str"),
    (dict(settings={"bracket": {}}), TypeError, r"settings must be an activetrader.Settings, not dict"),
    (dict(progress="yes"), TypeError, r"progress='yes'"),
])
def test_backtest_bad_input_raises_a_clear_error(market, kwargs, error, match):
    args = dict(start="2024-03-18", end="2024-03-22") | kwargs
    with pytest.raises(error, match=match):
        backtest(market, **args)


def test_backtest_on_something_that_is_no_market_names_it():
    with pytest.raises(TypeError, match=r"market must be a Market .* or a market-data client with get_stock_bars, "
                                        r"not int"):
        backtest(42, start="2024-03-18", end="2024-03-22")


# ---------------------------------------------------------------- the result
def test_backtest_result_has_one_equity_point_per_iteration_and_the_final_close(spring):
    r = spring
    assert isinstance(r, BacktestResult)
    assert str(r.equity.index.tz) == NY and r.equity.index.is_monotonic_increasing
    # Quiet iterations are skipped (CombinedStrategy's wake rule): a report for each one that ran.
    assert len(r.equity) == r.stats["iterations"] + 1 == len(r.reports) + r.skipped + 1
    assert r.reports and {rep.timestamp for rep in r.reports} <= set(r.equity.index[:-1].tz_convert("UTC"))
    assert r.equity.index[-1] == pd.Timestamp("2024-04-26 16:00", tz=NY)
    assert (r.drawdown <= 0).all() and r.drawdown.min() == pytest.approx(r.stats["max_drawdown"])
    assert set(r.trades["exit_reason"]) <= {"take_profit", "stop_loss", "trim", "exit", "open"}
    assert {"take_profit", "stop_loss"} <= set(r.trades["exit_reason"])
    assert list(r.orders.columns[:13]) == ["id", "client_order_id", "symbol", "side", "type", "order_class", "qty",
                                           "status", "submitted_at", "filled_at", "filled_avg_price", "limit_price",
                                           "stop_price"]
    # Round trips account for every filled share: bought = closed + still open.
    f = r.fills
    assert r.trades["qty"].sum() == pytest.approx(f.loc[f["side"] == "buy", "qty"].sum())
    # Realised P/L of the broker equals the round trips' closed P/L (one lot per symbol at a time here).
    closed = r.trades[r.trades["exit_reason"] != "open"]
    assert closed["pnl"].sum() == pytest.approx(f["realized_pl"].sum())
    # Equity at the end = starting cash + closed P/L + open P/L marked at the last close.
    assert r.equity.iloc[-1] == pytest.approx(100_000 + r.trades["pnl"].sum())


def test_backtest_result_renders_as_text_html_and_a_chart_updated_in_place(spring, market):
    text = repr(spring)
    assert text.startswith("BacktestResult(CombinedStrategy 2024-03-18..2024-04-26, daily at 09:00 ET")
    assert "max_drawdown" in text and "gapped_stops" in text
    last = text.splitlines()[-1]  # wall-clock time only as "in 0.12s"
    assert f"{int(spring.stats['iterations'])} iterations ({spring.skipped} skipped as quiet) in " in last
    html = spring._repr_html_()
    assert "<table>" in html and "total_return" in html
    fig = spring.plot()
    assert [t.name for t in fig.data] == ["equity", "entries", "exits", "drawdown"]
    assert len(fig.data[0].y) == len(spring.equity)
    assert len(fig.data[2].x) == (spring.trades["exit_reason"] != "open").sum()
    other = backtest(market, start="2024-03-18", end="2024-03-22", progress=False)
    assert other.plot(fig=fig) is fig and len(fig.data[0].y) == 6
    with pytest.raises(ValueError, match="was not made by this chart"):
        spring.plot(fig=compare({"a": spring}).plot())


def test_compare_puts_stats_side_by_side_and_draws_one_chart(spring, market):
    from activetrader.strategy import BuyAndHold

    passive = backtest(market, BuyAndHold(), start="2024-03-18", end="2024-04-26", progress=False)
    c = compare({"passive": passive, "active": spring})
    assert list(c.table.columns) == ["passive", "active"]
    assert c.table.loc["total_return", "active"] == spring.stats["total_return"]
    assert c.table.loc["gapped_stops", "passive"] == 0
    fig = c.plot()
    assert [t.name for t in fig.data] == ["passive", "active", "drawdown passive", "drawdown active"]
    assert c.plot(fig=fig) is fig
    assert "passive" in repr(c) and "<table" in c._repr_html_()
    with pytest.raises(TypeError, match="'b' is a int, not a BacktestResult"):
        compare({"a": spring, "b": 3})
    with pytest.raises(ValueError, match="non-empty dict"):
        compare({})


def test_trader_backtest_leaves_the_live_clock_of_its_market_alone():
    """A backtest replays on its own view of the market: the live simulated broker on the same
    market keeps seeing bars as of its own moment, not the backtest's."""
    trader = Trader()
    before = trader.market.as_of
    trader.backtest("2024-09-03", "2024-09-13", progress=False)  # after the trader's own moment
    assert trader.market.as_of == before == trader.now
    assert trader.snapshot().bars.index.get_level_values("timestamp").max() < trader.now


def test_backtest_on_a_data_client_without_the_bars_says_so():
    class Empty:
        def get_stock_bars(self, request):
            from activetrader.market.frames import BarSet

            return BarSet({})

    with pytest.raises(ValueError, match=r"the data client returned no bars for AAPL, AMD, AMZN, GOOGL, JNJ\.\.\. "
                                         r"between"):
        backtest(Empty(), start="2024-03-18", end="2024-03-22")


def test_backtest_runs_on_a_copy_of_the_settings(market, spring):
    """Changing the settings while a run is going (a panel could) changes nothing in that run."""
    settings = Settings()

    def meddle(done, total):
        settings.entry.enabled = False      # would stop every new entry if the run saw it
        settings.bracket.stop_loss_pct = 0.01

    r = backtest(market, settings=settings, start="2024-03-18", end="2024-04-26", progress=meddle)
    cols = ["client_order_id", "qty", "stop_price"]
    pd.testing.assert_frame_equal(r.orders[cols], spring.orders[cols])
    assert r.settings.entry.enabled and not settings.entry.enabled
