"""Journal: an append-only SQLite record of iterations, intents, order outcomes and settings.

Every write is its own committed transaction, so whatever a write call acknowledged (by
returning) is on disk in the journal file when it returns, and survives the process being
killed a moment later. An iteration is *begun*, gets its intents and order outcomes, and is
*ended* with a summary; one that was never ended (the process died, or it raised) reads back
as incomplete until a restart marks it *abandoned*. Reading gives the history as pandas
DataFrames.

**Write-ahead for orders.** Before each broker call the executor records that it is
*submitting* (:meth:`Journal.record_submitting`), and the outcome row resolves it
(:meth:`Journal.record_order`, in the same transaction). A process killed between the two
leaves an :meth:`~Journal.unresolved` submission, which the restart looks up at the broker by
its ``client_order_id`` and completes (``activetrader.live.recovery``); so every order the
broker received is journaled once, and nothing is submitted twice.

>>> import tempfile, pathlib
>>> tmp = tempfile.TemporaryDirectory()
>>> journal = Journal(pathlib.Path(tmp.name) / "journal.sqlite")
>>> journal.begin_iteration("it-1", "2024-03-05T15:00:00Z")
>>> journal.record_intent("it-1", 0, "enter", "AMD", "ENTER AMD 10 sh", {"qty": 10})
>>> journal.record_order("it-1", intent_seq=0, action="submit", symbol="AMD",
...                      client_order_id="at-1-0", order_id="o-1", accepted=True,
...                      status="accepted")
>>> journal.iterations()[["iteration_id", "complete"]]
  iteration_id  complete
0         it-1     False
>>> journal.end_iteration("it-1", {"orders": 1})
>>> journal.iterations().loc[0, "summary"]
{'orders': 1}
>>> journal  # doctest: +ELLIPSIS
Journal('.../journal.sqlite', iterations=1, intents=1, orders=1, settings_changes=0)
>>> journal.close(); tmp.cleanup()
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

__all__ = ["Journal", "JournalError", "SCHEMA_VERSION"]

#: The schema this module writes; stored in ``PRAGMA user_version``. Version 2 added the
#: ``submissions`` table and ``iterations.abandoned``; a version-1 journal is upgraded on open.
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE iterations (
    run          INTEGER PRIMARY KEY AUTOINCREMENT,
    iteration_id TEXT    NOT NULL,
    started_at   TEXT    NOT NULL,
    completed_at TEXT,
    dry_run      INTEGER NOT NULL,
    mode         TEXT    NOT NULL,
    summary      TEXT
);
CREATE INDEX iterations_by_id ON iterations (iteration_id, run);
CREATE TABLE intents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run         INTEGER NOT NULL REFERENCES iterations (run),
    seq         INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    symbol      TEXT,
    description TEXT    NOT NULL,
    data        TEXT    NOT NULL,
    recorded_at TEXT    NOT NULL,
    UNIQUE (run, seq)
);
CREATE TABLE orders (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    run             INTEGER NOT NULL REFERENCES iterations (run),
    intent_seq      INTEGER,
    action          TEXT    NOT NULL,
    symbol          TEXT,
    client_order_id TEXT,
    order_id        TEXT,
    accepted        INTEGER NOT NULL,
    status          TEXT,
    message         TEXT,
    http_status     INTEGER,
    error_code      INTEGER,
    recorded_at     TEXT    NOT NULL
);
CREATE TABLE settings_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    changed_at TEXT NOT NULL,
    path       TEXT NOT NULL,
    old        TEXT NOT NULL,
    new        TEXT NOT NULL
);
"""
#: Version 1 -> 2 (a new file gets the version-1 schema, then this).
_UPGRADE_2 = """
CREATE TABLE submissions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    run             INTEGER NOT NULL REFERENCES iterations (run),
    intent_seq      INTEGER,
    action          TEXT    NOT NULL,
    symbol          TEXT,
    client_order_id TEXT    NOT NULL,
    requested_at    TEXT    NOT NULL,
    resolved_by     INTEGER REFERENCES orders (id)
);
CREATE INDEX submissions_unresolved ON submissions (client_order_id, resolved_by);
ALTER TABLE iterations ADD COLUMN abandoned TEXT
"""
_TABLES = ("iterations", "intents", "orders", "settings_changes", "submissions")


