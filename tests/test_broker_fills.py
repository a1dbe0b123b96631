"""How the SimBroker fills orders against bars: no look-ahead, opens, gaps, limits, stops,
trailing stops. Each test states its market path and the fills it expects.

Dates: Fri 2024-03-01 is the last complete bar when the broker starts (17:00 New York time,
after the close); Mon 03-04, Tue 03-05, Wed 03-06 follow.
"""

import pandas as pd
import pytest
from alpaca.trading.requests import (
    LimitOrderRequest, MarketOrderRequest, StopLimitOrderRequest, StopOrderRequest, TrailingStopOrderRequest,
)

from scenario import broker, buy, et, status, stop_sell

FRI = ("2024-03-01", 100, 101, 99, 100)


def test_market_order_submitted_mid_session_skips_the_bar_in_progress():
    # Mon's bar started at 09:30, before the 12:00 submission: the order waits for Tue's open.
    b = broker({"AAA": [FRI, ("2024-03-04", 101, 103, 100, 102), ("2024-03-05", 104, 105, 103, 104)]},
               start="2024-03-01 17:00")
    b.advance_to(et("2024-03-04 12:00"))
    o = b.submit_order(buy())
    b.advance_to(et("2024-03-04 16:00"))
    assert status(b, o.id) == "new"
    b.advance_to(et("2024-03-05 16:00"))
    got = b.get_order_by_id(o.id)
    assert got.status.value == "filled" and float(got.filled_avg_price) == 104.0
    assert got.filled_at == et("2024-03-05 09:30")


def test_market_order_fills_at_next_bar_open_not_the_close():
    b = broker({"AAA": [FRI, ("2024-03-04", 101, 103, 100, 102)]}, start="2024-03-01 17:00")
    o = b.submit_order(buy())
    b.advance_to(et("2024-03-04 16:00"))
    assert float(b.get_order_by_id(o.id).filled_avg_price) == 101.0


def test_advance_to_does_not_process_a_bar_still_in_progress():
    b = broker({"AAA": [FRI, ("2024-03-04", 101, 103, 100, 102)]}, start="2024-03-01 17:00")
    o = b.submit_order(buy())
    b.advance_to(et("2024-03-04 15:59"))  # Monday's daily bar is complete only at 16:00
    assert status(b, o.id) == "new"
    assert b.now == et("2024-03-04 15:59")


def test_advance_to_backwards_is_an_error_naming_both_times():
    b = broker({"AAA": [FRI]}, start="2024-03-01 17:00")
    with pytest.raises(ValueError, match="backwards"):
        b.advance_to(et("2024-03-01 16:00"))


@pytest.mark.parametrize("bar, expected", [
    (("2024-03-04", 97, 99, 96, 98), 97.0),     # opens below the 98 limit: fills at the better open
    (("2024-03-04", 100, 101, 97, 99), 98.0),   # trades down through 98: fills at the limit
    (("2024-03-04", 100, 101, 98.5, 99), None),  # never reaches 98: no fill
])
def test_buy_limit_never_fills_worse_than_its_limit(bar, expected):
    b = broker({"AAA": [FRI, bar]}, start="2024-03-01 17:00")
    o = b.submit_order(LimitOrderRequest(symbol="AAA", qty=5, side="buy", time_in_force="gtc", limit_price=98))
    b.advance_to(et("2024-03-04 16:00"))
    got = b.get_order_by_id(o.id)
    if expected is None:
        assert got.status.value == "new"
    else:
        assert float(got.filled_avg_price) == expected


def test_sell_limit_opening_above_limit_fills_at_open():
    b = broker({"AAA": [FRI, ("2024-03-04", 100, 100, 100, 100), ("2024-03-05", 112, 113, 111, 112)]},
               start="2024-03-01 17:00")
    b.submit_order(buy())
    b.advance_to(et("2024-03-04 16:00"))
    o = b.submit_order(LimitOrderRequest(symbol="AAA", qty=10, side="sell", time_in_force="gtc", limit_price=110))
    b.advance_to(et("2024-03-05 16:00"))
    assert float(b.get_order_by_id(o.id).filled_avg_price) == 112.0


