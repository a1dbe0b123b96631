"""The one small protocol every price source follows, and the fast per-symbol bar view.

The broker's engine reads bars only through :class:`BarArrays` (numpy arrays, one symbol at a
time), so its cost follows the symbols it has orders in, never the universe size.

Bar conventions (DESIGN.md, "Fill model"):

* ``start`` is the bar's start, as Alpaca stamps bars; for a daily bar it is the session's
  regular open (09:30 ET), while the *label* of a daily bar in data frames is midnight ET of
  the session date, as Alpaca labels them.
* ``end`` is the instant the bar is complete: the close of the session for a daily bar,
  ``start + bar length`` for an intraday bar.
* ``regular`` marks bars that count as regular-session trading: every daily bar, and an
  intraday bar whose interval overlaps the regular session at all. A bar straddling 09:30 or
  16:00 therefore counts as regular: a stop may trigger on its extended-hours part, which is
  the conservative side (an earlier exit, never a missed one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from .sessions import MarketCalendar

#: Columns of alpaca-py's ``BarSet.df``, in its order.
BAR_COLUMNS = ("open", "high", "low", "close", "volume", "trade_count", "vwap")


class UnknownSymbolError(KeyError):
    """The market does not carry this symbol."""

    def __init__(self, symbol: str, known: tuple[str, ...] = ()) -> None:
        import difflib

        hint = difflib.get_close_matches(symbol, known, n=1)
        msg = f"unknown symbol {symbol!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
        super().__init__(msg)
        self.symbol = symbol

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


@dataclass(frozen=True, slots=True, eq=False)
class BarArrays:
    """One symbol's bars in time order, as numpy arrays (int64 ns UTC times, float64 prices)."""

    symbol: str
    start: np.ndarray
    end: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    regular: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    def complete_by(self, ns: int) -> int:
        """How many bars are complete at ``ns`` (bars are complete at their ``end``)."""
        return int(np.searchsorted(self.end, ns, side="right"))

    def last_close(self, ns: int) -> float | None:
        """Close of the last bar complete at ``ns`` (the 'current price'), or None before the first."""
        i = self.complete_by(ns)
        return float(self.close[i - 1]) if i else None


@runtime_checkable
class Market(Protocol):
    """What the broker and the Trader need from a price source.

    Implemented by :class:`~activetrader.market.SimulatedMarket` and
    :class:`~activetrader.market.HistoricalMarket` (and later the Alpaca data adapter).
    """

    #: Every symbol the market carries, sorted.
    symbols: tuple[str, ...]
    #: The native bar length as an alpaca-py timeframe string: ``"1Day"``, ``"1Hour"``, ``"15Min"``...
    timeframe: str
    #: Sessions of the exchange over the market's span.
    calendar: MarketCalendar

    def arrays(self, symbol: str) -> BarArrays:
        """The bars of one symbol; raises :class:`UnknownSymbolError` if not carried."""
        ...

    def __contains__(self, symbol: object) -> bool: ...

    @property
    def start(self) -> pd.Timestamp:
        """Start of the first bar of any symbol."""
        ...

    @property
    def end(self) -> pd.Timestamp:
        """Completion time of the last bar of any symbol."""
        ...
