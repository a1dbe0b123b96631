"""The whole stack on real prices: the first half of 2022 (a falling market: the S&P 500
lost about 20%) replayed day by day from ../shared/data/real through HistoricalMarket,
SimBroker and the Trader, one iteration every morning at 09:00 New York time.

What must hold on real data, whatever the prices did: our own strategy is never refused by
the Alpaca-faithful broker (its plans respect Alpaca's rules), every position it holds after
an iteration has a broker-side stop, and the books balance (equity = cash + market value).
"""

import pandas as pd

from activetrader import Settings, Trader
from activetrader.broker import SimBroker
from activetrader.market import HistoricalMarket

NY = "America/New_York"


def test_trader_on_real_2022_prices_is_never_refused_and_never_unprotected(real_data_dir):
    market = HistoricalMarket.from_folder(real_data_dir)
    settings = Settings()
    settings.entry.watchlist = ("AAPL", "MSFT", "GOOGL", "AMZN", "META", "NVDA", "TSLA", "JPM", "JNJ",
                                "XOM", "KO", "WMT", "UNH")
    broker = SimBroker(market, cash=100_000, start=pd.Timestamp("2022-01-03 09:00", tz=NY))
    trader = Trader(broker=broker, settings=settings)
    iterations = 0
    for day in market.calendar.sessions_between("2022-01-03", "2022-06-30"):
        broker.advance_to(pd.Timestamp(day.date()).tz_localize(NY) + pd.Timedelta(hours=9))
        report = trader.iteration()
        iterations += 1
        assert report.rejections == (), f"{day.date()}: {[o.message for o in report.rejections]}"
        held = trader.positions()
        assert held["protected"].all(), f"{day.date()}: unprotected {list(held.index[~held['protected']])}"
        account = broker.get_account()
        value = sum(float(p.qty) * float(p.current_price) for p in broker.get_all_positions())
        assert abs(float(account.equity) - float(account.cash) - value) < 0.05
    assert iterations == 124  # XNYS sessions in 2022 H1: 20 + 19 + 23 + 20 + 21 + 21
    sides = {f.side for f in broker.fills}
    assert sides == {"buy", "sell"}, "over half a year the strategy both entered and exited"
