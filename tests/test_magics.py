"""The magics, run through a real IPython shell: registration, arguments, return values and
error messages shown without a traceback."""

from __future__ import annotations

import atexit

import pandas as pd
import pytest
from alpaca.trading.requests import GetOrdersRequest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from activetrader import IterationReport, Settings, Trader
from activetrader.notebook.magics import ActiveTraderMagics, TraderStatus

MAGICS = ("trade_iteration", "positions", "trader_settings", "trader_status")


@pytest.fixture
def ip():
    """A fresh shell per test (no history file, no singleton), torn down completely, so no
    namespace, extension or ``sys.modules['__main__']`` state leaks between tests."""
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell(config=config)
    try:
        yield shell
    finally:
        shell.reset(new_session=False)
        shell.restore_sys_module_state()
        atexit.unregister(shell.atexit_operations)


@pytest.fixture
def loaded(ip):
    run(ip, "%load_ext activetrader")
    return ip


def run(ip, cell: str):
    """Run a cell like a notebook would; re-raise what it raised (as jupysql's TestingShell)."""
    result = ip.run_cell(cell)
    result.raise_error()
    return result


def order_count(trader: Trader) -> int:
    return len(trader.broker.get_orders(GetOrdersRequest(status="all", nested=False, limit=500)))


# ---------------------------------------------------------------- registration and help
def test_load_ext_activetrader_registers_the_line_magics(ip):
    assert not set(MAGICS) & set(ip.magics_manager.magics["line"])

    run(ip, "%load_ext activetrader")

    line = ip.magics_manager.magics["line"]
    for name in MAGICS:
        assert name in line
        assert isinstance(line[name].__self__, ActiveTraderMagics)


def test_magic_help_lists_usage_and_options(loaded):
    doc = loaded.find_line_magic("trade_iteration").__doc__

    assert "%trade_iteration [--dry-run] [trader_var]" in doc
    assert "decide, but submit no orders" in doc
    assert "--near PCT" in loaded.find_line_magic("positions").__doc__
    assert "group.field=value" in loaded.find_line_magic("trader_settings").__doc__


def test_magic_question_mark_shows_help(loaded, capsys):
    run(loaded, "%trade_iteration?")

    assert "--dry-run" in capsys.readouterr().out


# ---------------------------------------------------------------- %trade_iteration
def test_trade_iteration_assigned_result_is_the_report(loaded):
    loaded.user_ns["trader"] = Trader()

    run(loaded, "r = %trade_iteration")

    r = loaded.user_ns["r"]
    assert isinstance(r, IterationReport)
    assert not r.dry_run
    assert len(r.submitted) == 12  # 9 protections, trim + re-protect ADBE, enter WMT


def test_trade_iteration_dry_run_submits_nothing(loaded):
    trader = loaded.user_ns["trader"] = Trader()
    before = order_count(trader)

    run(loaded, "r = %trade_iteration --dry-run")

    r = loaded.user_ns["r"]
    assert r.dry_run and r.intents and not r.outcomes
    assert order_count(trader) == before


def test_trade_iteration_submits_orders_without_dry_run(loaded):
    trader = loaded.user_ns["trader"] = Trader()
    before = order_count(trader)

    run(loaded, "%trade_iteration")

    assert order_count(trader) > before


def test_trade_iteration_uses_the_named_trader_variable(loaded):
    other, default = Trader(), Trader()
    loaded.user_ns.update(mine=other, trader=default)
    before = order_count(other), order_count(default)

    run(loaded, "r = %trade_iteration mine --dry-run")
    run(loaded, "%trade_iteration mine")

    assert loaded.user_ns["r"].dry_run
    assert order_count(other) > before[0]
    assert order_count(default) == before[1]


def test_trade_iteration_value_is_the_cells_result_for_rich_display(loaded):
    loaded.user_ns["trader"] = Trader()

    result = run(loaded, "%trade_iteration --dry-run")

    assert isinstance(result.result, IterationReport)


def test_missing_trader_creates_the_default_once_and_says_so(loaded, capsys):
    assert "trader" not in loaded.user_ns

    run(loaded, "r1 = %trade_iteration --dry-run")
    first = loaded.user_ns["trader"]
    run(loaded, "r2 = %positions")

    assert isinstance(first, Trader)
    assert loaded.user_ns["trader"] is first
    assert capsys.readouterr().out.count("created `trader = Trader()`") == 1


# ---------------------------------------------------------------- %positions
def test_positions_returns_the_positions_frame(loaded):
    trader = loaded.user_ns["trader"] = Trader()

    run(loaded, "p = %positions")

    p = loaded.user_ns["p"]
    assert isinstance(p, pd.DataFrame)
    pd.testing.assert_frame_equal(p, trader.positions())
    assert len(p) == 10


def test_positions_near_keeps_rows_within_pct_of_a_level(loaded):
    trader = loaded.user_ns["trader"] = Trader()
    trader.iteration()  # protects every position, so each has a stop and a take-profit
    frame = trader.positions()

    run(loaded, "p = %positions --near 2.5")

    p = loaded.user_ns["p"]
    # PG 0.8%, JNJ 1.8%, PEP 2.1%, CAT 2.4% above their stops; AAPL 2.7% below its take-profit
    assert list(p.index) == ["CAT", "JNJ", "PEP", "PG"]
    pd.testing.assert_frame_equal(p, frame.loc[["CAT", "JNJ", "PEP", "PG"]])


