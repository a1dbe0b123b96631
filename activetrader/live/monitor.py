"""The streaming monitor: reacts to each price as it arrives, not at the next iteration.

For every held symbol it knows the position's stops (from a snapshot, refreshed after each
iteration and whenever ``trade_updates`` reports a fill, cancel or expiry), subscribes the
stream to exactly the held symbols (the subscription follows the positions), and on each tick:

1. **trailing stops** (``bracket.trailing_stop_pct`` set): ratchets each trailable stop leg
   with the same rule and the same executor as the iteration's trail step
   (:mod:`activetrader.strategy.trailing`), the raise passing through
   :func:`~activetrader.strategy.enforce_caps` first;
2. **near-stop warning**: when the price comes within ``bracket.near_stop_pct`` of the stop
   (the one threshold ``%positions --near`` and ``activetrader positions`` use), a
   :class:`NearStop` is recorded, logged and passed to ``on_warning``, once per crossing into
   the band (it re-arms when the price leaves it).

Every action records its latency from the tick's arrival (``Tick.received``).

>>> from activetrader import Trader
>>> trader = Trader()
>>> trader.iteration().submitted[0].status          # protect the legacy positions first
'new'
>>> monitor = StreamMonitor.for_trader(trader)
>>> monitor.start()
>>> sorted(monitor.stream.symbols)[:3]
['AAPL', 'ADBE', 'CAT']
>>> trader.advance("2024-08-28 20:00"); monitor.pump()    # a day of hourly prices
>>> monitor.ticks > 0
True
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..strategy import AccountView, Plan, PositionView, Snapshot, enforce_caps
from ..strategy.intents import RaiseStop
from ..strategy.trailing import ratchet, trailable_stops
from ..ticks import fmt_price
from .loop import _et
from .stream import AlpacaStream, OrderEvent, SimulatedStream, Tick

log = logging.getLogger("activetrader.live")

#: ``trade_updates`` events after which positions or stops may have changed.
_CHANGES = frozenset({"fill", "partial_fill", "canceled", "expired", "done_for_day", "rejected"})


@dataclass(frozen=True)
class NearStop:
    """A price within ``near_stop_pct`` of a position's stop: ``distance`` is
    ``(price − stop) / price``; ``latency`` the seconds from the tick's arrival to this warning."""

    symbol: str
    price: float
    stop: float
    distance: float
    timestamp: pd.Timestamp
    latency: float

    def describe(self) -> str:
        where = f"{self.distance:.1%} above" if self.distance >= 0 else f"already {-self.distance:.1%} below"
        return f"NEAR STOP {self.symbol}: price {fmt_price(self.price)} is {where} its stop {fmt_price(self.stop)}"


@dataclass(frozen=True)
class StopRaised:
    """A stop the monitor raised on a tick, with the broker's answer and the latency."""

    symbol: str
    old_stop: float
    new_stop: float
    price: float
    timestamp: pd.Timestamp
    accepted: bool
    message: str | None
    latency: float


@dataclass
class _Leg:
    order_id: str
    stop: float
    take_profit: float | None


@dataclass
class _Held:
    qty: float
    entry: float
    stops: list[float]
    legs: list[_Leg] = field(default_factory=list)

    @property
    def stop(self) -> float | None:
        return max(self.stops) if self.stops else None


