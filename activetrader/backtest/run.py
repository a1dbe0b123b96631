"""The backtest loop: the live ``Trader`` on a simulated clock.

For each iteration time the broker advances (filling and triggering orders on the bars that
completed meanwhile) and the Trader runs one ordinary iteration: the same snapshot, strategy,
caps and executor as live, with no journal. One more advance to the last session's close gives
the final equity. Frames and stats are built once, after the loop.
"""

from __future__ import annotations

import copy
import gc
import math
import numbers
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..broker import SimBroker
from ..market import Market
from ..market.sessions import ET, utc_index
from ..settings import Settings
from ..strategy import INVERSE_ETFS, CombinedStrategy, Strategy
from ..strategy.wake import decision_days
from ..trader import Trader
from . import history, quiet, stats
from .progress import reporter
from .result import BacktestResult
from .schedule import iteration_times, parse_at, parse_date, parse_every
from .trades import round_trips


def backtest(market, strategy: Strategy | None = None, settings: Settings | None = None, *, start, end,
             cash: float = 100_000, every: str = "1d", at="09:00", progress=None,
             same_bar: str = "worst", skip_quiet: bool = True) -> BacktestResult:
    """Replay ``market`` from ``start`` to ``end`` through the live Trader, strategy and SimBroker.

    Parameters
    ----------
    market:
        A :class:`~activetrader.market.Market` (``SimulatedMarket``, ``HistoricalMarket``), or a
        market-data client with alpaca-py's ``get_stock_bars`` (e.g. ``StockHistoricalDataClient``):
        then the history of the strategy's universe is fetched in one request first
        (:mod:`activetrader.backtest.history`).
    strategy:
        A :class:`~activetrader.strategy.Strategy` (default :class:`~activetrader.strategy.CombinedStrategy`).
    settings:
        :class:`~activetrader.Settings` (default ``Settings()``); a copy is used, so changing
        them during a run changes nothing.
    start, end:
        First and last session dates, inclusive (``"2024-01-02"``, a date, or a Timestamp: its
        New York date). Both must lie within the market's bars, ``start`` before ``end``.
    cash:
        Starting cash of the flat account (a positive number).
    every, at:
        ``"1d"``: one iteration per session at ``at`` New York time (``"HH:MM"``, default
        ``"09:00"``: before the open, so decisions see complete bars only and market orders fill
        at the open). ``"1h"``: one per regular-session hour from the open (``at`` is not used;
        needs intraday bars). See :mod:`activetrader.backtest.schedule`. The equity curve gets one
        more point at the last session's close (none if ``at`` is already past it).
    progress:
        None (a bar on long runs in an interactive session), True/False, or a callable
        ``progress(done, total)``. See :mod:`activetrader.backtest.progress`.
    same_bar:
        When a take-profit and a stop are both reachable in one bar: ``"worst"`` (default),
        ``"best"`` or ``"path"`` (:class:`~activetrader.broker.SimBroker`).
    skip_quiet:
        True (default): when the strategy has a wake rule (:meth:`Strategy.wake
        <activetrader.strategy.Strategy.wake>`, e.g. :class:`~activetrader.strategy.RsiBracket`),
        run only the iterations it wakes for; the others have an empty plan, so the orders,
        fills and equity are the same (:mod:`activetrader.backtest.quiet`). False runs every
        iteration (and builds every report).

    >>> from activetrader.scenario import default_market
    >>> r = backtest(default_market(), start="2024-01-02", end="2024-03-28")
    >>> r.equity.index[0].isoformat(), len(r.equity), int(r.stats["iterations"])
    ('2024-01-02T09:00:00-05:00', 62, 61)
    >>> set(r.trades["exit_reason"]) <= {"exit", "open", "stop_loss", "take_profit", "trim"}
    True
    """
    settings = _settings(settings)
    strategy = _strategy(strategy)
    cash = _cash(cash)
    every = parse_every(every)
    at_text = _at_text(at)
    if same_bar not in ("worst", "best", "path"):
        raise ValueError(f"same_bar={same_bar!r} is not allowed: use 'worst', 'best' or 'path'")
    symbols = strategy.universe(settings)
    if not isinstance(market, Market):
        if not hasattr(market, "get_stock_bars"):
            raise TypeError(f"market must be a Market (SimulatedMarket, HistoricalMarket) or a market-data client "
                            f"with get_stock_bars, not {type(market).__name__}")
        lo, hi = parse_date(start, "start"), parse_date(end, "end")
        if lo >= hi:
            raise ValueError(f"start ({lo.date()}) must be before end ({hi.date()})")
        market = history.fetch_market(market, symbols, lo, hi, every=every,
                                      lookback=decision_days(settings))
    times, final = iteration_times(market, start, end, every=every, at=at)

    source = market
    market = _own_view(market)
    t0 = time.perf_counter()
    times_ns = times.asi8.tolist()
    wake = quiet.wake_mask(strategy, settings, market, symbols, times.asi8) if skip_quiet else None
    # A result's settings are the user's to change; the replay keeps the run's own.
    replay = Replay(source, strategy, settings.copy(), cash, same_bar, times_ns, wake) if wake is not None else None
    broker, trader = _start(market, strategy, settings, cash, same_bar, times_ns[0])
    bar = reporter(progress, len(times))
    reports: list = []
    values: list[float] = []
    gc_was = gc.get_threshold()
    try:
        # The loop allocates millions of small, short-lived objects and few cycles: collecting the
        # youngest generation every 700 allocations cost ~10% of a 500-symbol run.
        gc.set_threshold(max(gc_was[0], 50_000), *gc_was[1:])
        _replay(broker, trader, times_ns, wake, reports, values, bar)
        stamps = list(times_ns)
        if final > times[-1]:
            broker.advance_to(final)
            values.append(broker.equity())
            stamps.append(final.value)
    finally:
        gc.set_threshold(*gc_was)
        bar.close()
        trader.close()
    elapsed = time.perf_counter() - t0
    equity = pd.Series(values, index=utc_index(stamps).tz_convert(ET), name="equity", dtype=float)
    return _result(broker, market, equity, tuple(reports), elapsed, strategy=strategy, settings=settings,
                   every=every, at=at_text, cash=cash, iterations=len(times), replay=replay)


