"""``activetrader sweep``: a grid file, a market folder, dates; a table of results.

The grid file is TOML: a table per settings group with a list of values per field, or dotted
paths under ``[grid]``::

    [bracket]
    stop_loss_pct = [0.03, 0.05, 0.08]
    take_profit_pct = [0.10, 0.15]

    [grid]
    "entry.oversold" = [25.0, 30.0]
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import TextIO

from ..settings import SettingsError


def add_parser(sub, parents) -> None:
    """Register the ``sweep`` subcommand on an argparse subparsers object."""
    p = sub.add_parser("sweep", parents=parents, help="backtest a grid of settings on Dask",
                       description="Backtest every combination of a grid of settings over a market "
                       "folder (CSV/Parquet per symbol) or the simulated market, on a Dask cluster "
                       "(a LocalCluster on this machine unless --scheduler is given).")
    p.add_argument("--grid", metavar="FILE", required=True, help="TOML grid: [group] field = [values, ...]")
    p.add_argument("--market", metavar="FOLDER", default="sim",
                   help="folder of per-symbol CSV/Parquet daily bars, or 'sim' (default) for the simulated market")
    p.add_argument("--start", required=True, help="first day, e.g. 2020-01-01")
    p.add_argument("--end", required=True, help="last day, e.g. 2024-12-31")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on this Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--metric", default="sharpe", help="rank by this stat (default sharpe)")
    p.add_argument("--cash", type=float, default=100_000.0, help="starting cash (default 100000)")
    p.add_argument("--out", metavar="FILE", help="write the table to FILE (.parquet or .csv)")
    p.set_defaults(run=run)


def load_grid(path: str | Path) -> dict:
    """The grid of a TOML file as ``{path: values}``."""
    from .grid import flatten

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    grid = flatten({k: v for k, v in data.items() if k != "grid"})
    grid.update(data.get("grid", {}))
    return grid


def _market(spec: str):
    if spec == "sim":
        from ..scenario import default_market

        return default_market()
    folder = Path(spec)
    if not folder.is_dir():
        raise FileNotFoundError(2, "market folder not found", str(folder))
    from ..market import HistoricalMarket

    return HistoricalMarket.from_folder(folder)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from . import sweep
    from ..settings import Settings

    from ..backtest.stats import STATS

    if args.metric not in STATS:
        raise SettingsError(f"--metric {args.metric!r} is not a backtest stat: choose one of {', '.join(STATS)}")
    if args.out and Path(args.out).suffix not in (".parquet", ".csv"):
        raise SettingsError(f"--out {args.out}: use a .parquet or .csv file name")
    grid = load_grid(args.grid)
    base = Settings.load(args.settings) if args.settings else None
    from .grid import expand

    n = len(expand(grid, base))  # validates every combination before a cluster starts
    market = _market(args.market)
    print(f"sweeping {n} combinations of {', '.join(grid)} from {args.start} to {args.end}"
          f"{' on ' + args.scheduler if args.scheduler else ' on a local Dask cluster'}", file=out)
    result = sweep(grid, market, start=args.start, end=args.end, settings=base, metric=args.metric,
                   client=args.scheduler, cash=args.cash)
    print(repr(result), file=out)
    if args.out:
        target = Path(args.out)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix == ".parquet":
            result.table.to_parquet(target)
        else:
            result.table.to_csv(target, index=False)
        print(f"wrote {len(result.table)} rows to {target}", file=out)
    return 0
