"""Bracket, OCO and OTO lifecycles as at Alpaca (alpaca-contract.md §1-2).

Market path used by most tests: Fri 03-01 closes at 100 (the base price when the broker starts
at 17:00 New York time); Mon 03-04 opens at 100.
"""

import pytest
from alpaca.trading.requests import GetOrderByIdRequest, GetOrdersRequest, ReplaceOrderRequest

from scenario import bracket, broker, et, oco, status

FRI = ("2024-03-01", 100, 101, 99, 100)
CALM_MON = ("2024-03-04", 100, 101, 99, 100)


def _legs(b, parent_id):
    legs = b.get_order_by_id(parent_id, GetOrderByIdRequest(nested=True)).legs
    return {leg.type.value: leg for leg in legs}


def test_bracket_legs_are_held_until_the_entry_fills_then_tp_goes_new_and_sl_stays_held():
    b = broker({"AAA": [FRI, CALM_MON]}, start="2024-03-01 17:00")
    o = b.submit_order(bracket(tp=115, sl=95))
    assert o.legs is None  # the POST answer carries no legs: fetch them nested (§1)
    legs = _legs(b, o.id)
    assert {k: v.status.value for k, v in legs.items()} == {"limit": "held", "stop": "held"}
    assert float(legs["limit"].limit_price) == 115 and float(legs["stop"].stop_price) == 95
    b.advance_to(et("2024-03-04 16:00"))
    legs = _legs(b, o.id)
    assert status(b, o.id) == "filled"
    assert {k: v.status.value for k, v in legs.items()} == {"limit": "new", "stop": "held"}


def test_take_profit_fill_cancels_the_stop_leg():
    b = broker({"AAA": [FRI, CALM_MON, ("2024-03-05", 110, 116, 109, 114)]}, start="2024-03-01 17:00")
    o = b.submit_order(bracket(tp=115, sl=95))
    b.advance_to(et("2024-03-05 16:00"))
    legs = _legs(b, o.id)
    assert legs["limit"].status.value == "filled" and float(legs["limit"].filled_avg_price) == 115
    assert legs["stop"].status.value == "canceled"
    assert b.get_all_positions() == []


def test_stop_leg_fill_cancels_the_take_profit_leg():
    b = broker({"AAA": [FRI, CALM_MON, ("2024-03-05", 97, 98, 94, 96)]}, start="2024-03-01 17:00")
    o = b.submit_order(bracket(tp=115, sl=95))
    b.advance_to(et("2024-03-05 16:00"))
    legs = _legs(b, o.id)
    assert legs["stop"].status.value == "filled" and float(legs["stop"].filled_avg_price) == 95
    assert legs["limit"].status.value == "canceled"


def test_cancelling_an_unfilled_entry_cancels_its_legs():
    b = broker({"AAA": [FRI, CALM_MON]}, start="2024-03-01 17:00")
    o = b.submit_order(bracket())
    b.cancel_order_by_id(o.id)
    assert status(b, o.id) == "canceled"
    assert {leg.status.value for leg in _legs(b, o.id).values()} == {"canceled"}


def test_cancelling_a_leg_after_the_fill_cancels_its_sibling_and_keeps_the_position():
    b = broker({"AAA": [FRI, CALM_MON]}, start="2024-03-01 17:00")
    o = b.submit_order(bracket())
    b.advance_to(et("2024-03-04 16:00"))
    b.cancel_order_by_id(_legs(b, o.id)["stop"].id)
    assert {leg.status.value for leg in _legs(b, o.id).values()} == {"canceled"}
    assert b.get_open_position("AAA").qty == "10"  # cancelling a leg liquidates nothing (F-11938)
    assert b.get_open_position("AAA").qty_available == "10"


def test_market_entry_can_be_stopped_out_in_the_same_bar():
    # Mon opens at 100 (entry), falls to 94 (stop 95 hit), closes 96.
    b = broker({"AAA": [FRI, ("2024-03-04", 100, 100.5, 94, 96)]}, start="2024-03-01 17:00")
    o = b.submit_order(bracket(tp=115, sl=95))
    b.advance_to(et("2024-03-04 16:00"))
    assert _legs(b, o.id)["stop"].status.value == "filled"
    assert [f.price for f in b.fills] == [100.0, 95.0]


@pytest.mark.parametrize("rule, winner, price", [("worst", "stop", 95.0), ("best", "limit", 115.0),
                                                  ("path", "limit", 115.0)])
def test_stop_and_take_profit_in_one_bar_resolved_by_the_same_bar_rule(rule, winner, price):
    # Tue: open 100, high 116, low 94, close 99 (a down bar: the path goes high first, then low).
    # Both 115 and 95 are reachable. worst -> stop at 95; best -> take-profit at 115;
    # path -> the path reaches the high (take-profit) before the low, so take-profit at 115.
    b = broker({"AAA": [FRI, CALM_MON, ("2024-03-05", 100, 116, 94, 99)]}, start="2024-03-01 17:00",
               same_bar=rule)
    o = b.submit_order(bracket(tp=115, sl=95))
    b.advance_to(et("2024-03-05 16:00"))
    legs = _legs(b, o.id)
    assert legs[winner].status.value == "filled" and float(legs[winner].filled_avg_price) == price
    assert sum(leg.status.value == "filled" for leg in legs.values()) == 1


