"""activetrader: run and understand an active trading strategy on Alpaca, from Jupyter.

>>> from activetrader import Trader, Settings
>>> trader = Trader()                  # simulated market + SimBroker, $100,000, no keys
>>> trader.settings.bracket.stop_loss_pct
0.05
"""

from .settings import Settings, SettingsError
from .trader import Trader
from .report import IterationReport, OrderOutcome
from .backtest import BacktestResult, backtest, compare  # noqa: E402 - the function shadows its package name
from .sweep import SweepResult, sweep, walk_forward  # noqa: E402 - the function shadows its package name

__all__ = ["Trader", "Settings", "SettingsError", "IterationReport", "OrderOutcome", "backtest", "compare",
           "BacktestResult", "sweep", "walk_forward", "SweepResult"]
__version__ = "0.1.0"


def load_ipython_extension(ipython):  # pragma: no cover - filled in by the notebook layer
    from .notebook import load_ipython_extension as _load

    _load(ipython)
