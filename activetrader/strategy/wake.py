"""When a strategy can have something to do: the wake rule a backtest uses to skip the rest.

Most mornings the simple rule has nothing to do: no watchlist name is oversold, every
position is protected. Such an iteration reads the account, decides an empty plan and submits
nothing. A strategy that can say *in advance*, from the bars (and a few named conditions of the
account and of the broker's events), when its plan may be non-empty returns a :class:`Wake`
from :meth:`Strategy.wake <activetrader.strategy.Strategy.wake>`; a backtest then runs the live
iteration only at those moments, and values the account at the others (the engine fills
resting orders either way). Only iterations whose plan is empty are skipped, so the orders,
fills and equity are the same as when every iteration runs (``backtest(..., skip_quiet=False)``;
the tests compare both on real and random markets).

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

from activetrader.settings import Settings

from .indicators import windowed_rsi

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
    i.e. was cancelled or expired (``on_cancel``; not the exit leg cancelled because its sibling
    filled and closed the position: nothing is left to protect) since the last iteration it
    ran, and after an iteration with a refused order or an error (a retry may be due).

    Two conditions of the account, not of the bars, which the backtest checks at every
    iteration time: with ``max_weight`` (a fraction of equity, e.g. a rebalance cap) it runs
    whenever a position's market value is within a cent of that fraction of the account's
    equity, or above it; with ``trail_pct`` (a trailing stop's distance) whenever a working
    sell stop sits within a cent of its symbol's price x (1 - ``trail_pct``), or below it: a
    trailing rule may raise it (:mod:`~activetrader.strategy.trailing`).
    """

    signals: Mapping[str, np.ndarray] = field(default_factory=dict)
    on_fill: bool = False
    on_cancel: bool = True
    flat_only: bool = False
    max_weight: float | None = None
    trail_pct: float | None = None


def rsi_window(settings: Settings, period: int) -> int:
    """The closes a decision's RSI(``period``) reads: ``max(entry.lookback_bars, 3 x period)``
    (:meth:`Draft.rsi <activetrader.strategy.draft.Draft.rsi>`; a wake rule must use the same).

    >>> rsi_window(Settings(), 14)
    100
    """
    return max(settings.entry.lookback_bars, 3 * period)


def decision_days(settings: Settings) -> int:
    """Calendar days of bars the Trader gives a decision: 1.5x the longest indicator window in
    bars (:func:`rsi_window` of the hedge's and the entry's RSI periods) plus 15 days of slack."""
    bars = max(rsi_window(settings, settings.hedge.rsi_period), rsi_window(settings, settings.entry.rsi_period))
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


def rsi_flags(closes: Mapping[str, DailyCloses], symbols, settings: Settings, period: int, *,
              below: float | None = None, above: float | None = None) -> dict[str, np.ndarray]:
    """Per symbol with bars, per daily bar: True where the RSI(``period``) a decision reads with
    that bar last complete may be below ``below`` (or above ``above``). That is the windowed RSI
    of :func:`rsi_window` closes (:func:`~activetrader.strategy.indicators.windowed_rsi`, the
    decision's number to ~1e-13) within 1e-6 of the threshold or past it, no RSI at all (NaN),
    or a window the decision may see only in part (:func:`full_windows`): a rule is never sure
    there. Computed once per time grid (:func:`by_grid`).

    >>> day = _DAY_NS
    >>> close = np.r_[np.linspace(100, 120, 60), np.linspace(120, 90, 20)]   # up, then down
    >>> bars = DailyCloses(np.arange(80) * day, np.arange(80) * day + day // 2, close)
    >>> s = Settings(); s.entry.lookback_bars = 42
    >>> [int(i) for i in np.flatnonzero(rsi_flags({"A": bars}, ["A"], s, 14, below=30)["A"][41:])][:3]
    [25, 26, 27]
    >>> bool(rsi_flags({"A": bars}, ["A"], s, 14, above=70)["A"][41:60].all())   # overbought on the way up
    True
    """
    if (below is None) == (above is None):
        raise ValueError("rsi_flags needs exactly one of below= or above=")
    window = rsi_window(settings, period)  # as the decision reads it
    out: dict[str, np.ndarray] = {}
    for names, grid in by_grid(closes, symbols):
        rsi = windowed_rsi(grid.close, window, period)
        past = ~(rsi >= below + 1e-6) if below is not None else ~(rsi <= above - 1e-6)  # NaN counts
        flags = ~full_windows(grid, window, settings)[:, None] | past
        out.update(zip(names, flags.T))
    return out


def during(bars: DailyCloses, flags: np.ndarray, onto: DailyCloses) -> np.ndarray:
    """``flags`` over ``bars`` seen on another symbol's bars: per bar ``j`` of ``onto``, True
    when some bar that is the last complete one of ``bars`` at a moment while bar ``j`` is the
    last complete one of ``onto`` (from its end to just before the next one's) is flagged.

    >>> a = DailyCloses(np.arange(4), np.array([10, 20, 30, 40]), np.ones(4))
    >>> b = DailyCloses(np.arange(2), np.array([15, 35]), np.ones(2))
    >>> during(a, np.array([False, True, False, False]), b).tolist()   # bar 1 of a ends at 20, within b's [15, 35)
    [True, False]
    >>> during(a, np.array([True, False, False, False]), a).tolist()   # the same grid: the flags themselves
    [True, False, False, False]
    """
    if np.array_equal(bars.end, onto.end):
        return np.array(flags, dtype=bool)
    lo = np.searchsorted(bars.end, onto.end, side="right") - 1  # when bar j of onto completes
    until = np.append(onto.end[1:] - 1, np.iinfo(np.int64).max)  # just before bar j + 1 does
    hi = np.searchsorted(bars.end, until, side="right") - 1
    seen = np.concatenate(([0], np.cumsum(flags, dtype=np.int64)))  # -1: no bar complete, no flag
    return seen[hi + 1] > seen[np.maximum(lo, 0)]


__all__ = ["DailyCloses", "Wake", "by_grid", "decision_days", "during", "full_windows", "rsi_flags", "rsi_window"]
