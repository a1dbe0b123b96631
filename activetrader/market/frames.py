"""Data frames and alpaca-py data-client answers for any market, built on ``arrays()``.

:class:`MarketData` is the shared half of :class:`~activetrader.market.SimulatedMarket` and
:class:`~activetrader.market.HistoricalMarket`. It gives

* :meth:`MarketData.bars`: a data frame shaped like alpaca-py's ``BarSet.df`` (a
  ``(symbol, timestamp)`` MultiIndex and the columns of ``BAR_COLUMNS``);
* drop-in methods of alpaca-py's ``StockHistoricalDataClient``: ``get_stock_bars``,
  ``get_stock_latest_bar``, ``get_stock_latest_trade`` and ``get_stock_snapshot``.

All of them see only bars that are *complete* by :attr:`MarketData.as_of` (the broker sets it to
its ``now``), so a strategy can never look ahead. Daily bars are labelled at midnight ET of the
session date (as Alpaca labels them); intraday bars at their start. A timeframe coarser than the
native one is aggregated: ``"1Day"`` from intraday bars is the aggregate of each session's
regular bars (base.py says which bars count as regular); ``"nMin"``/``"nHour"`` groups bars by
clock-aligned UTC windows. Per-(symbol, timeframe) arrays are cached, so repeated calls cost
a few searches per symbol.
"""

from __future__ import annotations

import copy
import datetime as _dt
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd

from .base import BAR_COLUMNS, BarArrays, UnknownSymbolError
from .sessions import ET, MarketCalendar, to_ns

_MIN = 60_000_000_000
_TF_RE = re.compile(r"^\s*(\d+)\s*(Min|Hour|Day|Week|Month)\s*$")
#: Synthetic size of the trade and quotes derived from a bar close (no tick data here).
TRADE_SIZE = 100


def parse_timeframe(timeframe) -> tuple[str, int | None]:
    """``(canonical string, length in ns)`` of a timeframe; the length of ``"1Day"`` is None.

    Accepts alpaca-py's ``TimeFrame`` or its string value (``"1Day"``, ``"1Hour"``, ``"15Min"``).

    >>> parse_timeframe("15Min")
    ('15Min', 900000000000)
    """
    value = getattr(timeframe, "value", timeframe)
    m = _TF_RE.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"timeframe {timeframe!r}: expected an alpaca-py TimeFrame or e.g. '1Day', '1Hour', '15Min'")
    n, unit = int(m[1]), m[2]
    if unit in ("Week", "Month"):
        raise ValueError(f"timeframe {value!r}: weekly and monthly bars are not supported; use '1Day' and pandas resample")
    if unit == "Day":
        if n != 1:
            raise ValueError(f"timeframe {value!r}: Day units can only be used with amount 1 (as at Alpaca)")
        return "1Day", None
    limit = 23 if unit == "Hour" else 59
    if not 1 <= n <= limit:
        raise ValueError(f"timeframe {value!r}: {unit} units can only be used with amounts 1-{limit} (as at Alpaca)")
    return f"{n}{unit}", n * (60 if unit == "Hour" else 1) * _MIN


class _View(NamedTuple):
    """One symbol's bars in one timeframe: int-ns labels and ends, float columns."""

    label: np.ndarray
    end: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    trade_count: np.ndarray
    vwap: np.ndarray


class BarWindow(NamedTuple):
    """Bars ``start:stop`` of one symbol's cached view (see :meth:`MarketData.bar_windows`)."""

    symbol: str
    view: _View
    start: int
    stop: int


class BarBlock(NamedTuple):
    """Symbols whose bars lie on one time grid (the same labels and ends: the daily bars of
    stocks trading the same sessions), so one range ``start:stop`` holds for each of them.
    ``views`` is the same tuple object on every call for the same universe: a key for caches."""

    symbols: tuple[str, ...]
    views: tuple[_View, ...]
    start: int
    stop: int


