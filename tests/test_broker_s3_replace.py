"""Replacing an order of a group, as Alpaca answers it (alpaca-contract.md §1-2).

Market path (daily bars, AAA): Fri 03-01 closes at 100 (the broker starts at 17:00 New York
time, so 100 is the base price); then quiet sessions open 100, high 101, low 99, close 100,
unless a test says otherwise. Nothing in these paths reaches a take-profit at 115 or more, a
stop at 95 or less, or a buy limit at 90.
"""

from alpaca.trading.requests import GetOrderByIdRequest, GetOrdersRequest, LimitOrderRequest, ReplaceOrderRequest

from activetrader.strategy.snapshot import LIVE_STATUSES
from scenario import bracket, broker, buy, et, oco, status

FRI = ("2024-03-01", 100, 101, 99, 100)
QUIET = [(d, 100, 101, 99, 100) for d in ("2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08")]


def _holding_with_oco(sessions=QUIET):
    """10 AAA bought at Monday's open (100), then an OCO (TP 115 / SL 95) placed after the close;
    ``sessions``: the daily bars from Monday on."""
    b = broker({"AAA": [FRI, *sessions]}, start="2024-03-01 17:00")
    b.submit_order(buy("AAA", 10))
    b.advance_to(et("2024-03-04 17:00"))
    return b, b.submit_order(oco("AAA", 10, tp=115.0, sl=95.0))


def _stop_leg_id(b, top):
    """The id of the OCO ``top``'s stop leg, as its nested order shows it."""
    return b.get_order_by_id(top.id, GetOrderByIdRequest(nested=True)).legs[0].id


def _waiting_bracket_with_day_stop(b):
    """A GTC bracket whose limit entry (90) rests below the market, its legs (TP 120, SL 85) held;
    on Tuesday morning its stop leg is replaced with time_in_force DAY. Returns the entry, its
    legs by type before the replace, and the new stop."""
    top = b.submit_order(bracket("AAA", 10, tp=120.0, sl=85.0, limit=90.0))
    b.advance_to(et("2024-03-05 09:00"))
    legs = {leg.type.value: leg for leg in b.get_order_by_id(top.id, GetOrderByIdRequest(nested=True)).legs}
    return top, legs, b.replace_order_by_id(legs["stop"].id, ReplaceOrderRequest(time_in_force="day"))


def _listed_ids(listing) -> list[str]:
    """Every order id a nested alpaca-py listing shows: each listed order, then its legs."""
    return [str(x.id) for o in listing for x in (o, *(o.legs or ()))]


# ---------------------------------------------------------------------------- task: live leg listed once
def test_oco_top_replaced_nested_listing_shows_the_live_stop_once():
    """After Monday's close the OCO (TP 115 limit, SL 95 stop) protects 10 AAA; on Tuesday
    evening the take-profit is lowered to 112 (a replace: new order, old one `replaced`, §2).
    The nested ``status=all`` listing then shows the buy, the replaced top, and the new top with
    the stop leg under it: the live stop exactly once, under the order it now belongs to. The
    fast path's native listing (``native_orders``), full and live, shows the same."""
    b, top = _holding_with_oco()
    b.advance_to(et("2024-03-05 17:00"))
    sl_id = str(_stop_leg_id(b, top))
    new_top = b.replace_order_by_id(top.id, ReplaceOrderRequest(limit_price=112.0))
    listing = b.get_orders(GetOrdersRequest(status="all", nested=True))
    ids = _listed_ids(listing)
    assert ids.count(sl_id) == 1
    (shown,) = [o for o in listing if str(o.id) == str(new_top.id)]
    assert [str(leg.id) for leg in shown.legs] == [sl_id]
    old = b.get_order_by_id(top.id, GetOrderByIdRequest(nested=True))
    assert old.status.value == "replaced" and not old.legs
    # the fast path: the full listing and the live one (found from the open orders)
    rows = b.native_orders()
    assert [r.id for r in rows].count(sl_id) == 1
    assert [(r.id, r.parent_id) for r in rows if r.id == sl_id] == [(sl_id, str(new_top.id))]
    live = b.native_orders(after=et("2024-01-01").value, keep=LIVE_STATUSES)
    assert [(r.id, r.parent_id) for r in live] == [(str(new_top.id), None), (sl_id, str(new_top.id))]
    assert live == [r for r in b.native_orders(after=et("2024-01-01").value) if r.status in LIVE_STATUSES]
    # the closed listing shows the replaced top, with no live leg under it
    closed = b.get_orders(GetOrdersRequest(status="closed", nested=True))
    assert [(str(o.id), o.legs) for o in closed if str(o.id) == str(top.id)] == [(str(top.id), None)]
    assert sl_id not in _listed_ids(closed)
    # the open listing (held legs hidden by default, §1) shows the new top alone
    assert [str(o.id) for o in b.get_orders(GetOrdersRequest(status="open", nested=True))] == [str(new_top.id)]


