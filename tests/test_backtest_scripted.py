"""A backtest on a small scripted market, with every number worked out by hand.

The market (daily bars, HistoricalMarket from frames written here; O/H/L/C):

=========  ======================  =======================  =========================
session    AAA (take-profit)       BBB (gapped stop)        CCC (trim)
=========  ======================  =======================  =========================
Tue 01-02  100/100/100/100         100/100/100/100          100/100/100/100
Wed 01-03  100/101/99.5/101        100/100.5/98/99          100/101/99.5/100.5
Thu 01-04  102/116/101.5/114       99/99.5/97/97            101/109/100.8/108.8
Fri 01-05  114/114/114/114         90/91/89/90              110/111/109/110
Mon 01-08  114/114/114/114         90/90/90/90              110/110/110/110
=========  ======================  =======================  =========================

The strategy (a user subclass written only against the strategy contract) buys 100 shares of
each at the first iteration with a bracket at +15% / -5% of the last close (100: take-profit
115, stop 95), and sells half of a still-whole position once its price is 8% above its entry,
cancelling the bracket legs and re-protecting the other half with an OCO at 115 / 95.

Iterations at 09:00 New York on 01-03, 01-04, 01-05 and 01-08, then the close of 01-08.
Expected fills:

* 01-03 09:30: the three entries fill at the open, 100 each (cash 100,000 - 30,000 = 70,000).
* 01-04: AAA's high 116 crosses the take-profit: sold at 115 (+1,500, +15%).
* 01-05 09:00: CCC closed 108.8 (>= 108): trim 50 and re-protect 50. At the 09:30 open the
  trim sells 50 at 110 (+500, +10%) and BBB opens at 90, beyond its 95 stop: the stop fills at
  the open, 90 (-1,000, -10%): a gapped stop.
* CCC's other 50 shares are still held at the end, marked at the last close 110 (+500).

Equity at each point (cash + shares x last complete close):
01-03 09:00 100,000; 01-04 09:00 70,000 + 100 x (101 + 99 + 100.5) = 100,050;
01-05 09:00 81,500 + 100 x 97 + 100 x 108.8 = 102,080; 01-08 09:00 96,000 + 50 x 110 = 101,500;
01-08 16:00 the same, 101,500.
"""

from __future__ import annotations

import math
import statistics

import pandas as pd
import pytest

from activetrader import Settings, backtest
from activetrader.market import HistoricalMarket
from activetrader.strategy import EnterBracket, Plan, ProtectPosition, Strategy, TrimPosition, bracket_levels

DATES = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"]
BARS = {
    "AAA": [(100, 100, 100, 100), (100, 101, 99.5, 101), (102, 116, 101.5, 114), (114, 114, 114, 114),
            (114, 114, 114, 114)],
    "BBB": [(100, 100, 100, 100), (100, 100.5, 98, 99), (99, 99.5, 97, 97), (90, 91, 89, 90), (90, 90, 90, 90)],
    "CCC": [(100, 100, 100, 100), (100, 101, 99.5, 100.5), (101, 109, 100.8, 108.8), (110, 111, 109, 110),
            (110, 110, 110, 110)],
}
NY = "America/New_York"


def scripted_market() -> HistoricalMarket:
    frames = {s: pd.DataFrame({"date": DATES, "open": [b[0] for b in bars], "high": [b[1] for b in bars],
                               "low": [b[2] for b in bars], "close": [b[3] for b in bars], "volume": 1_000})
              for s, bars in BARS.items()}
    return HistoricalMarket(frames)


