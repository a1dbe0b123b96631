"""The SQLite journal: round trips, durability across a killed process, bad input."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from activetrader.journal import SCHEMA_VERSION, Journal, JournalError
from activetrader.trader import Trader

T0 = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)


@pytest.fixture
def journal(tmp_path: Path):
    with Journal(tmp_path / "journal.sqlite") as j:
        yield j


def _pragma(path: Path, name: str) -> object:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


def _fill(j: Journal) -> None:
    j.begin_iteration("it-1", T0, dry_run=True, mode="sim")
    j.record_intent("it-1", 0, "protect", "AAPL", "PROTECT AAPL 10 sh",
                    {"qty": 10, "stop_loss": 142.5, "levels": [142.5, 172.5]})
    j.record_intent("it-1", 1, "enter", "AMD", "ENTER AMD 5 sh", {"qty": np.int64(5)})
    j.record_order("it-1", intent_seq=0, action="submit", symbol="AAPL",
                   client_order_id="at-0", order_id="o-0", accepted=True, status="new")
    j.record_order("it-1", intent_seq=1, action="submit", symbol="AMD",
                   client_order_id="at-1", order_id=None, accepted=False, status=None,
                   message="insufficient buying power", http_status=403, error_code=40310000)
    j.record_order("it-1", intent_seq=None, action="cancel", symbol=None,
                   client_order_id=None, order_id="o-9", accepted=True, status="canceled")
    j.end_iteration("it-1", {"portfolio_value": 100_000.0, "orders": 3})
    j.record_settings_change("2024-03-05T15:05:00+00:00", "bracket.stop_loss_pct", 0.05, 0.03)
    j.record_settings_change(T0, "hedge.sentiment_symbols", ["AAPL"], ("AAPL", "MSFT"))


# ---------------------------------------------------------------- round trips
def test_journal_round_trip_every_writer_reads_back_typed(journal: Journal) -> None:
    _fill(journal)

    its = journal.iterations()
    assert its.columns.tolist()[:7] == ["iteration_id", "started_at", "completed_at", "dry_run",
                                        "mode", "complete", "summary"]
    assert its.loc[0, "iteration_id"] == "it-1"
    assert its.loc[0, "started_at"] == pd.Timestamp("2024-03-05 15:00", tz="UTC")
    assert str(its["started_at"].dtype) == "datetime64[ns, UTC]"
    assert its.loc[0, "completed_at"] is not pd.NaT and bool(its.loc[0, "complete"])
    assert bool(its.loc[0, "dry_run"]) and its.loc[0, "mode"] == "sim"
    assert its.loc[0, "summary"] == {"portfolio_value": 100_000.0, "orders": 3}

    intents = journal.intents("it-1")
    assert intents[["seq", "kind", "symbol"]].values.tolist() == [[0, "protect", "AAPL"],
                                                                  [1, "enter", "AMD"]]
    assert intents.loc[0, "data"] == {"qty": 10, "stop_loss": 142.5, "levels": [142.5, 172.5]}
    assert intents.loc[1, "data"] == {"qty": 5}
    assert intents.loc[0, "description"] == "PROTECT AAPL 10 sh"

    orders = journal.orders("it-1")
    assert orders["accepted"].tolist() == [True, False, True]
    assert orders["intent_seq"].tolist()[:2] == [0, 1] and orders["intent_seq"].isna().tolist()[2]
    rejected = orders.iloc[1]
    assert (rejected["message"], rejected["http_status"], rejected["error_code"]) == (
        "insufficient buying power", 403, 40310000)
    assert orders.loc[2, "action"] == "cancel" and orders.loc[2, "order_id"] == "o-9"

    changes = journal.settings_changes()
    assert changes[["path", "old", "new"]].values.tolist() == [
        ["bracket.stop_loss_pct", 0.05, 0.03],
        ["hedge.sentiment_symbols", ["AAPL"], ["AAPL", "MSFT"]]]
    assert changes.loc[0, "changed_at"] == pd.Timestamp("2024-03-05 15:05", tz="UTC")


def test_journal_readers_empty_journal_give_typed_empty_frames(journal: Journal) -> None:
    assert journal.iterations().empty and "complete" in journal.iterations()
    assert str(journal.iterations()["started_at"].dtype) == "datetime64[ns, UTC]"
    assert journal.intents().empty and journal.orders().empty
    assert journal.settings_changes().columns.tolist() == ["changed_at", "path", "old", "new"]


def test_journal_iteration_without_end_reads_incomplete(journal: Journal) -> None:
    journal.begin_iteration("it-1", T0)
    its = journal.iterations()
    assert not its.loc[0, "complete"]
    assert its["completed_at"].isna().all() and its.loc[0, "summary"] is None
    assert "1 incomplete" in repr(journal)


def test_journal_reader_filters_by_iteration_id(journal: Journal) -> None:
    for n in (1, 2):
        journal.begin_iteration(f"it-{n}", T0)
        journal.record_intent(f"it-{n}", 0, "enter", "AMD", "x", {})
        journal.record_order(f"it-{n}", intent_seq=0, action="submit", symbol="AMD",
                             client_order_id=f"c{n}", order_id=None, accepted=True, status="new")
    assert journal.intents("it-2")["iteration_id"].tolist() == ["it-2"]
    assert journal.orders("it-1")["client_order_id"].tolist() == ["c1"]
    assert len(journal.intents()) == len(journal.orders()) == 2


def test_journal_same_iteration_begun_twice_records_two_runs(journal: Journal) -> None:
    journal.begin_iteration("it-1", T0)
    journal.end_iteration("it-1", {})
    journal.begin_iteration("it-1", T0)
    journal.record_intent("it-1", 0, "enter", "AMD", "x", {})

    its = journal.iterations()
    assert its["complete"].tolist() == [True, False]
    assert journal.intents("it-1")["run"].tolist() == [its.loc[1, "run"]]


def test_journal_naive_timestamp_is_taken_as_utc(journal: Journal) -> None:
    journal.begin_iteration("it-1", datetime(2024, 3, 5, 15, 0))
    assert journal.iterations().loc[0, "started_at"] == pd.Timestamp("2024-03-05 15:00", tz="UTC")


def test_journal_repr_shows_path_and_counts(journal: Journal) -> None:
    _fill(journal)
    assert repr(journal) == (f"Journal({str(journal.path)!r}, iterations=1, intents=2, "
                             "orders=3, settings_changes=2)")
    journal.close()
    assert repr(journal).endswith("closed)")


# ---------------------------------------------------------------- the file
def test_journal_new_file_is_in_wal_mode_with_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "journal.sqlite"
    with Journal(path):
        assert _pragma(path, "journal_mode") == "wal"
        assert _pragma(path, "user_version") == SCHEMA_VERSION


def test_journal_reopened_file_keeps_rows_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal(path) as j:
        _fill(j)
    with Journal(path) as j:
        j.begin_iteration("it-2", T0)
        assert j.iterations()["iteration_id"].tolist() == ["it-1", "it-2"]
        assert len(j.intents()) == 2 and len(j.orders()) == 3 and len(j.settings_changes()) == 2


def test_journal_newer_schema_version_raises_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(JournalError, match=f"schema version {SCHEMA_VERSION + 1}.*upgrade"):
        Journal(path)


def test_journal_other_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(JournalError, match="not an activetrader journal"):
        Journal(path)


def test_journal_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a database" * 100)
    with pytest.raises(JournalError, match="not an activetrader journal"):
        Journal(path)


def test_journal_closed_journal_raises_on_write(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal.sqlite")
    j.close()
    j.close()  # idempotent
    with pytest.raises(JournalError, match="closed"):
        j.begin_iteration("it-1", T0)


def test_journal_writes_from_threads_all_land(journal: Journal) -> None:
    journal.begin_iteration("it-1", T0)

    def write(base: int) -> None:
        for i in range(25):
            journal.record_intent("it-1", base + i, "enter", "AMD", "x", {"i": i})

    threads = [threading.Thread(target=write, args=(100 * n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(journal.intents()) == 100


# ---------------------------------------------------------------- bad input
def test_journal_unserialisable_intent_data_raises_type_error_and_writes_nothing(
        journal: Journal) -> None:
    journal.begin_iteration("it-1", T0)
    with pytest.raises(TypeError, match=r"data\['when'\] is not JSON-serialisable \(datetime\)"):
        journal.record_intent("it-1", 0, "enter", "AMD", "x", {"qty": 1, "when": T0})
    assert journal.intents().empty


def test_journal_unserialisable_summary_raises_and_iteration_stays_incomplete(
        journal: Journal) -> None:
    journal.begin_iteration("it-1", T0)
    with pytest.raises(TypeError, match=r"summary\['legs'\]\[1\] is not JSON-serialisable \(set\)"):
        journal.end_iteration("it-1", {"legs": [1, {2}]})
    assert not journal.iterations().loc[0, "complete"]


def test_journal_unserialisable_setting_value_raises_naming_field(journal: Journal) -> None:
    with pytest.raises(TypeError, match="new is not JSON-serialisable"):
        journal.record_settings_change(T0, "bracket.stop_loss_pct", 0.05, object())
    assert journal.settings_changes().empty


@pytest.mark.parametrize("write", [
    lambda j: j.record_intent("nope", 0, "enter", "AMD", "x", {}),
    lambda j: j.record_order("nope", intent_seq=0, action="submit", symbol="AMD",
                             client_order_id=None, order_id=None, accepted=True, status=None),
    lambda j: j.end_iteration("nope", {}),
])
def test_journal_unknown_iteration_id_raises_value_error_naming_it(journal: Journal, write) -> None:
    with pytest.raises(ValueError, match="unknown iteration_id 'nope'"):
        write(journal)
    assert journal.intents().empty and journal.orders().empty


def test_journal_duplicate_intent_seq_raises_and_keeps_first(journal: Journal) -> None:
    journal.begin_iteration("it-1", T0)
    journal.record_intent("it-1", 0, "enter", "AMD", "first", {})
    with pytest.raises(JournalError, match="seq 0 .* already recorded"):
        journal.record_intent("it-1", 0, "enter", "AMD", "second", {})
    assert journal.intents()["description"].tolist() == ["first"]


def test_journal_iteration_ended_twice_raises(journal: Journal) -> None:
    journal.begin_iteration("it-1", T0)
    journal.end_iteration("it-1", {"n": 1})
    with pytest.raises(JournalError, match="already ended"):
        journal.end_iteration("it-1", {"n": 2})
    assert journal.iterations().loc[0, "summary"] == {"n": 1}


def test_journal_bad_timestamp_raises_naming_it(journal: Journal) -> None:
    with pytest.raises(ValueError, match="timestamp 'yesterday'"):
        journal.begin_iteration("it-1", "yesterday")
    assert journal.iterations().empty


# ---------------------------------------------------------------- killed mid-iteration
_KILL_SCRIPT = """
import os, signal, sys
from activetrader.journal import Journal

