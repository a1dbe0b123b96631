"""The numbers of a backtest, each defined once (the :class:`~activetrader.backtest.BacktestResult`
docstring repeats the definitions for users).

Returns are fractions (0.05 is 5%). "Daily equity" is the last equity point of each New York
date; annualising uses 252 sessions a year and a risk-free rate of 0. Trade statistics count
*closed* round trips only (``exit_reason != "open"``).

>>> eq = pd.Series([100.0, 200.0, 150.0, 250.0],
...                index=pd.date_range("2024-01-02 09:00", periods=4, freq="D", tz="America/New_York"))
>>> drawdown(eq).tolist()
[0.0, 0.0, -0.25, 0.0]
>>> s = compute(eq, pd.DataFrame(columns=["exit_reason", "pnl", "return_pct", "gap"]), iterations=3, elapsed_s=0.5)
>>> float(s["total_return"]), float(s["max_drawdown"]), int(s["iterations"])
(1.5, -0.25, 3)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..market.sessions import ET

#: The index of ``BacktestResult.stats``, in order.
STATS = ("total_return", "cagr", "volatility", "sharpe", "max_drawdown", "win_rate", "avg_win", "avg_loss",
         "profit_factor", "worst_trade", "gapped_stops", "worst_gap_loss", "exposure", "inverse_exposure",
         "iterations", "elapsed_s")
#: Which stats read as percentages (the rest are plain numbers), for reprs and tables.
PERCENT = frozenset({"total_return", "cagr", "volatility", "max_drawdown", "win_rate", "avg_win", "avg_loss",
                     "worst_trade", "worst_gap_loss", "exposure", "inverse_exposure"})
SESSIONS_PER_YEAR = 252
_YEAR_S = 365.25 * 86_400


def drawdown(equity: pd.Series) -> pd.Series:
    """``equity / running maximum - 1``: 0 at a new high, -0.1 ten percent below the best so far."""
    return equity / equity.cummax() - 1


def daily_returns(equity: pd.Series) -> pd.Series:
    """Returns between the last equity points of consecutive New York dates."""
    if equity.empty:
        return equity
    days = equity.index.tz_convert(ET).normalize()
    daily = equity.groupby(days).last()
    return daily.pct_change().dropna()


def compute(equity: pd.Series, trades: pd.DataFrame, *, iterations: int, elapsed_s: float, initial: float | None = None,
            exposure: float = math.nan, inverse_exposure: float = math.nan) -> pd.Series:
    """Every stat of :data:`STATS` from the equity curve and the round trips; returns are measured
    from ``initial`` (the starting cash; default the first equity point)."""
    nan = math.nan
    first, last = (float(equity.iloc[0]), float(equity.iloc[-1])) if len(equity) else (nan, nan)
    first = first if initial is None else float(initial)
    total = last / first - 1 if first else nan
    years = (equity.index[-1] - equity.index[0]).total_seconds() / _YEAR_S if len(equity) > 1 else 0.0
    cagr = (last / first) ** (1 / years) - 1 if years > 0 and first and last > 0 else nan
    r = daily_returns(equity)
    sd = float(r.std(ddof=1)) if len(r) > 1 else nan
    volatility = sd * math.sqrt(SESSIONS_PER_YEAR)
    sharpe = float(r.mean()) / sd * math.sqrt(SESSIONS_PER_YEAR) if sd and sd == sd else nan
    closed = trades[trades["exit_reason"] != "open"]
    pnl, ret = closed["pnl"].astype(float), closed["return_pct"].astype(float)
    wins, losses = ret[pnl > 0], ret[pnl < 0]
    gross_win, gross_loss = float(pnl[pnl > 0].sum()), float(-pnl[pnl < 0].sum())
    profit_factor = (gross_win / gross_loss if gross_loss else (math.inf if gross_win else nan)) if len(closed) else nan
    gapped = closed[(closed["exit_reason"] == "stop_loss") & closed["gap"].astype(bool)]
    values = {
        "total_return": total, "cagr": cagr, "volatility": volatility, "sharpe": sharpe,
        "max_drawdown": float(drawdown(equity).min()) if len(equity) else nan,
        "win_rate": len(wins) / len(closed) if len(closed) else nan,
        "avg_win": float(wins.mean()) if len(wins) else nan,
        "avg_loss": float(losses.mean()) if len(losses) else nan,
        "profit_factor": profit_factor,
        "worst_trade": float(ret.min()) if len(ret) else nan,
        "gapped_stops": len(gapped),
        "worst_gap_loss": float(gapped["return_pct"].min()) if len(gapped) else nan,
        "exposure": exposure, "inverse_exposure": inverse_exposure,
        "iterations": iterations, "elapsed_s": elapsed_s,
    }
    return pd.Series([values[k] for k in STATS], index=list(STATS), dtype=float, name="stats")


def exposures(equity: pd.Series, fills, market, inverse: set[str]) -> tuple[float, float]:
    """Average fraction of equity held in positions other than ``inverse`` ETFs, and in them.

    Positions are rebuilt from the fills at each equity point (fills up to and including it)
    and valued at the last close complete by then, as the broker values them.
    """
    if equity.empty:
        return math.nan, math.nan
    times = equity.index.tz_convert("UTC").asi8
    value = {False: np.zeros(len(times)), True: np.zeros(len(times))}
    by_symbol: dict[str, list] = {}
    for f in fills:
        by_symbol.setdefault(f.symbol, []).append((int(f.timestamp.value), f.qty if f.side == "buy" else -f.qty))
    for symbol, moves in by_symbol.items():
        t = np.array([m[0] for m in moves], dtype=np.int64)
        held = np.r_[0.0, np.cumsum([m[1] for m in moves])][np.searchsorted(t, times, side="right")]
        a = market.arrays(symbol)
        i = np.searchsorted(a.end, times, side="right")
        price = np.where(i > 0, a.close[np.maximum(i - 1, 0)], a.open[0])
        value[symbol in inverse] += held * price
    eq = equity.to_numpy(dtype=float)
    return float(np.mean(value[False] / eq)), float(np.mean(value[True] / eq))
