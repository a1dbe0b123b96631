"""Connecting to Alpaca: paper by default, live only by two opt-ins, keys never shown.

Constructing alpaca-py's clients makes no network call; nothing here talks to Alpaca (the
tests against a venue are in test_alpaca_adapter.py, on a local Sandbox).
"""

import pytest

from activetrader import Trader
from activetrader.alpaca import (
    LIVE_CONFIRMATION, AlpacaEndpoints, LiveTradingRefused, MissingKeysError, connect, stream_clients,
)

KEY, SECRET = "fake-key-id-for-tests", "fake-secret-that-must-not-leak"
_URL_VARS = ("ACTIVETRADER_TRADING_URL", "ACTIVETRADER_DATA_URL", "ACTIVETRADER_DATA_STREAM_URL",
             "ACTIVETRADER_TRADING_STREAM_URL", "ACTIVETRADER_LIVE")


@pytest.fixture
def keys(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env from the working tree
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    for name in _URL_VARS:
        monkeypatch.delenv(name, raising=False)


def test_alpaca_trader_default_is_paper_and_never_shows_its_keys(keys):
    trader = Trader(broker="alpaca")
    assert trader.mode == "paper"
    assert trader.broker.base_url == "https://paper-api.alpaca.markets"
    for text in (repr(trader), str(trader.broker), repr(trader.market), repr(trader.settings)):
        assert KEY not in text and SECRET not in text


def test_alpaca_live_without_confirmation_is_refused_naming_the_variable(keys):
    with pytest.raises(LiveTradingRefused) as e:
        Trader(broker="alpaca", live=True)
    assert "ACTIVETRADER_LIVE" in str(e.value) and LIVE_CONFIRMATION in str(e.value)


def test_alpaca_live_with_a_wrong_confirmation_is_refused(keys, monkeypatch):
    monkeypatch.setenv("ACTIVETRADER_LIVE", "yes")
    with pytest.raises(LiveTradingRefused, match="set to something else"):
        connect(live=True)


def test_alpaca_live_with_confirmation_targets_the_live_host(keys, monkeypatch):
    monkeypatch.setenv("ACTIVETRADER_LIVE", LIVE_CONFIRMATION)
    trader = Trader(broker="alpaca", live=True)
    assert trader.mode == "live" and trader.broker.base_url == "https://api.alpaca.markets"


def test_alpaca_confirmation_alone_stays_paper(keys, monkeypatch):
    monkeypatch.setenv("ACTIVETRADER_LIVE", LIVE_CONFIRMATION)
    trading, _ = connect()
    assert trading.mode == "paper" and "paper-api" in trading.base_url


def test_alpaca_url_overrides_come_from_the_environment(keys, monkeypatch):
    monkeypatch.setenv("ACTIVETRADER_TRADING_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("ACTIVETRADER_DATA_URL", "http://127.0.0.1:2")
    trading, data = connect()
    assert trading.base_url == "http://127.0.0.1:1" and data.base_url == "http://127.0.0.1:2"
    assert AlpacaEndpoints.from_env().env() == {"ACTIVETRADER_TRADING_URL": "http://127.0.0.1:1",
                                                "ACTIVETRADER_DATA_URL": "http://127.0.0.1:2"}


def test_missing_keys_error_names_the_variables_not_values(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    with pytest.raises(MissingKeysError) as e:
        Trader(broker="alpaca")
    assert "APCA_API_KEY_ID" in str(e.value) and SECRET not in str(e.value)


def test_keys_are_read_from_a_dotenv_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"):
        monkeypatch.setenv(name, "")  # recorded, so teardown removes what load_dotenv sets
        monkeypatch.delenv(name)
    (tmp_path / ".env").write_text(f"APCA_API_KEY_ID={KEY}\nAPCA_API_SECRET_KEY={SECRET}\n")
    trader = Trader(broker="alpaca")
    assert trader.broker.client._api_key == KEY  # alpaca-py holds the key; our wrapper shows none
    assert KEY not in repr(trader.broker)


def test_stream_clients_use_the_stream_url_overrides(keys, monkeypatch):
    monkeypatch.setenv("ACTIVETRADER_DATA_STREAM_URL", "ws://127.0.0.1:1/v2/iex")
    monkeypatch.setenv("ACTIVETRADER_TRADING_STREAM_URL", "ws://127.0.0.1:1/stream")
    trading_stream, data_stream = stream_clients()
    assert trading_stream._endpoint == "ws://127.0.0.1:1/stream"
    assert data_stream._endpoint == "ws://127.0.0.1:1/v2/iex"
    with pytest.raises(LiveTradingRefused):
        stream_clients(live=True)


def test_cli_with_missing_keys_prints_one_line_and_exits_2(monkeypatch, tmp_path, capsys):
    from activetrader.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    assert main(["positions", "--broker", "alpaca"]) == 2
    err = capsys.readouterr().err
    assert err == "activetrader: error: Alpaca keys are not set: APCA_API_KEY_ID, APCA_API_SECRET_KEY " \
                  "(environment or .env file)\n"


def test_cli_live_without_alpaca_or_clean_with_alpaca_is_a_usage_error(keys, capsys):
    from activetrader.cli import main

    assert main(["iterate", "--live"]) == 2
    assert main(["positions", "--broker", "alpaca", "--clean"]) == 2
    err = capsys.readouterr().err
    assert "--live needs --broker alpaca" in err and "--clean applies to the embedded default" in err
