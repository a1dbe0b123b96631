"""The backtest panel: settings, a date range and a Run button over an equity chart and stats.

"What would these settings have done?" :class:`BacktestPanel` replays the trader's market
through :meth:`activetrader.Trader.backtest` (the same Trader, strategy and SimBroker code as
live, on a flat account) and shows the equity and drawdown chart and the stats table. Both
are updated in place: the same ``FigureWidget`` and ``HTML`` objects get the new data.

Once it has a result, any change of a setting (in its panels, in another panel, or in code)
or of the dates runs it again, debounced: a burst of changes within ``delay`` seconds is one
run. An invalid value is refused by the settings panel and runs nothing.

A run happens in the widget callback, on the kernel's thread: the kernel is busy for as long
as the run lasts (the progress bar moves meanwhile). That is acceptable because a backtest is
fast (about a second for a year of daily iterations on the embedded market; see
``benchmarks/RESULTS.md``); it keeps the trader, its market and the widgets single-threaded.

>>> from activetrader import Trader
>>> panel = BacktestPanel(Trader(), start="2024-06-03", end="2024-06-28")
>>> result = panel.run()                         # what clicking "Run backtest" does
>>> len(panel.equity_fig.data[0].y) == len(result.equity)
True
>>> (panel.progress.value, panel.progress.max) == (int(result.stats["iterations"]),) * 2
True
>>> panel.close()
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import pandas as pd
import plotly.graph_objects as go

from ..backtest import STATS
from ..backtest.result import fmt_stat, round_trips_text
from ..backtest.stats import STAT_TEXT
from .charts import equity_chart
from .debounce import Cancellable, Debouncer
from .panels import BracketPanel, HedgePanel, RebalancePanel
from .view import WidgetView, keep_view_state

__all__ = ["BacktestPanel"]

_NY = "America/New_York"
_ERROR_COLOR = "#c62828"

def _date(value: Any, what: str) -> dt.date:
    try:
        if isinstance(value, str):  # ISO only: pandas would read "June" as a date this year
            return dt.date.fromisoformat(value)
        return pd.Timestamp(value).date()
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a date such as '2024-01-02', not {value!r}") from None


def _default_dates(trader: Any) -> tuple[dt.date, dt.date]:
    """The year that ends the session before the trader's clock."""
    end = pd.Timestamp(trader.now).tz_convert(_NY).normalize() - pd.Timedelta(days=1)
    return (end - pd.DateOffset(years=1)).date(), end.date()