class BarWindows(Sequence):
    """What :meth:`MarketData.bar_windows` returns: a sequence of :class:`BarWindow` in symbol
    order, built only when read; ``blocks`` holds the same ranges per time grid."""

    __slots__ = ("blocks", "_order", "_list")

    def __init__(self, blocks: list[BarBlock], order: tuple[tuple[int, int], ...]) -> None:
        self.blocks, self._order, self._list = blocks, order, None

    def _windows(self) -> list[BarWindow]:
        if self._list is None:
            self._list = [BarWindow(b.symbols[j], b.views[j], b.start, b.stop)
                          for i, j in self._order for b in (self.blocks[i],)]
        return self._list

    def __getitem__(self, i):
        return self._windows()[i]

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self):
        return iter(self._windows())


class _Universe(NamedTuple):
    """One cached ``bar_windows`` universe: per time grid its symbols, views and bound lists."""

    grids: tuple[tuple[tuple[str, ...], tuple[_View, ...], list, list], ...]
    order: tuple[tuple[int, int], ...]  # (grid, column) of each symbol, in symbol order


def _aggregate(v: _View, first: np.ndarray, label: np.ndarray, end: np.ndarray) -> _View:
    """Aggregate consecutive bars of ``v`` into groups starting at the indices ``first``."""
    if len(first) == 0:
        return _View(label, end, *([np.empty(0)] * 7))
    last = np.r_[first[1:], len(v.label)] - 1
    volume = np.add.reduceat(v.volume, first)
    pv = np.add.reduceat(v.vwap * v.volume, first)
    typical = (np.maximum.reduceat(v.high, first) + np.minimum.reduceat(v.low, first) + v.close[last]) / 3
    vwap = np.divide(pv, volume, out=typical.copy(), where=volume > 0)
    return _View(label, end, v.open[first], np.maximum.reduceat(v.high, first), np.minimum.reduceat(v.low, first),
                 v.close[last], volume, np.add.reduceat(v.trade_count, first), vwap)


def iso_times(ns: np.ndarray) -> list[str]:
    """RFC 3339 strings (``...Z``) of int-ns UTC instants, as the Alpaca API writes them."""
    return np.datetime_as_string(ns.astype("datetime64[ns]").astype("datetime64[s]"), unit="s", timezone="UTC").tolist()


with warnings.catch_warnings():
    # alpaca-py 0.44 imports the deprecated ``websockets.legacy``: silence that one warning only.
    warnings.filterwarnings("ignore", message="websockets.legacy is deprecated", category=DeprecationWarning)
    from alpaca.data import models as _models


