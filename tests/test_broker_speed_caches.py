"""The SimBroker's shortcuts (issue 7) change nothing: each one against the slow way.

The native fast path keeps what it derives from the account between calls: per symbol, the
shares held by working sell orders, the earliest expiry, its part of a live order listing and
its position row (all dropped when an order of the symbol changes), the market value per
clock (dropped by a fill). These tests change the state in every way the broker allows and
check, after each change, that the kept values are the ones computed afresh: the alpaca-py
models (the slow path) and the full listing. They also pin the arithmetic shortcuts (GTC
expiry from ints, order ids without UUID objects, quantities without text) to the originals.
"""

import random
import uuid

import pandas as pd
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.requests import (
    GetOrderByIdRequest, LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest, TrailingStopOrderRequest,
)
from hypothesis import given, settings, strategies as st

from activetrader import Trader
from activetrader.broker import SimBroker
from activetrader.broker.lifecycle import gtc_expiry_ns
from activetrader.broker.orders import SIM_ID_NS as _ID_NS, fmt_qty, order_id, qty_number
from activetrader.market.sessions import MarketCalendar
from activetrader.strategy.snapshot import LIVE_STATUSES
from activetrader.trader import _order_view
from scenario import bracket, broker, buy, et, oco, sell, status
from test_engine_wake import SYMS, _act, _market, step
from test_trader import _Counting

NY = "America/New_York"


# ---------------------------------------------------------------------------- arithmetic shortcuts
def test_gtc_expiry_is_16_15_new_york_on_the_90th_day_every_hour_2000_to_2040():
    """The 4:15pm ET job on the 90th calendar day after the New York creation date, as wall
    time, DST changes included: the moments on both sides of every hour (NY midnight is always
    a UTC hour) give the pandas answer computed on naive New York wall times."""
    hours = pd.date_range("2000-01-01", "2040-12-31 23:00", freq="h", tz="UTC")
    moments = hours.append(hours - pd.Timedelta(1, "ns"))
    day = moments.tz_convert(NY).tz_localize(None).normalize()
    want = (day + pd.Timedelta(days=90) + pd.Timedelta(hours=16, minutes=15)).tz_localize(NY).tz_convert("UTC").asi8
    assert [gtc_expiry_ns(int(ns)) for ns in moments.asi8] == want.tolist()


def test_gtc_expiry_of_an_order_placed_in_winter_falls_at_16_15_new_york_in_summer():
    placed = et("2024-03-04 15:00")  # EST; 90 days later New York is on EDT: still the 4:15pm job
    assert pd.Timestamp(gtc_expiry_ns(placed.value), tz="UTC").tz_convert(NY) == \
        pd.Timestamp("2024-06-02 16:15", tz=NY)


def test_order_ids_are_the_uuid5_of_their_sequence_number():
    for seq in [*range(1, 3000), 10**6, 2**40]:
        assert order_id(seq) == str(uuid.uuid5(_ID_NS, f"order:{seq}"))


def test_qty_number_is_what_reading_the_written_quantity_gives():
    rng = random.Random(7)
    values = [0.0, -0.0, 1.0, 10.0, 1e-10, 0.5, 2.9999999999, 3.0000000001, 0.1234567891, 123456789.123,
              -5.0, -0.25, 1e15, 2**53 + 0.0]
    values += [rng.uniform(0, 1000) for _ in range(2000)] + [round(rng.uniform(0, 1000)) + rng.uniform(-2e-9, 2e-9)
                                                             for _ in range(2000)]
    for q in values:
        assert repr(qty_number(q)) == repr(float(fmt_qty(q))), q


# ---------------------------------------------------------------------------- native_submit
def _bars(n=30):
    """AAA and BBB: ``n`` quiet sessions from Monday 2024-03-04 (open 100, high 102, low 99, close 101)."""
    days = MarketCalendar("2024-03-04", "2025-03-04").sessions_between("2024-03-04", "2025-03-04")[:n]
    assert days[0] == pd.Timestamp("2024-03-04")
    return {s: [(d.strftime("%Y-%m-%d"), 100.0, 102.0, 99.0, 101.0) for d in days] for s in ("AAA", "BBB")}