class BacktestPanel(WidgetView):
    """Backtest the trader's strategy and settings over a date range, with live controls.

    Parameters
    ----------
    trader:
        The :class:`~activetrader.Trader` whose market, strategy and settings are replayed
        (its broker is not touched: the backtest runs on a fresh ``SimBroker``).
    start, end:
        The first and last session (a date or ``"YYYY-MM-DD"``); by default the year ending
        the day before ``trader.now``. Editable in the panel's date pickers.
    cash:
        Starting cash of the backtest's flat account.
    delay:
        Seconds of quiet after a change before the re-run (the debounce).
    schedule:
        ``schedule(delay, callback) -> handle with cancel()`` used by the debounce (default:
        the kernel's event loop; tests pass their own and call ``panel.rerun.flush()``).

    The panel is a ``VBox``. Attributes: ``bracket``, ``hedge``, ``rebalance`` (settings
    panels on ``trader.settings``), ``start_picker`` and ``end_picker`` (``DatePicker``),
    ``run_button``, ``progress`` (``IntProgress``, driven by the run's progress callback),
    ``status`` and ``stats_table`` (``HTML``), ``equity_fig`` (``go.FigureWidget``: equity
    and drawdown, see :func:`~activetrader.notebook.charts.equity_chart`), ``error`` (the last
    failure's message, ``""`` when none) and ``error_widget``, ``result`` (the last
    :class:`~activetrader.BacktestResult`, None before the first run), ``runs`` (how many
    runs completed) and ``rerun`` (the :class:`~activetrader.notebook.debounce.Debouncer`).

    Stable CSS hooks: ``activetrader-backtest``, ``activetrader-backtest-run``,
    ``activetrader-backtest-progress``, ``activetrader-backtest-status``,
    ``activetrader-equity-chart``, ``activetrader-backtest-stats``, ``activetrader-error``.
    """

    rerun: Debouncer | None = None  # set first in __init__; ``close`` may run without it

    def __init__(self, trader: Any, start: Any = None, end: Any = None, *, cash: float = 100_000,
                 delay: float = 0.5, schedule: Callable[[float, Callable[[], Any]], Cancellable] | None = None
                 ) -> None:
        default_start, default_end = _default_dates(trader)
        start = default_start if start is None else _date(start, "start")
        end = default_end if end is None else _date(end, "end")
        super().__init__()
        self.trader = trader
        self.settings = trader.settings
        self.cash = cash
        self.result: Any = None
        self.runs = 0
        self.error = ""
        self.rerun = Debouncer(self._auto_run, delay, schedule=schedule)

        self.bracket = BracketPanel(trader)
        self.hedge = HedgePanel(trader)
        self.rebalance = RebalancePanel(trader)
        self._views = (self.bracket, self.hedge, self.rebalance)
        self.start_picker = W.DatePicker(value=start, description="From", layout=W.Layout(width="230px"))
        self.end_picker = W.DatePicker(value=end, description="to", layout=W.Layout(width="230px"))
        self.run_button = W.Button(description="Run backtest", button_style="primary", icon="play",
                                   tooltip="Replay the market over these dates with these settings")
        self.run_button.add_class("activetrader-backtest-run")
        self.run_button.on_click(lambda _button: self.run())
        self.progress = W.IntProgress(value=0, min=0, max=1, description="", layout=W.Layout(width="220px"))
        self.progress.add_class("activetrader-backtest-progress")
        self.status = W.HTML("<i>Not run yet: click “Run backtest”. After a run, a settings change "
                             "runs it again.</i>")
        self.status.add_class("activetrader-backtest-status")
        self.error_widget = W.HTML("")
        self.error_widget.add_class("activetrader-error")
        self.equity_fig = go.FigureWidget(equity_chart(pd.Series(dtype=float)))
        self.equity_fig.add_class("activetrader-equity-chart")
        self.stats_table = W.HTML(self._stats_html(None))
        self.stats_table.add_class("activetrader-backtest-stats")

        header = W.HTML("<b>Backtest</b>: what the strategy, with these settings, would have done "
                        "(a flat account on the same market, through the live code)")
        panels = W.HBox([self.bracket, self.hedge, self.rebalance], layout=W.Layout(flex_flow="row wrap"))
        controls = W.HBox([self.start_picker, self.end_picker, self.run_button, self.progress],
                          layout=W.Layout(align_items="center", flex_flow="row wrap"))
        chart = W.Box([self.equity_fig], layout=W.Layout(flex="1 1 0%", min_width="480px"))
        results = W.HBox([chart, self.stats_table], layout=W.Layout(width="100%", align_items="flex-start"))
        self.children = [header, panels, controls, self.status, self.error_widget, results]
        self.add_class("activetrader-backtest")
        self._own = [header, panels, controls, chart, results, self.start_picker, self.end_picker,
                     self.run_button, self.progress, self.status, self.error_widget, self.equity_fig,
                     self.stats_table]

        for picker in (self.start_picker, self.end_picker):
            picker.observe(lambda _change: self._changed(), names="value")
        self._unsubscribe = self.settings.subscribe(lambda *_event: self._changed())

    # -------------------------------------------------------------- running
    def run(self) -> Any:
        """Run the backtest now (what "Run backtest" does) and redraw the chart and stats.

        Returns the :class:`~activetrader.BacktestResult`, or None when the run failed (the
        message is in ``error``; the last good chart and stats stay on screen).
        """
        self.rerun.cancel()  # this run covers any change still waiting
        self.run_button.disabled = True
        self.progress.bar_style = ""
        self.status.value = "<i>Running backtest…</i>"
        try:
            start, end = self.start_picker.value, self.end_picker.value
            if start is None or end is None:
                raise ValueError("choose a start and an end date")
            result = self.trader.backtest(start, end, cash=self.cash, progress=self._on_progress)
        except Exception as exc:  # shown, never raised: a button callback has nowhere to raise to
            self._set_error(f"Backtest failed: {type(exc).__name__}: {exc}")
            self.progress.bar_style = "danger"
            self.status.value = "<i>Backtest failed; the results below are from the last good run.</i>" \
                if self.result is not None else "<i>Backtest failed.</i>"
            return None
        finally:
            self.run_button.disabled = False
        self._set_error("")
        self.result = result
        self.runs += 1
        self.progress.bar_style = "success"
        self._draw(result)
        return result

    def _auto_run(self) -> None:
        self.run()

    def _changed(self) -> None:
        """A setting or a date changed: re-run (debounced), once there is a result to refresh."""
        if self.result is not None:
            self.rerun()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = min(done, self.progress.max)

    # -------------------------------------------------------------- drawing
    def _draw(self, result: Any) -> None:
        keep_view_state(equity_chart(result.equity, fig=self.equity_fig))
        self.stats_table.value = self._stats_html(result)
        st = result.stats
        self.status.value = (
            f"Backtest {result.start:%Y-%m-%d} .. {result.end:%Y-%m-%d}: {int(st['iterations'])} iterations "
            f"in {st['elapsed_s']:.2f} s; equity ${float(result.equity.iloc[0]):,.0f} -> "
            f"${float(result.equity.iloc[-1]):,.0f} ({fmt_stat('total_return', st['total_return'])}); "
            f"run {self.runs}")

    @staticmethod
    def _stats_html(result: Any) -> str:
        rows = "".join(
            f"<tr title='{html.escape(STAT_TEXT.get(k, k))}'><th style='text-align:left;padding-right:12px'>"
            f"{k}</th><td style='text-align:right' class='activetrader-stat-{k}'>"
            f"{'-' if result is None else html.escape(fmt_stat(k, result.stats[k]))}</td></tr>"
            for k in STATS)
        trades = ""
        if result is not None:
            trades = f"<p style='margin:6px 0'>round trips: {html.escape(round_trips_text(result.trades))}</p>"
        return f"<table style='font-size:13px'>{rows}</table>{trades}"

    def _set_error(self, message: str) -> None:
        self.error = message
        self.error_widget.value = (f'<span style="color:{_ERROR_COLOR}">&#9888; {html.escape(message)}</span>'
                                   if message else "")

    # -------------------------------------------------------------- lifetime
    def close(self) -> None:
        if self.rerun is not None:
            self.rerun.cancel()
        super().close()

    def __repr__(self) -> str:
        return (f"BacktestPanel({self.start_picker.value} .. {self.end_picker.value}, runs={self.runs}, "
                f"error={self.error!r})")
