"""Progress of a backtest: a tqdm bar (``tqdm.auto``: a widget in notebooks, text in a terminal),
nothing, or your own callback.

``progress=None`` shows a bar only in an interactive session (IPython/Jupyter, or a terminal)
and only once the run has lasted :data:`DELAY_S` seconds, so short runs print nothing.
``True``/``False`` force it on/off. A callable is called as ``progress(done, total)``: first
with ``(0, total)``, then at most about :data:`CALLBACK_STEPS` more times, always ending with
``(total, total)`` (few enough calls for an ipywidgets bar to keep up).

>>> seen = []
>>> p = reporter(lambda done, total: seen.append((done, total)), 3)
>>> for i in range(3):
...     p.update(i + 1)
>>> p.close()
>>> seen
[(0, 3), (1, 3), (2, 3), (3, 3)]
>>> reporter(False, 10)
Progress(off)
"""

from __future__ import annotations

import sys
from collections.abc import Callable

#: A bar with ``progress=None`` appears only after this many seconds.
DELAY_S = 2.0
#: A callback hears about this many steps at most (plus the first and the last).
CALLBACK_STEPS = 100


def interactive() -> bool:
    """True inside IPython/Jupyter or when stderr is a terminal."""
    try:
        from IPython import get_ipython

        if get_ipython() is not None:
            return True
    except ImportError:  # pragma: no cover - IPython is a dependency
        pass
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class Progress:
    """What the run loop calls: ``update(done)`` after each iteration, ``close()`` at the end."""

    def __init__(self, total: int, *, bar=None, callback: Callable[[int, int], object] | None = None) -> None:
        self.total, self._bar, self._callback = total, bar, callback
        self._every = max(1, total // CALLBACK_STEPS)
        self._next = self._every
        if callback is not None:
            callback(0, total)

    def update(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(1)
        if self._callback is not None and (done >= self._next or done == self.total):
            self._next = done + self._every
            self._callback(done, self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __repr__(self) -> str:
        kind = "bar" if self._bar is not None else "callback" if self._callback is not None else "off"
        return f"Progress({kind})"


def reporter(progress, total: int, *, desc: str = "backtest") -> Progress:
    """The :class:`Progress` for a ``progress=`` argument (None, True, False or a callable)."""
    if progress is None or isinstance(progress, bool):
        show = interactive() if progress is None else progress
        if not show:
            return Progress(total)
        from tqdm.auto import tqdm

        delay = DELAY_S if progress is None else 0.0
        return Progress(total, bar=tqdm(total=total, desc=desc, unit="it", delay=delay, leave=progress is True))
    if callable(progress):
        return Progress(total, callback=progress)
    raise TypeError(f"progress={progress!r}: use None (automatic), True, False or a callable progress(done, total)")
