"""``--state FILE``: the venue's paper account survives a restart, and ``activetrader serve`` runs."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import (GetOrdersRequest, LimitOrderRequest, MarketOrderRequest, StopLossRequest,
                                     TakeProfitRequest)

from activetrader.market import SimulatedMarket
from activetrader.server import Sandbox
from activetrader.server.state import StateError, StateStore

KEY, SECRET = "test-key-server-state", "sandbox-state-secret-for-tests-00"


def _view(client: TradingClient) -> dict:
    """Everything a client can see of the account, as plain data."""
    orders = client.get_orders(GetOrdersRequest(status="all", nested=True, limit=500))
    return {
        "account": client.get_account().model_dump(),
        "positions": [p.model_dump() for p in client.get_all_positions()],
        "orders": [o.model_dump() for o in orders],
        "clock": client.get_clock().model_dump(),
        "config": client.get_account_configurations().model_dump(),
    }


def _trade(client: TradingClient, sb: Sandbox) -> None:
    """A bracket that fills (legs working), a resting limit, a cancelled one, a partial close."""
    price = sb.broker.last_price("WMT")
    client.submit_order(MarketOrderRequest(symbol="WMT", qty=20, side="buy", time_in_force="gtc",
                                           order_class="bracket", client_order_id="wmt-bracket",
                                           take_profit=TakeProfitRequest(limit_price=round(price * 1.3, 2)),
                                           stop_loss=StopLossRequest(stop_price=round(price * 0.7, 2))))
    client.submit_order(LimitOrderRequest(symbol="KO", qty=5, side="buy", time_in_force="gtc", limit_price=20))
    gone = client.submit_order(LimitOrderRequest(symbol="PEP", qty=5, side="buy", time_in_force="gtc", limit_price=20))
    client.cancel_order_by_id(gone.id)
    client.close_position("NKE")
    sb.advance_to("2024-08-28 16:00-04:00")
    from alpaca.trading.requests import ReplaceOrderRequest
    client.replace_order_by_id(client.get_orders(GetOrdersRequest(symbols=["KO"]))[0].id,
                               ReplaceOrderRequest(limit_price=21))


def test_restart_with_state_file_keeps_the_account_exactly(tmp_path):
    path = tmp_path / "paper.sqlite"
    # Arrange: trade on the default scenario with a state file, next to a venue without one.
    with Sandbox(state=path, key_id=KEY, secret_key=SECRET) as sb, Sandbox(key_id=KEY, secret_key=SECRET) as twin:
        for box in (sb, twin):
            _trade(TradingClient(KEY, SECRET, url_override=box.url), box)
        before = _view(TradingClient(KEY, SECRET, url_override=sb.url))
        assert before == _view(TradingClient(KEY, SECRET, url_override=twin.url))
        assert len(before["orders"]) >= 14 and any(o["legs"] for o in before["orders"])

        # Act: restart from the file (the cash argument is ignored: the saved account wins).
        sb.stop()
        with Sandbox(cash=1, state=path, key_id=KEY, secret_key=SECRET) as again:
            client = TradingClient(KEY, SECRET, url_override=again.url)
            # Assert: the same account, positions, orders (legs included), clock and configuration ...
            assert _view(client) == before
            # ... and the same future: the restarted venue and the uninterrupted one move alike.
            for box in (again, twin):
                box.advance_to("2024-10-01 16:00-04:00")
            assert _view(client) == _view(TradingClient(KEY, SECRET, url_override=twin.url))

    rows = sqlite3.connect(path).execute("SELECT COUNT(*), SUM(status = 'filled') FROM orders").fetchone()
    assert rows[0] == len(before["orders"]) + sum(len(o["legs"] or []) for o in before["orders"])
    assert rows[1] >= 11  # ten legacy buys, the bracket entry, the NKE close


def test_state_file_from_another_market_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "paper.sqlite"
    with Sandbox(state=path, key_id=KEY, secret_key=SECRET):
        pass  # the default scenario's legacy positions are saved
    small = SimulatedMarket(seed=1, symbols=["AAPL"])
    with pytest.raises(StateError, match="does not carry"):
        StateStore(path).load(small)


def _serve(*args: str, env_extra: dict | None = None) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET, **(env_extra or {})}
    exe = os.path.join(os.path.dirname(sys.executable), "activetrader")
    proc = subprocess.Popen([exe, "serve", "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    first = proc.stdout.readline()
    assert "http://127.0.0.1:" in first, first + proc.stderr.read()
    return proc, first.split()[-1]


def _stop(proc: subprocess.Popen) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_serve_command_answers_alpaca_py_and_stops_cleanly_on_sigint(tmp_path):
    state = tmp_path / "venue.sqlite"
    proc, url = _serve("--state", str(state))
    try:
        client = TradingClient(KEY, SECRET, url_override=url)
        assert len(client.get_all_positions()) == 10  # the embedded default scenario
        order = client.submit_order(LimitOrderRequest(symbol="KO", qty=3, side="buy", time_in_force="gtc",
                                                      limit_price=20, client_order_id="survives"))
    finally:
        code, out, err = _stop(proc)
    assert code == 0 and "stopped" in out, err
    assert SECRET not in out + err and KEY not in out + err  # keys shown masked only
    assert "Traceback" not in err

    # The same file on the next start: the order is still there.
    proc, url = _serve("--state", str(state))
    try:
        again = TradingClient(KEY, SECRET, url_override=url).get_order_by_client_id("survives")
        assert again.id == order.id and again.status.value == "new"
    finally:
        code, _, err = _stop(proc)
    assert code == 0, err


def test_serve_command_without_keys_or_with_a_bad_clock_fails_in_one_line():
    exe = os.path.join(os.path.dirname(sys.executable), "activetrader")
    env = {k: v for k, v in os.environ.items() if k not in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY")}
    res = subprocess.run([exe, "serve", "--port", "0"], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 2 and "APCA_API_KEY_ID" in res.stderr and len(res.stderr.splitlines()) == 1
    env.update(APCA_API_KEY_ID=KEY, APCA_API_SECRET_KEY=SECRET)
    res = subprocess.run([exe, "serve", "--port", "0", "--clock", "fast"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert res.returncode == 2 and "--clock" in res.stderr and "Traceback" not in res.stderr


def test_serve_with_accelerated_clock_moves_time(tmp_path):
    proc, url = _serve("--clock", "7200", "--start", "2024-08-27T09:00:00-04:00")
    try:
        client = TradingClient(KEY, SECRET, url_override=url)
        t0 = client.get_clock().timestamp
        time.sleep(1.5)
        moved = client.get_clock().timestamp - t0
    finally:
        code, _, err = _stop(proc)
    assert code == 0, err
    assert pd.Timedelta(hours=1) <= moved <= pd.Timedelta(hours=6)


def test_serve_command_serves_a_folder_of_csv_bars(tmp_path):
    from alpaca.data.historical import StockHistoricalDataClient
    from alpaca.data.requests import StockBarsRequest
    from alpaca.data.timeframe import TimeFrame

    source = SimulatedMarket(seed=4, start="2024-01-02", end="2024-02-29", symbols=["AAPL"])
    for sym in ("AAPL", "SPY"):
        frame = source.bars(sym).droplevel("symbol")
        frame.index = frame.index.tz_convert("America/New_York").date
        frame.rename_axis("date")[["open", "high", "low", "close", "volume"]].to_csv(tmp_path / f"{sym}.csv")
    proc, url = _serve("--market", str(tmp_path), "--cash", "25000", "--start", "2024-02-29T17:00:00-05:00")
    try:
        account = TradingClient(KEY, SECRET, url_override=url).get_account()
        bars = StockHistoricalDataClient(KEY, SECRET, url_override=url).get_stock_bars(StockBarsRequest(
            symbol_or_symbols=["AAPL", "SPY"], timeframe=TimeFrame.Day, start=pd.Timestamp("2024-01-01", tz="UTC"))).df
    finally:
        code, out, err = _stop(proc)
    assert code == 0, err
    assert account.cash == "25000.00"
    assert len(bars) == 2 * 41  # Jan-Feb 2024: 21 + 20 sessions (New Year, MLK and Presidents Day closed)
    assert bars.loc["SPY"]["close"].tolist() == pytest.approx(source.bars("SPY")["close"].tolist())


def test_saved_account_blob_is_the_pickle_of_the_account_without_market_data_whatever_the_hint():
    """A broker with a bracket and an OCO: the saved blob is exactly ``pickle.dumps`` of its
    attributes less those holding market data, on the first save, on the next (when the
    remembered exclusions are used), and after an attribute starts or stops holding market data."""
    import pickle

    from activetrader.broker import SimBroker
    from activetrader.server import state

    market = SimulatedMarket(seed=3)
    broker = SimBroker(market, cash=50_000, start="2024-03-04 10:00")
    broker.submit_order(MarketOrderRequest(symbol="AAPL", qty=5, side="buy", time_in_force="day",
                                           order_class="bracket", take_profit=TakeProfitRequest(limit_price=9_999),
                                           stop_loss=StopLossRequest(stop_price=1)))
    broker.advance_to(pd.Timestamp("2024-03-05 16:00", tz="America/New_York"))

    def expected() -> bytes:
        return pickle.dumps(state._account_state(broker), protocol=pickle.HIGHEST_PROTOCOL)

    assert "market" not in state._account_state(broker)
    assert state._account_blob(broker) == expected()
    assert state._account_blob(broker) == expected()  # with the remembered exclusions
    broker.extra_view = market                          # an attribute that now holds market data
    assert state._account_blob(broker) == expected() and "extra_view" not in state._account_state(broker)
    broker.extra_view = 7                               # ...and one that no longer does
    assert state._account_blob(broker) == expected() and state._account_state(broker)["extra_view"] == 7
