"""Price and order-update streams behind one small interface.

A :class:`PriceStream` delivers :class:`Tick`\\ s (a trade price of a subscribed symbol) and
:class:`OrderEvent`\\ s (``trade_updates``: fills, cancels, replacements) to two callbacks:

* :class:`SimulatedStream` on a simulated broker: each time the broker's clock moves (the live
  loop calls :meth:`~PriceStream.pump` after every step) it delivers one tick per regular-session
  bar of a subscribed symbol completed since the last pump (the bar's close, at its end; from a finer
  ``source`` market when given, e.g. the hourly twin of a daily simulated market), and one
  ``fill`` event per new execution of the broker;
* :class:`AlpacaStream` on Alpaca or the local venue: alpaca-py's ``StockDataStream`` (trades)
  and ``TradingStream`` (``trade_updates``), each in its own thread. alpaca-py reconnects a
  dropped connection itself and re-sends the whole subscription after reconnecting
  (alpaca-contract.md §7); :meth:`set_symbols` changes it while connected.

>>> from activetrader import Trader
>>> trader = Trader()
>>> ticks = []
>>> stream = SimulatedStream(trader.broker)
>>> stream.set_symbols({"PG"}); stream.start(ticks.append, lambda event: None)
>>> trader.advance("2024-08-27 20:00"); stream.pump()       # the 2024-08-27 daily bar completes
>>> [(t.symbol, t.price > 0) for t in ticks]
[('PG', True)]
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

log = logging.getLogger("activetrader.live")


@dataclass(frozen=True, slots=True)
class Tick:
    """A price of ``symbol`` at ``timestamp`` (market time); ``received`` is
    ``time.perf_counter()`` when it arrived (for latency measurements)."""

    symbol: str
    price: float
    timestamp: pd.Timestamp
    received: float


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One ``trade_updates`` event: ``event`` is Alpaca's name (``fill``, ``canceled``...)."""

    event: str
    symbol: str
    order_id: str
    timestamp: pd.Timestamp
    price: float | None = None
    qty: float | None = None


OnTick = Callable[[Tick], None]
OnEvent = Callable[[OrderEvent], None]


class PriceStream(Protocol):
    """What the stream monitor needs from a stream."""

    symbols: frozenset[str]

    def start(self, on_tick: OnTick, on_event: OnEvent) -> None:
        """Begin delivering to the two callbacks."""

    def set_symbols(self, symbols: set[str]) -> None:
        """Make ``symbols`` the subscription (subscribe the new, unsubscribe the gone)."""

    def pump(self) -> None:
        """Deliver what the clock has passed (simulated streams; a no-op for live ones)."""

    def stop(self) -> None:
        """Stop delivering and release connections."""


class SimulatedStream:
    """Ticks and fills from a simulated broker's clock (see the module docstring)."""

    def __init__(self, broker: Any, *, source: Any = None) -> None:
        self.broker = broker
        self.source = source if source is not None else broker.market
        self.symbols: frozenset[str] = frozenset()
        self._on_tick: OnTick | None = None
        self._on_event: OnEvent | None = None
        self._ns = int(broker.now.value)
        self._fills = len(broker.fills)

    def start(self, on_tick: OnTick, on_event: OnEvent) -> None:
        self._on_tick, self._on_event = on_tick, on_event
        self._ns, self._fills = int(self.broker.now.value), len(self.broker.fills)

    def set_symbols(self, symbols: set[str]) -> None:
        self.symbols = frozenset(s for s in symbols if s in self.source)

    def pump(self) -> None:
        if self._on_tick is None:
            return
        now = int(self.broker.now.value)
        if now <= self._ns:
            return
        ticks = []
        for sym in self.symbols:
            arr = self.source.arrays(sym)
            i0, i1 = arr.complete_by(self._ns), arr.complete_by(now)
            # regular-session prints only: stops trade only then (alpaca-contract.md §3)
            ticks += [(int(arr.end[i]), sym, float(arr.close[i])) for i in range(i0, i1) if arr.regular[i]]
        self._ns = now
        fills = self.broker.fills[self._fills:]
        self._fills = len(self.broker.fills)
        for f in fills:  # executions first: a tick then sees the position as it is now
            self._on_event(OrderEvent("fill", f.symbol, f.order_id, f.timestamp, f.price, f.qty))
        for ns, sym, price in sorted(ticks):
            self._on_tick(Tick(sym, price, pd.Timestamp(ns, tz="UTC"), time.perf_counter()))

    def stop(self) -> None:
        self._on_tick = self._on_event = None


class AlpacaStream:
    """alpaca-py's ``StockDataStream`` (trades) and ``TradingStream`` in background threads.

    ``data`` and ``trading`` are the alpaca-py stream clients (``activetrader.alpaca.
    stream_clients()`` makes them with the configured keys and endpoints). The data thread
    starts with the first subscription: alpaca-py's run loop spins until something is
    subscribed, so it is never started empty.
    """

    def __init__(self, data: Any, trading: Any = None) -> None:
        self.data, self.trading = data, trading
        self.symbols: frozenset[str] = frozenset()
        self._on_tick: OnTick | None = None
        self._on_event: OnEvent | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self, on_tick: OnTick, on_event: OnEvent) -> None:
        self._on_tick, self._on_event = on_tick, on_event
        if self.trading is not None:
            self.trading.subscribe_trade_updates(self._trade_update)
            self._spawn(self.trading, "activetrader-trade-updates")
        if self.symbols:
            self._subscribe(set(self.symbols))
            self._spawn(self.data, "activetrader-prices")

    def _spawn(self, client: Any, name: str) -> None:
        t = threading.Thread(target=client.run, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def set_symbols(self, symbols: set[str]) -> None:
        with self._lock:
            new, gone = set(symbols) - self.symbols, self.symbols - set(symbols)
            self.symbols = frozenset(symbols)
            if self._on_tick is None:
                return
            if gone:
                self.data.unsubscribe_trades(*sorted(gone))
            if new:
                self._subscribe(new)
                if not any(t.name == "activetrader-prices" for t in self._threads):
                    self._spawn(self.data, "activetrader-prices")

    def _subscribe(self, symbols: set[str]) -> None:
        self.data.subscribe_trades(self._trade, *sorted(symbols))

    async def _trade(self, trade) -> None:
        received = time.perf_counter()
        if self._on_tick is not None:
            self._on_tick(Tick(trade.symbol, float(trade.price), pd.Timestamp(trade.timestamp), received))

    async def _trade_update(self, update) -> None:
        if self._on_event is not None:
            o = update.order
            self._on_event(OrderEvent(str(getattr(update.event, "value", update.event)), o.symbol, str(o.id),
                                      pd.Timestamp(update.timestamp),
                                      None if update.price is None else float(update.price),
                                      None if update.qty is None else float(update.qty)))

    def stop(self) -> None:
        self._on_tick = self._on_event = None
        for client in (self.data, self.trading):
            loop = getattr(client, "_loop", None) if client is not None else None
            if loop is not None and loop.is_running():
                try:
                    asyncio.run_coroutine_threadsafe(client.stop_ws(), loop).result(timeout=5)
                except Exception:  # noqa: BLE001 - a stream already gone is stopped
                    log.debug("stream stop", exc_info=True)
        for t in self._threads:
            t.join(timeout=5)


__all__ = ["AlpacaStream", "OrderEvent", "PriceStream", "SimulatedStream", "Tick"]