def test_oco_top_replaced_twice_nested_listing_shows_the_live_stop_once():
    """The take-profit is lowered twice (115 -> 112 -> 110): three tops, one live stop."""
    b, top = _holding_with_oco()
    b.advance_to(et("2024-03-05 17:00"))
    sl_id = str(_stop_leg_id(b, top))
    mid = b.replace_order_by_id(top.id, ReplaceOrderRequest(limit_price=112.0))
    b.advance_to(et("2024-03-06 17:00"))
    last = b.replace_order_by_id(mid.id, ReplaceOrderRequest(limit_price=110.0))
    assert _listed_ids(b.get_orders(GetOrdersRequest(status="all", nested=True))).count(sl_id) == 1
    assert [r.id for r in b.native_orders()].count(sl_id) == 1
    live = b.native_orders(after=et("2024-01-01").value, keep=LIVE_STATUSES)
    assert [(r.id, r.parent_id) for r in live] == [(str(last.id), None), (sl_id, str(last.id))]


def test_oco_top_replaced_then_stop_reached_fills_the_stop_and_cancels_the_new_top():
    """The group still works as one after the replace: Thursday dips to 94, the stop (95) fills
    at 95 and the new take-profit (112) is cancelled; the replaced top stays `replaced`."""
    b, top = _holding_with_oco([*QUIET[:3], ("2024-03-07", 97, 98, 94, 95)])
    sl_id = _stop_leg_id(b, top)
    new_top = b.replace_order_by_id(top.id, ReplaceOrderRequest(limit_price=112.0))
    b.advance_to(et("2024-03-07 17:00"))
    assert [status(b, x) for x in (top.id, new_top.id, sl_id)] == ["replaced", "canceled", "filled"]
    assert float(b.get_order_by_id(sl_id).filled_avg_price) == 95.0


def test_bracket_take_profit_replaced_nested_listing_shows_each_leg_once():
    """A market bracket (TP 115, SL 95) fills at Monday's open (100); on Tuesday evening its
    take-profit leg is lowered to 112. The nested ``status=all`` listing shows the entry with
    two legs, the new take-profit and the stop, each once; the replaced take-profit is not
    shown as a live leg anywhere (Alpaca: one leg per replace, a new order takes its place, §2)."""
    b = broker({"AAA": [FRI, *QUIET]}, start="2024-03-01 17:00")
    entry = b.submit_order(bracket("AAA", 10, tp=115.0, sl=95.0))
    b.advance_to(et("2024-03-05 17:00"))
    legs = {leg.type.value: leg for leg in b.get_order_by_id(entry.id, GetOrderByIdRequest(nested=True)).legs}
    new_tp = b.replace_order_by_id(legs["limit"].id, ReplaceOrderRequest(limit_price=112.0))
    listing = b.get_orders(GetOrdersRequest(status="all", nested=True))
    assert [(str(o.id), [str(x.id) for x in o.legs]) for o in listing] == \
        [(str(entry.id), [str(new_tp.id), str(legs["stop"].id)])]
    live = b.native_orders(after=et("2024-01-01").value, keep=LIVE_STATUSES)
    assert [(r.id, r.parent_id) for r in live] == [(str(new_tp.id), str(entry.id)), (str(legs["stop"].id), str(entry.id))]
    assert [r.id for r in b.native_orders()] == [str(entry.id), str(new_tp.id), str(legs["stop"].id)]


# ---------------------------------------------------------------------------- task: DAY legs expire on their own
def test_waiting_bracket_stop_replaced_as_day_expires_at_that_close_with_no_other_order():
    """A GTC bracket whose limit entry (90) rests below the market (lows of 99) waits with its
    legs held. On Tuesday morning its stop leg is replaced with time_in_force DAY. No other
    order exists, yet at Tuesday's close (16:00) the DAY leg expires, and its group with it
    (the entry and the take-profit: a group ends together, §1; a live entry without its stop
    would be unprotected, so ending it is the conservative reading, UNVERIFIED)."""
    b = broker({"AAA": [FRI, *QUIET]}, start="2024-03-01 17:00")
    top, legs, new_stop = _waiting_bracket_with_day_stop(b)
    b.advance_to(et("2024-03-05 15:59"))
    assert [status(b, x) for x in (new_stop.id, top.id, legs["limit"].id)] == ["held", "new", "held"]
    b.advance_to(et("2024-03-06 09:00"))
    assert [status(b, x) for x in (new_stop.id, top.id, legs["limit"].id)] == ["expired", "expired", "expired"]
    assert b.get_order_by_id(new_stop.id).expired_at == et("2024-03-05 16:00")
    assert b.get_order_by_id(top.id).expired_at == et("2024-03-05 16:00")


