"""The simulation engine under :class:`~activetrader.broker.SimBroker`: the clock, the orders
and their working lists, positions, cash and fills, bar processing (and skipping the bars in
which no working order can act; where an order fills within a bar is broker/fills.py), bracket
legs, lifecycle and expiry bookkeeping, and price look-ups with their cache. It knows no
alpaca-py models: SimBroker (broker/sim.py) is the alpaca-py surface over it (request models
in, response models out).

>>> from activetrader.market import SimulatedMarket
>>> engine = Engine(SimulatedMarket(seed=7), cash=5_000, start="2024-03-04 09:00-05:00")
>>> engine.advance_to("2024-03-04 16:00-05:00")
>>> engine.now.isoformat(), engine.equity(), engine.holds("AAPL")
('2024-03-04T21:00:00+00:00', 5000.0, False)
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from ..market.base import Market, UnknownSymbolError
from ..market.sessions import from_ns, to_ns
from ..ticks import round_price
from .errors import INVALID, api_error
from .fills import bar_path, eligible, order_event_bar, path_time_to_ns, touch, trailing_stop_level
from .lifecycle import gtc_expiry_ns
from .orders import SimOrder, order_id

SameBar = Literal["worst", "best", "path"]
#: After every int64 nanosecond time: "no such moment" (no expiry, no event bar).
NEVER_NS = 2**63 - 1


def cents(money: float) -> float:
    """Money as it reads back from Alpaca's wire, where it is a decimal string to the cent.

    >>> cents(5000.0), cents(12.3456)
    (5000.0, 12.35)
    """
    return float(f"{money:.2f}")


def _int_view(a: np.ndarray) -> memoryview:
    """A read-only int64 memoryview of ``a`` (no copy when it already is int64 and contiguous):
    indexing gives Python ints, and :mod:`bisect` searches it.

    >>> from bisect import bisect_right
    >>> v = _int_view(np.array([10, 20, 30]))
    >>> v[1], bisect_right(v, 25), len(v)
    (20, 2, 3)
    """
    a = np.ascontiguousarray(a, dtype=np.int64)
    return memoryview(a).cast("B").cast("q").toreadonly()


@dataclass(slots=True, eq=False)
class _EngineCache:
    """What the engine derives from market data and caches of the account state, kept apart
    from the account state itself: it holds the market, so a saved account (server/state.py)
    leaves it out and a reload starts it empty (every entry is rebuilt when next asked for)."""

    market: object
    price_ns: int
    #: symbol -> (bar arrays, ends and starts as int64 memoryviews; Engine._ends)
    lists: dict = field(default_factory=dict)
    #: symbol -> (first bar index where its working orders can act, that bar's end or NEVER_NS);
    #: dropped when they change
    wake: dict = field(default_factory=dict)
    #: advance_to before this instant has nothing to do (-1: unknown, look)
    quiet_until: int = -1
    #: last prices at ``price_ns``
    prices: dict = field(default_factory=dict)
    #: symbol -> how many of its bars were complete at its last price look-up (a lower bound
    #: for any later clock: Engine._look_up_price)
    complete: dict = field(default_factory=dict)
    # -- per symbol, dropped by :meth:`orders_changed` (the symbol's orders changed)
    #: symbol -> shares held by its working sell orders
    held: dict = field(default_factory=dict)
    #: symbol -> (earliest expiry of its working orders, and of those and their waiting legs)
    expiries: dict = field(default_factory=dict)
    #: symbol -> its part of a live native_orders listing (see native._open_listing)
    listings: dict = field(default_factory=dict)
    #: symbol -> its native position row but the price: (qty, avg_entry_price, qty_available)
    position_parts: dict = field(default_factory=dict)
    # -- dropped by a fill
    #: (clock, long market value at it, the largest position's value at it)
    market_value: tuple = (None, 0.0, 0.0)
    #: the held symbols, sorted
    position_symbols: list | None = None
    # --
    #: (clock, buying power reserved by working buy orders at it); dropped when a buy order
    #: stops working, or starts working other than on a new last symbol (Engine._work)
    reserved: tuple = (None, 0.0)

    def orders_changed(self, symbol: str) -> None:
        """An order of ``symbol`` started or stopped working, changed status or moved its stop:
        drop what was derived from the symbol's orders."""
        self.wake.pop(symbol, None)
        self.held.pop(symbol, None)
        self.expiries.pop(symbol, None)
        self.listings.pop(symbol, None)
        self.position_parts.pop(symbol, None)
        self.quiet_until = -1


