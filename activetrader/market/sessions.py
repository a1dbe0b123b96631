"""Trading sessions of the US equity market, from the maintained `exchange_calendars` library.

Holidays and early closes come from the ``XNYS`` calendar; nothing here is hand-written
except Alpaca's extended-hours window around each session (alpaca-contract.md §3):
pre-market 04:00 ET to the open, after-hours from the close to 20:00 ET (17:00 ET on an
early-close day, four hours after the 13:00 close).

All instants are ``int`` nanoseconds since the epoch (UTC) internally, for fast
``searchsorted`` lookups in the broker's hot path; the public helpers accept anything
``pandas.Timestamp`` accepts (naive means UTC, as in alpaca-py).

>>> cal = MarketCalendar("2024-11-25", "2024-12-06")
>>> cal.session_close("2024-11-29")          # the day after Thanksgiving closes early
Timestamp('2024-11-29 18:00:00+0000', tz='UTC')
>>> cal.is_open("2024-11-28 15:00")          # Thanksgiving
False
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import exchange_calendars as xcals
import numpy as np
import pandas as pd

ET = "America/New_York"
_HOUR = 3_600_000_000_000


def to_timestamp(value) -> pd.Timestamp:
    """A UTC ``Timestamp`` from a str/datetime/Timestamp; naive values are taken as UTC."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        return ts.tz_localize("UTC")
    return ts.tz_convert("UTC")


def to_ns(value) -> int:
    """Int ns UTC of anything :func:`to_timestamp` takes (an int is already ns UTC)."""
    if type(value) is int:
        return value
    if isinstance(value, pd.Timestamp) and value.tzinfo is not None:
        return int(value.value)
    return int(to_timestamp(value).value)


@lru_cache(maxsize=1024)
def from_ns(ns: int) -> pd.Timestamp:
    """The UTC ``Timestamp`` of ``ns``, built once per instant (the simulated broker's clock and
    its orders' times are asked for again and again at one moment; a Timestamp never changes).

    >>> t = from_ns(1_735_848_000_000_000_000)
    >>> t, from_ns(t.value) is t
    (Timestamp('2025-01-02 20:00:00+0000', tz='UTC'), True)
    """
    return pd.Timestamp(int(ns), tz="UTC")


def utc_index(ns) -> pd.DatetimeIndex:
    """Int ns UTC instants (a list or an int64 array; int64 min reads NaT) as a UTC ``DatetimeIndex``.

    >>> utc_index([1_735_848_000_000_000_000, np.iinfo(np.int64).min]).tolist()
    [Timestamp('2025-01-02 20:00:00+0000', tz='UTC'), NaT]
    """
    return pd.DatetimeIndex(np.array(ns, dtype=np.int64).view("datetime64[ns]")).tz_localize("UTC")


@lru_cache(maxsize=16)
def _xnys(start: str, end: str):
    # XNYS has no lower bound (its *default* start is only 20 years back, so pass it explicitly).
    with warnings.catch_warnings():
        # exchange_calendars 4.13 calls Series.values on tz-aware columns (deprecated in pandas 3.1)
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops timezone")
        return xcals.get_calendar("XNYS", start=start, end=end)