def _long_then(bar_after):
    """Buy 10 at Monday's 100 open; `bar_after` is Tuesday."""
    b = broker({"AAA": [FRI, ("2024-03-04", 100, 100.5, 99.5, 100), bar_after]}, start="2024-03-01 17:00")
    b.submit_order(buy())
    b.advance_to(et("2024-03-04 16:00"))
    return b


def test_sell_stop_gapped_through_fills_at_the_open_not_the_stop():
    # Tuesday opens at 90, far below the 95 stop: the loss is 10%, not 5%, and the fill says so.
    b = _long_then(("2024-03-05", 90, 91, 88, 89))
    o = b.submit_order(stop_sell(stop=95))
    b.advance_to(et("2024-03-05 16:00"))
    assert float(b.get_order_by_id(o.id).filled_avg_price) == 90.0
    assert b.fills[-1].realized_pl == pytest.approx(-100.0)


def test_sell_stop_touched_intraday_fills_at_the_stop():
    b = _long_then(("2024-03-05", 99, 99.5, 94, 96))
    o = b.submit_order(stop_sell(stop=95))
    b.advance_to(et("2024-03-05 16:00"))
    assert float(b.get_order_by_id(o.id).filled_avg_price) == 95.0


def test_stop_limit_sell_gapped_below_its_limit_rests_unfilled_then_fills_at_limit():
    # Stop 95 / limit 94: Tue opens at 90 (elected, but 90 < 94 cannot fill); Wed trades up to 94.5.
    b = broker({"AAA": [FRI, ("2024-03-04", 100, 100, 100, 100), ("2024-03-05", 90, 91, 88, 89),
                        ("2024-03-06", 92, 94.5, 91, 93)]}, start="2024-03-01 17:00")
    b.submit_order(buy())
    b.advance_to(et("2024-03-04 16:00"))
    o = b.submit_order(StopLimitOrderRequest(symbol="AAA", qty=10, side="sell", time_in_force="gtc",
                                             stop_price=95, limit_price=94))
    b.advance_to(et("2024-03-05 16:00"))
    assert status(b, o.id) == "new"
    b.advance_to(et("2024-03-06 16:00"))
    assert float(b.get_order_by_id(o.id).filled_avg_price) == 94.0


def test_buy_stop_runs_as_stop_limit_four_percent_above_and_misses_a_big_gap():
    # Alpaca converts a buy stop under $50 into a stop-limit 4% above: stop 40 -> limit 41.60.
    # Tue gaps to 43 (elected) and never trades back to 41.60: no fill, it rests as a limit.
    # Wed trades down from 42.50 through 41.60 to 41: the limit fills at the 41.60 crossing.
    b = broker({"AAA": [("2024-03-01", 38, 39, 37, 38), ("2024-03-05", 43, 44, 42.5, 43),
                        ("2024-03-06", 42.5, 42.8, 41, 41.5)]}, start="2024-03-01 17:00")
    o = b.submit_order(StopOrderRequest(symbol="AAA", qty=10, side="buy", time_in_force="gtc", stop_price=40))
    b.advance_to(et("2024-03-05 16:00"))
    assert status(b, o.id) == "new"
    b.advance_to(et("2024-03-06 16:00"))
    assert float(b.get_order_by_id(o.id).filled_avg_price) == pytest.approx(41.60)


def test_trailing_stop_percent_reports_hwm_and_uses_the_stop_set_before_the_bar():
    # Bought at 100; trail 10% from the 100 close -> stop 90.
    # Tue: high 120 then low 100. With the new high the stop would be 108 (and the low 100 would
    # trigger it), but the stop in force during Tue is still 90: no fill (the conservative order).
    # After Tue the mark is 120 and the stop 108. Wed opens 107: gapped through, fills at 107.
    b = broker({"AAA": [FRI, ("2024-03-04", 100, 100, 100, 100), ("2024-03-05", 101, 120, 100, 105),
                        ("2024-03-06", 107, 108, 106, 107)]}, start="2024-03-01 17:00")
    b.submit_order(buy())
    b.advance_to(et("2024-03-04 16:00"))
    o = b.submit_order(TrailingStopOrderRequest(symbol="AAA", qty=10, side="sell", time_in_force="gtc",
                                                trail_percent=10))
    assert float(b.get_order_by_id(o.id).hwm) == 100.0 and float(b.get_order_by_id(o.id).stop_price) == 90.0
    b.advance_to(et("2024-03-05 16:00"))
    got = b.get_order_by_id(o.id)
    assert got.status.value == "new" and float(got.hwm) == 120.0 and float(got.stop_price) == 108.0
    b.advance_to(et("2024-03-06 16:00"))
    assert float(b.get_order_by_id(o.id).filled_avg_price) == 107.0


