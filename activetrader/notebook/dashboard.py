"""The Dashboard: settings panels, a "Run iteration" button, the iteration log and live charts.

Everything on it is a view of the trader: the panels edit ``trader.settings`` (validated),
the button calls ``trader.iteration()``, and the log, the status line and the two plotly
``FigureWidget`` charts (RSI sentiment, position weights) are redrawn in place from what
the trader reports. Nothing raised during a run escapes: it is shown in the log.

>>> from activetrader import Trader
>>> dashboard = Dashboard(Trader())
>>> report = dashboard.run()                 # what clicking "Run iteration" does
>>> "RUNNING TRADING ITERATION" in dashboard.log.value
True
>>> dashboard.sentiment_fig.data[0].y == tuple(report.sentiment.values())
True
>>> dashboard.close()

Stable hooks for browser tests (CSS classes set with ``add_class``): the top box
``activetrader-dashboard``; buttons ``activetrader-run`` ("Run iteration") and
``activetrader-advance`` ("Advance one day", simulated brokers only); ``activetrader-status``,
``activetrader-log`` (entries ``activetrader-log-entry``, failures ``activetrader-log-error``),
``activetrader-sentiment-chart``, ``activetrader-weights-chart``; panels ``activetrader-panel``
and ``activetrader-panel-{bracket,hedge,rebalance}``; error lines ``activetrader-error``.
"""

from __future__ import annotations

import html
import traceback
from copy import deepcopy
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import pandas as pd
import plotly.graph_objects as go

from .charts import sentiment_chart, weights_chart
from .panels import BracketPanel, HedgePanel, RebalancePanel, WidgetView

__all__ = ["Dashboard"]

_NY = "America/New_York"
_ERROR_COLOR = "#c62828"
#: The HTML widget's line height (one widget row) is far too tall for a console log.
_PRE = "white-space:pre-wrap;margin:4px 0;line-height:1.35;font-size:12px"
#: Settings whose change redraws the weights chart's cap lines.
_CAP_PATHS = {"rebalance", "hedge", "rebalance.max_position_pct", "hedge.max_inverse_allocation"}


def _keep_view_state(fig: go.FigureWidget) -> go.FigureWidget:
    """Store a FigureWidget's current figure as its widget state, as plotly's own
    ``FigureWidget._repr_mimebundle_`` does before a display.

    In-place updates reach open views only as deltas; a view opened later (a Voila page
    loading after the cell ran, or the figure displayed inside a box, which never calls the
    figure's own repr) renders from this state, which would otherwise still be the figure as
    it was constructed.
    """
    fig._widget_layout = deepcopy(fig._layout_obj._props)
    fig._widget_data = deepcopy(fig._data)
    return fig


def _et(ts: Any) -> str:
    return f"{pd.Timestamp(ts).tz_convert(_NY):%Y-%m-%d %H:%M} ET"


