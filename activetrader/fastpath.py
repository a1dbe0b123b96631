"""The Trader's native fast path to a market: bars as index ranges into cached arrays, built
into a ``BarSet.df``-shaped frame only if someone asks, and the decision RSI read from a causal
per-symbol cache.

Selected by capability (a market with ``bar_windows``), never by type; ``Trader(fast=False)``
forces the alpaca-py path. Both give identical snapshots and plans (tests/test_fast_path.py).

The RSI cache is causal: for a symbol it holds, for every bar ``e``, the RSI over the
``window`` closes ending at bar ``e`` (:func:`~activetrader.strategy.indicators.rsi_rolling_last`),
and a decision at a moment reads the entry of the last bar complete then. Nothing after that
bar enters the number, and it is bit-for-bit the one :meth:`Snapshot.rsi` computes from a
frame (tests/test_same_rsi.py). Symbols whose bars lie on one time grid (``bar_windows``'
blocks) sit side by side in a matrix, so a decision reads one row per grid, not one number
per symbol.

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

import threading
import weakref

import numpy as np
import pandas as pd

from .market.frames import BarBlock, MarketData
from .strategy.indicators import rsi_last, rsi_rolling_last


#: Rolling RSIs per close array (by id, with a weak reference to check it is the same array):
#: a pure function of the closes, shared by all caches, dropped with the array; at most
#: ``_KEEP`` (period, window) pairs per array.
_ROLLING: dict[int, tuple[weakref.ref, dict[tuple[int, int], np.ndarray]]] = {}
_KEEP = 4
_LOCK = threading.Lock()


def _forget(key: int):
    def drop(ref: weakref.ref) -> None:
        if _ROLLING.get(key, (None,))[0] is ref:
            del _ROLLING[key]
    return drop


class RsiCache:
    """Per close array (and per block of them), period and window: the decision RSI at every bar,
    computed once."""

    #: Blocks (a universe's symbols on one time grid) kept; a universe that changes every few
    #: iterations (held symbols join it) must not pile up copies of the same columns.
    MAX_BLOCKS = 16

    def __init__(self) -> None:
        self._indexes: dict[int, tuple[np.ndarray, pd.DatetimeIndex]] = {}  # id(label) -> (label, index)
        self._blocks: dict[int, tuple[tuple, dict]] = {}

    def index(self, label: np.ndarray) -> pd.DatetimeIndex:
        """The bar labels as the ``timestamp`` index a ``BarSet.df`` has (UTC, microseconds), once."""
        hit = self._indexes.get(id(label))
        if hit is None or hit[0] is not label:
            stamps = pd.DatetimeIndex(label.astype("datetime64[ns]"), name="timestamp")
            hit = self._indexes[id(label)] = (label, stamps.tz_localize("UTC").as_unit("us"))
        return hit[1]

    def rolling(self, close: np.ndarray, period: int, window: int) -> np.ndarray:
        """:func:`rsi_rolling_last` of ``close``, shared by every cache while the array lives
        (a market's arrays outlive its backtests: a second run on it reads the first's)."""
        hit = _ROLLING.get(id(close))
        value = None if hit is None or hit[0]() is not close else hit[1].get((period, window))
        if value is None:
            with _LOCK:  # two threads (a live loop, a notebook) may fill it at once
                hit = _ROLLING.get(id(close))
                if hit is None or hit[0]() is not close:  # the id of a freed array can be reused
                    hit = _ROLLING[id(close)] = (weakref.ref(close, _forget(id(close))), {})
                found = hit[1]
                value = found.get((period, window))
                if value is None:
                    if len(found) >= _KEEP:  # a sweep over periods must not pile them up
                        del found[next(iter(found))]
                    value = found[(period, window)] = rsi_rolling_last(close, window, period)
        return value

    def _block(self, views: tuple) -> dict:
        hit = self._blocks.get(id(views))
        if hit is None or hit[0] is not views:
            if len(self._blocks) >= self.MAX_BLOCKS:
                del self._blocks[next(iter(self._blocks))]
            hit = self._blocks[id(views)] = (views, {})
        return hit[1]

    def closes(self, views: tuple) -> np.ndarray:
        """The close columns of a block's views side by side (bars × symbols, floats), once."""
        entry = self._block(views)
        if "close" not in entry:
            entry["close"] = np.column_stack([v.close for v in views]).astype(float, copy=False)
        return entry["close"]

    def block(self, views: tuple, period: int, window: int) -> tuple[np.ndarray, list[bool]]:
        """:meth:`rolling` of each view's closes side by side (row ``e - window`` is each
        symbol's decision RSI when ``close[e - 1]`` is its last complete close) and, per row,
        whether it holds a NaN: both found once, not at every decision."""
        entry = self._block(views)
        key = (period, window)
        hit = entry.get(key)
        if hit is None:
            matrix = np.column_stack([self.rolling(v.close, period, window) for v in views])
            hit = entry[key] = (matrix, np.isnan(matrix).any(axis=1).tolist())
        return hit


