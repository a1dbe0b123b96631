"""Quiet iterations: which ones a backtest may skip, and the account's value at them.

A strategy with a wake rule (:meth:`Strategy.wake <activetrader.strategy.Strategy.wake>`,
:mod:`activetrader.strategy.wake`) says from the bars, and a few conditions of the account and of
the broker's events, when its plan may be non-empty.
:func:`wake_mask` turns the rule into one flag per iteration time; the backtest runs the live
iteration where a flag is set (or a broker event the rule names happened) and skips the
others: their plan is empty, so nothing would be submitted. The broker still advances to every
iteration time (resting orders fill as before), and the equity curve reads the account there
(:meth:`SimBroker.equity <activetrader.broker.SimBroker.equity>`), so it is the one a run of
every iteration gives (tests/test_backtest_quiet.py).
"""

from __future__ import annotations

import numpy as np

from ..strategy import Strategy, Wake
from ..strategy.wake import DailyCloses

_END_OF_TIME = np.iinfo(np.int64).max


def daily_closes(market, symbols) -> dict[str, DailyCloses]:
    """The whole daily history of ``symbols`` the market has (those it lacks are left out).

    ``market`` is the backtest's own copy: its clock is cleared first, so every bar is seen."""
    market.as_of = None
    known = [s for s in symbols if s in market]
    return {w.symbol: DailyCloses(w.view.label, w.view.end, w.view.close)
            for w in market.bar_windows(known, 0, int(_END_OF_TIME))}


def wake_mask(strategy: Strategy, settings, market, symbols, times_ns: np.ndarray) -> tuple[list, Wake] | None:
    """Per iteration time, the symbols the strategy's wake rule signals (a list, maybe empty),
    and the rule; None without a rule."""
    closes = daily_closes(market, symbols)
    rule = strategy.wake(closes, settings.copy())
    if rule is None:
        return None
    if not isinstance(rule, Wake):
        raise TypeError(f"{type(strategy).__name__}.wake() returned {type(rule).__name__}, not a Wake or None")
    for name, example, top in (("max_weight", "0.15", None), ("trail_pct", "0.05", 1)):
        w = getattr(rule, name)
        if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float)) or not w > 0
                              or (top is not None and not w < top)):
            raise ValueError(f"{type(strategy).__name__}.wake(): {name}={w!r} is not allowed: use a fraction "
                             f"above 0{' and below 1' if top else ''} (e.g. {example}), or None")
    hits: list[list[str]] = [[] for _ in range(len(times_ns))]
    last_bar: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}  # per time grid (most symbols share one)
    for sym, flags in rule.signals.items():
        bars = closes.get(sym)
        if bars is None:
            raise ValueError(f"{type(strategy).__name__}.wake() gave signals for {sym!r}, which it was not "
                             f"given bars of (known: {', '.join(sorted(closes)) or 'none'})")
        flags = np.asarray(flags)
        if flags.dtype != bool or flags.shape != bars.close.shape:
            raise ValueError(f"{type(strategy).__name__}.wake(): the signals of {sym!r} must be a bool array "
                             f"of {len(bars.close)} flags, one per daily bar; got {flags.dtype} of shape {flags.shape}")
        key = bars.end.tobytes()
        if key not in last_bar:
            last = np.searchsorted(bars.end, times_ns, side="right") - 1  # the last complete bar at each time
            last_bar[key] = (np.maximum(last, 0), last >= 0)
        last, seen = last_bar[key]
        for k in np.flatnonzero(seen & flags[last]).tolist():
            hits[k].append(sym)
    return hits, rule


__all__ = ["daily_closes", "wake_mask"]
