"""The Dashboard, headless: run button, log, status line and charts updating in place."""

from __future__ import annotations

import ipywidgets as W
import pandas as pd
import plotly.graph_objects as go
import pytest
from alpaca.trading.requests import GetOrdersRequest
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
    assert "RUNNING TRADING ITERATION" in dash.iteration_log.value
    assert "<details open class='activetrader-log-entry'>" in dash.iteration_log.value
    assert f"12 submitted, 0 rejected, {len(report.warnings)} warning(s)" in dash.iteration_log.value
    assert dash.run_button.disabled is False


def test_dashboard_button_click_runs_an_iteration(dash):
    dash.run_button.click()

    assert len(dash.reports) == 1
    assert "RUNNING TRADING ITERATION" in dash.iteration_log.value


def test_dashboard_click_in_browser_runs_and_sends_log(dash, frontend):
    frontend.click(dash.run_button)

    assert len(dash.reports) == 1
    assert "RUNNING TRADING ITERATION" in frontend.sent(dash.iteration_log, "value")[-1]


def test_dashboard_sentiment_chart_shows_the_report(dash):
    report = dash.run()

    bars, overbought, _, ratio, threshold = dash.sentiment_fig.data
    assert list(bars.x) == list(report.sentiment)
    assert bars.y == tuple(report.sentiment.values())
    assert overbought.y == (70.0, 70.0) and threshold.y == (0.6, 0.6)
    assert ratio.y == (report.bearish_ratio,)


def test_dashboard_sentiment_chart_shows_rsi_on_open_without_an_iteration(tmp_path, frontend):
    trader = Trader(journal=tmp_path / "journal.sqlite")
    orders_before = len(trader.broker.get_orders(GetOrdersRequest(status="all")))

    dash = Dashboard(trader)
    bars, ratio = dash.sentiment_fig.data[0], dash.sentiment_fig.data[3]
    shown = dict(zip(bars.x, bars.y, strict=True))
    opened = frontend.connect(dash.sentiment_fig)["_widget_data"][0]  # what a page loading now gets

    # nothing was traded or journaled to draw it
    assert len(trader.broker.get_orders(GetOrdersRequest(status="all"))) == orders_before
    assert len(trader.journal.iterations()) == 0
    # the five sentiment symbols, each with a real RSI (0..100), already in the widget state
    assert list(shown) == ["AAPL", "MSFT", "GOOGL", "NVDA", "TSLA"]
    assert all(v is not None and 0 < v < 100 for v in shown.values()), shown
    assert opened["x"] == list(shown) and opened["y"] == list(shown.values())
    hot = sum(v > 70 for v in shown.values())
    assert f"{hot} of 5 overbought" in dash.sentiment_fig.layout.title.text
    assert "at 2024-08-27 09:00 ET" in dash.sentiment_fig.layout.title.text
    # ...and they are exactly the numbers the first iteration at this moment decides on
    report = trader.iteration(dry_run=True)
    assert shown == report.sentiment
    assert ratio.y == (report.bearish_ratio,) == (hot / 5,)
    dash.close()
    trader.close()


def test_dashboard_sentiment_setting_change_redraws_the_sentiment_chart(dash, trader):
    trader.settings.hedge.sentiment_symbols = ("AAPL", "TSLA")

    assert dash.sentiment_fig.data[0].x == ("AAPL", "TSLA")
    assert dash.sentiment_fig.data[0].y == tuple(trader.iteration(dry_run=True).sentiment.values())

    dash.hedge.widgets["hedge.overbought"].value = 55.0  # through the panel, too
    assert dash.sentiment_fig.data[1].y == (55.0, 55.0)


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
    # the sentiment at the new moment (16:00) reached the state, not only the 09:00 report's
    assert sentiment["x"] == list(report.sentiment) and sentiment["y"] == list(dash.sentiment_fig.data[0].y)
    assert sentiment["y"] != list(report.sentiment.values())
    assert dict(zip(weights["x"], weights["y"], strict=True)) == long_weights(dash.weights_fig)
    assert "WMT" in weights["x"]


