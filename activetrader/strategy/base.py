"""The strategy contract: ``decide(snapshot, settings) -> Plan``, pure and capped.

:meth:`Strategy.decide` is a *template method*: it resolves the settings, asks
:meth:`Strategy.propose` (the part a subclass writes) for a plan, passes it through the
:meth:`Strategy.on_plan` hook, and lets :func:`~activetrader.strategy.caps.enforce_caps`
have the last word. Subclasses therefore override ``propose`` or the hooks, never
``decide`` (defining it raises ``TypeError``), so no strategy can loosen the risk caps.

Hooks take ``**kwargs`` so that new arguments can be passed in later versions without
breaking your strategy, and they get copies, never the live objects.

>>> from activetrader.strategy.snapshot import Snapshot
>>> class DoNothing(Strategy):
...     def propose(self, snapshot, settings, **kwargs):
...         return Plan(cash_after=snapshot.account.cash)
>>> DoNothing().decide(Snapshot.from_simple(cash=1_000)).cash_after
1000.0
"""

from __future__ import annotations

import math
import weakref
from typing import Any, ClassVar

import pandas as pd

from activetrader.settings import Settings

from .caps import enforce_caps
from .intents import Plan
from .snapshot import Snapshot


#: id(strategy) -> its last settings copies (Strategy._copies), dropped with the strategy.
_COPIES: dict[int, tuple] = {}


class StrategyError(TypeError):
    """A strategy broke the contract (e.g. a hook returned something that is not a Plan)."""


class Strategy:
    """Base class of every strategy: implement :meth:`propose`, optionally override hooks.

    ``settings`` given to the constructor is used when :meth:`decide` gets none; with
    neither, :meth:`default_settings` builds one.
    """

    #: Bumped when a hook's meaning changes, like freqtrade's ``INTERFACE_VERSION``.
    INTERFACE_VERSION: ClassVar[int] = 1
    #: Extra symbols a strategy treats as inverse ETFs (the caps can only add to the list).
    INVERSE_ETFS: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "decide" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} defines decide(): override propose() or a hook instead. "
                "decide() applies the risk caps last, so no strategy can loosen them.")

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    # -- the template ------------------------------------------------------------------
    def decide(self, snapshot: Snapshot, settings: Settings | None = None) -> Plan:
        """The plan for ``snapshot``: :meth:`propose`, then :meth:`on_plan`, then the caps.

        ``settings`` wins over the instance's, which wins over :meth:`default_settings`.
        The strategy and its hooks see a copy; the caps are checked against the original.
        """
        chosen = settings if settings is not None else self.settings
        rules, work = self._copies(chosen if chosen is not None else self.default_settings())
        plan = self.propose(snapshot, work)
        if not isinstance(plan, Plan):
            raise StrategyError(f"{type(self).__name__}.propose() returned "
                                f"{type(plan).__name__}, not a Plan (return statement missing?)")
        plan = self.on_plan(plan, snapshot=snapshot, settings=work)
        if not isinstance(plan, Plan):
            raise StrategyError(f"{type(self).__name__}.on_plan() returned "
                                f"{type(plan).__name__}, not a Plan (return statement missing?)")
        return enforce_caps(plan, snapshot, rules, inverse_etfs=self.INVERSE_ETFS)

    def _copies(self, chosen: Settings) -> tuple[Settings, Settings]:
        """The caps' copy of ``chosen`` and the strategy's working copy. Both are reused from
        the last call while ``chosen`` is the same object at the same
        :attr:`~activetrader.settings.Settings.version` and the working copy kept its version
        too; otherwise both are copied afresh, so a change on either side is seen by the next
        decision and a strategy's change to its copy never reaches the next one."""
        key = id(self)
        last = _COPIES.get(key)
        if last is not None and last[0] is chosen and last[1] == chosen.version and last[3].version == last[4]:
            return last[2], last[3]
        rules = chosen.copy()
        work = rules.copy()
        if last is None:  # kept beside the strategy, not in it: vars(strategy) stays the user's own
            try:
                weakref.finalize(self, _COPIES.pop, key, None)
            except TypeError:  # no weak references (__slots__): copy every time
                return rules, work
        _COPIES[key] = (chosen, chosen.version, rules, work, work.version)
        return rules, work

    def propose(self, snapshot: Snapshot, settings: Settings, **kwargs: Any) -> Plan:
        """Your strategy: return a :class:`Plan` for ``snapshot``. Must be overridden."""
        raise NotImplementedError(f"{type(self).__name__} must implement propose()")

    def universe(self, settings: Settings) -> list[str]:
        """Every symbol a decision may look at, sorted: the Trader fetches bars for these (and
        for what the account holds). Default: the hedge's sentiment symbols, the watchlist and
        the inverse ETF; a strategy that trades other names adds them.

        >>> Strategy().universe(Settings())[:4]
        ['AAPL', 'AMD', 'AMZN', 'GOOGL']
        """
        return sorted({*settings.hedge.sentiment_symbols, *settings.entry.watchlist, settings.hedge.inverse_etf})

    def wake(self, closes, settings: Settings, **kwargs: Any):
        """When this strategy can have something to do, for a backtest to skip the rest.

        ``closes`` maps each symbol of the universe to its
        :class:`~activetrader.strategy.wake.DailyCloses` (the whole history). Return a
        :class:`~activetrader.strategy.wake.Wake`, or None (the default): run every iteration.
        A rule must be *necessary*: an iteration it lets a backtest skip must have an empty
        plan. See :mod:`activetrader.strategy.wake`.
        """
        return None

    def default_settings(self) -> Settings:
        """Settings used when none are given: ``Settings()`` (subclasses add class defaults)."""
        return Settings()

    # -- hooks (documented defaults) --------------------------------------------------------
    def confidence(self, symbol: str, rsi: float, closes: pd.Series, **kwargs: Any) -> float:
        """How sure we are that an oversold ``symbol`` is a good entry, in [0, 1].

        Default: ``0.5 + (oversold - rsi) / oversold``, clipped to [0, 1]. At the oversold
        line it is a coin flip (0.5); every point below adds ``1/oversold``; at half the
        oversold level it is 1. With the defaults (oversold 30, threshold 0.6) a name is
        bought from RSI 27 down. ``closes`` is a copy of the symbol's closes (None for this
        default, which does not read them), ``kwargs`` holds ``oversold``, ``snapshot`` and
        ``settings``. Override to plug in a model.

        >>> s = Strategy()
        >>> s.confidence("X", 27.0, None, oversold=30.0), s.confidence("X", 10.0, None)
        (0.6, 1.0)
        """
        oversold = float(kwargs.get("oversold", 30.0))
        if rsi is None or math.isnan(rsi) or oversold <= 0:
            return 0.0
        return min(1.0, max(0.0, 0.5 + (oversold - rsi) / oversold))

    def filter_entry(self, symbol: str, **kwargs: Any) -> bool:
        """Veto an entry candidate (return False). Default: keep every candidate.

        ``kwargs`` holds ``rsi``, ``confidence``, ``price``, ``snapshot`` and ``settings``.
        """
        return True

    def on_plan(self, plan: Plan, **kwargs: Any) -> Plan:
        """Adjust the finished plan before the caps are applied. Default: return it as is.

        ``kwargs`` holds ``snapshot`` and ``settings``. Whatever you return still goes
        through :func:`~activetrader.strategy.caps.enforce_caps`.
        """
        return plan

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


__all__ = ["Strategy", "StrategyError"]
