"""Pure decision core: snapshot in, plan out (no broker, clock, file or network).

``Strategy.decide(snapshot, settings) -> Plan``. :class:`CombinedStrategy` is the guide's
strategy (protect, rebalance, hedge, enter); subclass it and override a hook
(:meth:`~Strategy.confidence`, :meth:`~Strategy.filter_entry`, :meth:`~Strategy.on_plan`)
or a step. :func:`enforce_caps` always has the last word.

>>> snap = Snapshot.from_simple(cash=100_000)
>>> plan = CombinedStrategy().decide(snap)
>>> plan.intents, plan.bearish
((), False)
"""

from .base import Strategy, StrategyError
from .caps import INVERSE_ETFS, enforce_caps
from .combined import CombinedStrategy
from .draft import Draft
from .indicators import rsi, rsi_by_symbol
from .intents import (EnterBracket, EnterPosition, ExitPosition, Intent, Plan, PlanWarning, ProtectPosition,
                      Skipped, TrimPosition)
from .levels import bracket_levels, round_price
from .passive import BuyAndHold
from .simple import RsiBracket
from .snapshot import AccountView, OrderView, PositionView, Snapshot
from .wake import DailyCloses, Wake

__all__ = [
    "INVERSE_ETFS",
    "AccountView",
    "BuyAndHold",
    "CombinedStrategy",
    "DailyCloses",
    "Draft",
    "EnterBracket",
    "EnterPosition",
    "ExitPosition",
    "Intent",
    "OrderView",
    "Plan",
    "PlanWarning",
    "PositionView",
    "ProtectPosition",
    "RsiBracket",
    "Skipped",
    "Snapshot",
    "Strategy",
    "StrategyError",
    "TrimPosition",
    "Wake",
    "bracket_levels",
    "enforce_caps",
    "round_price",
    "rsi",
    "rsi_by_symbol",
]
