"""Every refusal carries Alpaca's HTTP status, error code and message (alpaca-contract.md §2),
and a refused order leaves nothing behind."""

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.requests import (
    GetOrdersRequest, LimitOrderRequest, MarketOrderRequest, StopLossRequest,
    TrailingStopOrderRequest,
)

from scenario import bracket, broker, buy, et, oco, sell

FRI = ("2024-03-01", 100, 101, 99, 100)
MON = ("2024-03-04", 100, 101, 99, 100)


@pytest.fixture
def b():
    return broker({"AAA": [FRI, MON], "PENNY": [("2024-03-01", 0.5, 0.55, 0.45, 0.5)]}, start="2024-03-01 17:00")


def _refused(b, request):
    before = len(b.get_orders(GetOrdersRequest(status="all")))
    with pytest.raises(APIError) as e:
        b.submit_order(request)
    assert len(b.get_orders(GetOrdersRequest(status="all"))) == before, "a refused order must leave nothing"
    return e.value.status_code, e.value.code, e.value.message


@pytest.mark.parametrize("request_", [
    bracket(qty=1.5),
    oco(qty=1.5),
    MarketOrderRequest(symbol="AAA", qty=1.5, side="buy", time_in_force="day", order_class="oto",
                       stop_loss=StopLossRequest(stop_price=95)),
], ids=["bracket", "oco", "oto"])
def test_fractional_qty_on_a_complex_order_is_refused(b, request_):
    assert _refused(b, request_) == (422, 42210000, "fractional orders must be simple orders")


def test_fractional_trailing_stop_is_refused(b):
    b.submit_order(buy(qty=2))
    b.advance_to(et("2024-03-04 16:00"))
    req = TrailingStopOrderRequest(symbol="AAA", qty=1.5, side="sell", time_in_force="day", trail_percent=5)
    assert _refused(b, req) == (422, 42210000, "fractional orders must be simple orders")


def test_fractional_gtc_order_is_refused(b):
    assert _refused(b, buy(qty=0.5, tif="gtc")) == (422, 42210000, "fractional orders must be DAY orders")


@pytest.mark.parametrize("symbol, price, field", [("AAA", 99.123, "limit_price"), ("PENNY", 0.12345, "limit_price")])
def test_sub_penny_limit_price_is_refused(b, symbol, price, field):
    req = LimitOrderRequest(symbol=symbol, qty=1, side="buy", time_in_force="day", limit_price=price)
    assert _refused(b, req) == (
        422, 42210000, f"invalid {field} {price}. sub-penny increment does not fulfill minimum pricing criteria")


def test_four_decimals_are_valid_below_one_dollar(b):
    req = LimitOrderRequest(symbol="PENNY", qty=1, side="buy", time_in_force="day", limit_price=0.4512)
    assert b.submit_order(req).status.value == "new"


def test_sub_penny_take_profit_is_refused(b):
    status, code, message = _refused(b, bracket(tp=115.001))
    assert (status, code) == (422, 42210000) and message.startswith("invalid take_profit.limit_price 115.001")


def test_bracket_take_profit_below_the_base_price_is_refused(b):
    # The base price is Friday's close, 100: a take-profit at 99.50 is on the wrong side.
    assert _refused(b, bracket(tp=99.5, sl=95)) == (422, 42210000, "take_profit.limit_price must be >= base_price + 0.01")


def test_bracket_stop_above_the_base_price_is_refused(b):
    assert _refused(b, bracket(tp=115, sl=100)) == (422, 42210000, "stop_loss.stop_price must be <= base_price - 0.01")


def test_limit_entry_bracket_is_checked_against_its_limit_too(b):
    # Current price 100 is fine for a stop at 97, but the entry limit 96 is the binding base.
    assert _refused(b, bracket(tp=115, sl=97, limit=96)) == (
        422, 42210000, "stop_loss.stop_price must be <= base_price - 0.01")


def test_selling_shares_held_by_bracket_legs_is_refused_with_the_held_quantity(b):
    b.submit_order(bracket(qty=10))
    b.advance_to(et("2024-03-04 16:00"))
    with pytest.raises(APIError) as e:
        b.submit_order(sell(qty=3, tif="day"))
    err = e.value
    assert (err.status_code, err.code) == (403, 40310000)
    assert err.message == "insufficient qty available for order (requested: 3, available: 0)"
    import json
    body = json.loads(err._error)
    assert (body["held_for_orders"], body["existing_qty"], body["symbol"]) == ("10", "10", "AAA")


def test_selling_with_no_position_is_refused_because_shorting_is_off(b):
    assert _refused(b, sell(qty=1, tif="day")) == (403, 40310000, "account is not allowed to short")