j = Journal(sys.argv[1])
n = 0
def ack():
    global n
    n += 1
    print(f"ACK {n}", flush=True)

j.begin_iteration("it-kill", "2024-03-05T15:00:00Z"); ack()
for seq in range(2):
    j.record_intent("it-kill", seq, "enter", "AMD", f"intent {seq}", {"seq": seq}); ack()
for k in range(3):
    j.record_order("it-kill", intent_seq=k % 2, action="submit", symbol="AMD",
                   client_order_id=f"coid-{k}", order_id=f"oid-{k}", accepted=True,
                   status="accepted"); ack()
os.kill(os.getpid(), signal.SIGKILL)
print("unreachable", flush=True)
"""


def _assert_intact(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_journal_process_killed_mid_iteration_keeps_every_acknowledged_row(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"

    proc = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, str(path)],
                          capture_output=True, text=True, timeout=120)

    assert proc.returncode == -signal.SIGKILL, proc.stderr
    acks = [line for line in proc.stdout.splitlines() if line.startswith("ACK")]
    assert acks == [f"ACK {n}" for n in range(1, 7)] and "unreachable" not in proc.stdout
    _assert_intact(path)
    with Journal(path) as j:
        its = j.iterations()
        assert its["iteration_id"].tolist() == ["it-kill"] and not its.loc[0, "complete"]
        assert j.intents("it-kill")["seq"].tolist() == [0, 1]
        assert j.orders("it-kill")["client_order_id"].tolist() == ["coid-0", "coid-1", "coid-2"]


_TRADER_KILL_SCRIPT = """
import os, signal, sys
from activetrader.trader import Trader