def test_replacing_the_stop_leg_moves_the_stop_and_keeps_the_group():
    # Raise the stop from 95 to 99 after the fill; Tue dips to 98.5 -> the new stop fills at 99.
    b = broker({"AAA": [FRI, CALM_MON, ("2024-03-05", 100, 101, 98.5, 100)]}, start="2024-03-01 17:00")
    o = b.submit_order(bracket(tp=115, sl=95))
    b.advance_to(et("2024-03-04 16:00"))
    old_stop = _legs(b, o.id)["stop"]
    new_stop = b.replace_order_by_id(old_stop.id, ReplaceOrderRequest(stop_price=99))
    assert new_stop.id != old_stop.id and str(new_stop.replaces) == str(old_stop.id)
    old = b.get_order_by_id(old_stop.id)
    assert old.status.value == "replaced" and str(old.replaced_by) == str(new_stop.id)
    assert _legs(b, o.id)["stop"].id == new_stop.id
    b.advance_to(et("2024-03-05 16:00"))
    assert float(b.get_order_by_id(new_stop.id).filled_avg_price) == 99.0
    assert status(b, _legs(b, o.id)["limit"].id) == "canceled"


def test_replacing_stop_price_on_the_take_profit_leg_is_refused_like_alpaca():
    b = broker({"AAA": [FRI, CALM_MON]}, start="2024-03-01 17:00")
    o = b.submit_order(bracket())
    b.advance_to(et("2024-03-04 16:00"))
    with pytest.raises(Exception) as e:
        b.replace_order_by_id(_legs(b, o.id)["limit"].id, ReplaceOrderRequest(stop_price=99))
    assert (e.value.status_code, e.value.message) == (422, "limit orders must not have stop_price")


def test_held_legs_are_hidden_from_open_orders_unless_listing_is_enabled():
    for listing, expected in ((False, {"limit"}), (True, {"limit", "stop"})):
        b = broker({"AAA": [FRI, CALM_MON]}, start="2024-03-01 17:00", list_held_legs=listing)
        b.submit_order(bracket())
        b.advance_to(et("2024-03-04 16:00"))
        assert {o.type.value for o in b.get_orders(GetOrdersRequest(status="open"))} == expected
        nested = b.get_orders(GetOrdersRequest(status="all", nested=True))
        assert len(nested) == 1 and len(nested[0].legs) == 2


def test_oco_protects_an_existing_position_and_one_exit_cancels_the_other():
    from scenario import buy

    b = broker({"AAA": [FRI, CALM_MON, ("2024-03-05", 100, 100, 100, 100), ("2024-03-06", 97, 98, 94, 95)]},
               start="2024-03-01 17:00")
    b.submit_order(buy())
    b.advance_to(et("2024-03-04 16:00"))
    o = b.submit_order(oco(tp=115, sl=95))
    assert o.order_class.value == "oco" and o.type.value == "limit"
    assert b.get_open_position("AAA").qty_available == "0"  # the group holds the 10 shares once
    b.advance_to(et("2024-03-06 16:00"))
    top = b.get_order_by_id(o.id, GetOrderByIdRequest(nested=True))
    assert top.status.value == "canceled" and top.legs[0].status.value == "filled"
    assert float(top.legs[0].filled_avg_price) == 95.0


def test_oto_entry_with_only_a_stop_loss():
    from alpaca.trading.requests import MarketOrderRequest, StopLossRequest

    b = broker({"AAA": [FRI, CALM_MON, ("2024-03-05", 97, 98, 94, 95)]}, start="2024-03-01 17:00")
    o = b.submit_order(MarketOrderRequest(symbol="AAA", qty=10, side="buy", time_in_force="gtc",
                                          order_class="oto", stop_loss=StopLossRequest(stop_price=95)))
    b.advance_to(et("2024-03-05 16:00"))
    legs = b.get_order_by_id(o.id, GetOrderByIdRequest(nested=True)).legs
    assert len(legs) == 1 and legs[0].status.value == "filled" and float(legs[0].filled_avg_price) == 95


def test_day_bracket_legs_expire_at_the_close_with_the_session():
    b = broker({"AAA": [FRI, CALM_MON, ("2024-03-05", 100, 101, 99, 100)]}, start="2024-03-01 17:00")
    o = b.submit_order(bracket(tif="day"))
    b.advance_to(et("2024-03-05 16:00"))
    assert status(b, o.id) == "filled"
    assert {leg.status.value for leg in _legs(b, o.id).values()} == {"expired"}
