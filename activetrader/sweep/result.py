"""What a sweep returns: one row per combination, the best ones, any row's settings, a heatmap."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from ..settings import Settings

#: Stats where smaller is better; every other metric ranks larger first. ``max_drawdown`` and
#: ``worst_trade``/``worst_gap_loss`` are negative fractions, so larger (nearer 0) is better.
LOWER_IS_BETTER = frozenset({"volatility", "gapped_stops", "elapsed_s", "exposure", "inverse_exposure"})


def rank(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``table`` best first by ``metric`` (NaN last); ties keep grid order."""
    if metric not in table.columns:
        raise KeyError(f"metric {metric!r} is not a column: choose one of {', '.join(map(str, table.columns))}")
    return table.sort_values(metric, ascending=metric in LOWER_IS_BETTER, kind="stable", na_position="last")


@dataclass(repr=False)
class SweepResult:
    """The outcome of :func:`~activetrader.sweep.sweep`.

    ``table`` has one row per combination (in grid order): a column per swept setting, named by
    its path (``bracket.stop_loss_pct``), then the backtest's ``stats`` columns.
    """

    table: pd.DataFrame
    params: list[str]
    metric: str
    _settings: list[Settings] = field(default_factory=list)
    elapsed_s: float = 0.0

    def best(self, n: int = 5, metric: str | None = None) -> pd.DataFrame:
        """The ``n`` best rows by ``metric`` (default: the sweep's metric)."""
        return rank(self.table, metric or self.metric).head(n)

    def settings(self, row: int | None = None) -> Settings:
        """The full :class:`~activetrader.settings.Settings` of a row (default: the best one)."""
        if row is None:
            row = int(self.best(1).index[0])
        if not 0 <= row < len(self._settings):
            raise IndexError(f"row {row} is not in this sweep (0..{len(self._settings) - 1})")
        return self._settings[row].copy()

    def heatmap(self, x: str, y: str, metric: str | None = None, *, fig=None):
        """A plotly heatmap of ``metric`` over two swept settings (the best value where other
        swept settings vary)."""
        import plotly.graph_objects as go

        metric = metric or self.metric
        for name in (x, y):
            if name not in self.params:
                raise KeyError(f"{name!r} was not swept: choose from {', '.join(self.params)}")
        rank(self.table, metric)  # validates the metric name
        agg = "min" if metric in LOWER_IS_BETTER else "max"
        grid = self.table.pivot_table(index=y, columns=x, values=metric, aggfunc=agg)
        fig = fig if fig is not None else go.Figure()
        with fig.batch_update():
            fig.data = ()
            fig.add_trace(go.Heatmap(z=grid.values, x=[str(v) for v in grid.columns], y=[str(v) for v in grid.index],
                                     colorscale="RdYlGn_r" if agg == "min" else "RdYlGn",
                                     colorbar=dict(title=metric), hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{metric}=%{{z:.4g}}<extra></extra>"))
            fig.update_layout(title=f"{metric} by {x} and {y}", xaxis_title=x, yaxis_title=y)
        return fig

    def __repr__(self) -> str:
        top = self.best(5)[self.params + [self.metric]]
        return (f"SweepResult: {len(self.table)} combinations of {', '.join(self.params)} "
                f"in {self.elapsed_s:.1f} s; best by {self.metric}:\n{top.to_string()}")

    def _repr_html_(self) -> str:
        top = self.best(5)[self.params + [c for c in ("total_return", "sharpe", "max_drawdown") if c in self.table]
                           + ([self.metric] if self.metric not in ("total_return", "sharpe", "max_drawdown") else [])]
        return (f"<p><b>Sweep</b>: {len(self.table)} combinations of {html.escape(', '.join(self.params))} "
                f"in {self.elapsed_s:.1f} s; best by <code>{html.escape(self.metric)}</code>:</p>"
                + top.to_html(float_format=lambda v: f"{v:.4g}"))


@dataclass(repr=False)
class WalkForwardResult:
    """The outcome of :func:`~activetrader.sweep.walk_forward`.

    ``windows`` has one row per window: its train and test dates, the chosen value of each
    swept setting, ``in_sample`` (the chosen combination's metric on the training window) and
    ``out_of_sample`` (the same settings' metric on the test window that follows), plus
    ``oos_return``. The honest figure is ``out_of_sample``.
    """

    windows: pd.DataFrame
    params: list[str]
    metric: str
    elapsed_s: float = 0.0

    @property
    def out_of_sample(self) -> float:
        """The mean out-of-sample metric over the windows."""
        return float(self.windows["out_of_sample"].mean())

    @property
    def in_sample(self) -> float:
        """The mean in-sample metric of the chosen settings (optimistic by construction)."""
        return float(self.windows["in_sample"].mean())

    @property
    def oos_total_return(self) -> float:
        """The test windows' returns compounded, as if the chosen settings were traded in turn."""
        return float((1 + self.windows["oos_return"]).prod() - 1)

    def plot(self, *, fig=None):
        """Bars of the in-sample and out-of-sample metric per window."""
        import plotly.graph_objects as go

        labels = [f"{a:%Y-%m-%d}..{b:%Y-%m-%d}" for a, b in zip(self.windows["test_start"], self.windows["test_end"])]
        fig = fig if fig is not None else go.Figure()
        with fig.batch_update():
            fig.data = ()
            fig.add_bar(name=f"in-sample {self.metric}", x=labels, y=self.windows["in_sample"])
            fig.add_bar(name=f"out-of-sample {self.metric}", x=labels, y=self.windows["out_of_sample"])
            fig.update_layout(barmode="group", title=f"Walk-forward: {self.metric} chosen in-sample vs out-of-sample",
                              xaxis_title="test window")
        return fig

    def __repr__(self) -> str:
        cols = ["test_start", "test_end", *self.params, "in_sample", "out_of_sample"]
        return (f"WalkForwardResult: {len(self.windows)} windows, {self.metric} in-sample {self.in_sample:.3f}, "
                f"out-of-sample {self.out_of_sample:.3f}, out-of-sample return {self.oos_total_return:.2%}\n"
                f"{self.windows[cols].to_string()}")

    def _repr_html_(self) -> str:
        cols = ["test_start", "test_end", *self.params, "in_sample", "out_of_sample"]
        return (f"<p><b>Walk-forward</b>: {len(self.windows)} windows; <code>{html.escape(self.metric)}</code> "
                f"in-sample {self.in_sample:.3f}, <b>out-of-sample {self.out_of_sample:.3f}</b>, "
                f"out-of-sample return {self.oos_total_return:.2%}</p>"
                + self.windows[cols].to_html(float_format=lambda v: f"{v:.4g}"))