@dataclass(slots=True)
class SimPosition:
    symbol: str
    qty: float
    avg_entry_price: float


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution: the ledger the account is a fold over."""

    timestamp: pd.Timestamp
    order_id: str
    symbol: str
    side: str
    qty: float
    price: float
    realized_pl: float


class Engine:
    """The simulated account and market clock a broker runs on (no alpaca-py models).

    Parameters
    ----------
    market:
        The price source whose bars fill orders.
    cash:
        Starting cash of the account.
    start:
        The simulated moment the broker starts at (default: just before the market's first
        bar). Nothing before it is ever processed.
    same_bar:
        When a bracket's take-profit and stop-loss are both reachable within one bar:
        ``"worst"`` (default) fills the exit worse for the trader, ``"best"`` the better one,
        ``"path"`` whichever the bar path (see :mod:`activetrader.broker.fills`) reaches first.
    list_held_legs:
        Whether ``get_orders(status="open")`` lists legs in status ``held``. Users report that
        Alpaca does not (alpaca-contract.md §1, UNVERIFIED), so the default is False: find
        them with ``status="all", nested=True``.
    margin_multiplier:
        2 (default, Reg T margin account) or 1 (cash-like). See the account model in
        :mod:`activetrader.broker.sim`.
    """

    def __init__(
        self,
        market: Market,
        cash: float = 100_000.0,
        *,
        start=None,
        same_bar: SameBar = "worst",
        list_held_legs: bool = False,
        margin_multiplier: int = 2,
    ) -> None:
        if same_bar not in ("worst", "best", "path"):
            raise ValueError(f"same_bar={same_bar!r} is not allowed: use 'worst', 'best' or 'path'")
        if margin_multiplier not in (1, 2):
            raise ValueError(f"margin_multiplier={margin_multiplier!r} is not allowed: use 1 or 2")
        if not cash >= 0:
            raise ValueError(f"cash={cash!r} is not allowed: must be >= 0")
        self.market = market
        self.same_bar: SameBar = same_bar
        self.list_held_legs = bool(list_held_legs)
        self.margin_multiplier = margin_multiplier
        self._cal = market.calendar
        self._cash = float(cash)
        self._initial_cash = float(cash)
        self._positions: dict[str, SimPosition] = {}
        self._orders: dict[str, SimOrder] = {}
        self._by_client_id: dict[str, str] = {}
        #: symbol -> orders that can fill now (entries, simple orders, legs of filled entries).
        self._working: dict[str, list[SimOrder]] = {}
        self._seq = 0
        self._next_expiry_ns = NEVER_NS  # earliest expiry among working orders: skip scans before it
        self.fills: list[Fill] = []
        #: Orders cancelled or expired so far (a backtest wakes a strategy after one; backtest.run),
        #: not counting an exit leg cancelled because its sibling filled and closed the position.
        self.ended_unfilled = 0
        self.realized_pl = 0.0
        self._now_ns = to_ns(start) if start is not None else int(market.start.value) - 1_000
        self._gtc_expiry: tuple[int | None, int] = (None, 0)
        self._market_has_clock = hasattr(market, "as_of")
        #: Skip bars in which no working order can act (False walks every bar: the reference).
        self.skip_quiet_bars = True
        self._c = _EngineCache(market, self._now_ns)
        self._sync_market_clock()

    # ------------------------------------------------------------------ time
    @property
    def now(self) -> pd.Timestamp:
        """The simulated present (UTC)."""
        return from_ns(self._now_ns)

    def advance_to(self, timestamp) -> None:
        """Process, in time order, every bar complete by ``timestamp``; then ``now == timestamp``.

        Only symbols with working orders are touched, so the cost follows the resting orders,
        not the universe size. Going backwards is an error.
        """
        ns = to_ns(timestamp)
        if ns < self._now_ns:
            raise ValueError(f"advance_to({from_ns(ns)}) would go backwards: the broker is already at {self.now}")
        prev = self._now_ns
        wake, skip = self._c.wake, self.skip_quiet_bars
        if not (skip and ns < self._c.quiet_until):  # else no working order can act before ns
            for symbol in list(self._working):
                if skip:
                    hit = wake.get(symbol)
                    if hit is not None and hit[1] > ns:  # its next event bar is not complete by ns
                        continue
                arr, ends, starts = self._ends(symbol)
                i, i1 = bisect_right(ends, prev), bisect_right(ends, ns)
                while symbol in self._working:
                    if skip:  # jump to the first bar where a working order can act
                        hit = wake.get(symbol)
                        if hit is None or hit[0] < i:
                            w = self._first_event_bar(symbol, arr, starts, i)
                            hit = wake[symbol] = (w, ends[w] if w < len(ends) else NEVER_NS)
                        w = hit[0]
                        if w >= i1:
                            break
                        i = w
                    elif i >= i1:
                        break
                    self._process_bar(symbol, starts[i], ends[i], bool(arr.regular[i]), arr.open.item(i),
                                      arr.high.item(i), arr.low.item(i), arr.close.item(i))
                    wake.pop(symbol, None)  # the bar may have changed the orders: look again from the next
                    i += 1
            if skip:  # the earliest moment a bar in which some order can act is complete
                self._c.quiet_until = self._next_event_ns()
        if ns >= self._next_expiry_ns:
            # Working orders, then legs waiting on their entry, each in symbol order; only the
            # symbols with an order due are looked at (the order of ending decides a group's events).
            known = self._c.expiries
            due = [s for s in self._working if (known.get(s) or self._expiries(s))[1] <= ns]
            orders = [o for s in due for o in self._working[s]]
            orders += [self._orders[i] for s in due for od in self._working[s] if od.role == "entry"
                       for i in od.leg_ids]
            for order in orders:
                if order.expires_ns is not None and order.expires_ns <= ns and order.is_open:
                    self._end_group_member(order, order.expiry_event, order.expires_ns)
            self._next_expiry_ns = min(((known.get(s) or self._expiries(s))[1] for s in self._working), default=NEVER_NS)
        self._now_ns = ns
        self._sync_market_clock()

    def _sync_market_clock(self) -> None:
        if self._market_has_clock:
            self.market.as_of = self._now_ns

    # ------------------------------------------------------------------ prices
    def last_price(self, symbol: str) -> float:
        """The current price: the close of the last bar complete at :attr:`now`.

        Before any bar of the symbol is complete, the first bar's open stands in (used only to
        size and check orders submitted before the market has printed).
        """
        prices = self._prices_now()
        p = prices.get(symbol)
        if p is None:
            p = self._look_up_price(symbol, prices)
        return p

    def _look_up_price(self, symbol: str, prices: dict) -> float:
        """:meth:`last_price` not yet in ``prices`` (the current clock's): found from where the
        symbol's last look-up left off, as the clock never goes back (a daily step moves it
        one bar: two comparisons instead of a bisection)."""
        c, now = self._c, self._now_ns
        arr, ends, _ = c.lists.get(symbol) or self._ends(symbol)
        i, n = c.complete.get(symbol, 0), len(ends)
        if i < n and ends[i] <= now:
            i += 1
            if i < n and ends[i] <= now:
                i = bisect_right(ends, now, i)
        c.complete[symbol] = i
        p = prices[symbol] = arr.close.item(i - 1) if i else arr.open.item(0)
        return p

    def _prices_now(self) -> dict:
        """The last prices looked up at the current clock (emptied when it moves)."""
        c = self._c
        if c.price_ns != self._now_ns:  # prices change only when the clock moves
            c.prices.clear()
            c.price_ns = self._now_ns
        return c.prices

    def _ends(self, symbol: str):
        """The symbol's bar arrays and their end and start times as int sequences that
        :mod:`bisect` searches (one value: cheaper than a numpy call; the engine asks this for
        every symbol at every step). They are memoryviews of the market's own int64 arrays:
        no copy, where Python int lists cost 40 bytes a bar twice (~116 MB at 500 symbols)."""
        hit = self._c.lists.get(symbol)
        if hit is None:  # a market's bars never change once built
            arr = self._arrays(symbol)
            hit = self._c.lists[symbol] = (arr, _int_view(arr.end), _int_view(arr.start))
        return hit

    def _arrays(self, symbol: str):
        try:
            return self.market.arrays(symbol)
        except UnknownSymbolError:
            raise api_error(422, INVALID, f"asset {symbol} not found") from None

    # ------------------------------------------------------------------ the engine
    def _process_bar(self, symbol: str, start: int, end: int, regular: bool,
                     open_: float, high: float, low: float, close: float) -> None:
        path = bar_path(open_, high, low, close)
        touches: dict[str, tuple[float, float] | None] = {}
        for od in list(self._working[symbol]):
            if not od.is_open:  # ended with a sibling earlier in this loop
                continue
            if od.legs_expire_ns is not None and od.legs_expire_ns <= start:  # a waiting leg's own end
                leg = min(map(self._orders.get, od.leg_ids),
                          key=lambda o: NEVER_NS if o.expires_ns is None else o.expires_ns)
                self._end_group_member(leg, leg.expiry_event, leg.expires_ns)
                continue
            if od.expires_ns is not None and od.expires_ns <= start:
                self._end_group_member(od, od.expiry_event, od.expires_ns)
                continue
            if od.active_from_ns > start or not eligible(od, regular):
                continue
            touches[od.id] = touch(od, path, 0.0, path[0])
        self._resolve_same_bar(touches)
        while True:
            live = [(v[0], k) for k, v in touches.items() if v is not None and self._orders[k].is_open]
            if not live:
                break
            _, oid = min(live)
            od = self._orders[oid]
            t, price = touches.pop(oid)
            fill_ns = path_time_to_ns(start, end, t)
            self._fill(od, price, fill_ns)
            for leg in self._activate_legs(od, fill_ns) if od.role == "entry" else ():
                touches[leg.id] = touch(leg, path, t, price) if regular else None
            self._resolve_same_bar(touches)
        for oid in touches:  # IOC/FOK get one chance: the first bar they could trade in
            od = self._orders[oid]
            if od.is_open and od.time_in_force in ("ioc", "fok"):
                self._end_group_member(od, "cancel", start)
        if regular:  # trailing marks rise only on regular-session prints, after the bar (conservative)
            for od in self._working.get(symbol, ()):
                if od.type == "trailing_stop" and od.active_from_ns <= start:
                    od.hwm = max(od.hwm, path[1], path[2]) if od.side == "sell" else min(od.hwm, path[1], path[2])
                    od.stop_price = round_price(trailing_stop_level(od.hwm, od.side, od.trail_percent, od.trail_price))
                    self._c.orders_changed(symbol)

    def _next_event_ns(self) -> int:
        """When the first bar in which some working order can act is complete (-1: unknown)."""
        first, wake = NEVER_NS, self._c.wake
        for s in self._working:
            hit = wake.get(s)
            if hit is None:
                return -1
            if hit[1] < first:
                first = hit[1]
        return first

    def _first_event_bar(self, symbol: str, arr, starts, i: int) -> int:
        """The first bar at or after ``i`` in which some working order of ``symbol`` can do
        anything (fill, trigger, expire, move a trailing mark); ``len(arr)`` if none.

        Found with array comparisons over the bars ahead, so the engine skips the quiet bars in
        between instead of walking each one for each resting order. A bar skipped here is one
        :meth:`_process_bar` would have left unchanged (tests/test_engine_wake.py compares
        the two bar by bar).
        """
        best = len(arr)
        if i >= best:
            return best
        for od in self._working[symbol]:
            j = order_event_bar(od, arr, starts, i, best)
            if j < best:
                best = j
                if best <= i:
                    break
        return best

    def _resolve_same_bar(self, touches: dict) -> None:
        """Both exits of one group reachable in this bar: the ``same_bar`` rule picks one."""
        groups: dict[str, list[str]] = {}
        for oid, hit in touches.items():
            od = self._orders[oid]
            if hit is not None and od.role in ("take_profit", "stop_loss") and od.is_open:
                groups.setdefault(od.group_id, []).append(oid)
        for members in groups.values():
            if len(members) < 2:
                continue
            sell = self._orders[members[0]].side == "sell"
            if self.same_bar == "path":
                winner = min(members, key=lambda k: touches[k][0])
            else:
                worst_first = (lambda k: touches[k][1]) if sell else (lambda k: -touches[k][1])
                ranked = sorted(members, key=worst_first)
                winner = ranked[0] if self.same_bar == "worst" else ranked[-1]
            for k in members:
                if k != winner:
                    touches[k] = None

    def _fill(self, od: SimOrder, price: float, ns: int) -> None:
        qty = od.qty if od.qty is not None else round(od.notional / price, 9)
        pos = self._positions.get(od.symbol)
        self._c.market_value, self._c.position_symbols = (None, 0.0, 0.0), None
        self._c.position_parts.pop(od.symbol, None)
        realized = 0.0
        if od.side == "buy":
            if pos is None:
                pos = self._positions[od.symbol] = SimPosition(od.symbol, 0.0, 0.0)
            pos.avg_entry_price = (pos.qty * pos.avg_entry_price + qty * price) / (pos.qty + qty)
            pos.qty += qty
            self._cash -= qty * price
        else:
            if pos is None or pos.qty + 1e-9 < qty:
                # Unreachable through the public API (qty_available is checked at submission).
                raise AssertionError(f"sell of {qty} {od.symbol} exceeds the position")
            realized = (price - pos.avg_entry_price) * qty
            pos.qty -= qty
            self._cash += qty * price
            if abs(pos.qty) < 1e-9:
                del self._positions[od.symbol]
        self.realized_pl += realized
        od.filled_qty = qty
        od.filled_avg_price = price
        od.apply("fill", ns)
        self._unwork(od)
        self.fills.append(Fill(from_ns(ns), od.id, od.symbol, od.side, qty, price, realized))
        if od.role in ("take_profit", "stop_loss"):  # one exit filled: the other is cancelled (§1)
            closed = od.symbol not in self._positions  # then no share is left unprotected by it
            for sib in self._group(od):
                if sib is not od and sib.is_open:
                    self._cancel_one(sib, ns, counted=not closed)

    def _activate_legs(self, parent: SimOrder, ns: int) -> list[SimOrder]:
        """The entry filled completely: its legs start working (TP `new`, SL stays `held`)."""
        legs = [self._orders[i] for i in parent.leg_ids]
        for leg in legs:
            if leg.role == "take_profit":
                leg.apply("activate", ns)
            leg.active_from_ns = ns
            self._work(leg)
        return legs

    # ------------------------------------------------------------------ bookkeeping
    def _work(self, od: SimOrder) -> None:
        self._c.orders_changed(od.symbol)
        if od.side == "buy":
            clock, total = self._c.reserved
            if clock == self._now_ns and od.symbol not in self._working:
                # A new symbol goes last in _working, so _reserved_scan would add this order's
                # cost last: add it to the kept sum (the same float additions, in the same order).
                self._c.reserved = (clock, total + self._order_cost(od.symbol, od.type, od.qty, od.notional,
                                                                    od.limit_price, od.stop_price))
            else:
                self._c.reserved = (None, 0.0)
        self._working.setdefault(od.symbol, []).append(od)
        if od.expires_ns is not None and od.expires_ns < self._next_expiry_ns:
            self._next_expiry_ns = od.expires_ns

    def _unwork(self, od: SimOrder) -> None:
        self._c.orders_changed(od.symbol)
        if od.side == "buy":
            self._c.reserved = (None, 0.0)
        lst = self._working.get(od.symbol)
        if lst and od in lst:
            lst.remove(od)
            if not lst:
                del self._working[od.symbol]

    def _open_orders(self, symbol: str) -> list[SimOrder]:
        """Every open order of ``symbol``: the working ones and the legs waiting on an entry."""
        working = self._working.get(symbol, [])
        return working + [self._orders[i] for od in working if od.role == "entry" for i in od.leg_ids]

    def _expiries(self, symbol: str) -> tuple[int, int]:
        """The earliest expiry among the symbol's working orders, and among those and the legs
        waiting on its entries (legs are not working, but they expire with their entry)."""
        hit = self._c.expiries.get(symbol)
        if hit is None:  # dropped whenever the symbol's working orders change (_work/_unwork)
            working = self._working[symbol]
            first = min((o.expires_ns for o in working if o.expires_ns is not None), default=NEVER_NS)
            legs = min((leg.expires_ns for od in working if od.role == "entry"
                        for leg in map(self._orders.get, od.leg_ids) if leg.expires_ns is not None), default=NEVER_NS)
            hit = self._c.expiries[symbol] = (first, min(first, legs))
        return hit

    def _group(self, od: SimOrder) -> list[SimOrder]:
        if od.group_id is None:
            return [od]
        top = self._orders[od.group_id]
        return [top] + [self._orders[i] for i in top.leg_ids]

    def _cancel_one(self, od: SimOrder, ns: int, event: str = "cancel", counted: bool = True) -> None:
        od.apply(event, ns)
        self.ended_unfilled += counted
        self._unwork(od)

    def _end_group_member(self, od: SimOrder, event: str, ns: int) -> None:
        """Cancel/expire an order and its open group siblings (§1: cancelling any order of a
        group cancels its open siblings; an unfilled entry takes its legs with it)."""
        self._cancel_one(od, ns, event)
        for sib in self._group(od):
            if sib is not od and sib.is_open:
                self._cancel_one(sib, ns, "cancel" if event != "expire" else "expire")

    def _waiting_leg_replaced(self, entry: SimOrder) -> None:
        """A leg waiting on its working ``entry`` was replaced (perhaps with another time in
        force): the entry keeps the earliest expiry of its waiting legs where that comes before
        its own, so the engine ends the group at the leg's own session end (a DAY leg expires
        at its close like any DAY order, §1-2) even when no other order is due then."""
        ends = [self._orders[i].expires_ns for i in entry.leg_ids]
        first = min((x for x in ends if x is not None), default=None)
        own = NEVER_NS if entry.expires_ns is None else entry.expires_ns
        entry.legs_expire_ns = first if first is not None and first < own else None
        self._c.orders_changed(entry.symbol)
        if first is not None and first < self._next_expiry_ns:
            self._next_expiry_ns = first

    def _next_id(self) -> str:
        self._seq += 1
        return order_id(self._seq)

    def _expiry(self, tif: str, extended: bool) -> tuple[int | None, str]:
        cal = self._cal
        if tif == "gtc":
            # GTC orders are cancelled 90 days after creation by a 4:15pm ET job (§1).
            if self._gtc_expiry[0] != self._now_ns:  # the orders of one moment share it
                self._gtc_expiry = (self._now_ns, gtc_expiry_ns(self._now_ns))
            return self._gtc_expiry[1], "cancel"
        if extended:
            return int(cal.post_closes[cal.session_at_or_after(self._now_ns)]), "expire"
        # IOC/FOK that found no bar to trade in by the close are cancelled, not expired.
        event = "cancel" if tif in ("ioc", "fok") else "expire"
        return int(cal.closes[cal.regular_session_for_order(self._now_ns)]), event

    def qty_available(self, symbol: str) -> float:
        """Shares of ``symbol`` not held by open sell orders (an exit group holds its shares once; §11)."""
        pos = self._positions.get(symbol)
        return 0.0 if pos is None else pos.qty - self._held_for_orders(symbol)

    def _held_for_orders(self, symbol: str) -> float:
        held = self._c.held.get(symbol)
        if held is None:  # dropped whenever the symbol's working orders change (_work/_unwork)
            held = self._c.held[symbol] = self._held_scan(symbol)
        return held

    def _held_scan(self, symbol: str) -> float:
        held, groups = 0.0, {}
        for od in self._working.get(symbol, ()):
            if od.side != "sell":
                continue
            if od.group_id is not None and od.role in ("take_profit", "stop_loss"):
                groups[od.group_id] = max(groups.get(od.group_id, 0.0), od.qty or 0.0)
            else:
                held += od.qty or 0.0
        return held + sum(groups.values())

    # ------------------------------------------------------------------ account
    def _market_value(self) -> float:
        return self._position_values()[1]

    def _position_values(self) -> tuple:
        """``(clock, long market value, largest position's value)``, kept per clock tick."""
        hit = self._c.market_value  # dropped by a fill (_fill); prices change only with the clock
        if hit[0] != self._now_ns:
            prices, look_up = self._prices_now(), self._look_up_price  # last_price inlined: runs every step
            values = [p.qty * (look_up(s, prices) if (price := prices.get(s)) is None else price)
                      for s, p in self._positions.items()]
            # sum(): Python 3.12 sums floats with compensation, which a += loop would not repeat
            hit = self._c.market_value = (self._now_ns, sum(values), max(values, default=0.0))
        return hit

    def _reserved(self) -> float:
        """Buying power held by open buy orders (§11)."""
        hit = self._c.reserved  # per clock (market orders reserve at the current price); see _work
        if hit[0] != self._now_ns:
            hit = self._c.reserved = (self._now_ns, self._reserved_scan())
        return hit[1]

    def _reserved_scan(self) -> float:
        """:meth:`_reserved` computed afresh: the working buy orders' costs, added in working order."""
        total = 0.0
        for lst in self._working.values():
            for od in lst:
                if od.side == "buy":
                    total += self._order_cost(od.symbol, od.type, od.qty, od.notional, od.limit_price, od.stop_price)
        return total

    def _order_cost(self, symbol, type_, qty, notional, limit, stop) -> float:
        if notional is not None:
            return float(notional)
        if type_ in ("limit", "stop_limit") and limit is not None:
            return qty * limit
        ref = self.last_price(symbol)
        if type_ == "stop" and stop is not None:
            ref = max(ref, stop)
        return qty * ref

    def _buying_power(self, equity: float, lmv: float) -> float:
        if self.margin_multiplier == 1:
            raw = self._cash
        else:
            raw = max(equity - 0.5 * lmv, 0.0) * self.margin_multiplier
        return max(raw - self._reserved(), 0.0)

    def _account_money(self) -> tuple[float, float, float]:
        """Long market value, equity (cash plus it) and buying power, unrounded: the numbers
        behind SimBroker's ``get_account()`` and ``native_account()``."""
        lmv = self._market_value()
        equity = self._cash + lmv
        return lmv, equity, self._buying_power(equity, lmv)

    def equity(self) -> float:
        """Account equity to the cent, as SimBroker's ``get_account().equity`` and
        ``native_account()`` read it: cash plus the positions at their last prices.

        >>> from activetrader.market import SimulatedMarket
        >>> Engine(SimulatedMarket(seed=7), cash=5_000).equity()
        5000.0
        """
        return cents(self._cash + self._market_value())

    def largest_position_value(self) -> float:
        """The market value of the largest position at its last price (0.0 when flat), as
        ``native_positions()`` prices it (a backtest asks this of a wake rule's ``max_weight``).

        >>> from activetrader.market import SimulatedMarket
        >>> Engine(SimulatedMarket(seed=7)).largest_position_value()
        0.0
        """
        return self._position_values()[2]

    def stop_can_trail(self, trail_pct: float) -> bool:
        """True when some working sell ``stop``/``stop_limit`` order's stop price is within a cent
        of its symbol's last price x (1 - ``trail_pct``), or below it: a trailing rule that
        ratchets stops up to that level may raise it (a backtest asks this of a wake rule's
        ``trail_pct``). A stop leg waiting on its bracket entry is not working yet.

        >>> from activetrader.market import SimulatedMarket
        >>> Engine(SimulatedMarket(seed=7)).stop_can_trail(0.05)
        False
        """
        prices, look_up, keep = self._prices_now(), self._look_up_price, 1.0 - trail_pct
        for s, orders in self._working.items():
            stops = [od.stop_price for od in orders
                     if od.side == "sell" and od.type in ("stop", "stop_limit") and od.stop_price is not None]
            if stops:
                price = prices.get(s)
                if price is None:
                    price = look_up(s, prices)
                if price * keep > min(stops) - 0.01:
                    return True
        return False

    def holds(self, symbol: str) -> bool:
        """True when the account holds ``symbol`` or has an open buy order for it (a backtest
        asks this of a one-position-per-symbol wake rule; backtest/quiet.py).

        >>> from activetrader.market import SimulatedMarket
        >>> Engine(SimulatedMarket(seed=7)).holds("AAPL")
        False
        """
        return symbol in self._positions or any(o.side == "buy" for o in self._working.get(symbol, ()))
