"""Connecting to Alpaca through alpaca-py: keys from the environment or a ``.env`` file,
paper by default, live only by explicit opt-in. Keys never appear in reprs, logs or errors."""

from __future__ import annotations

import os


class MissingKeysError(RuntimeError):
    """Alpaca keys are not configured."""


def connect(*, live: bool = False):
    """``(TradingClient, StockHistoricalDataClient)`` for Alpaca paper (or live with ``live=True``).

    Reads ``APCA_API_KEY_ID`` and ``APCA_API_SECRET_KEY`` from the environment, or from a
    ``.env`` file in the working directory (never overriding the environment).
    """
    from dotenv import find_dotenv, load_dotenv

    load_dotenv(find_dotenv(usecwd=True), override=False)
    key, secret = os.environ.get("APCA_API_KEY_ID"), os.environ.get("APCA_API_SECRET_KEY")
    missing = [n for n, v in (("APCA_API_KEY_ID", key), ("APCA_API_SECRET_KEY", secret)) if not v]
    if missing:
        raise MissingKeysError(f"Alpaca keys are not set: {', '.join(missing)} (environment or .env file)")
    from alpaca.data.historical import StockHistoricalDataClient
    from alpaca.trading.client import TradingClient

    trading = TradingClient(key, secret, paper=not live, url_override=os.environ.get("ACTIVETRADER_TRADING_URL"))
    data = StockHistoricalDataClient(key, secret, url_override=os.environ.get("ACTIVETRADER_DATA_URL"))
    return trading, data
