"""The simulator's own order record, and its conversion to alpaca-py's ``Order`` at the edge.

Inside the engine an order is a small mutable record of plain floats and int-ns times (fast);
only when a caller asks does it become an ``alpaca.trading.models.Order``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field

from alpaca.trading.models import Order

from .lifecycle import OPEN_STATUSES, transition
from ..market.sessions import from_ns

_NS = uuid.UUID("6f1d3c1e-7a53-4b4a-9d0e-6163746976e5")


def asset_id(symbol: str) -> uuid.UUID:
    """A stable asset id per symbol (as Alpaca's are stable)."""
    return uuid.uuid5(_NS, "asset:" + symbol)


#: The namespace of the simulator's ids (uuid5 of "order:<seq>" for orders, "account" for the account).
SIM_ID_NS = uuid.UUID("0f6c2a4e-5b1d-4c4e-8f7a-73696d62726b")
_SIM_ID_SHA1 = hashlib.sha1(SIM_ID_NS.bytes)  # uuid5's hash, primed with the namespace
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # a hex digit with its top bits 10


def order_id(seq: int) -> str:
    """The id of the ``seq``-th order: ``str(uuid.uuid5(SIM_ID_NS, f"order:{seq}"))``, computed
    without building a UUID object (ids are made on every submission).

    >>> order_id(1) == str(uuid.uuid5(SIM_ID_NS, "order:1"))
    True
    """
    h = _SIM_ID_SHA1.copy()
    h.update(b"order:%d" % seq)
    x = h.hexdigest()  # the first 32 hex digits, with the version digit 5 and the variant bits 10
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"


def enum_value(x):
    """An alpaca-py request field (a ``str`` Enum) or a plain value, as the plain value."""
    return getattr(x, "value", x)


def fmt_qty(q: float) -> str:
    """A share quantity as Alpaca writes it: ``"10"`` for whole shares, else up to 9 decimals."""
    return str(int(round(q))) if abs(q - round(q)) < 1e-9 else repr(round(q, 9))


def qty_number(q: float) -> float:
    """``float(fmt_qty(q))``, what a reader of the written quantity gets, without the text.

    >>> qty_number(10.0000000001), qty_number(0.1234567891)
    (10.0, 0.123456789)
    """
    r = round(q)
    return float(r) if abs(q - r) < 1e-9 else round(q, 9)


def _num(x: float | None) -> str | None:
    if x is None:
        return None
    return repr(float(x)) if x != int(x) else str(int(x))


@dataclass(slots=True, eq=False)
class SimOrder:
    id: str
    client_order_id: str
    symbol: str
    side: str  # "buy" | "sell"
    type: str  # market | limit | stop | stop_limit | trailing_stop
    time_in_force: str
    qty: float | None
    notional: float | None
    order_class: str  # simple | bracket | oco | oto
    status: str
    created_ns: int
    seq: int = 0  # submission order, to sort orders created at the same instant
    extended_hours: bool = False
    limit_price: float | None = None
    stop_price: float | None = None
    trail_percent: float | None = None
    trail_price: float | None = None
    hwm: float | None = None
    #: Bars starting before this instant are invisible to the order (no look-ahead).
    active_from_ns: int = 0
    expires_ns: int | None = None
    #: What happens at ``expires_ns``: "expire" (DAY) or "cancel" (the 90-day GTC policy).
    expiry_event: str = "expire"
    updated_ns: int = 0
    filled_ns: int | None = None
    canceled_ns: int | None = None
    expired_ns: int | None = None
    replaced_ns: int | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    #: A stop_limit (or converted buy stop) whose stop has been reached and now rests as a limit.
    elected: bool = False
    parent_id: str | None = None
    leg_ids: list[str] = field(default_factory=list)
    role: str | None = None  # entry | take_profit | stop_loss
    group_id: str | None = None
    #: (status, event, ns) history, for reports and tests.
    events: list[tuple[str, str, int]] = field(default_factory=list)
    #: An entry's: the earliest expiry of its waiting legs when that comes before its own
    #: (a leg replaced with another time in force; Engine._waiting_leg_replaced), else None.
    legs_expire_ns: int | None = None

    def __setstate__(self, state) -> None:
        """Unpickle (server/state.py), giving fields added since the state was saved their defaults."""
        self.legs_expire_ns = None
        for name, value in state[1].items():
            setattr(self, name, value)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def apply(self, event: str, ns: int) -> None:
        """Move through the lifecycle table and stamp the time."""
        new = transition(self.status, event)
        self.events.append((self.status, event, ns))
        self.status = new
        self.updated_ns = ns
        if event == "fill":
            self.filled_ns = ns
        elif event == "cancel":
            self.canceled_ns = ns
        elif event == "expire":
            self.expired_ns = ns
        elif event == "replace":
            self.replaced_ns = ns

    def to_alpaca(self, legs: list[Order] | None = None) -> Order:
        ts = from_ns
        data = {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": ts(self.created_ns),
            "updated_at": ts(self.updated_ns or self.created_ns),
            "submitted_at": ts(self.created_ns),
            "filled_at": ts(self.filled_ns) if self.filled_ns is not None else None,
            "expired_at": ts(self.expired_ns) if self.expired_ns is not None else None,
            "expires_at": ts(self.expires_ns) if self.expires_ns is not None else None,
            "canceled_at": ts(self.canceled_ns) if self.canceled_ns is not None else None,
            "failed_at": None,
            "replaced_at": ts(self.replaced_ns) if self.replaced_ns is not None else None,
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": asset_id(self.symbol),
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": _num(self.notional),
            "qty": _num(self.qty),
            "filled_qty": _num(self.filled_qty),
            "filled_avg_price": _num(self.filled_avg_price),
            "order_class": self.order_class,
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "time_in_force": self.time_in_force,
            "limit_price": _num(self.limit_price),
            "stop_price": _num(self.stop_price),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": legs,
            "trail_percent": _num(self.trail_percent),
            "trail_price": _num(self.trail_price),
            "hwm": _num(self.hwm),
            "position_intent": ("buy_to_open" if self.side == "buy" else "sell_to_close"),
        }
        return Order(**data)


def new_order(oid: str, seq: int, symbol: str, side: str, type_: str, time_in_force: str, qty: float | None,
              notional: float | None, order_class: str, status: str, now_ns: int, extended_hours: bool,
              limit_price: float | None, stop_price: float | None, trail_percent: float | None,
              trail_price: float | None, expires_ns: int | None, expiry_event: str, role: str | None = None,
              parent_id: str | None = None) -> SimOrder:
    """A just-submitted order: ``SimOrder(id=oid, client_order_id=oid, seq=seq, ...)`` created,
    updated and active from ``now_ns``, with ``group_id = parent_id`` (a leg's group is its
    parent's), the rest at their defaults. Built from positional arguments, as every submission
    makes one to three of them and keywords cost twice as much (tests/test_broker_submit_plain.py
    compares it with the keyword form, field by field).

    >>> od = new_order("o-1", 1, "AAPL", "sell", "stop", "gtc", 10.0, None, "bracket", "held", 5, False,
    ...                None, 95.0, None, None, 9, "cancel", "stop_loss", "o-0")
    >>> (od.client_order_id, od.updated_ns, od.active_from_ns, od.group_id, od.leg_ids)
    ('o-1', 5, 5, 'o-0', [])
    """
    od = SimOrder(oid, oid, symbol, side, type_, time_in_force, qty, notional, order_class, status, now_ns, seq,
                  extended_hours, limit_price, stop_price, trail_percent, trail_price, None, now_ns, expires_ns,
                  expiry_event, now_ns)
    if role is not None:
        od.role = role
    if parent_id is not None:
        od.parent_id = od.group_id = parent_id
    return od
