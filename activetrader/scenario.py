"""The embedded default: where ``Trader()`` starts, so a newcomer sees the whole story.

A $100,000 paper account on the simulated market (seed 10), on the morning of Tuesday
2024-08-27 before the open. On 2024-08-05 it bought ten positions *without* brackets (the
original guide's "before" state): seven are a little down, PG is close to its -5% stop, and
ADBE has grown past the 15% cap. Sentiment is mixed (AAPL and GOOGL overbought: 2 of 5, below
the 60% bearish ratio) and WMT on the watchlist is oversold (RSI about 23). The first
iteration therefore protects ten unprotected positions, trims ADBE, runs the sentiment check
and enters WMT with a bracket. ``clean=True`` starts flat at the same moment.
"""

from __future__ import annotations

import pandas as pd
from alpaca.trading.requests import MarketOrderRequest

SEED = 10
#: The moment ``Trader()`` starts at (New York time, before the open: orders fill at 09:30).
MOMENT = pd.Timestamp("2024-08-27 09:00", tz="America/New_York")
#: When the legacy positions were bought (at that day's open, without brackets).
BOUGHT = pd.Timestamp("2024-08-05 09:00", tz="America/New_York")
CASH = 100_000.0
#: Dollars put into each legacy position on 2024-08-05 (sized at the last close).
LEGACY = {"ADBE": 14_600, "CAT": 7_000, "CVX": 6_500, "INTC": 6_000, "JNJ": 7_500, "NFLX": 6_500,
          "NKE": 6_000, "PEP": 7_000, "PG": 6_500, "AAPL": 5_000}
MARKET_SPAN = ("2023-01-03", "2025-12-31")


def default_market():
    from .market import SimulatedMarket

    return SimulatedMarket(seed=SEED, start=MARKET_SPAN[0], end=MARKET_SPAN[1])


def embedded_default(market=None, *, clean: bool = False):
    """A SimBroker at :data:`MOMENT` holding the legacy portfolio (or flat with ``clean``).

    With a ``market`` of your own the broker starts flat after that market's last bar.
    """
    from .broker import SimBroker

    if market is not None:
        return SimBroker(market, cash=CASH, start=market.end)
    market = default_market()
    if clean:
        return SimBroker(market, cash=CASH, start=MOMENT)
    broker = SimBroker(market, cash=CASH, start=BOUGHT)
    for symbol, dollars in LEGACY.items():
        qty = int(dollars // broker.last_price(symbol))
        broker.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side="buy", time_in_force="day"))
    broker.advance_to(MOMENT)
    return broker
