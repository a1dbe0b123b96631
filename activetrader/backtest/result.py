"""What a backtest returns: the equity curve, the round trips, every order, the stats.

See :class:`BacktestResult`.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .stats import PERCENT, STATS, drawdown

#: The stats a repr lists (iterations and elapsed time go in its last line).
SHOWN = tuple(k for k in STATS if k not in ("iterations", "elapsed_s"))


def fmt_stat(name: str, value: float) -> str:
    """A stat as text: percentages for returns and fractions, plain numbers for the rest.

    >>> fmt_stat("total_return", 0.1234), fmt_stat("sharpe", 1.5), fmt_stat("iterations", 252.0)
    ('+12.34%', '1.50', '252')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if name in PERCENT:
        return f"{value:+.2%}" if name in ("total_return", "cagr") else f"{value:.2%}"
    if name in ("iterations", "gapped_stops"):
        return f"{int(value)}"
    if name == "elapsed_s":
        return f"{value:.2f}s"
    return "inf" if math.isinf(value) else f"{value:.2f}"


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """The outcome of :func:`activetrader.backtest` (and :meth:`activetrader.Trader.backtest`).

    Attributes
    ----------
    equity:
        Account equity (``pd.Series``, New York tz-aware ``DatetimeIndex``): one point per
        iteration, read as the iteration ends (positions valued at the last complete close), and
        a final point at the last session's close.
    trades:
        One row per round trip (a lot bought, and the sale that closed it; a partial sale such
        as a trim is its own row): ``symbol, qty, entry_time, entry_price, exit_time,
        exit_price, exit_reason, gap, pnl, return_pct, purpose, exit_level, entry_order_id,
        exit_order_id``. ``exit_reason`` is ``take_profit``, ``stop_loss``, ``trim``, ``exit``
        or ``open`` (still held: no exit time or price, ``pnl`` marked to the last close);
        ``gap`` is True when the exit filled beyond its level ``exit_level`` (a bar opened past
        it); ``purpose`` is ``entry``, ``hedge`` or ``legacy``. See :mod:`.trades`.
    orders:
        One row per order, bracket legs included: ``id, client_order_id, symbol, side, type,
        order_class, qty, status, submitted_at, filled_at, filled_avg_price, limit_price,
        stop_price, parent_id, role``.
    stats:
        A ``pd.Series`` indexed, in order, by

        * ``total_return``: final equity / starting cash − 1.
        * ``cagr``: ``(1 + total_return) ** (1 / years) − 1``, years = span of the equity curve / 365.25 days.
        * ``volatility``: standard deviation of daily equity returns (last point of each New
          York date) × √252.
        * ``sharpe``: mean / standard deviation of those daily returns × √252 (risk-free rate 0).
        * ``max_drawdown``: the lowest ``drawdown`` (a negative fraction).
        * ``win_rate``: share of closed round trips with ``pnl > 0``.
        * ``avg_win`` / ``avg_loss``: mean ``return_pct`` of the winning / losing closed round trips.
        * ``profit_factor``: gross profit / gross loss of closed round trips (inf without a loss).
        * ``worst_trade``: the lowest ``return_pct`` of a closed round trip.
        * ``gapped_stops``: how many stop-loss exits filled worse than their stop level (a bar
          opened below it): the honest test of "a position cannot lose more than the stop".
        * ``worst_gap_loss``: the worst ``return_pct`` among those gapped stop exits.
        * ``exposure``: average, over the equity points, of the fraction of equity held in
          positions other than inverse ETFs; ``inverse_exposure``: the same for inverse ETFs.
        * ``iterations``: how many iteration times the run had (each one run, or skipped as
          quiet); ``elapsed_s``: wall-clock seconds of the run.
    reports:
        The :class:`~activetrader.IterationReport` of every iteration that ran, in order;
        :meth:`report` gives that of any iteration, skipped ones included.
    skipped:
        Iterations not run because the strategy's wake rule showed their plan empty
        (:mod:`activetrader.backtest.quiet`; ``backtest(..., skip_quiet=False)`` runs them all).

    ``drawdown`` is ``equity / equity.cummax() − 1``; :meth:`plot` draws equity, drawdown and
    the trades. In a notebook the result renders as a stats table.
    """

    equity: pd.Series
    trades: pd.DataFrame
    orders: pd.DataFrame
    stats: pd.Series
    reports: tuple = field(repr=False)
    fills: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    strategy: str = ""
    every: str = "1d"
    at: str = "09:00"
    cash: float = 100_000.0
    settings: Any = field(default=None, repr=False)
    skipped: int = 0
    replay: Any = field(default=None, repr=False)  # run.Replay of a run that skipped, for report()

    def __getstate__(self) -> dict:
        # The replay holds the market and the strategy (megabytes, or a class pickle cannot
        # find): a pickled result keeps its reports, not the means to make the skipped ones.
        return {**self.__dict__, "replay": None}

    @property
    def iteration_times(self) -> pd.DatetimeIndex:
        """When each iteration ran or was skipped (New York time): the equity curve's points
        without the final close."""
        return self.equity.index[: int(self.stats["iterations"])]

    def report(self, when):
        """The :class:`~activetrader.IterationReport` of the iteration at ``when``: a Timestamp
        or text (New York time if it has no zone), or a date with one iteration on it (daily
        runs: ``"2024-03-05"``).

        An iteration that ran is in :attr:`reports`. One the wake rule let the run skip is made
        on demand: the run is replayed to that moment, the same way, and the iteration runs
        there (its plan is empty: that is why it was skipped; a rule that skipped a non-empty
        plan is named in a ``RuntimeError``). This costs a replay up to ``when``.

        >>> from activetrader.scenario import default_market
        >>> from activetrader import backtest
        >>> r = backtest(default_market(), start="2024-01-02", end="2024-01-31")
        >>> r.report("2024-01-30").timestamp.isoformat()
        '2024-01-30T14:00:00+00:00'
        """
        k = self._iteration_index(when)
        t = self.iteration_times[k].value
        for rep in self.reports:
            if rep.timestamp.value == t:
                return rep
        if self.replay is None:
            raise LookupError(f"the iteration at {self.iteration_times[k]} was skipped as quiet, and this result "
                              "no longer has its run to replay (a pickled result keeps only the reports that "
                              "ran): backtest again, or with skip_quiet=False for every report")
        return self.replay.report_at(k)

    def _iteration_index(self, when) -> int:
        times = self.iteration_times
        try:
            ts = pd.Timestamp(when)
        except (TypeError, ValueError) as e:
            raise ValueError(f"when={when!r} is not a time: use a Timestamp or text like '2024-03-05 09:00'") from e
        ts = ts.tz_localize("America/New_York") if ts.tz is None else ts.tz_convert("America/New_York")
        hits = (times == ts).nonzero()[0]
        if not len(hits) and ts == ts.normalize():  # a date: its one iteration
            hits = (times.normalize() == ts).nonzero()[0]
            if len(hits) > 1:
                raise ValueError(f"{ts.date()} has {len(hits)} iterations ({times[hits[0]]:%H:%M} to "
                                 f"{times[hits[-1]]:%H:%M} New York): give the time too")
        if not len(hits):
            span = f"{times[0]} .. {times[-1]}" if len(times) else "none"
            close = "; the equity curve's last point, the final close, is not one" if len(self.equity) > len(times) else ""
            raise ValueError(f"{ts} is not an iteration time of this backtest (its iterations: {span}{close})")
        return int(hits[0])

    @property
    def drawdown(self) -> pd.Series:
        """``equity / equity.cummax() - 1`` (0 at a new high, negative below it)."""
        return drawdown(self.equity).rename("drawdown")

    @property
    def start(self) -> pd.Timestamp:
        return self.equity.index[0]

    @property
    def end(self) -> pd.Timestamp:
        return self.equity.index[-1]

    @property
    def gapped_stops(self) -> pd.DataFrame:
        """The stop-loss exits that filled beyond their stop level, as they happened."""
        t = self.trades
        return t[(t["exit_reason"] == "stop_loss") & t["gap"]]

    def plot(self, fig=None):
        """A plotly figure: equity with trade markers above, drawdown below.

        Pass ``fig=`` a figure (or ``go.FigureWidget``) this method returned before to update it
        in place. See :func:`activetrader.backtest.plot.result_chart`.
        """
        from .plot import result_chart

        return result_chart(self, fig=fig)

    # -- display ------------------------------------------------------------------------
    def _title(self) -> str:
        when = "hourly" if self.every == "1h" else f"daily at {self.at} ET"
        span = f"{self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}" if len(self.equity) else "empty"
        return f"{self.strategy} {span}, {when}, cash ${self.cash:,.0f}"

    def _footer(self) -> str:
        # Wall-clock time is written "in 0.12s" (a form notebook checks sanitize), not as a stat row.
        trades = round_trips_text(self.trades)
        quiet = f" ({self.skipped} skipped as quiet)" if self.skipped else ""
        return (f"{int(self.stats['iterations'])} iterations{quiet} in {self.stats['elapsed_s']:.2f}s; "
                f"round trips: {trades}")

    def __repr__(self) -> str:
        lines = [f"BacktestResult({self._title()})"]
        lines += [f"  {k:<17}{fmt_stat(k, self.stats[k]):>12}" for k in SHOWN]
        lines.append(f"  {self._footer()}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{fmt_stat(k, self.stats[k])}</td></tr>"
                       for k in SHOWN)
        return (f"<div class='activetrader-backtest'><h4>Backtest: {html.escape(self._title())}</h4>"
                f"<table>{rows}</table><p>{html.escape(self._footer())}</p></div>")


def round_trips_text(trades: pd.DataFrame) -> str:
    """How many round trips ended each way, most first: ``"12 take_profit, 3 stop_loss"`` (or ``"none"``)."""
    counts = trades["exit_reason"].value_counts()
    return ", ".join(f"{counts[r]} {r}" for r in counts.index) or "none"
