"""The live loop: an iteration every ``every``, in market hours, until asked to stop.

:class:`LiveRun` is both the loop and the handle a caller keeps: ``status``, ``last_report``,
``next_run``, ``iterations`` and ``stop()``. It runs in a background thread (a notebook stays
usable: the thread waits on an :class:`threading.Event` with a timeout, never spins) or
blocking in the caller's thread (the ``activetrader live`` command).

**Time.** With a simulated broker (one that has ``advance_to``, like the embedded default) the
loop runs on simulated time, accelerated: ``speed`` simulated seconds pass per real second
(``math.inf``: as fast as possible), and the loop itself advances the broker's clock, in small
steps, so fills and triggers happen on the way and a stream sees each price. With a real
broker the loop waits in real time, re-reading the broker's clock (``GET /v2/clock``) at most
every ``poll`` seconds, so a venue whose clock runs fast is followed too.

**Market hours** come from the broker's clock (``get_clock``: ``is_open``, ``next_open``):
when the market is closed and ``schedule.market_hours_only`` is set, the loop says so and
sleeps until the next session's open.

**Stopping.** ``stop()`` lets the current iteration finish, then the loop ends. An iteration
that raises is journaled as abandoned (by the Trader), logged, and the loop goes on.

>>> import math
>>> from activetrader import Trader
>>> run = LiveRun(Trader(), every="1h", speed=math.inf, iterations=2)
>>> run.run()                       # blocking here; Trader.run() starts it in the background
LiveRun(stopped, 2 iteration(s), last 2024-08-27 10:30 ET)
>>> [line.split(": ")[0] for line in run.log][:2]
['2024-08-27 09:00 ET market closed', '2024-08-27 09:30 ET iteration it-20240827T133000Z']
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pandas as pd

from .recovery import Recovery, recover

log = logging.getLogger("activetrader.live")

ET = "America/New_York"
#: Real seconds between two clock steps of an accelerated simulated run.
TICK = 0.05


def _et(ts: pd.Timestamp) -> str:
    return f"{pd.Timestamp(ts).tz_convert(ET):%Y-%m-%d %H:%M} ET"


def parse_every(every: Any) -> timedelta:
    """``"1h"``/``"15min"``/a timedelta -> timedelta (the settings' duration rules).

    >>> parse_every("90min")
    datetime.timedelta(seconds=5400)
    """
    from ..settings import ScheduleSettings

    return ScheduleSettings(every=every).interval


class LiveRun:
    """The live loop and its handle (see the module docstring).

    Parameters
    ----------
    trader:
        The :class:`~activetrader.Trader` to run.
    every:
        Time between iterations (``"1h"``, ``"15min"``, a timedelta); default
        ``trader.settings.schedule.every``.
    speed:
        Simulated brokers only: simulated seconds per real second (default 3600: an hourly
        schedule about once a second); ``math.inf`` runs as fast as the machine allows.
    iterations:
        Stop after this many iterations (default: run until stopped).
    market_hours_only:
        Default ``trader.settings.schedule.market_hours_only``.
    poll:
        Real brokers: the longest real wait before the broker's clock is read again.
    monitor:
        Optional stream monitor (``activetrader.live.monitor``): started with the loop, fed
        every clock step, stopped with it.
    """

    def __init__(self, trader, *, every: Any = None, speed: float | None = None, iterations: int | None = None,
                 market_hours_only: bool | None = None, poll: float = 30.0, monitor=None,
                 on_report: Callable | None = None) -> None:
        sched = trader.settings.schedule
        self.trader = trader
        self.every = parse_every(every if every is not None else sched.every)
        self.simulated = hasattr(trader.broker, "advance_to")
        if speed is not None and not (speed > 0):
            raise ValueError(f"speed={speed!r} is not allowed: must be > 0 simulated seconds per real second "
                             "(math.inf: as fast as possible)")
        self.speed = float(speed) if speed is not None else 3600.0
        if iterations is not None and (not isinstance(iterations, int) or iterations < 1):
            raise ValueError(f"iterations={iterations!r} is not allowed: must be a whole number >= 1")
        self.max_iterations = iterations
        self.market_hours_only = sched.market_hours_only if market_hours_only is None else bool(market_hours_only)
        self.poll = float(poll)
        self.monitor = monitor
        self.on_report = on_report
        self.status = "not started"
        self.last_report = None
        self.next_run: pd.Timestamp | None = None
        self.iterations = 0
        self.errors: list[str] = []
        self.recovery: Recovery | None = None
        self.log: collections.deque[str] = collections.deque(maxlen=200)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    # ------------------------------------------------------------------ control
    def start(self) -> LiveRun:
        """Run in a background (daemon) thread; returns at once."""
        if self._thread is not None:
            raise RuntimeError("this run was already started; create a new one")
        self._thread = threading.Thread(target=self._main, name="activetrader-live", daemon=True)
        self._thread.start()
        return self

    def run(self) -> LiveRun:
        """Run in the caller's thread until stopped (or ``iterations`` are done)."""
        if self._thread is not None:
            raise RuntimeError("this run was already started; create a new one")
        self._thread = threading.current_thread()
        self._main()
        return self

    def stop(self, timeout: float | None = 30.0) -> LiveRun:
        """Ask the loop to stop after the current iteration and wait up to ``timeout`` s for it."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._done.wait(timeout)
        return self

    def request_stop(self) -> None:
        """Ask the loop to stop, without waiting (safe in a signal handler)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the loop has ended; True if it has."""
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    # ------------------------------------------------------------------ the loop
    def _say(self, text: str, level: int = logging.INFO, *, at: pd.Timestamp | None = None) -> None:
        """Log ``text`` stamped with ``at`` (default: the broker's clock, read now)."""
        line = f"{_et(self.trader.now if at is None else at)} {text}"
        self.log.append(line)
        log.log(level, line)

    def _main(self) -> None:
        try:
            self.status = "recovering"
            self.recovery = recover(self.trader)
            if self.recovery.resolved or self.recovery.not_received or self.recovery.abandoned:
                self._say(f"recovered after restart: {self.recovery!r}")
            if self.monitor is not None:
                self.monitor.start()
            while not self._stop.is_set():
                if self.market_hours_only:  # one clock read gives the time and the session
                    clock = self.trader.broker.get_clock()
                    now = pd.Timestamp(clock.timestamp).tz_convert("UTC")
                    if not clock.is_open:
                        nxt = pd.Timestamp(clock.next_open).tz_convert("UTC")
                        self.next_run = nxt
                        self.status = f"market closed: sleeping until {_et(nxt)}"
                        self._say(f"market closed: sleeping until the next session at {_et(nxt)}", at=now)
                        if not self._sleep_until(nxt):
                            break
                        continue
                else:
                    now = self.trader.now
                self._iterate()
                if self.max_iterations is not None and self.iterations >= self.max_iterations:
                    break
                nxt = now + self.every
                self.next_run = nxt
                self.status = f"waiting: next iteration at {_et(nxt)}"
                if not self._sleep_until(nxt):
                    break
        except Exception as exc:  # the loop itself failed (not an iteration): report and end
            self.errors.append(f"{type(exc).__name__}: {exc}")
            self._say(f"stopped by an error: {type(exc).__name__}: {exc}", logging.ERROR)
        finally:
            if self.monitor is not None:
                try:
                    self.monitor.stop()
                except Exception:  # noqa: BLE001 - stopping must not hide the loop's end
                    log.exception("stopping the stream monitor failed")
            self.next_run = None
            self.status = "stopped"
            self._say(f"stopped after {self.iterations} iteration(s)")
            self._done.set()

    def _iterate(self) -> None:
        self.status = "running an iteration"
        try:
            with self.monitor.lock if self.monitor is not None else contextlib.nullcontext():
                report = self.trader.iteration()
        except Exception as exc:  # journaled as abandoned by the Trader; the loop goes on
            self.iterations += 1
            self.errors.append(f"{type(exc).__name__}: {exc}")
            self._say(f"iteration failed: {type(exc).__name__}: {exc}", logging.WARNING)
            return
        self.iterations += 1
        self.last_report = report
        self._say(f"iteration {report.iteration_id}: {len(report.submitted)} submitted, "
                  f"{len(report.rejections)} rejected, {len(report.warnings)} warning(s)")
        if self.monitor is not None:
            self.monitor.refresh()
        if self.on_report is not None:
            self.on_report(report)

    def _sleep_until(self, target: pd.Timestamp) -> bool:
        """Wait until the broker's clock reaches ``target``; False if a stop was requested."""
        if self.simulated:
            return self._sleep_simulated(target)
        while True:
            remaining = (target - self.trader.now).total_seconds()
            if remaining <= 0:
                return True
            if self._stop.wait(min(remaining, self.poll)):
                return False

    def _sleep_simulated(self, target: pd.Timestamp) -> bool:
        start_sim, start_real = self.trader.now, time.monotonic()
        while self.trader.now < target:
            if math.isinf(self.speed):
                step_to = target
                if self._stop.is_set():
                    return False
            else:
                left = (target - self.trader.now).total_seconds() / self.speed
                if self._stop.wait(min(TICK, max(left, 0.0))):
                    return False
                elapsed = (time.monotonic() - start_real) * self.speed
                step_to = min(target, start_sim + pd.Timedelta(seconds=elapsed))
            if step_to > self.trader.now:
                self.trader.advance(step_to)
                if self.monitor is not None:
                    self.monitor.pump()
        return not self._stop.is_set()

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        last = f", last {_et(self.last_report.timestamp)}" if self.last_report is not None else ""
        nxt = f", next {_et(self.next_run)}" if self.next_run is not None else ""
        return f"LiveRun({self.status}, {self.iterations} iteration(s){last}{nxt})"

    def _repr_html_(self) -> str:
        import html

        rows = [("status", self.status), ("iterations", str(self.iterations)),
                ("last iteration", _et(self.last_report.timestamp) if self.last_report is not None else "-"),
                ("next run", _et(self.next_run) if self.next_run is not None else "-"),
                ("errors", str(len(self.errors)))]
        body = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
        return f"<table><caption>activetrader live run</caption>{body}</table>"


__all__ = ["LiveRun", "parse_every"]
