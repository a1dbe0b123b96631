"""Benchmark: whole iterations (``advance_to`` + ``trader.iteration()``) through the live code path.

Two speed targets of issue 7, printed as one table (median of ``--repeat`` warm runs):

* ``real-daily``: the full CombinedStrategy (default Settings, the 13 watchlist stocks + SH + SPY
  from ``../shared/data/real``), one iteration per session at 09:00 New York, 2015-01-01..2024-12-31
  (about 2,516 iterations); target under 1 s, aim 0.25 s.
* ``sim-hourly``: one year of hourly iterations (one per regular-session hour) on the
  SimulatedMarket; target under 2 s.

``--path alpaca`` forces the alpaca-py model path (``Trader(fast=False)``) for comparison.

Run:  .venv/bin/python benchmarks/bench_backtest.py [--repeat 3] [--path fast|alpaca|both]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

from activetrader import Settings, Trader
from activetrader.broker import SimBroker
from activetrader.market import HistoricalMarket, SimulatedMarket

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
from data import REAL_DIR as REAL  # noqa: E402 - ../shared/data/real, or $ACTIVETRADER_REAL_DATA

NY = "America/New_York"
WATCHLIST = ("AAPL", "MSFT", "GOOGL", "AMZN", "META", "NVDA", "TSLA", "JPM", "JNJ", "XOM", "KO", "WMT", "UNH")


def real_market() -> HistoricalMarket:
    files = [*WATCHLIST, "SH", "SPY"]
    return HistoricalMarket({s: pd.read_csv(REAL / f"{s}.csv") for s in files})


def _trader(broker, fast: bool) -> Trader:
    settings = Settings()
    settings.entry.watchlist = WATCHLIST
    return Trader(broker=broker, settings=settings, fast=fast)


def _replay(broker, trader, moments) -> tuple[float, int, float, float]:
    """The timed hand loop: wall seconds, iterations, final equity, CPU seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    for ts in moments:
        broker.advance_to(ts)
        trader.iteration()
    spent, cpu = time.perf_counter() - t0, time.process_time() - c0
    return spent, len(moments), float(broker.get_account().equity), cpu


def real_daily(market, fast: bool, start="2015-01-01", end="2024-12-31") -> tuple[float, int, float]:
    """Wall seconds for the hand loop, iterations, final equity, CPU seconds."""
    days = market.calendar.sessions_between(start, end)
    moments = [pd.Timestamp(d.date()).tz_localize(NY) + pd.Timedelta(hours=9) for d in days]
    broker = SimBroker(market, cash=100_000, start=moments[0])
    trader = _trader(broker, fast)
    return _replay(broker, trader, moments)


def api_daily(market, start="2015-01-01", end="2024-12-31") -> tuple[float, int, float, float]:
    """The same replay through ``activetrader.backtest`` (issue 7's API), when it exists."""
    from activetrader import backtest

    settings = Settings()
    settings.entry.watchlist = WATCHLIST
    t0, c0 = time.perf_counter(), time.process_time()
    result = backtest(market, settings=settings, start=start, end=end, cash=100_000, progress=False)
    spent, cpu = time.perf_counter() - t0, time.process_time() - c0
    return spent, int(result.stats["iterations"]), float(result.equity.iloc[-1]), cpu


def sim_hourly(fast: bool, year: int = 2024) -> tuple[float, int, float]:
    market = SimulatedMarket(seed=7, start=f"{year - 1}-06-01", end=f"{year}-12-31", timeframe="1Hour")
    cal = market.calendar
    moments = []
    for d in cal.sessions_between(f"{year}-01-01", f"{year}-12-31"):
        o, c = cal.session_open(d), cal.session_close(d)
        t = o + pd.Timedelta(hours=1)
        while t <= c:
            moments.append(t)
            t += pd.Timedelta(hours=1)
    broker = SimBroker(market, cash=100_000, start=moments[0] - pd.Timedelta(hours=1))
    trader = _trader(broker, fast)
    for s in market.symbols:  # build the lazily generated paths outside the timing
        market.arrays(s)
    return _replay(broker, trader, moments)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--path", choices=("fast", "alpaca", "both"), default="fast")
    ap.add_argument("--only", choices=("real-daily", "sim-hourly"), default=None)
    ap.add_argument("--start", default="2015-01-01")
    ap.add_argument("--end", default="2024-12-31")
    args = ap.parse_args()
    paths = {"fast": [True], "alpaca": [False], "both": [True, False]}[args.path]
    rows = []
    market = real_market() if REAL.is_dir() and args.only != "sim-hourly" else None
    for fast in paths:
        if market is not None:
            runs = [real_daily(market, fast, args.start, args.end) for _ in range(args.repeat)]
            rows.append(dict(case="real-daily", path="fast" if fast else "alpaca", iterations=runs[0][1],
                             median_s=statistics.median(r[0] for r in runs), min_s=min(r[0] for r in runs),
                             cpu_median_s=statistics.median(r[3] for r in runs), target_s=1.0, final_equity=runs[0][2]))
        if market is not None and fast:
            try:
                runs = [api_daily(market, args.start, args.end) for _ in range(args.repeat)]
            except ImportError:
                runs = []
            if runs:
                rows.append(dict(case="real-daily backtest()", path="fast", iterations=runs[0][1],
                                 median_s=statistics.median(r[0] for r in runs), min_s=min(r[0] for r in runs),
                                 cpu_median_s=statistics.median(r[3] for r in runs), target_s=1.0,
                                 final_equity=runs[0][2]))
        if args.only != "real-daily":
            runs = [sim_hourly(fast) for _ in range(args.repeat)]
            rows.append(dict(case="sim-hourly", path="fast" if fast else "alpaca", iterations=runs[0][1],
                             median_s=statistics.median(r[0] for r in runs), min_s=min(r[0] for r in runs),
                             cpu_median_s=statistics.median(r[3] for r in runs), target_s=2.0, final_equity=runs[0][2]))
    df = pd.DataFrame(rows)
    df["us_per_iteration"] = df["median_s"] / df["iterations"] * 1e6
    with pd.option_context("display.width", 160, "display.float_format", "{:,.3f}".format):
        print(df.to_string(index=False))
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores shared with other agents)")


if __name__ == "__main__":
    main()
