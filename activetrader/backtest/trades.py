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

from ..market.sessions import ET, utc_index

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
    """The rows as a frame sorted by entry then exit time (a lot still open or held before the run
    last within its group, the order of the fills kept among equals), with ``pnl`` and ``return_pct``."""
    raw = ["symbol", "qty", "entry_time", "entry_price", "exit_time", "exit_price", "exit_reason", "gap", "purpose",
           "exit_level", "entry_order_id", "exit_order_id"]
    col = dict(zip(raw, map(list, zip(*rows)))) if rows else {name: [] for name in raw}
    entry_ns, exit_ns = (np.array(col[c], dtype=np.int64) for c in ("entry_time", "exit_time"))
    last = np.iinfo(np.int64).max  # NaT sorts last
    order = np.lexsort((np.where(exit_ns == _NAT, last, exit_ns), np.where(entry_ns == _NAT, last, entry_ns)))
    data: dict[str, object] = {}
    for name in raw:
        if name in ("entry_time", "exit_time"):
            data[name] = utc_index((entry_ns if name == "entry_time" else exit_ns)[order]).tz_convert(ET)
        elif name in ("qty", "entry_price", "exit_price", "exit_level"):
            data[name] = np.array(col[name], dtype=float)[order]
        elif name == "gap":
            data[name] = np.array(col[name], dtype=bool)[order]
        else:
            data[name] = [col[name][i] for i in order.tolist()]
    is_open = np.array([r == "open" for r in data["exit_reason"]], dtype=bool)
    mark = np.array([marks.get(s, np.nan) if o else np.nan for s, o in zip(data["symbol"], is_open)], dtype=float)
    out_price = np.where(is_open, mark, data["exit_price"])
    data["pnl"] = (out_price - data["entry_price"]) * data["qty"]
    data["return_pct"] = out_price / data["entry_price"] - 1
    return pd.DataFrame(data, columns=COLUMNS)
