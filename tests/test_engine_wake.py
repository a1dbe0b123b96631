"""The engine's quiet-bar skipping changes nothing: property test against the bar-by-bar walk.

``SimBroker.advance_to`` finds, with array comparisons, the first bar in which some working
order of a symbol can act and skips the bars before it (issue 7). ``skip_quiet_bars=False``
walks every bar for every resting order, the straightforward reference. On random markets
(daily, and hourly with extended-hours bars) and random order sequences (market, limit, stop,
bracket, OCO, trailing, extended-hours limits, DAY and GTC, cancels, replacements) both
brokers must produce exactly the same fills (time, price, qty) and the same order histories.
"""

import numpy as np
import pandas as pd
from alpaca.common.exceptions import APIError
from alpaca.trading.requests import (
    GetOrdersRequest, LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest, StopLossRequest, StopOrderRequest,
    TakeProfitRequest, TrailingStopOrderRequest,
)
from hypothesis import given, strategies as st

from activetrader.broker import SimBroker
from activetrader.market import HistoricalMarket

SYMS = ("AAA", "BBB")


def _market(seed: int, hourly: bool) -> HistoricalMarket:
    rng = np.random.default_rng(seed)
    if hourly:  # 04:00-20:00 New York: pre-market, regular and after-hours bars
        days = pd.bdate_range("2024-03-04", periods=6)
        times = pd.DatetimeIndex([d + pd.Timedelta(hours=h) for d in days for h in range(4, 20)]).tz_localize(
            "America/New_York").tz_convert("UTC")
    else:
        times = pd.bdate_range("2024-03-04", periods=40)
        times = times[times != pd.Timestamp("2024-03-29")]  # Good Friday
    frames = {}
    for s in SYMS:
        n = len(times)
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        opn = close * np.exp(rng.normal(0, 0.015, n))
        hi = np.maximum(opn, close) * (1 + rng.uniform(0, 0.02, n))
        lo = np.minimum(opn, close) * (1 - rng.uniform(0, 0.02, n))
        frames[s] = pd.DataFrame({"timestamp": times, "open": opn.round(2), "high": hi.round(2), "low": lo.round(2),
                                  "close": close.round(2), "volume": 1000})
    return HistoricalMarket(frames, timeframe="1Hour" if hourly else "1Day")


step = st.tuples(
    st.sampled_from(["market", "limit", "stop", "bracket", "oco", "oco", "trail", "sell", "sell_limit",
                     "sell_limit", "ext", "cancel", "replace", "advance", "advance", "advance"]),
    st.sampled_from(SYMS), st.integers(1, 30), st.floats(0.9, 1.1), st.sampled_from(["day", "gtc"]),
)


def _request(kind, sym, qty, f, tif, px):
    r = lambda x: round(x, 2)  # noqa: E731
    if kind == "market":
        return MarketOrderRequest(symbol=sym, qty=qty, side="buy", time_in_force=tif)
    if kind == "limit":
        return LimitOrderRequest(symbol=sym, qty=qty, side="buy", time_in_force=tif, limit_price=r(px * f))
    if kind == "ext":
        return LimitOrderRequest(symbol=sym, qty=qty, side="buy", time_in_force="day", limit_price=r(px * f),
                                 extended_hours=True)
    if kind == "stop":
        return StopOrderRequest(symbol=sym, qty=qty, side="sell", time_in_force=tif, stop_price=r(px * min(f, 0.99)))
    if kind == "bracket":
        return MarketOrderRequest(symbol=sym, qty=qty, side="buy", time_in_force=tif, order_class="bracket",
                                  take_profit=TakeProfitRequest(limit_price=r(px * (1 + abs(f - 1) + 0.01))),
                                  stop_loss=StopLossRequest(stop_price=r(px * (1 - abs(f - 1) - 0.01))))
    if kind == "oco":
        return LimitOrderRequest(symbol=sym, qty=qty, side="sell", time_in_force=tif, order_class="oco",
                                 take_profit=TakeProfitRequest(limit_price=r(px * (1 + abs(f - 1) / 2 + 0.005))),
                                 stop_loss=StopLossRequest(stop_price=r(px * (1 - abs(f - 1) / 2 - 0.005))))
    if kind == "trail":
        return TrailingStopOrderRequest(symbol=sym, qty=qty, side="sell", time_in_force=tif, trail_percent=3)
    if kind == "sell":
        return MarketOrderRequest(symbol=sym, qty=qty, side="sell", time_in_force=tif)
    if kind == "sell_limit":
        return LimitOrderRequest(symbol=sym, qty=qty, side="sell", time_in_force=tif,
                                 limit_price=r(px * (1 + abs(f - 1) / 2 + 0.002)))
    return None


