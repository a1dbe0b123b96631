"""Before and after: backtest results side by side (a stats table and one chart).

>>> import pandas as pd
>>> from activetrader.backtest.result import BacktestResult
>>> from activetrader.backtest.stats import compute
>>> def result(values):
...     eq = pd.Series(values, index=pd.date_range("2024-01-02", periods=len(values), tz="America/New_York"))
...     trades = pd.DataFrame(columns=["exit_reason", "pnl", "return_pct", "gap"])
...     stats = compute(eq, trades, iterations=len(values), elapsed_s=0.0)
...     return BacktestResult(eq, trades, pd.DataFrame(), stats, ())
>>> c = compare({"passive": result([100.0, 105.0]), "active": result([100.0, 90.0, 110.0])})
>>> c.table.loc["total_return"].round(2).tolist(), c.best("total_return")
([0.05, 0.1], 'active')
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import pandas as pd

from .plot import _naive, reuse, two_panels
from .result import SHOWN, BacktestResult, fmt_stat
from .stats import STATS

_KIND = "backtest_compare"
_PALETTE = ("#1f77b4", "#7f8c8d", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


class Comparison:
    """Several :class:`BacktestResult` under names: ``table`` (stats, one column per result),
    ``equity`` (the curves, one column each), :meth:`plot`, and text/HTML reprs."""

    def __init__(self, results: Mapping[str, BacktestResult]) -> None:
        if not isinstance(results, Mapping) or not results:
            raise ValueError("compare() needs a non-empty dict of {name: BacktestResult}")
        for name, r in results.items():
            if not isinstance(r, BacktestResult):
                raise TypeError(f"compare(): {name!r} is a {type(r).__name__}, not a BacktestResult")
        self.results = dict(results)

    @property
    def table(self) -> pd.DataFrame:
        """Stats side by side: one row per stat (``STATS`` order), one column per result."""
        return pd.DataFrame({name: r.stats for name, r in self.results.items()}).reindex(list(STATS))

    @property
    def equity(self) -> pd.DataFrame:
        """Equity curves, one column per result (aligned on time; gaps where one has no point)."""
        return pd.DataFrame({name: r.equity for name, r in self.results.items()})

    def best(self, stat: str) -> str:
        """The name with the highest ``stat`` (e.g. ``"total_return"``, ``"sharpe"``)."""
        return str(self.table.loc[stat].astype(float).idxmax())

    def plot(self, fig=None):
        """One chart: every equity curve above, every drawdown below. ``fig=`` updates a figure
        this method returned before, in place (traces ``equity <name>`` then ``drawdown <name>``)."""
        names = list(self.results)

        def build():
            import plotly.graph_objects as go

            f = two_panels()
            for i, n in enumerate(names):
                f.add_trace(go.Scatter(name=n, x=[], y=[], mode="lines", legendgroup=n,
                                       line=dict(color=_PALETTE[i % len(_PALETTE)], width=2),
                                       hovertemplate=f"{n}<br>%{{x}}<br>$%{{y:,.2f}}<extra></extra>"), row=1, col=1)
            for i, n in enumerate(names):
                f.add_trace(go.Scatter(name=f"drawdown {n}", x=[], y=[], mode="lines", legendgroup=n,
                                       showlegend=False, line=dict(color=_PALETTE[i % len(_PALETTE)], width=1),
                                       hovertemplate=f"{n}<br>%{{x}}<br>drawdown %{{y:.1%}}<extra></extra>"),
                            row=2, col=1)
            f.layout.meta = {"names": names}
            return f

        fig = reuse(fig, _KIND, build)
        if list(fig.layout.meta.get("names", [])) != names:
            raise ValueError(f"fig was drawn for {list(fig.layout.meta.get('names', []))}, not {names}")
        with fig.batch_update():
            for i, (n, r) in enumerate(self.results.items()):
                fig.data[i].x, fig.data[i].y = _naive(r.equity.index), r.equity.tolist()
                fig.data[len(names) + i].x = _naive(r.equity.index)
                fig.data[len(names) + i].y = r.drawdown.tolist()
            summary = ", ".join(f"{n} {fmt_stat('total_return', r.stats['total_return'])}"
                                for n, r in self.results.items())
            fig.layout.title = dict(text=f"Equity: {summary}", font=dict(size=15))
        return fig

    def _formatted(self) -> pd.DataFrame:
        t = self.table.reindex(list(SHOWN))
        return pd.DataFrame({c: [fmt_stat(k, t.at[k, c]) for k in t.index] for c in t.columns}, index=t.index)

    def _footer(self) -> str:
        return "; ".join(f"{n}: {int(r.stats['iterations'])} iterations in {r.stats['elapsed_s']:.2f}s"
                         for n, r in self.results.items())

    def __repr__(self) -> str:
        return f"Comparison({', '.join(self.results)})\n{self._formatted().to_string()}\n{self._footer()}"

    def _repr_html_(self) -> str:
        return (f"<div class='activetrader-compare'><h4>Backtests: {html.escape(', '.join(self.results))}</h4>"
                f"{self._formatted().to_html()}<p>{html.escape(self._footer())}</p></div>")


def compare(results: Mapping[str, BacktestResult]) -> Comparison:
    """Put backtest results side by side: ``compare({"passive": a, "active": b})``.

    See :class:`Comparison` (``.table``, ``.equity``, ``.plot()``).
    """
    return Comparison(results)


__all__ = ["Comparison", "compare"]
