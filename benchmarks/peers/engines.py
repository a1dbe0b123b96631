"""One engine, one size, one process: run the simple rule and print a JSON line of timings.

    python benchmarks/peers/engines.py ENGINE N        # ENGINE: activetrader, backtesting, vectorbt, lumibot

``bench_peers.py`` starts one of these per (engine, size) so that each run's peak RSS is its
own; activetrader and backtesting.py run in the project's venv, vectorbt and Lumibot in the
peers' venv (``benchmarks/.venv-peers``). Every engine gets the same bars (:mod:`data`) and the
same signal and levels (:mod:`rule`), and is timed twice in the process: ``cold`` (the first
run: imports done, but caches, calendars and any JIT compilation still to do) and ``warm``.
``setup_s`` is the time to turn the in-memory frames into the engine's input (market object,
price matrices) and ``import_s`` the engine's imports, both outside the two timings; the peak
RSS (``ru_maxrss``) covers the whole process, ``base_rss_mb`` what imports and data took.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402
import rule  # noqa: E402

#: A cold run longer than this is not repeated warm (the warm time is then the cold one).
REPEAT_BELOW_S = 60.0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------------------- activetrader
def activetrader(frames: dict[str, pd.DataFrame], skip_quiet: bool = True):
    """``skip_quiet=False`` (engine ``activetrader-every``) runs every iteration, ignoring
    ``RsiBracket``'s wake rule: the same trades, to show what skipping quiet iterations buys."""
    from activetrader import Settings
    from activetrader.strategy import RsiBracket

    settings = Settings()
    settings.entry.rsi_period, settings.entry.lookback_bars = rule.PERIOD, rule.LOOKBACK
    settings.entry.oversold = rule.OVERSOLD
    settings.bracket.stop_loss_pct, settings.bracket.take_profit_pct = rule.STOP_LOSS_PCT, rule.TAKE_PROFIT_PCT
    return _live_path(frames, lambda: RsiBracket(dollars=rule.DOLLARS), settings, skip_quiet=skip_quiet)


def activetrader_floor(frames: dict[str, pd.DataFrame]):
    """The live path's fixed cost (engine ``activetrader-floor``): a strategy whose plan is always
    empty, run at every iteration on the same market and universe. No peer does less work per
    bar than this loop of snapshot, decision, caps, report and broker advance; it bounds from below
    what the simple rule can cost through the live path (it trades nothing: ``trades`` is 0)."""
    from activetrader import Settings
    from activetrader.strategy import Plan, Strategy

    class NeverTrades(Strategy):
        def propose(self, snapshot, settings, **kwargs):
            return Plan(cash_after=snapshot.account.cash)

    return _live_path(frames, NeverTrades, Settings(), skip_quiet=False)