class JournalError(ValueError):
    """A journal that cannot be used (unknown schema, not a journal, closed) or a write that
    refers to something it does not hold (an unknown iteration)."""


# ---------------------------------------------------------------- encoding helpers
def _json_default(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars (np.int64, np.bool_) -> Python
    if callable(item) and type(value).__module__ == "numpy":
        return item()
    raise TypeError(type(value).__name__)


def _offender(value: Any, where: str) -> tuple[str, str] | None:
    """(location, type name) of the first value json cannot encode, or None."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                return f"{where} key {key!r}", type(key).__name__
            found = _offender(inner, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, inner in enumerate(value):
            found = _offender(inner, f"{where}[{i}]")
            if found:
                return found
        return None
    try:
        json.dumps(value, default=_json_default)
    except (TypeError, ValueError):
        return where, type(value).__name__
    return None


def _encode(value: Any, field: str) -> str:
    """JSON text for ``value``; TypeError naming the field (and key) that cannot be encoded."""
    try:
        return json.dumps(value, default=_json_default, sort_keys=False)
    except (TypeError, ValueError):
        where, kind = _offender(value, field) or (field, type(value).__name__)
        raise TypeError(f"journal: {where} is not JSON-serialisable ({kind}); "
                        "journal payloads must be plain values (str, int, float, bool, "
                        "None, lists and dicts of them)") from None


def _decode(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _timestamp(value: Any, field: str) -> str:
    """ISO-8601 UTC text from a datetime, pandas Timestamp, date or ISO string.

    Naive datetimes are taken to be UTC.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"journal: {field} {value!r} is not an ISO-8601 timestamp") from None
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise TypeError(f"journal: {field} must be a datetime or an ISO-8601 string, "
                        f"not {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _optional_int(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            as_int = int(value)
        except (TypeError, ValueError):
            raise TypeError(f"journal: {field} must be an int or None, not {value!r}") from None
        if as_int != value:
            raise TypeError(f"journal: {field} must be an int or None, not {value!r}")
        return as_int
    return value


def _optional_str(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"journal: {field} must be a str or None, not {type(value).__name__}")


def _times(values: list[str | None]) -> pd.Series:
    """UTC timestamps (NaT for None) at one fixed resolution, whatever pandas would infer."""
    parsed = pd.to_datetime(pd.Series(values, dtype="object"), utc=True, format="ISO8601")
    return parsed.astype("datetime64[ns, UTC]")


# ---------------------------------------------------------------- the journal
class Journal:
    """An append-only SQLite journal in one file (created with its folders if missing).

    ``path`` is the journal file; an existing journal is reopened and appended to.
    ``sync`` is SQLite's ``synchronous`` level: ``"normal"`` (the default) keeps every
    acknowledged write across a killed or crashed process; ``"full"`` also keeps it across a
    power cut or OS crash, at the price of one fsync per write.

    Safe to share between threads (the live loop writes from its own thread): one
    connection, guarded by a lock. Several processes may open the same file (WAL allows
    concurrent readers; writers wait up to ``timeout`` seconds for each other).

    Writes raise :class:`TypeError` for a payload that is not plain JSON data, naming the
    field, before anything is written, and :class:`JournalError` (a ``ValueError``) for an
    iteration id that was never begun.
    """

    def __init__(self, path: str | os.PathLike[str], *, sync: Literal["normal", "full"] = "normal",
                 timeout: float = 30.0) -> None:
        if sync not in ("normal", "full"):
            raise ValueError(f"journal: sync = {sync!r} is not allowed: must be 'normal' or 'full'")
        self.path = Path(path)
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; each write below is one explicit
        # BEGIN IMMEDIATE ... COMMIT, so a call that returns has committed.
        conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                               check_same_thread=False)
        try:
            self._open(conn, sync)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalError(f"{self.path} is not an activetrader journal ({exc})") from None
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    def _open(self, conn: sqlite3.Connection, sync: str) -> None:
        # WAL: a commit appends its pages to the -wal file with write(2) before returning, so
        # it lives in the OS page cache and survives the death of this process (SIGKILL, an
        # unhandled exception, a kernel OOM kill); the next opener replays the WAL. With
        # synchronous=NORMAL SQLite skips the fsync at each commit and syncs only at
        # checkpoints: the database can never be corrupted, and only a power cut or OS crash
        # could roll back the last few commits. FULL (fsync per commit) is needed only for
        # that, and costs a disk flush per journal row, which long backtests would feel.
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise JournalError(f"{self.path}: could not switch the journal to WAL mode ({mode})")
        conn.execute(f"PRAGMA synchronous={sync.upper()}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("BEGIN IMMEDIATE")  # two processes creating the schema: one wins
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"{self.path} is a journal of schema version {version}, newer than this "
                    f"activetrader understands ({SCHEMA_VERSION}); upgrade activetrader to read it")
            if version == 0:
                if tables:
                    raise JournalError(f"{self.path} is an SQLite database but not an "
                                       f"activetrader journal (it has tables {sorted(tables)})")
                # one statement at a time: executescript() would COMMIT our transaction
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(statement)
                version, tables = 1, set(_TABLES[:4])
            if version == 1 and set(_TABLES[:4]) <= tables:
                for statement in filter(str.strip, _UPGRADE_2.split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                tables |= {"submissions"}
            if not set(_TABLES) <= tables:
                raise JournalError(f"{self.path}: journal schema is damaged "
                                   f"(missing tables {sorted(set(_TABLES) - tables)})")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------ plumbing
    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._conn is None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError(f"journal {str(self.path)!r} is closed")
        return self._conn

    def _write(self, fn: Any) -> Any:
        """Run ``fn(conn)`` in one committed transaction (BEGIN IMMEDIATE ... COMMIT)."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._connection().execute(sql, params).fetchall()

    @staticmethod
    def _run_of(conn: sqlite3.Connection, iteration_id: str) -> tuple[int, str | None]:
        """(run, completed_at) of the latest iteration begun with ``iteration_id``."""
        row = conn.execute("SELECT run, completed_at FROM iterations WHERE iteration_id = ? "
                           "ORDER BY run DESC LIMIT 1", (iteration_id,)).fetchone()
        if row is None:
            raise JournalError(f"journal: unknown iteration_id {iteration_id!r} "
                               "(call begin_iteration first)")
        return row

    # ------------------------------------------------------------ writers
    def begin_iteration(self, iteration_id: str, timestamp: Any, *, dry_run: bool = False,
                        mode: str = "sim") -> None:
        """Record the start of an iteration at ``timestamp`` (its market time).

        Beginning an ``iteration_id`` again (re-running the same moment) starts a new run of
        it; later intents and orders with that id belong to the newest run.
        """
        iteration_id = _optional_str(iteration_id, "iteration_id")
        if not iteration_id:
            raise ValueError("journal: iteration_id must be a non-empty string")
        started = _timestamp(timestamp, "timestamp")
        mode = _optional_str(mode, "mode") or "sim"
        self._write(lambda c: c.execute(
            "INSERT INTO iterations (iteration_id, started_at, dry_run, mode) VALUES (?, ?, ?, ?)",
            (iteration_id, started, int(bool(dry_run)), mode)))

    def record_intent(self, iteration_id: str, seq: int, kind: str, symbol: str | None,
                      description: str, data: Mapping[str, Any]) -> None:
        """Record intent number ``seq`` of the plan (``data`` is its numbers, as JSON)."""
        row = (_optional_int(seq, "seq"), _optional_str(kind, "kind"),
               _optional_str(symbol, "symbol"), _optional_str(description, "description") or "",
               _encode(dict(data) if isinstance(data, Mapping) else data, "data"), _now())
        if row[0] is None or row[1] is None:
            raise TypeError("journal: record_intent needs an int seq and a str kind")

        def insert(conn: sqlite3.Connection) -> None:
            run, _ = self._run_of(conn, iteration_id)
            try:
                conn.execute("INSERT INTO intents (run, seq, kind, symbol, description, data, "
                             "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)", (run, *row))
            except sqlite3.IntegrityError:
                raise JournalError(f"journal: intent seq {seq} of iteration {iteration_id!r} "
                                   "is already recorded") from None
        self._write(insert)

    def record_order(self, iteration_id: str, *, intent_seq: int | None, action: str,
                     symbol: str | None, client_order_id: str | None, order_id: str | None,
                     accepted: bool, status: str | None, message: str | None = None,
                     http_status: int | None = None, error_code: int | None = None) -> None:
        """Record the outcome of one broker call (a submit or a cancel), accepted or not."""
        action = _optional_str(action, "action")
        if not action:
            raise TypeError("journal: record_order needs a non-empty str action")
        row = (_optional_int(intent_seq, "intent_seq"), action, _optional_str(symbol, "symbol"),
               _optional_str(client_order_id, "client_order_id"),
               _optional_str(order_id, "order_id"), int(bool(accepted)),
               _optional_str(status, "status"), _optional_str(message, "message"),
               _optional_int(http_status, "http_status"), _optional_int(error_code, "error_code"),
               _now())

        def insert(conn: sqlite3.Connection) -> None:
            run, _ = self._run_of(conn, iteration_id)
            cur = conn.execute("INSERT INTO orders (run, intent_seq, action, symbol, client_order_id, "
                               "order_id, accepted, status, message, http_status, error_code, "
                               "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (run, *row))
            if row[3] is not None:  # the outcome resolves the submission it answers (same commit)
                conn.execute("UPDATE submissions SET resolved_by = ? WHERE client_order_id = ? "
                             "AND resolved_by IS NULL", (cur.lastrowid, row[3]))
        self._write(insert)

    def record_submitting(self, iteration_id: str, *, intent_seq: int | None, action: str,
                          symbol: str | None, client_order_id: str) -> None:
        """Record, *before* the broker call, that ``client_order_id`` is being sent.

        The :meth:`record_order` of the same ``client_order_id`` resolves it; until then it
        is listed by :meth:`unresolved` (the process may have died in between).
        """
        row = (_optional_int(intent_seq, "intent_seq"), _optional_str(action, "action"),
               _optional_str(symbol, "symbol"), _optional_str(client_order_id, "client_order_id"), _now())
        if not row[1] or not row[3]:
            raise TypeError("journal: record_submitting needs a str action and client_order_id")

        def insert(conn: sqlite3.Connection) -> None:
            run, _ = self._run_of(conn, iteration_id)
            conn.execute("INSERT INTO submissions (run, intent_seq, action, symbol, client_order_id, "
                         "requested_at) VALUES (?, ?, ?, ?, ?, ?)", (run, *row))
        self._write(insert)

    def abandon_iteration(self, iteration_id: str, reason: str) -> None:
        """Close an iteration that will never end normally (stopped mid-way, or found
        incomplete at a restart), with the ``reason``. It reads back with ``complete``
        False and ``abandoned`` set to the reason."""
        self._close(iteration_id, "abandoned", _optional_str(reason, "reason") or "abandoned")

    def end_iteration(self, iteration_id: str, summary: Mapping[str, Any]) -> None:
        """Mark the iteration complete, with its ``summary`` (JSON)."""
        self._close(iteration_id, "summary",
                    _encode(dict(summary) if isinstance(summary, Mapping) else summary, "summary"))

    def _close(self, iteration_id: str, column: str, value: str) -> None:
        """Set ``completed_at`` and ``column`` (``summary`` or ``abandoned``) of an open iteration."""
        def update(conn: sqlite3.Connection) -> None:
            run, completed = self._run_of(conn, iteration_id)
            if completed is not None:
                raise JournalError(f"journal: iteration {iteration_id!r} already ended at {completed}")
            conn.execute(f"UPDATE iterations SET completed_at = ?, {column} = ? WHERE run = ?",
                         (_now(), value, run))
        self._write(update)

    def record_settings_change(self, timestamp: Any, path: str, old: Any, new: Any) -> None:
        """Record that setting ``path`` (``"bracket.stop_loss_pct"``) went from ``old`` to ``new``."""
        row = (_timestamp(timestamp, "timestamp"), _optional_str(path, "path"),
               _encode(old, "old"), _encode(new, "new"))
        if not row[1]:
            raise TypeError("journal: record_settings_change needs a non-empty str path")
        self._write(lambda c: c.execute(
            "INSERT INTO settings_changes (changed_at, path, old, new) VALUES (?, ?, ?, ?)", row))

    # ------------------------------------------------------------ readers
    def iterations(self) -> pd.DataFrame:
        """One row per iteration begun, oldest first.

        Columns: iteration_id, started_at, completed_at (NaT while incomplete), dry_run,
        mode, complete, summary (dict, None while incomplete), run (the journal's own
        number for the row; it tells re-runs of one iteration_id apart), abandoned (the
        reason an iteration was abandoned, else None).
        """
        rows = self._rows("SELECT iteration_id, started_at, completed_at, dry_run, mode, summary, "
                          "run, abandoned FROM iterations ORDER BY run")
        ids, started, completed, dry, mode, summary, run, abandoned = _columns(rows, 8)
        return pd.DataFrame({
            "iteration_id": pd.Series(ids, dtype="object"),
            "started_at": _times(started), "completed_at": _times(completed),
            "dry_run": pd.Series([bool(x) for x in dry], dtype="bool"),
            "mode": pd.Series(mode, dtype="object"),
            "complete": pd.Series([c is not None and a is None for c, a in zip(completed, abandoned,
                                                                               strict=True)], dtype="bool"),
            "summary": pd.Series([_decode(s) for s in summary], dtype="object"),
            "run": pd.Series(run, dtype="int64"),
            "abandoned": pd.Series(abandoned, dtype="object"),
        })

    def intents(self, iteration_id: str | None = None) -> pd.DataFrame:
        """Intents in the order recorded, all or those of one ``iteration_id``.

        Columns: iteration_id, seq, kind, symbol, description, data (dict), recorded_at
        (wall clock of the write), run.
        """
        rows = self._rows(
            "SELECT i.iteration_id, t.seq, t.kind, t.symbol, t.description, t.data, "
            "t.recorded_at, t.run FROM intents t JOIN iterations i ON i.run = t.run"
            + (" WHERE i.iteration_id = ?" if iteration_id is not None else "")
            + " ORDER BY t.id", () if iteration_id is None else (iteration_id,))
        ids, seq, kind, symbol, desc, data, recorded, run = _columns(rows, 8)
        return pd.DataFrame({
            "iteration_id": pd.Series(ids, dtype="object"),
            "seq": pd.Series(seq, dtype="int64"),
            "kind": pd.Series(kind, dtype="object"), "symbol": pd.Series(symbol, dtype="object"),
            "description": pd.Series(desc, dtype="object"),
            "data": pd.Series([_decode(d) for d in data], dtype="object"),
            "recorded_at": _times(recorded), "run": pd.Series(run, dtype="int64"),
        })

    def orders(self, iteration_id: str | None = None) -> pd.DataFrame:
        """Order outcomes (one per broker call) in the order recorded.

        Columns: iteration_id, intent_seq, action, symbol, client_order_id, order_id,
        accepted, status, message, http_status, error_code (nullable ints), recorded_at, run.
        """
        rows = self._rows(
            "SELECT i.iteration_id, o.intent_seq, o.action, o.symbol, o.client_order_id, "
            "o.order_id, o.accepted, o.status, o.message, o.http_status, o.error_code, "
            "o.recorded_at, o.run FROM orders o JOIN iterations i ON i.run = o.run"
            + (" WHERE i.iteration_id = ?" if iteration_id is not None else "")
            + " ORDER BY o.id", () if iteration_id is None else (iteration_id,))
        (ids, seq, action, symbol, coid, oid, accepted, status, message, http, code,
         recorded, run) = _columns(rows, 13)
        return pd.DataFrame({
            "iteration_id": pd.Series(ids, dtype="object"),
            "intent_seq": pd.Series(seq, dtype="Int64"),
            "action": pd.Series(action, dtype="object"), "symbol": pd.Series(symbol, dtype="object"),
            "client_order_id": pd.Series(coid, dtype="object"),
            "order_id": pd.Series(oid, dtype="object"),
            "accepted": pd.Series([bool(a) for a in accepted], dtype="bool"),
            "status": pd.Series(status, dtype="object"),
            "message": pd.Series(message, dtype="object"),
            "http_status": pd.Series(http, dtype="Int64"),
            "error_code": pd.Series(code, dtype="Int64"),
            "recorded_at": _times(recorded), "run": pd.Series(run, dtype="int64"),
        })

    def unresolved(self) -> pd.DataFrame:
        """Submissions recorded by :meth:`record_submitting` that no outcome answers yet.

        Columns: iteration_id, intent_seq, action, symbol, client_order_id, requested_at, run.
        """
        rows = self._rows(
            "SELECT i.iteration_id, s.intent_seq, s.action, s.symbol, s.client_order_id, "
            "s.requested_at, s.run FROM submissions s JOIN iterations i ON i.run = s.run "
            "WHERE s.resolved_by IS NULL ORDER BY s.id")
        ids, seq, action, symbol, coid, requested, run = _columns(rows, 7)
        return pd.DataFrame({
            "iteration_id": pd.Series(ids, dtype="object"), "intent_seq": pd.Series(seq, dtype="Int64"),
            "action": pd.Series(action, dtype="object"), "symbol": pd.Series(symbol, dtype="object"),
            "client_order_id": pd.Series(coid, dtype="object"), "requested_at": _times(requested),
            "run": pd.Series(run, dtype="int64"),
        })

    def settings_changes(self) -> pd.DataFrame:
        """Settings changes, oldest first. Columns: changed_at, path, old, new (decoded)."""
        rows = self._rows("SELECT changed_at, path, old, new FROM settings_changes ORDER BY id")
        changed, path, old, new = _columns(rows, 4)
        return pd.DataFrame({
            "changed_at": _times(changed), "path": pd.Series(path, dtype="object"),
            "old": pd.Series([_decode(v) for v in old], dtype="object"),
            "new": pd.Series([_decode(v) for v in new], dtype="object"),
        })

    def counts(self) -> dict[str, int]:
        """Rows per table, plus ``incomplete`` iterations and ``unresolved`` submissions."""
        with self._lock:
            conn = self._connection()
            out = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _TABLES}
            out["incomplete"] = conn.execute(
                "SELECT count(*) FROM iterations WHERE completed_at IS NULL").fetchone()[0]
            out["unresolved"] = conn.execute(
                "SELECT count(*) FROM submissions WHERE resolved_by IS NULL").fetchone()[0]
        return out

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the file (idempotent). Everything written is already committed."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._conn is None:
            return f"Journal({str(self.path)!r}, closed)"
        n = self.counts()
        incomplete = f" ({n['incomplete']} incomplete)" if n["incomplete"] else ""
        return (f"Journal({str(self.path)!r}, iterations={n['iterations']}{incomplete}, "
                f"intents={n['intents']}, orders={n['orders']}, "
                f"settings_changes={n['settings_changes']})")


def _columns(rows: list[tuple], width: int) -> Iterator[list[Any]]:
    """Transpose ``rows`` into ``width`` column lists (empty lists when there are no rows)."""
    if not rows:
        return iter([[] for _ in range(width)])
    return iter([list(col) for col in zip(*rows, strict=True)])
