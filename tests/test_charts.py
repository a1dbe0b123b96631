"""Charts are checked on their trace data (values, reference lines, caps), never on pixels."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from activetrader import Trader
from activetrader.notebook.charts import (COLORS, equity_chart, levels_chart, position_levels_chart,
                                          sentiment_chart, weights_chart)


def by_name(fig: go.Figure, prefix: str):
    """The one trace whose name starts with ``prefix``."""
    found = [t for t in fig.data if (t.name or "").startswith(prefix)]
    assert len(found) == 1, [t.name for t in fig.data]
    return found[0]


@pytest.fixture(scope="module")
def protected_trader() -> Trader:
    """The embedded default after one iteration: every position has a broker-side OCO."""
    trader = Trader()
    trader.iteration()
    return trader


@pytest.fixture(scope="module")
def report():
    return Trader().iteration(dry_run=True)


# ---------------------------------------------------------------- sentiment
def test_sentiment_chart_from_report_bars_equal_report_sentiment(report):
    fig = sentiment_chart(report)

    rsi = by_name(fig, "RSI")
    assert isinstance(fig, go.Figure)
    assert list(rsi.x) == list(report.sentiment)
    assert list(rsi.y) == list(report.sentiment.values())


def test_sentiment_chart_lines_at_overbought_70_and_oversold_30(report):
    fig = sentiment_chart(report)

    assert by_name(fig, "overbought").name == "overbought 70"
    assert by_name(fig, "overbought").y == (70.0, 70.0)
    assert by_name(fig, "oversold").name == "oversold 30"
    assert by_name(fig, "oversold").y == (30.0, 30.0)


def test_sentiment_chart_bearish_ratio_against_threshold(report):
    fig = sentiment_chart(report)

    assert by_name(fig, "bearish ratio").y == (report.bearish_ratio,)
    assert report.bearish_ratio == pytest.approx(0.4)  # AAPL and GOOGL of five above 70
    assert by_name(fig, "threshold").name == "threshold 60%"
    assert by_name(fig, "threshold").y == (0.6, 0.6)
    assert "not bearish" in fig.layout.title.text


def test_sentiment_chart_bars_coloured_by_zone():
    fig = sentiment_chart(sentiment={"HOT": 75.0, "MID": 50.0, "COLD": 25.0, "NEW": None},
                          bearish_ratio=0.25)

    rsi = by_name(fig, "RSI")
    assert list(rsi.marker.color) == [COLORS["overbought"], COLORS["neutral"], COLORS["oversold"],
                                      COLORS["missing"]]
    assert rsi.y == (75.0, 50.0, 25.0, None)
    assert rsi.text[-1] == "n/a"


def test_sentiment_chart_keywords_override_the_report(report):
    fig = sentiment_chart(report, overbought=80, threshold=0.5)

    assert by_name(fig, "overbought").y == (80.0, 80.0)
    assert by_name(fig, "threshold").y == (0.5, 0.5)
    assert by_name(fig, "oversold").y == (report.oversold, report.oversold)


def test_sentiment_chart_bearish_ratio_at_threshold_is_bearish():
    fig = sentiment_chart(sentiment={"A": 71.0, "B": 72.0, "C": 73.0, "D": 10.0, "E": 50.0},
                          bearish_ratio=0.6, threshold=0.6)

    assert by_name(fig, "bearish ratio").marker.color == (COLORS["overbought"],)
    assert "BEARISH" in fig.layout.title.text


# ---------------------------------------------------------------- weights
def test_weights_chart_bars_equal_position_weights(protected_trader):
    positions = protected_trader.positions()

    fig = weights_chart(positions)

    bars = {x: y for name in ("positions", "inverse ETFs")
            for x, y in zip(by_name(fig, name).x, by_name(fig, name).y, strict=True)}
    assert bars == positions["weight"].to_dict()


def test_weights_chart_cap_line_at_15_percent_and_breach_coloured(protected_trader):
    positions = protected_trader.positions()

    fig = weights_chart(positions)

    assert by_name(fig, "cap").name == "cap 15%"
    assert by_name(fig, "cap").y == (0.15, 0.15)
    long_bars = by_name(fig, "positions")
    colours = dict(zip(long_bars.x, long_bars.marker.color, strict=True))
    assert positions.loc["ADBE", "weight"] > 0.15  # the guide's ADBE is above the cap
    assert colours["ADBE"] == COLORS["breach"]
    assert colours["AAPL"] == COLORS["long"]


def test_weights_chart_inverse_total_against_20_percent_cap():
    frame = pd.DataFrame({"weight": [0.10, 0.12, 0.09], "inverse": [False, True, True]},
                         index=pd.Index(["AAPL", "SH", "SQQQ"], name="symbol"))

    fig = weights_chart(frame)

    assert by_name(fig, "inverse ETFs").x == ("SH", "SQQQ")
    assert by_name(fig, "inverse ETFs").y == (0.12, 0.09)
    assert by_name(fig, "inverse total").y == (pytest.approx(0.21),)
    assert by_name(fig, "inverse total").marker.color == (COLORS["breach"],)
    assert by_name(fig, "inverse cap").name == "inverse cap 20%"
    assert by_name(fig, "inverse cap").y == (0.2, 0.2)


def test_weights_chart_caps_come_from_arguments():
    frame = pd.DataFrame({"weight": [0.10]}, index=pd.Index(["AAPL"], name="symbol"))

    fig = weights_chart(frame, max_position_pct=0.08, max_inverse_allocation=0.25)

    assert by_name(fig, "cap").y == (0.08, 0.08)
    assert by_name(fig, "inverse cap").y == (0.25, 0.25)
    assert by_name(fig, "inverse total").y == (0.0,)
    assert by_name(fig, "positions").marker.color == (COLORS["breach"],)


def test_weights_chart_without_weight_column_raises_value_error():
    with pytest.raises(ValueError, match="weight"):
        weights_chart(pd.DataFrame({"qty": [1]}, index=["AAPL"]))


# ---------------------------------------------------------------- levels
def test_position_levels_chart_lines_at_position_stop_and_take_profit(protected_trader):
    row = protected_trader.positions().loc["AAPL"]

    fig = position_levels_chart(protected_trader, "AAPL")

    assert by_name(fig, "stop").y == (row["stop"], row["stop"]) == (143.88, 143.88)
    assert by_name(fig, "take-profit").y == (row["take_profit"], row["take_profit"]) == (174.17, 174.17)
    assert by_name(fig, "entry").y == (row["entry"], row["entry"])
    assert by_name(fig, "stop").name == "stop 143.88"


def test_position_levels_chart_candles_are_the_market_bars(protected_trader):
    fig = position_levels_chart(protected_trader, "AAPL", days=30)

    bars = protected_trader.market.bars("AAPL", start=fig.data[0].x[0].strftime("%Y-%m-%d"))
    candles = fig.data[0]
    assert isinstance(candles, go.Candlestick) and candles.name == "AAPL"
    assert list(candles.close) == bars["close"].tolist()
    assert 18 <= len(candles.close) <= 23  # about a month of trading days


def test_position_levels_chart_unknown_symbol_raises_value_error(protected_trader):
    with pytest.raises(ValueError, match="no open position in 'ZZZ'"):
        position_levels_chart(protected_trader, "ZZZ")


def test_levels_chart_missing_level_keeps_an_empty_trace():
    idx = pd.date_range("2024-08-19", periods=3, freq="D", tz="America/New_York")
    bars = pd.DataFrame({"open": [100.0, 101, 99], "high": [102.0, 103, 101],
                         "low": [99.0, 100, 97], "close": [101.0, 100, 98]}, index=idx)

    fig = levels_chart(bars, "XYZ", entry=100.0)

    assert len(fig.data) == 4
    assert by_name(fig, "stop").y == (None, None)
    assert by_name(fig, "stop").showlegend is False
    assert by_name(fig, "entry").y == (100.0, 100.0)


def test_levels_chart_selects_the_symbol_from_a_barset_frame():
    idx = pd.MultiIndex.from_product(
        [["AAA", "BBB"], pd.date_range("2024-08-19", periods=2, freq="D", tz="UTC")],
        names=["symbol", "timestamp"])
    bars = pd.DataFrame({"open": [1.0, 2, 10, 20], "high": [1.0, 2, 10, 20],
                         "low": [1.0, 2, 10, 20], "close": [1.5, 2.5, 10.5, 20.5]}, index=idx)

    fig = levels_chart(bars, "BBB")

    assert fig.data[0].close == (10.5, 20.5)


# ---------------------------------------------------------------- equity
def test_equity_chart_drawdown_from_running_peak():
    fig = equity_chart(pd.Series([100.0, 120.0, 90.0, 130.0]))

    assert by_name(fig, "equity").y == (100.0, 120.0, 90.0, 130.0)
    assert by_name(fig, "drawdown").y == (0.0, 0.0, -0.25, 0.0)
    assert "max drawdown -25.0%" in fig.layout.title.text


def test_equity_chart_drawdown_is_on_a_second_row():
    fig = equity_chart(pd.Series([100.0, 80.0], index=pd.date_range("2024-01-02", periods=2)))

    assert by_name(fig, "equity").yaxis == "y"
    assert by_name(fig, "drawdown").yaxis == "y2"
    assert fig.layout.yaxis2.domain[1] < fig.layout.yaxis.domain[0]


# ---------------------------------------------------------------- updating in place
def test_sentiment_chart_fig_updated_in_place(report):
    fig = sentiment_chart(report)
    names = [t.name for t in fig.data]

    again = sentiment_chart(sentiment={"AAPL": 50.0, "MSFT": 20.0}, overbought=75,
                            bearish_ratio=0.0, fig=fig)

    assert again is fig
    assert len(fig.data) == len(names)
    assert [type(t).__name__ for t in fig.data] == ["Bar", "Scatter", "Scatter", "Bar", "Scatter"]
    assert by_name(fig, "RSI").y == (50.0, 20.0)
    assert by_name(fig, "overbought").y == (75.0, 75.0)
    assert by_name(fig, "bearish ratio").y == (0.0,)


def test_weights_chart_fig_updated_in_place(protected_trader):
    fig = weights_chart(protected_trader.positions())
    count = len(fig.data)
    frame = pd.DataFrame({"weight": [0.05, 0.1], "inverse": [False, True]}, index=["KO", "SH"])

    again = weights_chart(frame, fig=fig)

    assert again is fig and len(fig.data) == count
    assert by_name(fig, "positions").y == (0.05,)
    assert by_name(fig, "inverse total").y == (0.1,)


def test_levels_chart_fig_updated_in_place(protected_trader):
    fig = position_levels_chart(protected_trader, "AAPL")

    again = position_levels_chart(protected_trader, "PG", fig=fig)

    row = protected_trader.positions().loc["PG"]
    assert again is fig and len(fig.data) == 4
    assert fig.data[0].name == "PG"
    assert by_name(fig, "stop").y == (row["stop"], row["stop"])


def test_equity_chart_fig_updated_in_place():
    fig = equity_chart(pd.Series([100.0, 120.0]))

    again = equity_chart(pd.Series([50.0, 40.0, 60.0]), fig=fig)

    assert again is fig and len(fig.data) == 2
    assert by_name(fig, "drawdown").y == pytest.approx((0.0, -0.2, 0.0))


def test_sentiment_chart_updates_a_figure_widget_in_place(report):
    widget = go.FigureWidget(sentiment_chart(report))
    before = len(widget.data)

    again = sentiment_chart(sentiment={"AAPL": 80.0}, bearish_ratio=1.0, fig=widget)

    assert again is widget
    assert len(widget.data) == before
    assert widget.data[0].y == (80.0,)
    assert widget.data[0].marker.color == (COLORS["overbought"],)


def test_equity_chart_updates_a_figure_widget_in_place():
    widget = go.FigureWidget(equity_chart(pd.Series([1.0, 2.0])))

    assert equity_chart(pd.Series([4.0, 2.0]), fig=widget) is widget
    assert widget.data[1].y == (0.0, -0.5)


def test_chart_given_another_charts_figure_raises_value_error():
    fig = equity_chart(pd.Series([1.0, 2.0]))

    with pytest.raises(ValueError, match=r"not made by sentiment_chart\(\)"):
        sentiment_chart(sentiment={"AAPL": 50.0}, fig=fig)
    with pytest.raises(ValueError, match=r"not made by weights_chart\(\)"):
        weights_chart(pd.DataFrame({"weight": [0.1]}, index=["A"]), fig=go.Figure())
    with pytest.raises(TypeError, match="plotly Figure"):
        equity_chart(pd.Series([1.0]), fig="figure")