class BuyThenTrimHalf(Strategy):
    """A user strategy, written only against the contract: ``propose``, ``Snapshot.closes``,
    ``position``, ``orders_for``, ``Plan`` and the intents."""

    SHARES = 100

    def propose(self, snapshot, settings, **kwargs):
        intents = []
        for sym in settings.entry.watchlist:
            closes = snapshot.closes(sym)
            if closes.empty:
                continue
            price = float(closes.iloc[-1])
            pos = snapshot.position(sym)
            if pos is None and len(closes) == 1:  # the first morning: only one complete bar
                tp, sl = bracket_levels(price, take_profit_pct=0.15, stop_loss_pct=0.05)
                intents.append(EnterBracket(symbol=sym, qty=self.SHARES, reference_price=price, take_profit=tp,
                                            stop_loss=sl, reason="scripted entry"))
            elif pos is not None and pos.qty == self.SHARES and price >= pos.avg_entry_price * 1.08:
                legs = [o for o in snapshot.orders_for(sym) if o.side == "sell" and o.is_live]
                tp = min(o.limit_price for o in legs if o.type == "limit")
                sl = max(o.stop_price for o in legs if o.stop_price is not None)
                half = self.SHARES // 2
                equity = snapshot.portfolio_value
                intents.append(TrimPosition(
                    symbol=sym, sell_qty=half, remaining_qty=half, price=price,
                    weight_before=pos.qty * price / equity, weight_after=half * price / equity,
                    cancel_order_ids=tuple(sorted(o.id for o in legs)), reason="take half off at +8%",
                    reprotect=ProtectPosition(symbol=sym, qty=half, take_profit=tp, stop_loss=sl,
                                              entry_price=pos.avg_entry_price, reason="re-protect the rest")))
        return Plan(intents=tuple(intents), cash_after=snapshot.account.cash)


def scripted_settings() -> Settings:
    s = Settings()
    s.entry.watchlist = ("AAA", "BBB", "CCC")
    s.hedge.enabled = False
    return s


@pytest.fixture(scope="module")
def result():
    return backtest(scripted_market(), BuyThenTrimHalf(), scripted_settings(), start="2024-01-03", end="2024-01-08",
                    progress=False)


def test_backtest_scripted_market_equity_matches_hand_computed_values(result):
    expected = [100_000.0, 100_050.0, 102_080.0, 101_500.0, 101_500.0]
    assert result.equity.tolist() == pytest.approx(expected, abs=1e-6)
    times = [t.strftime("%m-%d %H:%M") for t in result.equity.index.tz_convert(NY)]
    assert times == ["01-03 09:00", "01-04 09:00", "01-05 09:00", "01-08 09:00", "01-08 16:00"]
    assert str(result.equity.index.tz) == NY
    assert result.drawdown.tolist() == pytest.approx([0, 0, 0, 101_500 / 102_080 - 1, 101_500 / 102_080 - 1])


def test_backtest_scripted_market_round_trips_match_the_expected_fills(result):
    t = result.trades.set_index(["symbol", "exit_reason"])
    assert sorted(t.index) == [("AAA", "take_profit"), ("BBB", "stop_loss"), ("CCC", "open"), ("CCC", "trim")]
    tp, stop, trim, held = (t.loc[k] for k in [("AAA", "take_profit"), ("BBB", "stop_loss"), ("CCC", "trim"),
                                                ("CCC", "open")])
    assert (tp.qty, tp.entry_price, tp.exit_price, tp.pnl, bool(tp.gap)) == (100, 100, 115, 1_500, False)
    assert tp.return_pct == pytest.approx(0.15)
    assert (stop.qty, stop.exit_price, stop.exit_level, stop.pnl, bool(stop.gap)) == (100, 90, 95, -1_000, True)
    assert stop.exit_time == pd.Timestamp("2024-01-05 09:30", tz=NY)  # at the open, not at the stop
    assert (trim.qty, trim.exit_price, trim.pnl, bool(trim.gap)) == (50, 110, 500, False)
    assert trim.exit_time == pd.Timestamp("2024-01-05 09:30", tz=NY)
    assert (held.qty, held.pnl) == (50, 500) and pd.isna(held.exit_time) and math.isnan(held.exit_price)
    assert held.return_pct == pytest.approx(0.10)
    assert set(result.trades["purpose"]) == {"entry"}
    assert all(result.trades["entry_time"] == pd.Timestamp("2024-01-03 09:30", tz=NY))
    assert list(result.gapped_stops["symbol"]) == ["BBB"]