def activetrader_broker(frames: dict[str, pd.DataFrame]):
    """The broker's share alone (engine ``activetrader-broker``): the simple rule's signals
    computed up front for every bar (:func:`rule.tail_rsi`, as the peers get them), then a hand
    loop of ``SimBroker.advance_to(09:00 New York)`` and, per signal, the bracket the strategy
    would send (its levels, :func:`~activetrader.strategy.levels.bracket_levels`), and the
    strategy's re-protection of a position whose legs expired (an OCO at the entry-based levels,
    or a market exit when the price is already at the stop). No Trader, snapshot, strategy,
    caps, report or result: what the live path costs beyond this is the Trader's. ``trades``
    counts the entries filled, as ``len(result.trades)`` does: the same as ``activetrader``'s up
    to 100 symbols; at 500, 10 more (9,933), in two derived NVDA copies priced near $0.20, where
    the strategy's caps drop a bracket whose stop would have to sit more than 5% below the price
    to be a cent below it."""
    from activetrader.backtest.schedule import iteration_times
    from activetrader.broker import SimBroker
    from activetrader.broker.submit import plain_order
    from activetrader.market import HistoricalMarket
    from activetrader.strategy.levels import MIN_DISTANCE, bracket_levels, round_price

    market = HistoricalMarket({s: f.rename_axis("date").reset_index() for s, f in frames.items()})
    syms = list(frames)
    close = np.column_stack([frames[s]["close"].to_numpy() for s in syms])
    first = data.trade_start_index()
    times, final = iteration_times(market, data.TRADE_FROM, data.LAST)  # the backtest's own: 09:00 New York
    assert len(times) == len(close) - first, "one iteration per session from TRADE_FROM"
    tp_pct, sl_pct = rule.TAKE_PROFIT_PCT, rule.STOP_LOSS_PCT

    def run() -> int:
        signal = rule.tail_rsi(close) < rule.OVERSOLD  # inside the timing, as vectorbt's
        b = SimBroker(market, cash=100_000.0 * len(syms), start=times[0] - pd.Timedelta(hours=1))
        for i, t in enumerate(times, start=first):
            b.advance_to(t)
            # legs gone: RsiBracket._reprotect by hand (no Draft here); the engine's own dicts, the
            # cheapest read there is, keep this a lower bound
            for s in [s for s in b._positions if not b._working.get(s)]:
                p = b._positions[s]
                price = b.last_price(s)
                stop = round_price(p.avg_entry_price * (1 - sl_pct))
                if price < stop + MIN_DISTANCE - 1e-9:
                    b.native_submit(plain_order("market", s, p.qty, "sell", "day"))
                else:
                    tp, stop = bracket_levels(p.avg_entry_price, take_profit_pct=tp_pct, stop_loss_pct=sl_pct,
                                              base=price)
                    b.native_submit(plain_order("limit", s, p.qty, "sell", "gtc", "oco", tp, stop))
            for j in np.flatnonzero(signal[i - 1]):  # oversold at the last close
                s, c = syms[j], float(close[i - 1, j])
                qty = rule.shares(c)
                if qty and not b.holds(s):
                    tp, stop = bracket_levels(c, take_profit_pct=tp_pct, stop_loss_pct=sl_pct)
                    b.native_submit(plain_order("market", s, qty, "buy", "gtc", "bracket", tp, stop))
        b.advance_to(final)
        return sum(f.side == "buy" for f in b.fills)

    return run


def _live_path(frames: dict[str, pd.DataFrame], make_strategy, settings, *, skip_quiet: bool):
    """A run of a new ``make_strategy()`` through activetrader's backtest (the live code path)
    over ``frames``: every symbol on the watchlist, 100k per symbol, as each peer runs each
    symbol on 100k."""
    from activetrader import backtest
    from activetrader.market import HistoricalMarket

    market = HistoricalMarket({s: f.rename_axis("date").reset_index() for s, f in frames.items()})
    settings.entry.watchlist = list(frames)
    cash = 100_000.0 * len(frames)

    def run() -> int:
        result = backtest(market, make_strategy(), settings, start=data.TRADE_FROM, end=data.LAST, cash=cash,
                          progress=False, skip_quiet=skip_quiet)
        return len(result.trades)

    return run


# ---------------------------------------------------------------------------- backtesting.py
def backtesting(frames: dict[str, pd.DataFrame]):
    from backtesting import Backtest, Strategy

    first = data.trade_start_index() - 1  # the last warm-up close may signal the first entry

    class SimpleRule(Strategy):
        def init(self):
            self.rsi = self.I(lambda c: rule.tail_rsi(np.asarray(c)[:, None])[:, 0], self.data.Close)

        def next(self):
            if len(self.data) - 1 < first or self.position or not self.rsi[-1] < rule.OVERSOLD:
                return
            qty, tp, sl = rule.bracket(float(self.data.Close[-1]))
            if qty:
                self.buy(size=qty, sl=sl, tp=tp)

    inputs = {s: f.rename(columns=str.capitalize) for s, f in frames.items()}

    def run() -> int:
        trades = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # open trades at the end, etc.
            for df in inputs.values():
                bt = Backtest(df, SimpleRule, cash=100_000, commission=0.0, trade_on_close=False,
                              exclusive_orders=False, finalize_trades=True)
                trades += len(bt.run()._trades)
        return trades

    return run