class BarSet(_models.BarSet):
    """alpaca-py's ``BarSet`` whose ``.df`` does not warn under pandas 3.1.

    alpaca-py 0.44 calls ``dropna(inplace=True)`` in ``.df``, which pandas 3.1 deprecates; the
    frame is alpaca-py's own, only that one warning is silenced (it fails ``-W error`` suites).
    """

    @property
    def df(self) -> pd.DataFrame:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.dropna")
            return _models.BarSet.df.fget(self)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal int arrays, cheaply refuted: length and last element first."""
    return a is b or (len(a) == len(b) and (not len(a) or a[-1] == b[-1]) and bool(np.array_equal(a, b)))


def _num(x: float) -> float | None:
    return None if x != x else x


class MarketData:
    """Mixin: frames and alpaca-py data-client methods for a market that has ``arrays()``.

    A subclass provides ``symbols``, ``timeframe``, ``calendar`` and ``arrays(symbol)`` (base.py).
    """

    symbols: tuple[str, ...]
    timeframe: str
    calendar: MarketCalendar
    _as_of_ns: int | None = None

    def arrays(self, symbol: str) -> BarArrays:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    # -- time and symbols -----------------------------------------------------------
    @property
    def as_of(self) -> pd.Timestamp | None:
        """The moment the data methods answer for (None: all data); only bars complete by it are seen.

        Anything ``pandas.Timestamp`` accepts; naive means UTC (as in alpaca-py).
        """
        return None if self._as_of_ns is None else pd.Timestamp(self._as_of_ns, tz="UTC")

    @as_of.setter
    def as_of(self, value) -> None:
        self._as_of_ns = None if value is None else to_ns(value)

    #: The lazily filled caches of derived data (views, grids, universes): :meth:`fork` shares them.
    _CACHES = ("_views", "_universes", "_grid_of", "_grids")

    def fork(self):
        """A shallow copy with a clock (:attr:`as_of`) of its own that shares the bars and every
        cache with this market, including those not filled yet (a backtest runs on one, so a
        second backtest on the same market finds its views and grids built).

        >>> from activetrader.market import SimulatedMarket
        >>> m = SimulatedMarket(seed=7)
        >>> f = m.fork()
        >>> f.as_of = "2024-03-04 14:00"
        >>> m.as_of is None, len(f.bars("SPY")) > 0, f._views is m._views
        (True, True, True)
        """
        for name in self._CACHES:
            self.__dict__.setdefault(name, {})
        return copy.copy(self)

    def __contains__(self, symbol: object) -> bool:
        known = self.__dict__.get("_symbol_set")
        if known is None:
            known = self.__dict__["_symbol_set"] = frozenset(self.symbols)
        return symbol in known

    def _check(self, symbol) -> str:
        if not isinstance(symbol, str) or symbol not in self:
            raise UnknownSymbolError(str(symbol), self.symbols)
        return symbol

    def _symbol_list(self, symbols) -> list[str]:
        items = [symbols] if isinstance(symbols, str) else list(symbols)
        return sorted({self._check(s) for s in items})

    # -- per-symbol views -----------------------------------------------------------
    def _native_extras(self, symbol: str, a: BarArrays) -> tuple[np.ndarray, np.ndarray]:
        """``(trade_count, vwap)`` of the native bars: unknown counts, typical price (h+l+c)/3."""
        return np.full(len(a), np.nan), (a.high + a.low + a.close) / 3

    def _view(self, symbol: str, timeframe: str) -> _View:
        views = self.__dict__.setdefault("_views", {})
        v = views.get((symbol, timeframe))
        if v is None:
            v = views[(symbol, timeframe)] = self._build_view(symbol, timeframe)
        return v

    def _build_view(self, symbol: str, timeframe: str) -> _View:
        native, native_ns = parse_timeframe(self.timeframe)
        want, want_ns = parse_timeframe(timeframe)
        if want != native:  # aggregate from the native view
            if native_ns is None or (want_ns is not None and (want_ns < native_ns or want_ns % native_ns)):
                raise ValueError(f"timeframe {want!r} cannot be built from this market's {native!r} bars "
                                 "(only coarser multiples of it, or '1Day')")
            v = self._view(symbol, native)
            if want_ns is None:
                a = self.arrays(symbol)
                keep = np.flatnonzero(a.regular)
                v = _View(*(col[keep] for col in v))
                sess = np.searchsorted(self.calendar.closes, v.label, side="right")
            else:
                sess = v.label // want_ns
            first = np.flatnonzero(np.r_[True, sess[1:] != sess[:-1]]) if len(sess) else np.empty(0, np.int64)
            if want_ns is None:
                s = sess[first]
                return _aggregate(v, first, self.calendar.day_stamps[s], self.calendar.closes[s])
            return _aggregate(v, first, sess[first] * want_ns, np.maximum.reduceat(v.end, first) if len(first) else first)
        a = self.arrays(symbol)
        trade_count, vwap = self._native_extras(symbol, a)
        label = a.start
        if native_ns is None:
            label = self.calendar.day_stamps[np.searchsorted(self.calendar.opens, a.start)]
        return _View(label, a.end, a.open, a.high, a.low, a.close, a.volume, trade_count, vwap)

    def _complete(self, v: _View) -> int:
        return len(v.end) if self._as_of_ns is None else int(np.searchsorted(v.end, self._as_of_ns, side="right"))

    # -- data frames ----------------------------------------------------------------
    def bars(self, symbols, start=None, end=None, *, timeframe=None, limit: int | None = None) -> pd.DataFrame:
        """Bars of one or more symbols as a data frame shaped like alpaca-py's ``BarSet.df``.

        ``start``/``end`` bound the bar labels, inclusive. A naive value at midnight (``"2024-01-05"``,
        a ``date``) is a New York calendar date and covers that whole day; any other naive time
        is UTC. ``timeframe`` defaults to the native one and may be coarser (``"1Day"`` from
        hourly bars). ``limit`` keeps the most recent ``limit`` bars *per symbol* (alpaca's
        ``limit`` counts across symbols; :meth:`get_stock_bars` does that). Only bars complete by
        :attr:`as_of` are returned; symbols are in alphabetical order.
        """
        tf = parse_timeframe(timeframe if timeframe is not None else self.timeframe)[0]
        lo, hi = _bound(start, False), _bound(end, True)
        parts = []
        for sym in self._symbol_list(symbols):
            v = self._view(sym, tf)
            i1 = min(self._complete(v), int(np.searchsorted(v.label, hi, side="right")))
            i0 = int(np.searchsorted(v.label, lo, side="left"))
            if limit is not None:
                i0 = max(i0, i1 - int(limit))
            parts.append((sym, v, i0, max(i0, i1)))
        return _frame(parts)

    # -- native fast path ------------------------------------------------------------------
    def bar_windows(self, symbols, start_ns: int, end_ns: int, timeframe: str = "1Day") -> BarWindows:
        """Per symbol, the bars :meth:`get_stock_bars` would return for ``start``/``end`` (bounds
        on the bar label, inclusive; only bars complete by :attr:`as_of`) as index ranges into
        cached arrays: no copies, no alpaca-py models. Symbols in alphabetical order; unknown
        ones raise :class:`UnknownSymbolError` as there.

        Symbols on the same time grid share one range (``.blocks``), so a call costs a few
        searches per grid, not per symbol.

        >>> from activetrader.market import SimulatedMarket
        >>> m = SimulatedMarket(seed=7)
        >>> m.as_of = "2024-03-04 14:00"
        >>> w = m.bar_windows(["SPY"], 0, m.as_of.value)[0]
        >>> float(w.view.close[w.stop - 1]) == float(m.bars("SPY")["close"].iloc[-1])
        True
        """
        cache = self.__dict__.setdefault("_universes", {})
        key = (tuple(symbols), timeframe)
        u = cache.get(key)
        if u is None:  # a universe seen before costs nothing to check again
            u = cache[key] = self._by_grid(key[0], parse_timeframe(timeframe)[0])
        as_of = self._as_of_ns
        blocks = []
        for syms, views, label, end in u.grids:
            i0 = bisect_left(label, start_ns)
            complete = len(end) if as_of is None else bisect_right(end, as_of)
            blocks.append(BarBlock(syms, views, i0, max(i0, min(complete, bisect_right(label, end_ns)))))
        return BarWindows(blocks, u.order)

    def _by_grid(self, symbols: tuple[str, ...], tf: str) -> _Universe:
        """Group the symbols' views by time grid (views with equal labels and ends)."""
        members: dict[int, tuple[tuple, list[str]]] = {}  # id(grid) -> (grid, its symbols), first seen first
        for sym in self._symbol_list(symbols):
            g = self._grid(sym, tf)
            members.setdefault(id(g), (g, []))[1].append(sym)
        column = {}
        out = []
        for k, (g, names) in enumerate(members.values()):
            syms = tuple(names)
            column.update((s, (k, j)) for j, s in enumerate(syms))
            out.append((syms, tuple(self._view(s, tf) for s in syms), g[2], g[3]))
        return _Universe(tuple(out), tuple(column[s] for s in sorted(column)))

    def _grid(self, symbol: str, tf: str) -> tuple:
        """The shared ``(label, end, label list, end list)`` of the grid ``symbol``'s bars lie on
        (plain lists: bisect on one value beats a numpy call)."""
        known = self.__dict__.setdefault("_grid_of", {})
        g = known.get((symbol, tf))
        if g is None:
            v = self._view(symbol, tf)
            grids = self.__dict__.setdefault("_grids", {}).setdefault(tf, [])
            g = next((g for g in grids if _same(g[0], v.label) and _same(g[1], v.end)), None)
            if g is None:
                g = (v.label, v.end, v.label.tolist(), v.end.tolist())
                grids.append(g)
            known[(symbol, tf)] = g
        return g

    @staticmethod
    def windows_frame(windows: Sequence[BarWindow]) -> pd.DataFrame:
        """The ``BarSet.df``-shaped frame of :meth:`bar_windows` (what ``get_stock_bars(...).df`` holds)."""
        return _frame([(w.symbol, w.view, w.start, w.stop) for w in windows if w.stop > w.start])

    # -- alpaca-py StockHistoricalDataClient drop-ins -----------------------------------
    def get_stock_bars(self, request_params):
        """Drop-in for ``StockHistoricalDataClient.get_stock_bars``: a ``BarSet`` of complete bars.

        Honours ``symbol_or_symbols``, ``timeframe``, ``start``, ``end`` (naive = UTC, bounds on the
        bar label, inclusive), ``limit`` (counted across symbols, taken in alphabetical symbol
        order, as Alpaca pages them) and ``sort``. As at Alpaca, a missing ``start`` means the
        beginning of the current day (read here as midnight ET of :attr:`as_of`, the time zone is
        unverified; everything if ``as_of`` is None): pass ``start`` for history. ``feed`` and
        ``adjustment`` are ignored. Symbols without bars are left out.
        """
        r = request_params
        tf = parse_timeframe(r.timeframe)[0]
        lo = to_ns(r.start) if r.start is not None else self._today_ns()
        hi = to_ns(r.end) if r.end is not None else np.iinfo(np.int64).max
        desc = getattr(r.sort, "value", r.sort) == "desc"
        remaining = r.limit if r.limit is not None else None
        raw = {}
        for sym in self._symbol_list(r.symbol_or_symbols):
            v = self._view(sym, tf)
            i0 = int(np.searchsorted(v.label, lo, side="left"))
            i1 = max(i0, min(self._complete(v), int(np.searchsorted(v.label, hi, side="right"))))
            if remaining is not None:
                take = min(remaining, i1 - i0)
                i0, i1 = (i1 - take, i1) if desc else (i0, i0 + take)
                remaining -= take
            if i1 > i0:
                bars = _raw_bars(v, i0, i1)
                raw[sym] = bars[::-1] if desc else bars
        return BarSet(raw)

    def get_stock_latest_bar(self, request_params) -> dict:
        """Drop-in for ``get_stock_latest_bar``: the last complete native bar of each symbol."""
        out = {}
        for sym in self._symbol_list(request_params.symbol_or_symbols):
            v = self._view(sym, self.timeframe)
            i = self._complete(v)
            if i:
                out[sym] = _models.Bar(sym, _raw_bars(v, i - 1, i)[0])
        return out

    def get_stock_latest_trade(self, request_params) -> dict:
        """Drop-in for ``get_stock_latest_trade``: a synthetic trade at the last complete bar's close.

        Its timestamp is that bar's end (when it was complete) and its size is ``TRADE_SIZE``.
        Symbols without a complete bar yet are left out, as Alpaca leaves out symbols without data.
        """
        out = {}
        for sym in self._symbol_list(request_params.symbol_or_symbols):
            trade = self._raw_trade(sym)
            if trade is not None:
                out[sym] = _models.Trade(sym, trade)
        return out

    def get_stock_snapshot(self, request_params) -> dict:
        """Drop-in for ``get_stock_snapshot``: ``{symbol: Snapshot}``.

        ``latest_trade`` as :meth:`get_stock_latest_trade`; ``latest_quote`` has bid = ask = the
        last close (no quote data here: a zero spread); ``minute_bar`` is the last complete native
        bar; ``daily_bar`` and ``previous_daily_bar`` are the last two *complete* daily bars (at
        Alpaca ``daily_bar`` is today's bar in progress during the session). Fields are None
        before the first complete bar.
        """
        out = {}
        for sym in self._symbol_list(request_params.symbol_or_symbols):
            raw = {}
            trade = self._raw_trade(sym)
            if trade is not None:
                raw["latestTrade"] = trade
                raw["latestQuote"] = {"t": trade["t"], "ap": trade["p"], "as": 1, "bp": trade["p"], "bs": 1}
                v = self._view(sym, self.timeframe)
                i = self._complete(v)
                raw["minuteBar"] = _raw_bars(v, i - 1, i)[0]
            d = self._view(sym, "1Day")
            j = self._complete(d)
            if j:
                raw["dailyBar"] = _raw_bars(d, j - 1, j)[0]
            if j > 1:
                raw["prevDailyBar"] = _raw_bars(d, j - 2, j - 1)[0]
            out[sym] = _models.Snapshot(sym, raw)
        return out

    def _raw_trade(self, sym: str) -> dict | None:
        v = self._view(sym, self.timeframe)
        i = self._complete(v)
        if not i:
            return None
        return {"t": iso_times(v.end[i - 1: i])[0], "p": float(v.close[i - 1]), "s": TRADE_SIZE}

    def _today_ns(self) -> int:
        if self._as_of_ns is None:
            return np.iinfo(np.int64).min
        day = pd.Timestamp(self._as_of_ns, tz="UTC").tz_convert(ET).normalize()
        return int(day.tz_convert("UTC").value)


