"""A market replaying bars you already have: pandas DataFrames or a folder of CSV/Parquet files.

Input rules (column names are case-insensitive):

* one frame per symbol with ``open high low close volume`` and its times in a ``date`` or
  ``timestamp`` column or a DatetimeIndex (optional ``trade_count``/``vwap`` are kept); or one
  frame shaped like alpaca-py's ``BarSet.df`` (a ``(symbol, timestamp)`` MultiIndex);
* **daily** bars: naive dates are session dates; tz-aware times at midnight New York (Alpaca's
  labels, e.g. ``05:00+00:00``) or at midnight UTC name that date. Every date must be an XNYS
  session (an error otherwise: a weekend or holiday row means the data is not what you think).
  A daily bar starts at the session open and is complete at its close (early closes respected);
* **intraday** bars: tz-aware times are converted to UTC; **naive times are taken as UTC**
  (as alpaca-py does), not New York time. A bar starts at its timestamp and is complete one bar
  length later; it counts as ``regular`` if its interval overlaps a regular session at all,
  so a 09:00-10:00 ET bar is regular and an 08:00-09:00 bar is not (base.py says why).

The bar length is inferred (daily if every time is a midnight, else the median spacing) unless
``timeframe=`` is given. Bad data fails loudly: a ``ValueError`` names the symbol, the row and
the problem (missing columns, NaN, high < low, high below open/close or low above them, prices
not positive, negative volume, unsorted or duplicate times). High/low within 1e-9 (relative)
of open/close are float noise and are widened to contain them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .base import BarArrays
from .frames import MarketData, parse_timeframe
from .sessions import ET, MarketCalendar, from_ns

_PRICES = ("open", "high", "low", "close")
_REQUIRED = (*_PRICES, "volume")
_TIME_COLUMNS = ("timestamp", "date")
_NOISE = 1e-9


class HistoricalMarket(MarketData):
    """Bars from data you have, behind the same protocol as the simulated market.

    ``frames`` is ``{symbol: DataFrame}`` or one ``BarSet.df``-shaped frame; ``timeframe``
    (``"1Day"``, ``"1Hour"``, ``"15Min"``...) overrides the inferred bar length. See the module
    docstring for the rules and :meth:`from_folder` for files.

    >>> df = pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "open": [10.0, 10.5],
    ...                    "high": [11.0, 10.9], "low": [9.8, 10.1], "close": [10.5, 10.2],
    ...                    "volume": [1000, 1200]})
    >>> m = HistoricalMarket({"ABC": df})
    >>> m
    HistoricalMarket(1 symbols, 2024-01-02..2024-01-03, timeframe='1Day')
    >>> m.bars("ABC")["close"].tolist()
    [10.5, 10.2]
    >>> m.calendar.session_close("2024-01-02").value == int(m.arrays("ABC").end[0])
    True
    """

    def __init__(self, frames, *, timeframe: str | None = None) -> None:
        frames = _split(frames)
        if not frames:
            raise ValueError("HistoricalMarket needs at least one symbol's bars")
        parsed = {sym: _parse(sym, df) for sym, df in frames.items()}
        self.timeframe, bar_ns = _timeframe(parsed, timeframe)
        times = {sym: _dates(sym, p["times"]) if bar_ns is None else _utc(p["times"]) for sym, p in parsed.items()}
        lo = min(t[0] for t in times.values())
        hi = max(t[-1] for t in times.values())
        try:
            self.calendar = MarketCalendar(lo.strftime("%Y-%m-%d"), hi.strftime("%Y-%m-%d"))
        except Exception as e:  # e.g. dates the exchange calendar does not cover
            first = next(s for s, t in times.items() if t[0] == lo)
            last = next(s for s, t in times.items() if t[-1] == hi)
            raise ValueError(f"{first} (first bar {lo}) .. {last} (last bar {hi}): no XNYS calendar for this span: "
                             f"{e}") from None
        self.symbols = tuple(sorted(parsed))
        self._arrays: dict[str, BarArrays] = {}
        self._extras: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for sym in self.symbols:
            self._arrays[sym] = self._build(sym, parsed[sym], times[sym], bar_ns)

    @classmethod
    def from_folder(cls, path, *, timeframe: str | None = None) -> HistoricalMarket:
        """Read every ``SYMBOL.csv`` / ``SYMBOL.parquet`` in a folder (the file name is the symbol)."""
        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: not a folder of SYMBOL.csv / SYMBOL.parquet files")
        frames: dict[str, pd.DataFrame] = {}
        seen: dict[str, Path] = {}
        for file in sorted(folder.iterdir()):
            suffix = file.suffix.lower()
            if suffix not in (".csv", ".parquet", ".pq") or not file.is_file():
                continue
            sym = file.stem.upper()
            if sym in seen:
                raise ValueError(f"{sym}: two files for one symbol ({seen[sym].name}, {file.name})")
            seen[sym] = file
            try:
                frames[sym] = pd.read_csv(file) if suffix == ".csv" else pd.read_parquet(file)
            except Exception as e:  # pandas/pyarrow name neither the file nor the symbol
                raise ValueError(f"{sym}: cannot read {file}: {type(e).__name__}: {e}") from None
        if not frames:
            raise ValueError(f"{folder}: no SYMBOL.csv or SYMBOL.parquet files")
        return cls(frames, timeframe=timeframe)

    # -- Market protocol ------------------------------------------------------------
    def arrays(self, symbol: str) -> BarArrays:
        """The bars of one symbol (validated and built when the market was made)."""
        a = self._arrays.get(symbol)
        if a is None:
            self._check(symbol)
        return a

    @property
    def start(self) -> pd.Timestamp:
        return from_ns(min(int(a.start[0]) for a in self._arrays.values() if len(a)))

    @property
    def end(self) -> pd.Timestamp:
        return from_ns(max(int(a.end[-1]) for a in self._arrays.values() if len(a)))

    def __repr__(self) -> str:
        days = self.calendar.sessions_between(self.start, self.end.tz_convert(ET).tz_localize(None))
        span = f"{days[0].date()}..{days[-1].date()}" if len(days) else "empty"
        return f"HistoricalMarket({len(self.symbols)} symbols, {span}, timeframe={self.timeframe!r})"

    # -- building -------------------------------------------------------------------
    def _build(self, sym: str, p: dict, times: pd.DatetimeIndex, bar_ns: int | None) -> BarArrays:
        cal = self.calendar
        if bar_ns is None:
            pos = cal.sessions.get_indexer(times)
            if (pos < 0).any():
                bad = times[pos < 0]
                raise ValueError(f"{sym}: {bad[0].date()} (row {int(np.argmax(pos < 0))}) is not an XNYS trading "
                                 f"session ({len(bad)} such date(s)); daily rows must be trading days")
            start, end, regular = cal.opens[pos], cal.closes[pos], np.ones(len(pos), bool)
        else:
            start = times.asi8.copy()
            end = start + bar_ns
            i = np.searchsorted(cal.closes, start, side="right")
            regular = (i < len(cal.opens)) & (cal.opens[np.minimum(i, len(cal.opens) - 1)] < end)
        a = BarArrays(sym, start, end, *(p[c] for c in _REQUIRED), regular)
        for x in (a.start, a.end, a.open, a.high, a.low, a.close, a.volume, a.regular):
            x.flags.writeable = False
        self._extras[sym] = (p["trade_count"], p["vwap"])
        return a

    def _native_extras(self, symbol: str, a: BarArrays) -> tuple[np.ndarray, np.ndarray]:
        """``trade_count``/``vwap`` from the data if it had them, else NaN and the typical price."""
        n, vw = self._extras[symbol]
        return (np.full(len(a), np.nan) if n is None else n,
                (a.high + a.low + a.close) / 3 if vw is None else vw)


def _split(frames) -> dict[str, pd.DataFrame]:
    if isinstance(frames, pd.DataFrame):
        if not (isinstance(frames.index, pd.MultiIndex) and frames.index.nlevels == 2):
            raise ValueError("a single DataFrame must have a (symbol, timestamp) MultiIndex like alpaca-py's "
                             "BarSet.df; pass {symbol: DataFrame} otherwise")
        return {str(sym): g.droplevel(0) for sym, g in frames.groupby(level=0, sort=False)}
    if not isinstance(frames, dict):
        raise TypeError(f"frames: expected dict[str, DataFrame] or a BarSet.df-shaped DataFrame, got {type(frames).__name__}")
    return {str(sym): df for sym, df in frames.items()}


def _parse(sym: str, df: pd.DataFrame) -> dict:
    """Validated columns of one symbol: times (DatetimeIndex) and float arrays."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{sym}: expected a DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise ValueError(f"{sym}: no bars (an empty frame); leave the symbol out or give it bars")
    cols: dict[str, str] = {}
    for c in df.columns:
        key = str(c).strip().lower()
        if key in cols:
            raise ValueError(f"{sym}: columns {cols[key]!r} and {c!r} differ only in case")
        cols[key] = c
    tcol = next((cols[c] for c in _TIME_COLUMNS if c in cols), None)
    if tcol is not None:
        raw = df[tcol]
    elif isinstance(df.index, pd.DatetimeIndex) or str(df.index.name).lower() in _TIME_COLUMNS:
        raw = df.index.to_series()
    else:
        raw = None
    missing = [c for c in _REQUIRED if c not in cols] + (["date or timestamp"] if raw is None else [])
    if missing:
        raise ValueError(f"{sym}: missing column(s) {', '.join(missing)} "
                         f"(need date or timestamp, open, high, low, close, volume; case-insensitive)")
    try:
        try:
            times = pd.DatetimeIndex(pd.to_datetime(raw))
        except (ValueError, TypeError):  # e.g. offsets that change with daylight saving time
            times = pd.DatetimeIndex(pd.to_datetime(raw, utc=True))
    except (ValueError, TypeError) as e:
        raise ValueError(f"{sym}: cannot read the {raw.name or 'index'!s} times: {e}") from None
    times = times.as_unit("ns") if times.tz is None else times.tz_convert("UTC").as_unit("ns")
    if times.hasnans:
        raise ValueError(f"{sym}: missing time at row {int(np.argmax(times.isna()))}")
    out: dict = {"times": times}
    for c in (*_REQUIRED, "trade_count", "vwap"):
        if c not in cols:
            out[c] = None
            continue
        values = pd.to_numeric(df[cols[c]], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = np.isnan(values)
        if c in _REQUIRED and bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{sym}: NaN or non-numeric {c!r} at {times[i]} (row {i}; {int(bad.sum())} such row(s))")
        out[c] = values
    _check_rows(sym, times, out)
    o, h, lo, c = (out[k] for k in _PRICES)
    out["high"], out["low"] = np.maximum.reduce([h, o, c]), np.minimum.reduce([lo, o, c])
    return out


def _check_rows(sym: str, times: pd.DatetimeIndex, v: dict) -> None:
    o, h, lo, c, vol = (v[k] for k in _REQUIRED)

    def fail(mask: np.ndarray, problem: str) -> None:
        if mask.any():
            i = int(np.argmax(mask))
            raise ValueError(f"{sym}: {problem} at {times[i]} (row {i}; {int(mask.sum())} such row(s)): "
                             f"open={o[i]}, high={h[i]}, low={lo[i]}, close={c[i]}, volume={vol[i]}")

    ns = times.asi8
    step = np.diff(ns)
    if (step < 0).any():
        i = int(np.argmax(step < 0)) + 1
        raise ValueError(f"{sym}: times are not in ascending order: {times[i]} (row {i}) comes after {times[i - 1]}")
    if (step == 0).any():
        i = int(np.argmax(step == 0)) + 1
        raise ValueError(f"{sym}: duplicate time {times[i]} (rows {i - 1} and {i})")
    fail(np.minimum.reduce([o, h, lo, c]) <= 0, "price not positive")
    fail(vol < 0, "negative volume")
    fail(h < lo, "high < low")
    fail(h < np.maximum(o, c) * (1 - _NOISE), "high below open or close")
    fail(lo > np.minimum(o, c) * (1 + _NOISE), "low above open or close")


def _daily_kind(times: pd.DatetimeIndex) -> str | None:
    """'naive', 'et' or 'utc' if every time is a midnight of that kind, else None."""
    if times.tz is None:
        return "naive" if (times == times.normalize()).all() else None
    et = times.tz_convert(ET)
    if (et == et.normalize()).all():
        return "et"
    return "utc" if (times == times.normalize()).all() else None


def _dates(sym: str, times: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Naive session dates of daily bars."""
    if times.tz is None:
        dates = times.normalize()
    elif _daily_kind(times) == "utc":
        dates = times.tz_convert("UTC").tz_localize(None).normalize()
    else:
        dates = times.tz_convert(ET).tz_localize(None).normalize()
    if dates.has_duplicates:
        i = int(np.argmax(dates.duplicated()))
        raise ValueError(f"{sym}: two daily bars on {dates[i].date()} (row {i})")
    return dates


def _utc(times: pd.DatetimeIndex) -> pd.DatetimeIndex:
    out = times.tz_localize("UTC") if times.tz is None else times
    return out.as_unit("ns")


def _timeframe(parsed: dict[str, dict], timeframe) -> tuple[str, int | None]:
    if timeframe is not None:
        return parse_timeframe(timeframe)
    found: dict[str, list[str]] = {}
    single: list[str] = []
    for sym, p in parsed.items():
        t = p["times"]
        if _daily_kind(t) is not None:
            tf = "1Day"
        elif len(t) < 2:
            single.append(sym)
            continue
        else:
            minutes = int(round(np.median(np.diff(t.asi8)) / 60e9))
            tf = f"{minutes // 60}Hour" if minutes % 60 == 0 else f"{minutes}Min"
            try:
                parse_timeframe(tf)
            except ValueError:
                raise ValueError(f"{sym}: inferred bar length of {minutes} minutes is not an Alpaca timeframe; "
                                 "pass timeframe=") from None
        found.setdefault(tf, []).append(sym)
    if not found:
        raise ValueError(f"{', '.join(single[:5])}{'...' if len(single) > 5 else ''}: cannot infer the bar length "
                         "from a single intraday bar; pass timeframe='1Hour' (or similar)")
    if len(found) > 1:
        detail = "; ".join(f"{tf}: {', '.join(syms[:5])}" for tf, syms in found.items())
        raise ValueError(f"symbols have different bar lengths ({detail}); load them separately or pass timeframe=")
    return parse_timeframe(next(iter(found)))
