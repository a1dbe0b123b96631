"""Wilder's RSI, exactly, for one series or a whole universe of symbols at once.

The strategy's sentiment check (RSI(14) > 70) and its entry scan (RSI(14) < 30) both read
:func:`rsi`, so the number must be the one traders and charting sites publish: J. Welles
Wilder's *Relative Strength Index* (1978) as tabulated by StockCharts' ChartSchool
(``cs-rsi.xls``, reproduced to 0.01 in ``tests/test_indicators.py``):

* the first average gain (loss) is the simple mean of the first ``period`` gains (losses),
  i.e. of the first ``period`` *changes*, so the first RSI sits at position ``period``
  (the ``period + 1``-th close) and every earlier value is NaN;
* after that, ``avg = (prev * (period - 1) + x) / period`` (Wilder's smoothing, an
  exponential average with ``alpha = 1 / period``);
* ``RSI = 100 * avg_gain / (avg_gain + avg_loss)``, the same as ``100 - 100 / (1 + RS)``
  but also defined when there are no losses: gains and no losses give 100, losses and no
  gains give 0.

**Flat prices give 50.** With no gains and no losses RS is 0/0. We define RSI as 50 (no
momentum either way). TA-Lib returns 0 here, and pandas-ta's own code returns NaN. A 0 would
make a halted or flat symbol look *oversold* (RSI < 30) and trigger a buy, so we do not use it.

**Why this module has its own implementation.** These were checked on this stack
(pandas 3.1, pandas-ta 0.4.71b0, TA-Lib 0.8.2):

* pandas-ta's native ``rsi`` (``talib=False``) seeds its average with the first change, not
  with the mean of the first ``period`` changes. On the 33-bar ChartSchool table its first
  value is 50.66 instead of 70.53 (19.8 points off), and it is still 4 points off at the 33rd
  bar. The gap decays like ``(13/14)**n`` and is below 1e-3 after about 150 bars. If TA-Lib
  cannot be imported, pandas-ta silently falls back to this native code.
* ``talib.RSI`` and ``pandas_ta.rsi(..., talib=True)`` (pandas-ta then simply calls
  ``talib.RSI(close, length)``) match Wilder's table to 1e-9. They still differ from the
  definition above on flat prices (0, not 50). Their results also depend on TA-Lib's
  process-global state (``talib.set_unstable_period``, ``talib.set_compatibility``), and
  on pandas 3 importing ``pandas_ta`` emits ``Pandas4Warning``, which is an error under
  this project's warnings-as-errors test settings.

Fixing the flat case means knowing both averages, which TA-Lib does not expose. So the
computation is done here, in vectorised numpy/pandas. The recursion runs as a loop over bars
that is vectorised across symbols, or in pandas' compiled ``ewm(adjust=False)`` for a few long
series. Every column is independent, so one call handles a whole universe:
:func:`rsi_by_symbol` computes 200 symbols × 100 bars in about 4 ms. pandas-ta (both backends)
and TA-Lib stay in the test suite as oracles: ours must agree with TA-Lib everywhere except on
flat prices, and with pandas-ta's native RSI once that has converged.

>>> closes = [10.0, 10.5, 10.2, 10.8, 11.0, 10.7, 11.2]
>>> rsi(closes, period=3).round(2).tolist()
[nan, nan, nan, 78.57, 82.35, 58.95, 76.0]
>>> round(rsi_latest(closes, period=3), 2)
76.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: The classic look-back, and the one DESIGN.md's sentiment and entry rules use.
DEFAULT_PERIOD = 14

#: RSI when there were neither gains nor losses (flat prices): no momentum either way.
FLAT_RSI = 50.0


def rsi(close: pd.Series | np.ndarray | Sequence[float], period: int = DEFAULT_PERIOD) -> pd.Series:
    """Wilder's Relative Strength Index of a close series.

    ``close`` is a pandas Series (its index is kept) or anything array-like of floats, oldest
    first, with no gaps: a NaN or infinite value raises :class:`ValueError` naming where it
    is, because a missing bar would silently shift every later value. ``period`` is the
    look-back in bars (an integer >= 2).

    Returns a float Series named ``RSI_<period>``, the same length as ``close``. The first
    ``period`` values are NaN: the first RSI needs ``period`` price *changes*, i.e.
    ``period + 1`` closes. Only gains give 100, only losses give 0, and flat prices give
    :data:`FLAT_RSI` (50).

    >>> rsi(pd.Series([1.0, 2.0, 3.0, 4.0], index=list("abcd")), period=2)
    a      NaN
    b      NaN
    c    100.0
    d    100.0
    Name: RSI_2, dtype: float64
    >>> rsi([5.0, 5.0, 5.0, 5.0], period=2).tolist()
    [nan, nan, 50.0, 50.0]
    """
    period = _check_period(period)
    values, index = _closes(close)
    out = _wilder_rsi(values[:, None], period)[:, 0]
    return pd.Series(out, index=index, name=f"RSI_{period}", dtype="float64")


def rsi_latest(data: pd.DataFrame | pd.Series | np.ndarray | Sequence[float],
               period: int = DEFAULT_PERIOD) -> float:
    """The most recent RSI of one symbol, as a float (NaN if there are too few bars).

    ``data`` is a close series (as for :func:`rsi`) or a bars DataFrame with a ``close``
    column, e.g. a ``BarSet.df`` holding a single symbol. For a frame with several symbols
    use :func:`rsi_by_symbol`.

    >>> bars = pd.DataFrame({"close": [44.0, 44.5, 44.2, 45.1]})
    >>> round(rsi_latest(bars, period=2), 2)
    88.46
    >>> rsi_latest([44.0, 44.5], period=2)
    nan
    """
    if isinstance(data, pd.DataFrame):
        if "close" not in data.columns:
            raise ValueError(f"bars frame has no 'close' column (columns: {list(data.columns)})")
        if isinstance(data.index, pd.MultiIndex):
            symbols = data.index.get_level_values(_symbol_level(data.index)).unique()
            if len(symbols) > 1:
                raise ValueError(f"bars frame holds {len(symbols)} symbols "
                                 f"({', '.join(map(str, symbols[:5]))}"
                                 f"{', ...' if len(symbols) > 5 else ''}); "
                                 "use rsi_by_symbol() for one RSI per symbol")
        data = data["close"]
    values = rsi(data, period)
    return float(values.iloc[-1]) if len(values) else float("nan")


def rsi_by_symbol(bars: pd.DataFrame, period: int = DEFAULT_PERIOD) -> pd.Series:
    """The latest RSI of every symbol in a multi-symbol bars frame, computed in one pass.

    ``bars`` is shaped like alpaca-py's ``BarSet.df``: a ``(symbol, timestamp)`` MultiIndex
    (the symbol level is the one named ``symbol``, else the first level; the rows of each
    symbol are put in timestamp order first) and a ``close`` column. The symbols may have
    different numbers of bars. All symbols are computed together as the columns of one
    array, with no Python loop over symbols.

    Returns a float Series indexed by symbol (sorted) and named ``RSI_<period>``: each
    symbol's RSI at its own last bar, or NaN when it has ``period`` bars or fewer. A NaN or
    infinite close raises :class:`ValueError` naming the symbols concerned.

    >>> idx = pd.MultiIndex.from_product(
    ...     [["MSFT", "AAPL"], pd.date_range("2024-01-02", periods=4, tz="UTC")],
    ...     names=["symbol", "timestamp"])
    >>> bars = pd.DataFrame({"close": [1.0, 2, 3, 4, 4, 3, 2, 3]}, index=idx)
    >>> rsi_by_symbol(bars, period=2)
    symbol
    AAPL     50.0
    MSFT    100.0
    Name: RSI_2, dtype: float64
    """
    period = _check_period(period)
    name = f"RSI_{period}"
    if not isinstance(bars, pd.DataFrame) or "close" not in bars.columns:
        raise ValueError("bars must be a DataFrame with a 'close' column, shaped like "
                         "alpaca-py's BarSet.df")
    if not isinstance(bars.index, pd.MultiIndex):
        raise ValueError("bars must have a (symbol, timestamp) MultiIndex like alpaca-py's "
                         "BarSet.df; for a single symbol's bars use rsi_latest()")
    level = _symbol_level(bars.index)
    codes, symbols = pd.factorize(bars.index.get_level_values(level), sort=True)
    symbol_index = pd.Index(symbols, name=bars.index.names[level] or "symbol")
    if len(bars) == 0:
        return pd.Series([], index=symbol_index, name=name, dtype="float64")

    # Rows of one symbol together, each symbol's bars in time order.
    time_level = bars.index.nlevels - 1 if level != bars.index.nlevels - 1 else 0
    time_codes, _ = pd.factorize(bars.index.get_level_values(time_level), sort=True)
    order = np.lexsort((time_codes, codes))
    codes = codes[order]
    closes = _float_values(bars["close"])[order]

    bad = ~np.isfinite(closes)
    if bad.any():
        named = sorted({str(symbols[c]) for c in np.unique(codes[bad])})
        raise ValueError(f"close has missing or non-finite values for {', '.join(named)}; "
                         "RSI needs every bar: drop or fill the gaps first")

    # Left-aligned matrix: column j holds symbol j's closes, NaN-padded after its last bar.
    counts = np.bincount(codes, minlength=len(symbols))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    position = np.arange(len(codes)) - starts[codes]
    matrix = np.full((counts.max(), len(symbols)), np.nan)
    matrix[position, codes] = closes

    values = _wilder_rsi(matrix, period)
    latest = values[counts - 1, np.arange(len(symbols))]
    return pd.Series(latest, index=symbol_index, name=name, dtype="float64")


def rsi_last(windows: np.ndarray, period: int = DEFAULT_PERIOD) -> np.ndarray:
    """The RSI at the end of each window: ``windows`` has shape ``(closes, k)``, one window of
    closes per column (oldest first, all finite); returns ``k`` floats.

    This is the number a *decision* uses (see :meth:`~activetrader.strategy.snapshot.Snapshot.rsi`):
    Wilder's RSI(``period``) seeded inside the window itself, so it depends on exactly these
    closes and nothing before them. Every step is an element-wise float operation done in the
    same order for every column, so a column gives the same bits whether it is computed alone
    (a live iteration) or beside thousands of others (a backtest's cache of every window):
    the mean of the first ``period`` changes is summed in order, not pairwise.

    >>> w = np.array([[10.0, 10.5, 10.2, 10.8, 11.0, 10.7, 11.2]]).T
    >>> rsi_last(w, period=3).round(2).tolist()
    [76.0]
    >>> rsi_last(np.array([[1.0, 2.0]]).T, period=3).tolist()   # too few closes
    [nan]
    """
    period = _check_period(period)
    closes = np.asarray(windows, dtype=float)
    if closes.ndim != 2:
        raise ValueError(f"windows must be 2-D (closes, windows), got shape {closes.shape}")
    if closes.shape[0] <= period:
        return np.full(closes.shape[1], np.nan)
    changes = closes[1:] - closes[:-1]
    return _rsi_of_changes(np.stack((np.maximum(changes, 0.0), np.maximum(-changes, 0.0)), axis=1), period)


def rsi_rolling_last(close: np.ndarray, window: int, period: int = DEFAULT_PERIOD) -> np.ndarray:
    """For every end ``e`` in ``[window, len(close)]``: :func:`rsi_last` of ``close[e - window:e]``.

    Element ``e - window`` of the result is the RSI a decision sees when the last complete close
    is ``close[e - 1]``. Computed for all windows at once (columns of a strided view), with
    bit-for-bit the numbers :func:`rsi_last` gives for each window alone.

    >>> c = np.array([10.0, 10.5, 10.2, 10.8, 11.0, 10.7, 11.2])
    >>> rsi_rolling_last(c, window=5, period=3).round(2).tolist()
    [82.35, 51.61, 83.78]
    >>> [round(float(rsi_last(c[e - 5:e, None], period=3)[0]), 2) for e in (5, 6, 7)]
    [82.35, 51.61, 83.78]
    """
    period = _check_period(period)
    close = np.asarray(close, dtype=float)
    if window <= period or len(close) < window:
        return np.full(max(len(close) - window + 1, 0), np.nan)
    changes = close[1:] - close[:-1]
    moves = np.stack((np.maximum(changes, 0.0), np.maximum(-changes, 0.0)))  # gains, losses
    windows = np.lib.stride_tricks.sliding_window_view(moves, window - 1, axis=1)  # (2, k, changes)
    return _rsi_of_changes(windows.transpose(2, 0, 1), period)


def _rsi_of_changes(moves: np.ndarray, period: int) -> np.ndarray:
    """Wilder RSI at the last row of each column of ``moves`` (``(changes, 2, k)``: the gains,
    then the losses, of ``k`` columns). Both averages advance in one array, in place: the
    same float operations, in the same order, as ``(avg * (period - 1) + x) / period``."""
    avg = moves[0].copy()
    for r in range(1, period):  # in order: the same sum for one column or many
        avg += moves[r]
    avg /= period
    keep = period - 1
    for r in range(period, moves.shape[0]):
        avg *= keep
        avg += moves[r]
        avg /= period
    g, lo = avg
    total = g + lo
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 * (g / total)
    return np.where(total == 0.0, FLAT_RSI, value)


# --------------------------------------------------------------------------------------
# internals


#: Above this many rows per column, pandas' per-column ``ewm`` beats a Python loop over rows.
_ROWS_PER_COLUMN = 12


def _wilder_rsi(closes: np.ndarray, period: int) -> np.ndarray:
    """RSI of each column of ``closes`` (shape ``(bars, series)``), same shape.

    A column may end in NaN padding (a shorter series): the padding rows come out NaN and
    never change the values before them.
    """
    out = np.full(closes.shape, np.nan)
    if closes.shape[0] <= period:
        return out
    changes = np.diff(closes, axis=0)
    gains = np.maximum(changes, 0.0)  # NaN padding stays NaN
    losses = np.maximum(-changes, 0.0)
    k = closes.shape[1]
    averages = _wilder_average(np.concatenate((gains, losses), axis=1), period)
    avg_gain, avg_loss = averages[:, :k], averages[:, k:]
    total = avg_gain + avg_loss
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 * (avg_gain / total)  # ratio <= 1 exactly, so only gains give 100.0
    out[1:] = np.where(total == 0.0, FLAT_RSI, value)
    return out


def _wilder_average(x: np.ndarray, period: int) -> np.ndarray:
    """Wilder's smoothed average down each column of ``x`` (needs ``len(x) >= period``).

    Row ``period - 1`` is the simple mean of the first ``period`` rows; each later row is
    ``(prev * (period - 1) + x) / period``. The recursion runs either as a loop over rows
    with each step vectorised across columns (cheap for many short columns: a universe of
    symbols) or as pandas' compiled ``ewm(alpha=1/period, adjust=False)`` per column (cheap
    for a few long ones), whichever costs fewer interpreter steps. Both compute the same
    recursion and agree to float rounding (tested).
    """
    rows, cols = x.shape
    out = np.full(x.shape, np.nan)
    seed = x[:period].mean(axis=0)
    if rows - period <= _ROWS_PER_COLUMN * cols:
        out[period - 1] = avg = seed
        keep = period - 1
        for i in range(period, rows):
            avg = (avg * keep + x[i]) / period
            out[i] = avg
        return out
    seeded = x[period - 1:].copy()
    seeded[0] = seed
    smoothed = pd.DataFrame(seeded).ewm(alpha=1.0 / period, adjust=False).mean()
    out[period - 1:] = smoothed.to_numpy()
    out[np.isnan(x)] = np.nan  # ewm carries the last value over padding; keep padding NaN
    return out


def _check_period(period: object) -> int:
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)):
        raise TypeError(f"period must be an integer >= 2, got {period!r} "
                        f"({type(period).__name__})")
    if period < 2:
        raise ValueError(f"period must be an integer >= 2, got {period}")
    return int(period)


def _closes(close: object) -> tuple[np.ndarray, pd.Index]:
    """Validated float closes and the index to return them on."""
    if isinstance(close, pd.DataFrame):
        raise TypeError("rsi() takes a close series, not a DataFrame: pass frame['close'], "
                        "or use rsi_latest() / rsi_by_symbol() for bars frames")
    if isinstance(close, pd.Series):
        values, index = _float_values(close), close.index
    else:
        try:
            values = np.asarray(close, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"close must be numeric prices: {exc}") from None
        if values.ndim != 1:
            raise ValueError(f"close must be one-dimensional, got shape {values.shape}")
        index = pd.RangeIndex(len(values))
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        where = bad[0]
        label = "" if isinstance(index, pd.RangeIndex) else f" (label {index[where]!r})"
        raise ValueError(f"close has a missing or non-finite value ({values[where]}) at "
                         f"position {where}{label}; RSI needs every bar: drop or fill the "
                         "gaps first")
    return values, index


def _float_values(series: pd.Series) -> np.ndarray:
    try:
        return series.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"close must be numeric prices (dtype {series.dtype}): {exc}") from None


def _symbol_level(index: pd.MultiIndex) -> int:
    return index.names.index("symbol") if "symbol" in index.names else 0


def windowed_rsi(close: np.ndarray, window: int, period: int) -> np.ndarray:
    """At every bar ``e``: Wilder RSI(``period``) of the ``window`` closes ending at ``e`` (NaN
    before ``window - 1``), for one series or for the columns of a ``(bars, k)`` array at once.

    O(bars) array operations instead of one recursion per window: with ``F`` the exponential
    filter of the changes (``F[t] = a F[t-1] + x[t] / period``, ``a = (period - 1) / period``),
    Wilder's average over a window, seeded with the mean ``R`` of its first ``period`` changes
    and smoothed over the ``m`` changes after them, is ``F[t] + a**m * (R - F[t-m])``. Within
    ~1e-12 of :func:`rsi_rolling_last` (bit-exact, and ~10x slower per series); for wake rules
    (:mod:`activetrader.strategy.wake`), which test with a margin. A flat window may read 0
    here (decisions say 50): a rule then wakes, as it should where unsure.

    >>> close = 100 + np.cumsum(np.sin(np.arange(400.0)))
    >>> fast, exact = windowed_rsi(close, 100, 14), rsi_rolling_last(close, 100, 14)
    >>> bool(np.isnan(fast[:99]).all()), float(np.abs(fast[99:] - exact).max()) < 1e-9
    (True, True)
    >>> both = windowed_rsi(np.column_stack([close, close[::-1]]), 100, 14)
    >>> bool(np.array_equal(both[:, 0], fast, equal_nan=True)), both.shape
    (True, (400, 2))
    """
    close = np.asarray(close, dtype=float)
    cols = close.reshape(len(close), -1)
    out = np.full(cols.shape, np.nan)
    if len(cols) >= window > period:
        # Columns are independent: 32 at a time keeps the dozen temporaries small enough to stay
        # in cache and off fresh pages (500 series x 2,500 bars: 0.3 s at once, 0.07 s in blocks).
        for j in range(0, cols.shape[1], _BLOCK):
            out[window - 1:, j:j + _BLOCK] = _windowed_rsi_block(cols[:, j:j + _BLOCK], window, period)
    return out.reshape(close.shape)


_BLOCK = 32


def _windowed_rsi_block(cols: np.ndarray, window: int, period: int) -> np.ndarray:
    """:func:`windowed_rsi` of the columns of ``cols`` at bars ``window - 1`` onwards."""
    n = len(cols)
    m = window - 1 - period  # smoothing steps after the seed
    change = np.diff(cols, axis=0)
    ends = np.arange(window - 1, n)  # bar e: changes e-window+1 .. e-1, the last one t = e-1
    avg = []
    for x in (np.maximum(change, 0.0), np.maximum(-change, 0.0)):
        f = pd.DataFrame(x).ewm(alpha=1.0 / period, adjust=False).mean().to_numpy()  # a f + x / period
        csum = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
        seed = (csum[period:] - csum[:-period]) / period  # seed[i]: mean of x[i .. i+period-1]
        a_m = ((period - 1) / period) ** m
        avg.append(np.maximum(f[ends - 1] + a_m * (seed[ends - window + 1] - f[ends - 1 - m]), 0.0))
    gain, loss = avg
    total = gain + loss
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 100.0 * gain / total, FLAT_RSI)


__all__ = ["DEFAULT_PERIOD", "FLAT_RSI", "rsi", "rsi_by_symbol", "rsi_last", "rsi_latest", "rsi_rolling_last",
           "windowed_rsi"]
