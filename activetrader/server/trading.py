"""Trading API routes under ``/v2``: account, clock, calendar, assets, orders and positions.

Each route parses its query or body into the alpaca-py request model the SimBroker takes,
calls the broker through the :class:`~activetrader.server.venue.Venue` (under its lock) and
writes the alpaca-py answer in Alpaca's wire format (alpaca-contract.md §5 lists the paths).
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from alpaca.trading.requests import (ClosePositionRequest, GetOrderByIdRequest, GetOrdersRequest, LimitOrderRequest,
                                     MarketOrderRequest, ReplaceOrderRequest, StopLimitOrderRequest, StopLossRequest,
                                     StopOrderRequest, TakeProfitRequest, TrailingStopOrderRequest)
from pydantic import ValidationError
from starlette.responses import Response
from starlette.routing import Route

from ..broker.errors import INSUFFICIENT, INVALID
from . import wire
from .wire import BAD_REQUEST, Query, WireError, call, endpoint, ok

_ORDER_TYPES = {"market": MarketOrderRequest, "limit": LimitOrderRequest, "stop": StopOrderRequest,
                "stop_limit": StopLimitOrderRequest, "trailing_stop": TrailingStopOrderRequest}
_PRICE_FIELDS = ("qty", "notional", "limit_price", "stop_price", "trail_price", "trail_percent")
_ORDER_FIELDS = ("symbol", "side", "time_in_force", "order_class", "extended_hours", "client_order_id",
                 "position_intent") + _PRICE_FIELDS
_MAX_ORDERS = 500  # GET /v2/orders limit (alpaca-contract.md §5)


# ---------------------------------------------------------------- account, clock, calendar, assets
@endpoint
async def get_account(request, venue):
    return ok(wire.account_json(await call(venue, venue.broker.get_account)))


@endpoint
async def get_configurations(request, venue):
    return ok(dict(venue.configurations))


_CONFIG_TYPES = {"fractional_trading": bool, "no_shorting": bool, "suspend_trade": bool,
                 "ptp_no_exception_entry": bool, "max_margin_multiplier": str, "trade_confirm_email": str,
                 "max_options_trading_level": int}


@endpoint
async def patch_configurations(request, venue):
    body = await wire.json_body(request)
    changes = {}
    for key, value in body.items():
        if value is None or key in ("dtbp_check", "pdt_check"):
            continue  # alpaca-py sends its whole model: unset fields and the checks removed on 2026-07-06 (§4)
        kind = _CONFIG_TYPES.get(key)
        if kind is None:
            raise WireError(f"{key}: not an account configuration (known: {', '.join(_CONFIG_TYPES)})")
        if key == "max_margin_multiplier" and str(value) not in ("1", "2"):
            raise WireError(f"max_margin_multiplier: {value!r} is not allowed (1 or 2 in this venue)")
        if key == "trade_confirm_email" and value not in ("all", "none"):
            raise WireError(f"trade_confirm_email: {value!r} is not one of all, none")
        if key == "max_options_trading_level" and value not in (0, 1, 2, 3):
            raise WireError(f"max_options_trading_level: {value!r} is not one of 0, 1, 2, 3")
        if kind is bool and not isinstance(value, bool):
            raise WireError(f"{key}: {value!r} is not a boolean")
        changes[key] = str(value) if kind is str else value
    if changes.get("no_shorting") is False:
        # The SimBroker models a long-only account (shorting_enabled=False).
        raise WireError("no_shorting: this venue's account cannot short (shorting is not simulated)", 403,
                        INSUFFICIENT)

    def apply():
        venue.configurations.update(changes)
        return dict(venue.configurations)
    return ok(await call(venue, apply, mutate=True))


@endpoint
async def get_clock(request, venue):
    return ok(wire.clock_json(await call(venue, venue.broker.get_clock)))


@endpoint
async def get_calendar(request, venue):
    q = Query(request.query_params)
    start, end = q.get("start"), q.get("end")
    cal = venue.market.calendar
    lo = wire.parse_time(start, "start").strftime("%Y-%m-%d") if start else None
    hi = wire.parse_time(end, "end").strftime("%Y-%m-%d") if end else None
    return ok(await call(venue, _calendar_days, cal, lo, hi))


def _calendar_days(cal, lo: str | None, hi: str | None) -> list[dict]:
    """Sessions between two dates (default: the market's calendar) as Alpaca lists them (§4:
    ``open``/``close`` as ``HH:MM`` New York time, which alpaca-py parses strictly)."""
    import pandas as pd

    from ..market.sessions import MarketCalendar

    if lo is not None and hi is not None and lo > hi:
        return []
    days = cal.sessions
    if lo is not None and hi is not None and (pd.Timestamp(lo) < days[0] or pd.Timestamp(hi) > days[-1]):
        if pd.Timestamp(hi) - pd.Timestamp(lo) > pd.Timedelta(days=366 * 30):
            raise WireError("start/end: at most 30 years of calendar at once")
        cal = MarketCalendar(lo, hi)
    out = []
    for i, day in enumerate(cal.sessions):
        d = day.strftime("%Y-%m-%d")
        if (lo is not None and d < lo) or (hi is not None and d > hi):
            continue
        o = pd.Timestamp(int(cal.opens[i]), tz="UTC").tz_convert("America/New_York")
        c = pd.Timestamp(int(cal.closes[i]), tz="UTC").tz_convert("America/New_York")
        out.append({"date": d, "open": o.strftime("%H:%M"), "close": c.strftime("%H:%M"),
                    "session_open": "0400", "session_close": "2000" if c.hour >= 16 else "1700",
                    "settlement_date": _settlement(cal, i)})
    return out


def _settlement(cal, i: int) -> str:
    """T+1 settlement: the next session's date (Alpaca adds ``settlement_date``; alpaca-py ignores it)."""
    days = cal.sessions
    return (days[i + 1] if i + 1 < len(days) else days[i]).strftime("%Y-%m-%d")


