"""The backtest loop: the live ``Trader`` on a simulated clock.

For each iteration time the broker advances (filling and triggering orders on the bars that
completed meanwhile) and the Trader runs one ordinary iteration: the same snapshot, strategy,
caps and executor as live, with no journal. One more advance to the last session's close gives
the final equity. Frames and stats are built once, after the loop.
"""

from __future__ import annotations

import copy
import math
import numbers
import time

import numpy as np
import pandas as pd

from ..broker import SimBroker
from ..market import Market
from ..market.sessions import ET
from ..settings import Settings
from ..strategy import INVERSE_ETFS, CombinedStrategy, Strategy
from ..trader import Trader
from . import history, stats
from .progress import reporter
from .result import BacktestResult
from .schedule import iteration_times, parse_at, parse_date, parse_every
from .trades import round_trips


def backtest(market, strategy: Strategy | None = None, settings: Settings | None = None, *, start, end,
             cash: float = 100_000, every: str = "1d", at="09:00", progress=None,
             same_bar: str = "worst") -> BacktestResult:
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
    if not isinstance(market, Market):
        if not hasattr(market, "get_stock_bars"):
            raise TypeError(f"market must be a Market (SimulatedMarket, HistoricalMarket) or a market-data client "
                            f"with get_stock_bars, not {type(market).__name__}")
        lo, hi = parse_date(start, "start"), parse_date(end, "end")
        if lo >= hi:
            raise ValueError(f"start ({lo.date()}) must be before end ({hi.date()})")
        market = history.fetch_market(market, history.universe(settings, strategy), lo, hi, every=every,
                                      lookback=history.lookback_days(settings))
    times, final = iteration_times(market, start, end, every=every, at=at)

    # The run's own view of the market: bars and caches are shared, the ``as_of`` clock is not, so a
    # backtest never moves the clock of a live broker on the same market, nor of a parallel run.
    market = copy.copy(market)
    broker = SimBroker(market, cash=cash, start=times[0], same_bar=same_bar)
    trader = Trader(broker=broker, settings=settings, strategy=strategy)
    bar = reporter(progress, len(times))
    reports = []
    t0 = time.perf_counter()
    try:
        for done, t in enumerate(times, 1):
            broker.advance_to(t)
            reports.append(trader.iteration())
            bar.update(done)
        values = [r.portfolio_value for r in reports]
        stamps = list(times)
        if final > times[-1]:
            broker.advance_to(final)
            values.append(float(broker.get_account().equity))
            stamps.append(final)
    finally:
        bar.close()
        trader.close()
    elapsed = time.perf_counter() - t0
    equity = pd.Series(values, index=pd.DatetimeIndex(stamps).tz_convert(ET), name="equity", dtype=float)
    return _result(broker, market, equity, tuple(reports), elapsed, strategy=strategy, settings=settings,
                   every=every, at=at_text, cash=cash)


def _result(broker: SimBroker, market, equity: pd.Series, reports: tuple, elapsed: float, *, strategy,
            settings: Settings, every: str, at: str, cash: float) -> BacktestResult:
    orders = broker.orders_frame()
    for c in ("submitted_at", "filled_at"):
        orders[c] = orders[c].dt.tz_convert(ET)
    marks = {s: broker.last_price(s) for s in {f.symbol for f in broker.fills}}
    trades = round_trips(broker.fills, orders, marks)
    inverse = {*INVERSE_ETFS, settings.hedge.inverse_etf, *getattr(strategy, "INVERSE_ETFS", ())}
    exposure, inverse_exposure = stats.exposures(equity, broker.fills, market, inverse)
    st = stats.compute(equity, trades, iterations=len(reports), elapsed_s=elapsed, initial=cash, exposure=exposure,
                       inverse_exposure=inverse_exposure)
    fills = _fills_frame(broker.fills)
    return BacktestResult(equity=equity, trades=trades, orders=orders, stats=st, reports=reports, fills=fills,
                          strategy=type(strategy).__name__, every=every, at=at, cash=cash, settings=settings)


def _fills_frame(fills) -> pd.DataFrame:
    """The broker's fills as a frame (New York times), built column-wise: fast for long runs."""
    cols = ["timestamp", "order_id", "symbol", "side", "qty", "price", "realized_pl"]
    columns = list(zip(*[(f.timestamp.value, f.order_id, f.symbol, f.side, f.qty, f.price, f.realized_pl)
                         for f in fills])) if fills else [()] * len(cols)
    data = dict(zip(cols, map(list, columns)))
    data["timestamp"] = pd.DatetimeIndex(np.array(data["timestamp"], dtype=np.int64).view("datetime64[ns]")
                                         ).tz_localize("UTC").tz_convert(ET)
    for c in ("qty", "price", "realized_pl"):
        data[c] = np.array(data[c], dtype=float)
    return pd.DataFrame(data, columns=cols)


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