def _own_view(market):
    """The run's own view of the market: bars and caches are shared, the ``as_of`` clock is not, so a
    backtest never moves the clock of a live broker on the same market, nor of a parallel run."""
    return market.fork() if hasattr(market, "fork") else copy.copy(market)


def _start(market, strategy: Strategy, settings: Settings, cash: float, same_bar: str, first_ns: int):
    """The flat account and the Trader a run replays through."""
    broker = SimBroker(market, cash=cash, start=pd.Timestamp(first_ns, tz="UTC"), same_bar=same_bar)
    return broker, Trader(broker=broker, settings=settings, strategy=strategy)


@dataclass(frozen=True, eq=False)
class Replay:
    """A run that skipped quiet iterations, kept so that the report of a skipped one can be made
    on demand (:meth:`BacktestResult.report <activetrader.backtest.result.BacktestResult.report>`):
    the run is replayed to that moment, the same way, and the iteration runs there. It holds the
    market and the strategy object as they are (a strategy changed since replays as it is now)."""

    market: Any
    strategy: Strategy
    settings: Settings
    cash: float
    same_bar: str
    times_ns: list[int]
    wake: tuple

    def report_at(self, k: int):
        """The IterationReport of iteration ``k`` as a run of every iteration makes it. Refused
        (``RuntimeError``) when its plan is not empty: the wake rule should not have skipped it."""
        broker, trader = _start(_own_view(self.market), self.strategy, self.settings, self.cash, self.same_bar,
                                self.times_ns[0])
        try:
            _replay(broker, trader, self.times_ns[:k], self.wake, [], [], reporter(False, k))
            broker.advance_to(self.times_ns[k])
            report = trader.iteration()
        finally:
            trader.close()
        if report.plan.intents:
            name = type(self.strategy).__name__
            raise RuntimeError(f"{name}.wake() let the backtest skip the iteration at {report.timestamp}, but its "
                               f"plan there is not empty ({len(report.plan.intents)} intent(s), e.g. "
                               f"{report.plan.intents[0].describe()}): the result differs from running every "
                               f"iteration. Fix the rule, or run with skip_quiet=False.")
        return report


