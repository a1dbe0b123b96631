"""The native path's plain order requests (``OrderFields``) are the alpaca-py requests they
stand for: the broker accepts and refuses them alike (the same ``APIError``: status, code,
message, body) and records the same orders; and :func:`plain_order` gives fields only where
pydantic would build the model with exactly those values (anything else is left to the model).

The market (tests/test_broker_rejections.py's): AAA at 100 (Fri 2024-03-01 and Mon 03-04, each
100/101/99/100), PENNY at 0.50; the clock starts Friday 17:00 New York with $100,000 of cash.
"""

import math

import numpy as np
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest, StopLossRequest, \
    TakeProfitRequest
from hypothesis import given, settings as hsettings, strategies as st

from activetrader.broker.submit import OrderFields, alpaca_request, order_fields, plain_order
from scenario import bracket, broker, buy, et, stop_sell

FRI = ("2024-03-01", 100, 101, 99, 100)
MON = ("2024-03-04", 100, 101, 99, 100)


def _broker():
    return broker({"AAA": [FRI, MON], "PENNY": [("2024-03-01", 0.5, 0.55, 0.45, 0.5)]}, start="2024-03-01 17:00")


def _hold(b, qty=10):
    """AAA bought at Monday's open (100) and held at Monday's close."""
    b.submit_order(buy(qty=qty))
    b.advance_to(et("2024-03-04 16:00"))


def _held_by_legs(b):
    b.submit_order(bracket(qty=10))
    b.advance_to(et("2024-03-04 16:00"))


def _resting_stop(b):
    _hold(b, 5)
    b.submit_order(stop_sell(qty=5, stop=90))


def _used_id(b):
    b.submit_order(buy(qty=1, client_order_id="at-dup"))


# (setup, plain_order arguments, client_order_id, Alpaca's answer as the rejection tests state it)
REFUSALS = {
    "fractional bracket": (None, ("market", "AAA", 1.5, "buy", "gtc", "bracket", 115.0, 95.0), None,
                           (422, 42210000, "fractional orders must be simple orders")),
    "fractional oco": (_hold, ("limit", "AAA", 1.5, "sell", "gtc", "oco", 115.0, 95.0), None,
                       (422, 42210000, "fractional orders must be simple orders")),
    "fractional gtc": (None, ("market", "AAA", 0.5, "buy", "gtc"), None,
                       (422, 42210000, "fractional orders must be DAY orders")),
    "sub-penny take-profit": (None, ("market", "AAA", 10, "buy", "gtc", "bracket", 115.001, 95.0), None,
                              (422, 42210000, "invalid take_profit.limit_price 115.001. sub-penny increment "
                                              "does not fulfill minimum pricing criteria")),
    "take-profit below the price": (None, ("market", "AAA", 10, "buy", "gtc", "bracket", 99.5, 95.0), None,
                                    (422, 42210000, "take_profit.limit_price must be >= base_price + 0.01")),
    "stop above the price": (None, ("market", "AAA", 10, "buy", "gtc", "bracket", 115.0, 100.0), None,
                             (422, 42210000, "stop_loss.stop_price must be <= base_price - 0.01")),
    "oco stop above the price": (_hold, ("limit", "AAA", 10, "sell", "gtc", "oco", 115.0, 100.0), None,
                                 (422, 42210000, "stop_loss.stop_price must be <= base_price - 0.01")),
    "shares held by legs": (_held_by_legs, ("market", "AAA", 3, "sell", "day"), None,
                            (403, 40310000, "insufficient qty available for order (requested: 3, available: 0)")),
    "oco on shares held by legs": (_held_by_legs, ("limit", "AAA", 10, "sell", "gtc", "oco", 115.0, 95.0), None,
                                   (403, 40310000, "insufficient qty available for order (requested: 10, "
                                                   "available: 0)")),
    "no shorting": (None, ("market", "AAA", 1, "sell", "day"), None,
                    (403, 40310000, "account is not allowed to short")),
    "buying power": (None, ("market", "AAA", 2001, "buy", "gtc"), None, (403, 40310000, "insufficient buying power")),
    "duplicate client_order_id": (_used_id, ("market", "AAA", 1, "buy", "gtc"), "at-dup",
                                  (422, 40010001, "client_order_id must be unique")),
    "client_order_id too long": (None, ("market", "AAA", 1, "buy", "gtc"), "x" * 49,
                                 (422, 40010001, "client_order_id must be no more than 48 characters")),
    "unknown symbol": (None, ("market", "NOPE", 1, "buy", "gtc"), None, (422, 40010001, "asset NOPE not found")),
    "bracket onto a position": (_hold, ("market", "AAA", 1, "buy", "gtc", "bracket", 115.0, 95.0), None,
                                (422, 42210000, "bracket orders must be entry orders")),
    "sell bracket": (_hold, ("market", "AAA", 1, "sell", "gtc", "bracket", 115.0, 95.0), None,
                     (422, 42210000, "bracket orders must be entry orders")),
    "buy oco": (None, ("limit", "AAA", 1, "buy", "gtc", "oco", 115.0, 95.0), None,
                (422, 42210000, "oco orders must be exit orders")),
    "wash trade": (_resting_stop, ("market", "AAA", 1, "buy", "gtc"), None,
                   (403, 40310000, "potential wash trade detected. use complex orders")),
    "zero qty": (None, ("market", "AAA", 0, "buy", "day"), None, (422, 40010001, "qty must be > 0 (got 0.0)")),
    "negative qty": (None, ("market", "AAA", -5, "sell", "day"), None, (422, 40010001, "qty must be > 0 (got -5.0)")),
}


