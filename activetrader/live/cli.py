"""``activetrader live``: the loop in the foreground, stopped cleanly by Ctrl-C or SIGTERM.

The first SIGINT/SIGTERM lets the current iteration finish, then the command exits 0. A
second one abandons the iteration at once (the journal marks it abandoned; an order whose
acknowledgement was not recorded is completed by the recovery at the next start), and the
command still exits 0: nothing is left half-recorded that a restart cannot reconcile.

Test hook: ``ACTIVETRADER_TEST_KILL_AFTER_SUBMIT=N`` makes the process kill itself (SIGKILL)
right after the broker accepted its N-th order and before the journal recorded it.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
from typing import Any, TextIO

from ..journal import Journal
from ..settings import Settings
from .loop import LiveRun, parse_every

KILL_HOOK = "ACTIVETRADER_TEST_KILL_AFTER_SUBMIT"


def add_parser(sub: Any, common: Any) -> None:
    """The ``live`` subcommand on the main parser's subparsers."""
    live = sub.add_parser("live", parents=[common], help="run the strategy every hour (blocking)",
                          description="Run an iteration every --every in market hours until Ctrl-C or "
                          "SIGTERM. On the embedded default time is simulated and accelerated (--speed).")
    live.add_argument("--every", metavar="DURATION", default=None,
                      help="time between iterations, like 1h or 15min (default: the settings' schedule)")
    live.add_argument("--broker", choices=("sim", "alpaca"), default="sim",
                      help="sim: the embedded default (default); alpaca: paper keys from the environment")
    live.add_argument("--journal", metavar="FILE", help="append every iteration to this SQLite journal")
    live.add_argument("--speed", metavar="N", type=float, default=None,
                      help="sim only: N simulated seconds per real second (default 3600; inf: no waiting)")
    live.add_argument("--iterations", metavar="N", type=int, default=None,
                      help="stop after N iterations (default: run until stopped)")
    live.add_argument("--poll", metavar="SECONDS", type=float, default=30.0,
                      help="alpaca only: longest wait before the broker's clock is read again (default 30)")
    live.add_argument("--stream", action="store_true",
                      help="also watch prices as they arrive (near-stop warnings, trailing stops, order updates)")
    live.add_argument("--clean", action="store_true", help="embedded default only: start from a flat $100,000 account")
    live.set_defaults(run=command)


class UsageProblem(ValueError):
    """Bad arguments for ``live``: one line on stderr, exit status 2 (like the other commands)."""


def command(args: Any, out: TextIO) -> int:
    try:
        return _command(args, out)
    except UsageProblem as exc:
        print(f"activetrader: error: {exc}", file=sys.stderr)
        return 2


def _command(args: Any, out: TextIO) -> int:
    if args.every is not None:
        try:
            parse_every(args.every)
        except Exception as exc:  # noqa: BLE001 - the settings' message, one line
            raise UsageProblem(f"--every {args.every!r}: {str(exc).splitlines()[-1]}") from None
    if args.speed is not None and not (args.speed > 0):
        raise UsageProblem(f"--speed must be > 0 simulated seconds per real second, not {args.speed:g}")
    if args.iterations is not None and args.iterations < 1:
        raise UsageProblem(f"--iterations must be >= 1, not {args.iterations}")
    if args.broker == "alpaca" and (args.speed is not None or args.clean):
        raise UsageProblem("--speed and --clean apply to --broker sim only (Alpaca runs in real time)")
    settings = Settings.load(args.settings) if args.settings else Settings()
    journal = Journal(args.journal) if args.journal else None

    from ..trader import Trader, _Executor

    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("activetrader.live")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    previous = {}
    run = None
    try:
        trader = Trader(broker="alpaca" if args.broker == "alpaca" else None, settings=settings,
                        clean=args.clean, journal=journal)
        _install_kill_hook(_Executor)
        monitor = None
        if args.stream:
            from .monitor import StreamMonitor

            monitor = StreamMonitor.for_trader(trader)
        run = LiveRun(trader, every=args.every, speed=args.speed, iterations=args.iterations,
                      poll=args.poll, monitor=monitor)
        signals = {"count": 0}

        def on_signal(signum, frame) -> None:
            signals["count"] += 1
            if signals["count"] == 1:
                print(f"activetrader live: {signal.Signals(signum).name}: stopping after the current "
                      "iteration (again to abandon it)", file=out, flush=True)
                run.request_stop()
            else:
                raise KeyboardInterrupt

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
        print(f"activetrader live: {trader!r}, every {run.every}, "
              + (("speed max" if math.isinf(run.speed) else f"speed {run.speed:g}x") if run.simulated else "real time")
              + (f", journal {args.journal}" if args.journal else ""), file=out, flush=True)
        try:
            run.run()
        except KeyboardInterrupt:
            print("activetrader live: current iteration abandoned", file=out, flush=True)
        print(f"activetrader live: stopped after {run.iterations} iteration(s)", file=out, flush=True)
        return 0
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        logger.removeHandler(handler)
        _Executor.after_submit = None
        if journal is not None:
            journal.close()


def _install_kill_hook(executor: Any) -> None:
    n = os.environ.get(KILL_HOOK)
    if not n:
        return
    left = {"n": int(n)}

    def kill_after(cid: str) -> None:
        left["n"] -= 1
        if left["n"] <= 0:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    executor.after_submit = kill_after


__all__ = ["add_parser", "command"]
