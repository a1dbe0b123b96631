"""Benchmark: SimBroker.advance_to over a 500-symbol, 10-year daily market, and the native
fast path a Trader iteration calls.

The first table gives symbol-bars per second (universe size x sessions / seconds spent in
``advance_to``) for 0 and 20 resting exit groups, on a 500- and a 50-symbol universe: the
engine's cost should follow the resting orders, not the universe size. The second gives the
microseconds per session of what one backtest iteration asks of the broker with ``held``
protected positions (an OCO each): the snapshot's ``native_account`` / ``native_positions`` /
``native_orders`` right after the clock moved, one ``native_submit`` and the account read after.

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


def native_iteration(held: int, sessions: int = 250) -> dict:
    """Microseconds per session spent in the native calls of one Trader iteration."""
    from activetrader.strategy.snapshot import LIVE_STATUSES

    m = SimulatedMarket(seed=11, start="2015-01-02", end="2016-12-31", symbols=held + 60)
    closes = [m.calendar.session_close(d) for d in m.calendar.sessions_between("2015-01-02", "2016-12-31")]
    b = SimBroker(m, cash=1e9, start=pd.Timestamp(closes[0]) - pd.Timedelta(hours=8))
    symbols = [s for s in m.symbols if s not in ("SPY", "QQQ", "SH", "SPXS", "SQQQ")]
    kept, spare = symbols[:held], symbols[held:]
    for s in symbols:  # generate the lazily built price paths (and the broker's lists) before timing
        b.last_price(s)
    for s in kept:
        b.submit_order(MarketOrderRequest(symbol=s, qty=10, side="buy", time_in_force="day"))
    b.advance_to(closes[0])
    _protect(b, kept)
    spent = dict.fromkeys(["native_account", "native_positions", "native_orders", "native_submit",
                           "native_account (after)"], 0.0)
    clock = time.perf_counter
    for k, ts in enumerate(closes[1:sessions + 1]):
        if k and k % 60 == 0:
            b.cancel_orders()
            _protect(b, kept)
        b.advance_to(pd.Timestamp(ts) - pd.Timedelta(hours=6))  # mornings: the previous close is the price
        after = b._now_ns - 91 * 86_400_000_000_000
        sym = spare[k % len(spare)]
        calls = [("native_account", b.native_account), ("native_positions", b.native_positions),
                 ("native_orders", lambda: b.native_orders(after=after, keep=LIVE_STATUSES)),
                 ("native_submit", lambda: b.native_submit(LimitOrderRequest(  # a DAY buy far below: it expires
                     symbol=sym, qty=1, side="buy", time_in_force="day", limit_price=round(b.last_price(sym) / 2, 2)))),
                 ("native_account (after)", b.native_account)]
        for name, call in calls:
            t = clock()
            call()
            spent[name] += clock() - t
    n = min(sessions, len(closes) - 1)
    return {"held": held, **{name: s / n * 1e6 for name, s in spent.items()}}


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
    native = pd.DataFrame([native_iteration(held) for held in (30, 150)])
    with pd.option_context("display.width", 160, "display.float_format", "{:,.1f}".format):
        print("\nnative fast path, microseconds per session (one Trader iteration's broker calls):")
        print(native.to_string(index=False))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
