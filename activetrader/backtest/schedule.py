"""When a backtest decides: the iteration times, checked against the market.

``every="1d"``: one iteration per session at ``at`` New York time (default 09:00, before the
open, so a decision sees complete daily bars only and a market order fills at the open).
``every="1h"``: one iteration per regular-session hour, at the open and every hour after it
while the session is open (09:30, 10:30, ... 15:30; four on an early-close day), so each
decision sees the hour that just completed. The run ends with one more point at the last
session's close, where the final equity is read.

>>> from activetrader.market import SimulatedMarket
>>> times, final = iteration_times(SimulatedMarket(seed=1, start="2024-01-02", end="2024-01-31"),
...                                "2024-01-02", "2024-01-04", every="1d", at="09:00")
>>> [t.tz_convert("America/New_York").strftime("%a %d %H:%M") for t in times]
['Tue 02 09:00', 'Wed 03 09:00', 'Thu 04 09:00']
>>> final.tz_convert("America/New_York").strftime("%a %d %H:%M")
'Thu 04 16:00'
"""

from __future__ import annotations

import datetime as _dt
import re

import numpy as np
import pandas as pd

from ..market.frames import parse_timeframe
from ..market.sessions import ET, utc_index

#: The schedules a backtest knows, by their accepted spellings.
EVERY = {"1d": "1d", "1day": "1d", "day": "1d", "1h": "1h", "1hour": "1h", "hour": "1h"}
_HOUR = 3_600_000_000_000
_AT = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def parse_every(every) -> str:
    """``"1d"`` or ``"1h"``; anything else is a ``ValueError`` naming what is allowed."""
    key = every.strip().lower() if isinstance(every, str) else None
    if key not in EVERY:
        raise ValueError(f"every={every!r} is not a backtest schedule: use '1d' (one iteration per "
                         "session at `at`) or '1h' (one per regular-session hour)")
    return EVERY[key]


def parse_at(at) -> pd.Timedelta:
    """``"HH:MM"`` (New York time) or a ``datetime.time`` as the offset from midnight."""
    if isinstance(at, _dt.time):
        return pd.Timedelta(hours=at.hour, minutes=at.minute, seconds=at.second)
    m = _AT.match(at) if isinstance(at, str) else None
    if m is None or int(m[1]) > 23 or int(m[2]) > 59:
        raise ValueError(f"at={at!r} is not a time of day: use 'HH:MM' New York time, e.g. '09:00'")
    return pd.Timedelta(hours=int(m[1]), minutes=int(m[2]))


def parse_date(value, name: str) -> pd.Timestamp:
    """A session date (naive midnight) from a date, a string or a Timestamp (aware: its New York date)."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = None
    if ts is None or ts is pd.NaT:
        raise ValueError(f"{name}={value!r} is not a date (use e.g. '2024-01-02')")
    if ts.tzinfo is not None:
        ts = ts.tz_convert(ET).tz_localize(None)
    return ts.normalize()


def iteration_times(market, start, end, *, every: str = "1d", at="09:00") -> tuple[pd.DatetimeIndex, pd.Timestamp]:
    """``(iteration times, final close)``, both UTC, for sessions ``start``..``end`` (inclusive).

    Errors name the problem: ``start`` not before ``end``, dates outside the market's bars, no
    session in the range, or ``every="1h"`` on a market of daily bars.
    """
    every, offset = parse_every(every), parse_at(at)
    lo, hi = parse_date(start, "start"), parse_date(end, "end")
    if lo >= hi:
        raise ValueError(f"start ({lo.date()}) must be before end ({hi.date()})")
    first = market.start.tz_convert(ET).tz_localize(None).normalize()
    last = market.end.tz_convert(ET).tz_localize(None).normalize()
    if lo < first or hi > last:
        raise ValueError(f"{lo.date()}..{hi.date()} is outside the market's bars ({first.date()}..{last.date()}): "
                         "choose dates inside it")
    cal = market.calendar
    days = cal.sessions_between(lo, hi)
    if len(days) == 0:
        raise ValueError(f"no trading session between {lo.date()} and {hi.date()}")
    idx = cal.sessions.get_indexer(days)
    final = pd.Timestamp(int(cal.closes[idx[-1]]), tz="UTC")
    if every == "1d":
        return (days + offset).tz_localize(ET).tz_convert("UTC"), final
    if parse_timeframe(market.timeframe)[1] is None:
        raise ValueError(f"every='1h' needs intraday bars; this market has {market.timeframe!r} bars "
                         "(e.g. SimulatedMarket(timeframe='1Hour'))")
    opens, closes = cal.opens[idx], cal.closes[idx]
    n = -(-(closes - opens) // _HOUR)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    ns = np.repeat(opens, n) + k * _HOUR
    return utc_index(ns), final