def _bound(value, is_end: bool) -> int:
    """Bound of :meth:`MarketData.bars` in int ns: dates (naive midnights) are whole ET days."""
    if value is None:
        return np.iinfo(np.int64).max if is_end else np.iinfo(np.int64).min
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        value = pd.Timestamp(value)
    ts = pd.Timestamp(value)
    if ts.tzinfo is None and ts == ts.normalize():
        day = ts.tz_localize(ET)
        if is_end:
            day = (ts + pd.Timedelta(days=1)).tz_localize(ET) - pd.Timedelta(1, "ns")
        return int(day.tz_convert("UTC").value)
    return to_ns(ts)


def _raw_bars(v: _View, i0: int, i1: int) -> list[dict]:
    """Bars ``i0:i1`` of a view in the API's JSON shape (``t o h l c v n vw``)."""
    cols = [v.open[i0:i1].tolist(), v.high[i0:i1].tolist(), v.low[i0:i1].tolist(), v.close[i0:i1].tolist(),
            v.volume[i0:i1].tolist(), v.trade_count[i0:i1].tolist(), v.vwap[i0:i1].tolist()]
    return [{"t": t, "o": o, "h": h, "l": lo, "c": c, "v": vol, "n": _num(n), "vw": _num(vw)}
            for t, o, h, lo, c, vol, n, vw in zip(iso_times(v.label[i0:i1]), *cols)]


def _frame(parts: list[tuple[str, _View, int, int]]) -> pd.DataFrame:
    counts = [i1 - i0 for _, _, i0, i1 in parts]
    labels = np.concatenate([v.label[i0:i1] for _, v, i0, i1 in parts]) if parts else np.empty(0, np.int64)
    ts = pd.DatetimeIndex(labels.astype("datetime64[ns]")).tz_localize("UTC").as_unit("us")
    syms = np.repeat(np.array([s for s, *_ in parts] or [""], dtype=object)[: len(parts)], counts)
    index = pd.MultiIndex.from_arrays([pd.Index(syms, dtype="str"), ts], names=["symbol", "timestamp"])
    data = {c: (np.concatenate([getattr(v, c)[i0:i1] for _, v, i0, i1 in parts]) if parts else np.empty(0))
            for c in BAR_COLUMNS}
    return pd.DataFrame(data, index=index, columns=list(BAR_COLUMNS))
