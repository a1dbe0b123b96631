"""The backtest panel, headless (issue 7, item 4): Run updates the chart and stats in place,
an invalid setting runs nothing, and a burst of changes is one (debounced) run.

The market is the embedded default's simulated one; April 2024 (22 sessions, so 23 equity
points with the final close; entries, stops and take-profits happen) keeps each run well under
a second. The debounce is driven by a
scheduler the test holds (``ManualClock``), so no test waits on a real timer except the two
that check the real schedulers themselves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading

import ipywidgets as W
import pandas as pd
import plotly.graph_objects as go
import pytest
from test_panels import frontend  # noqa: F401  (the autouse fake-comm fixture)

from activetrader import Trader
from activetrader.backtest import STATS
from activetrader.backtest.result import fmt_stat
from activetrader.notebook import BacktestPanel, Dashboard
from activetrader.notebook.debounce import Debouncer

APRIL = ("2024-04-01", "2024-04-30")


class ManualClock:
    """A scheduler for the debounce that fires only when the test says so."""

    def __init__(self) -> None:
        self.scheduled: list[tuple[float, object, "ManualClock.Handle"]] = []

    class Handle:
        def __init__(self) -> None:
            self.cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    def __call__(self, delay, fn):
        handle = self.Handle()
        self.scheduled.append((delay, fn, handle))
        return handle

    def live(self) -> list:
        return [fn for _, fn, h in self.scheduled if not h.cancelled]


@pytest.fixture
def trader() -> Trader:
    return Trader()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def panel(trader, clock):
    p = BacktestPanel(trader, *APRIL, schedule=clock)
    yield p
    p.close()


# ---------------------------------------------------------------- running
def test_backtest_panel_run_updates_chart_and_stats_in_place(panel, trader, frontend):
    fig, table = panel.equity_fig, panel.stats_table
    assert fig.data[0].y == () and "total_return" in table.value  # empty until the first run

    result = panel.run()

    # the trader's own backtest over the panel's dates, drawn into the same widgets
    expected = trader.backtest(*APRIL, progress=False)
    assert panel.equity_fig is fig and panel.stats_table is table and panel.result is result
    assert list(fig.data[0].y) == expected.equity.tolist() and len(fig.data[0].y) == 23
    assert min(fig.data[1].y) < 0  # the month had a drawdown: the chart is not a flat line
    peak = expected.equity.cummax()
    assert list(fig.data[1].y) == pytest.approx((expected.equity / peak - 1).tolist())
    for stat in STATS:
        if stat != "elapsed_s":  # wall time differs between the two runs
            assert result.stats[stat] == pytest.approx(expected.stats[stat], nan_ok=True)
            assert f"class='activetrader-stat-{stat}'>{fmt_stat(stat, result.stats[stat])}<" in table.value
    assert (panel.progress.value, panel.progress.max, panel.progress.bar_style) == (22, 22, "success")
    assert "Backtest 2024-04-01 .. 2024-04-30: 22 iterations" in panel.status.value
    assert panel.runs == 1 and panel.error == "" and panel.run_button.disabled is False
    # a view opening now (the Backtest tab shown later) renders the new data, not the empty chart
    state = frontend.connect(fig)["_widget_data"][0]
    assert state["y"] == expected.equity.tolist()


def test_backtest_panel_click_in_browser_runs_and_drives_the_progress_bar(panel, frontend):
    frontend.click(panel.run_button)

    assert panel.runs == 1
    values = frontend.sent(panel.progress, "value")
    assert values[-1] == 22 and values == sorted(values) and len(values) >= 3  # it moved, forward only
    assert frontend.sent(panel.progress, "max")[-1] == 22


def test_backtest_panel_new_dates_redraw_the_same_figure(panel, clock):
    panel.run()
    fig = panel.equity_fig

    panel.end_picker.value = dt.date(2024, 4, 12)  # a result exists: the change re-runs (debounced)
    assert panel.rerun.pending and panel.runs == 1
    panel.rerun.flush()

    assert panel.runs == 2 and panel.equity_fig is fig
    assert len(fig.data[0].y) == 11  # 10 sessions (1..12 April) and the final close
    assert fig.data[0].x[-1] == pd.Timestamp("2024-04-12 16:00")


def test_backtest_panel_uses_the_settings_in_force(panel, trader):
    default = trader.backtest(*APRIL, progress=False)
    trader.settings.bracket.stop_loss_pct = 0.02

    result = panel.run()

    assert result.settings.bracket.stop_loss_pct == 0.02
    assert result.equity.tolist() == trader.backtest(*APRIL, progress=False).equity.tolist()
    assert result.equity.tolist() != default.equity.tolist()  # a tighter stop changed the month


def test_backtest_panel_failed_run_shows_error_and_keeps_last_result(panel):
    good = panel.run()
    y = panel.equity_fig.data[0].y

    panel.start_picker.value, panel.end_picker.value = dt.date(2024, 4, 30), dt.date(2024, 4, 1)
    assert panel.run() is None

    assert panel.error.startswith("Backtest failed: ValueError:") and "before" in panel.error
    assert "color:#c62828" in panel.error_widget.value and panel.progress.bar_style == "danger"
    assert panel.result is good and panel.equity_fig.data[0].y == y and panel.runs == 1
    assert panel.run_button.disabled is False


def test_backtest_panel_without_dates_says_so(panel):
    panel.start_picker.value = None

    assert panel.run() is None
    assert panel.error == "Backtest failed: ValueError: choose a start and an end date"


def test_backtest_panel_default_dates_are_the_year_before_the_trader_clock(trader):
    panel = BacktestPanel(trader)  # trader.now is 2024-08-27 09:00 ET

    assert (panel.start_picker.value, panel.end_picker.value) == (dt.date(2023, 8, 26), dt.date(2024, 8, 26))
    panel.close()

    with pytest.raises(ValueError, match="start must be a date such as '2024-01-02', not 'June'"):
        BacktestPanel(trader, start="June")


# ---------------------------------------------------------------- settings changes
def test_backtest_panel_invalid_setting_shows_error_is_not_applied_and_runs_nothing(panel, trader, clock,
                                                                                   frontend):
    panel.run()

    frontend.set(panel.bracket.widgets["bracket.stop_loss_pct"], value=1.5)

    assert panel.bracket.error == "bracket.stop_loss_pct = 1.5 is not allowed: must be > 0 and < 1"
    assert trader.settings.bracket.stop_loss_pct == 0.05
    assert clock.scheduled == [] and not panel.rerun.pending and panel.runs == 1


def test_backtest_panel_settings_burst_is_one_debounced_run(panel, trader, clock):
    panel.run()

    panel.bracket.widgets["bracket.stop_loss_pct"].value = 0.04   # a burst: three edits,
    panel.hedge.widgets["hedge.overbought"].value = 75.0          # in two panels
    trader.settings.bracket.stop_loss_pct = 0.03                  # and in code

    assert [delay for delay, _, _ in clock.scheduled] == [0.5, 0.5, 0.5]
    assert len(clock.live()) == 1 and panel.runs == 1  # each change re-armed the one timer
    clock.scheduled[0][1]()  # a replaced timer that fires anyway does nothing
    assert panel.runs == 1

    clock.live()[0]()  # 0.5 s after the last change

    assert panel.runs == 2 and not panel.rerun.pending
    assert panel.result.settings.bracket.stop_loss_pct == 0.03 and panel.result.settings.hedge.overbought == 75.0


def test_backtest_panel_change_before_first_run_schedules_nothing(panel, trader, clock):
    trader.settings.bracket.stop_loss_pct = 0.04

    assert clock.scheduled == [] and panel.runs == 0


def test_backtest_panel_run_click_supersedes_a_waiting_rerun(panel, trader, clock):
    panel.run()
    trader.settings.hedge.overbought = 75.0
    assert panel.rerun.pending

    panel.run()

    assert not panel.rerun.pending and clock.live() == [] and panel.runs == 2


def test_backtest_panel_close_cancels_waiting_rerun_and_unsubscribes(trader, clock):
    panel = BacktestPanel(trader, *APRIL, schedule=clock)
    panel.run()
    trader.settings.hedge.overbought = 75.0

    panel.close()
    trader.settings.hedge.overbought = 72.0

    assert clock.live() == [] and len(clock.scheduled) == 1 and panel.comm is None
    assert panel.bracket.comm is None and panel.equity_fig.comm is None


# ---------------------------------------------------------------- the real schedulers
def test_debouncer_without_event_loop_fires_once_on_a_timer_thread():
    fired: list[str] = []
    done = threading.Event()

    def fn():
        fired.append(threading.current_thread().name)
        done.set()

    debounced = Debouncer(fn, 1.0)  # far longer than the three calls take, even on a busy machine
    for _ in range(3):
        debounced()

    assert done.wait(timeout=10), "the debounced call never ran"
    assert len(fired) == 1 and fired[0] != threading.main_thread().name
    assert not debounced.pending


def test_debouncer_in_an_event_loop_fires_once_on_the_loop_thread():
    fired: list[str] = []

    async def main():
        done = asyncio.Event()

        def fn():
            fired.append(threading.current_thread().name)
            done.set()

        debounced = Debouncer(fn, 0.05)
        for _ in range(3):
            debounced()
        await asyncio.wait_for(done.wait(), timeout=10)
        await asyncio.sleep(0.1)  # a stray second call would land here

    asyncio.run(main())

    assert fired == [threading.main_thread().name]  # a kernel's thread: widgets stay single-threaded


def test_debouncer_rejects_a_negative_delay():
    with pytest.raises(ValueError, match="delay must be >= 0 seconds, not -1"):
        Debouncer(lambda: None, -1)


# ---------------------------------------------------------------- layout and the dashboard
def test_backtest_panel_is_a_widget_that_composes(panel):
    tabs = W.Tab(children=[panel], titles=["Backtest"])

    assert isinstance(panel, W.VBox) and tabs.children[0] is panel
    assert isinstance(panel.equity_fig, go.FigureWidget)
    assert "activetrader-backtest" in panel._dom_classes
    assert "activetrader-equity-chart" in panel.equity_fig._dom_classes
    assert "activetrader-backtest-run" in panel.run_button._dom_classes


def test_dashboard_backtest_tab_is_built_when_shown_and_runs_on_the_dashboard_trader(trader, frontend):
    dash = Dashboard(trader)
    assert dash.tabs.titles == ("Live", "Backtest") and dash._backtest is None  # not built on open

    frontend.set(dash.tabs, selected_index=1)  # the user opens the Backtest tab

    tab = dash.tabs.children[1].children[0]
    assert tab is dash.backtest and isinstance(tab, BacktestPanel)
    assert tab.trader is trader and tab.runs == 0  # showing it runs nothing
    tab.start_picker.value, tab.end_picker.value = dt.date(2024, 4, 1), dt.date(2024, 4, 30)
    frontend.click(tab.run_button)

    assert tab.runs == 1 and len(tab.equity_fig.data[0].y) == 23
    assert trader.now == pd.Timestamp("2024-08-27 09:00", tz="America/New_York")  # live broker untouched
    dash.close()
    assert tab.comm is None and tab.equity_fig.comm is None
