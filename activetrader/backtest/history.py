"""History for a backtest from a market-data client (e.g. alpaca-py's ``StockHistoricalDataClient``).

A trader on Alpaca has no local :class:`~activetrader.market.Market`, only a data client. A
backtest then fetches the bars of its whole universe in one ``get_stock_bars`` request (the
client pages through the answer), from early enough that the first decision has its full
lookback, and replays them as a :class:`~activetrader.market.HistoricalMarket` on a
:class:`~activetrader.broker.SimBroker`.
"""

from __future__ import annotations

import pandas as pd
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame

from ..market import HistoricalMarket
from ..market.sessions import ET


def fetch_market(client, symbols: list[str], start: pd.Timestamp, end: pd.Timestamp, *, every: str,
                 lookback: int) -> HistoricalMarket:
    """One ``get_stock_bars`` request for ``symbols`` from ``start - lookback`` days to ``end``'s
    evening (New York), daily bars for ``every="1d"`` and hourly for ``"1h"``, split-adjusted
    (raw prices would turn a split into a fake crash through every stop)."""
    first = (start - pd.Timedelta(days=lookback)).tz_localize(ET)
    last = (end + pd.Timedelta(hours=23, minutes=59)).tz_localize(ET)
    request = StockBarsRequest(symbol_or_symbols=symbols, timeframe=TimeFrame.Day if every == "1d" else TimeFrame.Hour,
                               start=first.tz_convert("UTC").to_pydatetime(),
                               end=last.tz_convert("UTC").to_pydatetime(),
                               feed=DataFeed.IEX, adjustment=Adjustment.SPLIT)
    df = client.get_stock_bars(request).df
    if df.empty:
        raise ValueError(f"the data client returned no bars for {', '.join(symbols[:5])}"
                         f"{'...' if len(symbols) > 5 else ''} between {first.date()} and {last.date()}")
    return HistoricalMarket(df, timeframe="1Day" if every == "1d" else "1Hour")
