"""Session rules on an hourly market (alpaca-contract.md §3): stops, trailing stops and bracket
legs trigger only in regular hours; only DAY limit orders flagged extended_hours trade outside
them; DAY orders expire at the close.

The hourly bars below are stamped in New York time, each covering one hour from its stamp.
"""

from alpaca.trading.requests import LimitOrderRequest, TrailingStopOrderRequest

from activetrader.broker import SimBroker
from scenario import bracket, buy, et, hourly_market, status, stop_sell


def _market():
    # Fri 03-01 regular session prints 100 all day; Mon 03-04 pre-market crashes to 80 at 07:00,
    # recovers to 99 by 09:00; regular session opens 09:30 at 99 ... 16:00 after-hours 80 again.
    fri = [(f"2024-03-01 {h:02d}:30", 100, 100, 100, 100) for h in range(9, 16)]
    mon = [
        ("2024-03-04 07:00", 100, 100, 80, 85),   # pre-market plunge through every stop
        ("2024-03-04 08:00", 85, 99, 85, 99),     # pre-market recovery
        ("2024-03-04 09:30", 99, 101, 98, 100),   # regular
        ("2024-03-04 10:30", 100, 101, 99, 100),  # regular
        ("2024-03-04 16:00", 100, 100, 80, 81),   # after-hours plunge
        ("2024-03-05 09:30", 82, 83, 81, 82),     # Tue regular open, gapped down
    ]
    return hourly_market({"AAA": fri + mon})


def _long(b, qty=10):
    b.submit_order(buy(qty=qty))
    b.advance_to(et("2024-03-01 10:30"))


def test_stop_does_not_trigger_on_extended_hours_prints_and_fills_at_the_next_regular_open():
    b = SimBroker(_market(), start=et("2024-03-01 09:00"))
    _long(b)
    o = b.submit_order(stop_sell(stop=95))
    b.advance_to(et("2024-03-04 11:30"))
    assert status(b, o.id) == "new"  # 80 at 07:00 pre-market did not elect it; 98 at 09:30 > 95
    b.advance_to(et("2024-03-05 10:30"))
    # After-hours 80 on Monday did not trigger it either; Tuesday's regular open 82 did, at the open.
    assert float(b.get_order_by_id(o.id).filled_avg_price) == 82.0


def test_bracket_legs_wait_for_regular_hours():
    b = SimBroker(_market(), start=et("2024-03-01 09:00"))
    o = b.submit_order(bracket(tp=115, sl=95))
    b.advance_to(et("2024-03-04 20:00"))
    assert status(b, o.id) == "filled"
    # Neither the 07:00 pre-market low of 80 nor the 16:00 after-hours low of 80 touched the stop.
    assert b.get_open_position("AAA").qty == "10"


def test_trailing_stop_does_not_trigger_outside_regular_hours():
    b = SimBroker(_market(), start=et("2024-03-01 09:00"))
    _long(b)
    o = b.submit_order(TrailingStopOrderRequest(symbol="AAA", qty=10, side="sell", time_in_force="gtc",
                                                trail_percent=5))
    b.advance_to(et("2024-03-04 11:30"))
    assert status(b, o.id) == "new"
    assert float(b.get_order_by_id(o.id).hwm) == 101.0  # the mark rose on Monday's regular high only


def test_extended_hours_day_limit_fills_in_pre_market():
    b = SimBroker(_market(), start=et("2024-03-04 06:30"))
    o = b.submit_order(LimitOrderRequest(symbol="AAA", qty=1, side="buy", time_in_force="day",
                                         limit_price=82, extended_hours=True))
    plain = b.submit_order(LimitOrderRequest(symbol="AAA", qty=1, side="buy", time_in_force="day", limit_price=82))
    b.advance_to(et("2024-03-04 09:00"))
    assert float(b.get_order_by_id(o.id).filled_avg_price) == 82.0  # the 07:00 bar traded down to 80
    assert status(b, plain.id) == "new"  # without extended_hours it waits for 09:30


def test_market_order_in_pre_market_fills_at_the_regular_open():
    b = SimBroker(_market(), start=et("2024-03-04 06:30"))
    o = b.submit_order(buy(qty=1, tif="day"))
    b.advance_to(et("2024-03-04 10:30"))
    got = b.get_order_by_id(o.id)
    assert float(got.filled_avg_price) == 99.0 and got.filled_at == et("2024-03-04 09:30")


def test_day_order_expires_at_the_close_not_in_after_hours():
    b = SimBroker(_market(), start=et("2024-03-04 09:00"))
    o = b.submit_order(LimitOrderRequest(symbol="AAA", qty=1, side="buy", time_in_force="day", limit_price=81))
    b.advance_to(et("2024-03-04 20:00"))
    got = b.get_order_by_id(o.id)
    # The after-hours bar reached 80, but a plain DAY order ended at 16:00.
    assert got.status.value == "expired" and got.expired_at == et("2024-03-04 16:00")


def test_clock_reports_sessions_from_the_exchange_calendar():
    b = SimBroker(_market(), start=et("2024-03-04 08:00"))
    c = b.get_clock()
    assert c.is_open is False and c.next_open == et("2024-03-04 09:30") and c.next_close == et("2024-03-04 16:00")
    b.advance_to(et("2024-03-04 12:00"))
    assert b.get_clock().is_open is True
