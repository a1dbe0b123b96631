"""Debouncing: a burst of calls becomes one call, ``delay`` seconds after the last of them.

A panel that re-runs something on every settings change wraps the run in a
:class:`Debouncer`, so typing ``0.035`` into a box (three value changes) or moving a slider
runs it once. In a Jupyter kernel the call is scheduled on the kernel's asyncio loop, so it
runs on the kernel's own thread between messages, like any widget callback; with no running
loop (a plain script) a daemon ``threading.Timer`` runs it. Tests pass ``schedule=`` and call
:meth:`Debouncer.flush` instead of waiting.

>>> calls = []
>>> later = []                                   # a scheduler that never fires by itself
>>> def schedule(delay, fn):
...     later.append(fn)
...     return Handle()
>>> class Handle:
...     def cancel(self): pass
>>> run = Debouncer(lambda: calls.append("ran"), 0.5, schedule=schedule)
>>> run(); run(); run()                          # a burst
>>> run.pending, calls
(True, [])
>>> run.flush()                                  # what the timer does 0.5 s after the last call
True
>>> run.pending, calls
(False, ['ran'])
>>> run.flush()                                  # nothing pending any more
False
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Cancellable", "Debouncer", "call_later"]


class Cancellable(Protocol):
    """What a scheduler returns: something that can be cancelled (asyncio handles, timers)."""

    def cancel(self) -> Any: ...


def call_later(delay: float, fn: Callable[[], Any]) -> Cancellable:
    """Run ``fn`` after ``delay`` seconds: on the running asyncio loop (a Jupyter kernel's),
    else on a daemon timer thread. Returns a handle with ``cancel()``."""
    try:
        return asyncio.get_running_loop().call_later(delay, fn)
    except RuntimeError:  # no running loop: not inside a kernel
        timer = threading.Timer(delay, fn)
        timer.daemon = True
        timer.start()
        return timer


class Debouncer:
    """Calls ``fn()`` once, ``delay`` seconds after the last call of a burst.

    ``schedule(delay, callback) -> handle with cancel()`` is :func:`call_later` unless given.
    ``pending`` says whether a call is waiting; ``flush()`` makes a waiting call now (and
    returns whether there was one); ``cancel()`` drops it.
    """

    def __init__(self, fn: Callable[[], Any], delay: float = 0.5, *,
                 schedule: Callable[[float, Callable[[], Any]], Cancellable] | None = None) -> None:
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, not {delay!r}")
        self.fn, self.delay = fn, delay
        self._schedule = schedule or call_later
        self._handle: Cancellable | None = None
        self._generation = 0  # a timer that fires after being replaced does nothing

    @property
    def pending(self) -> bool:
        return self._handle is not None

    def __call__(self) -> None:
        self.cancel()
        self._generation += 1
        generation = self._generation
        self._handle = self._schedule(self.delay, lambda: self._fire(generation))

    def _fire(self, generation: int) -> None:
        if generation != self._generation or self._handle is None:
            return
        self._handle = None
        self.fn()

    def flush(self) -> bool:
        """Make the waiting call now; False when none was waiting."""
        if self._handle is None:
            return False
        self._handle.cancel()
        self._fire(self._generation)
        return True

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def __repr__(self) -> str:
        return f"Debouncer({getattr(self.fn, '__name__', self.fn)!r}, delay={self.delay}, pending={self.pending})"
