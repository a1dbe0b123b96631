"""Connecting to Alpaca: paper by default, live only by opt-in, keys never shown.

Constructing alpaca-py's clients makes no network call; nothing here talks to Alpaca.
"""

import pytest

from activetrader import Trader
from activetrader.alpaca import MissingKeysError

KEY, SECRET = "fake-key-id-for-tests", "fake-secret-that-must-not-leak"


@pytest.fixture
def keys(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env from the working tree
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)


def test_alpaca_trader_is_paper_by_default_and_never_shows_its_keys(keys):
    trader = Trader(broker="alpaca")
    assert trader.mode == "paper"
    assert "paper-api" in str(trader.broker._base_url.value)
    for text in (repr(trader), str(trader.broker), repr(trader.market), repr(trader.settings)):
        assert KEY not in text and SECRET not in text


def test_alpaca_live_needs_the_explicit_opt_in(keys):
    trader = Trader(broker="alpaca", live=True)
    assert trader.mode == "live" and "paper" not in str(trader.broker._base_url.value)


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
    assert trader.broker._api_key == KEY
