"""Plain views of a broker's state for the Trader's native fast path (no alpaca-py models),
and how :class:`~activetrader.broker.SimBroker` lists its positions and orders as them.

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

from ..market.sessions import to_ns
from .engine import NEVER_NS
from .lifecycle import TERMINAL_STATUSES
from .orders import qty_number

if TYPE_CHECKING:
    from .orders import SimOrder

_BEFORE_ALL = -(2**63)  # before any int64 ns time
#: What a NamedTuple's generated ``__new__`` calls: builds native rows without its Python frame.
_tuple_new = tuple.__new__


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


def positions(b) -> list[NativePosition]:
    """:meth:`SimBroker.native_positions <activetrader.broker.SimBroker.native_positions>` of
    the broker ``b``: ``get_all_positions()`` as plain rows (same order, same numbers as the
    models read back), each row apart from its price kept until the symbol's orders change."""
    c, rows = b._c, []
    if c.position_symbols is None:  # dropped by a fill
        c.position_symbols = sorted(b._positions)
    prices = b._prices_now()
    for s in c.position_symbols:
        hit = c.position_parts.get(s)
        if hit is None:  # dropped by a fill or a change of the symbol's working orders
            p = b._positions[s]
            hit = c.position_parts[s] = (qty_number(p.qty), p.avg_entry_price,
                                         qty_number(p.qty - b._held_for_orders(s)))
        price = prices.get(s)
        if price is None:
            price = b.last_price(s)
        rows.append(_tuple_new(NativePosition, (s, hit[0], hit[1], price, hit[2])))
    return rows


def orders(b, *, after=None, limit: int | None = None, keep=None, view=None) -> list:
    """:meth:`SimBroker.native_orders <activetrader.broker.SimBroker.native_orders>` of the
    broker ``b``: a nested ``status="all"`` listing (as :meth:`get_orders` makes it) flattened to rows:
    each listed order, then its legs (``parent_id`` set). ``after`` as for ``get_orders``
    (an int is ns UTC); ``limit`` None lists every order after ``after``, as paging through
    Alpaca's 500-order pages does (``activetrader.alpaca.list_orders``); ``keep``: only rows
    whose status is in it (the parent's status does not matter for its legs). Costs the
    orders created after ``after``, not all orders ever; with a ``keep`` of open statuses
    only (a live listing) and no ``limit``, it costs the open orders. ``view``: a pure function
    of a row (the Trader's ``OrderView``), listed in the row's place; on a live listing its
    results are kept with the symbol's part of the listing, so each is made once per change."""
    after_ns = to_ns(after) if after is not None else None
    if limit is None and keep is not None and TERMINAL_STATUSES.isdisjoint(keep):
        return _open_orders(b, after_ns, keep, view)
    rows: list[NativeOrder] = []
    orders = b._orders
    n = len(orders) if limit is None else min(int(limit), 500)
    for od in b._select_orders(status="all", nested=True, limit=n, after=after_ns):
        if keep is None or od.status in keep:
            rows.append(native_order(od, None))
        for i in od.leg_ids:
            leg = orders[i]
            if keep is None or leg.status in keep:
                rows.append(native_order(leg, od.id))
    return rows if view is None else [view(r) for r in rows]


def _open_orders(b, after: int | None, keep, view=None) -> list:
    """:meth:`native_orders` when only open orders can be kept: the same rows, found from the
    open orders (working ones and legs waiting on their entry) instead of every order in
    the window, and kept per symbol until its orders change (tests/test_broker_speed_caches.py
    compares this with the full listing)."""
    after = _BEFORE_ALL if after is None else after
    known, units = b._c.listings, []
    for symbol in b._working:
        hit = known.get(symbol)
        if hit is None or not hit[1] <= after < hit[2] or hit[0] != keep:
            hit = known[symbol] = _open_listing(b, symbol, after, keep)
        units += hit[3]
    units.sort(reverse=True)  # newest listed order first; (created_ns, seq) never ties
    if view is None:
        return [row for unit in units for row in unit[2]]
    out: list = []
    for unit in units:
        made = unit[3].get(view)  # unit[3]: view function -> its views of the unit's rows
        if made is None:
            made = unit[3][view] = [view(r) for r in unit[2]]
        out += made
    return out


def _open_listing(b, symbol: str, after: int, keep) -> tuple:
    """The listed orders of ``symbol`` that have an open order to show, as ``(keep, lo, hi,
    [(created_ns, seq, rows, views)])`` (``views`` filled in by :func:`_open_orders`): each a
    top order in the window with its legs under it, or an order in the window whose parent is
    not (a leg is listed under its current parent only: a replaced OCO top lists no legs,
    SimBroker.replace_order_by_id). The same for any ``after`` in ``[lo, hi)``: no creation
    time looked at lies between."""
    orders = b._orders
    lo, hi = _BEFORE_ALL, NEVER_NS
    listed: dict[str, SimOrder] = {}
    for o in b._open_orders(symbol):
        if o.status not in keep:
            continue
        if o.parent_id is not None:
            parent = orders[o.parent_id]
            if parent.created_ns > after:  # shown under its parent, not on its own
                hi = min(hi, parent.created_ns)
                listed[parent.id] = parent
                continue
            lo = max(lo, parent.created_ns)
        if o.created_ns > after:
            hi = min(hi, o.created_ns)
            listed[o.id] = o
        else:
            lo = max(lo, o.created_ns)
    units = []
    for od in listed.values():
        rows = [native_order(od, None)] if od.status in keep else []
        rows += [native_order(leg, od.id) for leg in map(orders.get, od.leg_ids) if leg.status in keep]
        units.append((od.created_ns, od.seq, rows, {}))
    return keep, lo, hi, units


__all__ = ["NativeAccount", "NativeOrder", "NativePosition", "native_order", "orders", "positions"]