def test_backtest_scripted_market_stats_match_hand_computed_values(result):
    s = result.stats
    equity = [100_000, 100_050, 102_080, 101_500, 101_500]
    assert s["total_return"] == pytest.approx(0.015)
    assert s["max_drawdown"] == pytest.approx(101_500 / 102_080 - 1)
    assert s["win_rate"] == pytest.approx(2 / 3)                    # AAA and the CCC trim won, BBB lost
    assert s["avg_win"] == pytest.approx((0.15 + 0.10) / 2)
    assert s["avg_loss"] == pytest.approx(-0.10)
    assert s["profit_factor"] == pytest.approx((1_500 + 500) / 1_000)
    assert s["worst_trade"] == pytest.approx(-0.10)
    assert s["gapped_stops"] == 1 and s["worst_gap_loss"] == pytest.approx(-0.10)
    invested = [0, 30_050, 9_700 + 10_880, 5_500, 5_500]
    assert s["exposure"] == pytest.approx(statistics.mean(v / e for v, e in zip(invested, equity)))
    assert s["inverse_exposure"] == 0
    assert s["iterations"] == 4 and s["elapsed_s"] > 0
    # Daily returns: the last point of each New York date (01-08 ends at its close).
    daily = [100_000, 100_050, 102_080, 101_500]
    rets = [b / a - 1 for a, b in zip(daily, daily[1:])]
    assert s["volatility"] == pytest.approx(statistics.stdev(rets) * math.sqrt(252))
    assert s["sharpe"] == pytest.approx(statistics.mean(rets) / statistics.stdev(rets) * math.sqrt(252))
    years = (pd.Timestamp("2024-01-08 16:00", tz=NY) - pd.Timestamp("2024-01-03 09:00", tz=NY)).total_seconds() \
        / (365.25 * 86_400)
    assert s["cagr"] == pytest.approx(1.015 ** (1 / years) - 1)
    assert list(s.index) == ["total_return", "cagr", "volatility", "sharpe", "max_drawdown", "win_rate", "avg_win",
                             "avg_loss", "profit_factor", "worst_trade", "gapped_stops", "worst_gap_loss", "exposure",
                             "inverse_exposure", "iterations", "elapsed_s"]


def test_backtest_user_strategy_written_against_the_contract_runs_unchanged(result):
    """The strategy above uses only the public contract; the backtest submits what it planned,
    through the Trader's executor, and the broker refuses nothing."""
    assert all(r.rejections == () for r in result.reports)
    o = result.orders  # client order ids carry the iteration's UTC minute: 09:00 New York is 14:00 UTC in January
    top = o[o["parent_id"].isna()]
    assert list(top["client_order_id"]) == ["at-202401031400-e-AAA", "at-202401031400-e-BBB", "at-202401031400-e-CCC",
                                            "at-202401051400-t-CCC", "at-202401051400-r-CCC"]
    assert len(o) == 3 * 3 + 1 + 2  # three brackets with two legs each, the trim sale, an OCO and its stop
    legs = o[o["symbol"].eq("CCC") & o["order_class"].eq("bracket") & o["role"].ne("entry")]
    assert set(legs["status"]) == {"canceled"}                # the trim cancelled the bracket legs first
    oco = o[o["order_class"].eq("oco")]
    assert sorted(oco["qty"]) == [50, 50] and set(oco["status"]) == {"new", "held"}


@pytest.mark.parametrize("same_bar, reason, exit_price", [("worst", "stop_loss", 95.0), ("best", "take_profit", 115.0)])
def test_backtest_same_bar_option_decides_a_bar_reaching_both_exits(same_bar, reason, exit_price):
    """DDD is bought at 100 on 01-03 (take-profit 115, stop 95); on 01-04 its bar reaches both
    (high 116, low 94): the worst case sells at the stop, the best at the take-profit."""
    bars = [(100, 100, 100, 100), (100, 100.5, 99.5, 100), (100, 116, 94, 100), (100, 100, 100, 100),
            (100, 100, 100, 100)]
    market = HistoricalMarket({"DDD": pd.DataFrame({"date": DATES, "open": [b[0] for b in bars],
                                                    "high": [b[1] for b in bars], "low": [b[2] for b in bars],
                                                    "close": [b[3] for b in bars], "volume": 1_000})})
    settings = scripted_settings()
    settings.entry.watchlist = ("DDD",)
    r = backtest(market, BuyThenTrimHalf(), settings, start="2024-01-03", end="2024-01-08", progress=False,
                 same_bar=same_bar)
    (row,) = r.trades.itertuples()
    assert (row.exit_reason, row.exit_price, bool(row.gap)) == (reason, exit_price, False)
    assert r.equity.iloc[-1] == pytest.approx(100_000 + 100 * (exit_price - 100))
