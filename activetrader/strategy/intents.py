"""Order intents: what the strategy wants done, as frozen data with a reason and numbers.

An intent is not an order. The executor turns each into broker orders (and owns the
``client_order_id``s); the report prints :meth:`describe` lines. A :class:`Plan` is the
ordered tuple of intents plus the decision data a report shows.

>>> p = ProtectPosition(symbol="AAPL", qty=10, take_profit=172.5, stop_loss=142.5,
...                     entry_price=150.0, reason="no broker-side stop")
>>> p.describe()
'PROTECT AAPL 10 sh: OCO take-profit $172.50 / stop $142.50 (entry $150.00) - no broker-side stop'
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Union


def _q(qty: float) -> str:
    return f"{qty:g}"


@dataclass(frozen=True, kw_only=True)
class ProtectPosition:
    """Sell OCO for ``qty`` whole shares: a take-profit limit and a stop-loss stop."""

    symbol: str
    qty: float
    take_profit: float
    stop_loss: float
    entry_price: float
    reason: str

    def describe(self) -> str:
        return (f"PROTECT {self.symbol} {_q(self.qty)} sh: OCO take-profit ${self.take_profit:,.2f}"
                f" / stop ${self.stop_loss:,.2f} (entry ${self.entry_price:,.2f}) - {self.reason}")


@dataclass(frozen=True, kw_only=True)
class ExitPosition:
    """Market sell of ``qty`` because the price is already beyond the stop. Orders listed
    in ``cancel_order_ids`` hold shares and are cancelled first."""

    symbol: str
    qty: float
    price: float
    stop_loss: float
    reason: str
    cancel_order_ids: tuple[str, ...] = ()

    def describe(self) -> str:
        return (f"EXIT {self.symbol} {_q(self.qty)} sh at market (price ${self.price:,.2f}"
                f" <= stop ${self.stop_loss:,.2f}) - {self.reason}")


@dataclass(frozen=True, kw_only=True)
class EnterBracket:
    """Market buy of ``qty`` whole shares with a take-profit and a stop-loss leg.

    ``purpose`` is ``"entry"`` (an oversold watchlist name) or ``"hedge"`` (the inverse
    ETF); ``rsi`` and ``confidence`` are the numbers that justified it (None for a hedge).
    """

    symbol: str
    qty: float
    reference_price: float
    take_profit: float
    stop_loss: float
    reason: str
    purpose: str = "entry"
    rsi: float | None = None
    confidence: float | None = None

    @property
    def cost(self) -> float:
        """Estimated cash spent: ``qty × reference_price``."""
        return self.qty * self.reference_price

    def describe(self) -> str:
        extra = "" if self.rsi is None else f", RSI {self.rsi:.1f}"
        extra += "" if self.confidence is None else f", confidence {self.confidence:.2f}"
        return (f"{'HEDGE' if self.purpose == 'hedge' else 'ENTER'} {self.symbol} "
                f"{_q(self.qty)} sh @ ~${self.reference_price:,.2f} bracket take-profit "
                f"${self.take_profit:,.2f} / stop ${self.stop_loss:,.2f}{extra} - {self.reason}")


@dataclass(frozen=True, kw_only=True)
class EnterPosition:
    """Market buy of ``qty`` whole shares with *no* exit orders: a position meant to be held
    (the passive baseline, :class:`~activetrader.strategy.BuyAndHold`). The caps size it like
    an entry (position cap, inverse cap, cash); unlike a bracket it may add to a position.

    >>> EnterPosition(symbol="KO", qty=10, reference_price=60.0, reason="buy and hold").describe()
    'BUY KO 10 sh @ ~$60.00 at market, no exit orders - buy and hold'
    """

    symbol: str
    qty: float
    reference_price: float
    reason: str
    purpose: str = "entry"

    @property
    def cost(self) -> float:
        """Estimated cash spent: ``qty × reference_price``."""
        return self.qty * self.reference_price

    def describe(self) -> str:
        return (f"BUY {self.symbol} {_q(self.qty)} sh @ ~${self.reference_price:,.2f} at market, "
                f"no exit orders - {self.reason}")


@dataclass(frozen=True, kw_only=True)
class TrimPosition:
    """Sell the excess of an oversized position, as one composite step.

    The executor: (1) cancels ``cancel_order_ids`` (exit legs holding the shares, may be
    empty); (2) sells ``sell_qty`` at market; (3) places ``reprotect`` (an OCO for the
    part of the ``remaining_qty`` no kept stop covers, at the original levels). If (2) fails it
    places the same OCO for the unsold shares too (``sell_qty + reprotect.qty``), so shares
    are never left unprotected. ``reprotect`` is None when nothing needs re-protecting.
    """

    symbol: str
    sell_qty: float
    remaining_qty: float
    price: float
    weight_before: float
    weight_after: float
    reason: str
    cancel_order_ids: tuple[str, ...] = ()
    reprotect: ProtectPosition | None = None

    @property
    def proceeds(self) -> float:
        """Estimated cash from the sale: ``sell_qty × price``."""
        return self.sell_qty * self.price

    def describe(self) -> str:
        steps = f"cancel {len(self.cancel_order_ids)} leg(s), " if self.cancel_order_ids else ""
        steps += f"sell {_q(self.sell_qty)} sh @ ~${self.price:,.2f}"
        if self.reprotect is not None:
            steps += (f", re-protect {_q(self.reprotect.qty)} sh (take-profit "
                      f"${self.reprotect.take_profit:,.2f} / stop ${self.reprotect.stop_loss:,.2f})")
        return (f"TRIM {self.symbol} {self.weight_before:.1%} -> {self.weight_after:.1%}: "
                f"{steps} - {self.reason}")


@dataclass(frozen=True, kw_only=True)
class RaiseStop:
    """Move a live stop leg up to ``new_stop`` (a trailing stop's ratchet; see
    :mod:`activetrader.strategy.trailing`). ``order_id`` is the stop order replaced,
    ``old_stop`` its stop, ``high`` the price that lifted it.

    >>> RaiseStop(symbol="AAPL", order_id="sl-1", old_stop=142.5, new_stop=152.0, high=160.0,
    ...           reason="trailing 5%").describe()
    'TRAIL AAPL stop $142.50 -> $152.00 (high $160.00) - trailing 5%'
    """

    symbol: str
    order_id: str
    old_stop: float
    new_stop: float
    high: float
    reason: str

    def describe(self) -> str:
        return (f"TRAIL {self.symbol} stop ${self.old_stop:,.2f} -> ${self.new_stop:,.2f}"
                f" (high ${self.high:,.2f}) - {self.reason}")


@dataclass(frozen=True, kw_only=True)
class PlanWarning:
    """Something the user should know that is not an order (e.g. a position near its stop).

    Named ``PlanWarning`` so it does not shadow Python's built-in ``Warning``; the name
    ``Warning`` is kept as an alias in this module only.
    """

    symbol: str | None
    message: str

    def describe(self) -> str:
        return f"WARNING {self.symbol or '-'}: {self.message}"


Warning = PlanWarning  # noqa: A001 - the issue's name; prefer PlanWarning


@dataclass(frozen=True, kw_only=True)
class Skipped:
    """A decision *not* to act, with its reason (e.g. no cash for an oversold name)."""

    step: str
    symbol: str | None
    reason: str

    def describe(self) -> str:
        return f"SKIP {self.step} {self.symbol or '-'}: {self.reason}"


Intent = Union[ProtectPosition, ExitPosition, EnterBracket, EnterPosition, TrimPosition, RaiseStop]


def intent_fields(intent: Intent) -> dict:
    """An intent's fields as plain data (tuples as lists), for journals and JSON.

    >>> intent_fields(PlanWarning(symbol="PG", message="near stop"))
    {'symbol': 'PG', 'message': 'near stop'}
    """
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(intent).items()}


@dataclass(frozen=True, kw_only=True)
class Plan:
    """The strategy's decision: ordered intents plus what the report shows.

    ``sentiment`` maps each sentiment symbol to its RSI (None: not enough bars, counted as
    not overbought); ``bearish_ratio`` is the observed share above ``overbought``;
    ``watchlist_rsi`` does the same for the entry scan; ``cash_after`` estimates cash once
    every intent has filled at current prices.

    >>> plan = Plan(intents=(), cash_after=100.0)
    >>> len(plan), list(plan), plan.bearish
    (0, [], False)
    """

    intents: tuple[Intent, ...] = ()
    sentiment: dict[str, float | None] = field(default_factory=dict)
    bearish_ratio: float = 0.0
    bearish: bool = False
    warnings: tuple[PlanWarning, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    watchlist_rsi: dict[str, float | None] = field(default_factory=dict)
    cash_after: float = 0.0

    def __iter__(self) -> Iterator[Intent]:
        return iter(self.intents)

    def __len__(self) -> int:
        return len(self.intents)

    def of_type(self, kind: type) -> tuple:
        """The intents that are instances of ``kind``, in plan order."""
        return tuple(i for i in self.intents if isinstance(i, kind))

    def for_symbol(self, symbol: str) -> tuple[Intent, ...]:
        """The intents about ``symbol``, in plan order."""
        return tuple(i for i in self.intents if i.symbol == symbol)

    def describe(self) -> str:
        """The plan as narrative lines: intents, then warnings, then skipped decisions."""
        rows = [*self.intents, *self.warnings, *self.skipped]
        return "\n".join(r.describe() for r in rows) or "nothing to do"


__all__ = [
    "EnterBracket",
    "EnterPosition",
    "ExitPosition",
    "Intent",
    "Plan",
    "PlanWarning",
    "ProtectPosition",
    "RaiseStop",
    "Skipped",
    "TrimPosition",
]  # not "Warning": a star-import must not shadow the built-in