# ---------------------------------------------------------------------------- vectorbt
def vectorbt(frames: dict[str, pd.DataFrame]):
    import vectorbt as vbt

    field = {k: pd.DataFrame({s: f[k] for s, f in frames.items()}) for k in ("open", "high", "low", "close")}
    first = data.trade_start_index()

    def run() -> int:
        close, open_ = field["close"], field["open"]
        c = close.to_numpy()
        signal = rule.tail_rsi(c) < rule.OVERSOLD  # at the close of bar i ...
        entries = np.zeros_like(signal)
        entries[1:] = signal[:-1]  # ... buys at the open of bar i + 1
        entries[:first] = False
        prev = np.vstack([np.full((1, c.shape[1]), np.nan), c[:-1]])  # the signal close
        qty = np.floor(rule.DOLLARS / prev + 1e-6)
        tp_level = np.round(prev * (1 + rule.TAKE_PROFIT_PCT), 2)
        sl_level = np.round(prev * (1 - rule.STOP_LOSS_PCT), 2)
        o = open_.to_numpy()
        entries &= qty >= 1
        pf = vbt.Portfolio.from_signals(
            close, entries=entries, exits=False, price=open_, size=np.nan_to_num(qty), size_type="amount",
            sl_stop=np.clip(1 - sl_level / o, 0, None), tp_stop=np.clip(tp_level / o - 1, 0, None),
            stop_entry_price="fillprice",  # levels relative to the open it bought at, not the close
            open=open_, high=field["high"], low=field["low"], init_cash=100_000.0, fees=0.0,
            accumulate=False, freq="1D")
        return int(pf.trades.count().sum())

    return run


# ---------------------------------------------------------------------------- Lumibot
def lumibot(frames: dict[str, pd.DataFrame]):
    from lumibot_runner import make_run  # only importable in the peers' venv

    return make_run(frames)


ENGINES = {"activetrader": activetrader, "activetrader-every": lambda f: activetrader(f, skip_quiet=False),
           "activetrader-floor": activetrader_floor, "activetrader-broker": activetrader_broker,
           "backtesting": backtesting, "vectorbt": vectorbt, "lumibot": lumibot}
#: Imported before any timing (``import_s``): vectorbt's import alone takes seconds.
MODULES = {"activetrader": ("activetrader", "activetrader.backtest", "activetrader.market"),
           "activetrader-every": ("activetrader", "activetrader.backtest", "activetrader.market"),
           "activetrader-floor": ("activetrader", "activetrader.backtest", "activetrader.market"),
           "activetrader-broker": ("activetrader", "activetrader.broker", "activetrader.market"),
           "backtesting": ("backtesting",), "vectorbt": ("vectorbt",), "lumibot": ("lumibot_runner",)}


def main(argv: list[str]) -> None:
    engine, n = argv[0], int(argv[1])
    os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's per-run progress bar
    t0 = time.perf_counter()
    for name in MODULES[engine]:
        importlib.import_module(name)
    imported = time.perf_counter() - t0
    frames = data.universe(n)
    base_rss = _rss_mb()
    t0 = time.perf_counter()
    run = ENGINES[engine](frames)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    trades = run()
    cold = time.perf_counter() - t0
    warm, repeated = cold, cold < REPEAT_BELOW_S or engine == "vectorbt"  # vectorbt: JIT, then fast
    if repeated:
        t0 = time.perf_counter()
        run()
        warm = time.perf_counter() - t0
    print(json.dumps(dict(engine=engine, n=n, sessions=len(data.dates()) - data.trade_start_index(),
                          import_s=imported, setup_s=setup, cold_s=cold, warm_s=warm, warm_repeated=repeated,
                          trades=trades, peak_rss_mb=_rss_mb(), base_rss_mb=base_rss)))


if __name__ == "__main__":
    main(sys.argv[1:])
