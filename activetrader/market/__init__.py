"""Price sources behind one small protocol: simulated, historical (and Alpaca via alpaca-py).

>>> from activetrader.market import SimulatedMarket
>>> "SPY" in SimulatedMarket(symbols=["AAPL"])
True
"""

from .base import BarArrays, Market, UnknownSymbolError
from .historical import HistoricalMarket
from .sessions import MarketCalendar
from .simulated import SimulatedMarket

__all__ = ["Market", "BarArrays", "UnknownSymbolError", "MarketCalendar", "SimulatedMarket", "HistoricalMarket"]
