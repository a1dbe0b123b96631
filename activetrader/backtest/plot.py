"""The chart of a backtest: equity with trade markers, drawdown below (plotly).

Built once with fixed traces (``equity``, ``entries``, ``exits``, ``drawdown``, in that order);
pass ``fig=`` a figure this function returned before and it is updated in place inside
``fig.batch_update()``, as the charts of :mod:`activetrader.notebook.charts` are.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

_KIND = "backtest_chart"
COLORS = {"equity": "#1f77b4", "drawdown": "#d62728", "entry": "#1f77b4", "hedge": "#9467bd",
          "legacy": "#7f8c8d", "take_profit": "#2ca02c", "stop_loss": "#d62728", "trim": "#ff7f0e",
          "exit": "#8c564b", "passive": "#7f8c8d"}


def ny_naive(index: pd.Index) -> pd.Index:
    """Timestamps as New York wall time without a zone (plotly.js has no time zones); an index
    without a zone is left as it is."""
    if isinstance(index, pd.DatetimeIndex) and index.tz is not None:
        return index.tz_convert("America/New_York").tz_localize(None)
    return index


def _naive(index: pd.Index) -> list:
    """:func:`ny_naive` of a zoned index, as a list."""
    return list(ny_naive(pd.DatetimeIndex(index)))


def two_panels(**layout):
    """An empty figure of two stacked panels sharing the x axis: equity ($) above, drawdown below."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.05)
    fig.update_yaxes(title_text="equity ($)", tickprefix="$", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    fig.update_layout(template="plotly_white", height=480, margin=dict(t=60, b=40),
                      legend=dict(orientation="h", y=1.02, x=0, yanchor="bottom"), **layout)
    return fig


def _skeleton():
    import plotly.graph_objects as go

    fig = two_panels(hovermode="closest")
    fig.add_trace(go.Scatter(name="equity", x=[], y=[], mode="lines", line=dict(color=COLORS["equity"], width=2),
                             hovertemplate="%{x}<br>equity $%{y:,.2f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(name="entries", x=[], y=[], mode="markers", text=[],
                             marker=dict(symbol="triangle-up", size=9, color=COLORS["entry"]),
                             hovertemplate="%{text}<extra>entry</extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(name="exits", x=[], y=[], mode="markers", text=[],
                             marker=dict(symbol="triangle-down", size=9, color=[]),
                             hovertemplate="%{text}<extra>exit</extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(name="drawdown", x=[], y=[], mode="lines", fill="tozeroy",
                             line=dict(color=COLORS["drawdown"], width=1),
                             hovertemplate="%{x}<br>drawdown %{y:.1%}<extra></extra>"), row=2, col=1)
    return fig


def reuse(fig, kind: str, build, *, made_by: str | None = None):
    """``fig`` itself when chart ``kind`` made it (its ``layout.meta``); a new one from ``build``
    for None. ``made_by`` names the chart in the errors (default ``this chart (<kind>)``)."""
    from plotly.basedatatypes import BaseFigure

    made_by = made_by or f"this chart ({kind})"
    if fig is None:
        figure = build()
        figure.layout.meta = {**(figure.layout.meta or {}), "activetrader_chart": kind}
        return figure
    if not isinstance(fig, BaseFigure):
        raise TypeError(f"fig must be a plotly Figure or FigureWidget returned by {made_by}, "
                        f"not {type(fig).__name__}")
    meta = fig.layout.meta
    if not (isinstance(meta, Mapping) and meta.get("activetrader_chart") == kind):
        raise ValueError(f"fig was not made by {made_by}: pass a figure it returned, or None")
    return fig


def _at(equity: pd.Series, times: pd.Series) -> list[float]:
    """Equity at (or just before) each time, to place a marker on the curve."""
    if equity.empty or times.empty:
        return []
    idx = equity.index.searchsorted(pd.DatetimeIndex(times), side="right") - 1
    return [float(equity.iloc[max(i, 0)]) for i in idx]


def result_chart(result, *, fig=None):
    """The chart of one :class:`~activetrader.backtest.BacktestResult` (see the module docstring).

    >>> from activetrader.backtest.result import BacktestResult
    >>> eq = pd.Series([100.0, 200.0, 150.0], index=pd.date_range("2024-01-02", periods=3, tz="America/New_York"))
    >>> trades = pd.DataFrame(columns=["symbol", "qty", "entry_time", "exit_time", "exit_price", "entry_price",
    ...                                "exit_reason", "gap", "purpose", "pnl"])
    >>> r = BacktestResult(eq, trades, pd.DataFrame(), pd.Series(dtype=float), ())
    >>> fig = result_chart(r)
    >>> [t.name for t in fig.data], fig.data[3].y
    (['equity', 'entries', 'exits', 'drawdown'], (0.0, 0.0, -0.25))
    """
    fig = reuse(fig, _KIND, _skeleton)
    eq, t = result.equity, result.trades
    entries = t.dropna(subset=["entry_time"])
    exits = t[t["exit_reason"] != "open"]
    with fig.batch_update():
        curve, ent, ex, dd = fig.data
        curve.x, curve.y = _naive(eq.index), eq.tolist()
        dd.x, dd.y = _naive(eq.index), result.drawdown.tolist()
        ent.x = _naive(entries["entry_time"]) if len(entries) else []
        ent.y = _at(eq, entries["entry_time"])
        ent.text = [f"{r.symbol} {r.qty:g} sh @ {r.entry_price:,.2f} ({r.purpose})" for r in entries.itertuples()]
        ex.x = _naive(exits["exit_time"]) if len(exits) else []
        ex.y = _at(eq, exits["exit_time"])
        ex.text = [f"{r.symbol} {r.qty:g} sh @ {r.exit_price:,.2f}: {r.exit_reason}"
                   f"{' (gapped)' if r.gap else ''}, P/L ${r.pnl:,.2f}" for r in exits.itertuples()]
        ex.marker.color = [COLORS.get(r, "#444") for r in exits["exit_reason"]]
        ex.marker.symbol = ["x" if g else "triangle-down" for g in exits["gap"]]
        if len(eq):
            first, last = float(eq.iloc[0]), float(eq.iloc[-1])
            text = (f"{result.strategy}: equity {first:,.0f} -> {last:,.0f} ({last / first - 1:+.1%}), "
                    f"max drawdown {float(result.drawdown.min()):.1%}")
        else:
            text = "Backtest (no data)"
        fig.layout.title = dict(text=text, font=dict(size=15))
    return fig
