"""The venue: one SimBroker behind a lock, its clock, and the events the streams listen to.

Everything the HTTP app, the websocket streams, the admin endpoints and :class:`Sandbox` do to
the paper account goes through one :class:`Venue`, so there is a single place where

* the broker is touched (always while holding :attr:`Venue.lock`, a re-entrant lock: uvicorn
  serves requests from worker threads, and the clock may move from its own thread);
* time moves (:meth:`Venue.advance_to`, by hand, or by the realtime/accelerated clock thread);
* subscribers hear about changes: after every clock move ``("advanced", prev_ts, now_ts)`` and
  after every change of orders ``("orders", [OrderChange, ...])`` (a submission, cancel,
  replace or close, and the fills/expiries a clock move causes; the order changes of a move are
  published just before its ``"advanced"`` event);
* the account is saved (``state=``, see :mod:`activetrader.server.state`).

>>> from activetrader.market import SimulatedMarket
>>> from activetrader.broker import SimBroker
>>> venue = Venue(SimBroker(SimulatedMarket(seed=1), start="2024-03-04 09:00-05:00"))
>>> seen = []
>>> unsubscribe = venue.subscribe(seen.append)
>>> venue.advance_to("2024-03-05 09:00-05:00")
>>> seen[0][0], str(seen[0][2])
('advanced', '2024-03-05 14:00:00+00:00')
"""

from __future__ import annotations

import logging
import threading
import time
from itertools import islice
from collections.abc import Callable
from typing import Any, NamedTuple

import pandas as pd

from ..market.sessions import to_timestamp

log = logging.getLogger(__name__)

#: Alpaca's ``trade_updates`` event for each simulator lifecycle event (broker/lifecycle.py).
_EVENT_NAMES = {"fill": "fill", "cancel": "canceled", "expire": "expired", "replace": "replaced", "activate": "new"}
_PRIORITY = {"fill": 0, "replaced": 1, "new": 2, "canceled": 3, "expired": 3}


class OrderChange(NamedTuple):
    """One order event, as the ``trade_updates`` stream reports it (alpaca-contract.md §7).

    ``event`` is Alpaca's event name (``new``, ``fill``, ``canceled``, ``expired``,
    ``replaced``); ``order`` the alpaca-py ``Order`` after the event (legs not nested);
    ``price``/``qty`` the execution of a fill (else None); ``position_qty`` the signed position
    in the symbol right after the event.
    """

    event: str
    order: Any
    timestamp: pd.Timestamp
    price: float | None
    qty: float | None
    position_qty: float


def parse_clock(clock) -> float | None:
    """The clock mode as a speed: None for ``"manual"``, 1.0 for ``"realtime"``, else the number.

    >>> parse_clock("manual"), parse_clock("realtime"), parse_clock("60")
    (None, 1.0, 60.0)
    """
    if clock is None or clock == "manual":
        return None
    if clock == "realtime":
        return 1.0
    try:
        speed = float(clock)
    except (TypeError, ValueError):
        raise ValueError(f"clock={clock!r} is not allowed: use 'manual', 'realtime' or a speed "
                         "such as 60 (simulated seconds per real second)") from None
    if not (speed > 0 and speed < 1e7):
        raise ValueError(f"clock={clock!r} is not allowed: a speed must be > 0 (and < 1e7)")
    return speed


