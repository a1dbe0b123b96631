"""Sweep throughput: serial backtests vs a 2-worker Dask LocalCluster, task overhead, and an
estimate for a large sweep on a large cluster from measured per-task cost.

    .venv/bin/python benchmarks/bench_sweep.py [--combos 64] [--years 10]

64 combinations by default: about 13 s of serial backtests, as the 16 of the first version were
when a 10-year backtest took 1 s (it takes ~0.2 s since CombinedStrategy skips quiet iterations).
A sweep of a few seconds in all is dominated by what every sweep costs once (sending the market,
the last backtest finishing while the other worker idles), not by throughput.

Data: the 13 stocks + SH + SPY of ../shared/data/real when present (else the simulated
market), daily, the last ``--years`` years to 2024-12-31; the full combined strategy.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

from activetrader import Settings
from activetrader.backtest import backtest
from activetrader.sweep import expand, sweep
from bench_backtest import REAL, WATCHLIST, real_market


def load_market():
    if not REAL.is_dir():
        from activetrader.scenario import default_market

        print(f"({REAL} not found: using the simulated market)")
        return default_market(), Settings(), ("2023-06-01", "2025-06-01")
    return real_market(), Settings(entry={"watchlist": WATCHLIST}), None


def grid_of(n: int) -> dict:
    """A grid of stop-losses x oversold levels (8 x 4 at most), then take-profits: 16 gives 4 x 4,
    32 gives 8 x 4, 64 gives 8 x 4 x 2 (other sizes round down to what the axes allow)."""
    stops = [0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.10]
    oversold = [25.0, 30.0, 35.0, 40.0]
    k = max(1, n // len(oversold))
    grid = {"bracket.stop_loss_pct": stops[:k], "entry.oversold": oversold[: max(1, n // k)]}
    if n > len(stops) * len(oversold):
        grid["bracket.take_profit_pct"] = [0.15, 0.10, 0.20, 0.25][: n // (len(stops) * len(oversold))]
    return grid


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--combos", type=int, default=64)
    ap.add_argument("--years", type=int, default=10)
    args = ap.parse_args()
    market, base, span = load_market()
    start, end = span or (f"{2025 - args.years}-01-01", "2024-12-31")
    grid = grid_of(args.combos)
    combos = expand(grid, base)
    n = len(combos)
    print(f"{n} combinations x {start}..{end}, cores={os.cpu_count()}")

    backtest(market, settings=base, start=start, end=end, progress=False)  # warm caches in this process
    t0 = time.perf_counter()
    per = []
    for c in combos:
        t = time.perf_counter()
        backtest(market, settings=c.settings, start=start, end=end, progress=False)
        per.append(time.perf_counter() - t)
    serial = time.perf_counter() - t0

    from dask.distributed import Client

    from activetrader.sweep.cluster import local_cluster

    with local_cluster(2) as lc, Client(lc) as client:
        sweep({"bracket.stop_loss_pct": [0.04, 0.05, 0.06, 0.07]}, market, start=start, end=end, settings=base,
              client=client, progress=False, batch_size=1)  # warm: imports and caches on both workers
        t0 = time.perf_counter()
        sweep(grid, market, start=start, end=end, settings=base, client=client, progress=False)
        parallel = time.perf_counter() - t0
        # Scheduling overhead: the round trip of tiny tasks, submitted in one go.
        k = 500
        t0 = time.perf_counter()
        client.gather(client.map(lambda x: x, range(k), pure=False))
        overhead = (time.perf_counter() - t0) / k * sum(client.nthreads().values())
        size = len(__import__("cloudpickle").dumps(market))

    task = statistics.median(per)
    rows = [
        ("serial backtest() loop", f"{serial:.2f} s", f"{n / serial:.2f}"),
        ("LocalCluster, 2 workers", f"{parallel:.2f} s", f"{n / parallel:.2f}"),
    ]
    print(f"\n{'run':28} {'time':>10} {'combos/s':>10}")
    for r in rows:
        print(f"{r[0]:28} {r[1]:>10} {r[2]:>10}")
    print(f"\nspeed-up 2 workers vs serial: {serial / parallel:.2f}x")
    print(f"median backtest (one combination, {len(market.symbols)} symbols): {task * 1000:.0f} ms")
    print(f"scheduling overhead per task (tiny tasks, per worker thread): {overhead * 1000:.2f} ms")
    print(f"market sent to each worker once: {size / 1e6:.1f} MB pickled")
    # Estimate: 1,000 combinations x 100 symbols on 100 workers. Per-task cost grows with the
    # symbols a decision reads (measured here with 15); scale linearly as a conservative bound.
    per_100 = task * 100 / len(market.symbols)
    waves = math.ceil(1000 / 100)
    est = waves * (per_100 + overhead) + size * 100 / len(market.symbols) / 100e6
    print(f"estimate, 1,000 combinations x 100 symbols on 100 workers: {waves} waves x "
          f"({per_100:.2f} s + {overhead * 1000:.1f} ms) + data {size * 100 / len(market.symbols) / 1e6:.0f} MB "
          f"at 100 MB/s ~ {est:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
