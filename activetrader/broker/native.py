"""Plain views of a broker's state for the Trader's native fast path (no alpaca-py models).

A broker that has ``native_account`` / ``native_positions`` / ``native_orders`` (the
:class:`~activetrader.broker.SimBroker` does) lets the Trader skip building alpaca-py
``TradeAccount``/``Position``/``Order`` models every iteration. The numbers are the ones the
models carry *after* the wire round trip (money to the cent, quantities as Alpaca writes them),
so both paths feed the strategy identical values (tests/test_fast_path.py).

>>> NativeAccount(cash=1.0, equity=2.0, buying_power=3.0).equity
2.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .orders import SimOrder


class NativeAccount(NamedTuple):
    """``TradeAccount.cash/equity/buying_power`` as floats."""

    cash: float
    equity: float
    buying_power: float


class NativePosition(NamedTuple):
    """One position, as ``float(Position.<field>)`` would read."""

    symbol: str
    qty: float
    avg_entry_price: float
    current_price: float
    qty_available: float


class NativeOrder(NamedTuple):
    """One order of a nested listing; ``parent_id`` is set for a leg listed inside its parent."""

    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str
    order_class: str
    qty: float
    limit_price: float | None
    stop_price: float | None
    trail_percent: float | None
    trail_price: float | None
    parent_id: str | None


def native_order(od: SimOrder, parent_id: str | None) -> NativeOrder:
    """The row of one simulated order (``parent_id``: its parent's id when listed as a leg)."""
    return NativeOrder(od.id, od.client_order_id, od.symbol, od.side, od.type, od.status, od.order_class,
                       float(od.qty or 0), _opt(od.limit_price), _opt(od.stop_price), _opt(od.trail_percent),
                       _opt(od.trail_price), parent_id)


def _opt(x) -> float | None:
    return None if x is None else float(x)


__all__ = ["NativeAccount", "NativeOrder", "NativePosition", "native_order"]