def _replay(broker: SimBroker, trader: Trader, times_ns: list[int], wake, reports: list, values: list,
            bar) -> None:
    """Advance to every time and run the iteration there, or, with a wake rule (``wake`` is
    ``(hits, rule)`` from :func:`~.quiet.wake_mask`), only where it wakes (the conditions are
    those of :class:`~activetrader.strategy.Wake`, plus a retry after an iteration that had a
    refused order or an error); at the other times the account's equity is read as the
    iteration's report would have it."""
    hits, rule = wake if wake is not None else (None, None)
    ended, filled, retry = broker.ended_unfilled, len(broker.fills), False
    weight, trail = (rule.max_weight, rule.trail_pct) if rule is not None else (None, None)
    for k, t in enumerate(times_ns):
        broker.advance_to(t)
        if (rule is None or retry
                or (hits[k] and (not rule.flat_only or not all(map(broker.holds, hits[k]))))
                or (rule.on_cancel and broker.ended_unfilled != ended)
                or (rule.on_fill and len(broker.fills) != filled)
                or (weight is not None and broker.largest_position_value() > weight * broker.equity() - 0.01)
                or (trail is not None and broker.stop_can_trail(trail))):
            r = trader.iteration()
            reports.append(r)
            values.append(r.portfolio_value)
            retry = bool(r.errors) or not all(o.accepted for o in r.outcomes)
        else:
            values.append(broker.equity())
        ended, filled = broker.ended_unfilled, len(broker.fills)
        bar.update(k + 1)


def _result(broker: SimBroker, market, equity: pd.Series, reports: tuple, elapsed: float, *, strategy,
            settings: Settings, every: str, at: str, cash: float, iterations: int, replay) -> BacktestResult:
    orders = broker.orders_frame()
    for c in ("submitted_at", "filled_at"):
        orders[c] = orders[c].dt.tz_convert(ET)
    marks = {s: broker.last_price(s) for s in {f.symbol for f in broker.fills}}
    trades = round_trips(broker.fills, orders, marks)
    inverse = {*INVERSE_ETFS, settings.hedge.inverse_etf, *getattr(strategy, "INVERSE_ETFS", ())}
    exposure, inverse_exposure = stats.exposures(equity, broker.fills, market, inverse)
    st = stats.compute(equity, trades, iterations=iterations, elapsed_s=elapsed, initial=cash, exposure=exposure,
                       inverse_exposure=inverse_exposure)
    fills = broker.fills_frame()
    fills["timestamp"] = fills["timestamp"].dt.tz_convert(ET)
    return BacktestResult(equity=equity, trades=trades, orders=orders, stats=st, reports=reports, fills=fills,
                          strategy=type(strategy).__name__, every=every, at=at, cash=cash, settings=settings,
                          skipped=iterations - len(reports), replay=replay)


def _settings(settings) -> Settings:
    if settings is None:
        return Settings()
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be an activetrader.Settings, not {type(settings).__name__}")
    return settings.copy()


def _strategy(strategy) -> Strategy:
    if strategy is None:
        return CombinedStrategy()
    if isinstance(strategy, type) and issubclass(strategy, Strategy):
        raise TypeError(f"strategy={strategy.__name__} is a class: pass an instance, e.g. {strategy.__name__}()")
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy must be an activetrader.strategy.Strategy, not {type(strategy).__name__}")
    return strategy


def _cash(cash) -> float:
    if isinstance(cash, bool) or not isinstance(cash, numbers.Real) or not math.isfinite(cash) or cash <= 0:
        raise ValueError(f"cash={cash!r} is not allowed: use a positive number of dollars, e.g. 100_000")
    return float(cash)


def _at_text(at) -> str:
    offset = parse_at(at)
    minutes = int(offset.total_seconds() // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
