"""The passive baseline: buy the names once in equal dollars, hold, no exit orders."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from activetrader import Settings, backtest
from activetrader.scenario import default_market
from activetrader.strategy import BuyAndHold, EnterPosition, OrderView, Snapshot, Strategy

NY = "America/New_York"


def test_buy_and_hold_buys_each_name_in_equal_dollars_within_the_caps():
    snap = Snapshot.from_simple(cash=100_000, prices={"KO": 60.0, "PG": 150.0, "XOM": 110.0, "JNJ": 170.0})
    plan = BuyAndHold(["KO", "PG", "XOM", "JNJ"]).decide(snap)
    # 25,000 each would be 25% per name: the 15% position cap (15,000) has the last word.
    assert [(i.symbol, i.qty) for i in plan.intents] == [("KO", 250), ("PG", 100), ("XOM", 136), ("JNJ", 88)]
    assert all(isinstance(i, EnterPosition) for i in plan.intents)
    ten = BuyAndHold([f"S{i}" for i in range(10)]).decide(
        Snapshot.from_simple(cash=100_000, prices={f"S{i}": 30.0 + i for i in range(10)}))
    assert [i.qty for i in ten.intents] == [math.floor(10_000 / (30.0 + i)) for i in range(10)]  # 10% each
    assert not ten.warnings


def test_buy_and_hold_skips_names_held_or_being_bought_and_names_without_a_price():
    buying = OrderView(id="1", client_order_id="x", symbol="PG", side="buy", type="market", status="new",
                       order_class="simple", qty=5)
    snap = Snapshot.from_simple(cash=50_000, positions={"KO": (100, 55.0, 60.0)}, orders=[buying],
                                prices={"PG": 150.0, "XOM": 110.0})
    plan = BuyAndHold(["KO", "PG", "XOM", "JNJ"]).decide(snap)
    assert [i.symbol for i in plan.intents] == ["XOM"]


def test_buy_and_hold_defaults_to_the_watchlist_and_rejects_an_empty_list():
    settings = Settings()
    settings.entry.watchlist = ("KO", "PG")
    plan = BuyAndHold().decide(Snapshot.from_simple(cash=1_000, prices={"KO": 60.0, "PG": 150.0}), settings)
    assert [i.symbol for i in plan.intents] == ["KO", "PG"]
    with pytest.raises(ValueError, match="at least one symbol"):
        BuyAndHold([])


def test_backtest_buy_and_hold_buys_once_at_the_open_without_exit_orders_and_holds():
    settings = Settings()
    r = backtest(default_market(), BuyAndHold(), settings, start="2024-03-18", end="2024-04-12", progress=False)
    names = sorted(settings.entry.watchlist)
    o = r.orders
    assert sorted(o["symbol"]) == names and len(o) == len(names)           # one order each, no legs
    assert set(o["client_order_id"].str.replace(r"-[A-Z]+$", "", regex=True)) == {"at-202403181300-b"}
    assert set(o["type"]) == {"market"} and set(o["order_class"]) == {"simple"} and set(o["status"]) == {"filled"}
    assert set(o["filled_at"]) == {pd.Timestamp("2024-03-18 09:30", tz=NY)}
    t = r.trades
    assert set(t["exit_reason"]) == {"open"} and set(t["purpose"]) == {"entry"} and sorted(t["symbol"]) == names
    budget = 100_000 / len(names)
    closes = default_market().bars(names, "2024-03-15", "2024-03-15")["close"].droplevel(1)
    assert dict(zip(t["symbol"], t["qty"])) == {s: math.floor(budget / closes[s]) for s in names}
    assert r.stats["exposure"] > 0.9 and r.stats["win_rate"] != r.stats["win_rate"]  # nothing closed: NaN


def test_backtest_buy_and_hold_of_names_outside_the_watchlist_buys_them():
    """ADBE, AVGO and BA are in the embedded market but not in the default watchlist: the
    strategy's universe adds them, so the first morning (2024-03-18, 09:00) has their prices and
    buys each at that day's open; without them in the universe there were no prices and no trades."""
    names = ["ADBE", "AVGO", "BA"]
    assert not set(names) & set(Settings().entry.watchlist)
    r = backtest(default_market(), BuyAndHold(names), start="2024-03-18", end="2024-04-12", progress=False)
    assert sorted(r.trades["symbol"]) == names and set(r.trades["exit_reason"]) == {"open"}
    assert set(r.orders["filled_at"]) == {pd.Timestamp("2024-03-18 09:30", tz=NY)}
    assert BuyAndHold(names).universe(Settings()) == sorted({*Strategy().universe(Settings()), *names})


def test_buy_and_hold_of_an_inverse_etf_stays_within_the_inverse_cap():
    settings = Settings()
    settings.hedge.max_inverse_allocation = 0.10
    snap = Snapshot.from_simple(cash=100_000, prices={"SH": 20.0, "KO": 50.0})
    plan = BuyAndHold(["SH", "KO"]).decide(snap, settings)
    # Half each (50,000) is above both caps: SH is held to the 10% inverse cap, KO to the 15% position cap.
    assert [(i.symbol, i.qty) for i in plan.intents] == [("SH", 500), ("KO", 300)]
    assert "caps: buy qty 2500 -> 500 (inverse cap)" in plan.describe()