trader = Trader(journal=sys.argv[1])
submit = trader.broker.submit_order
calls = 0
def dying_submit(request):
    global calls
    calls += 1
    if calls == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return submit(request)
trader.broker.submit_order = dying_submit
trader.iteration()
print("unreachable", flush=True)
"""


def test_journal_trader_killed_at_second_submit_keeps_start_intents_and_first_order(
        tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"

    proc = subprocess.run([sys.executable, "-c", _TRADER_KILL_SCRIPT, str(path)],
                          capture_output=True, text=True, timeout=300)

    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "unreachable" not in proc.stdout
    _assert_intact(path)
    with Journal(path) as j:
        its = j.iterations()
        iteration_id = its.loc[0, "iteration_id"]
        intents, orders = j.intents(iteration_id), j.orders(iteration_id)
    plan = Trader().iteration(dry_run=True).intents  # the same deterministic moment, no orders

    assert len(its) == 1 and not its.loc[0, "complete"]
    # every intent of the plan was journalled before the first order went out
    assert intents["description"].tolist() == [i.describe() for i in plan] and len(plan) >= 2
    assert intents["seq"].tolist() == list(range(len(plan)))
    submits = orders[orders["action"] == "submit"]
    assert len(submits) == 1 and bool(submits.iloc[0]["accepted"])
    assert submits.iloc[0]["intent_seq"] == 0 and submits.iloc[0]["client_order_id"]