def test_native_submit_answers_the_id_and_status_the_alpaca_order_carries():
    """Twin brokers take the same requests, one through submit_order (an alpaca-py Order), one
    through native_submit: same answers, same recorded orders, same refusals."""
    a, b = (broker(_bars(), start="2024-03-04 09:00") for _ in range(2))
    for x in (a, b):
        x.submit_order(buy("BBB", 50))
        x.advance_to(et("2024-03-04 16:00"))
    requests = [bracket("AAA", 10, tp=115.0, sl=95.0), oco("BBB", 20, tp=120.0, sl=90.0),
                LimitOrderRequest(symbol="AAA", qty=5, side="buy", time_in_force="day", limit_price=90.0),
                bracket("AAA", 10, tp=99.0, sl=95.0),  # refused: the take-profit is below the price
                sell("BBB", 40)]  # refused: the OCO holds 20 of the 50 shares
    for req in requests:
        try:
            order = a.submit_order(req)
            answer = (str(order.id), order.status.value)
        except APIError as e:
            answer = str(e)
        try:
            native = b.native_submit(req.model_copy())
        except APIError as e:
            native = str(e)
        assert native == answer
    assert [o.to_alpaca() for o in a._orders.values()] == [o.to_alpaca() for o in b._orders.values()]


def test_native_submit_goes_through_a_submit_order_replaced_on_the_broker():
    """A wrapper put on ``submit_order`` (as tests do to inject a refusal) sees every submission,
    the native ones too."""
    b = broker(_bars(), start="2024-03-04 09:00")
    real, seen = b.submit_order, []

    def refuse_bbb(req):
        seen.append(req.symbol)
        if req.symbol == "BBB":
            raise APIError('{"code": 40310000, "message": "insufficient buying power"}')
        return real(req)

    b.submit_order = refuse_bbb
    oid, state = b.native_submit(buy("AAA", 1))
    assert (b._orders[oid].symbol, state) == ("AAA", "new")
    with pytest.raises(APIError, match="insufficient buying power"):
        b.native_submit(buy("BBB", 1))
    assert seen == ["AAA", "BBB"] and len(b._orders) == 1


@pytest.mark.parametrize("fast", [True, False])
def test_trader_submits_natively_only_on_the_fast_path_with_the_same_outcomes(fast):
    sim = Trader().broker  # the embedded default: the guide's "before" portfolio needs orders
    trader = Trader(broker=_Counting(sim), fast=fast)
    report = trader.iteration()
    submits = [o for o in report.outcomes if o.action == "submit" and o.accepted]
    calls = trader.broker.calls
    sent = calls.get("native_submit", 0) + calls.get("submit_order", 0)
    assert sent >= 1 and sent == len(submits) + sum(o.action == "submit" and not o.accepted for o in report.outcomes)
    assert calls.get("submit_order" if fast else "native_submit", 0) == 0
    for o in submits:  # the outcome names the order the broker holds, with its status then ("new")
        od = sim._orders[o.order_id]
        assert (od.client_order_id, o.status) == (o.client_order_id, "new")


# ---------------------------------------------------------------------------- kept values vs afresh
def _check_native_views(b: SimBroker, afters) -> None:
    """Every native view equals the alpaca-py model's numbers and the full listing, and every
    kept value the one computed afresh."""
    assert b._reserved() == b._reserved_scan()
    assert all(b._held_for_orders(s) == b._held_scan(s) for s in b._working)
    assert b._market_value() == sum(p.qty * b.last_price(s) for s, p in b._positions.items())
    a = b.get_account()
    assert tuple(b.native_account()) == (float(a.cash), float(a.equity), float(a.buying_power))
    assert [tuple(p) for p in b.native_positions()] == [
        (p.symbol, float(p.qty), float(p.avg_entry_price), float(p.current_price), float(p.qty_available))
        for p in b.get_all_positions()]
    for after in afters:  # the live listing, found from the open orders, against the full one
        full = [r for r in b.native_orders(after=after) if r.status in LIVE_STATUSES]
        assert b.native_orders(after=after, keep=LIVE_STATUSES) == full
        # the Trader's views kept with the live listing (native_orders(view=)): those of the rows
        assert b.native_orders(after=after, keep=LIVE_STATUSES, view=_order_view) == [_order_view(r) for r in full]
        assert b.native_orders(after=after, view=_order_view) == [_order_view(r) for r in b.native_orders(after=after)]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), hourly=st.booleans(), steps=st.lists(step, min_size=1, max_size=30))