def _request(form: str, args, cid):
    plain = plain_order(*args)
    assert plain is not None, "plain inputs: the native path sends them plain"
    plain = plain._replace(client_order_id=cid)
    return plain if form == "plain" else alpaca_request(plain)


@pytest.mark.parametrize("form", ["alpaca-py", "plain"])
@pytest.mark.parametrize("case", REFUSALS)
def test_submit_of_a_bad_request_in_either_form_is_refused_alike_and_records_nothing(case, form):
    setup, args, cid, answer = REFUSALS[case]
    b = _broker()
    if setup is not None:
        setup(b)
    before = len(b.get_orders(GetOrdersRequest(status="all")))
    request = _request(form, args, cid)
    with pytest.raises(APIError) as e:
        b.native_submit(request)
    assert (e.value.status_code, e.value.code, e.value.message) == answer
    assert len(b.get_orders(GetOrdersRequest(status="all"))) == before, "a refused order must leave nothing"
    twin = _broker()  # the other form, on a twin broker: the same error, body included
    if setup is not None:
        setup(twin)
    with pytest.raises(APIError) as other:
        twin.submit_order(_request("plain" if form == "alpaca-py" else "alpaca-py", args, cid))
    assert str(other.value) == str(e.value)


@pytest.mark.parametrize("setup, args", [
    (None, ("market", "AAA", 10, "buy", "gtc", "bracket", 115.0, 95.0)),
    (None, ("market", "AAA", 10, "buy", "day")),
    (_hold, ("limit", "AAA", 10, "sell", "gtc", "oco", 115.0, 95.0)),
    (_hold, ("market", "AAA", 4, "sell", "day")),
], ids=["bracket", "buy", "oco", "sell"])
def test_an_accepted_request_in_either_form_records_the_same_orders(setup, args):
    a, b = _broker(), _broker()
    for x in (a, b):
        if setup is not None:
            setup(x)
    plain = plain_order(*args)._replace(client_order_id="at-1")
    assert a.native_submit(plain) == b.native_submit(alpaca_request(plain))
    a.advance_to(et("2024-03-04 16:00"))
    b.advance_to(et("2024-03-04 16:00"))
    assert [o.to_alpaca() for o in a._orders.values()] == [o.to_alpaca() for o in b._orders.values()]
    assert len(a._orders) == {"bracket": 3, "oco": 2}.get(args[5] if len(args) > 5 else None, 1) + (setup is not None)


def test_a_submit_order_wrapped_on_the_broker_is_handed_the_alpaca_py_request():
    b, seen = _broker(), []
    real = b.submit_order
    b.submit_order = lambda req: (seen.append(req), real(req))[1]
    plain = plain_order("market", "AAA", 10, "buy", "gtc", "bracket", 115.0, 95.0)._replace(client_order_id="at-1")
    oid, status = b.native_submit(plain)
    assert seen == [MarketOrderRequest(symbol="AAA", qty=10, side="buy", time_in_force="gtc", order_class="bracket",
                                       take_profit=TakeProfitRequest(limit_price=115.0),
                                       stop_loss=StopLossRequest(stop_price=95.0), client_order_id="at-1")]
    assert (b._orders[oid].client_order_id, status) == ("at-1", "new")


