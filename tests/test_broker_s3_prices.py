"""The SimBroker's price look-ups and account values (issue 7, session 3): bar times kept as
int64 views of the market's arrays, each symbol's look-up resumed where the last one left off
(the clock never goes back), the market value kept per clock and dropped by a fill. Each
shortcut against the plain computation."""

import random
from bisect import bisect_right

import numpy as np
import pandas as pd

from activetrader.broker import SimBroker
from activetrader.market import SimulatedMarket
from scenario import broker, buy, et

FRI = ("2024-03-01", 100, 101, 99, 100)


def test_last_price_after_any_clock_moves_is_the_close_of_the_last_complete_bar():
    """Hourly simulated bars for three symbols; the clock moves forward by random steps (none,
    less than a bar, one bar, many days), and the prices are read in a random order at each
    stop: every one is the close of the last bar ended by the clock (the first open before
    any), as a fresh search of the bars finds it."""
    m = SimulatedMarket(seed=3, start="2024-03-01", end="2024-04-15", timeframe="1Hour")
    rng = random.Random(5)
    b = SimBroker(m, cash=1_000, start=m.start - pd.Timedelta(hours=2))
    symbols = list(m.symbols)[:3]
    t, end = b.now, m.end + pd.Timedelta(days=1)
    checked = 0
    while t < end:
        for s in rng.sample(symbols, len(symbols)):
            arr = m.arrays(s)
            i = bisect_right(arr.end.tolist(), t.value)
            want = float(arr.close[i - 1]) if i else float(arr.open[0])
            assert b.last_price(s) == want, (s, t)
            checked += 1
        t += rng.choice([pd.Timedelta(0), pd.Timedelta(minutes=17), pd.Timedelta(hours=1), pd.Timedelta(hours=5),
                         pd.Timedelta(days=3)])
        b.advance_to(t)
    assert checked > 150  # the walk covered the period


def test_bar_times_are_int64_views_of_the_market_arrays_not_copies():
    m = SimulatedMarket(seed=7)
    b = SimBroker(m)
    arr, ends, starts = b._ends("AAPL")
    assert ends.obj is not None and np.shares_memory(np.asarray(ends), arr.end)
    assert list(ends) == arr.end.tolist() and list(starts) == arr.start.tolist()
    assert ends.readonly and ends.format == "q"


def test_equity_read_between_steps_follows_a_fill_and_each_new_close():
    """$10,000 cash. Mon 03-04 opens 100 (a market buy of 10 placed on Friday evening fills
    there) and closes 104; Tue closes 98. Equity read Friday evening: 10,000 (nothing held);
    after Monday's close: 9,000 cash + 10 x 104 = 10,040; after Tuesday's: 9,000 + 980 = 9,980.
    Each read is also what get_account and native_account say at that moment."""
    b = broker({"AAA": [FRI, ("2024-03-04", 100, 105, 99, 104), ("2024-03-05", 103, 104, 97, 98)]},
               start="2024-03-01 17:00", cash=10_000)
    assert b.equity() == 10_000.0
    b.submit_order(buy("AAA", 10))
    assert b.equity() == 10_000.0  # an open order holds buying power, not equity
    reads = []
    for when in ("2024-03-04 16:00", "2024-03-05 16:00"):
        b.advance_to(et(when))
        reads.append(b.equity())
        assert float(b.get_account().equity) == b.native_account().equity == reads[-1]
    assert reads == [10_040.0, 9_980.0]


def test_equity_kept_for_a_clock_is_dropped_by_a_fill_processed_at_the_next_step():
    """The market value is kept per clock. Friday 17:00: 10 AAA held (bought Thursday), equity
    100 x 10 + cash. A stop at 99 sells them in Monday's bar (low 95, opening at 98: the stop
    fills at the open, 98); a clock move to Monday 10:00 (the daily bar is not complete) leaves
    the market value unchanged (same last close); the move to Monday's close processes the fill:
    no shares, cash + 980."""
    from scenario import stop_sell

    thu = ("2024-02-29", 100, 101, 99, 100)
    b = broker({"AAA": [thu, FRI, ("2024-03-04", 98, 99, 95, 96)]}, start="2024-02-28 17:00", cash=10_000)
    b.submit_order(buy("AAA", 10))
    b.advance_to(et("2024-03-01 17:00"))  # bought at Thursday's open, 100
    assert b.equity() == 10_000.0
    b.submit_order(stop_sell("AAA", 10, stop=99.0))
    b.advance_to(et("2024-03-04 10:00"))
    assert b.equity() == 10_000.0 and b._positions
    b.advance_to(et("2024-03-04 16:00"))
    assert not b._positions and b.equity() == 9_000.0 + 980.0


