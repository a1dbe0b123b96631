"""Round trips rebuilt from the broker's fills and orders, after the run.

Each buy fill opens a lot; each sell fill closes lots first in, first out, so a trim that sells
part of a lot is its own row and the rest of the lot closes later in another. What a row says:

* ``purpose``: what the buy was for, read from its client order id
  (``at-YYYYMMDDHHMM-<code>-<SYM>``): ``e`` and ``b`` are an ``entry``, ``h`` a ``hedge``;
  anything else (e.g. a position the account held before) is ``legacy``.
* ``exit_reason``: ``take_profit`` / ``stop_loss`` when a take-profit or stop order (a bracket
  leg or an OCO) filled, ``trim`` for the rebalancing sale (code ``t``), ``exit`` for any other
  sale (code ``x``: the price was already beyond the stop), ``open`` when the lot is still held
  at the end (``exit_time``/``exit_price`` empty; ``pnl`` marked to the last close).
* ``gap``: the exit filled at a price beyond its level, which only a bar opening beyond it does
  (a stop below its stop price, a take-profit above its limit); ``exit_level`` is that level.
* ``pnl = (exit - entry) × qty`` and ``return_pct = exit / entry - 1`` (for open lots, with the
  last close as the exit).

>>> import pandas as pd
>>> from activetrader.broker.sim import Fill
>>> t = pd.Timestamp("2024-01-02 14:30", tz="UTC")
>>> orders = pd.DataFrame({"id": ["1", "2", "3"], "client_order_id": ["at-202401020900-e-ABC", "2", "3"],
...     "type": ["market", "limit", "stop"], "limit_price": [None, 11.5, None],
...     "stop_price": [None, None, 9.5], "parent_id": [None, "1", "1"],
...     "role": ["entry", "take_profit", "stop_loss"]})
>>> fills = [Fill(t, "1", "ABC", "buy", 10, 10.0, 0.0),
...          Fill(t + pd.Timedelta(days=1), "3", "ABC", "sell", 10, 9.0, -10.0)]
>>> row = round_trips(fills, orders, marks={}).iloc[0]
>>> row.exit_reason, bool(row.gap), float(row.exit_level), float(row.pnl), round(float(row.return_pct), 3), row.purpose
('stop_loss', True, 9.5, -10.0, -0.1, 'entry')
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd

from ..market.sessions import ET

COLUMNS = ["symbol", "qty", "entry_time", "entry_price", "exit_time", "exit_price", "exit_reason", "gap", "pnl",
           "return_pct", "purpose", "exit_level", "entry_order_id", "exit_order_id"]
#: Client-order-id code of a buy -> the purpose of the position it opened.
PURPOSES = {"e": "entry", "b": "entry", "h": "hedge"}
EXIT_REASONS = ("take_profit", "stop_loss", "trim", "exit", "open")
_EPS = 1e-9
_NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds


def code_of(client_order_id) -> str | None:
    """The intent code of a client order id made by the Trader (``at-<time>-<code>-<SYM>``), else None.

    >>> code_of("at-202401020900-rw-AAPL"), code_of("my-own-id")
    ('rw', None)
    """
    if not isinstance(client_order_id, str) or not client_order_id.startswith("at-"):
        return None
    parts = client_order_id.split("-")
    return parts[2] if len(parts) >= 4 else None


def round_trips(fills, orders: pd.DataFrame, marks: dict[str, float]) -> pd.DataFrame:
    """One row per round trip (see the module docstring); ``marks`` prices the lots still open."""
    ids = orders["id"].tolist()
    cid = dict(zip(ids, orders["client_order_id"].tolist()))
    info = {}
    for oid, parent, role, limit, stop in zip(ids, orders["parent_id"].tolist(), orders["role"].tolist(),
                                              orders["limit_price"].tolist(), orders["stop_price"].tolist()):
        parent = parent if isinstance(parent, str) else None
        info[oid] = (code_of(cid.get(parent or oid)), role, limit, stop)
    lots: dict[str, deque] = {}
    rows: list[tuple] = []
    for f in fills:
        code, role, limit, stop = info.get(f.order_id, (None, None, np.nan, np.nan))
        if f.side == "buy":
            lots.setdefault(f.symbol, deque()).append([f.qty, f.timestamp.value, f.price,
                                                      PURPOSES.get(code, "legacy"), f.order_id])
            continue
        if role == "take_profit":
            reason, level, gap = "take_profit", limit, f.price > limit + _EPS
        elif role == "stop_loss":
            reason, level, gap = "stop_loss", stop, f.price < stop - _EPS
        else:
            reason, level, gap = ("trim" if code == "t" else "exit"), np.nan, False
        left, queue, when = f.qty, lots.setdefault(f.symbol, deque()), f.timestamp.value
        while left > _EPS:
            if not queue:  # sold shares no lot explains (held before the run)
                rows.append((f.symbol, left, _NAT, np.nan, when, f.price, reason, gap, "legacy", level,
                             None, f.order_id))
                break
            lot = queue[0]
            q = min(lot[0], left)
            rows.append((f.symbol, q, lot[1], lot[2], when, f.price, reason, gap, lot[3], level, lot[4],
                         f.order_id))
            lot[0] -= q
            left -= q
            if lot[0] <= _EPS:
                queue.popleft()
    for symbol, queue in lots.items():
        for q, t, price, purpose, oid in queue:
            rows.append((symbol, q, t, price, _NAT, np.nan, "open", False, purpose, np.nan, oid, None))
    return _frame(rows, marks)


def _frame(rows: list[tuple], marks: dict[str, float]) -> pd.DataFrame:
    raw = ["symbol", "qty", "entry_time", "entry_price", "exit_time", "exit_price", "exit_reason", "gap", "purpose",
           "exit_level", "entry_order_id", "exit_order_id"]
    columns = list(zip(*rows)) if rows else [()] * len(raw)
    data = {}
    for name, values in zip(raw, columns):
        if name in ("entry_time", "exit_time"):
            ns = np.array(values, dtype=np.int64).view("datetime64[ns]")
            data[name] = pd.DatetimeIndex(ns).tz_localize("UTC").tz_convert(ET)
        elif name in ("qty", "entry_price", "exit_price", "exit_level"):
            data[name] = np.array(values, dtype=float)
        elif name == "gap":
            data[name] = np.array(values, dtype=bool)
        else:
            data[name] = list(values)
    df = pd.DataFrame(data, columns=raw)
    is_open = (df["exit_reason"] == "open").to_numpy()
    mark = df["symbol"].map(marks).astype(float).to_numpy() if len(df) else np.empty(0)
    out_price = np.where(is_open, mark, df["exit_price"].to_numpy())
    df["pnl"] = (out_price - df["entry_price"].to_numpy()) * df["qty"].to_numpy()
    df["return_pct"] = out_price / df["entry_price"].to_numpy() - 1
    df = df.sort_values(["entry_time", "exit_time"], kind="stable", na_position="last").reset_index(drop=True)
    return df[COLUMNS]