@endpoint
async def get_assets(request, venue):
    q = Query(request.query_params)
    status = q.choice("status", ("active", "inactive"))
    asset_class = q.choice("asset_class", ("us_equity", "us_option", "crypto"))
    exchange = q.get("exchange")
    attributes = q.get("attributes")

    def assets():
        if status == "inactive" or asset_class not in (None, "us_equity") or attributes:
            return []  # every simulated asset is an active US equity without attributes
        out = [wire.asset_json(venue.broker.get_asset(s)) for s in venue.market.symbols]
        return [a for a in out if exchange is None or a["exchange"] == exchange.upper()]
    return ok(await call(venue, assets))


@endpoint
async def get_asset(request, venue):
    key = request.path_params["symbol_or_asset_id"]
    return ok(wire.asset_json(await call(venue, venue.broker.get_asset, key)))


# ---------------------------------------------------------------- orders
def _number(body: dict, key: str, *, positive: bool = True) -> float | None:
    """A quantity or price sent as a JSON number or a decimal string (§9)."""
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise WireError(f"{key}: {v!r} is not a number")
    try:
        x = float(v)
    except ValueError:
        raise WireError(f"{key}: {v!r} is not a number") from None
    if not math.isfinite(x) or abs(x) > 1e12:
        raise WireError(f"{key}: {v!r} is out of range")
    if positive and x <= 0:
        raise WireError(f"{key}: must be greater than 0 (got {v})")
    return x


def _text(body: dict, key: str, *, lower: bool = True) -> str | None:
    v = body.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise WireError(f"{key}: {v!r} is not a string")
    return v.lower() if lower else v


