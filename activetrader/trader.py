"""The Trader: gathers a snapshot, asks the strategy for a plan, executes it on the broker,
reports and journals what happened. The same code runs on the SimBroker and on Alpaca.

>>> trader = Trader()                      # embedded default: simulated market + SimBroker
>>> report = trader.iteration()
>>> report.narrative.splitlines()[1][:29]
'RUNNING TRADING ITERATION NOW'
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.requests import GetOrdersRequest, ReplaceOrderRequest

from .alpaca import list_orders
from .broker.submit import OrderFields, alpaca_request, plain_order
from .fastpath import RsiCache, WindowSource
from .journal import Journal
from .report import IterationReport, OrderOutcome
from .settings import Settings
from .resilience import BROKER_ERRORS, describe_error
from .strategy import (
    INVERSE_ETFS, AccountView, CombinedStrategy, EnterBracket, ExitPosition, OrderView, Plan, PositionView,
    ProtectPosition, Snapshot, Strategy, TrimPosition,
)
from .strategy.intents import EnterPosition, RaiseStop, intent_fields
from .strategy.snapshot import LIVE_STATUSES, position_views
from .strategy.wake import decision_days

#: Live GTC orders are younger than Alpaca's 90-day auto-cancel, so this window finds them all.
_ORDER_WINDOW = pd.Timedelta(days=91)


class Trader:
    """Runs the strategy on a broker.

    Parameters
    ----------
    broker:
        ``None`` or ``"sim"`` for the embedded default (a :class:`~activetrader.market.SimulatedMarket`
        and a :class:`~activetrader.broker.SimBroker` with $100,000, at a fixed simulated moment);
        ``"alpaca"`` for Alpaca through alpaca-py (paper unless ``live=True`` *and*
        ``ACTIVETRADER_LIVE="I understand"``; keys from ``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY``
        or a ``.env`` file; ``ACTIVETRADER_TRADING_URL`` / ``ACTIVETRADER_DATA_URL`` point it at a
        local venue; see :mod:`activetrader.alpaca`); or any object shaped like alpaca-py's
        ``TradingClient``.
    market:
        The market-data source (anything with ``get_stock_bars``); defaults to the broker's market.
    settings:
        A :class:`~activetrader.settings.Settings` (default: the guide's values).
    strategy:
        A :class:`~activetrader.strategy.Strategy` (default :class:`~activetrader.strategy.CombinedStrategy`).
    journal:
        A path or :class:`~activetrader.journal.Journal`: every iteration, intent, order outcome and
        settings change is appended to it.
    clean:
        With the embedded default: start flat (just $100,000 of cash) instead of the guide's
        "before" portfolio.
    fast:
        Use the native fast path where the broker and market offer it (``native_*`` methods,
        ``bar_windows``): plain rows and arrays instead of alpaca-py models, the same numbers.
        ``False`` forces the alpaca-py path (as on Alpaca).
    """

    def __init__(self, broker: Any = None, market: Any = None, settings: Settings | None = None,
                 strategy: Strategy | None = None, *, journal: str | os.PathLike | Journal | None = None,
                 clean: bool = False, live: bool = False, fast: bool = True) -> None:
        self.settings = settings if settings is not None else Settings()
        if not isinstance(self.settings, Settings):
            raise TypeError(f"settings must be an activetrader.Settings, not {type(self.settings).__name__}")
        self.strategy = strategy if strategy is not None else CombinedStrategy()
        if broker is None or broker == "sim":
            from .scenario import embedded_default

            broker = embedded_default(market=market, clean=clean)
        elif broker == "alpaca":
            from .alpaca import connect

            broker, data = connect(live=live)  # paper unless live=True and ACTIVETRADER_LIVE confirms
            market = market if market is not None else data
        elif isinstance(broker, str):
            raise ValueError(f"broker={broker!r} is not known: use None/'sim', 'alpaca', or a TradingClient-like object")
        self.broker = broker
        #: "sim", or an Alpaca client's "paper"/"live" (:class:`~activetrader.alpaca.AlpacaClient`).
        self.mode = getattr(broker, "mode", "sim")
        self.market = market if market is not None else getattr(broker, "market", None)
        if self.market is None:
            raise ValueError("no market data source: pass market= (anything with get_stock_bars)")
        self._owns_journal = journal is not None and not isinstance(journal, Journal)
        self.journal = Journal(journal) if self._owns_journal else journal
        self._calls = 0
        self.fast = bool(fast)
        self._rsi_cache = RsiCache()
        #: How long to wait for the broker to confirm a cancel before giving up on a trim.
        self.cancel_timeout = 10.0
        self._unsubscribe = self.settings.subscribe(self._on_setting_changed)

    # ------------------------------------------------------------------ time
    @property
    def now(self) -> pd.Timestamp:
        """The broker's clock when it has one (the simulator), else the wall clock (UTC)."""
        now = getattr(self.broker, "now", None)
        return pd.Timestamp(now) if now is not None else pd.Timestamp.now(tz="UTC")

    def advance(self, to) -> None:
        """Move a simulated broker's clock forward (fills and triggers happen on the way)."""
        if not hasattr(self.broker, "advance_to"):
            raise TypeError("this broker runs in real time; only a simulated broker can advance")
        self.broker.advance_to(to)

    # ------------------------------------------------------------------ broker calls
    def _call(self, fn: Callable, *args, **kwargs):
        self._calls += 1
        return fn(*args, **kwargs)

    def _universe(self, held: list[str]) -> list[str]:
        """Symbols one bars request covers; those a market says it lacks are left out (they
        then read as 'not enough bars' in the plan). The strategy's part
        (:meth:`Strategy.universe <activetrader.strategy.Strategy.universe>`) is kept while the
        strategy, the settings (same object, same version) and the market are the same."""
        s, market, strategy = self.settings, self.market, self.strategy
        known = market.__contains__ if hasattr(market, "__contains__") else lambda symbol: True
        base = self.__dict__.get("_universe_base")
        if (base is None or base[0] is not s or base[1] != s.version or base[2] is not market
                or base[3] is not strategy):
            wanted = frozenset(w for w in strategy.universe(s) if known(w))
            base = self._universe_base = (s, s.version, market, strategy, wanted, sorted(wanted))
        extra = {h for h in held if h not in base[4] and known(h)}
        return sorted(base[4] | extra) if extra else list(base[5])

    def _native_broker(self) -> bool:
        """The broker offers plain views (a capability, e.g. the SimBroker) and fast is on."""
        return self.fast and hasattr(self.broker, "native_orders")

    def snapshot(self, *, with_bars: bool = True) -> Snapshot:
        """Everything one decision needs, with a constant number of calls: account, positions,
        orders (one nested listing), and one bars request for the whole universe.

        Through the native fast path (see ``fast``) the same four calls return plain rows, and
        the bars stay arrays until someone reads ``Snapshot.bars``."""
        now = self.now
        if self._native_broker():
            b = self.broker
            account = AccountView(*self._call(b.native_account))
            pos_views = position_views(self._call(b.native_positions))
            order_views = tuple(self._call(b.native_orders, after=now.value - _ORDER_WINDOW.value,
                                           keep=LIVE_STATUSES, view=_order_view))  # every order in the window
        else:
            after = now - _ORDER_WINDOW
            a = self._call(self.broker.get_account)
            account = AccountView(cash=float(a.cash), equity=float(a.equity), buying_power=float(a.buying_power))
            positions = self._call(self.broker.get_all_positions)
            pos_views = tuple(PositionView(symbol=p.symbol, qty=float(p.qty), avg_entry_price=float(p.avg_entry_price),
                                           current_price=float(p.current_price), qty_available=float(p.qty_available))
                              for p in positions)
            order_views = tuple(_order_views(self._call(list_orders, self.broker, GetOrdersRequest(
                status="all", nested=True, after=after.to_pydatetime()))))  # pages past Alpaca's 500
        bars = None  # no bars: Snapshot's own empty frame
        source = None
        prices: dict[str, float] = {}
        if with_bars:
            days = decision_days(self.settings)
            universe = self._universe([p.symbol for p in pos_views])
            if self.fast and hasattr(self.market, "bar_windows"):
                start_ns = now.value - days * 86_400_000_000_000
                source = WindowSource(self._call(self.market.bar_windows, universe, start_ns, now.value),
                                      self._rsi_cache)
                prices = source.prices()
            else:
                start = now - pd.Timedelta(days=days)
                req = StockBarsRequest(symbol_or_symbols=universe, timeframe=TimeFrame.Day, feed=DataFeed.IEX,
                                       start=start.to_pydatetime(), end=now.to_pydatetime())
                bars = self._call(self.market.get_stock_bars, req).df
                if len(bars):
                    prices = bars["close"].groupby(level="symbol").last().astype(float).to_dict()
        for p in pos_views:
            prices.setdefault(p.symbol, p.current_price)
        return Snapshot(now=now, account=account, positions=pos_views, orders=order_views, bars=bars,
                        prices=prices, source=source)

    # ------------------------------------------------------------------ one iteration
    def iteration(self, *, dry_run: bool = False) -> IterationReport:
        """Gather, decide, execute; return an :class:`~activetrader.report.IterationReport`.

        A rejected order is reported (with Alpaca's message) and the rest of the plan goes on.
        ``dry_run=True`` decides without submitting anything.
        """
        self._calls = 0
        errors: list[str] = []
        try:
            now = self.now
        except BROKER_ERRORS as e:  # no moment from the venue: report it, do nothing
            now = pd.Timestamp.now(tz="UTC").floor("s")
            errors.append(f"the broker's clock is unavailable ({describe_error(e)})")
        # Derived from the moment, like the client order ids: a re-run of the same moment is the
        # same iteration (the journal keeps each run apart by its run number).
        iteration_id = f"it-{_minute(now)}{now.second:02d}Z"  # it-%Y%m%dT%H%M%SZ
        if self.journal is not None:
            self.journal.begin_iteration(iteration_id, now.isoformat(), dry_run=dry_run, mode=self.mode)
        try:
            return self._iterate(iteration_id, now, dry_run, errors)
        except BaseException as exc:
            self._abandon(iteration_id, exc)
            raise

    def _abandon(self, entry_id: str, exc: BaseException) -> None:
        """Journal the entry as abandoned by ``exc`` (not left "running")."""
        if self.journal is not None and not self.journal.closed:
            self.journal.abandon_iteration(entry_id, f"{type(exc).__name__}: {exc}"[:500])

    def _journal_intents(self, entry_id: str, intents) -> None:
        if self.journal is not None:
            for seq, intent in enumerate(intents):
                self.journal.record_intent(entry_id, seq, type(intent).__name__, intent.symbol,
                                           intent.describe(), intent_fields(intent))

    def _iterate(self, iteration_id: str, now: pd.Timestamp, dry_run: bool, errors: list[str]) -> IterationReport:
        # A venue or network failure that outlasts the retries becomes an error line in the
        # report: what was done is in the outcomes, what was not is named here. The next
        # iteration repairs (its snapshot shows any position left unprotected).
        snap = None
        if not errors:
            try:
                snap = self.snapshot()
            except BROKER_ERRORS as e:
                errors.append(f"snapshot failed ({describe_error(e)})")
        if snap is None:
            errors.append("nothing was decided or submitted")
        plan = self.strategy.decide(snap, self.settings) if snap is not None else Plan()
        self._journal_intents(iteration_id, plan.intents)
        outcomes: list[OrderOutcome] = []
        if not dry_run and plan.intents:
            executor = _Executor(self, iteration_id, now, outcomes)
            for seq, intent in enumerate(plan.intents):
                try:
                    executor.run(seq, intent)
                except BROKER_ERRORS as e:
                    errors.append(f"not completed: {intent.describe()} ({describe_error(e)})")
        try:
            account = self._call(self.broker.native_account if self._native_broker() else self.broker.get_account)
            equity, cash, buying_power = float(account.equity), float(account.cash), float(account.buying_power)
        except BROKER_ERRORS as e:
            equity = cash = buying_power = float("nan")
            errors.append(f"account not read after the orders ({describe_error(e)})")
        s = self.settings
        report = IterationReport(
            iteration_id=iteration_id, timestamp=now, mode=self.mode, dry_run=dry_run, plan=plan,
            outcomes=tuple(outcomes), portfolio_value=equity, cash=cash, buying_power=buying_power,
            positions_count=len(snap.positions) if snap is not None else 0, errors=tuple(errors),
            overbought=s.hedge.overbought, bearish_threshold=s.hedge.bearish_ratio, inverse_etf=s.hedge.inverse_etf,
            max_position_pct=s.rebalance.max_position_pct, oversold=s.entry.oversold,
            confidence_threshold=s.entry.confidence_threshold, broker_calls=self._calls)
        if self.journal is not None:
            self.journal.end_iteration(iteration_id, report.to_dict())
        return report

    # ------------------------------------------------------------------ backtest
    def backtest(self, start, end, **options):
        """Replay this trader's market with its settings and strategy, from a flat account, on a
        fresh :class:`~activetrader.broker.SimBroker` (this trader's broker is not touched).

        A market that is only a data client (on Alpaca: a ``StockHistoricalDataClient``) has the
        history of the universe fetched in one request first. ``options`` are those of
        :func:`activetrader.backtest` (``cash``, ``every``, ``at``, ``progress``, ``same_bar``).

        >>> r = Trader().backtest("2024-06-03", "2024-06-28")   # 19 sessions (Juneteenth is a holiday)
        >>> len(r.equity), int(r.stats["iterations"])           # one point per iteration + the last close
        (20, 19)
        """
        from .backtest import backtest  # the backtest layer sits on top of the Trader

        return backtest(self.market, self.strategy, self.settings, start=start, end=end, **options)

    # ------------------------------------------------------------------ positions
    def positions(self) -> pd.DataFrame:
        """Positions with their protection: qty, entry, price, market value, weight, P/L %,
        stop, take-profit, distance to each (as a fraction of the price), protected?, inverse?"""
        snap = self.snapshot(with_bars=False)
        equity = snap.account.equity or 1.0
        rows = []
        for p in snap.positions:
            live = snap.live_sells(p.symbol)
            stops = [o.stop_price for o in live if o.is_protective_stop and o.stop_price is not None]
            tps = [o.limit_price for o in live if o.type == "limit" and o.limit_price is not None]
            stop = max(stops) if stops else None
            tp = min(tps) if tps else None
            covered = snap.covered_qty(p.symbol)
            rows.append(dict(
                symbol=p.symbol, qty=p.qty, entry=p.avg_entry_price, price=p.current_price,
                market_value=p.market_value, weight=p.market_value / equity,
                pl_pct=p.current_price / p.avg_entry_price - 1 if p.avg_entry_price else 0.0,
                stop=stop, take_profit=tp,
                to_stop_pct=(p.current_price - stop) / p.current_price if stop else None,
                to_take_profit_pct=(tp - p.current_price) / p.current_price if tp else None,
                protected=covered + 1e-9 >= p.qty, inverse=p.symbol in INVERSE_ETFS))
        cols = ["symbol", "qty", "entry", "price", "market_value", "weight", "pl_pct", "stop", "take_profit",
                "to_stop_pct", "to_take_profit_pct", "protected", "inverse"]
        return pd.DataFrame(rows, columns=cols).set_index("symbol")

    def execute(self, intents, *, source: str = "stream", now: pd.Timestamp | None = None) -> tuple[OrderOutcome, ...]:
        """Execute intents decided outside an iteration (the stream monitor's stop raises),
        with the iteration's executor: same client order ids, same write-ahead journal. Each
        call is journaled as a short entry of its own, ``mode=source``, stamped ``now`` (the
        price's time; default the broker's clock).

        >>> Trader().execute([])
        ()
        """
        intents = tuple(intents)
        if not intents:
            return ()
        now = self.now if now is None else pd.Timestamp(now)
        entry_id = f"{source}-{now:%Y%m%dT%H%M%S}-{intents[0].symbol}"
        outcomes: list[OrderOutcome] = []
        if self.journal is not None:
            self.journal.begin_iteration(entry_id, now.isoformat(), mode=source)
        self._journal_intents(entry_id, intents)
        executor = _Executor(self, entry_id, now, outcomes)
        try:
            for seq, intent in enumerate(intents):
                executor.run(seq, intent)
        except BaseException as exc:
            self._abandon(entry_id, exc)
            raise
        if self.journal is not None:
            self.journal.end_iteration(entry_id, {"source": source, "orders": len(outcomes)})
        return tuple(outcomes)

    # ------------------------------------------------------------------ live loop
    def run(self, every: str | None = None, *, speed: float | None = None, iterations: int | None = None,
            block: bool = False, stream: bool = False, **options):
        """Run an iteration every ``every`` (default ``settings.schedule.every``) until
        :meth:`stop`; returns the run's handle (``status``, ``last_report``, ``next_run``,
        ``iterations``, ``stop()``).

        In the background by default (a notebook stays usable); ``block=True`` runs in this
        thread. On a simulated broker time is simulated and accelerated: ``speed`` simulated
        seconds per real second (default 3600). ``stream=True`` also watches prices as they
        arrive (near-stop warnings, trailing stops, order updates). See
        :mod:`activetrader.live`. While it runs in the background, read the handle; the
        simulated broker is not thread-safe, so call the trader's own methods (``iteration``,
        ``positions``) after :meth:`stop`.

        >>> import math
        >>> handle = Trader().run("1h", speed=math.inf, iterations=2, block=True)
        >>> handle.status, handle.iterations
        ('stopped', 2)
        """
        from .live import LiveRun  # the live layer sits on top of the Trader: imported lazily

        current = getattr(self, "_live_run", None)
        if current is not None and current.running:
            raise RuntimeError("this trader is already running; call trader.stop() first")
        monitor = None
        if stream:
            from .live.monitor import StreamMonitor

            monitor = StreamMonitor.for_trader(self)
        handle = LiveRun(self, every=every, speed=speed, iterations=iterations, monitor=monitor, **options)
        self._live_run = handle
        return handle.run() if block else handle.start()

    def stop(self, timeout: float | None = 30.0):
        """Stop the running :meth:`run` after its current iteration; returns its handle (or None)."""
        handle = getattr(self, "_live_run", None)
        if handle is not None:
            handle.stop(timeout)
        return handle

    # ------------------------------------------------------------------ settings journal
    def _on_setting_changed(self, path: str, old, new) -> None:
        if self.journal is not None:
            plain = lambda v: v.model_dump(mode="json") if hasattr(v, "model_dump") else v  # noqa: E731
            self.journal.record_settings_change(self.now.isoformat(), path, plain(old), plain(new))

    def close(self) -> None:
        """Stop a running loop, stop journalling settings changes and close a journal this
        trader opened from a path."""
        if getattr(self, "_live_run", None) is not None:
            self._live_run.stop()
        self._unsubscribe()
        if self._owns_journal and self.journal is not None:
            self.journal.close()

    def __enter__(self) -> Trader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        # A remote venue's clock is a request away, and a repr makes no requests.
        now = "" if getattr(self.broker, "remote", False) else f"now={self.now.isoformat()}, "
        return (f"Trader(mode={self.mode!r}, {now}broker={type(self.broker).__name__}, "
                f"strategy={type(self.strategy).__name__})")


class _Executor:
    """Turns intents into broker orders with deterministic, idempotent client order ids."""

    #: Test hook: called with the client order id after the broker accepted an order and
    #: before the outcome is journaled (the recovery tests kill the process there).
    after_submit: Callable[[str], None] | None = None

    def __init__(self, trader: Trader, iteration_id: str, now: pd.Timestamp, outcomes: list[OrderOutcome]):
        self.t, self.iteration_id, self.outcomes = trader, iteration_id, outcomes
        self.prefix = f"at-{_minute(now, '')}"  # at-%Y%m%d%H%M
        self.tif = trader.settings.bracket.time_in_force
        #: The broker places orders natively: it takes plain OrderFields (no pydantic models).
        self.native = trader._native_broker() and hasattr(trader.broker, "native_submit")

    def _request(self, type_: str, symbol, qty, side: str, tif, order_class: str | None = None,
                 take_profit=None, stop_loss=None):
        """The order request: alpaca-py's ``MarketOrderRequest`` (``type_="market"``) or
        ``LimitOrderRequest`` (an OCO); on the native path its plain twin (the same fields and the
        same checks in the broker, no pydantic model) wherever the model would keep the values as
        they are (:func:`~activetrader.broker.submit.plain_order`)."""
        if self.native:
            plain = plain_order(type_, symbol, qty, side, tif, order_class, take_profit, stop_loss)
            if plain is not None:
                return plain
        return alpaca_request(OrderFields(symbol, side, type_, tif, order_class, qty, take_profit=take_profit,
                                          stop_loss=stop_loss))  # the model coerces or refuses the values

    def run(self, seq: int, intent) -> None:
        if isinstance(intent, ProtectPosition):
            self.protect(seq, intent, "p")
        elif isinstance(intent, ExitPosition):
            self.cancel(seq, intent.symbol, intent.cancel_order_ids)
            self.submit(seq, "x", intent.symbol, f"sell {intent.qty:g} {intent.symbol} at market (beyond stop)",
                        self._request("market", intent.symbol, intent.qty, "sell", "day"))
        elif isinstance(intent, EnterBracket):
            code = "h" if intent.purpose == "hedge" else "e"
            self.submit(seq, code, intent.symbol,
                        f"bracket buy {intent.qty:g} {intent.symbol} (take-profit {intent.take_profit:.2f} / stop {intent.stop_loss:.2f})",
                        self._request("market", intent.symbol, intent.qty, "buy", self.tif, "bracket",
                                      intent.take_profit, intent.stop_loss))
        elif isinstance(intent, TrimPosition):
            self.trim(seq, intent)
        elif isinstance(intent, EnterPosition):  # a plain buy, no exit orders (the passive baseline)
            self.submit(seq, "b", intent.symbol, f"buy {intent.qty:g} {intent.symbol} at market (no exit orders)",
                        self._request("market", intent.symbol, intent.qty, "buy", "day"))
        elif isinstance(intent, RaiseStop):
            self.raise_stop(seq, intent)

    def raise_stop(self, seq: int, r: RaiseStop) -> bool:
        """Replace a stop leg with the same order at ``new_stop`` (the take-profit leg stays).

        The replacement's ``client_order_id`` is derived from the replaced order's id, so it
        is deterministic and a second attempt at the same ratchet is refused, never doubled.
        """
        return self.submit(seq, "s", r.symbol, f"raise stop {r.symbol} {r.old_stop:.2f} -> {r.new_stop:.2f}",
                           ReplaceOrderRequest(stop_price=r.new_stop), replace_id=r.order_id)

    def protect(self, seq: int, p: ProtectPosition, code: str) -> bool:
        return self.submit(seq, code, p.symbol,
                           f"OCO sell {p.qty:g} {p.symbol} (take-profit {p.take_profit:.2f} / stop {p.stop_loss:.2f})",
                           self._request("limit", p.symbol, p.qty, "sell", self.tif, "oco", p.take_profit, p.stop_loss))

    def trim(self, seq: int, t: TrimPosition) -> None:
        """Cancel the legs holding the shares, sell the excess, re-protect the remainder; if
        the sale fails, re-protect the whole position, so no share is left unprotected."""
        sold = self.cancel(seq, t.symbol, t.cancel_order_ids) and self.submit(
            seq, "t", t.symbol, f"sell {t.sell_qty:g} {t.symbol} at market (trim to cap)",
            self._request("market", t.symbol, t.sell_qty, "sell", "day"))
        if t.reprotect is None:
            return
        if sold:
            self.protect(seq, t.reprotect, "r")
        else:
            # the unsold shares and those the re-protection was for (not the ones kept under stops)
            whole = ProtectPosition(symbol=t.symbol, qty=t.sell_qty + t.reprotect.qty,
                                    take_profit=t.reprotect.take_profit, stop_loss=t.reprotect.stop_loss,
                                    entry_price=t.reprotect.entry_price, reason="trim failed: protect everything")
            self.protect(seq, whole, "rw")

    def cancel(self, seq: int, symbol: str, order_ids) -> bool:
        """Cancel orders and wait until the broker confirms each one; True when all are gone.

        At Alpaca a cancel is asynchronous, and a sell sent before the ``canceled`` update can
        be refused because the legs still hold the shares (alpaca-contract.md §2), so each
        cancel is confirmed by polling the order (the simulator confirms at the first look).
        """
        confirmed = True
        for oid in order_ids:
            try:
                self.t._call(self.t.broker.cancel_order_by_id, oid)
                error = None
            except APIError as e:
                error = e
            status = self._await_terminal(oid)
            ok = status in ("canceled", "expired", "replaced")
            if error is None:
                message = None if ok else f"cancel not confirmed within {self.t.cancel_timeout:g}s"
            else:
                # A sibling leg is cancelled with its group (§1): already gone counts as success.
                message = "already canceled with its group" if ok else _msg(error)
            self._record(OrderOutcome(seq, "cancel", symbol, f"cancel {oid}", order_id=str(oid), accepted=ok,
                                      status=status, message=message,
                                      http_status=None if ok or error is None else error.status_code,
                                      error_code=None if ok or error is None else _code(error)))
            confirmed &= ok
        return confirmed

    def _await_terminal(self, oid) -> str | None:
        deadline = time.monotonic() + self.t.cancel_timeout
        while True:
            status = self._status_of(oid)
            if status in ("canceled", "expired", "replaced", "filled") or time.monotonic() >= deadline:
                return status
            time.sleep(0.25)

    def _status_of(self, oid) -> str | None:
        try:
            return self.t._call(self.t.broker.get_order_by_id, oid).status.value
        except APIError:
            return None

    def submit(self, seq: int, code: str, symbol: str, description: str, request, *,
               replace_id: str | None = None) -> bool:
        """Send one order (or, with ``replace_id``, replace that order) and record the outcome.

        The journal first records that the ``client_order_id`` is being sent, so a process
        killed before the outcome is recorded leaves a trace a restart can resolve.
        """
        cid = (f"at-{code}-{replace_id}" if replace_id is not None else f"{self.prefix}-{code}-{symbol}")[:48]
        if type(request) is OrderFields:
            request = request._replace(client_order_id=cid)
        else:
            request.client_order_id = cid
        if self.t.journal is not None:
            self.t.journal.record_submitting(self.iteration_id, intent_seq=seq, action="submit",
                                             symbol=symbol, client_order_id=cid)
        try:
            if replace_id is not None:
                order = self.t._call(self.t.broker.replace_order_by_id, replace_id, request)
                order_id, status = str(order.id), order.status.value
            elif self.native:
                order_id, status = self.t._call(self.t.broker.native_submit, request)  # no Order model
            else:
                order = self.t._call(self.t.broker.submit_order, request)
                order_id, status = str(order.id), order.status.value
            if _Executor.after_submit is not None:
                _Executor.after_submit(cid)
            self._record(OrderOutcome(seq, "submit", symbol, description, client_order_id=cid,
                                      order_id=order_id, status=status))
            return True
        except APIError as e:
            if _msg(e) == "client_order_id must be unique":  # the same iteration ran before: idempotent
                try:
                    existing = self.t._call(self.t.broker.get_order_by_client_id, cid)
                    self._record(OrderOutcome(seq, "submit", symbol, description, client_order_id=cid,
                                              order_id=str(existing.id), status=existing.status.value,
                                              message="already submitted by an earlier run"))
                    return True
                except APIError:
                    pass
            self._record(OrderOutcome(seq, "submit", symbol, description, client_order_id=cid, accepted=False,
                                      message=_msg(e), http_status=e.status_code, error_code=_code(e)))
            return False
        except Exception as e:  # network and other failures: report, go on with the plan
            self._record(OrderOutcome(seq, "submit", symbol, description, client_order_id=cid, accepted=False,
                                      message=describe_error(e)))
            return False

    def _record(self, o: OrderOutcome) -> None:
        self.outcomes.append(o)
        if self.t.journal is not None:
            self.t.journal.record_order(self.iteration_id, intent_seq=o.intent_seq, action=o.action, symbol=o.symbol,
                                        client_order_id=o.client_order_id, order_id=o.order_id, accepted=o.accepted,
                                        status=o.status, message=o.message, http_status=o.http_status,
                                        error_code=o.error_code)


def _minute(now: pd.Timestamp, sep: str = "T") -> str:
    """``f"{now:%Y%m%dT%H%M}"`` (``sep`` in place of the ``T``) from the fields, at half the cost
    of ``strftime`` (a Timestamp's year has four digits: 1677-2262).

    >>> _minute(pd.Timestamp("2024-03-04 09:05:59", tz="America/New_York")), _minute(pd.Timestamp("2024-03-04 09:05"), "")
    ('20240304T0905', '202403040905')
    """
    return f"{now.year:04d}{now.month:02d}{now.day:02d}{sep}{now.hour:02d}{now.minute:02d}"


def _msg(e: APIError) -> str:
    try:
        return e.message
    except Exception:
        return str(e)


def _code(e: APIError) -> int | None:
    try:
        return int(e.code)
    except Exception:
        return None


def _order_views(orders) -> list[OrderView]:
    """Flatten a nested alpaca-py order listing into live OrderViews with roles."""
    out: list[OrderView] = []

    def view(o, parent=None) -> OrderView:
        cls = (o.order_class.value if o.order_class is not None else None) or "simple"
        return OrderView(id=str(o.id), client_order_id=o.client_order_id, symbol=o.symbol, side=o.side.value,
                         type=o.type.value, status=o.status.value, order_class=cls,
                         qty=float(o.qty or 0), limit_price=_f(o.limit_price), stop_price=_f(o.stop_price),
                         trail_percent=_f(o.trail_percent), trail_price=_f(o.trail_price),
                         parent_id=str(parent.id) if parent is not None else None,
                         role=_role(cls, o.type.value, parent is not None))

    for o in orders:
        if o.status.value in LIVE_STATUSES:
            out.append(view(o))
        for leg in o.legs or []:
            if leg.status.value in LIVE_STATUSES:
                out.append(view(leg, parent=o))
    return out


def _order_view(r) -> OrderView:
    """The same view from a row of a broker's native listing (the broker keeps it with the row)."""
    return OrderView(*r, role=_role(r.order_class, r.type, r.parent_id is not None))


def _role(order_class: str, type_: str, is_leg: bool) -> str | None:
    """What an order is to the strategy: a leg by its type, a listed order by its class."""
    if is_leg:
        return "take_profit" if type_ == "limit" else "stop_loss"
    return {"bracket": "entry", "oto": "entry", "oco": "take_profit"}.get(order_class)


def _f(x) -> float | None:
    return None if x is None else float(x)
