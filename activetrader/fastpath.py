"""The Trader's native fast path to a market: bars as index ranges into cached arrays, built
into a ``BarSet.df``-shaped frame only if someone asks, and the decision RSI read from a causal
per-symbol cache.

Selected by capability (a market with ``bar_windows``), never by type; ``Trader(fast=False)``
forces the alpaca-py path. Both give identical snapshots and plans (tests/test_fast_path.py).

The RSI cache is causal: for a symbol it holds, for every bar ``e``, the RSI over the
``window`` closes ending at bar ``e`` (:func:`~activetrader.strategy.indicators.rsi_rolling_last`),
and a decision at a moment reads the entry of the last bar complete then. Nothing after that
bar enters the number, and it is bit-for-bit the one :meth:`Snapshot.rsi` computes from a
frame (tests/test_same_rsi.py).

>>> from activetrader.market import SimulatedMarket
>>> m = SimulatedMarket(seed=7)
>>> m.as_of = "2024-03-04 14:00"
>>> src = WindowSource(m.bar_windows(["AAPL", "MSFT"], 0, m.as_of.value), RsiCache())
>>> fast = src.rsi(["AAPL", "MSFT"], 14, 100)
>>> from activetrader.strategy import Snapshot
>>> slow = Snapshot(now=m.as_of, account=None, bars=src.frame()).rsi(["AAPL", "MSFT"], 14, 100)
>>> fast == slow
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .strategy.indicators import rsi_last, rsi_rolling_last


class RsiCache:
    """Per (close array, period, window): the decision RSI at every bar, computed once."""

    def __init__(self) -> None:
        self._data: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}

    def index(self, label: np.ndarray) -> pd.DatetimeIndex:
        """The bar labels as the ``timestamp`` index a ``BarSet.df`` has (UTC, microseconds), once."""
        key = (id(label), 0, 0)
        hit = self._data.get(key)
        if hit is None or hit[0] is not label:
            stamps = pd.DatetimeIndex(label.astype("datetime64[ns]"), name="timestamp")
            hit = self._data[key] = (label, stamps.tz_localize("UTC").as_unit("us"))
        return hit[1]

    def rolling(self, close: np.ndarray, period: int, window: int) -> np.ndarray:
        key = (id(close), period, window)
        hit = self._data.get(key)
        if hit is None or hit[0] is not close:  # the id of a freed array can be reused: check identity
            hit = self._data[key] = (close, rsi_rolling_last(close, window, period))
        return hit[1]


class WindowSource:
    """A :class:`~activetrader.strategy.snapshot.BarSource` over a market's ``bar_windows``."""

    def __init__(self, windows, cache: RsiCache) -> None:
        self.windows = {w.symbol: w for w in windows}
        self._cache = cache

    def prices(self) -> dict[str, float]:
        """The last complete close of each symbol with bars."""
        return {s: float(w.view.close[w.stop - 1]) for s, w in self.windows.items() if w.stop > w.start}

    def frame(self) -> pd.DataFrame:
        from .market.frames import MarketData

        return MarketData.windows_frame(list(self.windows.values()))

    def close_series(self, symbol: str) -> pd.Series | None:
        w = self.windows.get(symbol)
        if w is None or w.stop <= w.start:
            return None
        stamps = self._cache.index(w.view.label)[w.start:w.stop]
        return pd.Series(w.view.close[w.start:w.stop].astype(float), index=stamps, name="close")

    def rsi(self, symbols, period: int, window: int) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for sym in symbols:
            w = self.windows.get(sym)
            n = 0 if w is None else w.stop - w.start
            if n <= period:
                out[sym] = None
                continue
            close = w.view.close
            if n >= window:  # the usual case: read the cache
                value = float(self._cache.rolling(close, period, window)[w.stop - window])
            else:  # fewer closes than the window (start of the data): compute these few
                value = float(rsi_last(close[w.start:w.stop, None], period)[0])
            out[sym] = None if value != value else value
        return out


__all__ = ["RsiCache", "WindowSource"]
