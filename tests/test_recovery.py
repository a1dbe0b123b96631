"""Restart recovery: the live process is killed (SIGKILL) after the broker accepted an order and
before the journal recorded the acknowledgement; the restarted process completes the journal
from the broker and submits nothing twice.

The broker survives the kill: it is a Sandbox (the local Alpaca venue, manual clock) served from
this test process, and ``activetrader live --broker alpaca`` runs against it in a subprocess.
The market is the embedded default at 09:30 ET on 2024-08-27, the open: the first iteration
sends 12 orders (ten OCO protections, the ADBE trim and its re-protection, the WMT bracket).
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from alpaca.trading.requests import GetOrdersRequest

from activetrader.journal import Journal
from activetrader.live.cli import KILL_HOOK
from activetrader.server import Sandbox

OPEN = pd.Timestamp("2024-08-27 09:30", tz="America/New_York")
ORDERS_IN_FIRST_ITERATION = 12


def _live(sb: Sandbox, journal, *, kill_after: int | None = None) -> subprocess.Popen:
    env = {**os.environ, "APCA_API_KEY_ID": sb.key_id, "APCA_API_SECRET_KEY": sb.secret_key,
           "ACTIVETRADER_TRADING_URL": sb.url, "ACTIVETRADER_DATA_URL": sb.url}
    env.pop(KILL_HOOK, None)
    if kill_after is not None:
        env[KILL_HOOK] = str(kill_after)
    return subprocess.Popen([sys.executable, "-m", "activetrader.cli", "live", "--broker", "alpaca",
                             "--iterations", "1", "--journal", str(journal), "--poll", "0.2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _venue() -> Sandbox:
    sb = Sandbox().start()
    sb.advance_to(OPEN)
    return sb


def _state(sb: Sandbox) -> tuple[dict, collections.Counter]:
    """Positions, and every order the venue holds as (symbol, side, type, class, qty, status)
    (client order ids aside: a re-planned protection may carry another intent's code)."""
    positions = {p.symbol: p.qty for p in sb.broker.get_all_positions()}
    orders = collections.Counter(
        (o.symbol, o.side.value, o.type.value, o.order_class.value, o.qty, o.status.value)
        for o in sb.broker.get_orders(GetOrdersRequest(status="all", limit=500)))
    return positions, orders


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """What one uninterrupted run leaves at the venue."""
    sb = _venue()
    try:
        proc = _live(sb, tmp_path_factory.mktemp("ref") / "j.sqlite")
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert f"{ORDERS_IN_FIRST_ITERATION} submitted, 0 rejected" in out
        return _state(sb)
    finally:
        sb.stop()


def _check_restart(sb: Sandbox, path, reference) -> str:
    """Restart, then: the venue holds exactly what an uninterrupted run leaves; the journal is
    complete (nothing unresolved or running; each order the venue got from us journaled once)."""
    proc = _live(sb, path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert _state(sb) == reference
    ours = [o.client_order_id for o in sb.broker.get_orders(GetOrdersRequest(status="all", limit=500))
            if o.client_order_id.startswith("at-")]
    with Journal(path) as j:
        assert j.unresolved().empty
        its = j.iterations()
        assert its["completed_at"].notna().all() and bool(its["complete"].iloc[-1])
        sent = j.orders().query("action == 'submit' and accepted")
        assert sorted(sent["client_order_id"]) == sorted(ours)   # each exactly once, none missing
    return out


@pytest.mark.parametrize("kill_after", range(1, ORDERS_IN_FIRST_ITERATION + 1))
def test_recovery_killed_after_nth_order_accepted_restart_completes_journal_and_duplicates_nothing(
        tmp_path, reference, kill_after):
    sb = _venue()
    try:
        path = tmp_path / "j.sqlite"
        killed = _live(sb, path, kill_after=kill_after)
        killed.communicate(timeout=120)
        assert killed.returncode == -signal.SIGKILL
        with Journal(path) as j:  # the kill point: the N-th order is at the venue, not in the journal
            assert len(j.unresolved()) == 1
            assert len(j.orders().query("action == 'submit'")) == kill_after - 1

        out = _check_restart(sb, path, reference)
        assert "Recovery(resolved=1, not_received=0, abandoned=1)" in out
    finally:
        sb.stop()


@pytest.mark.parametrize("seed", range(4))
def test_recovery_killed_at_a_random_moment_restart_converges_to_the_same_state(tmp_path, reference, seed):
    # The kill lands anywhere: during start-up, mid-iteration, between two journal writes.
    sb = _venue()
    try:
        path = tmp_path / "j.sqlite"
        killed = _live(sb, path)
        time.sleep(random.Random(seed).uniform(1.0, 6.0))
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=120)
        _check_restart(sb, path, reference)
    finally:
        sb.stop()