def order_request(body: dict):
    """The alpaca-py order request for a ``POST /v2/orders`` body; ``WireError`` names what is wrong."""
    type_ = _text(body, "type")
    if type_ is None:
        raise WireError("type: missing (market, limit, stop, stop_limit or trailing_stop)")
    cls = _ORDER_TYPES.get(type_)
    if cls is None:
        raise WireError(f"type: {type_!r} is not one of {', '.join(_ORDER_TYPES)}")
    fields: dict[str, Any] = {}
    for key in _ORDER_FIELDS:
        if key in _PRICE_FIELDS:
            x = _number(body, key)
            if x is not None:
                fields[key] = x
        elif key == "extended_hours":
            v = body.get(key)
            if v is not None:
                if not isinstance(v, bool):
                    raise WireError(f"extended_hours: {v!r} is not a boolean")
                fields[key] = v
        elif key == "symbol":
            v = _text(body, key, lower=False)
            if v is not None:
                fields[key] = v.upper()
        elif key == "client_order_id":
            v = _text(body, key, lower=False)
            if v is not None:
                fields[key] = v
        else:
            v = _text(body, key)
            if v:  # "" is Alpaca's simple order_class (§1); None and "" mean unset
                fields[key] = v
    if "symbol" not in fields:
        raise WireError("symbol: missing")
    if "side" not in fields:
        raise WireError("side: missing (buy or sell)")
    if "time_in_force" not in fields:
        raise WireError("time_in_force: missing (day, gtc, opg, cls, ioc or fok)")
    for leg, model, keys in (("take_profit", TakeProfitRequest, ("limit_price",)),
                             ("stop_loss", StopLossRequest, ("stop_price", "limit_price"))):
        raw = body.get(leg)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise WireError(f"{leg}: {raw!r} is not an object")
        try:
            fields[leg] = model(**{k: _number(raw, k) for k in keys if raw.get(k) is not None})
        except ValidationError as e:
            raise WireError(f"{leg}: {wire.validation_message(e)}") from None
    if type_ == "trailing_stop" and "limit_price" in fields:
        raise WireError("limit_price: not allowed for trailing_stop orders")
    try:
        return cls(**fields)
    except ValidationError as e:
        raise WireError(wire.validation_message(e)) from None


@endpoint
async def post_order(request, venue):
    req = order_request(await wire.json_body(request))
    if venue.configurations.get("suspend_trade"):
        raise WireError("new orders are rejected: trading is suspended by the account configuration", 403,
                        INSUFFICIENT)
    return ok(wire.dump(await call(venue, venue.broker.submit_order, req, mutate=True)))


@endpoint
async def get_orders(request, venue):
    q = Query(request.query_params)
    f = GetOrdersRequest(
        status=q.choice("status", ("open", "closed", "all"), "open"),
        limit=q.integer("limit", 50, lo=1, hi=_MAX_ORDERS),
        after=q.timestamp("after"), until=q.timestamp("until"),
        direction=q.choice("direction", ("asc", "desc"), "desc"),
        nested=q.boolean("nested", False),
        side=q.choice("side", ("buy", "sell")),
        symbols=q.symbols("symbols"),
    )
    orders = await call(venue, venue.broker.get_orders, f)
    return ok([wire.dump(o) for o in orders])


def _order_id(request) -> str:
    oid = request.path_params["order_id"]
    try:
        uuid.UUID(oid)
    except ValueError:
        # Alpaca validates the path: an id that is not a UUID is a bad request, not a lookup.
        raise WireError(f"order_id: {oid!r} is not a valid order id (a UUID)", 400, BAD_REQUEST) from None
    return oid


@endpoint
async def get_order(request, venue):
    oid = _order_id(request)
    nested = Query(request.query_params).boolean("nested", False)
    order = await call(venue, venue.broker.get_order_by_id, oid, GetOrderByIdRequest(nested=nested))
    return ok(wire.dump(order))


@endpoint
async def get_order_by_client_id(request, venue):
    cid = Query(request.query_params).get("client_order_id")
    if cid is None:
        raise WireError("client_order_id: missing", 422, INVALID)
    return ok(wire.dump(await call(venue, venue.broker.get_order_by_client_id, cid)))


@endpoint
async def patch_order(request, venue):
    oid = _order_id(request)
    body = await wire.json_body(request)
    fields: dict[str, Any] = {}
    for key in ("qty", "limit_price", "stop_price", "trail"):
        x = _number(body, key)
        if x is not None:
            if key == "qty" and x != int(x):
                raise WireError("qty: a replacement must be whole shares (§2: fractional qty cannot change)")
            fields[key] = int(x) if key == "qty" else x
    for key in ("time_in_force", "client_order_id"):
        v = _text(body, key, lower=key == "time_in_force")
        if v is not None:
            fields[key] = v
    unknown = set(body) - {"qty", "limit_price", "stop_price", "trail", "time_in_force", "client_order_id"}
    if unknown:
        raise WireError(f"{sorted(unknown)[0]}: cannot be replaced (qty, time_in_force, limit_price, stop_price, "
                        "trail, client_order_id)")
    try:
        req = ReplaceOrderRequest(**fields)
    except ValidationError as e:
        raise WireError(wire.validation_message(e)) from None
    return ok(wire.dump(await call(venue, venue.broker.replace_order_by_id, oid, req, mutate=True)))


