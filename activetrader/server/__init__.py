"""A local Alpaca-compatible paper venue: the SimBroker and a market behind Alpaca's REST API.

Point any alpaca-py script at it (``url_override``) and it trades offline: ``Sandbox`` runs the
venue in a background thread (scripts, notebooks, tests); ``activetrader serve`` runs it from a
shell. See :mod:`.sandbox`, :mod:`.venue` (the broker behind a lock, the clock, events),
:mod:`.app` (the ASGI app), :mod:`.trading` and :mod:`.data` (the routes), :mod:`.admin`,
:mod:`.faults` and :mod:`.state`.
"""

from .app import create_app
from .faults import FaultRule
from .sandbox import Sandbox, build_broker, build_venue
from .venue import OrderChange, Venue

__all__ = ["Sandbox", "Venue", "OrderChange", "create_app", "build_broker", "build_venue", "FaultRule"]
