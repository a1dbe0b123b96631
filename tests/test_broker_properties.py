"""Property test: random order sequences on a random market keep the books consistent.

Invariants after every step: cash + market value = equity; shares are conserved (position =
bought - sold, per symbol); at most one exit of any OCO/bracket group fills; no leg fills
before its entry; the cash ledger equals the starting cash minus buys plus sells.
"""

import numpy as np
import pandas as pd
from alpaca.common.exceptions import APIError
from alpaca.trading.requests import (
    GetOrdersRequest, LimitOrderRequest, MarketOrderRequest, StopLossRequest, StopOrderRequest, TakeProfitRequest,
    TrailingStopOrderRequest,
)
from hypothesis import given, strategies as st

from activetrader.broker import SimBroker
from scenario import daily_market

SYMS = ("AAA", "BBB")


def _market(seed: int):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2024-03-04", periods=30)
    dates = [d for d in dates if d.strftime("%Y-%m-%d") not in ("2024-03-29",)]  # Good Friday
    bars = {}
    for s in SYMS:
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, len(dates))))
        opn = close * np.exp(rng.normal(0, 0.02, len(dates)))
        hi = np.maximum(opn, close) * (1 + rng.uniform(0, 0.03, len(dates)))
        lo = np.minimum(opn, close) * (1 - rng.uniform(0, 0.03, len(dates)))
        bars[s] = [(d.strftime("%Y-%m-%d"), *np.round(v, 2)) for d, *v in zip(dates, opn, hi, lo, close)]
    return daily_market(bars)


step = st.tuples(
    st.sampled_from(["market", "limit", "stop", "bracket", "oco", "trail", "sell", "cancel", "advance"]),
    st.sampled_from(SYMS), st.integers(1, 30), st.floats(0.85, 1.15),
)


@given(seed=st.integers(0, 10_000), steps=st.lists(step, min_size=1, max_size=25),
       same_bar=st.sampled_from(["worst", "best", "path"]))
def test_random_order_sequences_keep_the_books_consistent(seed, steps, same_bar):
    m = _market(seed)
    b = SimBroker(m, cash=50_000, start=m.start - pd.Timedelta(hours=1), same_bar=same_bar)
    b.advance_to(m.start + pd.Timedelta(hours=8))
    t = b.now
    for kind, sym, qty, f in steps:
        px = b.last_price(sym)
        r = lambda x: round(x, 2)  # noqa: E731
        req = None
        if kind == "market":
            req = MarketOrderRequest(symbol=sym, qty=qty, side="buy", time_in_force="gtc")
        elif kind == "limit":
            req = LimitOrderRequest(symbol=sym, qty=qty, side="buy", time_in_force="gtc", limit_price=r(px * f))
        elif kind == "stop":
            req = StopOrderRequest(symbol=sym, qty=qty, side="sell", time_in_force="gtc", stop_price=r(px * min(f, 0.99)))
        elif kind == "bracket":
            req = MarketOrderRequest(symbol=sym, qty=qty, side="buy", time_in_force="gtc", order_class="bracket",
                                     take_profit=TakeProfitRequest(limit_price=r(px * (1 + abs(f - 1) + 0.01))),
                                     stop_loss=StopLossRequest(stop_price=r(px * (1 - abs(f - 1) - 0.01))))
        elif kind == "oco":
            req = LimitOrderRequest(symbol=sym, qty=qty, side="sell", time_in_force="gtc", order_class="oco",
                                    take_profit=TakeProfitRequest(limit_price=r(px * 1.05)),
                                    stop_loss=StopLossRequest(stop_price=r(px * 0.95)))
        elif kind == "trail":
            req = TrailingStopOrderRequest(symbol=sym, qty=qty, side="sell", time_in_force="gtc", trail_percent=5)
        elif kind == "sell":
            req = MarketOrderRequest(symbol=sym, qty=qty, side="sell", time_in_force="gtc")
        elif kind == "cancel":
            open_ = b.get_orders(GetOrdersRequest(status="open"))
            if open_:
                b.cancel_order_by_id(open_[qty % len(open_)].id)
        else:
            t = t + pd.Timedelta(days=qty % 5 + 1)
            b.advance_to(t)
        if req is not None:
            try:
                b.submit_order(req)
            except APIError as e:
                assert e.status_code in (403, 422)
        _check_invariants(b)
    b.advance_to(m.end)
    _check_invariants(b)


def _check_invariants(b: SimBroker):
    a = b.get_account()
    positions = {p.symbol: p for p in b.get_all_positions()}
    mv = sum(float(p.qty) * b.last_price(s) for s, p in positions.items())
    assert abs(float(a.equity) - (float(a.cash) + mv)) < 0.02
    bought = {s: 0.0 for s in SYMS}
    cash = 50_000.0
    for fill in b.fills:
        bought[fill.symbol] += fill.qty if fill.side == "buy" else -fill.qty
        cash += -fill.qty * fill.price if fill.side == "buy" else fill.qty * fill.price
    for s in SYMS:
        held = float(positions[s].qty) if s in positions else 0.0
        assert abs(held - bought[s]) < 1e-6
        assert held >= -1e-9  # never short
        if s in positions:
            assert float(positions[s].qty_available) >= -1e-9
    assert abs(cash - float(a.cash)) < 0.01
    orders = b.get_orders(GetOrdersRequest(status="all", nested=True, limit=500))
    for top in orders:
        legs = top.legs or []
        exits = [top] * (top.order_class.value == "oco") + legs
        assert sum(o.status.value == "filled" for o in exits) <= 1, "at most one exit of a group fills"
        if top.order_class.value in ("bracket", "oto"):
            for leg in legs:
                if leg.status.value == "filled":
                    assert top.status.value == "filled" and leg.filled_at >= top.filled_at
