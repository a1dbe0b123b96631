"""Parameter sweeps and walk-forward on a real Dask cluster (LocalCluster, worker processes)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from activetrader import Settings, SettingsError
from activetrader.backtest import backtest
from activetrader.market import HistoricalMarket
from activetrader.scenario import default_market
from activetrader.strategy import EnterBracket, Plan, Strategy
from activetrader.sweep import expand, sweep, walk_forward

# The toy strategy below is pickled by value so worker processes need not import this file.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.timeout(300)

GRID = {"bracket.stop_loss_pct": [0.03, 0.08], "entry.oversold": [30.0, 40.0]}
WINDOW = dict(start="2024-03-01", end="2024-05-31")


@pytest.fixture(scope="module")
def cluster():
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, \
            Client(lc) as client:
        yield lc, client


@pytest.fixture(scope="module")
def market():
    return default_market()


def _serial(market, grid, **window):
    """The reference: a plain loop of backtest() in this process, one per combination."""
    return [backtest(market, settings=c.settings, progress=False, **window).stats for c in expand(grid)]


def _stats_equal(table: pd.DataFrame, reference: list[pd.Series]) -> None:
    assert len(table) == len(reference)
    for i, ref in enumerate(reference):
        for name, value in ref.items():
            if name == "elapsed_s":  # wall time: the one stat that may differ
                continue
            got = table.loc[i, name]
            assert (np.isnan(got) and np.isnan(value)) or got == value, (i, name, got, value)


def test_sweep_on_two_worker_cluster_equals_serial_backtests(cluster, market):
    _, client = cluster
    result = sweep(GRID, market, client=client, progress=False, **WINDOW)

    assert list(result.table.columns[:2]) == ["bracket.stop_loss_pct", "entry.oversold"]
    assert result.table[["bracket.stop_loss_pct", "entry.oversold"]].values.tolist() == [
        [0.03, 30.0], [0.03, 40.0], [0.08, 30.0], [0.08, 40.0]]
    _stats_equal(result.table, _serial(market, GRID, **WINDOW))
    # It really traded, and as the settings say: buying from RSI 40 keeps more money in
    # the market than waiting for RSI 30, whatever the stop.
    t = result.table.set_index(["bracket.stop_loss_pct", "entry.oversold"])
    for stop in (0.03, 0.08):
        assert t.loc[(stop, 40.0), "exposure"] > t.loc[(stop, 30.0), "exposure"] > 0


def test_sweep_best_and_settings_of_a_row(cluster, market):
    _, client = cluster
    result = sweep(GRID, market, client=client, progress=False, metric="total_return", **WINDOW)

    best = result.best(2)
    assert list(best["total_return"]) == sorted(result.table["total_return"], reverse=True)[:2]
    row = int(best.index[0])
    s = result.settings(row)
    assert isinstance(s, Settings)
    assert s.bracket.stop_loss_pct == result.table.loc[row, "bracket.stop_loss_pct"]
    assert s.entry.oversold == result.table.loc[row, "entry.oversold"]
    fig = result.heatmap("bracket.stop_loss_pct", "entry.oversold")
    z = np.array(fig.data[0].z, dtype=float)
    assert z.shape == (2, 2)
    assert z[1, 0] == result.table.set_index(["entry.oversold", "bracket.stop_loss_pct"]).loc[(40.0, 0.03), "total_return"]
    assert "SweepResult: 4 combinations" in repr(result) and "<table" in result._repr_html_()


def test_sweep_worker_killed_mid_sweep_still_completes_unchanged(market):
    """A worker process is SIGKILLed while it runs a batch: Dask reschedules its tasks on the
    surviving worker (the nanny restarts the dead one) and every combination still arrives."""
    from dask.distributed import Client, LocalCluster

    grid = {"bracket.stop_loss_pct": [0.03, 0.05, 0.08], "entry.oversold": [30.0, 40.0]}
    reference = _serial(market, grid, **WINDOW)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, \
            Client(lc) as client:
        pids = client.run(os.getpid)
        out: dict = {}
        runner = threading.Thread(target=lambda: out.setdefault(
            "result", sweep(grid, market, client=client, progress=False, batch_size=1, **WINDOW)))
        runner.start()
        deadline = time.monotonic() + 60
        victim = None
        while victim is None and time.monotonic() < deadline:
            busy = [addr for addr, tasks in client.processing().items() if tasks]
            victim = busy[0] if busy else None
            time.sleep(0.05)
        assert victim is not None, "no worker ever started a task"
        os.kill(pids[victim], signal.SIGKILL)
        runner.join(timeout=240)
        assert not runner.is_alive()
        assert victim not in client.scheduler_info()["workers"] or client.run(os.getpid).get(victim) != pids[victim]
    _stats_equal(out["result"].table, reference)


def test_sweep_market_recomputed_when_every_worker_holding_it_dies(market):
    """The market a sweep's tasks read (``cluster.ship``) lives on one worker or two. Both holders
    are SIGKILLed: the scheduler recomputes it on a restarted worker, and a batch reading it then
    gives the serial backtest's stats. Data scattered from the client would be lost for good
    (a broadcast too: Dask's active memory manager soon keeps one replica of it), which cancelled
    a whole sweep when that one worker was killed (seen once in a full run)."""
    from dask.distributed import Client, LocalCluster, wait

    from activetrader.sweep.cluster import run_batch, ship

    settings = Settings()
    reference = backtest(market, settings=settings, progress=False, **WINDOW).stats
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, \
            Client(lc) as client:
        data = ship(client, market)
        wait(data)
        holders = client.who_has(data)[data.key]
        assert holders
        pids = client.run(os.getpid)
        for worker in holders:
            os.kill(pids[worker], signal.SIGKILL)
        job = (settings, WINDOW["start"], WINDOW["end"])
        [got] = client.submit(run_batch, data, None, [job], {}, pure=False).result(timeout=180)
    _stats_equal(pd.DataFrame([got]), [reference])


@pytest.mark.parametrize("grid, named", [
    ({"bracket.stop_los_pct": [0.03]}, "bracket.stop_los_pct"),
    ({"brakcet.stop_loss_pct": [0.03]}, "brakcet.stop_loss_pct"),
    ({"bracket.stop_loss_pct": [0.03, 1.5]}, "bracket.stop_loss_pct"),
    ({"entry.oversold": []}, "entry.oversold"),
    ({}, "grid is empty"),
    ([], "grid is empty"),
    ([{"hedge.bearish_ratio": 0.6}, {"hedge.bearish_ratio": -1}], "hedge.bearish_ratio"),
])
def test_sweep_bad_grid_refused_before_any_task_runs(cluster, market, grid, named):
    _, client = cluster
    before = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.task_prefixes))
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        sweep(grid, market, client=client, progress=False, **WINDOW)
    after = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.task_prefixes))
    assert after == before


def test_sweep_progress_callable_sees_every_combination(cluster, market):
    _, client = cluster
    seen = []
    sweep({"bracket.stop_loss_pct": [0.03, 0.05, 0.08]}, market, client=client, batch_size=1,
          progress=lambda done, total: seen.append((done, total)), **WINDOW)
    assert seen[-1] == (3, 3) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_sweep_without_client_starts_and_closes_its_own_local_cluster(market):
    import psutil

    def workers() -> set[int]:
        # multiprocessing's resource tracker outlives any one cluster by design: not a worker
        return {p.pid for p in psutil.Process().children(recursive=True)
                if p.is_running() and "resource_tracker" not in " ".join(p.cmdline())}

    before = workers()
    result = sweep({"bracket.stop_loss_pct": [0.03, 0.08]}, market, progress=False, **WINDOW)
    assert result.table["bracket.stop_loss_pct"].tolist() == [0.03, 0.08]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = workers() - before
        if not left:
            break
        time.sleep(0.2)
    assert not left, f"worker processes left running: {left}"


def test_sweep_progress_true_draws_a_bar_to_completion(cluster, market, capsys):
    _, client = cluster
    sweep({"bracket.stop_loss_pct": [0.03, 0.05]}, market, client=client, progress=True, **WINDOW)
    err = capsys.readouterr().err
    assert "sweep" in err and "2/2" in err


# ---------------------------------------------------------------- walk-forward
class FollowTheSetting(Strategy):
    """Buys UPX when ``bracket.take_profit_pct >= 0.5``, else DNX, 10% of cash at a time, with
    the default bracket (stop -5%). The take-profit setting is just a switch between the two."""

    def propose(self, snapshot, settings, **kwargs):
        symbol = "UPX" if settings.bracket.take_profit_pct >= 0.5 else "DNX"
        if snapshot.position(symbol) is not None or snapshot.orders_for(symbol):
            return Plan(cash_after=snapshot.account.cash)
        price = snapshot.price(symbol)
        qty = int(snapshot.account.cash * 0.10 // price)
        intent = EnterBracket(symbol=symbol, qty=qty, reference_price=price,
                              take_profit=round(price * (1 + settings.bracket.take_profit_pct), 2),
                              stop_loss=round(price * (1 - settings.bracket.stop_loss_pct), 2), reason="toy")
        return Plan(intents=(intent,), cash_after=snapshot.account.cash - intent.cost)


def _regime_market() -> HistoricalMarket:
    """UPX rises 0.2%/day through 2021 and falls 0.4%/day in 2022; DNX does the opposite."""
    from activetrader.market.sessions import MarketCalendar

    days = MarketCalendar("2021-01-04", "2022-06-30").sessions
    up_year = days.year == 2021
    frames = {}
    for symbol, sign in (("UPX", 1), ("DNX", -1)):
        step = np.where(up_year, 1 + sign * 0.002, 1 - sign * 0.004)
        close = 100 * np.cumprod(step)
        open_ = np.r_[100.0, close[:-1]]
        frames[symbol] = pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * 1.001,
                                       "low": np.minimum(open_, close) * 0.999, "close": close,
                                       "volume": 1e6}, index=days)
    return HistoricalMarket(frames)


def test_walk_forward_reports_out_of_sample_not_in_sample(cluster):
    """Training on 2021 picks take_profit 0.9 (UPX, which rose all year); on the test half of
    2022 UPX falls, so the honest, out-of-sample result is a loss although in-sample was a gain."""
    _, client = cluster
    market = _regime_market()
    base = Settings(entry={"watchlist": ["UPX", "DNX"]},
                    hedge={"enabled": False, "sentiment_symbols": ["UPX", "DNX"]})
    grid = {"bracket.take_profit_pct": [0.1, 0.9]}
    wf = walk_forward(grid, market, start="2021-01-01", end="2022-07-01", train="1y", test="6m",
                      strategy=FollowTheSetting(), settings=base, metric="total_return", client=client,
                      progress=False)

    assert len(wf.windows) == 1
    w = wf.windows.iloc[0]
    assert w["bracket.take_profit_pct"] == 0.9  # UPX won in-sample
    assert w["in_sample"] > 0.01
    direct = backtest(market, FollowTheSetting(), _with(base, 0.9), start=w["test_start"], end=w["test_end"],
                      progress=False).stats
    assert w["out_of_sample"] == direct["total_return"] < 0  # the reported figure is the test window's
    assert wf.out_of_sample == w["out_of_sample"] != wf.in_sample
    assert "out-of-sample" in repr(wf)


def _with(base: Settings, tp: float) -> Settings:
    s = base.copy()
    s.bracket.take_profit_pct = tp
    return s


def test_walk_forward_window_too_long_is_refused(cluster):
    with pytest.raises(ValueError, match="no walk-forward window fits"):
        walk_forward(GRID, default_market(), start="2024-01-01", end="2024-06-01", train="1y", test="6m",
                     client=cluster[1], progress=False)


# ---------------------------------------------------------------- command line
def test_cli_sweep_on_a_scheduler_address_writes_the_table(cluster, tmp_path, capsys):
    from activetrader.cli import main

    grid = tmp_path / "grid.toml"
    grid.write_text('[bracket]\nstop_loss_pct = [0.03, 0.08]\n')
    out = tmp_path / "results.parquet"
    code = main(["sweep", "--grid", str(grid), "--start", WINDOW["start"], "--end", WINDOW["end"],
                 "--scheduler", cluster[0].scheduler_address, "--out", str(out)])

    assert code == 0
    table = pd.read_parquet(out)
    assert table["bracket.stop_loss_pct"].tolist() == [0.03, 0.08]
    assert "sweeping 2 combinations" in capsys.readouterr().out


@pytest.mark.parametrize("text, extra, message", [
    ('[bracket]\nstop_los_pct = [0.03]\n', [], "did you mean 'stop_loss_pct'"),
    ('[bracket]\nstop_loss_pct = [2.0]\n', [], "bracket.stop_loss_pct = 2.0 is not allowed"),
    ('[bracket]\nstop_loss_pct = [0.03]\n', ["--metric", "sharp"], "--metric 'sharp' is not a backtest stat"),
    ('[bracket\n', [], "is not valid TOML"),
])
def test_cli_sweep_bad_input_is_one_line_and_exit_2(tmp_path, capsys, text, extra, message):
    from activetrader.cli import main

    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    code = main(["sweep", "--grid", str(grid), "--start", "2024-03-01", "--end", "2024-04-01", *extra])

    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