def test_native_views_kept_between_calls_match_the_models_after_every_change(seed, hourly, steps):
    """Random orders of every kind, cancels, replacements, fills, trailing stops and expiries;
    the views are asked for after each step (so kept values meet every kind of change), with
    listing windows that start before, at and just after order creation times."""
    m = _market(seed, hourly)
    b = SimBroker(m, cash=50_000, start=m.start - pd.Timedelta(hours=1))
    for sym in SYMS:
        b.submit_order(MarketOrderRequest(symbol=sym, qty=300, side="buy", time_in_force="day"))
    b.advance_to(m.start + pd.Timedelta(hours=3))
    t = b.now
    for k, (kind, sym, qty, f, tif) in enumerate(steps):
        t, _ = _act(b, kind, sym, qty, f, tif, t)
        created = sorted({od.created_ns for od in b._orders.values()})
        pick = created[k % len(created)]
        _check_native_views(b, [None, pick - 1, pick, (t - pd.Timedelta(days=91)).value, pick - 1])
    b.advance_to(m.end)
    _check_native_views(b, [None])


def test_held_shares_follow_each_order_that_starts_or_stops_holding_them():
    b = broker(_bars(), start="2024-03-04 09:00")
    b.submit_order(buy("AAA", 100))
    b.advance_to(et("2024-03-04 16:00"))

    def available():
        (row,) = b.native_positions()
        assert row.qty_available == float(b.get_open_position("AAA").qty_available)
        return row.qty, row.qty_available

    assert available() == (100.0, 100.0)
    protect = b.submit_order(oco("AAA", 60, tp=120.0, sl=90.0))
    assert available() == (100.0, 40.0)  # the OCO holds 60 (once, not per leg)
    b.submit_order(sell("AAA", 40))
    assert available() == (100.0, 0.0)
    b.advance_to(et("2024-03-05 16:00"))  # the sale fills at the open
    assert available() == (60.0, 0.0)
    b.cancel_order_by_id(protect.id)
    assert available() == (60.0, 60.0)


def test_buying_power_follows_buy_orders_placed_and_cancelled_at_one_moment():
    """$100,000 of cash on margin (x2) and no positions: $200,000 of buying power, less what open
    buys reserve: a limit its limit x qty, a market order the last close (101) x qty."""
    b = broker(_bars(), start="2024-03-05 09:00")  # Monday's bar (close 101) is complete

    def power():
        assert b.native_account().buying_power == float(b.get_account().buying_power)
        return b.native_account().buying_power

    assert power() == 200_000.0
    first = b.submit_order(LimitOrderRequest(symbol="AAA", qty=10, side="buy", time_in_force="day", limit_price=90.0))
    assert power() == 200_000.0 - 900
    b.submit_order(buy("BBB", 10))
    assert power() == 200_000.0 - 900 - 1010
    b.submit_order(LimitOrderRequest(symbol="AAA", qty=5, side="buy", time_in_force="day", limit_price=80.0))
    assert power() == 200_000.0 - 900 - 1010 - 400
    b.cancel_order_by_id(first.id)
    assert power() == 200_000.0 - 1010 - 400


def test_live_listing_shows_a_trailing_stop_moved_by_a_higher_bar():
    """A 5 % trailing sell stop starts at 101 * 0.95 = 95.95; the next day's high of 110 moves it
    to 104.50, and the listing (kept per symbol) says so."""
    bars = _bars()
    bars["AAA"][1] = (bars["AAA"][1][0], 101.0, 110.0, 100.0, 108.0)
    b = broker(bars, start="2024-03-04 09:00")
    b.submit_order(buy("AAA", 10))
    b.advance_to(et("2024-03-04 16:00"))
    b.submit_order(TrailingStopOrderRequest(symbol="AAA", qty=10, side="sell", time_in_force="gtc", trail_percent=5))
    window = (b.now - pd.Timedelta(days=91)).value
    (row,) = b.native_orders(after=window, keep=LIVE_STATUSES)
    assert row.stop_price == 95.95
    b.advance_to(et("2024-03-05 16:00"))
    (row,) = b.native_orders(after=window, keep=LIVE_STATUSES)
    assert row.stop_price == 104.5


