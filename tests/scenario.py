"""Tiny hand-written markets for scenario tests: each test states its bars in its own words."""

from __future__ import annotations

import pandas as pd
from alpaca.trading.requests import (
    LimitOrderRequest, MarketOrderRequest, StopLossRequest, StopOrderRequest, TakeProfitRequest,
)

from activetrader.broker import SimBroker
from activetrader.market import HistoricalMarket


def daily_market(bars: dict[str, list[tuple]]) -> HistoricalMarket:
    """``{"AAA": [("2024-03-04", open, high, low, close), ...]}`` -> a daily HistoricalMarket."""
    frames = {}
    for sym, rows in bars.items():
        df = pd.DataFrame(rows, columns=["date", "open", "high", "low", "close"])
        df["volume"] = 1_000_000
        frames[sym] = df.set_index(pd.DatetimeIndex(df.pop("date")))
    return HistoricalMarket(frames, timeframe="1Day")


def hourly_market(bars: dict[str, list[tuple]]) -> HistoricalMarket:
    """``{"AAA": [("2024-03-04 08:00", o, h, l, c), ...]}`` with times in New York time, 1-hour bars."""
    frames = {}
    for sym, rows in bars.items():
        df = pd.DataFrame(rows, columns=["ts", "open", "high", "low", "close"])
        df["volume"] = 10_000
        idx = pd.DatetimeIndex(df.pop("ts")).tz_localize("America/New_York").tz_convert("UTC")
        frames[sym] = df.set_index(idx)
    return HistoricalMarket(frames, timeframe="1Hour")


def broker(bars: dict[str, list[tuple]], *, start: str, cash: float = 100_000, **kw) -> SimBroker:
    """A SimBroker on a daily market of ``bars``, starting at ``start`` (New York time)."""
    return SimBroker(daily_market(bars), cash=cash, start=et(start), **kw)


def et(when: str) -> pd.Timestamp:
    return pd.Timestamp(when).tz_localize("America/New_York").tz_convert("UTC")


def buy(symbol="AAA", qty=10, **kw):
    return MarketOrderRequest(symbol=symbol, qty=qty, side="buy", time_in_force=kw.pop("tif", "gtc"), **kw)


def sell(symbol="AAA", qty=10, **kw):
    return MarketOrderRequest(symbol=symbol, qty=qty, side="sell", time_in_force=kw.pop("tif", "gtc"), **kw)


def bracket(symbol="AAA", qty=10, tp=115.0, sl=95.0, *, limit=None, tif="gtc", **kw):
    legs = dict(order_class="bracket", take_profit=TakeProfitRequest(limit_price=tp),
                stop_loss=StopLossRequest(stop_price=sl))
    if limit is not None:
        return LimitOrderRequest(symbol=symbol, qty=qty, side="buy", time_in_force=tif, limit_price=limit, **legs, **kw)
    return MarketOrderRequest(symbol=symbol, qty=qty, side="buy", time_in_force=tif, **legs, **kw)


def oco(symbol="AAA", qty=10, tp=115.0, sl=95.0, tif="gtc"):
    return LimitOrderRequest(symbol=symbol, qty=qty, side="sell", time_in_force=tif, order_class="oco",
                             take_profit=TakeProfitRequest(limit_price=tp), stop_loss=StopLossRequest(stop_price=sl))


def stop_sell(symbol="AAA", qty=10, stop=95.0, tif="gtc"):
    return StopOrderRequest(symbol=symbol, qty=qty, side="sell", time_in_force=tif, stop_price=stop)


def status(b: SimBroker, order_id) -> str:
    return b.get_order_by_id(order_id).status.value
