"""The simple rule, as a strategy: RSI(14) below 30 at the close, buy at the next open with a bracket.

This is the rule the peer benchmarks and the differential test against backtesting.py run
(``benchmarks/bench_peers.py``, ``tests/test_vs_backtesting_py.py``):

* **signal**: Wilder RSI(``entry.rsi_period``) of the last complete close strictly below
  ``entry.oversold`` (14 and 30 by default), computed by the project's RSI with its lookback
  rule (:meth:`~activetrader.strategy.draft.Draft.rsi`: the last ``entry.lookback_bars`` bars);
* **entry**: a market bracket buy, filled by the broker at the next open, with its
  take-profit at +``bracket.take_profit_pct`` and its stop at -``bracket.stop_loss_pct`` of the
  signal close (:func:`~activetrader.strategy.levels.bracket_levels`: Alpaca wants the levels
  with the order, before the fill, so they are set from the last close, the price the order
  is sized with);
* **one position per symbol**: no entry while the symbol is held or a buy for it is open;
* **size**: ``dollars`` per entry when given (e.g. ``RsiBracket(dollars=1_000)``), else
  ``entry.position_pct`` of equity; whole shares, floored (Alpaca rejects fractional brackets).
  The confidence threshold and ``entry.max_new_positions`` of the combined strategy do not
  apply; :func:`~activetrader.strategy.caps.enforce_caps` still does (15% position cap, cash);
* **legs gone** (Alpaca cancels GTC orders 90 days after creation, alpaca-contract.md §1, and
  the bracket's legs with them): the position is re-protected at the next iteration with an
  OCO at the entry-based levels (average entry × (1 ± pct)), or sold at market if the price is
  already at or below that stop.

>>> from activetrader.settings import Settings
>>> from activetrader.strategy.snapshot import Snapshot
>>> settings = Settings()
>>> settings.entry.watchlist = ["ABC"]
>>> snap = Snapshot.from_simple(cash=10_000, closes={"ABC": [50.0 - i for i in range(20)]})
>>> plan = RsiBracket(settings, dollars=1_000).decide(snap)
>>> print(plan.intents[0].describe())
ENTER ABC 32 sh @ ~$31.00 bracket take-profit $35.65 / stop $29.45, RSI 0.0 - RSI 0.0 < 30
"""

from __future__ import annotations

import math
from typing import Any

from .base import Strategy
from .caps import whole
from .draft import Draft
from .intents import ExitPosition, Plan, ProtectPosition
from .levels import MIN_DISTANCE, bracket_levels, fmt_price, round_price
from .wake import Wake, rsi_flags

_EPS = 1e-9


