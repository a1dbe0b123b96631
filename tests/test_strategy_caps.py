"""The risk caps and the price rules under the strategy: unit and property tests."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings as hsettings, strategies as st

from activetrader.settings import Settings
from activetrader.strategy import (CombinedStrategy, EnterBracket, Plan, ProtectPosition, Snapshot,
                                   TrimPosition, enforce_caps)
from activetrader.strategy.levels import bracket_levels, is_valid_increment, round_price


def test_round_price_sub_dollar_uses_four_decimals_and_dollar_up_two():
    assert (round_price(0.123456), round_price(1.005), round_price(290.123)) == (
        0.1235, 1.01, 290.12)


def test_bracket_levels_rounding_case_is_nearest_cent():
    assert bracket_levels(123.457, take_profit_pct=0.15, stop_loss_pct=0.05) == (141.98, 117.28)


@given(price=st.floats(0.5, 5_000), tp=st.floats(0.01, 1.0), sl=st.floats(0.01, 0.5))
def test_bracket_levels_any_price_are_valid_alpaca_levels(price, tp, sl):
    take_profit, stop = bracket_levels(price, take_profit_pct=tp, stop_loss_pct=sl)

    assert is_valid_increment(take_profit) and is_valid_increment(stop)
    assert take_profit >= price + 0.01 - 1e-9 and stop <= price - 0.01 + 1e-9


def test_caps_plan_without_trim_for_oversize_position_is_warned():
    class Lazy(CombinedStrategy):
        def on_plan(self, plan, **kwargs):
            return replace(plan, intents=())

    snap = Snapshot.from_simple(cash=70_000, positions={"AAPL": (300, 95.0, 100.0)})

    plan = Lazy().decide(snap, Settings())

    assert plan.intents == ()
    assert [w.symbol for w in plan.warnings] == ["AAPL"]
    assert "does not trim it" in plan.warnings[0].message


def test_caps_trim_too_small_sells_up_to_the_cap_and_reprotects_the_rest():
    trim = TrimPosition(symbol="AAPL", sell_qty=10, remaining_qty=290, price=100.0,
                        weight_before=0.30, weight_after=0.29, reason="x",
                        reprotect=ProtectPosition(symbol="AAPL", qty=290, take_profit=120.0,
                                                  stop_loss=96.0, entry_price=100.0, reason="y"))
    snap = Snapshot.from_simple(cash=70_000, positions={"AAPL": (300, 100.0, 100.0)})

    (capped,) = enforce_caps(Plan(intents=(trim,)), snap, Settings()).intents

    assert (capped.sell_qty, capped.remaining_qty, capped.weight_after) == (150, 150, 0.15)
    assert capped.reprotect.qty == 150


def test_caps_bracket_adding_to_an_existing_position_is_dropped():
    buy = EnterBracket(symbol="AAPL", qty=10, reference_price=100.0, take_profit=115.0,
                       stop_loss=95.0, reason="more")
    snap = Snapshot.from_simple(cash=90_000, positions={"AAPL": (10, 100.0, 100.0)})

    plan = enforce_caps(Plan(intents=(buy,)), snap, Settings())

    assert plan.intents == ()
    assert "entry orders" in plan.warnings[0].message


@hsettings(max_examples=60, deadline=None)
@given(cash=st.floats(0, 200_000), spxs=st.integers(0, 400), sqqq=st.integers(0, 400),
       qty=st.integers(1, 5_000), symbol=st.sampled_from(["SH", "SPXS", "SQQQ"]))
def test_caps_inverse_total_never_exceeds_allocation_including_holdings(cash, spxs, sqqq,
                                                                        qty, symbol):
    snap = Snapshot.from_simple(cash=cash, positions={"SPXS": (spxs, 50.0, 50.0),
                                                      "SQQQ": (sqqq, 20.0, 20.0)})
    held = spxs * 50.0 + sqqq * 20.0
    buy = EnterBracket(symbol=symbol, qty=qty, reference_price=40.0, take_profit=46.0,
                       stop_loss=38.0, purpose="hedge", reason="x")

    plan = enforce_caps(Plan(intents=(buy,)), snap, Settings())

    bought = sum(i.qty * i.reference_price for i in plan.intents)
    assert bought == 0 or held + bought <= 0.20 * snap.portfolio_value + 1e-6
    assert bought <= min(cash, 0.15 * snap.portfolio_value) + 1e-6
