"""When a strategy can have something to do: the wake rule a backtest uses to skip the rest.

Most mornings the simple rule has nothing to do: no watchlist name is oversold, every
position is protected. Such an iteration reads the account, decides an empty plan and submits
nothing. A strategy that can say *in advance*, from the bars alone, when its plan may be
non-empty returns a :class:`Wake` from :meth:`Strategy.wake <activetrader.strategy.Strategy.wake>`;
a backtest then runs the live iteration only at those moments and after the broker events the
rule names, and values the account at the others (the engine fills resting orders either way).
The skipped iterations are exactly those whose plan is empty, so the orders, fills and equity
are the same as when every iteration runs (``backtest(..., skip_quiet=False)``; the tests
compare both on random markets).

A signal is a *necessary* condition, not a decision: waking when nothing happens costs time,
never correctness, so where a rule is unsure (too few bars, a gap in the data) it wakes.
Strategies without a rule (the default, ``None``) run every iteration.

>>> import numpy as np
>>> w = Wake({"ABC": np.array([False, True, False])})
>>> w.signals["ABC"].tolist(), w.on_fill, w.on_cancel
([False, True, False], False, True)
>>> decision_days(Settings())      # calendar days of bars a decision is given (100 closes + slack)
165
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from activetrader.settings import Settings

_DAY_NS = 86_400_000_000_000


class DailyCloses(NamedTuple):
    """One symbol's daily bars as :meth:`Strategy.wake` gets them: bar labels and the moments
    each bar is complete (int ns UTC), and the closes; the arrays a decision's bars come from."""

    label: np.ndarray
    end: np.ndarray
    close: np.ndarray


@dataclass(frozen=True)
class Wake:
    """A strategy's wake rule (module docstring).

    ``signals``: per symbol, a bool array over its :class:`DailyCloses`: True at bar ``i`` when,
    with bar ``i`` the last complete daily bar, the plan may propose something for it. With
    ``flat_only`` a signal counts only while the account neither holds the symbol nor has an
    open buy order for it (a rule of one position per symbol). A backtest runs an iteration
    when a symbol signals, and also after a fill (``on_fill``) or an order that ended unfilled,
    i.e. was cancelled or expired (``on_cancel``) since the last iteration it ran, and after an
    iteration with a refused order or an error (a retry may be due).
    """

    signals: Mapping[str, np.ndarray] = field(default_factory=dict)
    on_fill: bool = False
    on_cancel: bool = True
    flat_only: bool = False


def decision_days(settings: Settings) -> int:
    """Calendar days of bars the Trader gives a decision: 1.5x the longest indicator window in
    bars (``max(entry.lookback_bars, 3 x hedge.rsi_period)``) plus 15 days of slack."""
    bars = max(settings.entry.lookback_bars, 3 * settings.hedge.rsi_period)
    return int(bars * 1.5) + 15


def full_windows(bars: DailyCloses, window: int, settings: Settings) -> np.ndarray:
    """Per bar ``i``: True when a decision with bar ``i`` last complete certainly sees the full
    ``window`` closes ``i - window + 1 .. i`` (they lie within its :func:`decision_days`, even
    just before bar ``i + 1`` is complete). False where it may see fewer (the start of the data,
    a gap, the last bar): there a rule computed on full windows must wake.

    >>> day = _DAY_NS
    >>> bars = DailyCloses(np.arange(6) * day, np.arange(6) * day + day // 2, np.ones(6))
    >>> full_windows(bars, 3, Settings()).tolist()
    [False, False, True, True, True, False]
    """
    n = len(bars.close)
    out = np.zeros(n, dtype=bool)
    if n <= window:  # the last bar stays False: a symbol whose data ends is last complete for ever
        return out
    # The latest moment bar i is still the last complete one: just before bar i + 1 ends.
    latest = bars.end[window:]
    out[window - 1:n - 1] = bars.label[: n - window] >= latest - decision_days(settings) * _DAY_NS
    return out

def windowed_rsi(close: np.ndarray, window: int, period: int) -> np.ndarray:
    """At every bar ``e``: Wilder RSI(``period``) of the ``window`` closes ending at ``e`` (NaN
    before ``window - 1``), for one series or for the columns of a ``(bars, k)`` array at once.

    O(bars) array operations instead of one recursion per window: with ``F`` the exponential
    filter of the changes (``F[t] = a F[t-1] + x[t] / period``, ``a = (period - 1) / period``),
    Wilder's average over a window, seeded with the mean ``R`` of its first ``period`` changes
    and smoothed over the ``m`` changes after them, is ``F[t] + a**m * (R - F[t-m])``. Within
    ~1e-12 of :func:`~activetrader.strategy.indicators.rsi_rolling_last` (bit-exact, and ~10x
    slower per series); for wake rules, which test with a margin. A flat window may read 0
    here (decisions say 50): a rule then wakes, as it should where unsure.

    >>> from activetrader.strategy.indicators import rsi_rolling_last
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
    n = len(cols)
    out = np.full(cols.shape, np.nan)
    m = window - 1 - period  # smoothing steps after the seed
    if n < window or m < 0:
        return out.reshape(close.shape)
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
        out[window - 1:] = np.where(total > 0, 100.0 * gain / total, 50.0)
    return out.reshape(close.shape)


def by_grid(closes: Mapping[str, DailyCloses], symbols) -> list[tuple[tuple[str, ...], DailyCloses]]:
    """The ``symbols`` with bars, grouped by their time grid (equal labels and ends), each group's
    closes side by side: ``[(names, DailyCloses(label, end, close (bars, k)))]``. Daily bars of
    one market mostly share one grid, so a rule computes each indicator once per grid.

    >>> day = np.arange(3) * _DAY_NS
    >>> a, b = DailyCloses(day, day + 1, np.ones(3)), DailyCloses(day, day + 1, np.zeros(3))
    >>> [(names, g.close.shape) for names, g in by_grid({"A": a, "B": b, "C": a._replace(end=day + 2)}, "ABCD")]
    [(('A', 'B'), (3, 2)), (('C',), (3, 1))]
    """
    groups: dict[tuple[bytes, bytes], tuple[DailyCloses, list[str]]] = {}
    for sym in symbols:
        bars = closes.get(sym)
        if bars is not None:
            groups.setdefault((bars.label.tobytes(), bars.end.tobytes()), (bars, []))[1].append(sym)
    return [(tuple(names), DailyCloses(bars.label, bars.end, np.column_stack([closes[s].close for s in names])))
            for bars, names in groups.values()]

__all__ = ["DailyCloses", "Wake", "by_grid", "decision_days", "full_windows", "windowed_rsi"]
