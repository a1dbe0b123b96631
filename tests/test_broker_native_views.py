"""A live native listing can hand back the Trader's views of its rows (``native_orders(view=...)``),
each made once and kept with the symbol's part of the listing until the symbol's orders change
(issue 7). The kept views must be the views of the rows listed afresh, after every change."""

import pandas as pd
from alpaca.trading.requests import MarketOrderRequest, TrailingStopOrderRequest
from hypothesis import given, settings, strategies as st

from activetrader.broker import SimBroker
from activetrader.strategy.snapshot import LIVE_STATUSES
from activetrader.trader import _order_view
from scenario import bracket, broker, buy, et
from test_engine_wake import SYMS, _act, _market, step


def _check(b: SimBroker, afters) -> None:
    for after in afters:
        rows = [r for r in b.native_orders(after=after) if r.status in LIVE_STATUSES]  # the full listing
        assert b.native_orders(after=after, keep=LIVE_STATUSES, view=_order_view) == [_order_view(r) for r in rows]
        assert b.native_orders(after=after, view=_order_view) == [_order_view(r) for r in b.native_orders(after=after)]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), hourly=st.booleans(), steps=st.lists(step, min_size=1, max_size=30))
def test_views_kept_with_the_live_listing_are_those_of_the_rows_after_every_change(seed, hourly, steps):
    """Random orders of every kind, cancels, replacements, fills, trailing stops and expiries (the
    steps of tests/test_engine_wake.py); after each, listings with windows before, at and after
    order creation times."""
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
        _check(b, [None, pick - 1, pick, (t - pd.Timedelta(days=91)).value])


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
