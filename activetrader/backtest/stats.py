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
#: What each stat means, in a line (tooltips of the BacktestPanel; ``help(BacktestResult)`` says more).
STAT_TEXT = {
    "total_return": "final equity / starting cash - 1",
    "cagr": "compound annual growth rate",
    "volatility": "annualised standard deviation of daily returns",
    "sharpe": "annualised mean / standard deviation of daily returns (risk-free rate 0)",
    "max_drawdown": "deepest fall below a previous equity high",
    "win_rate": "share of closed round trips that made money",
    "avg_win": "mean return of the winning round trips",
    "avg_loss": "mean return of the losing round trips",
    "profit_factor": "gross profit / gross loss",
    "worst_trade": "lowest return of a closed round trip",
    "gapped_stops": "stop-loss exits filled worse than their stop (the bar opened below it)",
    "worst_gap_loss": "worst return among those gapped stop exits",
    "exposure": "average share of equity in (non-inverse) positions",
    "inverse_exposure": "average share of equity in inverse ETFs",
    "iterations": "iterations run",
    "elapsed_s": "wall-clock time of the run",
}
#: Which stats read as percentages (the rest are plain numbers), for reprs and tables.
PERCENT = frozenset({"total_return", "cagr", "volatility", "max_drawdown", "win_rate", "avg_win", "avg_loss",
                     "worst_trade", "worst_gap_loss", "exposure", "inverse_exposure"})
SESSIONS_PER_YEAR = 252
_YEAR_S = 365.25 * 86_400


def drawdown(equity: pd.Series) -> pd.Series:
    """``equity / running maximum - 1``: 0 at a new high, -0.1 ten percent below the best so far."""
    return equity / equity.cummax() - 1


def _day_ends(index: pd.DatetimeIndex) -> np.ndarray:
    """Positions of the last point of each New York date in a sorted index."""
    day = index.tz_convert(ET).tz_localize(None).asi8 // 86_400_000_000_000
    return np.flatnonzero(np.r_[day[1:] != day[:-1], True])


def compute(equity: pd.Series, trades: pd.DataFrame, *, iterations: int, elapsed_s: float, initial: float | None = None,
            exposure: float = math.nan, inverse_exposure: float = math.nan) -> pd.Series:
    """Every stat of :data:`STATS` from the equity curve and the round trips; returns are measured
    from ``initial`` (the starting cash; default the first equity point)."""
    nan = math.nan
    e = equity.to_numpy(dtype=float)
    first, last = (float(e[0]), float(e[-1])) if len(e) else (nan, nan)
    first = first if initial is None else float(initial)
    total = last / first - 1 if first else nan
    years = (equity.index[-1] - equity.index[0]).total_seconds() / _YEAR_S if len(e) > 1 else 0.0
    cagr = (last / first) ** (1 / years) - 1 if years > 0 and first and last > 0 else nan
    with np.errstate(divide="ignore", invalid="ignore"):
        daily = e[_day_ends(equity.index)] if len(e) else e
        r = daily[1:] / daily[:-1] - 1
        r = r[~np.isnan(r)]  # as pandas' pct_change().dropna(): 0/0 is dropped, x/0 is kept
        sd = float(np.std(r, ddof=1)) if len(r) > 1 else nan
        sharpe = float(np.mean(r)) / sd * math.sqrt(SESSIONS_PER_YEAR) if sd and sd == sd else nan
    volatility = sd * math.sqrt(SESSIONS_PER_YEAR)
    closed = (trades["exit_reason"] != "open").to_numpy()
    reason = trades["exit_reason"].to_numpy()[closed]
    pnl = trades["pnl"].to_numpy(dtype=float)[closed]
    ret = trades["return_pct"].to_numpy(dtype=float)[closed]
    gapped = ret[(reason == "stop_loss") & trades["gap"].to_numpy(dtype=bool)[closed]]
    wins, losses = ret[pnl > 0], ret[pnl < 0]
    gross_win, gross_loss = float(pnl[pnl > 0].sum()), float(-pnl[pnl < 0].sum())
    n = len(pnl)
    profit_factor = (gross_win / gross_loss if gross_loss else (math.inf if gross_win else nan)) if n else nan
    values = {
        "total_return": total, "cagr": cagr, "volatility": volatility, "sharpe": sharpe,
        "max_drawdown": float(drawdown(equity).min()) if len(e) else nan,
        "win_rate": len(wins) / n if n else nan,
        "avg_win": float(np.mean(wins)) if len(wins) else nan,
        "avg_loss": float(np.mean(losses)) if len(losses) else nan,
        "profit_factor": profit_factor,
        "worst_trade": float(np.nanmin(ret)) if len(ret) and not np.isnan(ret).all() else nan,
        "gapped_stops": len(gapped),
        "worst_gap_loss": float(np.nanmin(gapped)) if len(gapped) and not np.isnan(gapped).all() else nan,
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
