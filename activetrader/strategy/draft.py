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

from collections.abc import Iterable

from .caps import cash_after, snapshot_positions, spendable_cash
from .intents import EnterBracket, Plan, PlanWarning, Skipped
from .levels import bracket_levels
from .snapshot import PositionView, Snapshot
from .wake import rsi_window


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
        self._positions: list[PositionView] | None = None

    # -- reading ---------------------------------------------------------------------------
    @property
    def positions(self) -> list[PositionView]:
        """Long positions sorted by symbol: every step walks them in this order (a fresh list;
        sorted once per decision, the snapshot being frozen)."""
        if self._positions is None:
            self._positions = snapshot_positions(self.snapshot)
        return list(self._positions)

    def intent_for(self, kind: type, symbol: str):
        """The first planned intent of type ``kind`` for ``symbol``, or None."""
        return next((i for i in self.intents if isinstance(i, kind) and i.symbol == symbol), None)

    def rsi(self, symbols: Iterable[str], period: int) -> dict[str, float | None]:
        """Last RSI(``period``) per symbol, by the rule of :meth:`Snapshot.rsi
        <activetrader.strategy.snapshot.Snapshot.rsi>`: Wilder RSI over exactly the last
        ``N = max(entry.lookback_bars, 3 × period)`` complete closes (100 by default), None when
        there are not enough bars or a missing close among them. A fixed window makes live,
        simulated and backtest runs see the same numbers however much history was fetched;
        the plan reports them (``Plan.sentiment``, ``Plan.watchlist_rsi``)."""
        return self.snapshot.rsi(symbols, period, rsi_window(self.settings, period))

    # -- writing ---------------------------------------------------------------------------
    def add(self, intent) -> None:
        self.intents.append(intent)

    def enter(self, symbol: str, qty: int, price: float, *, purpose: str, reason: str,
              rsi: float | None = None, confidence: float | None = None) -> None:
        """Plan a bracket buy of ``qty`` at ``price``, its legs at the ``bracket`` settings' levels."""
        b = self.settings.bracket
        tp, sl = bracket_levels(price, take_profit_pct=b.take_profit_pct, stop_loss_pct=b.stop_loss_pct)
        self.add(EnterBracket(symbol=symbol, qty=qty, reference_price=price, take_profit=tp, stop_loss=sl,
                              purpose=purpose, rsi=rsi, confidence=confidence, reason=reason))

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