class RsiBracket(Strategy):
    """Buy oversold watchlist names with a bracket, one position per symbol (module docstring).

    ``dollars``: fixed budget per entry (whole shares, floored); None sizes with
    ``entry.position_pct`` of equity.

    >>> RsiBracket(dollars=0)
    Traceback (most recent call last):
    ...
    ValueError: dollars=0 is not allowed: must be a number > 0, or None (size by entry.position_pct)
    """

    def __init__(self, settings=None, *, dollars: float | None = None) -> None:
        super().__init__(settings)
        if dollars is not None and (isinstance(dollars, bool) or not isinstance(dollars, (int, float))
                                    or not math.isfinite(dollars) or dollars <= 0):
            raise ValueError(f"dollars={dollars!r} is not allowed: must be a number > 0, "
                             "or None (size by entry.position_pct)")
        self.dollars = None if dollars is None else float(dollars)

    def propose(self, snapshot, settings, **kwargs: Any) -> Plan:
        """Re-protect positions whose legs are gone, then enter oversold names."""
        d = Draft(snapshot, settings)
        protected, busy = set(), set()
        for o in snapshot.orders:
            if o.is_protective_stop:
                protected.add(o.symbol)
            elif o.side == "buy" and o.is_live:
                busy.add(o.symbol)
        held = sorted([p.symbol for p in snapshot.positions if p.qty > 0])
        for sym in held:
            if sym not in protected:
                self._reprotect(d, snapshot.position(sym))
        busy.update(held)
        e = settings.entry
        candidates = [s for s in e.watchlist if s not in busy]
        if candidates:
            self._enter(d, candidates)
        return d.plan()

    def wake(self, closes, settings, **kwargs: Any) -> Wake:
        """Wake where a watchlist name not held may be oversold, and after an order ended unfilled.

        The plan is empty unless some watchlist name's decision RSI is below
        ``entry.oversold`` (an entry; the windowed RSI the decision reads, from
        :func:`~activetrader.strategy.indicators.windowed_rsi` with a 1e-6 margin, once per time grid)
        or a position lost its exit legs (they end only by a cancel or an expiry, or with a
        refused order: :class:`~activetrader.strategy.wake.Wake` wakes for those). Where the
        decision may see fewer closes than the window, it wakes.

        >>> import numpy as np
        >>> from activetrader.settings import Settings
        >>> from activetrader.strategy.wake import DailyCloses
        >>> s = Settings(); s.entry.watchlist = ["ABC"]; s.entry.lookback_bars = 42
        >>> day = 86_400_000_000_000
        >>> close = np.r_[np.linspace(100, 120, 60), np.linspace(120, 90, 20)]   # up, then down
        >>> bars = DailyCloses(np.arange(80) * day, np.arange(80) * day + day // 2, close)
        >>> flags = RsiBracket(s).wake({"ABC": bars}, s).signals["ABC"]
        >>> [int(i) for i in np.flatnonzero(flags[41:])]       # RSI(14) of 42 closes < 30 from bar 66
        [25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38]
        >>> bool(flags[:41].all())                              # fewer than 42 closes: always awake
        True
        """
        e = settings.entry  # a name without bars has no RSI: no entry
        signals = rsi_flags(closes, e.watchlist, settings, e.rsi_period, below=e.oversold)
        return Wake(signals, on_cancel=True, flat_only=True)  # a held (or bought) name is not a candidate

    def _reprotect(self, d: Draft, p) -> None:
        """An OCO at the entry-based levels, or a market exit if the price is at the stop."""
        b = d.settings.bracket
        stop = round_price(p.avg_entry_price * (1 - b.stop_loss_pct))
        qty = whole(min(p.qty, p.qty_available))
        if qty < 1:
            d.warn(p.symbol, f"no stop, and the {p.qty:g} sh are held by other orders")
            return
        if p.current_price < stop + MIN_DISTANCE - _EPS:
            d.add(ExitPosition(symbol=p.symbol, qty=qty, price=p.current_price, stop_loss=stop,
                               reason="bracket legs gone, price already at or below the stop"))
            return
        tp, stop = bracket_levels(p.avg_entry_price, take_profit_pct=b.take_profit_pct,
                                  stop_loss_pct=b.stop_loss_pct, base=p.current_price)
        d.add(ProtectPosition(symbol=p.symbol, qty=qty, take_profit=tp, stop_loss=stop,
                              entry_price=p.avg_entry_price,
                              reason="bracket legs gone (e.g. Alpaca's 90-day GTC expiry)"))

    def _enter(self, d: Draft, candidates: list[str]) -> None:
        e = d.settings.entry
        rsi = d.rsi(candidates, e.rsi_period)
        d.watchlist_rsi = rsi
        oversold = sorted([(r, s) for s, r in rsi.items() if r is not None and r < e.oversold])
        budget = self.dollars if self.dollars is not None else e.position_pct * d.equity
        for value, sym in oversold:
            price = d.snapshot.price(sym)
            qty = whole(budget / price) if price else 0
            if qty < 1:
                d.skip("entry", sym, f"RSI {value:.1f}: budget {fmt_price(budget)} buys no share "
                       f"at {fmt_price(price or 0.0)}")
                continue
            d.enter(sym, qty, price, purpose="entry", rsi=value, reason=f"RSI {value:.1f} < {e.oversold:g}")

    def __repr__(self) -> str:
        return f"RsiBracket(dollars={self.dollars!r})"


__all__ = ["RsiBracket"]
