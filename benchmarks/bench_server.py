"""Latency of the local Alpaca-compatible venue (``activetrader.server``) through alpaca-py.

Serves the embedded default scenario with a ``Sandbox`` on 127.0.0.1 and times the real
alpaca-py clients: each row is one call repeated ``N`` times (median and 95th percentile in
milliseconds, calls per second). Also times a manual clock move with the resting orders of the
scenario's first iteration. Prints a table; nothing is asserted.

    .venv/bin/python benchmarks/bench_server.py [N]
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

import pandas as pd

warnings.filterwarnings("ignore", message="websockets.legacy is deprecated", category=DeprecationWarning)

from alpaca.data.historical import StockHistoricalDataClient  # noqa: E402
from alpaca.data.requests import StockBarsRequest, StockSnapshotRequest  # noqa: E402
from alpaca.data.timeframe import TimeFrame  # noqa: E402
from alpaca.trading.client import TradingClient  # noqa: E402
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest  # noqa: E402

from activetrader.server import Sandbox  # noqa: E402


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main(n: int = 200) -> None:
    rows = []
    with Sandbox() as sb:
        trading = TradingClient(sb.key_id, sb.secret_key, url_override=sb.url)
        data = StockHistoricalDataClient(sb.key_id, sb.secret_key, url_override=sb.url)
        symbols = list(sb.broker.market.symbols)
        year = pd.Timestamp("2023-08-25", tz="UTC")
        cases = {
            "get_account": trading.get_account,
            "get_all_positions (10)": trading.get_all_positions,
            "get_orders status=all nested": lambda: trading.get_orders(GetOrdersRequest(status="all", nested=True)),
            "submit_order (limit, rests)": lambda: trading.submit_order(LimitOrderRequest(
                symbol="KO", qty=1, side="buy", time_in_force="gtc", limit_price=1.0)),
            f"get_stock_bars 1Day x{len(symbols)} symbols, 1 year": lambda: data.get_stock_bars(StockBarsRequest(
                symbol_or_symbols=symbols, timeframe=TimeFrame.Day, start=year)),
            f"get_stock_snapshot x{len(symbols)}": lambda: data.get_stock_snapshot(
                StockSnapshotRequest(symbol_or_symbols=symbols)),
        }
        for name, fn in cases.items():
            reps = n if "bars" not in name else max(n // 10, 5)
            ms = timed(fn, reps)
            rows.append((name, reps, statistics.median(ms), sorted(ms)[int(0.95 * (len(ms) - 1))],
                         1000 / statistics.mean(ms)))
        t0 = time.perf_counter()
        sb.advance_to("2024-12-31 16:00-05:00")
        adv = (time.perf_counter() - t0) * 1000
    print(f"{'call':44s} {'n':>5s} {'median_ms':>10s} {'p95_ms':>8s} {'calls_per_s':>12s}")
    for name, reps, med, p95, rate in rows:
        print(f"{name:44s} {reps:5d} {med:10.2f} {p95:8.2f} {rate:12.1f}")
    print(f"advance_to 2024-08-27 -> 2024-12-31 (84 sessions, {n} resting orders + 10 positions): {adv:.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
