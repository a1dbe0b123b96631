"""SimBroker: an in-process broker that behaves like Alpaca's ``TradingClient``.

Same method names and arguments (alpaca-py request models), same return types (alpaca-py
models), same rejections (``APIError`` with Alpaca's status, code and message), with time
made explicit: :attr:`SimBroker.now` and :meth:`SimBroker.advance_to`. Every rule encoded
here cites alpaca-contract.md (the team's digest of Alpaca's docs) by section. The simulation
itself (clock, bars, fills, account state) is :mod:`activetrader.broker.engine`; this module is
its alpaca-py surface: request models in, response models out.

Account model (stated, as the issue asks): an Alpaca paper-like **margin account** with
``margin_multiplier=2`` (Reg T overnight): ``buying_power = max(equity - initial_margin, 0) × 2``
with ``initial_margin = 50 %`` of long market value, minus what open buy orders reserve
(limit × qty, market orders at the current price × qty; §11). ``margin_multiplier=1`` gives a
cash-like account (``buying_power = cash - reserved``). Shorting is disabled
(``shorting_enabled=False``): a sell with no position is refused as Alpaca refuses it for an
account not allowed to short. Fills are whole orders (no partial fills), with no commission
and no slippage beyond the bar path (Alpaca's paper does not simulate them either, §3).

>>> from activetrader.market import SimulatedMarket
>>> from alpaca.trading.requests import MarketOrderRequest, TakeProfitRequest, StopLossRequest
>>> broker = SimBroker(SimulatedMarket(seed=7), cash=100_000, start="2024-03-04 09:00-05:00")
>>> price = broker.last_price("AAPL")
>>> order = broker.submit_order(MarketOrderRequest(
...     symbol="AAPL", qty=10, side="buy", time_in_force="gtc", order_class="bracket",
...     take_profit=TakeProfitRequest(limit_price=round(price * 1.15, 2)),
...     stop_loss=StopLossRequest(stop_price=round(price * 0.95, 2))))
>>> order.status.value
'new'
>>> broker.advance_to("2024-03-04 16:00-05:00")    # New York time: the entry fills at the 09:30 open
>>> broker.get_open_position("AAPL").qty
'10'
"""

from __future__ import annotations

import uuid
from uuid import UUID

import numpy as np
import pandas as pd
from alpaca.trading.models import Asset, Clock, ClosePositionResponse, FailedClosePositionDetails, Order, Position, TradeAccount
from alpaca.trading.requests import CancelOrderResponse, ClosePositionRequest, GetOrderByIdRequest, GetOrdersRequest, MarketOrderRequest, ReplaceOrderRequest

from ..market.sessions import from_ns, to_ns, utc_index
from . import native
# Fill and SimPosition are also found here by state files saved before engine.py (server/state.py)
from .engine import Engine, Fill, SimPosition, cents
from .errors import NOT_FOUND, UNPROCESSABLE, api_error
from .lifecycle import TERMINAL_STATUSES
from .native import NativeAccount, NativePosition
from .orders import SIM_ID_NS, SimOrder, asset_id, enum_value, fmt_qty
from .submit import OrderFields, alpaca_request, build_orders, build_replacement

_INVERSE_ETFS = frozenset({"SH", "SPXS", "SQQQ", "SDS", "PSQ", "SPXU", "QID"})