def test_positions_near_negative_raises_usage_error(loaded):
    loaded.user_ns["trader"] = Trader()

    with pytest.raises(UsageError, match="--near must be a percentage >= 0"):
        run(loaded, "%positions --near -1")


# ---------------------------------------------------------------- %trader_settings
def test_trader_settings_without_assignments_returns_the_settings(loaded):
    trader = loaded.user_ns["trader"] = Trader()

    run(loaded, "s = %trader_settings")

    assert loaded.user_ns["s"] is trader.settings
    assert isinstance(loaded.user_ns["s"], Settings)


def test_trader_settings_assignment_changes_the_setting(loaded, capsys):
    trader = loaded.user_ns["trader"] = Trader()

    run(loaded, "%trader_settings bracket.stop_loss_pct=0.03")

    assert trader.settings.bracket.stop_loss_pct == 0.03
    assert "bracket.stop_loss_pct: 0.05 -> 0.03" in capsys.readouterr().out


def test_trader_settings_parses_bools_none_and_symbol_lists(loaded):
    trader = loaded.user_ns["mine"] = Trader()
    trader.settings.bracket.trailing_stop_pct = 0.04

    run(loaded, "%trader_settings mine hedge.enabled=false bracket.trailing_stop_pct=none "
                "hedge.sentiment_symbols=aapl,MSFT hedge.rsi_period=21")

    s = trader.settings
    assert s.hedge.enabled is False
    assert s.bracket.trailing_stop_pct is None
    assert s.hedge.sentiment_symbols == ("AAPL", "MSFT")
    assert s.hedge.rsi_period == 21


def test_trader_settings_invalid_value_raises_usage_error_naming_field_and_keeps_value(loaded):
    trader = loaded.user_ns["trader"] = Trader()

    with pytest.raises(UsageError, match=r"bracket\.stop_loss_pct = 1\.5 is not allowed: must be > 0 and < 1"):
        run(loaded, "%trader_settings bracket.stop_loss_pct=1.5")

    assert trader.settings.bracket.stop_loss_pct == 0.05


def test_trader_settings_one_invalid_assignment_applies_none(loaded):
    trader = loaded.user_ns["trader"] = Trader()
    seen = []
    trader.settings.subscribe(lambda *change: seen.append(change))

    with pytest.raises(UsageError, match="hedge.overbought"):
        run(loaded, "%trader_settings bracket.stop_loss_pct=0.03 hedge.overbought=20")

    assert trader.settings.bracket.stop_loss_pct == 0.05
    assert seen == []


def test_trader_settings_misspelled_field_suggests_the_right_one(loaded):
    loaded.user_ns["trader"] = Trader()

    with pytest.raises(UsageError, match="did you mean 'stop_loss_pct'"):
        run(loaded, "%trader_settings bracket.stop_los_pct=0.03")
    with pytest.raises(UsageError, match="unknown settings group 'brakket': did you mean 'bracket'"):
        run(loaded, "%trader_settings brakket.stop_loss_pct=0.03")


def test_trader_settings_item_without_group_raises_usage_error(loaded):
    loaded.user_ns["trader"] = Trader()

    with pytest.raises(UsageError, match="expected group.field=value"):
        run(loaded, "%trader_settings trader stop_loss_pct=0.03")


# ---------------------------------------------------------------- %trader_status
def test_trader_status_reports_clock_account_and_counts(loaded):
    trader = loaded.user_ns["trader"] = Trader()
    trader.iteration()

    run(loaded, "st = %trader_status")

    st = loaded.user_ns["st"]
    account = trader.broker.get_account()
    assert isinstance(st, TraderStatus)
    assert st.now == pd.Timestamp("2024-08-27 13:00", tz="UTC")
    assert st.market_open is False  # 09:00 New York, before the open
    assert (st.cash, st.equity) == (float(account.cash), float(account.equity))
    assert st.positions == 10
    assert st.open_orders > 0
    assert "market closed" in repr(st) and "<table>" in st._repr_html_()


# ---------------------------------------------------------------- bad input
def test_unknown_trader_variable_raises_usage_error(loaded):
    with pytest.raises(UsageError, match="no variable named 'nosuch'"):
        run(loaded, "%positions nosuch")
    assert "trader" not in loaded.user_ns  # an explicit name never creates a default


def test_variable_that_is_not_a_trader_raises_usage_error(loaded):
    loaded.user_ns["x"] = 42

    with pytest.raises(UsageError, match="'x' is of type int, not an activetrader.Trader"):
        run(loaded, "%trade_iteration x")


def test_unknown_option_raises_usage_error(loaded):
    loaded.user_ns["trader"] = Trader()

    with pytest.raises(UsageError, match="unrecognized arguments: --bogus"):
        run(loaded, "%trade_iteration --bogus")


def test_usage_error_is_shown_as_one_message_without_traceback(loaded, capsys):
    result = loaded.run_cell("%positions nosuch")

    assert isinstance(result.error_in_exec, UsageError)
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert "UsageError: no variable named 'nosuch'" in shown
    assert "Traceback" not in shown