class Dashboard(WidgetView):
    """One trader on one screen: panels, run button, log, status line and charts.

    Parameters
    ----------
    trader:
        The :class:`~activetrader.Trader` to drive (``Trader()`` for the embedded default).
    log_size:
        How many log entries stay on screen (newest first); ``reports`` keeps every report.

    Attributes: ``widget`` (the top ``VBox``, what is displayed), ``reports`` (every
    :class:`~activetrader.report.IterationReport`, oldest first), ``errors`` (exceptions from
    failed runs), the panels ``bracket``, ``hedge`` and ``rebalance``, the widgets
    ``run_button``, ``advance_button`` (``None`` unless the broker can advance its clock),
    ``dry_run`` (checkbox), ``status``, ``log`` (``HTML``), and the charts ``sentiment_fig``
    and ``weights_fig`` (``go.FigureWidget``, updated in place).
    """

    def __init__(self, trader: Any, *, log_size: int = 10) -> None:
        self.trader = trader
        self.settings = trader.settings
        self.reports: list = []
        self.errors: list[BaseException] = []
        self._log_size = log_size
        self._entries: list[str] = []
        self._positions: pd.DataFrame | None = None

        self.bracket = BracketPanel(trader)
        self.hedge = HedgePanel(trader)
        self.rebalance = RebalancePanel(trader)

        self.run_button = W.Button(description="Run iteration", button_style="primary", icon="play",
                                   tooltip="Run one trading iteration: protect, rebalance, hedge, enter")
        self.run_button.add_class("activetrader-run")
        self.run_button.on_click(lambda _button: self.run())
        self.dry_run = W.Checkbox(description="dry run (decide, submit nothing)", indent=False,
                                  tooltip="Run the strategy without submitting any order")
        self.dry_run.add_class("activetrader-dry-run")
        self.advance_button: W.Button | None = None
        if self._calendar() is not None:
            self.advance_button = W.Button(description="Advance one day", icon="forward",
                                           tooltip="Move the simulated clock to the next session close "
                                                   "(orders fill, stops trigger on the way)")
            self.advance_button.add_class("activetrader-advance")
            self.advance_button.on_click(lambda _button: self.advance())
        self.status = W.HTML()
        self.status.add_class("activetrader-status")
        self.log = W.HTML("<i>No iteration yet: click “Run iteration”.</i>",
                          layout=W.Layout(max_height="420px", overflow="auto", width="100%"))
        self.log.add_class("activetrader-log")

        self.sentiment_fig = go.FigureWidget(sentiment_chart(sentiment={}))
        self.sentiment_fig.add_class("activetrader-sentiment-chart")
        self.weights_fig = go.FigureWidget(weights_chart(self._empty_positions(), **self._caps()))
        self.weights_fig.add_class("activetrader-weights-chart")

        buttons = [self.run_button] + ([self.advance_button] if self.advance_button else []) + [self.dry_run]
        header = W.HTML(f"<h3 style='margin:4px 0'>activetrader dashboard "
                        f"<small>({html.escape(str(getattr(trader, 'mode', '')))})</small></h3>")
        self._boxes = [
            W.HBox([self.bracket.widget, self.hedge.widget, self.rebalance.widget],
                   layout=W.Layout(flex_flow="row wrap")),
            W.HBox(buttons, layout=W.Layout(align_items="center")),
            W.VBox([self.sentiment_fig, self.weights_fig], layout=W.Layout(width="100%")),
        ]
        log_title = W.HTML("<b>Iteration log</b> (newest first)")
        self.widget = W.VBox([header, self.status, self._boxes[0], self._boxes[1], log_title, self.log,
                              self._boxes[2]])
        self.widget.add_class("activetrader-dashboard")
        self._own = [header, log_title, self.run_button, self.dry_run, self.status, self.log,
                     self.sentiment_fig, self.weights_fig, *self._boxes, self.widget]
        if self.advance_button is not None:
            self._own.append(self.advance_button)

        self._guard("Reading the account", self.refresh)
        self._unsubscribe: Callable[[], None] | None = self.settings.subscribe(self._on_settings)

    # -------------------------------------------------------------- actions
    def run(self) -> Any:
        """Run one iteration (what the "Run iteration" button does) and redraw everything.

        Returns the report, or ``None`` when the run failed (the error is in the log and in
        ``errors``).
        """
        self.run_button.disabled = True
        self.status.value = "<i>Running iteration…</i>"
        try:
            report = self.trader.iteration(dry_run=bool(self.dry_run.value))
        except Exception as exc:  # shown, never raised: a button callback has nowhere to raise to
            self._fail("Iteration failed", exc)
            self._guard("Reading the account", self.refresh)
            return None
        finally:
            self.run_button.disabled = False
        self.reports.append(report)
        self._add_entry(self._report_entry(report))
        self._guard("Updating the sentiment chart",
                    lambda: _keep_view_state(sentiment_chart(report, fig=self.sentiment_fig)))
        self._guard("Reading the account", self.refresh)
        return report

    def advance(self) -> None:
        """Move a simulated broker's clock to the next session close (the "Advance one day"
        button): resting orders fill and stops trigger on the way. Errors go to the log."""
        calendar = self._calendar()
        if calendar is None:
            self._fail("Advance failed",
                       TypeError("this broker runs in real time; only a simulated broker can advance"))
            return
        try:
            target = calendar.next_close(self.trader.now)
            self.trader.advance(target)
        except Exception as exc:
            self._fail("Advance failed", exc)
            return
        self._add_entry(f"<div class='activetrader-log-entry'>Advanced the simulated clock to "
                        f"{html.escape(_et(target))}.</div>")
        self._guard("Reading the account", self.refresh)

    def refresh(self) -> None:
        """Redraw the status line and the weights chart from the broker."""
        account = self.trader.broker.get_account()
        self._positions = self.trader.positions()
        self._draw_weights()
        calendar = self._calendar() or getattr(self.trader.market, "calendar", None)
        now = self.trader.now
        market = ""
        if calendar is not None and hasattr(calendar, "is_open"):
            market = " (market open)" if calendar.is_open(now) else " (market closed)"
        self.status.value = (
            f"<b>{html.escape(_et(now))}</b>{market} &middot; cash ${float(account.cash):,.2f} &middot; "
            f"equity ${float(account.equity):,.2f} &middot; positions {len(self._positions)} &middot; "
            f"iterations {len(self.reports)}")

    # -------------------------------------------------------------- drawing
    def _caps(self) -> dict[str, float]:
        return dict(max_position_pct=self.settings.rebalance.max_position_pct,
                    max_inverse_allocation=self.settings.hedge.max_inverse_allocation)

    @staticmethod
    def _empty_positions() -> pd.DataFrame:
        return pd.DataFrame({"weight": pd.Series(dtype=float), "inverse": pd.Series(dtype=bool)},
                            index=pd.Index([], name="symbol"))

    def _draw_weights(self) -> None:
        frame = self._positions if self._positions is not None else self._empty_positions()
        _keep_view_state(weights_chart(frame, fig=self.weights_fig, **self._caps()))

    def _on_settings(self, path: str, old: Any, new: Any) -> None:
        if path in _CAP_PATHS:  # the caps the next iteration will enforce
            self._guard("Updating the weights chart", self._draw_weights)

    def _calendar(self) -> Any:
        """The market calendar, when the broker is simulated (can ``advance_to``)."""
        if not hasattr(self.trader.broker, "advance_to"):
            return None
        for source in (self.trader.market, getattr(self.trader.broker, "market", None)):
            calendar = getattr(source, "calendar", None)
            if calendar is not None and hasattr(calendar, "next_close"):
                return calendar
        return None

    # -------------------------------------------------------------- the log
    @staticmethod
    def _report_entry(report: Any) -> str:
        summary = (f"Iteration {_et(report.timestamp)} ({report.mode}{', dry run' if report.dry_run else ''}): "
                   f"{len(report.submitted)} submitted, {len(report.rejections)} rejected, "
                   f"{len(report.warnings)} warning(s)")
        return (f"<details class='activetrader-log-entry'><summary><b>{html.escape(summary)}</b></summary>"
                f"<pre style='{_PRE}'>{html.escape(report.narrative)}</pre></details>")

    def _fail(self, what: str, exc: BaseException) -> None:
        self.errors.append(exc)
        tb = "".join(traceback.format_exception(exc))
        self._add_entry(
            f"<details class='activetrader-log-entry activetrader-log-error'><summary style='color:{_ERROR_COLOR}'>"
            f"<b>{html.escape(what)}: {html.escape(type(exc).__name__)}: {html.escape(str(exc))}</b></summary>"
            f"<pre style='{_PRE}'>{html.escape(tb)}</pre></details>")

    def _guard(self, what: str, action: Callable[[], Any]) -> None:
        try:
            action()
        except Exception as exc:
            self._fail(what + " failed", exc)

    def _add_entry(self, entry: str) -> None:
        self._entries.insert(0, entry)
        del self._entries[self._log_size:]
        shown, opened = [], False
        for e in self._entries:  # only the newest iteration (or failure) is expanded
            if not opened and e.startswith("<details "):
                e, opened = e.replace("<details ", "<details open ", 1), True
            shown.append(e)
        self.log.value = "".join(shown)

    # -------------------------------------------------------------- lifetime
    def _parts(self):
        return (self.bracket, self.hedge, self.rebalance)

    def __repr__(self) -> str:
        return f"Dashboard({self.trader!r}, reports={len(self.reports)})"
