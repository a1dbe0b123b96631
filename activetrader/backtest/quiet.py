"""Quiet iterations: which ones a backtest may skip, and the account's value at them.

A strategy with a wake rule (:meth:`Strategy.wake <activetrader.strategy.Strategy.wake>`,
:mod:`activetrader.strategy.wake`) says from the bars alone when its plan may be non-empty.
:func:`wake_mask` turns the rule into one flag per iteration time; the backtest runs the live
iteration where a flag is set (or a broker event the rule names happened) and skips the
others: their plan is empty, so nothing would be submitted. The broker still advances to every
iteration time (resting orders fill as before); :func:`equity_at` then values the account at
the skipped times by replaying the broker's fills, with the very arithmetic of
:class:`~activetrader.broker.SimBroker` (same order of operations, so the same floats), so the
equity curve is the one a run of every iteration gives (tests/test_backtest_quiet.py).
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


def equity_at(broker, times_ns: list[int], fills_upto: list[int], cash: float, wanted: list[bool]) -> list:
    """The account equity at each of ``times_ns`` where ``wanted`` (None elsewhere), when
    ``fills_upto[k]`` of the broker's fills had happened: cash and positions replayed from those
    fills as ``SimBroker._fill`` books them, positions valued at ``last_price`` (the close of the
    last bar complete then, the first open before any), rounded to cents as ``native_account``
    reports it."""
    fills = broker.fills
    prices: dict[str, list[float]] = {}
    for sym in {f.symbol for f in fills[: fills_upto[-1] if fills_upto else 0]}:
        arr = broker.market.arrays(sym)
        i = np.searchsorted(arr.end, np.asarray(times_ns, dtype=np.int64), side="right")
        prices[sym] = np.where(i > 0, arr.close[np.maximum(i - 1, 0)], arr.open[0]).tolist()
    held: dict[str, float] = {}  # insertion order = the broker's positions dict: the same sum
    out, j = [], 0
    for k, upto in enumerate(fills_upto):
        for f in fills[j:upto]:
            if f.side == "buy":
                held[f.symbol] = held.get(f.symbol, 0.0) + f.qty
                cash -= f.qty * f.price
            else:
                left = held[f.symbol] - f.qty
                cash += f.qty * f.price
                if abs(left) < 1e-9:
                    del held[f.symbol]
                else:
                    held[f.symbol] = left
        j = upto
        if wanted[k]:
            lmv = sum(q * prices[s][k] for s, q in held.items())
            out.append(float(f"{cash + lmv:.2f}"))
        else:
            out.append(None)
    return out


__all__ = ["daily_closes", "equity_at", "wake_mask"]