class Venue:
    """A SimBroker served as an Alpaca paper account.

    Parameters
    ----------
    broker:
        The :class:`~activetrader.broker.SimBroker` (its ``market`` serves the data API).
    key_id, secret_key:
        The credentials requests must carry (None: no check; the Sandbox always sets them).
    clock:
        ``"manual"`` (time moves only through :meth:`advance_to`), ``"realtime"`` or a speed
        (simulated seconds per real second): a background thread then moves the broker from
        its current time as the wall clock runs.
    state:
        A :class:`~activetrader.server.state.StateStore`, saved after every change (or None).
    page_size:
        Most items one market-data page holds, whatever ``limit`` asks (Alpaca's cap is 10,000;
        a smaller one makes clients page sooner, e.g. in tests).
    """

    def __init__(self, broker, *, key_id: str | None = None, secret_key: str | None = None,
                 clock="manual", state=None, page_size: int = 10_000) -> None:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size={page_size!r} is not allowed: an integer >= 1")
        self.broker = broker
        self.market = broker.market
        self.lock = threading.RLock()
        self.key_id = key_id
        self._secret_key = secret_key
        self.speed = parse_clock(clock)
        self.state = state
        self.page_size = page_size
        #: Alpaca's account configurations (GET/PATCH /v2/account/configurations).
        self.configurations: dict[str, Any] = {
            "fractional_trading": True, "max_margin_multiplier": str(getattr(broker, "margin_multiplier", 2)),
            "no_shorting": True, "suspend_trade": False, "trade_confirm_email": "none",
            "ptp_no_exception_entry": False, "max_options_trading_level": 0,
        }
        self._subscribers: list[Callable[[tuple], None]] = []
        self._marks: dict[str, int] = {}  # order id -> lifecycle events already published
        self._open: set[str] = set()  # ids of orders open at the last mark
        self._n_orders = 0
        self._n_fills = 0
        self._mark_all()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ credentials
    def authorized(self, key_id: str | None, secret_key: str | None) -> bool:
        """Whether a request's ``APCA-API-KEY-ID``/``APCA-API-SECRET-KEY`` are this venue's."""
        if self.key_id is None and self._secret_key is None:
            return True
        import hmac

        return (key_id is not None and secret_key is not None
                and hmac.compare_digest(key_id.encode(), (self.key_id or "").encode())
                and hmac.compare_digest(secret_key.encode(), (self._secret_key or "").encode()))

    # ------------------------------------------------------------------ events
    def subscribe(self, callback: Callable[[tuple], None]) -> Callable[[], None]:
        """Call ``callback(event)`` after every change; returns a function that unsubscribes.

        Events are ``("advanced", prev_ts, now_ts)`` and ``("orders", [OrderChange, ...])``.
        Callbacks run synchronously, with :attr:`lock` held, in whichever thread made the
        change (a request worker, the clock thread, the caller of ``advance_to``): they must
        not block (hand over with ``loop.call_soon_threadsafe``). A failing callback is logged
        and does not stop the others.
        """
        with self.lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self.lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
        return unsubscribe

    def _publish(self, event: tuple) -> None:
        for cb in list(self._subscribers):
            try:
                cb(event)
            except Exception:  # a subscriber's bug must not break the venue
                log.exception("venue subscriber %r failed on %s", cb, event[0])

    # ------------------------------------------------------------------ time
    @property
    def now(self) -> pd.Timestamp:
        return self.broker.now

    def advance_to(self, timestamp) -> None:
        """Move the broker to ``timestamp`` (fills and expiries happen), then notify and save.

        Going backwards raises ``ValueError`` (the broker's own message); the same moment is a
        no-op.
        """
        ts = to_timestamp(timestamp)
        with self.lock:
            prev = self.broker.now
            if ts == prev:
                return
            self.broker.advance_to(ts)
            self._after_change()
            self._publish(("advanced", prev, self.broker.now))

    def mutate(self, fn: Callable, *args, **kwargs):
        """Run ``fn(*args, **kwargs)`` (a broker call that may change orders) under the lock,
        then publish the order changes and save the state. Errors propagate; a refused call
        changes nothing (the SimBroker records nothing half-done)."""
        with self.lock:
            try:
                return fn(*args, **kwargs)
            finally:
                self._after_change()

    def read(self, fn: Callable, *args, **kwargs):
        """Run a read-only broker or market call under the lock."""
        with self.lock:
            return fn(*args, **kwargs)

    def _after_change(self) -> None:
        changes = self._collect_changes()
        if changes:
            self._publish(("orders", changes))
        if self.state is not None:
            self.state.save(self)

    # ------------------------------------------------------------------ order changes
    # The one place that reads the SimBroker's records (its orders, positions and fill ledger)
    # to find what changed since the last mark; everything else uses its public API.
    def _mark_all(self) -> None:
        b = self.broker
        self._marks = {oid: len(od.events) for oid, od in b._orders.items()}
        self._open = {oid for oid, od in b._orders.items() if od.is_open}
        self._n_orders = len(b._orders)
        self._n_fills = len(b.fills)

    def _collect_changes(self) -> list[OrderChange]:
        b = self.broker
        orders = b._orders
        # orders are only ever added (in submission order): the new ones are the last few keys
        new_ids = list(islice(reversed(orders), len(orders) - self._n_orders))[::-1]
        fills = b.fills[self._n_fills:]
        fill_of: dict[str, list] = {}
        for f in fills:
            fill_of.setdefault(f.order_id, []).append(f)
        # (ns, priority of the order's first event at ns, order rank, index, event, order id, fill)
        raw: list[tuple] = []
        new_set = set(new_ids)
        for oid in sorted(self._open | new_set, key=lambda i: (orders[i].created_ns, orders[i].seq, i)):
            od = orders[oid]
            hist = od.events
            after = [hist[i + 1][0] if i + 1 < len(hist) else od.status for i in range(len(hist))]
            events = []  # (ns, Alpaca's event name, the order's status right after it)
            if oid in new_set and od.status != "held" and not (hist and hist[0][0] == "held"):
                # a new order (a held leg is announced when it becomes new)
                events.append((od.created_ns, "new", hist[0][0] if hist else od.status))
            for i in range(self._marks.get(oid, 0), len(hist)):
                if hist[i][1] in _EVENT_NAMES:
                    events.append((hist[i][2], _EVENT_NAMES[hist[i][1]], after[i]))
            self._marks[oid] = len(hist)
            first: dict[int, int] = {}
            for k, (ns, name, status) in enumerate(events):
                first.setdefault(ns, _PRIORITY[name])
                f = fill_of[oid].pop(0) if name == "fill" and fill_of.get(oid) else None
                raw.append((ns, first[ns], od.created_ns, od.seq, k, name, oid, f, status))
        # Events at one instant in causal order: an order's own events stay in sequence; across
        # orders, fills come first (the entry's fill, the exit that cancels its sibling), then
        # replacements, then orders becoming new (legs released by a fill), then cancels/expiries.
        raw.sort(key=lambda r: r[:5])
        # Signed position after each event: start from the position before the new fills.
        pos: dict[str, float] = {}
        for f in fills:
            if f.symbol not in pos:
                p = b._positions.get(f.symbol)
                pos[f.symbol] = (p.qty if p is not None else 0.0) - sum(
                    (g.qty if g.side == "buy" else -g.qty) for g in fills if g.symbol == f.symbol)
        out = []
        models: dict[str, Any] = {}
        for ns, _, _, _, _, name, oid, f, status in raw:
            od = orders[oid]
            if f is not None:
                pos[od.symbol] = pos.get(od.symbol, 0.0) + (f.qty if f.side == "buy" else -f.qty)
            held = pos.get(od.symbol)
            if held is None:
                p = b._positions.get(od.symbol)
                held = p.qty if p is not None else 0.0
            if oid not in models:
                models[oid] = od.to_alpaca()
            out.append(OrderChange(name, _as_of(models[oid], od, ns, status), pd.Timestamp(ns, tz="UTC"),
                                   f.price if f is not None else None, f.qty if f is not None else None, held))
        self._open = {oid for oid in self._open | new_set if orders[oid].is_open}
        self._n_orders = len(orders)
        self._n_fills = len(b.fills)
        return out

    # ------------------------------------------------------------------ the clock thread
    def start_clock(self) -> None:
        """Start the realtime/accelerated clock thread (no-op for a manual clock)."""
        if self.speed is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_clock, name="activetrader-venue-clock", daemon=True)
        self._thread.start()

    def stop_clock(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=10)
            self._thread = None

    def _run_clock(self) -> None:
        wall0 = time.monotonic()
        sim0 = self.now
        # Accelerated clocks tick more often so that bars complete close to when they should.
        tick = 1.0 if self.speed <= 1 else 0.25
        while not self._stop.wait(tick):
            target = sim0 + pd.Timedelta(seconds=(time.monotonic() - wall0) * self.speed)
            try:
                if target > self.now:
                    self.advance_to(target)
            except Exception:  # keep the clock alive; the error is logged for the operator
                log.exception("the venue clock failed to advance to %s", target)

    def close(self) -> None:
        """Stop the clock thread and close the state store."""
        self.stop_clock()
        if self.state is not None:
            with self.lock:
                self.state.save(self)
                self.state.close()

    def __repr__(self) -> str:
        mode = "manual" if self.speed is None else ("realtime" if self.speed == 1 else f"x{self.speed:g}")
        return f"Venue(now={self.now.isoformat()}, clock={mode}, key_id={_mask(self.key_id)}, secret_key=***)"


def _as_of(model, od, ns: int, status: str):
    """The alpaca-py ``Order`` as it was right after an event at ``ns`` (later changes undone)."""
    from alpaca.trading.enums import OrderStatus

    if model.status.value == status and od.updated_ns <= ns:
        return model
    when = pd.Timestamp(ns, tz="UTC")
    update: dict[str, Any] = {"status": OrderStatus(status), "updated_at": when}
    for field, at in (("filled_at", od.filled_ns), ("canceled_at", od.canceled_ns), ("expired_at", od.expired_ns),
                      ("replaced_at", od.replaced_ns)):
        if at is not None and at > ns:
            update[field] = None
    if od.filled_ns is None or od.filled_ns > ns:
        update.update(filled_qty="0", filled_avg_price=None)
    if od.replaced_ns is None or od.replaced_ns > ns:
        update["replaced_by"] = None
    return model.model_copy(update=update)


def _mask(key: str | None) -> str:
    """A key shown only by its last 4 characters (none of it when shorter than 12).

    >>> _mask("not-a-real-key-ABCD"), _mask("short")
    ("'****ABCD'", "'****'")
    """
    if not key:
        return repr(key)
    return "'****" + (key[-4:] if len(key) >= 12 else "") + "'"
