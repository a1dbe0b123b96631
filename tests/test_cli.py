"""The ``activetrader`` command line: iterate, positions, settings, errors, plain output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from activetrader import cli
from activetrader.cli import main
from activetrader.journal import Journal
from activetrader.settings import Settings
from activetrader.trader import Trader

REPO = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[")
HEADER = "RUNNING TRADING ITERATION"


def _positions_frame() -> pd.DataFrame:
    """Three protected positions: one 1% above its stop, one 1.5% below its take-profit,
    one comfortably in between; plus an unprotected one."""
    rows = [
        # symbol, qty, entry, price, stop, take_profit, protected
        ("AAA", 10, 100.0, 96.00, 95.04, 115.00, True),     # to stop 1.0%
        ("BBB", 20, 50.0, 56.00, 47.50, 56.84, True),       # to take-profit 1.5%
        ("CCC", 5, 200.0, 205.0, 190.00, 230.00, True),     # 7.3% / 12.2%: nothing
        ("DDD", 8, 100.0, 95.50, None, None, False),        # unprotected: target stop $95.00
    ]
    records = []
    for sym, qty, entry, price, stop, tp, protected in rows:
        records.append(dict(
            symbol=sym, qty=float(qty), entry=entry, price=price, market_value=qty * price,
            weight=qty * price / 10_000, pl_pct=price / entry - 1, stop=stop, take_profit=tp,
            to_stop_pct=(price - stop) / price if stop else None,
            to_take_profit_pct=(tp - price) / price if tp else None,
            protected=protected, inverse=False))
    return pd.DataFrame(records).set_index("symbol")


@pytest.fixture
def fake_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Trader, "positions", lambda self: _positions_frame())


# ---------------------------------------------------------------- iterate
def test_cli_iterate_default_prints_narrative_plain(capsys: pytest.CaptureFixture) -> None:
    code = main(["iterate"])

    out = capsys.readouterr().out
    assert code == 0
    assert HEADER in out and "STEP 1" in out and "STEP 4" in out
    assert not ANSI.search(out)  # captured stdout is not a terminal


def test_cli_iterate_json_has_report_keys(capsys: pytest.CaptureFixture) -> None:
    assert main(["iterate", "--json"]) == 0

    data = json.loads(capsys.readouterr().out)
    assert {"sentiment", "bearish_ratio", "intents", "outcomes", "portfolio_value",
            "cash"} <= data.keys()
    assert data["outcomes"] and data["intents"]


def test_cli_iterate_dry_run_submits_nothing(capsys: pytest.CaptureFixture) -> None:
    assert main(["iterate", "--dry-run", "--json"]) == 0

    data = json.loads(capsys.readouterr().out)
    assert data["dry_run"] is True and data["outcomes"] == [] and data["intents"]


def test_cli_iterate_journal_records_the_iteration(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "j" / "journal.sqlite"

    assert main(["iterate", "--journal", str(path)]) == 0
    assert main(["iterate", "--journal", str(path), "--clean"]) == 0

    with Journal(path) as journal:
        its = journal.iterations()
        assert its["complete"].tolist() == [True, True]
        first = its.loc[0, "iteration_id"]
        assert len(journal.intents(first)) > 0
        assert journal.orders(first)["accepted"].all()


def test_cli_iterate_settings_file_is_used(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    settings = Settings()
    settings.entry.oversold = 45.0
    path = tmp_path / "s.toml"
    settings.save(path)

    assert main(["iterate", "--settings", str(path)]) == 0
    assert "RSI < 45" in capsys.readouterr().out


# ---------------------------------------------------------------- positions
def test_cli_positions_default_lists_table_and_near_stop(capsys: pytest.CaptureFixture) -> None:
    assert main(["positions"]) == 0

    out = capsys.readouterr().out
    assert "symbol" in out and "take-profit" in out and "protected" in out
    assert "UNPROTECTED" in out  # the guide's "before" portfolio has no broker-side stops
    assert "NEAR STOP" in out     # ... and one position close to its stop
    assert not ANSI.search(out)


def test_cli_positions_near_flags_stop_and_take_profit(fake_positions: None,
                                                       capsys: pytest.CaptureFixture) -> None:
    assert main(["positions"]) == 0

    lines = capsys.readouterr().out.splitlines()
    flags = [line for line in lines if line.startswith(("NEAR", "UNPROTECTED"))]
    assert flags == [
        "UNPROTECTED (no broker-side stop): DDD",
        "NEAR STOP AAA: price $96.00 is 1.0% above its stop $95.04",
        "NEAR TAKE-PROFIT BBB: price $56.00 is 1.5% below its take-profit $56.84",
        "NEAR STOP DDD: price $95.50 is 0.5% above its stop $95.00",
    ]
    table = [line for line in lines if line.startswith("DDD")]
    assert "$95.00*" in table[0] and "$115.00*" in table[0]  # target levels, marked


def test_cli_positions_near_threshold_changes_flags(fake_positions: None,
                                                    capsys: pytest.CaptureFixture) -> None:
    assert main(["positions", "--near", "0.75"]) == 0

    out = capsys.readouterr().out
    assert "NEAR STOP AAA" not in out and "NEAR TAKE-PROFIT BBB" not in out
    assert "NEAR STOP DDD" in out


def test_cli_positions_json_gives_records_with_flags(fake_positions: None,
                                                     capsys: pytest.CaptureFixture) -> None:
    assert main(["positions", "--json"]) == 0

    records = json.loads(capsys.readouterr().out)
    by_symbol = {r["symbol"]: r for r in records}
    assert list(by_symbol) == ["AAA", "BBB", "CCC", "DDD"]
    assert by_symbol["AAA"]["near_stop"] is True and by_symbol["AAA"]["stop"] == 95.04
    assert by_symbol["BBB"]["near_take_profit"] is True
    assert not (by_symbol["CCC"]["near_stop"] or by_symbol["CCC"]["near_take_profit"])
    assert by_symbol["DDD"]["levels_at_broker"] is False and by_symbol["DDD"]["stop"] == 95.0
    assert {"qty", "entry", "price", "market_value", "weight", "pl_pct", "take_profit",
            "to_stop_pct", "to_take_profit_pct", "protected", "inverse"} <= records[0].keys()


def test_cli_positions_clean_account_says_none(capsys: pytest.CaptureFixture) -> None:
    assert main(["positions", "--clean"]) == 0
    assert "no open positions" in capsys.readouterr().out


def test_cli_positions_negative_near_exits_2(capsys: pytest.CaptureFixture) -> None:
    assert main(["positions", "--near", "-1"]) == 2
    assert "--near must be a percentage >= 0" in capsys.readouterr().err


# ---------------------------------------------------------------- settings
def test_cli_settings_prints_default_toml(capsys: pytest.CaptureFixture) -> None:
    assert main(["settings"]) == 0
    assert Settings.loads(capsys.readouterr().out) == Settings()


def test_cli_settings_write_round_trips_through_settings_flag(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "conf" / "activetrader.toml"
    assert main(["settings", "--write", str(path)]) == 0
    assert str(path) in capsys.readouterr().out
    assert Settings.load(path) == Settings()

    path.write_text(path.read_text().replace("stop_loss_pct = 0.05", "stop_loss_pct = 0.03"))
    assert main(["settings", "--settings", str(path)]) == 0
    assert Settings.loads(capsys.readouterr().out).bracket.stop_loss_pct == 0.03


def test_cli_settings_write_existing_file_refused_without_force(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "s.toml"
    path.write_text("# mine\n")

    assert main(["settings", "--write", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err and path.read_text() == "# mine\n"
    assert main(["settings", "--write", str(path), "--force"]) == 0
    assert Settings.load(path) == Settings()


# ---------------------------------------------------------------- errors and output
@pytest.mark.parametrize("command", ["iterate", "positions", "settings"])
def test_cli_bad_settings_value_exits_2_with_one_line(tmp_path: Path, command: str,
                                                      capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[bracket]\nstop_loss_pct = 1.5\n")

    assert main([command, "--settings", str(path)]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("activetrader: error: bracket.stop_loss_pct = 1.5")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_cli_misspelled_setting_exits_2_with_hint(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[bracket]\nstop_los_pct = 0.05\n")

    assert main(["iterate", "--settings", str(path)]) == 2
    assert "did you mean 'stop_loss_pct'" in capsys.readouterr().err


def test_cli_missing_settings_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "nope.toml"
    assert main(["iterate", "--settings", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"activetrader: error: file not found: {missing}\n"


def test_cli_bad_journal_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database " * 100)
    assert main(["iterate", "--journal", str(path)]) == 2
    assert "not an activetrader journal" in capsys.readouterr().err


def test_cli_usage_error_and_version_return_codes(capsys: pytest.CaptureFixture) -> None:
    assert main([]) == 2
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("activetrader ")


def test_cli_style_colours_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    class Pipe:
        def isatty(self) -> bool:
            return False

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert ANSI.search(cli._Style(Tty())("x", "bold"))
    assert cli._Style(Pipe())("x", "bold") == "x"
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli._Style(Tty())("x", "bold") == "x"


def test_cli_iterate_on_a_terminal_emphasises_headings(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)

    assert main(["iterate"]) == 0
    assert ANSI.search(capsys.readouterr().out)


# ---------------------------------------------------------------- the console script (make demo)
def test_cli_console_script_iterate_runs_without_keys() -> None:
    script = Path(sys.executable).with_name("activetrader")
    # `make venv` installs the package (and so the script) into the venv that runs the tests.
    assert script.exists(), f"console script not installed next to {sys.executable}: run `make venv`"
    env = {k: v for k, v in os.environ.items() if not k.startswith("APCA_")}
    # any attempt at HTTP(S) would go to a dead proxy and fail: the demo needs no network
    dead = "http://127.0.0.1:9"
    env.update(NO_COLOR="1", HTTP_PROXY=dead, HTTPS_PROXY=dead, ALL_PROXY=dead,
               http_proxy=dead, https_proxy=dead, all_proxy=dead, NO_PROXY="", no_proxy="")

    proc = subprocess.run([str(script), "iterate"], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)

    assert proc.returncode == 0, proc.stderr
    assert HEADER in proc.stdout and "Iteration complete" in proc.stdout
    assert not ANSI.search(proc.stdout)