class StreamMonitor:
    """Watch a trader's positions through a :class:`~activetrader.live.stream.PriceStream`
    (see the module docstring). ``on_warning(NearStop)`` and ``on_action(StopRaised)`` are
    optional callbacks; ``warnings``, ``actions`` keep the recent ones."""

    def __init__(self, trader: Any, stream: Any, *, on_warning: Callable | None = None,
                 on_action: Callable | None = None) -> None:
        self.trader, self.stream = trader, stream
        self.on_warning, self.on_action = on_warning, on_action
        #: Held by every reaction and by the live loop's iterations (one actor at a time).
        self.lock = threading.RLock()
        self.warnings: collections.deque[NearStop] = collections.deque(maxlen=500)
        self.actions: collections.deque[StopRaised] = collections.deque(maxlen=500)
        self.ticks = 0
        self.refreshes = 0
        self._held: dict[str, _Held] = {}
        self._near: set[str] = set()

    @classmethod
    def for_trader(cls, trader: Any, **kwargs: Any) -> StreamMonitor:
        """The monitor with the stream that fits the trader: a :class:`SimulatedStream` on a
        simulated broker (hourly prices when its market is the daily simulated one), else
        alpaca-py's streams with the configured keys and endpoints."""
        if hasattr(trader.broker, "advance_to"):
            return cls(trader, SimulatedStream(trader.broker, source=_finer(trader.broker.market)), **kwargs)
        from ..alpaca import stream_clients

        trading, data = stream_clients(live=trader.mode == "live")
        return cls(trader, AlpacaStream(data, trading), **kwargs)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.refresh()
        self.stream.start(self.on_tick, self.on_event)

    def stop(self) -> None:
        self.stream.stop()

    def pump(self) -> None:
        """Let a simulated stream deliver what the clock has passed (the live loop calls this)."""
        self.stream.pump()

    def refresh(self) -> None:
        """Re-read positions and stops from the broker; the subscription follows the positions."""
        with self.lock:
            snap: Snapshot = self.trader.snapshot(with_bars=False)
            held = {}
            for p in snap.positions:
                if p.qty <= 0:
                    continue
                stops = [o.stop_price for o in snap.live_sells(p.symbol)
                         if o.is_protective_stop and o.stop_price is not None]
                legs = [_Leg(o.id, o.stop_price, tp) for o, tp in trailable_stops(snap, p.symbol)]
                held[p.symbol] = _Held(p.qty, p.avg_entry_price, stops, legs)
            self._held = held
            self._near &= set(held)
            self.refreshes += 1
        self.stream.set_symbols(set(held))

    # ------------------------------------------------------------------ reactions
    def on_event(self, event: OrderEvent) -> None:
        """An order update: after a fill, cancel or expiry the positions and stops are re-read."""
        if event.event in _CHANGES:
            self.refresh()

    def on_tick(self, tick: Tick) -> None:
        with self.lock:
            h = self._held.get(tick.symbol)
            if h is None:
                return
            self.ticks += 1
            bracket = self.trader.settings.bracket
            if bracket.trailing_stop_pct is not None:
                for leg in h.legs:
                    new = ratchet(leg.stop, tick.price, trailing_stop_pct=bracket.trailing_stop_pct,
                                  price=tick.price, take_profit=leg.take_profit)
                    if new is not None:
                        self._raise(tick, h, leg, new)
            stop = h.stop
            if stop is None:
                return
            distance = (tick.price - stop) / tick.price
            if distance <= bracket.near_stop_pct + 1e-12:
                if tick.symbol not in self._near:
                    self._near.add(tick.symbol)
                    w = NearStop(tick.symbol, tick.price, stop, distance, tick.timestamp,
                                 time.perf_counter() - tick.received)
                    self.warnings.append(w)
                    log.warning("%s %s", _et(tick.timestamp), w.describe())
                    if self.on_warning is not None:
                        self.on_warning(w)
            else:
                self._near.discard(tick.symbol)

    def _raise(self, tick: Tick, h: _Held, leg: _Leg, new: float) -> None:
        intent = RaiseStop(symbol=tick.symbol, order_id=leg.order_id, old_stop=leg.stop, new_stop=new,
                           high=tick.price, reason="new high on the stream")
        snap = Snapshot(now=tick.timestamp, account=AccountView(0.0, h.qty * tick.price, 0.0),
                        positions=(PositionView(tick.symbol, h.qty, h.entry, tick.price, 0.0),),
                        bars=_no_bars(), prices={tick.symbol: tick.price})
        plan = enforce_caps(Plan(intents=(intent,)), snap, self.trader.settings)
        if not plan.intents:  # the caps refused it (and said why)
            log.warning("%s", "; ".join(w.describe() for w in plan.warnings))
            return
        (outcome,) = self.trader.execute(plan.intents, source="stream", now=tick.timestamp)
        if outcome.accepted:
            old = leg.stop
            leg.order_id, leg.stop = outcome.order_id, new
            h.stops = [new if s == old else s for s in h.stops] or [new]
        action = StopRaised(tick.symbol, intent.old_stop, new, tick.price, tick.timestamp, outcome.accepted,
                            outcome.message, time.perf_counter() - tick.received)
        self.actions.append(action)
        log.info("%s %s stop %s -> %s on the stream (%s)", _et(tick.timestamp), tick.symbol, fmt_price(intent.old_stop),
                 fmt_price(new), "accepted" if outcome.accepted else f"refused: {outcome.message}")
        if self.on_action is not None:
            self.on_action(action)

    def __repr__(self) -> str:
        return (f"StreamMonitor({type(self.stream).__name__}, {len(self._held)} symbol(s), ticks={self.ticks}, "
                f"warnings={len(self.warnings)}, raises={len(self.actions)})")


@functools.cache
def _no_bars() -> pd.DataFrame:
    """An empty bars frame, made once (the caps read no bars)."""
    return Snapshot.from_simple(cash=0.0).bars


def _finer(market: Any) -> Any:
    """Hourly prices for a daily simulated market (its daily bars aggregate the same hourly
    bars, so both agree); any other market streams its own bars."""
    from ..market import SimulatedMarket

    if isinstance(market, SimulatedMarket) and market.timeframe == "1Day":
        info = market.info()
        return SimulatedMarket(seed=market.seed, start=str(info["first_session"]), end=str(info["last_session"]),
                               timeframe="1Hour", symbols=list(market.symbols))
    return market


__all__ = ["NearStop", "StopRaised", "StreamMonitor"]
