"""The passive baseline: buy the names once in equal dollars, then hold (no brackets, no trims).

The guide claims its active strategy beats "buy ten stocks and do nothing". This is the "do
nothing", written as an ordinary pure :class:`~activetrader.strategy.Strategy`, so it runs
through the same Trader, caps and broker as the active one and the two backtests compare fairly.

>>> from activetrader.strategy.snapshot import Snapshot
>>> snap = Snapshot.from_simple(cash=10_000, prices={"KO": 60.0, "PG": 150.0})
>>> print(BuyAndHold(["KO", "PG"]).decide(snap).describe())   # half each, but the 15% cap rules
BUY KO 25 sh @ ~$60.00 at market, no exit orders - buy and hold: 1/2 of the portfolio
BUY PG 10 sh @ ~$150.00 at market, no exit orders - buy and hold: 1/2 of the portfolio
WARNING KO: caps: buy qty 83 -> 25 (position cap)
WARNING PG: caps: buy qty 33 -> 10 (position cap)
"""

from __future__ import annotations

from typing import Any

from .base import Strategy
from .caps import spendable_cash, whole
from .intents import EnterPosition, Plan


class BuyAndHold(Strategy):
    """Buy every name not yet held in equal dollars (``equity / len(names)`` each, whole shares,
    within cash), never sell.

    ``symbols`` are the names (default: the settings' ``entry.watchlist``). Stateless like every
    strategy: a name already held, or with an open buy order, is not bought again, so the first
    iteration buys everything that has a price and later ones only what had none yet. The risk
    caps still apply (e.g. no name above ``rebalance.max_position_pct``: with fewer names than
    ``1 / max_position_pct`` some cash stays uninvested).
    """

    def __init__(self, symbols=None, settings=None) -> None:
        super().__init__(settings)
        if isinstance(symbols, str):
            symbols = [symbols]
        self.symbols = tuple(dict.fromkeys(s.upper() for s in symbols)) if symbols else None
        if symbols is not None and not self.symbols:
            raise ValueError("BuyAndHold(symbols=...) needs at least one symbol (or None for the watchlist)")

    def propose(self, snapshot, settings, **kwargs: Any) -> Plan:
        names = self.symbols or tuple(settings.entry.watchlist)
        busy = {p.symbol for p in snapshot.positions if p.qty > 0}
        busy |= {o.symbol for o in snapshot.orders if o.side == "buy" and o.is_live}
        budget = snapshot.portfolio_value / len(names)
        cash = spendable_cash(snapshot, settings)
        intents = []
        for sym in names:
            price = snapshot.price(sym)
            if sym in busy or not price:
                continue
            qty = whole(min(budget, cash) / price)
            if qty < 1:
                continue
            intents.append(EnterPosition(symbol=sym, qty=qty, reference_price=price,
                                         reason=f"buy and hold: 1/{len(names)} of the portfolio"))
            cash -= qty * price
        return Plan(intents=tuple(intents), cash_after=snapshot.account.cash)

    def universe(self, settings) -> list[str]:
        """The base universe and these names (they need bars even outside the watchlist)."""
        return sorted({*super().universe(settings), *(self.symbols or ())})

    def __repr__(self) -> str:
        return f"BuyAndHold({list(self.symbols) if self.symbols else 'watchlist'})"


__all__ = ["BuyAndHold"]
