"""Order entry for the SimBroker: Alpaca's acceptance rules, in the order Alpaca applies them,
and the construction of the order records (a bracket is three orders, an OCO two).

Every refusal is the ``APIError`` Alpaca answers with; section numbers refer to
alpaca-contract.md. Nothing is recorded unless every check passes (no half-submitted order).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

from alpaca.trading.requests import (
    LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest, StopLossRequest, TakeProfitRequest,
)

from ..ticks import round_price
from . import rules
from .errors import INSUFFICIENT, INVALID, UNPROCESSABLE, api_error
from .fills import trailing_stop_level
from .orders import SimOrder, enum_value, fmt_qty, new_order

_EPS = 1e-9


class OrderFields(NamedTuple):
    """An order request as :func:`build_orders` reads it: the fields of an alpaca-py
    ``OrderRequest`` as plain values (enums as their strings, ``take_profit.limit_price`` as
    ``take_profit``, ``stop_loss.stop_price`` / ``.limit_price`` as ``stop_loss`` /
    ``stop_loss_limit``). The Trader's native path sends these instead of pydantic models
    (:func:`plain_order`); every check is the same, as both go through :func:`build_orders`.

    >>> OrderFields("AAPL", "buy", "market", "day", qty=10.0).order_class is None
    True
    """

    symbol: str | None
    side: str | None
    type: str | None
    time_in_force: str | None
    order_class: str | None = None
    qty: float | None = None
    notional: float | None = None
    limit_price: float | None = None
    stop_price: float | None = None
    trail_percent: float | None = None
    trail_price: float | None = None
    take_profit: float | None = None
    stop_loss: float | None = None
    stop_loss_limit: float | None = None
    extended_hours: bool | None = None
    client_order_id: str | None = None


def order_fields(req) -> OrderFields:
    """The :class:`OrderFields` of an alpaca-py order request (or an :class:`OrderFields`, as it is)."""
    if type(req) is OrderFields:
        return req
    tp, sl = req.take_profit, req.stop_loss
    return OrderFields(
        req.symbol, enum_value(req.side), enum_value(req.type), enum_value(req.time_in_force),
        enum_value(req.order_class), req.qty, req.notional, _optional(req, "limit_price"),
        _optional(req, "stop_price"), _optional(req, "trail_percent"), _optional(req, "trail_price"),
        tp.limit_price if tp is not None else None, sl.stop_price if sl is not None else None,
        sl.limit_price if sl is not None else None, req.extended_hours, req.client_order_id)


#: The alpaca-py request class of each order type :func:`plain_order` makes.
_REQUEST_CLASS = {"market": MarketOrderRequest, "limit": LimitOrderRequest}
_SIDES, _TIFS, _CLASSES = frozenset({"buy", "sell"}), frozenset({"day", "gtc"}), frozenset({None, "bracket", "oco"})


def _plain_number(x):
    """``x`` as pydantic's lax ``float`` field keeps it, for the inputs it keeps unchanged (a
    float, an int a float holds exactly); None for anything else (the model decides)."""
    t = type(x)
    if t is float:
        return x
    if t is int and -2**53 <= x <= 2**53:
        return float(x)
    return None


def plain_order(type_: str, symbol, qty, side, time_in_force, order_class=None, take_profit=None,
                stop_loss=None) -> OrderFields | None:
    """The :class:`OrderFields` the alpaca-py request ``MarketOrderRequest`` (``type_="market"``)
    or ``LimitOrderRequest`` (``"limit"``, an OCO) made of these arguments carries, when
    pydantic would take them as they are (a ``str`` symbol, plain numbers, known sides, times in
    force and classes, both exit prices for a bracket or an OCO); else None: then build the model,
    which coerces or refuses (:func:`alpaca_request`).

    >>> f = plain_order("market", "AAPL", 10, "buy", "gtc", "bracket", 172.5, 142.5)
    >>> f.qty, f.order_class, f.take_profit, f.stop_loss
    (10.0, 'bracket', 172.5, 142.5)
    >>> plain_order("market", "AAPL", "10", "buy", "day") is None    # pydantic parses text: its call
    True
    """
    q = _plain_number(qty)
    if (q is None or type(symbol) is not str or type(side) is not str or side not in _SIDES
            or type(time_in_force) is not str or time_in_force not in _TIFS or order_class not in _CLASSES
            or type_ not in _REQUEST_CLASS or (type_ == "limit" and order_class != "oco")):
        return None
    if order_class is None:
        if take_profit is not None or stop_loss is not None:
            return None
        return OrderFields(symbol, side, type_, time_in_force, None, q)
    tp, sl = _plain_number(take_profit), _plain_number(stop_loss)
    if tp is None or sl is None:
        return None
    return OrderFields(symbol, side, type_, time_in_force, order_class, q, take_profit=tp, stop_loss=sl)


def alpaca_request(f: OrderFields):
    """The alpaca-py request that :func:`plain_order` stands for (what a ``submit_order`` other
    than the SimBroker's own is handed)."""
    kw = dict(symbol=f.symbol, qty=f.qty, side=f.side, time_in_force=f.time_in_force)
    if f.order_class is not None:
        kw.update(order_class=f.order_class, take_profit=TakeProfitRequest(limit_price=f.take_profit),
                  stop_loss=StopLossRequest(stop_price=f.stop_loss))
    if f.client_order_id is not None:
        kw["client_order_id"] = f.client_order_id
    return _REQUEST_CLASS[f.type](**kw)


def build_orders(b, req) -> list[SimOrder]:
    """Validate an order request (alpaca-py's, or :class:`OrderFields`) against broker ``b``;
    return the records (top first)."""
    f = order_fields(req)
    symbol = (f.symbol or "").upper()
    side, type_, tif = f.side, f.type, f.time_in_force
    cls = f.order_class or "simple"
    extended = bool(f.extended_hours)
    qty, notional = f.qty, f.notional
    limit, stop, trail_percent, trail_price = f.limit_price, f.stop_price, f.trail_percent, f.trail_price
    tp, sl, sl_limit = f.take_profit, f.stop_loss, f.stop_loss_limit
    if cls == "oco" and limit is None:
        limit = tp

    cid = f.client_order_id
    if cid is not None:
        if len(cid) > 48:
            raise api_error(422, INVALID, "client_order_id must be no more than 48 characters")
        if cid in b._by_client_id:
            # The idempotency key: a retry with the same id is refused, never doubled (§2).
            raise api_error(422, INVALID, "client_order_id must be unique")
    if symbol not in b.market:
        # §11: an order for a symbol the market does not carry is refused and nothing recorded.
        raise api_error(422, INVALID, f"asset {symbol} not found")
    if cls == "mleg":
        raise api_error(422, UNPROCESSABLE, "mleg orders are for options; only equities are simulated")
    if tif in ("opg", "cls"):
        raise api_error(422, UNPROCESSABLE,
                        f"time_in_force {tif} (auction orders) is not modelled by the simulator; use day or gtc")
    if cls in ("bracket", "oco", "oto") and tif not in ("day", "gtc"):
        raise api_error(422, UNPROCESSABLE, f"{cls} orders must be DAY or GTC orders")  # D-ORD
    if extended and (type_ != "limit" or tif != "day" or cls != "simple"):
        raise api_error(422, UNPROCESSABLE, "extended hours order must be DAY limit orders")  # §2, D-ORD

    if qty is not None and qty <= 0:
        raise api_error(422, INVALID, f"qty must be > 0 (got {qty})")
    if notional is not None and notional <= 0:
        raise api_error(422, INVALID, f"notional must be > 0 (got {notional})")
    fractional = notional is not None or not rules.is_whole(qty)
    if fractional:  # §2: fractional orders are simple, DAY, and not trailing stops
        if cls != "simple" or type_ == "trailing_stop":
            raise api_error(422, UNPROCESSABLE, "fractional orders must be simple orders")
        if tif != "day":
            raise api_error(422, UNPROCESSABLE, "fractional orders must be DAY orders")
        if notional is not None and type_ != "market":
            raise api_error(422, UNPROCESSABLE, "notional orders must be market orders")

    for name, price in (("limit_price", limit), ("stop_price", stop), ("trail_price", trail_price),
                        ("take_profit.limit_price", tp), ("stop_loss.stop_price", sl),
                        ("stop_loss.limit_price", sl_limit)):
        rules.check_price_increment(name, price)
    if trail_percent is not None and not 0 < trail_percent < 100:
        raise api_error(422, INVALID, f"invalid trail_percent {trail_percent}. must be > 0 and < 100")

    price_now = b.last_price(symbol)
    pos = b._positions.get(symbol)
    if side == "sell":
        if pos is None:
            raise api_error(403, INSUFFICIENT, "account is not allowed to short")  # PYT fixture
        if cls in ("bracket", "oto"):
            raise api_error(422, UNPROCESSABLE, "bracket orders must be entry orders")
        want = qty if qty is not None else notional / price_now
        available = b.qty_available(symbol)
        if want > available + _EPS:  # §2 "the rebalance trap": shares held by open orders
            held = b._held_for_orders(symbol)
            raise api_error(403, INSUFFICIENT,
                            f"insufficient qty available for order (requested: {fmt_qty(want)}, available: {fmt_qty(available)})",
                            available=fmt_qty(available), existing_qty=fmt_qty(pos.qty), held_for_orders=fmt_qty(held), symbol=symbol)
    else:
        if cls == "oco":
            raise api_error(422, UNPROCESSABLE, "oco orders must be exit orders")  # no shorts to cover here
        if cls in ("bracket", "oto") and pos is not None:
            # UNVERIFIED whether adding to a long triggers this (§2); we take the conservative reading.
            raise api_error(422, UNPROCESSABLE, "bracket orders must be entry orders")

    if cls in ("bracket", "oto"):  # exits sell; base = current price, and the limit for limit entries (§2)
        rules.check_exit_geometry("sell", price_now, tp, sl)
        if type_ in ("limit", "stop_limit") and limit is not None:
            rules.check_exit_geometry("sell", limit, tp, sl)
    elif cls == "oco":  # base = the take-profit limit, and the current price
        rules.check_exit_geometry("sell", price_now, tp, sl)
        rules.check_exit_geometry("sell", tp, None, sl)
    if sl_limit is not None and sl is not None and sl_limit > sl + _EPS:
        raise api_error(422, UNPROCESSABLE, "stop_loss.limit_price must be <= stop_loss.stop_price")

    if cls == "simple" and type_ != "trailing_stop":
        _check_wash_trade(b, symbol, side, type_, limit)

    if side == "buy":
        cost = b._order_cost(symbol, type_, qty, notional, limit, stop)
        lmv = b._market_value()
        bp = b._buying_power(b._cash + lmv, lmv)
        if cost > bp + _EPS:
            raise api_error(403, INSUFFICIENT, "insufficient buying power",
                            buying_power=f"{bp:.2f}", cost_basis=f"{cost:.2f}")

    # -- every check passed: build the records
    now = b._now_ns
    expires, expiry_event = b._expiry(tif, extended)

    def make(type_: str, status: str, limit_price, stop_price, role=None, parent_id=None, side: str = side,
             trail_percent=None, trail_price=None) -> SimOrder:
        return new_order(b._next_id(), b._seq, symbol, side, type_, tif, qty, notional, cls, status, now, extended,
                         limit_price, stop_price, trail_percent, trail_price, expires, expiry_event, role, parent_id)

    if cls == "simple":
        od = make(type_, "new", limit, stop, trail_percent=trail_percent, trail_price=trail_price)
        if cid:
            od.client_order_id = cid
        if type_ == "trailing_stop":  # §11: the mark starts at the last complete close
            od.hwm = price_now
            od.stop_price = round_price(trailing_stop_level(price_now, side, trail_percent, trail_price))
        return [od]
    exit_side = "sell"
    if cls == "oco":
        top = make("limit", "new", tp, None, "take_profit")
        top.group_id = top.id
        sl_leg = make("stop_limit" if sl_limit else "stop", "held", sl_limit, sl, "stop_loss", top.id, exit_side)
        top.leg_ids = [sl_leg.id]
        if cid:
            top.client_order_id = cid
        return [top, sl_leg]
    top = make(type_, "new", limit, stop, "entry")
    top.group_id = top.id
    if cid:
        top.client_order_id = cid
    legs = []
    if tp is not None:
        legs.append(make("limit", "held", tp, None, "take_profit", top.id, exit_side))
    if sl is not None:
        legs.append(make("stop_limit" if sl_limit else "stop", "held", sl_limit, sl, "stop_loss", top.id, exit_side))
    top.leg_ids = [leg.id for leg in legs]
    return [top, *legs]


def _optional(req, name: str):
    """``getattr(req, name, None)``, without paying for the miss where the request's class cannot
    have ``name`` (a pydantic model raises and catches inside ``__getattr__`` for it)."""
    return None if _absent(type(req), name) else getattr(req, name, None)


@functools.cache
def _absent(cls: type, name: str) -> bool:
    """True when no instance of ``cls`` has attribute ``name``: a pydantic model that keeps no
    extra fields, with no such field and no such class attribute."""
    return (isinstance(getattr(cls, "model_fields", None), dict) and cls.model_config.get("extra") in (None, "ignore")
            and name not in cls.model_fields and not any(name in vars(c) for c in cls.__mro__))


def _check_wash_trade(b, symbol: str, side: str, type_: str, limit: float | None) -> None:
    """D-UP's wash-trade guard against opposite-side open orders (§2). Complex orders and
    trailing stops are exempt; a new simple order against an existing bracket leg is checked
    (UNVERIFIED; the conservative reading, seen rejected by a third party)."""
    for od in b._open_orders(symbol):
        if od.side == side or od.type == "trailing_stop":
            continue
        if type_ in ("market", "stop") or od.type in ("market", "stop"):
            clash = True
        else:
            buy_limit, sell_limit = (limit, od.limit_price) if side == "buy" else (od.limit_price, limit)
            clash = buy_limit >= sell_limit
        if clash:
            raise api_error(403, INSUFFICIENT, "potential wash trade detected. use complex orders",
                            existing_order_id=od.id, reject_reason="opposite side order exists")


def build_replacement(b, old: SimOrder, req: ReplaceOrderRequest) -> SimOrder:
    """The order that replaces ``old`` (R-PATCH; §2 "Replace")."""
    if not old.is_open:
        raise api_error(422, UNPROCESSABLE, f"order is {old.status} and cannot be replaced")
    if old.role == "entry":
        # Brackets are replaced one leg per request; OTO replace is "not supported yet" (§2).
        raise api_error(422, UNPROCESSABLE, "the entry of a bracket/oto order cannot be replaced; cancel it instead")
    if old.notional is not None:
        raise api_error(422, UNPROCESSABLE, "notional orders cannot be replaced")
    changes: dict = {}
    if req.qty is not None:
        if old.parent_id is not None or old.group_id is not None:
            # Replacing a leg's qty is UNVERIFIED (§2); refused here, conservatively.
            raise api_error(422, UNPROCESSABLE, "qty of a bracket/oco leg cannot be replaced")
        if not rules.is_whole(old.qty) or not rules.is_whole(req.qty):
            raise api_error(422, UNPROCESSABLE, "fractional qty cannot be replaced")
        if old.side == "sell":
            available = b.qty_available(old.symbol) + old.qty
            if req.qty > available + _EPS:
                raise api_error(403, INSUFFICIENT,
                                f"insufficient qty available for order (requested: {fmt_qty(req.qty)}, available: {fmt_qty(available)})")
        changes["qty"] = float(req.qty)
    if req.limit_price is not None:
        if old.type not in ("limit", "stop_limit"):
            raise api_error(422, UNPROCESSABLE, f"{old.type} orders must not have limit_price")
        rules.check_price_increment("limit_price", req.limit_price)
        changes["limit_price"] = req.limit_price
    if req.stop_price is not None:
        if old.type not in ("stop", "stop_limit"):
            raise api_error(422, UNPROCESSABLE, f"{old.type} orders must not have stop_price")  # F-11938
        rules.check_price_increment("stop_price", req.stop_price)
        changes["stop_price"] = req.stop_price
    if req.trail is not None:
        if old.type != "trailing_stop":
            raise api_error(422, UNPROCESSABLE, "trail is only valid for trailing_stop orders")
        key = "trail_percent" if old.trail_percent is not None else "trail_price"  # no switching (§2)
        changes[key] = req.trail
    if req.time_in_force is not None:
        changes["time_in_force"] = enum_value(req.time_in_force)
    cid = req.client_order_id
    if cid is not None and cid in b._by_client_id:
        raise api_error(422, INVALID, "client_order_id must be unique")
    if old.role in ("take_profit", "stop_loss"):
        sibling = next((o for o in b._group(old) if o is not old and o.role in ("take_profit", "stop_loss")), None)
        tp = changes.get("limit_price", old.limit_price) if old.role == "take_profit" else (sibling and sibling.limit_price)
        sl = changes.get("stop_price", old.stop_price) if old.role == "stop_loss" else (sibling and sibling.stop_price)
        if tp is not None and sl is not None and sl > tp - 0.01 + _EPS:
            raise api_error(422, UNPROCESSABLE, "stop_loss.stop_price must be <= take_profit.limit_price - 0.01")

    now = b._now_ns
    oid = b._next_id()
    # The replacement is a new order: like any order it sees only bars that start after it
    # was submitted (no look-ahead). On daily bars a stop moved during the session therefore
    # works from the next session's open; the old stop no longer covers the rest of today.
    new = dataclasses.replace(old, id=oid, client_order_id=cid or oid, seq=b._seq, created_ns=now, updated_ns=now,
                              active_from_ns=now, replaces=old.id, replaced_by=None, events=[], elected=False,
                              leg_ids=list(old.leg_ids), **changes)
    if "time_in_force" in changes:
        new.expires_ns, new.expiry_event = b._expiry(new.time_in_force, new.extended_hours)
    if new.type == "trailing_stop":
        new.stop_price = round_price(trailing_stop_level(new.hwm, new.side, new.trail_percent, new.trail_price))
    if old.group_id == old.id:  # the top of an OCO: the group now hangs off the new order
        new.group_id = oid
        for leg_id in new.leg_ids:
            b._orders[leg_id].parent_id = oid
            b._orders[leg_id].group_id = oid
    return new