class WindowSource:
    """A :class:`~activetrader.strategy.snapshot.BarSource` over a market's ``bar_windows``.

    Symbols on one time grid (a block) are read together: one row of a cached matrix per block,
    so an iteration costs a few numpy calls per grid plus dict building, not numpy per symbol.
    """

    def __init__(self, windows, cache: RsiCache) -> None:
        self._windows = windows
        blocks = getattr(windows, "blocks", None)  # a plain list of BarWindow: blocks of one
        self._blocks = blocks if blocks is not None else [
            BarBlock((w.symbol,), (w.view,), w.start, w.stop) for w in windows]
        self._cache = cache
        self._by_symbol: dict | None = None
        self._rsi: dict[tuple[int, int], dict] = {}  # (period, window) -> every symbol's RSI

    @property
    def windows(self) -> dict:
        """``{symbol: BarWindow}``, built on first use."""
        if self._by_symbol is None:
            self._by_symbol = {w.symbol: w for w in self._windows}
        return self._by_symbol

    def prices(self) -> dict[str, float]:
        """The last complete close of each symbol with bars, in symbol order."""
        out: dict[str, float] = {}
        for b in self._blocks:
            if b.stop > b.start:
                out.update(zip(b.symbols, self._cache.closes(b.views)[b.stop - 1].tolist()))
        return out if len(self._blocks) < 2 else {s: out[s] for s in sorted(out)}

    def frame(self) -> pd.DataFrame:
        return MarketData.windows_frame(self._windows)

    def close_series(self, symbol: str) -> pd.Series | None:
        w = self.windows.get(symbol)
        if w is None or w.stop <= w.start:
            return None
        stamps = self._cache.index(w.view.label)[w.start:w.stop]
        return pd.Series(w.view.close[w.start:w.stop].astype(float), index=stamps, name="close")

    def rsi(self, symbols, period: int, window: int) -> dict[str, float | None]:
        values = self._rsi.get((period, window))
        if values is None:  # each (period, window) read once per snapshot, for every symbol
            values = self._rsi[(period, window)] = self._all_rsi(period, window)
        get = values.get
        return {sym: get(sym) for sym in symbols}

    def _all_rsi(self, period: int, window: int) -> dict[str, float | None]:
        values: dict[str, float | None] = {}
        for b in self._blocks:
            n = b.stop - b.start
            if n <= period:
                continue
            if n >= window:  # the usual case: read the cache
                matrix, has_nan = self._cache.block(b.views, period, window)
                row, nan = matrix[b.stop - window], has_nan[b.stop - window]
            else:  # fewer closes than the window (start of the data): compute these few
                row = rsi_last(self._cache.closes(b.views)[b.start:b.stop], period)
                nan = bool(np.isnan(row).any())
            found = row.tolist()
            if nan:
                found = [None if v != v else v for v in found]
            values.update(zip(b.symbols, found))
        return values


__all__ = ["RsiCache", "WindowSource"]
