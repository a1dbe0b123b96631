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

__all__ = ["DailyCloses", "Wake", "by_grid", "decision_days", "full_windows", "rsi_window"]
