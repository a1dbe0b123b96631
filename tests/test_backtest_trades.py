"""Round trips from fills and orders: reasons, purposes, gaps, partial exits, open lots."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from activetrader.backtest.trades import round_trips
from activetrader.broker.sim import Fill

T0 = pd.Timestamp("2024-03-04 14:30", tz="UTC")


def _orders(rows):
    cols = ["id", "client_order_id", "type", "limit_price", "stop_price", "parent_id", "role"]
    return pd.DataFrame(rows, columns=cols)


def _day(n):
    return T0 + pd.Timedelta(days=n)


def test_round_trips_name_every_exit_reason_purpose_and_gap():
    orders = _orders([
        ("e1", "at-202403041400-e-AAA", "market", None, None, None, "entry"),
        ("e1tp", "e1tp", "limit", 115.0, None, "e1", "take_profit"),
        ("e1sl", "e1sl", "stop", None, 95.0, "e1", "stop_loss"),
        ("h1", "at-202403041400-h-SH", "market", None, None, None, "entry"),
        ("h1tp", "h1tp", "limit", 23.0, None, "h1", "take_profit"),
        ("t1", "at-202403061400-t-SH", "market", None, None, None, None),
        ("x1", "at-202403071400-x-BBB", "market", None, None, None, None),
        ("b1", "at-202403041400-b-BBB", "market", None, None, None, None),
        ("p1", "at-202403051400-p-CCC", "limit", 60.0, None, None, "take_profit"),
        ("p1sl", "p1sl", "stop", None, 50.0, "p1", "stop_loss"),
    ])
    fills = [
        Fill(_day(0), "e1", "AAA", "buy", 10, 100.0, 0.0),
        Fill(_day(0), "h1", "SH", "buy", 100, 20.0, 0.0),
        Fill(_day(0), "b1", "BBB", "buy", 4, 50.0, 0.0),
        Fill(_day(2), "t1", "SH", "sell", 30, 21.0, 30.0),          # a trim: part of the hedge lot
        Fill(_day(2), "e1tp", "AAA", "sell", 10, 117.0, 170.0),    # opened above the 115 limit: a gap (in our favour)
        Fill(_day(3), "x1", "BBB", "sell", 4, 45.0, -20.0),        # exit at market
        Fill(_day(4), "p1sl", "CCC", "sell", 5, 49.0, -5.0),       # sold shares no lot explains (held before)
    ]
    t = round_trips(fills, orders, marks={"SH": 22.0}).set_index(["symbol", "exit_reason"])
    assert sorted(t.index) == [("AAA", "take_profit"), ("BBB", "exit"), ("CCC", "stop_loss"), ("SH", "open"),
                               ("SH", "trim")]
    tp = t.loc[("AAA", "take_profit")]
    assert bool(tp.gap) and tp.exit_level == 115 and tp.pnl == pytest.approx(170) and tp.purpose == "entry"
    trim, held = t.loc[("SH", "trim")], t.loc[("SH", "open")]
    assert (trim.qty, trim.pnl, trim.purpose, bool(trim.gap)) == (30, pytest.approx(30), "hedge", False)
    assert (held.qty, held.purpose) == (70, "hedge") and held.pnl == pytest.approx(70 * 2.0)
    assert pd.isna(held.exit_time) and math.isnan(held.exit_price) and held.return_pct == pytest.approx(0.1)
    x = t.loc[("BBB", "exit")]
    assert (x.purpose, x.pnl, bool(x.gap)) == ("entry", pytest.approx(-20), False) and math.isnan(x.exit_level)
    legacy = t.loc[("CCC", "stop_loss")]
    assert legacy.purpose == "legacy" and pd.isna(legacy.entry_time) and bool(legacy.gap)  # 49 < the 50 stop
    assert str(t["entry_time"].dt.tz) == "America/New_York"


def test_round_trips_close_lots_first_in_first_out():
    orders = _orders([("a", "at-202403041400-e-AAA", "market", None, None, None, "entry"),
                      ("b", "at-202403051400-b-AAA", "market", None, None, None, None),
                      ("s", "at-202403061400-x-AAA", "market", None, None, None, None)])
    fills = [Fill(_day(0), "a", "AAA", "buy", 10, 100.0, 0.0), Fill(_day(1), "b", "AAA", "buy", 10, 110.0, 0.0),
             Fill(_day(2), "s", "AAA", "sell", 15, 120.0, 0.0)]
    t = round_trips(fills, orders, marks={"AAA": 130.0})
    assert list(zip(t["qty"], t["entry_price"], t["exit_reason"])) == [(10, 100, "exit"), (5, 110, "exit"),
                                                                       (5, 110, "open")]
    assert list(t["pnl"]) == pytest.approx([200, 50, 100])


def test_round_trips_of_no_fills_is_an_empty_frame_with_the_columns():
    t = round_trips([], _orders([]), marks={})
    assert t.empty and list(t.columns[:11]) == ["symbol", "qty", "entry_time", "entry_price", "exit_time",
                                                "exit_price", "exit_reason", "gap", "pnl", "return_pct", "purpose"]