@endpoint
async def delete_order(request, venue):
    oid = _order_id(request)
    await call(venue, venue.broker.cancel_order_by_id, oid, mutate=True)
    return Response(status_code=204)  # empty body (§2)


@endpoint
async def delete_orders(request, venue):
    results = await call(venue, venue.broker.cancel_orders, mutate=True)
    return ok([{"id": str(r.id), "status": r.status, "body": None} for r in results], 207)


# ---------------------------------------------------------------- positions
@endpoint
async def get_positions(request, venue):
    return ok([wire.dump(p) for p in await call(venue, venue.broker.get_all_positions)])


@endpoint
async def get_position(request, venue):
    key = request.path_params["symbol_or_asset_id"]
    return ok(wire.dump(await call(venue, venue.broker.get_open_position, key)))


@endpoint
async def delete_position(request, venue):
    key = request.path_params["symbol_or_asset_id"]
    q = Query(request.query_params)
    qty, pct = q.number("qty", lo=0), q.number("percentage", lo=0, hi=100)
    if qty is not None and pct is not None:
        raise WireError("qty and percentage are mutually exclusive", 422, INVALID)
    if (qty is not None and qty <= 0) or (pct is not None and pct <= 0):
        raise WireError("qty/percentage: must be greater than 0", 422, INVALID)
    opts = ClosePositionRequest(qty=q.get("qty"), percentage=q.get("percentage")) if (qty or pct) else None

    def close():
        pos = venue.broker.get_open_position(key)  # 404 first, as Alpaca
        if qty is not None and qty > float(pos.qty) + 1e-9:
            raise WireError(f"insufficient qty available for order (requested: {qty:g}, available: {pos.qty})",
                            403, INSUFFICIENT)
        return venue.broker.close_position(key, opts)
    return ok(wire.dump(await call(venue, close, mutate=True)))


@endpoint
async def delete_positions(request, venue):
    cancel = Query(request.query_params).boolean("cancel_orders", False)
    results = await call(venue, venue.broker.close_all_positions, cancel_orders=cancel, mutate=True)
    return ok([{"symbol": r.symbol, "status": r.status, "body": wire.dump(r.body)} for r in results], 207)


routes = [
    Route("/v2/account", get_account, methods=["GET"]),
    Route("/v2/account/configurations", get_configurations, methods=["GET"]),
    Route("/v2/account/configurations", patch_configurations, methods=["PATCH"]),
    Route("/v2/clock", get_clock, methods=["GET"]),
    Route("/v2/calendar", get_calendar, methods=["GET"]),
    Route("/v2/assets", get_assets, methods=["GET"]),
    Route("/v2/assets/{symbol_or_asset_id}", get_asset, methods=["GET"]),
    Route("/v2/orders", post_order, methods=["POST"]),
    Route("/v2/orders", get_orders, methods=["GET"]),
    Route("/v2/orders", delete_orders, methods=["DELETE"]),
    Route("/v2/orders:by_client_order_id", get_order_by_client_id, methods=["GET"]),
    Route("/v2/orders/{order_id}", get_order, methods=["GET"]),
    Route("/v2/orders/{order_id}", patch_order, methods=["PATCH"]),
    Route("/v2/orders/{order_id}", delete_order, methods=["DELETE"]),
    Route("/v2/positions", get_positions, methods=["GET"]),
    Route("/v2/positions", delete_positions, methods=["DELETE"]),
    Route("/v2/positions/{symbol_or_asset_id}", get_position, methods=["GET"]),
    Route("/v2/positions/{symbol_or_asset_id}", delete_position, methods=["DELETE"]),
]
