"""Backtests through the live code path: the same Trader, strategy and SimBroker on a simulated clock.

:func:`backtest` replays a market and returns a :class:`BacktestResult` (equity, drawdown,
round trips, orders, stats, per-iteration reports, a plot); :func:`compare` puts results side
by side, e.g. the active strategy against the passive
:class:`~activetrader.strategy.BuyAndHold` baseline.

>>> from activetrader import backtest, compare
>>> from activetrader.scenario import default_market
>>> from activetrader.strategy import BuyAndHold
>>> market = default_market()
>>> active = backtest(market, start="2024-01-02", end="2024-06-28")
>>> passive = backtest(market, BuyAndHold(), start="2024-01-02", end="2024-06-28")
>>> list(compare({"passive": passive, "active": active}).table.columns)
['passive', 'active']
"""

from .compare import Comparison, compare
from .result import BacktestResult
from .run import backtest
from .stats import STATS

__all__ = ["BacktestResult", "Comparison", "STATS", "backtest", "compare"]