def test_insufficient_buying_power_is_refused(b):
    # $100,000 of cash on a 2x margin account buys at most $200,000: 2,001 shares at 100 is too many.
    status, code, message = _refused(b, buy(qty=2001))
    assert (status, code, message) == (403, 40310000, "insufficient buying power")
    assert b.submit_order(buy(qty=2000)).status.value == "new"


def test_open_buy_orders_reserve_buying_power(b):
    b.submit_order(LimitOrderRequest(symbol="AAA", qty=1500, side="buy", time_in_force="gtc", limit_price=100))
    assert float(b.get_account().buying_power) == pytest.approx(50_000)
    assert _refused(b, buy(qty=501))[2] == "insufficient buying power"


def test_duplicate_client_order_id_is_refused(b):
    b.submit_order(buy(qty=1, client_order_id="at-2024-03-01-AAA"))
    assert _refused(b, buy(qty=1, client_order_id="at-2024-03-01-AAA")) == (
        422, 40010001, "client_order_id must be unique")


def test_unknown_symbol_is_refused(b):
    assert _refused(b, buy(symbol="NOPE", qty=1)) == (422, 40010001, "asset NOPE not found")


def test_extended_hours_market_order_is_refused(b):
    req = MarketOrderRequest(symbol="AAA", qty=1, side="buy", time_in_force="day", extended_hours=True)
    assert _refused(b, req) == (422, 42210000, "extended hours order must be DAY limit orders")


def test_bracket_with_ioc_is_refused(b):
    assert _refused(b, bracket(tif="ioc")) == (422, 42210000, "bracket orders must be DAY or GTC orders")


def test_bracket_onto_an_existing_position_is_refused_conservatively(b):
    b.submit_order(buy(qty=1))
    b.advance_to(et("2024-03-04 16:00"))
    assert _refused(b, bracket(qty=1)) == (422, 42210000, "bracket orders must be entry orders")


def test_simple_buy_against_a_resting_sell_stop_is_a_potential_wash_trade(b):
    from scenario import stop_sell

    b.submit_order(buy(qty=5))
    b.advance_to(et("2024-03-04 16:00"))
    b.submit_order(stop_sell(qty=5, stop=90))
    status, code, message = _refused(b, buy(qty=1))
    assert (status, code, message) == (403, 40310000, "potential wash trade detected. use complex orders")


def test_cancel_of_a_filled_order_is_refused_and_unknown_ids_are_not_found(b):
    o = b.submit_order(buy(qty=1))
    b.advance_to(et("2024-03-04 16:00"))
    with pytest.raises(APIError) as e:
        b.cancel_order_by_id(o.id)
    assert e.value.status_code == 422
    with pytest.raises(APIError) as e:
        b.get_order_by_id("00000000-0000-0000-0000-000000000000")
    assert (e.value.status_code, e.value.code, e.value.message) == (404, 40410000, "order not found")


def test_get_asset_of_unknown_symbol_is_404(b):
    with pytest.raises(APIError) as e:
        b.get_asset("NOPE")
    assert e.value.status_code == 404
    assert b.get_asset("AAA").symbol == "AAA"


def test_auction_time_in_force_is_refused_with_a_clear_message(b):
    status, code, message = _refused(b, buy(qty=1, tif="opg"))
    assert (status, code) == (422, 42210000) and "opg" in message and "not modelled" in message


def test_replacing_a_bracket_legs_qty_is_refused_conservatively(b):
    from alpaca.trading.requests import GetOrderByIdRequest, ReplaceOrderRequest

    o = b.submit_order(bracket(qty=10))
    b.advance_to(et("2024-03-04 16:00"))
    leg = b.get_order_by_id(o.id, GetOrderByIdRequest(nested=True)).legs[0]
    with pytest.raises(APIError) as e:
        b.replace_order_by_id(leg.id, ReplaceOrderRequest(qty=5))
    assert e.value.status_code == 422 and "qty" in e.value.message


def test_replacing_a_trailing_stops_trail_moves_its_stop(b):
    from alpaca.trading.requests import ReplaceOrderRequest

    b.submit_order(buy(qty=10))
    b.advance_to(et("2024-03-04 16:00"))
    o = b.submit_order(TrailingStopOrderRequest(symbol="AAA", qty=10, side="sell", time_in_force="gtc",
                                                trail_percent=10))
    new = b.replace_order_by_id(o.id, ReplaceOrderRequest(trail=5))
    # Mark 100 (Monday's close): a 5% trail puts the stop at 95.
    assert float(new.trail_percent) == 5 and float(new.stop_price) == 95.0 and float(new.hwm) == 100.0
