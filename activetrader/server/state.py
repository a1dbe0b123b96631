"""The paper account kept in SQLite, so that ``activetrader serve --state FILE`` survives a restart.

After every change the venue saves, in one transaction:

* ``broker``: one row holding the SimBroker's state (its instance attributes, pickled, without
  the market and its calendar, which are rebuilt from ``--market`` on restart) and the venue's
  account configurations;
* ``orders`` and ``positions``: readable copies (one row per order, with status, prices and
  timestamps; one per position), for a look with any SQLite tool. They are written from the
  pickled state and never read back.

The pickle is the venue's own file: load state only from files you wrote (as with any pickle).

>>> import tempfile, os
>>> from activetrader.market import SimulatedMarket
>>> from activetrader.broker import SimBroker
>>> path = os.path.join(tempfile.mkdtemp(), "paper.sqlite")
>>> store = StateStore(path)
>>> broker = SimBroker(SimulatedMarket(seed=1), cash=5_000, start="2024-03-04 09:00-05:00")
>>> store.save_broker(broker, {})
>>> restored, config = StateStore(path).load(SimulatedMarket(seed=1))
>>> restored.get_account().cash, str(restored.now)
('5000.00', '2024-03-04 14:00:00+00:00')
"""

from __future__ import annotations

import io
import json
import pickle
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from ..market.base import BarArrays
from ..market.sessions import MarketCalendar

_SCHEMA = """
CREATE TABLE IF NOT EXISTS broker (id INTEGER PRIMARY KEY CHECK (id = 1), saved_at TEXT NOT NULL,
    now TEXT NOT NULL, symbols TEXT NOT NULL, configurations TEXT NOT NULL, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, client_order_id TEXT, symbol TEXT, side TEXT,
    type TEXT, order_class TEXT, time_in_force TEXT, qty REAL, notional REAL, limit_price REAL,
    stop_price REAL, status TEXT, filled_qty REAL, filled_avg_price REAL, parent_id TEXT, role TEXT,
    created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, qty REAL, avg_entry_price REAL);
"""


class StateError(RuntimeError):
    """A state file that cannot be used with this market (the message says why)."""


class StateStore:
    """A SQLite file holding one venue's paper account."""

    def __init__(self, path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def load(self, market):
        """``(broker, configurations)`` saved in the file, on ``market``; ``None`` if the file is new."""
        row = self._db.execute("SELECT symbols, configurations, state FROM broker WHERE id = 1").fetchone()
        if row is None:
            return None
        symbols, config, blob = row
        missing = sorted(set(json.loads(symbols)) - set(market.symbols))
        if missing:
            raise StateError(f"{self.path}: the saved account trades {', '.join(missing[:5])}, which the market "
                             "does not carry (start with the same --market it was saved with)")
        from ..broker import SimBroker

        attrs = pickle.loads(blob)
        # A fresh broker on this market at the saved time supplies what was not saved (the market,
        # its calendar, caches built from market data); the saved account state replaces the rest.
        broker = SimBroker(market, cash=0.0, start=pd.Timestamp(int(attrs["_now_ns"]), tz="UTC"))
        broker.__dict__.update(attrs)
        broker._sync_market_clock()
        return broker, json.loads(config)

    def save(self, venue) -> None:
        self.save_broker(venue.broker, venue.configurations)

    def save_broker(self, broker, configurations: dict) -> None:
        blob = _account_blob(broker)
        symbols = sorted({od.symbol for od in broker._orders.values()} | set(broker._positions))
        orders = [(od.id, od.client_order_id, od.symbol, od.side, od.type, od.order_class, od.time_in_force,
                   od.qty, od.notional, od.limit_price, od.stop_price, od.status, od.filled_qty, od.filled_avg_price,
                   od.parent_id, od.role, _iso(od.created_ns), _iso(od.updated_ns or od.created_ns))
                  for od in broker._orders.values()]
        positions = [(p.symbol, p.qty, p.avg_entry_price) for p in broker._positions.values()]
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("INSERT OR REPLACE INTO broker VALUES (1, datetime('now'), ?, ?, ?, ?)",
                           (broker.now.isoformat(), json.dumps(symbols), json.dumps(configurations), blob))
                db.execute("DELETE FROM orders")
                db.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", orders)
                db.execute("DELETE FROM positions")
                db.executemany("INSERT INTO positions VALUES (?,?,?)", positions)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _MarketData(Exception):
    pass


class _Probe(pickle.Pickler):
    """A pickler that refuses market data (bar arrays, calendars, numpy arrays, the market)."""

    def __init__(self, file, market) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._market = market

    def persistent_id(self, obj):
        if obj is self._market or isinstance(obj, (np.ndarray, BarArrays, MarketCalendar)):
            raise _MarketData
        return None


def _account_state(broker) -> dict:
    """The SimBroker's instance attributes that hold the account (orders, positions, cash, clock...).

    Attributes that reference market data (the market, its calendar, caches of bar arrays) are
    left out, whatever the broker's internals call them: they are rebuilt on load.
    """
    return {key: value for key, value in broker.__dict__.items() if not _holds_market_data(value, broker.market)}


#: Per broker class, the attributes that held market data at the last full probe: only a hint
#: for :func:`_account_blob` (a wrong one costs a second pass, never a different blob).
_EXCLUDED: dict[type, frozenset[str]] = {}


def _account_blob(broker) -> bytes:
    """``pickle.dumps(_account_state(broker))``, pickling the account once: the attributes that
    held market data last time are probed alone (each still left out only if it holds some now),
    the rest are pickled together by the probe; should that meet market data, every attribute is
    probed as in :func:`_account_state`."""
    market, hint = broker.market, _EXCLUDED.get(type(broker), frozenset())
    state = {k: v for k, v in broker.__dict__.items() if k not in hint or not _holds_market_data(v, market)}
    buf = io.BytesIO()
    try:
        _Probe(buf, market).dump(state)
    except _MarketData:
        state = _account_state(broker)
        _EXCLUDED[type(broker)] = frozenset(broker.__dict__).difference(state)
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    return buf.getvalue()


def _holds_market_data(value, market) -> bool:
    try:
        _Probe(io.BytesIO(), market).dump(value)
    except _MarketData:
        return True
    return False


def _iso(ns: int) -> str:
    return pd.Timestamp(int(ns), tz="UTC").isoformat()
