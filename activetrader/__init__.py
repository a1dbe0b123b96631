"""activetrader: run and understand an active trading strategy on Alpaca, from Jupyter.

>>> from activetrader import Trader, Settings
>>> trader = Trader()                  # simulated market + SimBroker, $100,000, no keys
>>> trader.settings.bracket.stop_loss_pct
0.05
"""

from .settings import Settings, SettingsError
from .trader import Trader
from .report import IterationReport, OrderOutcome

__all__ = ["Trader", "Settings", "SettingsError", "IterationReport", "OrderOutcome"]
__version__ = "0.1.0"


def load_ipython_extension(ipython):  # pragma: no cover - filled in by the notebook layer
    from .notebook import load_ipython_extension as _load

    _load(ipython)
