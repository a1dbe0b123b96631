"""The simple rule for the peer engines, in plain numpy/pandas (importable from both venvs).

activetrader's :class:`~activetrader.strategy.RsiBracket` decides on the Wilder RSI(14) of the
last ``lookback`` closes (the project's lookback rule, ``entry.lookback_bars = 100``). The peers
get the *same* signal, so every engine does the same work: :func:`tail_rsi` computes that RSI
for every bar at once in O(bars) with an exponential filter (no per-bar window loop), and
:func:`bracket` the same cent-rounded levels and whole-share size as the strategy.

The window identity: with ``a = (p - 1) / p`` and ``F`` any solution of ``F[t] = a F[t-1] +
x[t] / p`` (an ``ewm(alpha=1/p, adjust=False)``), Wilder's average over the window that ends at
``t``, seeded with the mean ``R`` of its first ``p`` changes and smoothed over the ``m`` changes
after them, is ``F[t] + a**m * (R[t-m] - F[t-m])``.

>>> closes = 100 + np.cumsum(np.sin(np.arange(300.0)))
>>> v = tail_rsi(closes[:, None], period=14, lookback=100)[:, 0]
>>> def by_hand(window, p=14):              # Wilder's recursion over one window
...     ch = np.diff(window); g, l = ch.clip(0).tolist(), (-ch).clip(0).tolist()
...     ag, al = sum(g[:p]) / p, sum(l[:p]) / p
...     for x, y in zip(g[p:], l[p:]):
...         ag, al = (ag * (p - 1) + x) / p, (al * (p - 1) + y) / p
...     return 100 * ag / (ag + al)
>>> bool(np.isnan(v[:99]).all()), bool(abs(v[150] - by_hand(closes[51:151])) < 1e-9)
(True, True)
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

PERIOD, LOOKBACK, OVERSOLD = 14, 100, 30.0
STOP_LOSS_PCT, TAKE_PROFIT_PCT = 0.05, 0.15
DOLLARS = 10_000.0  # per entry, whole shares (floored)


def tail_rsi(close: np.ndarray, period: int = PERIOD, lookback: int = LOOKBACK) -> np.ndarray:
    """Wilder RSI(``period``) of the last ``lookback`` closes at every bar; shape (bars, series).

    NaN for the first ``lookback - 1`` bars (no full window); flat windows give 50, like the
    project's :func:`~activetrader.strategy.indicators.rsi`.
    """
    close = np.asarray(close, dtype=float)
    out = np.full(close.shape, np.nan)
    bars = close.shape[0]
    m = lookback - 1 - period  # smoothing steps after the seed
    if bars < lookback or m < 0:
        return out
    change = np.diff(close, axis=0)
    decay = ((period - 1) / period) ** m
    avgs = []
    for x in (np.maximum(change, 0.0), np.maximum(-change, 0.0)):
        ewm = pd.DataFrame(x).ewm(alpha=1.0 / period, adjust=False).mean().to_numpy()
        seed = pd.DataFrame(x).rolling(period).mean().to_numpy()
        avg = ewm[m:] + decay * (seed[:-m or None] - ewm[:-m or None])
        avgs.append(np.maximum(avg[period - 1:], 0.0))  # windows ending at bars lookback-1..
    gain, loss = avgs
    total = gain + loss
    scale = np.abs(close[lookback - 1:]) * 1e-12  # below this the window was flat
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(total <= scale, 50.0, 100.0 * gain / total)
    out[lookback - 1:] = value
    return out


def round_cents(price: float) -> float:
    """Nearest cent (4 decimals below $1), half up, as activetrader's ``round_price``."""
    tick = Decimal("0.01") if price >= 1.0 else Decimal("0.0001")
    return float(Decimal(f"{price:.8f}").quantize(tick, rounding=ROUND_HALF_UP))


def shares(close: float, dollars: float = DOLLARS) -> int:
    """Whole shares of ``dollars`` at ``close`` (0: no entry)."""
    return max(0, math.floor(dollars / close + 1e-6))


def bracket(close: float, dollars: float = DOLLARS) -> tuple[int, float, float]:
    """(shares, take-profit, stop) for an entry signalled at ``close``: :func:`shares`, levels
    at ±% of the close rounded to the cent."""
    return shares(close, dollars), round_cents(close * (1 + TAKE_PROFIT_PCT)), round_cents(close * (1 - STOP_LOSS_PCT))
