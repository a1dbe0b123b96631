"""Benchmark: SimBroker.advance_to over a 500-symbol, 10-year daily market.

Prints a table of symbol-bars per second (universe size x sessions / seconds spent in
``advance_to``) for 0 and 20 resting exit groups, on a 500- and a 50-symbol universe: the
engine's cost should follow the resting orders, not the universe size.

Run:  .venv/bin/python benchmarks/bench_broker.py   (or `make bench`)
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pandas as pd
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, StopLossRequest, TakeProfitRequest

from activetrader.broker import SimBroker
from activetrader.market import SimulatedMarket


def _protect(b: SimBroker, symbols) -> None:
    """An OCO per held symbol, far from the price so it rests (re-placed before the 90-day GTC cancel)."""
    for s in symbols:
        px = b.last_price(s)
        b.submit_order(LimitOrderRequest(
            symbol=s, qty=10, side="sell", time_in_force="gtc", order_class="oco",
            take_profit=TakeProfitRequest(limit_price=round(px * 50, 2)),
            stop_loss=StopLossRequest(stop_price=round(max(px * 0.02, 1.0), 2))))


def run(universe: int, resting: int, years: int, *, trace_memory: bool = False) -> dict:
    start, end = "2015-01-02", f"{2015 + years - 1}-12-31"
    t0 = time.perf_counter()
    m = SimulatedMarket(seed=11, start=start, end=end, symbols=universe)
    build = time.perf_counter() - t0
    sessions = m.calendar.sessions_between(start, end)
    closes = [m.calendar.session_close(d) for d in sessions]
    b = SimBroker(m, cash=1e9, start=pd.Timestamp(closes[0]) - pd.Timedelta(hours=8))
    symbols = [s for s in m.symbols if s not in ("SPY", "QQQ", "SH", "SPXS", "SQQQ")][:resting]
    for s in symbols:
        b.submit_order(MarketOrderRequest(symbol=s, qty=10, side="buy", time_in_force="day"))
    for s in symbols:  # generate the lazily built price paths before timing
        m.arrays(s)
    spent = 0.0
    if trace_memory:
        tracemalloc.start()
    for k, ts in enumerate(closes):
        if k == 1:
            _protect(b, symbols)
        elif k > 1 and k % 60 == 0:
            b.cancel_orders()
            _protect(b, symbols)
        t = time.perf_counter()
        b.advance_to(ts)
        spent += time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] if trace_memory else 0
    tracemalloc.stop()
    resting_now = len(b.get_orders())
    return dict(universe=universe, resting=resting, sessions=len(closes), seconds=spent,
                symbol_bars_per_s=universe * len(closes) / spent if spent else float("inf"),
                market_build_s=build, peak_mem_mb=peak / 2**20, open_orders_at_end=resting_now)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", type=int, default=10)
    args = ap.parse_args()
    rows = []
    for universe, resting in [(500, 0), (500, 20), (50, 20)]:
        row = run(universe, resting, args.years)
        row["peak_mem_mb"] = run(universe, resting, args.years, trace_memory=True)["peak_mem_mb"]
        rows.append(row)
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 160, "display.float_format", "{:,.3f}".format):
        print(df.to_string(index=False))
    r500, r50 = rows[1]["seconds"], rows[2]["seconds"]
    print(f"\n20 resting groups: 500-symbol / 50-symbol time ratio = {r500 / r50:.2f} "
          "(about 1 means the cost follows resting orders, not universe size)")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
