"""The simple rule in Lumibot (peers' venv only): ``make_run(frames)`` for ``engines.py``.

Offline: ``risk_free_rate=0.0`` and ``benchmark_asset=None`` (otherwise Lumibot downloads SPY
and ^IRX and stalls), data from ``PandasDataBacktesting``, no tearsheet, plot or log files.
One ``on_trading_iteration`` per day (``sleeptime="1D"``), which reads the signal precomputed
by :func:`rule.tail_rsi` for the last complete close (the same numbers as every engine) and
places a bracket order (``order_class="bracket"``) at the same cent-rounded levels.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile

import numpy as np
import pandas as pd
from lumibot.backtesting import PandasDataBacktesting
from lumibot.entities import Asset, Data
from lumibot.strategies import Strategy

import data
import rule


def make_run(frames: dict[str, pd.DataFrame]):
    logging.disable(logging.WARNING)
    first = pd.Timestamp(data.TRADE_FROM)
    signals = {}
    pandas_data = {}
    for sym, f in frames.items():
        df = f.copy()
        df.index = pd.DatetimeIndex(df.index).tz_localize("America/New_York")
        asset = Asset(sym, asset_type="stock")
        pandas_data[asset] = Data(asset, df, timestep="day")
        close = f["close"].to_numpy()
        signals[sym] = (f.index.values.astype("datetime64[D]"), rule.tail_rsi(close[:, None])[:, 0], close)

    class SimpleRule(Strategy):
        def initialize(self):
            self.sleeptime = "1D"
            self.set_market("NYSE")

        def on_trading_iteration(self):
            today = np.datetime64(self.get_datetime().date(), "D")
            for sym, (days, rsi, close) in signals.items():
                i = int(np.searchsorted(days, today)) - 1  # the last session before today
                if i < 0 or not rsi[i] < rule.OVERSOLD or self.get_position(sym) is not None:
                    continue
                if any(o.asset.symbol == sym and o.is_active() for o in self.get_orders()):
                    continue
                qty, tp, sl = rule.bracket(float(close[i]))
                if qty:
                    self.submit_order(self.create_order(sym, qty, "buy", order_class="bracket",
                                                        secondary_limit_price=tp, secondary_stop_price=sl))

    start = dt.datetime.combine(first.date(), dt.time())
    end = dt.datetime.combine(frames[next(iter(frames))].index[-1].date(), dt.time()) + dt.timedelta(days=1)

    def run() -> int:
        cwd = os.getcwd()
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)  # Lumibot writes logs/ and stats files into the working directory
            try:
                _, strat = SimpleRule.run_backtest(
                    PandasDataBacktesting, start, end, pandas_data=pandas_data, budget=100_000.0 * len(frames),
                    risk_free_rate=0.0, benchmark_asset=None, show_plot=False, save_tearsheet=False,
                    show_tearsheet=False, show_indicators=False, save_logfile=False, show_progress_bar=False,
                    quiet_logs=True, save_stats_file=False)
            finally:
                os.chdir(cwd)
        return sum(1 for o in strat.get_orders() if getattr(o, "side", None) == "buy")

    return run