# ---------------------------------------------------------------------------- plain_order vs the model
def _model(type_, symbol, qty, side, tif, order_class, tp, sl):
    """The request the executor builds on the alpaca-py path (trader._Executor._request)."""
    kw = dict(symbol=symbol, qty=qty, side=side, time_in_force=tif)
    if order_class is not None:
        kw.update(order_class=order_class, take_profit=TakeProfitRequest(limit_price=tp),
                  stop_loss=StopLossRequest(stop_price=sl))
    return (LimitOrderRequest if type_ == "limit" else MarketOrderRequest)(**kw)


_numbers = st.one_of(st.integers(-10**17, 10**17), st.floats(allow_nan=False), st.none(), st.booleans(),
                     st.sampled_from(["10", "abc", np.float64(2.5), np.int64(3), 2**60]))


@hsettings(max_examples=400, deadline=None)
@given(type_=st.sampled_from(["market", "limit"]), symbol=st.sampled_from(["AAPL", "", None, 5, b"X"]),
       qty=_numbers, side=st.sampled_from(["buy", "sell", "short", None]),
       tif=st.sampled_from(["day", "gtc", "ioc", None]), order_class=st.sampled_from([None, "bracket", "oco", "oto"]),
       tp=_numbers, sl=_numbers)
def test_plain_order_gives_the_fields_of_the_model_or_leaves_it_to_the_model(type_, symbol, qty, side, tif,
                                                                             order_class, tp, sl):
    plain = plain_order(type_, symbol, qty, side, tif, order_class, tp, sl)
    try:
        model = _model(type_, symbol, qty, side, tif, order_class, tp, sl)
    except ValueError:  # pydantic refuses: so must the plain path (by leaving it to the model)
        assert plain is None
        return
    if plain is not None:
        assert plain == order_fields(model)
        assert all(type(x) is float for x in (plain.qty, plain.take_profit or 0.0, plain.stop_loss or 0.0))
    else:  # left to the model: only where some input is not plain
        plain_inputs = (
            type(symbol) is str and type(qty) in (int, float) and abs(qty) <= 2**53 and side in ("buy", "sell")
            and tif in ("day", "gtc") and order_class in (None, "bracket", "oco")
            and (type_ == "market") != (order_class == "oco") and (order_class is None) == (tp is None and sl is None)
            and (order_class is None or (type(tp) in (int, float) and type(sl) in (int, float)
                                         and max(abs(tp), abs(sl)) <= 2**53)))
        assert not plain_inputs, "plain inputs the model keeps as they are must be sent plain"


def test_plain_order_keeps_infinite_prices_as_the_model_does():
    f = plain_order("market", "AAA", 1, "buy", "gtc", "bracket", math.inf, 95.0)
    assert f == order_fields(_model("market", "AAA", 1, "buy", "gtc", "bracket", math.inf, 95.0))


def test_order_fields_of_order_fields_is_itself():
    f = OrderFields("AAA", "buy", "market", "day", qty=1.0)
    assert order_fields(f) is f


# ---------------------------------------------------------------------------- new_order vs the keyword form
@pytest.mark.parametrize("role, parent_id", [(None, None), ("entry", None), ("stop_loss", "o-0")])
def test_new_order_is_the_keyword_built_order_field_by_field(role, parent_id):
    import dataclasses

    from activetrader.broker.orders import SimOrder, new_order

    args = dict(symbol="AAA", side="sell", type="stop_limit", time_in_force="gtc", qty=10.0, notional=None,
                order_class="bracket", status="held", extended_hours=False, limit_price=94.5, stop_price=95.0,
                trail_percent=1.5, trail_price=2.5, expires_ns=99, expiry_event="cancel")
    got = new_order("o-7", 7, args["symbol"], args["side"], args["type"], args["time_in_force"], args["qty"],
                    args["notional"], args["order_class"], args["status"], 5, args["extended_hours"],
                    args["limit_price"], args["stop_price"], args["trail_percent"], args["trail_price"],
                    args["expires_ns"], args["expiry_event"], role, parent_id)
    extra = {} if parent_id is None else {"parent_id": parent_id, "group_id": parent_id}
    want = SimOrder(id="o-7", client_order_id="o-7", seq=7, created_ns=5, updated_ns=5, active_from_ns=5, role=role,
                    **args, **extra)
    for f in dataclasses.fields(SimOrder):
        assert getattr(got, f.name) == getattr(want, f.name), f.name
    assert got.leg_ids is not want.leg_ids and got.events is not want.events  # fresh lists, not shared ones
