"""API keys never leak: the toolkit runs against a local Sandbox with known keys (generated per
run, shaped unlike Alpaca's), and every place a key could surface is scanned for them: reprs,
logs at DEBUG (ours, alpaca-py's, requests' and urllib3's), reports (text, HTML, dict), the
journal's SQLite files, the command line's output, errors (refused keys, API errors, timeouts,
with their tracebacks and the requests they carry) and the tutorial notebook's outputs.
"""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import requests
from alpaca.common.exceptions import APIError

from activetrader import Trader
from activetrader.alpaca import AlpacaEndpoints, KeysRejectedError, connect
from activetrader.resilience import RetryPolicy
from activetrader.server import Sandbox

KEY = "scan-key-id-" + secrets.token_hex(6)
SECRET = "scan-secret-" + secrets.token_hex(12)
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "07_alpaca_sandbox.ipynb"
FAST = RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.05, read_timeout=0.5)


def _leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        return [k for k in (KEY, SECRET) if k.encode() in text]
    return [k for k in (KEY, SECRET) if k in text]


def _exception_texts(exc: BaseException) -> str:
    """Everything an exception shows or carries: message, repr, traceback, the chain, and the
    headers of any HTTP request it holds."""
    parts = ["".join(traceback.format_exception(exc))]
    e: BaseException | None = exc
    while e is not None:
        parts += [str(e), repr(e)]
        for holder in (e, getattr(e, "response", None)):
            request = getattr(holder, "request", None)
            if request is not None:
                parts.append(repr(dict(request.headers)))
        e = e.__cause__ or e.__context__
    return "\n".join(parts)


@pytest.fixture
def sandbox(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with Sandbox(key_id=KEY, secret_key=SECRET) as sb:
        for var, value in AlpacaEndpoints.of(sb).env().items():
            monkeypatch.setenv(var, value)
        monkeypatch.setenv("APCA_API_KEY_ID", KEY)
        monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
        monkeypatch.delenv("ACTIVETRADER_LIVE", raising=False)
        yield sb


def test_secrets_absent_from_reprs_logs_reports_and_journal(sandbox, tmp_path, caplog, capfd):
    for name in (None, "urllib3", "requests", "alpaca", "activetrader"):
        caplog.set_level(logging.DEBUG, logger=name)
    # a few faults so the retry path logs too
    sandbox.add_fault(path="/v2/account", status=503, times=2)
    sandbox.add_fault(path="/v2/positions", status=429, times=1)
    journal = tmp_path / "journal.sqlite"
    trader = Trader(broker="alpaca", journal=journal)
    trading, data = connect(policy=FAST)
    report = trader.iteration()
    assert len(report.submitted) == 12, report.narrative  # it really traded over HTTP
    positions = trader.positions()
    texts = [repr(trader), str(trader), repr(trader.broker), repr(trader.market), repr(sandbox), repr(trading),
             repr(data), repr(trading.client), repr(report), str(report), report._repr_html_(),
             json.dumps(report.to_dict()), positions.to_string(), repr(trader.settings)]
    trader.close()
    assert any("retry" in r.getMessage() for r in caplog.records), "the faults must have been retried"
    assert any(r.name.startswith("urllib3") for r in caplog.records), "urllib3 must have logged at DEBUG"
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    out, err = capfd.readouterr()
    texts += [out, err]
    assert [t for t in texts if _leaks(t)] == []
    files = sorted(tmp_path.glob("journal.sqlite*"))
    assert journal in files
    assert {f.name: _leaks(f.read_bytes()) for f in files} == {f.name: [] for f in files}


def test_secrets_absent_from_errors(sandbox, monkeypatch):
    trading, _ = connect(policy=FAST)
    with pytest.raises(APIError) as not_found:  # an ordinary API error carries its request
        trading.get_order_by_client_id("no-such-order")
    assert not_found.value.status_code == 404 and not_found.value.request is not None
    sandbox.add_fault(path="/v2/clock", hang=1.5, times=4)
    with pytest.raises(requests.ReadTimeout) as timeout:  # so does a timeout
        trading.get_clock()
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET[::-1])  # a key the venue refuses
    refused_client, _ = connect(policy=FAST)
    with pytest.raises(KeysRejectedError) as refused:
        refused_client.get_account()
    for exc in (not_found.value, timeout.value, refused.value):
        assert _leaks(_exception_texts(exc)) == [], type(exc).__name__
    assert SECRET[::-1] not in _exception_texts(refused.value)


def _cli(*args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("activetrader")
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=120)


def test_secrets_absent_from_cli_output(sandbox, tmp_path, monkeypatch):
    """``activetrader iterate|positions --broker alpaca`` against the running Sandbox (the
    environment carries its URLs and keys), then with a refused key."""
    iterate = _cli("iterate", "--broker", "alpaca", "--journal", str(tmp_path / "cli.sqlite"))
    assert iterate.returncode == 0, iterate.stderr
    assert "Iteration complete: 12 order(s) submitted" in iterate.stdout
    as_json = _cli("iterate", "--broker", "alpaca", "--json")
    positions = _cli("positions", "--broker", "alpaca")
    assert positions.returncode == 0 and "POSITIONS" in positions.stdout
    monkeypatch.setenv("APCA_API_SECRET_KEY", "wrong-" + SECRET)
    refused = _cli("positions", "--broker", "alpaca")
    assert refused.returncode == 2
    assert refused.stderr.startswith("activetrader: error: Alpaca refused the API keys")
    assert len(refused.stderr.strip().splitlines()) == 1  # one clear line, no traceback
    for proc in (iterate, as_json, positions, refused):
        assert _leaks(proc.stdout + proc.stderr) == []
    assert _leaks((tmp_path / "cli.sqlite").read_bytes()) == []


def test_tutorial_notebook_outputs_show_no_keys():
    """The tutorial builds its venue with fixed, visible demo keys; none may reach an output."""
    nb = json.loads(NOTEBOOK.read_text())
    sources = "".join("".join(c["source"]) for c in nb["cells"])
    demo_keys = ("demo-key-id", "demo-secret-key")
    assert all(k in sources for k in demo_keys)
    outputs = json.dumps([c.get("outputs", []) for c in nb["cells"]])
    assert [k for k in demo_keys if k in outputs] == []