# ---------------------------------------------------------------------------- expiry, per symbol
def test_day_order_placed_after_the_expiry_sweep_looked_at_its_symbol_still_expires_at_the_close():
    """AAA rests a GTC buy limit (expires in 90 days); BBB's DAY limit makes the engine look at
    every symbol's expiries at Monday's close. A DAY limit placed on AAA on Tuesday must
    expire at Tuesday's close all the same (what was kept for AAA is dropped when it is placed)."""
    b = broker(_bars(), start="2024-03-04 09:00")
    gtc = b.submit_order(LimitOrderRequest(symbol="AAA", qty=5, side="buy", time_in_force="gtc", limit_price=50.0))
    b.submit_order(LimitOrderRequest(symbol="BBB", qty=5, side="buy", time_in_force="day", limit_price=50.0))
    b.advance_to(et("2024-03-05 09:00"))
    day = b.submit_order(LimitOrderRequest(symbol="AAA", qty=5, side="buy", time_in_force="day", limit_price=50.0))
    b.advance_to(et("2024-03-06 09:00"))
    assert (status(b, day.id), status(b, gtc.id)) == ("expired", "new")
    assert b.get_order_by_id(day.id).expired_at == et("2024-03-05 16:00")


def test_waiting_leg_replaced_as_a_day_order_expires_at_the_close_with_its_bracket():
    """A GTC bracket whose limit entry (90) rests below the market waits with its legs held; its
    stop leg is replaced with time_in_force DAY on Tuesday. At Tuesday's close, when the engine
    ends the day's orders (BBB has a DAY order due), the waiting leg expires and the entry and
    the take-profit expire with it (a group ends together, §1)."""
    b = broker(_bars(), start="2024-03-04 09:00")
    top = b.submit_order(bracket("AAA", 10, tp=120.0, sl=85.0, limit=90.0))
    b.submit_order(LimitOrderRequest(symbol="BBB", qty=5, side="buy", time_in_force="day", limit_price=50.0))
    b.advance_to(et("2024-03-05 09:00"))  # BBB's DAY order expired: AAA's expiries were looked at
    legs = b.get_order_by_id(top.id, filter=GetOrderByIdRequest(nested=True)).legs
    stop = next(leg for leg in legs if leg.stop_price is not None)
    new_stop = b.replace_order_by_id(stop.id, ReplaceOrderRequest(time_in_force="day"))
    b.submit_order(LimitOrderRequest(symbol="BBB", qty=5, side="buy", time_in_force="day", limit_price=50.0))
    b.advance_to(et("2024-03-06 09:00"))
    take_profit = next(leg for leg in legs if leg.stop_price is None)
    assert [status(b, x.id) for x in (new_stop, top, take_profit)] == ["expired", "expired", "expired"]
    assert b.get_order_by_id(top.id).expired_at == et("2024-03-05 16:00")


def test_gtc_groups_of_two_symbols_are_cancelled_90_days_after_each_was_placed():
    bars = _bars(n=130)
    b = broker(bars, start="2024-03-04 09:00")
    for s in ("AAA", "BBB"):
        b.submit_order(buy(s, 10))
    b.advance_to(et("2024-03-04 16:00"))
    first = b.submit_order(oco("AAA", 10, tp=150.0, sl=50.0))
    b.advance_to(et("2024-03-11 16:00"))
    second = b.submit_order(oco("BBB", 10, tp=150.0, sl=50.0))
    # AAA's: placed 03-04 (EST) -> the 4:15pm job of 06-02 (EDT); BBB's: placed 03-11 -> 06-09, 16:15
    b.advance_to(et("2024-06-05 09:00"))
    assert (status(b, first.id), status(b, second.id)) == ("canceled", "new")
    assert b.get_order_by_id(first.id).canceled_at == pd.Timestamp("2024-06-02 16:15", tz=NY)
    b.advance_to(et("2024-06-12 09:00"))
    assert status(b, second.id) == "canceled"
    assert b.get_order_by_id(second.id).canceled_at == pd.Timestamp("2024-06-09 16:15", tz=NY)
    assert [(p.symbol, p.qty_available) for p in b.native_positions()] == [("AAA", 10.0), ("BBB", 10.0)]
