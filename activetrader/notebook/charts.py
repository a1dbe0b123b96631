"""Plotly charts of the strategy's numbers: sentiment, weights, bracket levels, equity.

Every chart is a pure function of data that returns a ``go.Figure``. Pass ``fig=`` a figure
(or a ``go.FigureWidget``) that the same function returned before and it is updated in place,
inside ``fig.batch_update()``, with the same traces in the same order, so a widget in a panel
redraws without flicker. Reference lines are named scatter traces (``"overbought 70"``,
``"cap 15%"``, ``"stop 143.88"``), so tests and code can read them from ``fig.data``.

>>> fig = sentiment_chart(sentiment={"AAPL": 71.7, "MSFT": 59.3}, bearish_ratio=0.5)
>>> [t.name for t in fig.data]
['RSI', 'overbought 70', 'oversold 30', 'bearish ratio', 'threshold 60%']
>>> fig.data[0].y
(71.7, 59.3)
>>> fig is sentiment_chart(sentiment={"AAPL": 40.0, "MSFT": 20.0}, bearish_ratio=0.0, fig=fig)
True
>>> fig.data[0].y
(40.0, 20.0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..backtest.plot import ny_naive, reuse
from ..backtest.stats import drawdown as _drawdown

__all__ = ["COLORS", "sentiment_chart", "weights_chart", "levels_chart", "position_levels_chart",
           "equity_chart"]

#: The colour scheme shared by every chart (and usable by panels around them).
COLORS: dict[str, str] = {
    "neutral": "#7f8c8d",      # an RSI between oversold and overbought
    "missing": "#d5d8dc",      # no value (not enough bars)
    "overbought": "#d62728",   # RSI above overbought, a bearish ratio at its threshold
    "oversold": "#2ca02c",     # RSI below oversold
    "long": "#1f77b4",         # an ordinary position, the equity curve
    "inverse": "#9467bd",      # inverse-ETF positions and their total
    "breach": "#ff7f0e",       # a bar above its cap
    "cap": "#444444",          # cap and threshold lines
    "entry": "#1f77b4",
    "stop": "#d62728",
    "take_profit": "#2ca02c",
    "up": "#26a69a",           # candlestick up / down
    "down": "#ef5350",
    "drawdown": "#d62728",
}

_TEMPLATE = "plotly_white"
_NY = "America/New_York"
_EPS = 1e-9


# ---------------------------------------------------------------- shared plumbing
def _reuse(fig: Any, kind: str, build: Callable[[], go.Figure]) -> go.Figure:
    """``fig`` itself when it was made by chart ``kind``; a fresh skeleton when it is None."""
    return reuse(fig, kind, build, made_by=f"{kind}()")


def _span_axis(fig: go.Figure, axis: int, over: str) -> None:
    """Add hidden x axis number ``axis`` overlaying ``over``, ranging 0..1: a trace on it with
    ``x=[0, 1]`` spans the whole width of the subplot, whatever its categories or zoom."""
    fig.layout[f"xaxis{axis}"] = dict(overlaying=over, range=[0, 1], visible=False, fixedrange=True)


def _hline(name: str, yaxis: str, xaxis: str, color: str, dash: str = "dash") -> go.Scatter:
    return go.Scatter(name=name, x=[0, 1], y=[None, None], mode="lines", xaxis=xaxis, yaxis=yaxis,
                      line=dict(color=color, dash=dash, width=1.5), hoverinfo="name")


def _set_hline(trace: Any, name: str, y: float | None) -> None:
    trace.name = name
    trace.y = [y, y]
    trace.showlegend = y is not None


def _pct(x: float) -> str:
    return f"{x:.0%}" if abs(x * 100 - round(x * 100)) < 1e-6 else f"{x:.1%}"


# ---------------------------------------------------------------- sentiment
def _sentiment_skeleton() -> go.Figure:
    fig = make_subplots(rows=1, cols=2, column_widths=[0.8, 0.2], horizontal_spacing=0.1,
                        subplot_titles=("RSI per sentiment symbol", "Bearish ratio"))
    _span_axis(fig, 3, "x")
    _span_axis(fig, 4, "x2")
    fig.add_trace(go.Bar(name="RSI", x=[], y=[], textposition="outside", cliponaxis=False,
                         hovertemplate="%{x}: RSI %{y:.1f}<extra></extra>"), row=1, col=1)
    fig.add_trace(_hline("overbought", "y", "x3", COLORS["overbought"]))
    fig.add_trace(_hline("oversold", "y", "x3", COLORS["oversold"]))
    fig.add_trace(go.Bar(name="bearish ratio", x=["bearish ratio"], y=[None], textposition="outside",
                         cliponaxis=False, hovertemplate="bearish ratio %{y:.0%}<extra></extra>"),
                  row=1, col=2)
    fig.add_trace(_hline("threshold", "y2", "x4", COLORS["cap"]))
    fig.update_yaxes(title_text="RSI", range=[0, 105], row=1, col=1)
    fig.update_yaxes(range=[0, 1.08], tickformat=".0%", row=1, col=2)
    fig.update_layout(template=_TEMPLATE, height=380, bargap=0.35, showlegend=True,
                      legend=dict(orientation="h", y=-0.15), margin=dict(t=70, b=40))
    return fig


def sentiment_chart(report: Any = None, *, sentiment: Mapping[str, float | None] | None = None,
                    overbought: float | None = None, oversold: float | None = None,
                    bearish_ratio: float | None = None, threshold: float | None = None,
                    at: Any = None, fig: go.Figure | None = None) -> go.Figure:
    """RSI per sentiment symbol against the overbought/oversold lines, and the bearish ratio
    against its threshold.

    ``report`` (an :class:`~activetrader.report.IterationReport`) supplies every value; the
    keywords chart data without a report, or override a report's value (``at``: the moment
    named in the title, by default the report's timestamp). Defaults:
    ``overbought=70``, ``oversold=30``, ``threshold=0.6``; without a ``bearish_ratio`` the
    ratio bar is left empty (the chart does not recompute the strategy's rule). Bars are
    coloured by zone: above ``overbought`` red, below ``oversold`` green, else grey.

    Traces, in order: ``RSI`` (bars, one per symbol; ``None`` for a symbol without enough
    bars), ``overbought <v>``, ``oversold <v>``, ``bearish ratio`` (one bar),
    ``threshold <v%>``.

    >>> from activetrader import Trader
    >>> report = Trader().iteration(dry_run=True)
    >>> fig = sentiment_chart(report)
    >>> list(fig.data[0].x) == list(report.sentiment), fig.data[1].y, fig.data[4].y
    (True, (70.0, 70.0), (0.6, 0.6))
    """
    if report is not None:
        sentiment = report.sentiment if sentiment is None else sentiment
        overbought = report.overbought if overbought is None else overbought
        oversold = report.oversold if oversold is None else oversold
        bearish_ratio = report.bearish_ratio if bearish_ratio is None else bearish_ratio
        threshold = report.bearish_threshold if threshold is None else threshold
    sentiment = dict(sentiment or {})
    overbought = 70.0 if overbought is None else float(overbought)
    oversold = 30.0 if oversold is None else float(oversold)
    threshold = 0.6 if threshold is None else float(threshold)

    symbols = list(sentiment)
    values = [None if v is None or pd.isna(v) else float(v) for v in sentiment.values()]
    colors = [COLORS["missing"] if v is None else COLORS["overbought"] if v > overbought
              else COLORS["oversold"] if v < oversold else COLORS["neutral"] for v in values]
    hot = sum(1 for v in values if v is not None and v > overbought)
    bearish = bearish_ratio is not None and bearish_ratio >= threshold - _EPS
    if at is None and report is not None:
        at = getattr(report, "timestamp", None)
    when = "" if at is None else f" at {pd.Timestamp(at).tz_convert(_NY):%Y-%m-%d %H:%M} ET"

    fig = _reuse(fig, "sentiment_chart", _sentiment_skeleton)
    with fig.batch_update():
        rsi, ob, os_, ratio, thr = fig.data
        rsi.x, rsi.y = symbols, values
        rsi.marker.color = colors
        rsi.text = ["n/a" if v is None else f"{v:.1f}" for v in values]
        _set_hline(ob, f"overbought {overbought:g}", overbought)
        _set_hline(os_, f"oversold {oversold:g}", oversold)
        ratio.y = [bearish_ratio]
        ratio.marker.color = [COLORS["overbought"] if bearish else COLORS["neutral"]]
        ratio.text = ["n/a" if bearish_ratio is None else _pct(bearish_ratio)]
        _set_hline(thr, f"threshold {_pct(threshold)}", threshold)
        verdict = ("" if bearish_ratio is None else
                   f"; bearish ratio {_pct(bearish_ratio)} {'>=' if bearish else '<'} {_pct(threshold)}"
                   f" -> {'BEARISH' if bearish else 'not bearish'}")
        fig.layout.title = dict(text=f"Market sentiment{when}: {hot} of {len(symbols)} overbought"
                                     f" (RSI > {overbought:g}){verdict}", font=dict(size=15))
    return fig


# ---------------------------------------------------------------- weights
def _weights_skeleton() -> go.Figure:
    fig = make_subplots(rows=1, cols=2, column_widths=[0.8, 0.2], horizontal_spacing=0.1,
                        subplot_titles=("Position weights", "Inverse ETFs"))
    _span_axis(fig, 3, "x")
    _span_axis(fig, 4, "x2")
    hover = "%{x}: %{y:.1%} of equity<extra>%{fullData.name}</extra>"
    fig.add_trace(go.Bar(name="positions", x=[], y=[], marker_color=COLORS["long"],
                         hovertemplate=hover), row=1, col=1)
    fig.add_trace(go.Bar(name="inverse ETFs", x=[], y=[], marker_color=COLORS["inverse"],
                         hovertemplate=hover), row=1, col=1)
    fig.add_trace(_hline("cap", "y", "x3", COLORS["cap"]))
    fig.add_trace(go.Bar(name="inverse total", x=["inverse total"], y=[0.0], textposition="outside",
                         cliponaxis=False, hovertemplate="inverse total %{y:.1%}<extra></extra>"),
                  row=1, col=2)
    fig.add_trace(_hline("inverse cap", "y2", "x4", COLORS["inverse"]))
    fig.update_yaxes(title_text="share of equity", tickformat=".0%", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", row=1, col=2)
    fig.update_layout(template=_TEMPLATE, height=380, barmode="overlay", bargap=0.35,
                      legend=dict(orientation="h", y=-0.15), margin=dict(t=70, b=40))
    return fig


def weights_chart(positions: pd.DataFrame, *, max_position_pct: float = 0.15,
                  max_inverse_allocation: float = 0.20, fig: go.Figure | None = None) -> go.Figure:
    """Each position's weight against the per-position cap, and the inverse ETFs' total
    against the inverse cap.

    ``positions`` is shaped like :meth:`activetrader.Trader.positions`: indexed by symbol (or
    with a ``symbol`` column), with ``weight`` and, optionally, ``inverse`` columns. Pass the
    caps from the settings (``rebalance.max_position_pct``, ``hedge.max_inverse_allocation``).
    A bar above its cap is drawn in orange.

    Traces, in order: ``positions`` (bars of the ordinary positions), ``inverse ETFs`` (bars),
    ``cap <v%>``, ``inverse total`` (one bar), ``inverse cap <v%>``.

    >>> frame = pd.DataFrame({"weight": [0.16, 0.05, 0.12], "inverse": [False, False, True]},
    ...                      index=pd.Index(["ADBE", "PG", "SH"], name="symbol"))
    >>> fig = weights_chart(frame)
    >>> fig.data[0].x, fig.data[0].y, fig.data[1].y, fig.data[2].y, fig.data[3].y, fig.data[4].y
    (('ADBE', 'PG'), (0.16, 0.05), (0.12,), (0.15, 0.15), (0.12,), (0.2, 0.2))
    """
    frame = positions
    if "weight" not in frame.columns:
        raise ValueError("positions needs a 'weight' column (as Trader.positions() returns)")
    symbols = [str(s) for s in (frame["symbol"] if "symbol" in frame.columns else frame.index)]
    weights = [float(w) for w in frame["weight"]]
    inverse = ([bool(x) for x in frame["inverse"]] if "inverse" in frame.columns
               else [False] * len(symbols))
    longs = [(s, w) for s, w, inv in zip(symbols, weights, inverse, strict=True) if not inv]
    invs = [(s, w) for s, w, inv in zip(symbols, weights, inverse, strict=True) if inv]
    total = sum(w for _, w in invs)
    cap, inv_cap = float(max_position_pct), float(max_inverse_allocation)

    def colored(rows: list[tuple[str, float]], normal: str) -> list[str]:
        return [COLORS["breach"] if w > cap + _EPS else normal for _, w in rows]

    fig = _reuse(fig, "weights_chart", _weights_skeleton)
    with fig.batch_update():
        long_bars, inv_bars, cap_line, total_bar, inv_line = fig.data
        long_bars.x, long_bars.y = [s for s, _ in longs], [w for _, w in longs]
        long_bars.marker.color = colored(longs, COLORS["long"])
        inv_bars.x, inv_bars.y = [s for s, _ in invs], [w for _, w in invs]
        inv_bars.marker.color = colored(invs, COLORS["inverse"])
        _set_hline(cap_line, f"cap {_pct(cap)}", cap)
        total_bar.y = [total]
        total_bar.text = [_pct(total)]
        total_bar.marker.color = [COLORS["breach"] if total > inv_cap + _EPS else COLORS["inverse"]]
        _set_hline(inv_line, f"inverse cap {_pct(inv_cap)}", inv_cap)
        fig.layout.xaxis.categoryorder = "array"
        fig.layout.xaxis.categoryarray = symbols
        over = sum(1 for w in weights if w > cap + _EPS)
        fig.layout.title = dict(
            text=f"Weights: {len(symbols)} positions, {over} above the {_pct(cap)} cap; "
                 f"inverse ETFs {_pct(total)} of {_pct(inv_cap)}", font=dict(size=15))
    return fig


# ---------------------------------------------------------------- bracket levels
_LEVELS = (("entry", "entry", "dot"), ("stop", "stop", "dash"), ("take-profit", "take_profit", "dash"))


def _levels_skeleton() -> go.Figure:
    fig = go.Figure()
    _span_axis(fig, 2, "x")
    fig.add_trace(go.Candlestick(name="price", x=[], open=[], high=[], low=[], close=[],
                                 increasing_line_color=COLORS["up"],
                                 decreasing_line_color=COLORS["down"]))
    for label, color, dash in _LEVELS:
        fig.add_trace(_hline(label, "y", "x2", COLORS[color], dash))
    fig.layout.xaxis.update(rangeslider_visible=False, rangebreaks=[dict(bounds=["sat", "mon"])],
                            title_text="New York time")
    fig.update_layout(template=_TEMPLATE, height=420, yaxis_title="price ($)", hovermode="x",
                      legend=dict(orientation="h", y=-0.2), margin=dict(t=60, b=40))
    return fig


def _symbol_bars(bars: pd.DataFrame, symbol: str) -> pd.DataFrame:
    if isinstance(bars.index, pd.MultiIndex) and "symbol" in bars.index.names:
        if symbol not in bars.index.get_level_values("symbol"):
            raise ValueError(f"no bars for {symbol!r} in the frame")
        bars = bars.xs(symbol, level="symbol")
    elif "symbol" in bars.columns:
        bars = bars[bars["symbol"] == symbol]
        bars = bars.set_index("timestamp") if "timestamp" in bars.columns else bars
    missing = [c for c in ("open", "high", "low", "close") if c not in bars.columns]
    if missing:
        raise ValueError(f"bars need open, high, low and close columns (missing {', '.join(missing)})")
    return bars


def levels_chart(bars: pd.DataFrame, symbol: str, *, entry: float | None = None,
                 stop: float | None = None, take_profit: float | None = None,
                 fig: go.Figure | None = None) -> go.Figure:
    """Candlesticks of ``symbol`` with horizontal lines at its entry, stop and take-profit.

    ``bars`` is shaped like alpaca-py's ``BarSet.df`` (index ``(symbol, timestamp)``, as
    ``trader.market.bars`` returns) or is one symbol's frame indexed by time. A level left
    ``None`` is not drawn (its trace stays, empty and out of the legend). Times are shown as
    New York wall time.

    Traces, in order: ``price`` (candlestick), ``entry <v>``, ``stop <v>``,
    ``take-profit <v>``.

    >>> idx = pd.date_range("2024-08-19", periods=3, freq="D", tz="America/New_York")
    >>> bars = pd.DataFrame({"open": [100.0, 101, 99], "high": [102.0, 103, 101],
    ...                      "low": [99.0, 100, 97], "close": [101.0, 100, 98]}, index=idx)
    >>> fig = levels_chart(bars, "XYZ", entry=100.0, stop=95.0, take_profit=115.0)
    >>> [(t.name, t.y) for t in fig.data[1:]]
    [('entry 100.00', (100.0, 100.0)), ('stop 95.00', (95.0, 95.0)), ('take-profit 115.00', (115.0, 115.0))]
    """
    frame = _symbol_bars(bars, symbol)
    x = ny_naive(frame.index)
    levels = {"entry": entry, "stop": stop, "take-profit": take_profit}
    fig = _reuse(fig, "levels_chart", _levels_skeleton)
    with fig.batch_update():
        price = fig.data[0]
        price.name = symbol
        price.x = list(x)
        price.open, price.high = frame["open"].astype(float).tolist(), frame["high"].astype(float).tolist()
        price.low, price.close = frame["low"].astype(float).tolist(), frame["close"].astype(float).tolist()
        for trace, (label, value) in zip(fig.data[1:], levels.items(), strict=True):
            value = None if value is None or pd.isna(value) else float(value)
            _set_hline(trace, label if value is None else f"{label} {value:.2f}", value)
        shown = [f"{k} {v:,.2f}" for k, v in levels.items() if v is not None and not pd.isna(v)]
        fig.layout.title = dict(text=f"{symbol}" + (f": {' / '.join(shown)}" if shown else ""),
                                font=dict(size=15))
    return fig


def position_levels_chart(trader: Any, symbol: str, fig: go.Figure | None = None, *,
                          days: int = 120) -> go.Figure:
    """:func:`levels_chart` of a held position: the last ``days`` calendar days of bars from
    ``trader.market`` and the entry, stop and take-profit from ``trader.positions()`` (the
    stop and take-profit are the broker-side orders; ``None`` while unprotected).

    >>> from activetrader import Trader
    >>> trader = Trader()
    >>> _ = trader.iteration()              # protects every position with an OCO order
    >>> fig = position_levels_chart(trader, "AAPL")
    >>> fig.data[2].name, fig.data[3].name
    ('stop 143.88', 'take-profit 174.17')
    """
    positions = trader.positions()
    if symbol not in positions.index:
        held = ", ".join(positions.index) or "none"
        raise ValueError(f"no open position in {symbol!r} (held: {held})")
    row = positions.loc[symbol]
    start = (pd.Timestamp(trader.now) - pd.Timedelta(days=days)).tz_convert(_NY).date()
    bars = trader.market.bars(symbol, start=start)
    return levels_chart(bars, symbol, entry=row["entry"], stop=row["stop"],
                        take_profit=row["take_profit"], fig=fig)


# ---------------------------------------------------------------- equity
def _equity_skeleton() -> go.Figure:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                        vertical_spacing=0.06)
    fig.add_trace(go.Scatter(name="equity", x=[], y=[], mode="lines",
                             line=dict(color=COLORS["long"], width=2),
                             hovertemplate="%{x}<br>equity $%{y:,.2f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(name="drawdown", x=[], y=[], mode="lines", fill="tozeroy",
                             line=dict(color=COLORS["drawdown"], width=1),
                             hovertemplate="%{x}<br>drawdown %{y:.1%}<extra></extra>"), row=2, col=1)
    fig.update_yaxes(title_text="equity ($)", tickprefix="$", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", rangemode="tozero", row=2, col=1)
    fig.update_layout(template=_TEMPLATE, height=460, hovermode="x unified", showlegend=False,
                      margin=dict(t=60, b=40))
    return fig


def equity_chart(equity: pd.Series, *, fig: go.Figure | None = None) -> go.Figure:
    """An equity curve and, below it, its drawdown: ``equity / equity.cummax() - 1``.

    Traces, in order: ``equity`` and ``drawdown`` (fractions, 0 at a new high).

    >>> fig = equity_chart(pd.Series([100.0, 120.0, 90.0, 130.0]))
    >>> fig.data[1].y
    (0.0, 0.0, -0.25, 0.0)
    >>> fig.layout.title.text
    'Equity 100.00 -> 130.00 (+30.0%), max drawdown -25.0%'
    """
    series = pd.Series(equity, dtype=float).dropna()
    drawdown = _drawdown(series)
    x = ny_naive(series.index)
    fig = _reuse(fig, "equity_chart", _equity_skeleton)
    with fig.batch_update():
        curve, dd = fig.data
        curve.x, curve.y = list(x), series.tolist()
        dd.x, dd.y = list(x), [float(v) for v in drawdown]
        if len(series):
            first, last = float(series.iloc[0]), float(series.iloc[-1])
            change = f" ({last / first - 1:+.1%})" if first else ""
            text = (f"Equity {first:,.2f} -> {last:,.2f}{change}, "
                    f"max drawdown {float(drawdown.min()):.1%}")
        else:
            text = "Equity (no data)"
        fig.layout.title = dict(text=text, font=dict(size=15))
    return fig