def test_waiting_leg_replaced_as_day_expires_when_the_clock_jumps_days_past_it():
    """The same waiting bracket, its stop replaced as DAY on Tuesday; the clock then jumps
    straight to Friday: the leg expired at Tuesday's close, not at the jump's end."""
    b = broker({"AAA": [FRI, *QUIET]}, start="2024-03-01 17:00")
    top, _, new_stop = _waiting_bracket_with_day_stop(b)
    b.advance_to(et("2024-03-08 17:00"))
    assert b.get_order_by_id(new_stop.id).expired_at == et("2024-03-05 16:00")
    assert status(b, top.id) == "expired"


def test_oco_stop_leg_replaced_as_day_expires_at_that_close_and_frees_the_shares():
    """10 AAA held, a GTC OCO (TP 115 / SL 95) over them; on Tuesday morning the stop leg is
    replaced as DAY. At Tuesday's close it expires and the take-profit with it; the shares are
    free to sell again (qty_available 10)."""
    b, top = _holding_with_oco()
    b.advance_to(et("2024-03-05 09:00"))
    sl_id = _stop_leg_id(b, top)
    new_stop = b.replace_order_by_id(sl_id, ReplaceOrderRequest(time_in_force="day"))
    assert b.get_open_position("AAA").qty_available == "0"
    b.advance_to(et("2024-03-06 09:00"))
    assert [status(b, x) for x in (new_stop.id, top.id)] == ["expired", "expired"]
    assert b.get_order_by_id(new_stop.id).expired_at == et("2024-03-05 16:00")
    assert b.get_open_position("AAA").qty_available == "10"


def test_waiting_leg_replaced_as_day_with_a_gtc_order_elsewhere_still_expires_at_its_close():
    """A GTC buy limit at 50 rests on BBB (its 90-day expiry is far off) while the AAA waiting
    bracket's stop leg is replaced as DAY: the leg still expires at Tuesday's close."""
    bars = {"AAA": [FRI, *QUIET], "BBB": [FRI, *QUIET]}
    b = broker(bars, start="2024-03-01 17:00")
    b.submit_order(LimitOrderRequest(symbol="BBB", qty=5, side="buy", time_in_force="gtc", limit_price=50.0))
    _, _, new_stop = _waiting_bracket_with_day_stop(b)
    b.advance_to(et("2024-03-06 09:00"))
    assert b.get_order_by_id(new_stop.id).expired_at == et("2024-03-05 16:00")


def test_order_saved_before_legs_expire_ns_existed_unpickles_with_it_unset():
    """A paper account saved by an older version (server/state.py pickles the orders) has no
    ``legs_expire_ns`` in its orders' state: they load with it None (no waiting leg ends early)."""
    import pickle

    b = broker({"AAA": [FRI, *QUIET]}, start="2024-03-01 17:00")
    top = b._orders[str(b.submit_order(bracket("AAA", 10, tp=120.0, sl=85.0, limit=90.0)).id)]
    cls, args, (_, slots) = top.__reduce_ex__(pickle.HIGHEST_PROTOCOL)[:3]
    old_state = {k: v for k, v in slots.items() if k != "legs_expire_ns"}
    loaded = pickle.loads(pickle.dumps(top))
    assert loaded.legs_expire_ns is None and loaded.leg_ids == top.leg_ids
    restored = cls(*args)
    restored.__setstate__((None, old_state))
    assert restored.legs_expire_ns is None and restored.limit_price == 90.0 and restored.id == top.id


def test_oco_top_then_its_stop_replaced_nested_listing_shows_the_new_stop_once_under_the_new_top():
    """The take-profit is lowered to 112, then the stop raised to 96: one group, listed once as
    the new top with the new stop under it (the replaced top lists no legs). A Thursday dip to
    95.5 then fills the new stop at 96 and cancels the new top."""
    b, top = _holding_with_oco([*QUIET[:3], ("2024-03-07", 97, 98, 95.5, 96)])
    old_sl = _stop_leg_id(b, top)
    new_top = b.replace_order_by_id(top.id, ReplaceOrderRequest(limit_price=112.0))
    new_sl = b.replace_order_by_id(old_sl, ReplaceOrderRequest(stop_price=96.0))
    listing = b.get_orders(GetOrdersRequest(status="all", nested=True))
    shown = {str(o.id): [str(x.id) for x in o.legs or ()] for o in listing}
    assert shown[str(new_top.id)] == [str(new_sl.id)] and shown[str(top.id)] == []
    assert _listed_ids(listing).count(str(new_sl.id)) == 1
    live = b.native_orders(after=et("2024-01-01").value, keep=LIVE_STATUSES)
    assert [(r.id, r.parent_id) for r in live] == [(str(new_top.id), None), (str(new_sl.id), str(new_top.id))]
    b.advance_to(et("2024-03-07 17:00"))
    assert [status(b, x) for x in (new_top.id, new_sl.id)] == ["canceled", "filled"]
    assert float(b.get_order_by_id(new_sl.id).filled_avg_price) == 96.0