# ---------------------------------------------------------------------------- orders_frame
def _orders_frame_by_rows(b: SimBroker) -> pd.DataFrame:
    """SimBroker.orders_frame as it was built before (row tuples, then columns): the reference."""
    cols = ["id", "client_order_id", "symbol", "side", "type", "order_class", "qty", "status", "submitted_at",
            "filled_at", "filled_avg_price", "limit_price", "stop_price", "parent_id", "role"]
    nat = np.iinfo(np.int64).min
    rows = [(o.id, o.client_order_id, o.symbol, o.side, o.type, o.order_class, o.qty, o.status, o.created_ns,
             nat if o.filled_ns is None else o.filled_ns, o.filled_avg_price, o.limit_price, o.stop_price,
             o.parent_id, o.role)
            for o in sorted(b._orders.values(), key=lambda o: (o.created_ns, o.seq))]
    columns = list(zip(*rows)) if rows else [()] * len(cols)
    data = {}
    for name, values in zip(cols, columns):
        if name in ("submitted_at", "filled_at"):
            data[name] = pd.DatetimeIndex(np.array(values, dtype=np.int64).view("datetime64[ns]")).tz_localize("UTC")
        elif name in ("qty", "filled_avg_price", "limit_price", "stop_price"):
            data[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        else:
            data[name] = list(values)
    return pd.DataFrame(data, columns=cols)


def _same_frame(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert list(got.dtypes) == list(want.dtypes) and list(got.columns) == list(want.columns)


def test_orders_frame_is_the_row_built_frame_with_brackets_replacements_and_cancels():
    """Brackets (filled, legs filled/cancelled/replaced), an OCO whose top is replaced, a
    cancelled buy limit, a notional buy, an expired DAY limit: the frame built column by column
    equals, value for value and dtype for dtype, the one built row by row. Also for no orders."""
    from alpaca.trading.requests import GetOrderByIdRequest, LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest

    from scenario import bracket, oco

    days = [("2024-03-04", 100, 101, 99, 100), ("2024-03-05", 100, 116, 99, 114), ("2024-03-06", 100, 101, 99, 100),
            ("2024-03-07", 100, 101, 94, 95)]
    b = broker({"AAA": [FRI, *days], "BBB": [FRI, *days]}, start="2024-03-01 17:00")
    _same_frame(b.orders_frame(), _orders_frame_by_rows(b))  # no orders yet
    top = b.submit_order(bracket("AAA", 10, tp=115.0, sl=95.0))
    b.submit_order(buy("BBB", 20))
    cancelled = b.submit_order(LimitOrderRequest(symbol="BBB", qty=1, side="buy", time_in_force="gtc", limit_price=50.0))
    b.submit_order(LimitOrderRequest(symbol="BBB", qty=1, side="buy", time_in_force="day", limit_price=50.0))
    b.submit_order(MarketOrderRequest(symbol="BBB", notional=500.0, side="buy", time_in_force="day"))
    b.cancel_order_by_id(cancelled.id)
    b.advance_to(et("2024-03-04 17:00"))
    stop = next(leg for leg in b.get_order_by_id(top.id, GetOrderByIdRequest(nested=True)).legs if leg.stop_price)
    b.replace_order_by_id(stop.id, ReplaceOrderRequest(stop_price=96.0))
    protect = b.submit_order(oco("BBB", 20, tp=120.0, sl=90.0))
    b.replace_order_by_id(protect.id, ReplaceOrderRequest(limit_price=118.0))
    b.advance_to(et("2024-03-07 17:00"))
    got = b.orders_frame()
    assert set(got.status) == {"filled", "canceled", "replaced", "expired", "new", "held"}
    assert got.qty.isna().sum() == 1 and got.filled_at.isna().any() and got.parent_id.notna().any()
    _same_frame(got, _orders_frame_by_rows(b))