class SimBroker(Engine):
    """An Alpaca-faithful broker over a :class:`~activetrader.market.Market`: alpaca-py's
    ``TradingClient`` methods over the simulation :class:`~activetrader.broker.engine.Engine`
    (its parameters are the broker's).
    """

    # ------------------------------------------------------------------ account
    def _lastday_ns(self) -> int:
        i = self._cal.session_at_or_after(self._now_ns)
        return int(self._cal.closes[i - 1]) if i > 0 else self._now_ns

    def get_account(self) -> TradeAccount:
        """The account, valued at the last complete bars (``equity = cash + long_market_value``)."""
        lmv, equity, bp = self._account_money()
        last_ns = self._lastday_ns()
        last_lmv = 0.0
        for s, p in self._positions.items():
            c = self._arrays(s).last_close(last_ns)
            last_lmv += p.qty * (c if c is not None else self.last_price(s))
        s2 = lambda x: f"{x:.2f}"  # noqa: E731 - money on the wire is a decimal string
        return TradeAccount(
            id=uuid.uuid5(SIM_ID_NS, "account"), account_number="SIM000001", status="ACTIVE",
            crypto_status=None, currency="USD", buying_power=s2(bp), regt_buying_power=s2(bp),
            non_marginable_buying_power=s2(max(self._cash - self._reserved(), 0.0)),
            cash=s2(self._cash), accrued_fees="0", portfolio_value=s2(equity), trading_blocked=False,
            transfers_blocked=False, account_blocked=False, created_at=from_ns(self._initial_ns()),
            trade_suspended_by_user=False, multiplier=str(self.margin_multiplier), shorting_enabled=False,
            equity=s2(equity), last_equity=s2(self._cash + last_lmv), long_market_value=s2(lmv),
            short_market_value="0", initial_margin=s2(lmv * (0.5 if self.margin_multiplier > 1 else 1.0)),
            maintenance_margin=s2(lmv * 0.3), last_maintenance_margin=s2(last_lmv * 0.3), sma="0",
        )

    def _initial_ns(self) -> int:
        return int(self.market.start.value)

    # ------------------------------------------------------------------ positions
    def _position_model(self, p: SimPosition) -> Position:
        price = self.last_price(p.symbol)
        last = self._arrays(p.symbol).last_close(self._lastday_ns())
        last = price if last is None else last
        mv, cost = p.qty * price, p.qty * p.avg_entry_price
        return Position(
            asset_id=asset_id(p.symbol), symbol=p.symbol, exchange=self._exchange(p.symbol),
            asset_class="us_equity", asset_marginable=True, avg_entry_price=repr(p.avg_entry_price),
            qty=fmt_qty(p.qty), side="long", market_value=f"{mv:.4f}", cost_basis=f"{cost:.4f}",
            unrealized_pl=f"{mv - cost:.4f}", unrealized_plpc=f"{(mv - cost) / cost if cost else 0.0:.6f}",
            unrealized_intraday_pl=f"{p.qty * (price - last):.4f}",
            unrealized_intraday_plpc=f"{(price - last) / last if last else 0.0:.6f}",
            current_price=repr(price), lastday_price=repr(last),
            change_today=f"{(price - last) / last if last else 0.0:.6f}",
            qty_available=fmt_qty(self.qty_available(p.symbol)),
        )

    def get_all_positions(self) -> list[Position]:
        return [self._position_model(self._positions[s]) for s in sorted(self._positions)]

    def get_open_position(self, symbol_or_asset_id: UUID | str) -> Position:
        symbol = self._symbol_of(symbol_or_asset_id)
        pos = self._positions.get(symbol)
        if pos is None:
            raise api_error(404, NOT_FOUND, "position does not exist")
        return self._position_model(pos)

    def _symbol_of(self, symbol_or_asset_id) -> str:
        key = str(symbol_or_asset_id)
        for s in self._positions:
            if str(asset_id(s)) == key:
                return s
        return key.upper()

    def close_position(self, symbol_or_asset_id: UUID | str, close_options: ClosePositionRequest | None = None) -> Order:
        """Sell (part of) a position at market; refused like Alpaca when legs hold the shares (§2)."""
        symbol = self._symbol_of(symbol_or_asset_id)
        pos = self._positions.get(symbol)
        if pos is None:
            raise api_error(404, NOT_FOUND, "position does not exist")
        qty = pos.qty
        if close_options is not None and close_options.qty is not None:
            qty = float(close_options.qty)
        elif close_options is not None and close_options.percentage is not None:
            qty = round(pos.qty * float(close_options.percentage) / 100.0, 9)
        return self.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side="sell", time_in_force="day"))

    def close_all_positions(self, cancel_orders: bool | None = None) -> list[ClosePositionResponse]:
        if cancel_orders:
            self.cancel_orders()
        out = []
        for symbol in sorted(self._positions):
            try:
                order = self.close_position(symbol)
                out.append(ClosePositionResponse(order_id=order.id, status=200, symbol=symbol, body=order))
            except Exception as e:  # an APIError: reported per symbol, as Alpaca's 207 does
                import json

                body = json.loads(e._error)
                out.append(ClosePositionResponse(symbol=symbol, status=e.status_code, body=FailedClosePositionDetails(**body)))
        return out

    # ------------------------------------------------------------------ assets and clock
    def _exchange(self, symbol: str) -> str:
        return "ARCA" if symbol in _INVERSE_ETFS or symbol in ("SPY", "QQQ") else "NASDAQ"

    def get_asset(self, symbol_or_asset_id: UUID | str) -> Asset:
        key = str(symbol_or_asset_id)
        symbol = key.upper()
        if symbol not in self.market:  # perhaps an asset id
            symbol = next((s for s in self.market.symbols if str(asset_id(s)) == key), symbol)
        if symbol not in self.market:
            raise api_error(404, NOT_FOUND, "asset not found")
        return Asset(
            id=asset_id(symbol), **{"class": "us_equity"}, exchange=self._exchange(symbol), symbol=symbol,
            name=symbol, status="active", tradable=True, marginable=True, shortable=False,
            easy_to_borrow=False, fractionable=True, min_order_size="1", min_trade_increment="1e-9",
            price_increment="0.01",
        )

    def get_clock(self) -> Clock:
        ns = self._now_ns
        return Clock(timestamp=self.now, is_open=self._cal.is_regular_ns(ns),
                     next_open=self._cal.next_open(self.now), next_close=self._cal.next_close(self.now))

    # ------------------------------------------------------------------ orders: read
    def _visible(self, od: SimOrder, status: str) -> bool:
        if status == "open":
            return od.is_open and (self.list_held_legs or od.status != "held")
        if status == "closed":
            return od.status in TERMINAL_STATUSES
        return True

    def _model(self, od: SimOrder, nested: bool) -> Order:
        legs = None
        if nested and od.leg_ids:
            legs = [self._orders[i].to_alpaca() for i in od.leg_ids]
        return od.to_alpaca(legs)

    def get_orders(self, filter: GetOrdersRequest | None = None) -> list[Order]:
        f = filter or GetOrdersRequest()
        nested = bool(f.nested)
        chosen = self._select_orders(
            status=enum_value(f.status) or "open", nested=nested, limit=min(int(f.limit or 50), 500),
            symbols={s.upper() for s in f.symbols} if f.symbols else None, side=enum_value(f.side),
            after=to_ns(f.after) if f.after is not None else None,
            until=to_ns(f.until) if f.until is not None else None, asc=enum_value(f.direction) == "asc")
        return [self._model(od, nested) for od in chosen]

    def _select_orders(self, *, status: str, nested: bool, limit: int, symbols=None, side=None,
                       after: int | None = None, until: int | None = None, asc: bool = False) -> list[SimOrder]:
        """The orders a listing shows, in its order (one rule for both the alpaca-py and the native path)."""
        if after is None:
            pool = self._orders.values()
        else:  # orders are stored in creation order and time never goes back: stop at the window's edge
            pool = []
            for od in reversed(self._orders.values()):
                if od.created_ns <= after:
                    break
                pool.append(od)
        chosen = [
            od for od in pool
            if self._visible(od, status)
            and (symbols is None or od.symbol in symbols)
            and (side is None or od.side == side)
            and (until is None or od.created_ns < until)
        ]
        if nested:  # a leg shows inside its parent when the parent is listed too
            ids = {od.id for od in chosen}
            chosen = [od for od in chosen if not (od.parent_id and od.parent_id in ids)]
        chosen.sort(key=lambda o: (o.created_ns, o.seq), reverse=not asc)
        return chosen[:limit]

    def _get(self, order_id) -> SimOrder:
        od = self._orders.get(str(order_id))
        if od is None:
            raise api_error(404, NOT_FOUND, "order not found")
        return od

    def get_order_by_id(self, order_id: UUID | str, filter: GetOrderByIdRequest | None = None) -> Order:
        return self._model(self._get(order_id), bool(filter and filter.nested))

    def get_order_by_client_id(self, client_id: str) -> Order:
        oid = self._by_client_id.get(client_id)
        if oid is None:
            raise api_error(404, NOT_FOUND, "order not found")
        return self._model(self._orders[oid], False)

    # ------------------------------------------------------------------ orders: cancel
    def cancel_order_by_id(self, order_id: UUID | str) -> None:
        """Cancel an order; any order of a bracket/OCO/OTO group takes its open siblings with it (§1)."""
        od = self._get(order_id)
        if not od.is_open:
            # §11: cancelling a finished order is refused as "not cancellable".
            raise api_error(422, UNPROCESSABLE, f"order is {od.status} and cannot be canceled")
        self._end_group_member(od, "cancel", self._now_ns)

    def cancel_orders(self) -> list[CancelOrderResponse]:
        out = []
        for od in list(self._orders.values()):
            if od.is_open:
                self._end_group_member(od, "cancel", self._now_ns)
                out.append(CancelOrderResponse(id=od.id, status=200))
        return out

    # ------------------------------------------------------------------ orders: submit
    def submit_order(self, order_data) -> Order:
        """Place an order, checked against Alpaca's rules; refused with Alpaca's ``APIError``."""
        return self._model(self._place(order_data), nested=False)

    def _place(self, order_data) -> SimOrder:
        """Check, record and start working an order request; its top order."""
        orders = build_orders(self, order_data)
        for od in orders:
            self._orders[od.id] = od
        top = orders[0]
        self._by_client_id[top.client_order_id] = top.id
        if top.order_class == "oco":  # exit-only pair: both legs work at once
            for od in orders:
                self._work(od)
        else:
            self._work(top)
        return top

    def replace_order_by_id(self, order_id: UUID | str, order_data: ReplaceOrderRequest | None = None) -> Order:
        """Replace an order: a new order with a new id takes its place; the old one is ``replaced`` (§2)."""
        old = self._get(order_id)
        new = build_replacement(self, old, order_data or ReplaceOrderRequest())
        old.apply("replace", self._now_ns)
        old.replaced_by = new.id
        self._orders[new.id] = new
        self._by_client_id[new.client_order_id] = new.id
        waiting_on = None  # the open entry a replaced leg waits on
        if old.group_id is not None and old.group_id != old.id:  # a leg: take its place in the group
            top = self._orders[old.group_id]
            top.leg_ids[top.leg_ids.index(old.id)] = new.id
            if top.role == "entry" and top.is_open:
                waiting_on = top
        elif new.leg_ids:
            # The top of an OCO: its legs now hang off the new order. Each live order is listed
            # once, under the order it belongs to (§1 nested listing; §2 replace: a new order
            # takes the old one's place), so the replaced top lists no legs. What Alpaca's
            # nested listing shows under a replaced OCO top is UNVERIFIED; listing the live leg
            # under both would show it twice.
            old.leg_ids = []
        was_working = old in self._working.get(old.symbol, ())
        self._unwork(old)
        if was_working:
            self._work(new)
        elif waiting_on is not None:  # a leg waiting on its entry (not working) expires on its own
            self._waiting_leg_replaced(waiting_on)
        return self._model(new, nested=False)

    # ------------------------------------------------------------------ native fast path
    def native_submit(self, order_data) -> tuple[str, str]:
        """:meth:`submit_order` answering only the new order's ``(id, status)``: the two fields
        the Trader reads back, without building the alpaca-py ``Order``. A ``submit_order``
        replaced on the instance or in a subclass (a wrapper, a test's hook) is still the one
        that places the order (handed an :class:`~activetrader.broker.submit.OrderFields` as the
        alpaca-py request it stands for). ``order_data``: an alpaca-py request or ``OrderFields``."""
        submit = self.submit_order
        if getattr(submit, "__func__", None) is not SimBroker.submit_order:
            order = submit(alpaca_request(order_data) if type(order_data) is OrderFields else order_data)
            return str(order.id), order.status.value
        top = self._place(order_data)
        return top.id, top.status

    def native_account(self) -> NativeAccount:
        """``get_account()``'s cash, equity and buying power as floats, without the model."""
        _, equity, bp = self._account_money()
        return NativeAccount(cents(self._cash), cents(equity), cents(bp))

    def native_positions(self) -> list[NativePosition]:
        """``get_all_positions()`` as plain rows (same order, same numbers as the models read
        back); see :func:`activetrader.broker.native.positions`."""
        return native.positions(self)

    def native_orders(self, *, after=None, limit: int | None = None, keep=None, view=None) -> list:
        """A nested ``status="all"`` listing (as :meth:`get_orders` makes it) flattened to rows,
        each listed order then its legs (or ``view`` of each); see
        :func:`activetrader.broker.native.orders`."""
        return native.orders(self, after=after, limit=limit, keep=keep, view=view)

    # ------------------------------------------------------------------ convenience
    def __repr__(self) -> str:
        return (f"SimBroker(now={self.now.isoformat()}, cash={self._cash:,.2f}, positions={len(self._positions)}, "
                f"open_orders={sum(1 for o in self._orders.values() if o.is_open)}, same_bar={self.same_bar!r})")

    def fills_frame(self) -> pd.DataFrame:
        """Every execution so far as a DataFrame (timestamp, order_id, symbol, side, qty, price, realized_pl)."""
        fills = self.fills
        return pd.DataFrame({
            "timestamp": utc_index([f.timestamp.value for f in fills]),
            "order_id": [f.order_id for f in fills], "symbol": [f.symbol for f in fills],
            "side": [f.side for f in fills], "qty": _floats([f.qty for f in fills]),
            "price": _floats([f.price for f in fills]), "realized_pl": _floats([f.realized_pl for f in fills])})

    def orders_frame(self) -> pd.DataFrame:
        """Every order so far, legs included, in submission order, as a DataFrame (read-only;
        times UTC): id, client_order_id, symbol, side, type, order_class, qty, status,
        submitted_at, filled_at, filled_avg_price, limit_price, stop_price, parent_id, role."""
        orders = list(self._orders.values())  # stored in (created_ns, seq) order: see _select_orders
        data = {name: [getattr(o, name) for o in orders]
                for name in ("id", "client_order_id", "symbol", "side", "type", "order_class")}
        data["qty"] = _floats([o.qty for o in orders])
        data["status"] = [o.status for o in orders]
        data["submitted_at"] = utc_index([o.created_ns for o in orders])
        nat = np.iinfo(np.int64).min  # NaT as int64 nanoseconds
        data["filled_at"] = utc_index([nat if o.filled_ns is None else o.filled_ns for o in orders])
        for name in ("filled_avg_price", "limit_price", "stop_price"):
            data[name] = _floats([getattr(o, name) for o in orders])
        data["parent_id"] = [o.parent_id for o in orders]
        data["role"] = [o.role for o in orders]
        return pd.DataFrame(data)


def _floats(values: list) -> np.ndarray:
    """Optional numbers as a float array, None as NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)
