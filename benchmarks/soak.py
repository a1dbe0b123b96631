"""Soak: thousands of live iterations against the local Alpaca venue, with random faults and crashes.

The Trader runs through alpaca-py's REST clients (wrapped in the retrying ``AlpacaClient``)
against a ``Sandbox`` holding the embedded default (2024-08-27, ten unprotected legacy
positions). Every hour of every session it runs one iteration, then the venue's clock moves
on an hour (nights and weekends skipped). Faults are injected by the venue on a random
fraction of requests: 429 and 500 answers, hangs longer than the client's read timeout, and
dropped connections. Now and then the process "dies" right after the venue accepted an
order and before the journal recorded it (armed at random, the executor's test hook raises a
BaseException at the next accepted order;
tests/test_recovery.py does the same with a real SIGKILL); a new Trader then starts over
the same journal and venue and runs the restart recovery.

Checked after every completed iteration, from the venue's own broker (not through HTTP):
every position protected (live stop shares + pending market sells >= shares) and never
over-protected (no double exits). At the end: cash and positions equal the fold of the fills
ledger; every order the venue holds from the trader is journaled exactly once as accepted;
no unresolved submission and no iteration left running.

Trailing stops are on (5%), so stop raises add orders (and moments to crash) as prices rise.

Run:  .venv/bin/python benchmarks/soak.py [--iterations 2000] [--fault-rate 0.03] [--crash-rate 0.02]
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import random
import tempfile
import time
from pathlib import Path

import pandas as pd
from alpaca.trading.requests import GetOrdersRequest

from activetrader import Settings, Trader
from activetrader.alpaca import AlpacaEndpoints, connect, list_orders
from activetrader.journal import Journal
from activetrader.live.recovery import recover
from activetrader.resilience import RetryPolicy
from activetrader.server import Sandbox
from activetrader.strategy.snapshot import LIVE_STATUSES
from activetrader.trader import _Executor

ET = "America/New_York"
#: Short waits and a read timeout shorter than the injected hangs, so a hang is a timeout.
POLICY = RetryPolicy(attempts=5, total_seconds=10.0, initial_wait=0.005, max_wait=0.05, read_timeout=0.3)
HANG = 0.4


class Crash(BaseException):
    """Stands for the process dying between the venue's acceptance and the journal write."""


def _trader(sb: Sandbox, journal: Journal) -> Trader:
    os.environ.update({"APCA_API_KEY_ID": sb.key_id, "APCA_API_SECRET_KEY": sb.secret_key})
    trading, data = connect(endpoints=AlpacaEndpoints.of(sb), policy=POLICY)
    settings = Settings()
    settings.bracket.trailing_stop_pct = 0.05  # stop raises: more orders, more moments to fail
    return Trader(broker=trading, market=data, journal=journal, settings=settings)


def _next_slot(broker, now: pd.Timestamp) -> pd.Timestamp:
    """An hour later if still in the session, else the next session's open."""
    nxt = now + pd.Timedelta(hours=1)
    clock = broker.get_clock()
    if nxt < pd.Timestamp(clock.next_close) and clock.is_open:
        return nxt
    return pd.Timestamp(clock.next_open).tz_convert("UTC")


def _protection(broker) -> tuple[list[str], list[str]]:
    """(unprotected, over-protected) symbols, read from the venue's broker directly."""
    orders = broker.get_orders(GetOrdersRequest(status="all", nested=True, limit=500,
                                                after=(broker.now - pd.Timedelta(days=91)).to_pydatetime()))
    covered: dict[str, float] = collections.defaultdict(float)
    for top in orders:
        for o in [top, *(top.legs or [])]:
            if o.side.value != "sell" or o.status.value not in LIVE_STATUSES:
                continue
            if o.type.value in ("stop", "stop_limit", "trailing_stop", "market"):
                covered[o.symbol] += float(o.qty)
    under, over = [], []
    for p in broker.get_all_positions():
        q = float(p.qty)
        if covered[p.symbol] + 1e-9 < int(q):  # whole shares: a fractional remainder cannot be in an OCO
            under.append(p.symbol)
        if covered[p.symbol] > q + 1e-9:
            over.append(p.symbol)
    return under, over


