"""The Dashboard: settings panels, a "Run iteration" button, the iteration log and live charts.

Everything on it is a view of the trader: the panels edit ``trader.settings`` (validated),
the button calls ``trader.iteration()``, and the log, the status line and the two plotly
``FigureWidget`` charts (RSI sentiment, position weights) are redrawn in place from what
the trader reports. Nothing raised during a run escapes: it is shown in the log. The
sentiment chart shows the RSI of the moment as soon as the dashboard opens: a dry decision
on the trader's snapshot (``Strategy.decide``, pure; nothing is submitted or journaled).

>>> from activetrader import Trader
>>> dashboard = Dashboard(Trader())
>>> len(dashboard.sentiment_fig.data[0].y)    # the five sentiment symbols, before any run
5
>>> report = dashboard.run()                 # what clicking "Run iteration" does
>>> "RUNNING TRADING ITERATION" in dashboard.iteration_log.value
True
>>> dashboard.sentiment_fig.data[0].y == tuple(report.sentiment.values())
True
>>> dashboard.close()

Stable hooks for browser tests (CSS classes set with ``add_class``): the top box
``activetrader-dashboard``, the live tab ``activetrader-live``; buttons ``activetrader-run`` ("Run iteration") and
``activetrader-advance`` ("Advance one day", simulated brokers only); ``activetrader-status``,
``activetrader-log`` (entries ``activetrader-log-entry``, failures ``activetrader-log-error``),
``activetrader-sentiment-chart``, ``activetrader-weights-chart``; panels ``activetrader-panel``
and ``activetrader-panel-{bracket,hedge,rebalance}``; error lines ``activetrader-error``; the
backtest tab's hooks are listed in :class:`~activetrader.notebook.BacktestPanel`.
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import pandas as pd
import plotly.graph_objects as go

from .backtest_panel import BacktestPanel
from .charts import sentiment_chart, weights_chart
from .panels import BracketPanel, HedgePanel, RebalancePanel
from .run_control import RunControl
from .view import WidgetView, keep_view_state

__all__ = ["Dashboard"]

_NY = "America/New_York"
_ERROR_COLOR = "#c62828"
#: The HTML widget's line height (one widget row) is far too tall for a console log.
_PRE = "white-space:pre-wrap;margin:4px 0;line-height:1.35;font-size:12px"
#: Settings whose change redraws the weights chart's cap lines.
_CAP_PATHS = {"rebalance", "hedge", "rebalance.max_position_pct", "hedge.max_inverse_allocation"}
#: Settings the sentiment check reads (a change redraws the sentiment chart for this moment).
_SENTIMENT_PATHS = {"hedge", "entry", "hedge.sentiment_symbols", "hedge.rsi_period", "hedge.overbought",
                    "hedge.bearish_ratio", "entry.lookback_bars", "entry.oversold"}


def _et(ts: Any) -> str:
    return f"{pd.Timestamp(ts).tz_convert(_NY):%Y-%m-%d %H:%M} ET"


class Dashboard(WidgetView):
    """One trader on one screen: panels, run button, log, status line and charts.

    The dashboard is a widget (a ``VBox``: a title and a ``Tab``), so it can be displayed or
    laid out like any other. Its "Live" tab is the trader of the moment; its "Backtest" tab,
    ``backtest``, is a :class:`~activetrader.notebook.BacktestPanel` on the same trader (and
    the same settings: an edit in either tab is the trader's setting), built when first
    shown. Every view on it is also an attribute, for code and tests.

    Parameters
    ----------
    trader:
        The :class:`~activetrader.Trader` to drive (``Trader()`` for the embedded default).
    log_size:
        How many log entries stay on screen (newest first); ``reports`` keeps every report.

    Attributes: ``reports`` (every :class:`~activetrader.report.IterationReport`, oldest
    first), ``errors`` (exceptions from failed runs), ``tabs`` (the ``Tab``), ``live`` (the
    live tab's ``VBox``), the panels ``bracket``, ``hedge`` and ``rebalance``, the widgets
    ``run_button``, ``advance_button`` (``None`` unless the broker can advance its clock),
    ``dry_run`` (checkbox), ``run_control`` (a
    :class:`~activetrader.notebook.run_control.RunControl`: start and stop the live loop,
    ``trader.run()``, with its status), ``status``, ``iteration_log`` (``HTML``; a widget's
    ``log`` is its logger), and the charts ``sentiment_fig`` and ``weights_fig``
    (``go.FigureWidget``, updated in place).
    """

    def __init__(self, trader: Any, *, log_size: int = 10) -> None:
        super().__init__()
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
        self._views = (self.bracket, self.hedge, self.rebalance)  # closed with the dashboard

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
        self.iteration_log = W.HTML("<i>No iteration yet: click “Run iteration”.</i>",
                                    layout=W.Layout(max_height="420px", overflow="auto", width="100%"))
        self.iteration_log.add_class("activetrader-log")

        self.sentiment_fig = go.FigureWidget(sentiment_chart(sentiment={}))
        self.sentiment_fig.add_class("activetrader-sentiment-chart")
        self.weights_fig = go.FigureWidget(weights_chart(self._empty_positions(), **self._caps()))
        self.weights_fig.add_class("activetrader-weights-chart")

        buttons = [self.run_button] + ([self.advance_button] if self.advance_button else []) + [self.dry_run]
        header = W.HTML(f"<h3 style='margin:4px 0'>activetrader dashboard "
                        f"<small>({html.escape(str(getattr(trader, 'mode', '')))})</small></h3>")
        self.panels_box = W.HBox([self.bracket, self.hedge, self.rebalance],
                                 layout=W.Layout(flex_flow="row wrap"))
        self.buttons_box = W.HBox(buttons, layout=W.Layout(align_items="center"))
        self.run_control = RunControl(trader)
        loop_title = W.HTML("<b>Live loop</b> (runs in the background; the kernel stays usable)")
        charts = W.VBox([self.sentiment_fig, self.weights_fig], layout=W.Layout(width="100%"))
        log_title = W.HTML("<b>Iteration log</b> (newest first)")
        self.live = W.VBox([self.status, self.panels_box, self.buttons_box, loop_title, self.run_control,
                            log_title, self.iteration_log, charts])
        self._views = (*self._views, self.run_control)
        self.live.add_class("activetrader-live")
        self._backtest: BacktestPanel | None = None
        self._backtest_box = W.VBox()
        self.tabs = W.Tab(children=[self.live, self._backtest_box], titles=["Live", "Backtest"])
        self.tabs.observe(self._on_tab, names="selected_index")
        self.children = [header, self.tabs]
        self.add_class("activetrader-dashboard")
        self._own = [header, loop_title, log_title, self.run_button, self.dry_run, self.status, self.iteration_log,
                     self.sentiment_fig, self.weights_fig, self.panels_box, self.buttons_box, charts,
                     self.live, self._backtest_box, self.tabs]
        if self.advance_button is not None:
            self._own.append(self.advance_button)

        self._guard("Reading the account", self.refresh)
        self._guard("Reading the sentiment", self.preview_sentiment)
        self._unsubscribe = self.settings.subscribe(self._on_settings)

    @property
    def backtest(self) -> BacktestPanel:
        """The "Backtest" tab: a :class:`~activetrader.notebook.BacktestPanel` on this trader.

        Built the first time the tab is selected (or this is read), not with the dashboard: the
        page then opens with two chart widgets instead of three, and the equity chart's plotly
        bundle loads in a page that is idle (anywidget gives a widget 2 s to load its code).
        """
        if self._backtest is None:
            self._backtest = BacktestPanel(self.trader)
            self._views = (*self._views, self._backtest)
            self._backtest_box.children = [self._backtest]
        return self._backtest

    def _on_tab(self, change: dict) -> None:
        if change["new"] == 1:
            self._guard("Opening the backtest", lambda: self.backtest)

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
                    lambda: keep_view_state(sentiment_chart(report, fig=self.sentiment_fig)))
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
        self._guard("Reading the sentiment", self.preview_sentiment)

    def preview_sentiment(self) -> Any:
        """Redraw the sentiment chart for the trader's current moment, without an iteration:
        the strategy decides (purely) on ``trader.snapshot()`` and the chart shows its RSI and
        bearish ratio. Nothing is submitted or journaled. Returns the :class:`Plan` decided.

        The dashboard does this when it opens, after "Advance one day" and when a setting the
        sentiment check reads changes, so the chart never waits for the first iteration.
        """
        snapshot = self.trader.snapshot()
        plan = self.trader.strategy.decide(snapshot, self.settings)
        h = self.settings.hedge
        keep_view_state(sentiment_chart(
            sentiment=plan.sentiment, bearish_ratio=plan.bearish_ratio, overbought=h.overbought,
            oversold=self.settings.entry.oversold, threshold=h.bearish_ratio, at=snapshot.now,
            fig=self.sentiment_fig))
        return plan

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
        keep_view_state(weights_chart(frame, fig=self.weights_fig, **self._caps()))

    def _on_settings(self, path: str, old: Any, new: Any) -> None:
        if path in _CAP_PATHS:  # the caps the next iteration will enforce
            self._guard("Updating the weights chart", self._draw_weights)
        if path in _SENTIMENT_PATHS:
            self._guard("Reading the sentiment", self.preview_sentiment)

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
        self.iteration_log.value = "".join(shown)

    def __repr__(self) -> str:
        return f"Dashboard({self.trader!r}, reports={len(self.reports)})"
