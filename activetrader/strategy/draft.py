"""The working state of one decision: what the steps of a strategy read and add to.

A :class:`Draft` is created per :meth:`~activetrader.strategy.base.Strategy.decide` call
and thrown away afterwards; it tracks the intents so far, cash still spendable, the
protection levels in force per symbol, and the decision data for the report. ``plan()``
freezes it into a :class:`~activetrader.strategy.intents.Plan`.

>>> from activetrader.settings import Settings
>>> from activetrader.strategy.snapshot import Snapshot
>>> d = Draft(Snapshot.from_simple(cash=1_000), Settings())
>>> d.skip("entry", "XYZ", "no price")
>>> d.plan().skipped[0].describe()
'SKIP entry XYZ: no price'
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .caps import cash_after, spendable_cash
from .indicators import rsi_by_symbol
from .intents import Plan, PlanWarning, Skipped
from .snapshot import PositionView, Snapshot


class Draft:
    """Mutable scratch pad for the steps; see the module docstring."""

    def __init__(self, snapshot: Snapshot, settings) -> None:
        self.snapshot, self.settings = snapshot, settings
        self.equity = snapshot.portfolio_value
        self.spendable = spendable_cash(snapshot, settings)
        self.intents: list = []
        self.warnings: list[PlanWarning] = []
        self.skipped: list[Skipped] = []
        self.levels: dict[str, tuple[float, float]] = {}  # symbol -> (take_profit, stop) in force
        self.sentiment: dict[str, float | None] = {}
        self.watchlist_rsi: dict[str, float | None] = {}
        self.bearish_ratio, self.bearish = 0.0, False

    # -- reading ---------------------------------------------------------------------------
    @property
    def positions(self) -> list[PositionView]:
        """Long positions sorted by symbol: every step walks them in this order."""
        return sorted((p for p in self.snapshot.positions if p.qty > 0), key=lambda p: p.symbol)

    def intent_for(self, kind: type, symbol: str):
        """The first planned intent of type ``kind`` for ``symbol``, or None."""
        return next((i for i in self.intents if isinstance(i, kind) and i.symbol == symbol), None)

    def rsi(self, symbols: Iterable[str], period: int) -> dict[str, float | None]:
        """Last RSI(``period``) per symbol over the last ``entry.lookback_bars`` bars (None
        when there are not enough bars, or a missing close among them). Using a fixed tail makes live, simulated and
        backtest runs see the same numbers however much history was fetched."""
        symbols = list(dict.fromkeys(symbols))
        bars = self.snapshot.bars
        out: dict[str, float | None] = dict.fromkeys(symbols)
        if bars.empty or not symbols:
            return out
        sub = bars[bars.index.get_level_values(0).isin(symbols)]
        if sub.empty:
            return out
        tail = max(self.settings.entry.lookback_bars, 3 * period)
        sub = sub.sort_index().groupby(level=0, group_keys=False, sort=False).tail(tail)
        gaps = sub.index.get_level_values(0)[~np.isfinite(sub["close"].to_numpy(float))]
        sub = sub[~sub.index.get_level_values(0).isin(gaps)]  # a gap: no RSI (None)
        last: pd.Series = rsi_by_symbol(sub, period=period)
        for sym in symbols:
            value = last.get(sym)
            out[sym] = None if value is None or math.isnan(value) else float(value)
        return out

    # -- writing ---------------------------------------------------------------------------
    def add(self, intent) -> None:
        self.intents.append(intent)

    def remove(self, intent) -> None:
        self.intents.remove(intent)

    def warn(self, symbol: str | None, message: str) -> None:
        self.warnings.append(PlanWarning(symbol=symbol, message=message))

    def skip(self, step: str, symbol: str | None, reason: str) -> None:
        self.skipped.append(Skipped(step=step, symbol=symbol, reason=reason))

    def plan(self) -> Plan:
        """Freeze into a :class:`Plan` (``cash_after`` estimated from the intents)."""
        return Plan(intents=tuple(self.intents), sentiment=dict(self.sentiment),
                    bearish_ratio=self.bearish_ratio, bearish=self.bearish,
                    warnings=tuple(self.warnings), skipped=tuple(self.skipped),
                    watchlist_rsi=dict(self.watchlist_rsi),
                    cash_after=cash_after(self.intents, self.snapshot.account.cash))


__all__ = ["Draft"]
