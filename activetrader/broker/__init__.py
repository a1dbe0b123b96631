"""Brokers behind one TradingClient-shaped seam: the in-process :class:`SimBroker` (and, later,
alpaca-py's own ``TradingClient``)."""

from .errors import api_error
from .fills import bar_path, first_touch
from .lifecycle import InvalidTransition
from .sim import Fill, SimBroker

__all__ = ["SimBroker", "Fill", "api_error", "bar_path", "first_touch", "InvalidTransition"]
