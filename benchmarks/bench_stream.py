"""Benchmark: price message to stop action, on loopback (issue 9, target < 50 ms).

A Sandbox (the local Alpaca venue) serves an hourly market of one symbol, AAA, held with a
bracket (take-profit far away). alpaca-py's ``StockDataStream`` and ``TradingStream`` feed a
``StreamMonitor``. Each round the benchmark advances the venue's clock by one hour; the venue
publishes that bar's trade on the websocket; the monitor acts on it:

* ``warning``: the stop is fixed at 95 and closes alternate 98.00 / 96.90, so every other
  message enters the 2% near-stop band and produces a warning;
* ``raise``: ``trailing_stop_pct=0.05`` and every close is a new high (+0.5%), so every message
  raises the stop with ``replace_order_by_id`` (a REST PATCH to the venue, answered).

``end_to_end`` is from the ``advance_to`` call (the venue publishes) to the monitor's action
done; ``in_monitor`` from the message's arrival in alpaca-py's handler to the action done. The
``simulated`` row is the embedded default's stream (``SimulatedStream``, in-process) for
comparison. The machine is shared (2 cores, several agents): timings are noisy.

Run:  .venv/bin/python benchmarks/bench_stream.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import pandas as pd
from alpaca.data.enums import DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.live import StockDataStream
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import MarketOrderRequest, StopLossRequest, TakeProfitRequest
from alpaca.trading.stream import TradingStream

from activetrader import Settings, Trader
from activetrader.alpaca import AlpacaClient
from activetrader.broker import SimBroker
from activetrader.live.monitor import StreamMonitor
from activetrader.live.stream import AlpacaStream, SimulatedStream
from activetrader.market import HistoricalMarket, MarketCalendar
from activetrader.server import Sandbox

ET = "America/New_York"


def _market(closes: list[float]) -> tuple[HistoricalMarket, list[pd.Timestamp]]:
    """Hourly regular-session bars (09:30..15:30 ET) with these closes, from 2024-03-04 on."""
    days = MarketCalendar("2024-03-01", "2025-12-31").sessions_between("2024-03-04", "2025-12-31")
    starts = [pd.Timestamp(f"{d.date()} 09:30", tz=ET) + pd.Timedelta(hours=h) for d in days for h in range(7)]
    starts = starts[: len(closes)]
    opens = [closes[0], *closes[:-1]]
    frame = pd.DataFrame({"open": opens, "high": [max(o, c) for o, c in zip(opens, closes)],
                          "low": [min(o, c) for o, c in zip(opens, closes)], "close": closes, "volume": 1e4},
                         index=pd.DatetimeIndex(starts).tz_convert("UTC"))
    return HistoricalMarket({"AAA": frame}, timeframe="1Hour"), [s.tz_convert("UTC") for s in starts]


def _paths(rounds: int) -> dict[str, tuple[list[float], float | None]]:
    return {"warning": ([100.0] + [98.0 if k % 2 else 96.9 for k in range(rounds)], None),
            "raise": ([100.0] + [round(100 * 1.005 ** (k + 1), 2) for k in range(rounds)], 0.05)}


def _buy(client) -> None:
    client.submit_order(MarketOrderRequest(symbol="AAA", qty=10, side="buy", time_in_force="gtc",
                                           order_class="bracket", take_profit=TakeProfitRequest(limit_price=10_000.0),
                                           stop_loss=StopLossRequest(stop_price=95.0)))


def venue_round_trips(kind: str, rounds: int) -> dict:
    closes, trailing = _paths(rounds)[kind]
    market, starts = _market(closes)
    ends = [s + pd.Timedelta(hours=1) for s in starts]
    done = threading.Event()
    marks: list[float] = []
    inside: list[float] = []

    def acted(action) -> None:
        marks.append(time.perf_counter())
        inside.append(action.latency)
        done.set()

    with Sandbox(market=market, cash=1_000_000, start=starts[0] - pd.Timedelta(minutes=30)) as sb:
        trading = AlpacaClient(TradingClient(sb.key_id, sb.secret_key, url_override=sb.url))
        _buy(trading)
        sb.advance_to(ends[0])
        s = Settings()
        s.bracket.trailing_stop_pct = trailing
        trader = Trader(broker=trading, market=StockHistoricalDataClient(sb.key_id, sb.secret_key, url_override=sb.url),
                        settings=s)
        stream = AlpacaStream(StockDataStream(sb.key_id, sb.secret_key, feed=DataFeed.IEX, url_override=sb.data_stream_url),
                              TradingStream(sb.key_id, sb.secret_key, url_override=sb.trading_stream_url))
        monitor = StreamMonitor(trader, stream, on_warning=acted, on_action=acted)
        monitor.start()
        deadline = time.monotonic() + 30
        while sb.venue.streams.listeners("data") < 1:
            assert time.monotonic() < deadline, "stream did not subscribe"
            time.sleep(0.02)
        end_to_end = []
        for k in range(1, rounds + 1):
            done.clear()
            t0 = time.perf_counter()
            sb.advance_to(ends[k])
            expect_action = kind == "raise" or closes[k] < 97.0
            if expect_action:
                assert done.wait(10), f"no action for round {k}"
                end_to_end.append(marks[-1] - t0)
            else:
                deadline = time.monotonic() + 10
                while monitor.ticks < k and time.monotonic() < deadline:
                    time.sleep(0.001)
        monitor.stop()
    return {"scenario": f"venue {kind}", "actions": len(end_to_end), **_stats("end_to_end", end_to_end),
            **_stats("in_monitor", inside)}


def simulated_round_trips(rounds: int) -> dict:
    closes, trailing = _paths(rounds)["raise"]
    market, starts = _market(closes)
    b = SimBroker(market, cash=1_000_000, start=starts[0] - pd.Timedelta(minutes=30))
    _buy(b)
    b.advance_to(starts[0] + pd.Timedelta(hours=1))
    s = Settings()
    s.bracket.trailing_stop_pct = trailing
    trader = Trader(broker=b, settings=s)
    monitor = StreamMonitor(trader, SimulatedStream(b))
    monitor.start()
    end_to_end = []
    for k in range(1, rounds + 1):
        t0 = time.perf_counter()
        trader.advance(starts[k] + pd.Timedelta(hours=1))
        monitor.pump()
        end_to_end.append(time.perf_counter() - t0)
    return {"scenario": "simulated raise", "actions": len(monitor.actions), **_stats("end_to_end", end_to_end),
            **_stats("in_monitor", [a.latency for a in monitor.actions])}


def _stats(name: str, xs: list[float]) -> dict:
    xs = sorted(xs)
    if not xs:
        return {f"{name}_median_ms": float("nan")}
    return {f"{name}_median_ms": 1e3 * statistics.median(xs), f"{name}_p95_ms": 1e3 * xs[int(0.95 * (len(xs) - 1))],
            f"{name}_max_ms": 1e3 * xs[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    rows = [venue_round_trips("warning", args.rounds), venue_round_trips("raise", args.rounds),
            simulated_round_trips(args.rounds)]
    table = pd.DataFrame(rows).set_index("scenario")
    print(table.to_string(float_format="{:,.2f}".format))
    worst = table["end_to_end_p95_ms"].max()
    print(f"\ntarget: price message -> stop action < 50 ms on loopback; worst p95 end to end: {worst:.1f} ms")


if __name__ == "__main__":
    main()