class MarketCalendar:
    """Sessions (regular and extended) of the US equity market between two dates."""

    def __init__(self, start, end, *, exchange: str = "XNYS") -> None:
        if exchange != "XNYS":
            raise ValueError(f"exchange={exchange!r}: only 'XNYS' (US equities, as traded at Alpaca) is supported")
        # Pad so that 'next session' questions near the edges still have an answer.
        s = (to_timestamp(start) - pd.Timedelta(days=10)).strftime("%Y-%m-%d")
        e = (to_timestamp(end) + pd.Timedelta(days=10)).strftime("%Y-%m-%d")
        sched = _xnys(s, e).schedule
        self.sessions: pd.DatetimeIndex = pd.DatetimeIndex(sched.index)
        self.opens = sched["open"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        self.closes = sched["close"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        local_midnight = self.sessions.tz_localize(ET)
        self.pre_opens = (local_midnight + pd.Timedelta(hours=4)).tz_convert("UTC").asi8
        post = (local_midnight + pd.Timedelta(hours=20)).tz_convert("UTC").asi8
        early = (self.closes - self.opens) < 6 * _HOUR
        # After-hours on an early-close day run 4 hours past the close (13:00 -> 17:00 ET).
        self.post_closes = np.where(early, self.closes + 4 * _HOUR, post)
        #: Alpaca stamps daily bars at midnight ET of the session date.
        self.day_stamps = local_midnight.tz_convert("UTC").asi8

    # -- lookups on int ns ----------------------------------------------------------
    def session_at_or_after(self, ns: int) -> int:
        """Index of the session whose extended day (04:00-20:00 ET) contains ``ns``, or the next one."""
        i = int(np.searchsorted(self.post_closes, ns, side="right"))
        if i >= len(self.sessions):
            raise ValueError(f"{from_ns(ns)} is after the last session of the calendar ({self.sessions[-1].date()})")
        return i

    def regular_session_for_order(self, ns: int) -> int:
        """Index of the session a non-extended order submitted at ``ns`` works in.

        During a regular session that session; otherwise the next regular session
        (alpaca-contract.md §3: orders submitted after the close queue for the next session).
        """
        i = int(np.searchsorted(self.closes, ns, side="right"))
        if i >= len(self.sessions):
            raise ValueError(f"{from_ns(ns)} is after the last session of the calendar ({self.sessions[-1].date()})")
        return i

    def is_regular_ns(self, ns: int) -> bool:
        i = int(np.searchsorted(self.closes, ns, side="right"))
        return bool(i < len(self.opens) and self.opens[i] <= ns)

    # -- public, Timestamp-based ------------------------------------------------------
    def _index_of(self, date) -> int:
        d = pd.Timestamp(date)
        d = d.tz_localize(None) if d.tzinfo is not None else d
        d = d.normalize()
        i = self.sessions.searchsorted(d)
        if i >= len(self.sessions) or self.sessions[i] != d:
            raise KeyError(f"{d.date()} is not a trading session of XNYS")
        return int(i)

    def session_open(self, date) -> pd.Timestamp:
        return from_ns(self.opens[self._index_of(date)])

    def session_close(self, date) -> pd.Timestamp:
        return from_ns(self.closes[self._index_of(date)])

    def is_open(self, when) -> bool:
        """True during a regular session (09:30-16:00 ET, or to the early close)."""
        return self.is_regular_ns(to_ns(when))

    def is_extended(self, when) -> bool:
        """True in pre-market or after-hours of a trading day (not in the regular session)."""
        ns = to_ns(when)
        i = int(np.searchsorted(self.post_closes, ns, side="right"))
        if i >= len(self.sessions):
            return False
        return bool(self.pre_opens[i] <= ns) and not self.is_regular_ns(ns)

    def next_open(self, when) -> pd.Timestamp:
        """The next regular open strictly after ``when`` (Alpaca's clock semantics)."""
        ns = to_ns(when)
        i = int(np.searchsorted(self.opens, ns, side="right"))
        return from_ns(self.opens[i])

    def next_close(self, when) -> pd.Timestamp:
        """The close of the current session if open, else of the next session."""
        ns = to_ns(when)
        i = int(np.searchsorted(self.closes, ns, side="right"))
        return from_ns(self.closes[i])

    def sessions_between(self, start, end) -> pd.DatetimeIndex:
        s = pd.Timestamp(start).tz_localize(None) if pd.Timestamp(start).tzinfo else pd.Timestamp(start)
        e = pd.Timestamp(end).tz_localize(None) if pd.Timestamp(end).tzinfo else pd.Timestamp(end)
        return self.sessions[(self.sessions >= s.normalize()) & (self.sessions <= e.normalize())]