def test_trailing_stop_price_trails_by_dollars():
    # trail $5 from 100 -> stop 95; Tue high 104 -> stop 99; Wed low 98 triggers at 99.
    b = broker({"AAA": [FRI, ("2024-03-04", 100, 100, 100, 100), ("2024-03-05", 101, 104, 100, 103),
                        ("2024-03-06", 102, 102, 98, 99)]}, start="2024-03-01 17:00")
    b.submit_order(buy())
    b.advance_to(et("2024-03-04 16:00"))
    o = b.submit_order(TrailingStopOrderRequest(symbol="AAA", qty=10, side="sell", time_in_force="gtc",
                                                trail_price=5))
    b.advance_to(et("2024-03-06 16:00"))
    assert float(b.get_order_by_id(o.id).filled_avg_price) == 99.0


def test_day_order_expires_at_the_close_and_gtc_rests():
    b = broker({"AAA": [FRI, ("2024-03-04", 100, 101, 99, 100), ("2024-03-05", 100, 101, 99, 100)]},
               start="2024-03-01 17:00")
    day = b.submit_order(LimitOrderRequest(symbol="AAA", qty=1, side="buy", time_in_force="day", limit_price=90))
    gtc = b.submit_order(LimitOrderRequest(symbol="AAA", qty=1, side="buy", time_in_force="gtc", limit_price=90))
    b.advance_to(et("2024-03-05 10:00"))
    d = b.get_order_by_id(day.id)
    # Submitted after Friday's close, it worked during Monday's session and expired at its close.
    assert d.status.value == "expired" and d.expired_at == et("2024-03-04 16:00")
    assert status(b, gtc.id) == "new"


def test_ioc_limit_not_marketable_at_the_first_bar_is_cancelled():
    b = broker({"AAA": [FRI, ("2024-03-04", 100, 101, 95, 100)]}, start="2024-03-01 17:00")
    o = b.submit_order(LimitOrderRequest(symbol="AAA", qty=1, side="buy", time_in_force="ioc", limit_price=96))
    b.advance_to(et("2024-03-04 16:00"))
    # IOC is modelled without partial fills: the bar could have filled at 96 (low 95), so it fills.
    assert status(b, o.id) == "filled"
    o2 = b.submit_order(LimitOrderRequest(symbol="AAA", qty=1, side="buy", time_in_force="ioc", limit_price=50))
    b.advance_to(et("2024-03-05 16:00"))
    assert status(b, o2.id) == "canceled"


def test_notional_market_buy_fills_fractional_qty_at_the_open():
    b = broker({"AAA": [FRI, ("2024-03-04", 80, 81, 79, 80)]}, start="2024-03-01 17:00")
    o = b.submit_order(MarketOrderRequest(symbol="AAA", notional=1000, side="buy", time_in_force="day"))
    b.advance_to(et("2024-03-04 16:00"))
    assert float(b.get_order_by_id(o.id).filled_qty) == pytest.approx(12.5)
    assert float(b.get_open_position("AAA").qty) == pytest.approx(12.5)


def test_fill_times_lie_inside_their_bar():
    b = _long_then(("2024-03-05", 99, 99.5, 94, 96))
    b.submit_order(stop_sell(stop=95))
    b.advance_to(et("2024-03-05 16:00"))
    t = b.fills[-1].timestamp
    assert et("2024-03-05 09:30") < t < et("2024-03-05 16:00")
    assert isinstance(t, pd.Timestamp)
