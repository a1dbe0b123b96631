"""Parameter sweeps and walk-forward checks of a strategy's settings, on Dask.

:func:`sweep` backtests every combination of a grid of settings and tabulates the stats;
:func:`walk_forward` chooses the best settings on each training window and scores them on
the window that follows, so what you see is out-of-sample. Both run on a
``dask.distributed`` cluster: a ``LocalCluster`` sized to this machine by default, or any
cluster through its ``Client`` or scheduler address. Every combination is validated through
:class:`~activetrader.settings.Settings` before anything runs.

>>> from activetrader.sweep import expand
>>> [c.params for c in expand({"bracket.stop_loss_pct": [0.03, 0.05]})]
[{'bracket.stop_loss_pct': 0.03}, {'bracket.stop_loss_pct': 0.05}]
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..settings import Settings
from .cluster import client_for, run_jobs
from .grid import Combo, apply, expand, flatten
from .result import SweepResult, WalkForwardResult, rank

__all__ = ["sweep", "walk_forward", "SweepResult", "WalkForwardResult", "expand", "apply", "flatten", "Combo"]


def sweep(grid, market, *, start, end, strategy=None, settings: Settings | None = None,
          metric: str = "sharpe", client=None, progress=None, batch_size: int | None = None,
          **backtest_options: Any) -> SweepResult:
    """Backtest every combination of ``grid`` on ``market`` from ``start`` to ``end``.

    ``grid`` maps setting paths to values (``{"bracket.stop_loss_pct": [0.03, 0.05]}``: every
    combination) or is a list of settings dicts (random search). Each combination is applied to
    a copy of ``settings`` (default ``Settings()``) and validated before any task runs.
    ``client``: ``None`` starts a ``LocalCluster`` sized to the machine (and closes it), a
    ``dask.distributed.Client`` or a scheduler address (``"tcp://host:8786"``) runs there.
    ``backtest_options`` go to :func:`activetrader.backtest` (``cash``, ``every``, ``at``,
    ``same_bar``). ``progress``: a bar over completed backtests (None: when interactive), or a
    callable ``progress(done, total)``.
    """
    combos = expand(grid, settings)
    _check_dates(start, end)
    t0 = time.perf_counter()
    with client_for(client) as c:
        stats = run_jobs(c, market, strategy, [(k.settings, start, end) for k in combos],
                         backtest_options, progress=progress, batch=batch_size, label="sweep")
    table = _table(combos, stats)
    rank(table, metric)  # a bad metric name fails here, naming the columns
    params = list(combos[0].params) if combos else []
    return SweepResult(table=table, params=params, metric=metric, _settings=[k.settings for k in combos],
                       elapsed_s=time.perf_counter() - t0)


def walk_forward(grid, market, *, start, end, train: str = "2y", test: str = "6m", strategy=None,
                 settings: Settings | None = None, metric: str = "sharpe", client=None, progress=None,
                 batch_size: int | None = None, **backtest_options: Any) -> WalkForwardResult:
    """Choose the best combination on each training window; score it on the test window after.

    Windows: train ``[t, t + train)``, test ``[t + train, t + train + test)``, stepping ``t``
    by ``test`` from ``start`` while the test window ends by ``end``. Lengths are like
    ``"2y"``, ``"6m"``, ``"90d"`` or ``"4w"``. Every training sweep runs as one batch of
    tasks, then every test backtest.
    """
    combos = expand(grid, settings)
    windows = windows_between(start, end, train, test)
    t0 = time.perf_counter()
    with client_for(client) as c:
        jobs = [(k.settings, tr0, tr1) for tr0, tr1, _, _ in windows for k in combos]
        stats = run_jobs(c, market, strategy, jobs, backtest_options, progress=progress, batch=batch_size,
                         label="walk-forward: training")
        chosen = []
        for w, window in enumerate(windows):
            table = _table(combos, stats[w * len(combos):(w + 1) * len(combos)])
            best = int(rank(table, metric).index[0])
            chosen.append((best, float(table.loc[best, metric])))
        tests = run_jobs(c, market, strategy, [(combos[b].settings, te0, te1) for (b, _), (_, _, te0, te1)
                                               in zip(chosen, windows)],
                         backtest_options, progress=progress, batch=batch_size, label="walk-forward: testing")
    rows = []
    for (tr0, tr1, te0, te1), (b, ins), oos in zip(windows, chosen, tests):
        rows.append({"train_start": tr0, "train_end": tr1, "test_start": te0, "test_end": te1,
                     **combos[b].params, "in_sample": ins, "out_of_sample": oos[metric],
                     "oos_return": oos["total_return"]})
    return WalkForwardResult(windows=pd.DataFrame(rows), params=list(combos[0].params), metric=metric,
                             elapsed_s=time.perf_counter() - t0)


def windows_between(start, end, train: str, test: str) -> list[tuple[pd.Timestamp, ...]]:
    """``(train_start, train_end, test_start, test_end)`` of each walk-forward window.

    >>> [tuple(f"{t:%Y-%m}" for t in w) for w in windows_between("2020-01-01", "2021-07-01", "1y", "6m")]
    [('2020-01', '2021-01', '2021-01', '2021-07')]
    """
    start, end = _check_dates(start, end)
    train_off, test_off = _offset(train, "train"), _offset(test, "test")
    out = []
    t = start
    while t + train_off + test_off <= end:
        out.append((t, t + train_off, t + train_off, t + train_off + test_off))
        t = t + test_off
    if not out:
        raise ValueError(f"no walk-forward window fits between {start:%Y-%m-%d} and {end:%Y-%m-%d} with "
                         f"train={train!r} and test={test!r}: shorten them or widen the dates")
    return out


_UNITS = {"y": "years", "m": "months", "w": "weeks", "d": "days"}


def _offset(text: str, name: str) -> pd.DateOffset:
    import re

    m = re.fullmatch(r"\s*(\d+)\s*([ymwd])\s*", str(text).lower())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{name}={text!r} is not a window length: use a number and y, m, w or d, like '2y' or '6m'")
    return pd.DateOffset(**{_UNITS[m.group(2)]: int(m.group(1))})


def _check_dates(start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    try:
        s, e = pd.Timestamp(start), pd.Timestamp(end)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"start/end must be dates: {exc}") from None
    if not s < e:
        raise ValueError(f"start ({start}) must be before end ({end})")
    return s, e


def _table(combos: Sequence[Combo], stats: Sequence[Mapping[str, float]]) -> pd.DataFrame:
    rows = [{**k.params, **st} for k, st in zip(combos, stats)]
    return pd.DataFrame(rows)
