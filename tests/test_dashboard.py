"""The Dashboard, headless: run button, log, status line and charts updating in place."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest
from IPython.core.formatters import DisplayFormatter
from test_panels import WIDGET_VIEW, frontend  # noqa: F401  (the autouse fake-comm fixture)

from activetrader import Trader
from activetrader.notebook import Dashboard
from activetrader.notebook import dashboard as dashboard_module

ET = "America/New_York"


@pytest.fixture
def trader() -> Trader:
    return Trader()


@pytest.fixture
def dash(trader):
    d = Dashboard(trader)
    yield d
    d.close()


def long_weights(fig: go.FigureWidget) -> dict[str, float]:
    bars = fig.data[0]
    return dict(zip(bars.x, bars.y, strict=True))


def positions_weights(trader: Trader) -> dict[str, float]:
    p = trader.positions()
    return p.loc[~p["inverse"], "weight"].to_dict()


# ---------------------------------------------------------------- running
def test_dashboard_run_keeps_report_and_logs_narrative(dash):
    report = dash.run()

    assert dash.reports == [report]
    assert "RUNNING TRADING ITERATION" in dash.log.value
    assert "<details open class='activetrader-log-entry'>" in dash.log.value
    assert "12 submitted, 0 rejected, 3 warning(s)" in dash.log.value
    assert dash.run_button.disabled is False


def test_dashboard_button_click_runs_an_iteration(dash):
    dash.run_button.click()

    assert len(dash.reports) == 1
    assert "RUNNING TRADING ITERATION" in dash.log.value


def test_dashboard_click_in_browser_runs_and_sends_log(dash, frontend):
    frontend.click(dash.run_button)

    assert len(dash.reports) == 1
    assert "RUNNING TRADING ITERATION" in frontend.sent(dash.log, "value")[-1]


def test_dashboard_sentiment_chart_shows_the_report(dash):
    assert dash.sentiment_fig.data[0].y == ()  # nothing before the first run

    report = dash.run()

    bars, overbought, _, ratio, threshold = dash.sentiment_fig.data
    assert list(bars.x) == list(report.sentiment)
    assert bars.y == tuple(report.sentiment.values())
    assert overbought.y == (70.0, 70.0) and threshold.y == (0.6, 0.6)
    assert ratio.y == (report.bearish_ratio,)


def test_dashboard_weights_chart_follows_positions_through_run_and_advance(dash, trader):
    before = long_weights(dash.weights_fig)
    assert before == pytest.approx(positions_weights(trader))
    assert "WMT" not in before and before["ADBE"] > 0.15

    dash.run()      # orders rest until the open
    dash.advance()  # ...and fill (or stop out) on the way to the close

    after = long_weights(dash.weights_fig)
    assert after == pytest.approx(positions_weights(trader))
    assert "WMT" in after and after["ADBE"] < 0.15  # entered; trimmed to the cap
    assert dash.weights_fig.data[2].y == (0.15, 0.15)


def test_dashboard_charts_reach_a_view_opened_after_the_run(dash, frontend):
    report = dash.run()
    dash.advance()

    # what a Voila page (or a second display) loading now renders, not the figure as built
    sentiment = frontend.connect(dash.sentiment_fig)["_widget_data"][0]
    weights = frontend.connect(dash.weights_fig)["_widget_data"][0]
    assert sentiment["x"] == list(report.sentiment) and sentiment["y"] == list(report.sentiment.values())
    assert dict(zip(weights["x"], weights["y"], strict=True)) == long_weights(dash.weights_fig)
    assert "WMT" in weights["x"]


def test_dashboard_run_error_is_logged_not_raised(dash, trader, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("broker unreachable")

    monkeypatch.setattr(trader, "iteration", broken)

    assert dash.run() is None
    dash.run_button.click()  # a click does not raise either

    assert dash.reports == [] and len(dash.errors) == 2
    assert "Iteration failed: RuntimeError: broker unreachable" in dash.log.value
    assert "activetrader-log-error" in dash.log.value
    assert dash.run_button.disabled is False


def test_dashboard_chart_error_is_logged_and_report_kept(dash, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("bad figure")

    monkeypatch.setattr(dashboard_module, "sentiment_chart", broken)

    report = dash.run()

    assert dash.reports == [report]
    assert "Updating the sentiment chart failed: ValueError: bad figure" in dash.log.value
    assert "RUNNING TRADING ITERATION" in dash.log.value


def test_dashboard_log_is_newest_first_with_newest_iteration_open(dash):
    first = dash.run()
    dash.advance()
    second = dash.run()

    log = dash.log.value
    newest = f"Iteration {second.timestamp.tz_convert(ET):%Y-%m-%d %H:%M} ET"
    oldest = f"Iteration {first.timestamp.tz_convert(ET):%Y-%m-%d %H:%M} ET"
    assert log.index(newest) < log.index("Advanced the simulated clock") < log.index(oldest)
    assert log.count("<details open") == 1 and log.index("<details open") < log.index(newest)


def test_dashboard_log_keeps_only_log_size_entries_but_every_report(trader):
    dash = Dashboard(trader, log_size=2)
    for _ in range(3):
        dash.run()

    assert len(dash.reports) == 3
    assert dash.log.value.count("activetrader-log-entry") == 2
    dash.close()


def test_dashboard_dry_run_checkbox_submits_nothing(dash):
    dash.dry_run.value = True

    report = dash.run()

    assert report.dry_run is True and report.submitted == ()
    assert "dry run" in dash.log.value


# ---------------------------------------------------------------- status and clock
def test_dashboard_status_shows_clock_cash_and_equity(dash, trader):
    account = trader.broker.get_account()

    assert "2024-08-27 09:00 ET" in dash.status.value and "market closed" in dash.status.value
    assert f"cash ${float(account.cash):,.2f}" in dash.status.value
    assert f"equity ${float(account.equity):,.2f}" in dash.status.value
    assert "positions 10" in dash.status.value


def test_dashboard_advance_moves_simulated_clock_to_next_close(dash, trader):
    dash.advance_button.click()

    assert trader.now == pd.Timestamp("2024-08-27 16:00", tz=ET)
    assert "Advanced the simulated clock to 2024-08-27 16:00 ET" in dash.log.value
    assert "2024-08-27 16:00 ET" in dash.status.value


class _RealTimeBroker:
    """A SimBroker seen through an interface without ``advance_to`` (like Alpaca's)."""

    def __init__(self, broker):
        self._broker = broker

    def __getattr__(self, name):
        if name == "advance_to":
            raise AttributeError(name)
        return getattr(self._broker, name)


def test_dashboard_has_no_advance_button_for_a_real_time_broker(trader):
    dash = Dashboard(Trader(broker=_RealTimeBroker(trader.broker), market=trader.market))

    assert dash.advance_button is None
    assert all(getattr(w, "description", "") != "Advance one day" for w in dash.widget.children[3].children)
    dash.advance()
    assert "Advance failed: TypeError: this broker runs in real time" in dash.log.value
    dash.close()


# ---------------------------------------------------------------- settings
def test_dashboard_cap_change_redraws_weights_cap_line(dash, trader):
    dash.rebalance.widgets["rebalance.max_position_pct"].value = 0.10
    assert dash.weights_fig.data[2].y == (0.10, 0.10)

    trader.settings.hedge.max_inverse_allocation = 0.05
    assert dash.weights_fig.data[4].y == (0.05, 0.05)


def test_dashboard_panel_edit_is_used_by_next_run(dash, trader):
    dash.hedge.widgets["hedge.overbought"].value = 60.0

    report = dash.run()

    assert trader.settings.hedge.overbought == 60.0 and report.overbought == 60.0
    assert dash.sentiment_fig.data[1].y == (60.0, 60.0)


def test_dashboard_close_stops_following_settings(trader):
    dash = Dashboard(trader)
    dash.close()

    trader.settings.rebalance.max_position_pct = 0.10

    assert dash.weights_fig.data[2].y == (0.15, 0.15)
    assert dash.bracket.widgets["bracket.stop_loss_pct"].comm is None and dash.widget.comm is None


# ---------------------------------------------------------------- display and hooks
def test_dashboard_displays_as_its_widget_with_stable_hooks(dash):
    data, _ = DisplayFormatter().format(dash)

    assert data[WIDGET_VIEW]["model_id"] == dash.widget.model_id
    assert "activetrader-dashboard" in dash.widget._dom_classes
    assert "activetrader-log" in dash.log._dom_classes
    assert "activetrader-status" in dash.status._dom_classes
    assert (dash.run_button.description, dash.run_button._dom_classes) == ("Run iteration", ("activetrader-run",))
    assert (dash.advance_button.description, dash.advance_button._dom_classes) == (
        "Advance one day", ("activetrader-advance",))
    assert isinstance(dash.sentiment_fig, go.FigureWidget) and isinstance(dash.weights_fig, go.FigureWidget)
    assert "activetrader-sentiment-chart" in dash.sentiment_fig._dom_classes
    assert "activetrader-weights-chart" in dash.weights_fig._dom_classes
    shown = {id(w) for box in dash.widget.children for w in [box, *getattr(box, "children", ())]}
    for w in (dash.bracket.widget, dash.hedge.widget, dash.rebalance.widget, dash.run_button,
              dash.log, dash.status, dash.sentiment_fig, dash.weights_fig):
        assert id(w) in shown