def test_dashboard_run_error_is_logged_not_raised(dash, trader, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("broker unreachable")

    monkeypatch.setattr(trader, "iteration", broken)

    assert dash.run() is None
    dash.run_button.click()  # a click does not raise either

    assert dash.reports == [] and len(dash.errors) == 2
    assert "Iteration failed: RuntimeError: broker unreachable" in dash.iteration_log.value
    assert "activetrader-log-error" in dash.iteration_log.value
    assert dash.run_button.disabled is False


def test_dashboard_chart_error_is_logged_and_report_kept(dash, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("bad figure")

    monkeypatch.setattr(dashboard_module, "sentiment_chart", broken)

    report = dash.run()

    assert dash.reports == [report]
    assert "Updating the sentiment chart failed: ValueError: bad figure" in dash.iteration_log.value
    assert "RUNNING TRADING ITERATION" in dash.iteration_log.value


def test_dashboard_log_is_newest_first_with_newest_iteration_open(dash):
    first = dash.run()
    dash.advance()
    second = dash.run()

    log = dash.iteration_log.value
    newest = f"Iteration {second.timestamp.tz_convert(ET):%Y-%m-%d %H:%M} ET"
    oldest = f"Iteration {first.timestamp.tz_convert(ET):%Y-%m-%d %H:%M} ET"
    assert log.index(newest) < log.index("Advanced the simulated clock") < log.index(oldest)
    assert log.count("<details open") == 1 and log.index("<details open") < log.index(newest)


def test_dashboard_log_keeps_only_log_size_entries_but_every_report(trader):
    dash = Dashboard(trader, log_size=2)
    for _ in range(3):
        dash.run()

    assert len(dash.reports) == 3
    assert dash.iteration_log.value.count("activetrader-log-entry") == 2
    dash.close()


def test_dashboard_dry_run_checkbox_submits_nothing(dash):
    dash.dry_run.value = True

    report = dash.run()

    assert report.dry_run is True and report.submitted == ()
    assert "dry run" in dash.iteration_log.value


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
    assert "Advanced the simulated clock to 2024-08-27 16:00 ET" in dash.iteration_log.value
    assert "2024-08-27 16:00 ET" in dash.status.value
    # the sentiment chart follows the clock: the RSI a decision at 16:00 would use
    assert "at 2024-08-27 16:00 ET" in dash.sentiment_fig.layout.title.text
    assert dash.sentiment_fig.data[0].y == tuple(trader.iteration(dry_run=True).sentiment.values())


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
    assert all(getattr(w, "description", "") != "Advance one day" for w in dash.buttons_box.children)
    dash.advance()
    assert "Advance failed: TypeError: this broker runs in real time" in dash.iteration_log.value
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
    assert dash.bracket.widgets["bracket.stop_loss_pct"].comm is None and dash.comm is None


# ---------------------------------------------------------------- display, layout and hooks
def descendants(widget) -> list:
    """Every widget shown under ``widget`` (children of boxes and tabs, recursively)."""
    out = []
    for child in getattr(widget, "children", ()):
        out += [child, *descendants(child)]
    return out


def test_dashboard_displays_itself_with_stable_hooks(dash):
    data, _ = DisplayFormatter().format(dash)

    assert isinstance(dash, W.VBox) and dash.widget is dash
    assert data[WIDGET_VIEW]["model_id"] == dash.model_id
    assert "activetrader-dashboard" in dash._dom_classes
    assert "activetrader-log" in dash.iteration_log._dom_classes
    assert "activetrader-status" in dash.status._dom_classes
    assert (dash.run_button.description, dash.run_button._dom_classes) == ("Run iteration", ("activetrader-run",))
    assert (dash.advance_button.description, dash.advance_button._dom_classes) == (
        "Advance one day", ("activetrader-advance",))
    assert isinstance(dash.sentiment_fig, go.FigureWidget) and isinstance(dash.weights_fig, go.FigureWidget)
    assert "activetrader-sentiment-chart" in dash.sentiment_fig._dom_classes
    assert "activetrader-weights-chart" in dash.weights_fig._dom_classes
    assert dash.tabs.titles[0] == "Live" and dash.tabs.children[0] is dash.live
    shown = {id(w) for w in descendants(dash.live)}
    for w in (dash.bracket, dash.hedge, dash.rebalance, dash.run_button, dash.iteration_log, dash.status,
              dash.sentiment_fig, dash.weights_fig, dash.run_control):
        assert id(w) in shown


def test_dashboard_live_tab_has_the_live_loop_control(dash, trader):
    assert dash.run_control.trader is trader and dash.run_control.start_button.description == "Start"
    assert dash.run_control.status.value == "<b>not running</b>"

    dash.close()  # closes the control with the dashboard

    assert dash.run_control.comm is None and dash.run_control.start_button.comm is None


def test_dashboard_composes_in_a_layout_and_still_runs(dash, trader, frontend):
    row = W.HBox([dash, W.HTML("notes")])
    tabs = W.Tab(children=[row])

    frontend.click(dash.run_button)

    assert tabs.children[0].children[0] is dash
    assert len(dash.reports) == 1 and "RUNNING TRADING ITERATION" in dash.iteration_log.value
