"""A live native listing can hand back the Trader's views of its rows (``native_orders(view=...)``),
each made once and kept with the symbol's part of the listing until the symbol's orders change
(issue 7). That the kept views are those of the rows listed afresh after every change of every kind
is checked with the other kept values (tests/test_broker_speed_caches.py, _check_native_views)."""

import pandas as pd
from alpaca.trading.requests import TrailingStopOrderRequest

from activetrader.strategy.snapshot import LIVE_STATUSES
from activetrader.trader import _order_view
from scenario import bracket, broker, buy, et


def test_a_view_is_made_once_per_change_of_its_symbols_orders():
    """AAA: a bracket buy of 10 (take-profit 120, stop 90) filled at Monday's open (100): its two
    legs rest. BBB: 10 shares bought at Monday's open and, after the close (101), a 5 % trailing
    stop at 95.95. Tuesday's BBB high of 110 lifts that stop to 104.50; AAA's orders stay as they
    are. Views: made for the three live orders, none when listed again, BBB's alone after its
    stop moved (the change is seen)."""
    days = ["2024-03-04", "2024-03-05", "2024-03-06"]
    bars = {"AAA": [(d, 100.0, 102.0, 99.0, 101.0) for d in days],
            "BBB": [("2024-03-04", 100.0, 102.0, 99.0, 101.0), ("2024-03-05", 101.0, 110.0, 100.0, 108.0),
                    ("2024-03-06", 108.0, 109.0, 107.0, 108.0)]}
    b = broker(bars, start="2024-03-04 09:00")
    b.submit_order(bracket("AAA", 10, tp=120.0, sl=90.0))
    b.submit_order(buy("BBB", 10))
    b.advance_to(et("2024-03-04 16:00"))
    b.submit_order(TrailingStopOrderRequest(symbol="BBB", qty=10, side="sell", time_in_force="gtc", trail_percent=5))
    made = []

    def view(r):
        made.append(r.symbol)
        return _order_view(r)

    window = (b.now - pd.Timedelta(days=91)).value
    first = b.native_orders(after=window, keep=LIVE_STATUSES, view=view)
    assert sorted(made) == ["AAA", "AAA", "BBB"]  # AAA's two legs, BBB's trailing stop
    assert [v.stop_price for v in first if v.symbol == "BBB"] == [95.95]  # 101 x 0.95
    made.clear()
    again = b.native_orders(after=window, keep=LIVE_STATUSES, view=view)
    assert made == [] and all(x is y for x, y in zip(again, first)) and len(again) == 3
    b.advance_to(et("2024-03-05 16:00"))  # BBB's high 110 lifts its stop to 104.50; AAA's orders are as they were
    moved = b.native_orders(after=window, keep=LIVE_STATUSES, view=view)
    assert made == ["BBB"]
    assert [v.stop_price for v in moved if v.symbol == "BBB"] == [104.5]
    assert [v for v in moved if v.symbol == "AAA"] == [v for v in first if v.symbol == "AAA"]
