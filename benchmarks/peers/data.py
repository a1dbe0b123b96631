"""The peer benchmark's universe: the same daily bars for every engine (plain pandas/numpy).

* **dates**: the real trading days from 2014-07-01 to 2024-12-31; 2014 is RSI warm-up (about
  125 bars, more than the 100-bar lookback) and the engines trade from :data:`TRADE_FROM`
  (2015-01-02), 2,516 sessions;
* **the first 16 symbols are real** (``../shared/data/real``, read at run time, never copied):
  the stocks and ETFs with full coverage of those dates;
* **beyond 16, derived series**: copy ``k`` takes a real series with at least 3,895 rows
  (``REAL[k % 15]``, META excluded: it starts in 2012), skips a deterministic random number of
  its first rows (``offset``, 0..1,250) and multiplies its prices by a deterministic random
  ``scale`` in [0.5, 1.5] (``numpy.random.default_rng(1000 + k)``), then is re-labelled onto
  the benchmark dates under the name ``BASE-XY``. Scaling keeps the OHLC relations and the
  returns; the offset gives each copy its own path (different years, so different signals).

Nothing here imports activetrader, so the vectorbt/Lumibot venv can load it too.
"""

from __future__ import annotations

import os
import string
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

REAL_DIR = Path(os.environ.get("ACTIVETRADER_REAL_DATA",
                               Path(__file__).resolve().parents[3] / "shared" / "data" / "real"))
FIRST, LAST, TRADE_FROM = "2014-07-01", "2024-12-31", "2015-01-02"
REAL = ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "TSLA", "JPM", "JNJ", "XOM", "KO", "WMT", "UNH",
        "SPY", "QQQ", "SH", "META")
BASES = REAL[:-1]  # full 2010-2025 history: room for offsets
COLUMNS = ["open", "high", "low", "close", "volume"]


@lru_cache(maxsize=None)
def _read(symbol: str) -> pd.DataFrame:
    df = pd.read_csv(REAL_DIR / f"{symbol}.csv", parse_dates=["date"]).set_index("date")
    return df[COLUMNS].astype(float)


def dates() -> pd.DatetimeIndex:
    """The benchmark's sessions (naive dates), warm-up included."""
    idx = _read("AAPL").index
    return idx[(idx >= FIRST) & (idx <= LAST)]


def _copy_name(k: int, base: str) -> str:
    letters = string.ascii_uppercase
    return f"{base}-{letters[k // 26 % 26]}{letters[k % 26]}"


def universe(n: int) -> dict[str, pd.DataFrame]:
    """``n`` symbols -> daily OHLCV frames on :func:`dates` (DatetimeIndex named ``date``)."""
    if not REAL_DIR.is_dir():
        raise FileNotFoundError(f"real data folder {REAL_DIR} is absent (set ACTIVETRADER_REAL_DATA)")
    idx = dates()
    out: dict[str, pd.DataFrame] = {}
    for sym in REAL[:n]:
        out[sym] = _read(sym).loc[idx]
    for k in range(max(0, n - len(REAL))):
        base = BASES[k % len(BASES)]
        src = _read(base)
        rng = np.random.default_rng(1000 + k)
        offset = int(rng.integers(0, len(src) - len(idx) + 1))
        scale = float(rng.uniform(0.5, 1.5))
        frame = src.iloc[offset:offset + len(idx)].copy()
        frame[["open", "high", "low", "close"]] *= scale
        frame.index = idx
        out[_copy_name(k, base)] = frame
    return out


def trade_start_index() -> int:
    """Position of :data:`TRADE_FROM` in :func:`dates`: signals before it are not traded."""
    return int(dates().searchsorted(pd.Timestamp(TRADE_FROM)))