def soak(iterations: int, fault_rate: float, crash_rate: float, seed: int) -> dict:
    rng = random.Random(seed)
    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / "journal.sqlite"
    stats = collections.Counter()
    with Sandbox() as sb:
        broker = sb.broker  # the venue's own SimBroker: the truth the checks read
        for kind, rule in (("429", dict(status=429)), ("500", dict(status=500)),
                           ("hang", dict(hang=HANG)), ("drop", dict(drop=True))):
            sb.add_fault(path="/v2/*", fraction=fault_rate / 4, seed=seed + len(kind), **rule)
        sb.advance_to(pd.Timestamp("2024-08-27 09:30", tz=ET))
        journal = Journal(path)
        trader = _trader(sb, journal)
        t0 = time.perf_counter()
        for i in range(iterations):
            if _Executor.after_submit is None and rng.random() < crash_rate:
                def die(cid):  # armed until the next accepted order, then "the process dies"
                    _Executor.after_submit = None
                    raise Crash(cid)
                _Executor.after_submit = die
            try:
                report = trader.iteration()
                stats["completed"] += 1
                stats["orders_submitted"] += len(report.submitted)
                stats["orders_rejected"] += len(report.rejections)
                for o in report.rejections:
                    stats[f"rejected: {o.action} {o.http_status} {o.message}"[:110]] += 1
                under, over = _protection(broker)
                if under:
                    stats["iterations_leaving_unprotected"] += 1
                    if not report.rejections and not report.errors:
                        stats["unprotected_without_a_failed_order"] += 1
                stats["over_protected"] += len(over)
            except Crash:
                stats["crashes"] += 1
                journal.close()                       # the dead process's connection is gone
                journal = Journal(path)               # restart: same journal, same venue
                trader = _trader(sb, journal)
                r = recover(trader)
                stats["recovered_acks"] += len(r.resolved)
                stats["recovered_not_received"] += len(r.not_received)
            except Exception as exc:  # the venue broke the iteration off (faults beyond the retries)
                stats["failed_iterations"] += 1
                stats[f"failed: {type(exc).__name__}"] += 1
            sb.advance_to(_next_slot(broker, broker.now))
        elapsed = time.perf_counter() - t0
        _Executor.after_submit = None
        fired = {}
        for rule in sb.faults.rules:
            d = rule.to_dict()
            fired[f"faults_{d.get('status', 'hang' if 'hang' in d else 'drop')}"] = d["fired"]
        sb.clear_faults()
        recover(trader)  # a last restart's view: nothing should be left to do
        ledger_ok = _ledger_consistent(broker)
        ours = _all_ours(broker)
        sent = journal.orders().query("action == 'submit' and accepted")["client_order_id"]
        faults = sb.request_counts
        result = {
            "iterations": iterations, "completed": stats["completed"], "failed": stats["failed_iterations"],
            "crashes": stats["crashes"], "recovered_acks": stats["recovered_acks"],
            "recovered_not_received": stats["recovered_not_received"],
            "orders_submitted": stats["orders_submitted"], "orders_rejected": stats["orders_rejected"],
            "sim_days": (broker.now - pd.Timestamp("2024-08-27 13:30", tz="UTC")).days,
            "unprotected_after_iteration": stats["iterations_leaving_unprotected"],
            "unprotected_without_failed_order": stats["unprotected_without_a_failed_order"],
            "over_protected": stats["over_protected"],
            "ledger_consistent": ledger_ok,
            "venue_orders_from_trader": len(ours),
            "journaled_exactly_once": sorted(sent) == sorted(ours),
            "journal_duplicates": int(sent.duplicated().sum()),
            "unresolved": len(journal.unresolved()),
            "iterations_running": int(journal.iterations()["completed_at"].isna().sum()),
            "requests": sum(faults.values()) if isinstance(faults, dict) else None,
            **fired,
            "seconds": round(elapsed, 1),
        }
        result.update({k: v for k, v in stats.items() if k.startswith(("failed: ", "rejected: "))})
        journal.close()
    tmp.cleanup()
    return result


def _all_ours(broker) -> list[str]:
    """Client order ids of every top-level order the trader placed (all pages)."""
    return [o.client_order_id for o in list_orders(broker, GetOrdersRequest(status="all"))
            if o.client_order_id.startswith("at-")]


def _ledger_consistent(broker) -> bool:
    """Cash and positions equal the fold of the fills ledger."""
    cash, qty = broker._initial_cash, collections.defaultdict(float)
    for f in broker.fills:
        sign = 1 if f.side == "buy" else -1
        cash -= sign * f.qty * f.price
        qty[f.symbol] += sign * f.qty
    positions = {p.symbol: float(p.qty) for p in broker.get_all_positions()}
    held = {s: q for s, q in qty.items() if abs(q) > 1e-9}
    return abs(cash - float(broker.get_account().cash)) < 0.01 and held.keys() == positions.keys() and all(
        abs(held[s] - positions[s]) < 1e-9 for s in held)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--fault-rate", type=float, default=0.03, help="share of venue requests faulted")
    ap.add_argument("--crash-rate", type=float, default=0.02,
                    help="chance per iteration to arm a crash at the next accepted order")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    logging.getLogger("activetrader").setLevel(logging.ERROR)  # each retry logs a warning: thousands here
    result = soak(args.iterations, args.fault_rate, args.crash_rate, args.seed)
    width = max(map(len, result))
    for k, v in result.items():
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
