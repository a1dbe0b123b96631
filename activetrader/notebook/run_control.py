"""A start/stop control for the live loop, with its status: a view of ``trader.run()``.

``RunControl(trader)`` is a widget (a ``VBox``): a Start and a Stop button, the every/speed
boxes and a status line (state, iterations, last and next run). Start calls
``trader.run(every, speed=...)`` in the background; Stop calls ``trader.stop()``. The status is
redrawn after each iteration and on every click (``refresh()`` redraws it on demand).

>>> import math
>>> from activetrader import Trader
>>> control = RunControl(Trader(), speed=math.inf, iterations=2)
>>> control.start_button.click()
>>> control.handle.join(60)
True
>>> control.refresh(); control.status.value.split(" · ")[:2]
['<b>stopped</b>', '2 iteration(s)']
>>> control.close()
"""

from __future__ import annotations

import html
import math
from typing import Any

import ipywidgets as W

from .view import WidgetView

__all__ = ["RunControl"]


class RunControl(WidgetView):
    """Start/stop buttons and the status of a trader's live loop (see the module docstring).

    ``every`` and ``speed`` fill the boxes (defaults: ``settings.schedule.every`` and 3600
    simulated seconds per real second); ``iterations`` (tests, demos) stops after that many.
    """

    def __init__(self, trader: Any, *, every: str | None = None, speed: float | None = None,
                 iterations: int | None = None) -> None:
        super().__init__()
        self.trader = trader
        self.iterations = iterations
        self.handle = getattr(trader, "_live_run", None)
        self.every_box = W.Text(value=every or trader.settings.schedule.every, description="every",
                                layout=W.Layout(width="11em"))
        self.speed_box = W.FloatText(value=3600.0 if speed is None else speed, description="speed",
                                     layout=W.Layout(width="11em"),
                                     disabled=not hasattr(trader.broker, "advance_to"))
        self.start_button = W.Button(description="Start", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="warning", icon="stop")
        self.status = W.HTML()
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        row = W.HBox([self.start_button, self.stop_button, self.every_box, self.speed_box])
        self._own = [self.every_box, self.speed_box, self.start_button, self.stop_button, self.status, row]
        self.children = [row, self.status]
        self.refresh()

    def start(self) -> None:
        """Start the loop with the boxes' values (an invalid value is shown, nothing starts)."""
        speed = self.speed_box.value if not self.speed_box.disabled else None
        try:
            self.handle = self.trader.run(self.every_box.value, speed=speed if speed else None,
                                          iterations=self.iterations, on_report=lambda r: self.refresh())
        except (ValueError, RuntimeError) as exc:
            self.status.value = f"<span style='color:#b00'>{html.escape(str(exc).splitlines()[-1])}</span>"
            return
        self.refresh()

    def stop(self) -> None:
        """Stop the loop after its current iteration."""
        if self.handle is not None:
            self.handle.stop()
        self.refresh()

    def refresh(self) -> None:
        """Redraw the status line from the run's handle."""
        h = self.handle
        running = h is not None and h.running
        self.start_button.disabled, self.stop_button.disabled = running, not running
        if h is None:
            self.status.value = "<b>not running</b>"
            return
        parts = [f"<b>{html.escape(h.status)}</b>", f"{h.iterations} iteration(s)"]
        if h.last_report is not None:
            r = h.last_report
            parts.append(f"last {r.timestamp.tz_convert('America/New_York'):%Y-%m-%d %H:%M} ET: "
                         f"{len(r.submitted)} submitted, {len(r.rejections)} rejected")
        if h.next_run is not None:
            parts.append(f"next {h.next_run.tz_convert('America/New_York'):%Y-%m-%d %H:%M} ET")
        if h.errors:
            parts.append(f"<span style='color:#b00'>{len(h.errors)} error(s)</span>")
        speed = "" if not getattr(h, "simulated", False) else (
            " (max speed)" if math.isinf(h.speed) else f" ({h.speed:g}x)")
        self.status.value = " · ".join(parts) + speed