def _act(b: SimBroker, kind, sym, qty, f, tif, t):
    """One step on one broker; returns the new clock and what happened (an error's text or None)."""
    px = b.last_price(sym)
    try:
        if kind == "advance":
            t = t + (pd.Timedelta(hours=qty % 7 + 1) if b.market.timeframe == "1Hour" else pd.Timedelta(days=qty % 5 + 1))
            b.advance_to(t)
        elif kind in ("cancel", "replace"):
            open_ = b.get_orders(GetOrdersRequest(status="open"))
            if open_:
                od = open_[qty % len(open_)]
                if kind == "cancel":
                    b.cancel_order_by_id(od.id)
                elif od.stop_price is not None and od.type.value == "stop":
                    b.replace_order_by_id(od.id, ReplaceOrderRequest(stop_price=round(float(od.stop_price) * f, 2)))
                elif od.limit_price is not None:
                    b.replace_order_by_id(od.id, ReplaceOrderRequest(limit_price=round(float(od.limit_price) * f, 2)))
        else:
            b.submit_order(_request(kind, sym, qty, f, tif, px))
        return t, None
    except APIError as e:
        return t, str(e)


def _state(b: SimBroker):
    orders = [(od.id, od.status, od.filled_avg_price, od.filled_ns, od.events, od.stop_price, od.hwm)
              for od in b._orders.values()]
    return [(f.timestamp, f.order_id, f.qty, f.price) for f in b.fills], orders, b.get_account().cash


@given(seed=st.integers(0, 10_000), hourly=st.booleans(), steps=st.lists(step, min_size=1, max_size=30),
       same_bar=st.sampled_from(["worst", "best", "path"]))
def test_engine_skipping_quiet_bars_fills_exactly_like_the_bar_by_bar_walk(seed, hourly, steps, same_bar):
    m = _market(seed, hourly)
    brokers = []
    for skip in (True, False):
        b = SimBroker(m, cash=50_000, start=m.start - pd.Timedelta(hours=1), same_bar=same_bar)
        b.skip_quiet_bars = skip
        for sym in SYMS:  # holdings, so that exits can rest from the start
            b.submit_order(MarketOrderRequest(symbol=sym, qty=300, side="buy", time_in_force="day"))
        b.advance_to(m.start + pd.Timedelta(hours=3))
        brokers.append(b)
    fast, reference = brokers
    t_fast = t_ref = fast.now
    for kind, sym, qty, f, tif in steps:
        t_fast, e_fast = _act(fast, kind, sym, qty, f, tif, t_fast)
        t_ref, e_ref = _act(reference, kind, sym, qty, f, tif, t_ref)
        assert e_fast == e_ref
        assert _state(fast) == _state(reference)
    fast.advance_to(m.end)
    reference.advance_to(m.end)
    assert _state(fast) == _state(reference)


def test_engine_skipping_quiet_bars_still_fills_a_resting_stop_years_later():
    """A sell stop far below the price rests through quiet bars and fills on the one bar whose
    low reaches it, at the stop (no gap), exactly as the bar-by-bar walk does."""
    times = pd.bdate_range("2024-01-02", periods=60)
    times = times[~times.isin(pd.to_datetime(["2024-01-15", "2024-02-19"]))]  # MLK day, Presidents' day
    low = np.full(len(times), 99.0)
    low[45] = 79.0  # the one bar that reaches the 80 stop
    frame = pd.DataFrame({"timestamp": times, "open": 100.0, "high": 101.0, "low": low, "close": 100.0,
                          "volume": 1})
    m = HistoricalMarket({"AAA": frame})
    fills = []
    for skip in (True, False):
        b = SimBroker(m, cash=10_000, start=m.start - pd.Timedelta(hours=1))
        b.skip_quiet_bars = skip
        b.submit_order(MarketOrderRequest(symbol="AAA", qty=10, side="buy", time_in_force="day"))
        b.advance_to(m.calendar.session_close(times[0]))
        b.submit_order(StopOrderRequest(symbol="AAA", qty=10, side="sell", time_in_force="gtc", stop_price=80.0))
        b.advance_to(m.end)
        fills.append([(f.timestamp, f.side, f.price) for f in b.fills])
    assert fills[0] == fills[1]
    assert fills[0][1][1:] == ("sell", 80.0) and fills[0][1][0].date() == times[45].date()
