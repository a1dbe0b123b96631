"""The Trader end to end on the SimBroker: one iteration gathers, decides, executes and
reports; the same code path whatever the universe size."""

import numpy as np
import pandas as pd
import pytest
from alpaca.trading.requests import GetOrderByIdRequest, GetOrdersRequest

from activetrader import Settings, Trader
from activetrader.broker import SimBroker
from activetrader.market import HistoricalMarket, MarketCalendar, SimulatedMarket
from activetrader.strategy import EnterBracket, ProtectPosition, TrimPosition

NY = "America/New_York"


def _scripted_market(n: int = 145) -> HistoricalMarket:
    """Daily bars on the first ``n`` sessions of 2024.

    AAPL, MSFT, GOOGL rise 1% a day (RSI 100: overbought); NVDA, TSLA fall 1% a day;
    KO falls 1% a day (oversold, RSI 0) and PEP drifts sideways. SH mirrors a flat index.
    Each bar: open = previous close, high/low 0.5% around the range.
    """
    sessions = MarketCalendar("2024-01-02", "2024-12-31").sessions_between("2024-01-02", "2024-12-31")[:n]
    k = np.arange(n)
    paths = {"AAPL": 100 * 1.01 ** k, "MSFT": 300 * 1.01 ** k, "GOOGL": 140 * 1.01 ** k,
             "NVDA": 500 * 0.99 ** k, "TSLA": 250 * 0.99 ** k, "KO": 60 * 0.99 ** k,
             "PEP": 170 + np.sin(k), "SH": 13 + 0 * k, "SPXS": 10 + 0 * k, "SQQQ": 12 + 0 * k}
    frames = {}
    for sym, close in paths.items():
        close = np.round(close, 2)
        opn = np.r_[close[0], close[:-1]]
        frames[sym] = pd.DataFrame({"open": opn, "high": np.maximum(opn, close) * 1.005,
                                    "low": np.minimum(opn, close) * 0.995, "close": close,
                                    "volume": 1e6}, index=sessions)
    return HistoricalMarket(frames, timeframe="1Day")


def _settings(**watch):
    s = Settings()
    s.entry.watchlist = ("KO", "PEP")
    return s


def test_default_trader_first_iteration_tells_the_whole_story():
    # The embedded default (seed 10, 2024-08-27 09:00 New York): ten positions bought without
    # brackets, ADBE above the cap, AAPL and GOOGL overbought (2 of 5), WMT oversold.
    trader = Trader()
    before = trader.positions()
    assert len(before) == 10 and not before["protected"].any()
    assert before.loc["ADBE", "weight"] > 0.15
    assert (before["pl_pct"] < 0).sum() >= 7

    report = trader.iteration()

    protected = {i.symbol for i in report.intents if isinstance(i, ProtectPosition)}
    assert protected == set(before.index) - {"ADBE"}
    (trim,) = [i for i in report.intents if isinstance(i, TrimPosition)]
    assert trim.symbol == "ADBE" and trim.weight_after <= 0.15 and trim.reprotect is not None
    assert report.bearish_ratio == pytest.approx(0.4) and not report.bearish
    assert {s for s, r in report.sentiment.items() if r > 70} == {"AAPL", "GOOGL"}
    entries = [i for i in report.intents if isinstance(i, EnterBracket)]
    assert [(e.symbol, e.purpose) for e in entries] == [("WMT", "entry")]
    assert report.rejections == () and len(report.submitted) == 12
    assert "RUNNING TRADING ITERATION NOW" in report.narrative
    after = trader.positions()
    assert after["protected"].all()  # every position has a broker-side stop now


def test_clean_trader_starts_flat_with_cash():
    trader = Trader(clean=True)
    assert trader.positions().empty
    assert float(trader.broker.get_account().cash) == 100_000


def test_bearish_sentiment_hedges_and_oversold_name_enters_with_brackets_that_behave_like_alpaca():
    # Market path: see _scripted_market. At the 2024-07-03 09:00 moment 3 of 5 sentiment names
    # are overbought (ratio 0.60 -> bearish) and KO is oversold.
    market = _scripted_market()
    broker = SimBroker(market, cash=100_000, start=pd.Timestamp("2024-07-03 09:00", tz=NY))
    trader = Trader(broker=broker, settings=_settings())
    report = trader.iteration()
    assert report.bearish and report.bearish_ratio == pytest.approx(0.6)
    kinds = {(i.symbol, i.purpose) for i in report.intents if isinstance(i, EnterBracket)}
    assert kinds == {("SH", "hedge"), ("KO", "entry")}
    hedge = next(i for i in report.intents if isinstance(i, EnterBracket) and i.purpose == "hedge")
    # Hedge sized to the 15% single-position cap (below the 20% inverse cap), whole shares at $13.
    assert hedge.qty == int(0.15 * 100_000 // 13)
    ko = next(o for o in report.submitted if o.symbol == "KO")

    # The entries fill at the next open; the legs then wait: take-profit new, stop held.
    broker.advance_to(pd.Timestamp("2024-07-03 16:00", tz=NY))
    parent = broker.get_order_by_id(ko.order_id, GetOrderByIdRequest(nested=True))
    assert parent.status.value == "filled"
    assert sorted((leg.type.value, leg.status.value) for leg in parent.legs) == [("limit", "new"), ("stop", "held")]
    # KO keeps falling 1% a day: the 5% stop fills within a week and cancels the take-profit.
    broker.advance_to(pd.Timestamp("2024-07-12 16:00", tz=NY))
    legs = {leg.type.value: leg.status.value for leg in
            broker.get_order_by_id(ko.order_id, GetOrderByIdRequest(nested=True)).legs}
    assert legs == {"stop": "filled", "limit": "canceled"}


def test_running_the_same_iteration_twice_does_not_duplicate_orders():
    market = _scripted_market()
    broker = SimBroker(market, cash=100_000, start=pd.Timestamp("2024-07-03 09:00", tz=NY))
    trader = Trader(broker=broker, settings=_settings())
    first = trader.iteration()
    n = len(broker.get_orders(GetOrdersRequest(status="all", limit=500)))
    second = trader.iteration()
    assert len(broker.get_orders(GetOrdersRequest(status="all", limit=500))) == n
    assert len(first.submitted) > 0 and second.rejections == ()


def test_rejected_order_is_reported_with_alpacas_message_and_the_plan_goes_on():
    market = _scripted_market()
    broker = SimBroker(market, cash=100_000, start=pd.Timestamp("2024-07-03 09:00", tz=NY))
    trader = Trader(broker=broker, settings=_settings())
    real_submit = broker.submit_order

    def refuse_hedges(req):  # the broker turns down the SH order only
        if req.symbol == "SH":
            from activetrader.broker import api_error
            raise api_error(403, 40310000, "insufficient buying power")
        return real_submit(req)

    broker.submit_order = refuse_hedges
    report = trader.iteration()
    (rej,) = report.rejections
    assert (rej.symbol, rej.http_status, rej.message) == ("SH", 403, "insufficient buying power")
    assert any(o.symbol == "KO" and o.accepted for o in report.outcomes)
    assert "FAIL" in report.narrative and "insufficient buying power" in report.narrative


class _Counting:
    """Wraps a real broker or data client and counts calls by method name."""

    def __init__(self, inner):
        self._inner, self.calls = inner, {}

    def __contains__(self, symbol):  # membership is a property of the data, not a call
        return symbol in self._inner

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def counted(*a, **k):
            self.calls[name] = self.calls.get(name, 0) + 1
            return attr(*a, **k)
        return counted


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("n", [5, 200])
def test_broker_and_data_calls_per_iteration_do_not_grow_with_the_watchlist(n, fast):
    market = SimulatedMarket(seed=3, start="2024-01-02", end="2024-12-31", symbols=205)
    counted_market = _Counting(market)
    broker = _Counting(SimBroker(market, cash=100_000, start=pd.Timestamp("2024-09-03 09:00", tz=NY)))
    settings = Settings()
    synthetic = tuple(s for s in market.symbols if s.startswith("X"))
    settings.hedge.sentiment_symbols = synthetic[-5:]
    settings.entry.watchlist = synthetic[:n]
    assert len(settings.entry.watchlist) == n
    trader = Trader(broker=broker, market=counted_market, settings=settings, fast=fast)
    trader.iteration(dry_run=True)  # decide only: what gathering costs
    if fast:  # the native fast path (issue 7): the same calls, as plain rows and arrays
        assert counted_market.calls == {"bar_windows": 1}
        assert broker.calls == {"native_account": 2, "native_positions": 1, "native_orders": 1}
    else:
        assert counted_market.calls == {"get_stock_bars": 1}
        assert broker.calls == {"get_account": 2, "get_all_positions": 1, "get_orders": 1}


def test_dry_run_submits_nothing():
    trader = Trader()
    before = len(trader.broker.get_orders(GetOrdersRequest(status="all", limit=500)))
    report = trader.iteration(dry_run=True)
    assert report.outcomes == () and len(report.intents) > 0
    assert len(trader.broker.get_orders(GetOrdersRequest(status="all", limit=500))) == before


def test_report_to_dict_is_json_serialisable():
    import json

    report = Trader().iteration()
    d = json.loads(json.dumps(report.to_dict()))
    assert d["bearish_ratio"] == pytest.approx(0.4) and len(d["outcomes"]) == 12
    assert {"sentiment", "intents", "outcomes", "portfolio_value", "cash"} <= set(d)


def test_settings_are_validated_on_assignment_through_the_trader():
    from activetrader import SettingsError

    trader = Trader(clean=True)
    trader.settings.bracket.stop_loss_pct = 0.03
    with pytest.raises(SettingsError, match="bracket.stop_loss_pct"):
        trader.settings.bracket.stop_loss_pct = 3
    assert trader.settings.bracket.stop_loss_pct == 0.03


def _grower_market():
    """AAA closes at 100 on 2024-07-01, then rises 10% a day; BBB is flat at 50.

    Bars: open = previous close, high 1% above the larger of open/close, low 1% below the smaller.
    """
    sessions = MarketCalendar("2024-01-02", "2024-12-31").sessions_between("2024-02-01", "2024-07-10")
    n = len(sessions)
    i0 = list(sessions).index(pd.Timestamp("2024-07-01"))
    aaa = np.array([100.0 if k <= i0 else 100.0 * 1.1 ** (k - i0) for k in range(n)]).round(2)
    frames = {}
    for sym, close in {"AAA": aaa, "BBB": np.full(n, 50.0)}.items():
        opn = np.r_[close[0], close[:-1]]
        frames[sym] = pd.DataFrame({"open": opn, "high": np.maximum(opn, close) * 1.01,
                                    "low": np.minimum(opn, close) * 0.99, "close": close, "volume": 1e6},
                                   index=sessions)
    return HistoricalMarket(frames, timeframe="1Day")


def _trader_with_grown_bracket():
    from scenario import bracket

    broker = SimBroker(_grower_market(), cash=100_000, start=pd.Timestamp("2024-07-01 17:00", tz=NY))
    # 100 AAA at the 07-02 open of 100 with a wide bracket (take-profit 300, stop 95).
    entry = broker.submit_order(bracket("AAA", qty=100, tp=300, sl=95))
    broker.advance_to(pd.Timestamp("2024-07-10 09:00", tz=NY))  # AAA closed 07-09 at 161.05
    s = Settings()
    s.hedge.sentiment_symbols = ("BBB",)
    s.entry.watchlist = ("BBB",)
    return Trader(broker=broker, settings=s), broker, entry


def test_position_held_by_bracket_legs_is_trimmed_by_cancel_sell_reprotect_and_stays_protected():
    trader, broker, entry = _trader_with_grown_bracket()
    assert broker.get_open_position("AAA").qty_available == "0"  # the legs hold every share
    weight = trader.positions().loc["AAA", "weight"]
    assert weight > 0.15

    report = trader.iteration()

    (trim,) = [i for i in report.intents if isinstance(i, TrimPosition)]
    actions = [(o.action, o.description.split()[0], o.accepted) for o in report.outcomes if o.symbol == "AAA"]
    # cancel the two legs (the second is already cancelled with its group: still a success),
    # sell the excess at market, then an OCO for the rest at the original levels.
    assert actions[:2] == [("cancel", "cancel", True), ("cancel", "cancel", True)]
    assert actions[2:] == [("submit", "sell", True), ("submit", "OCO", True)]
    oco = report.outcomes[-1]
    assert "take-profit 300.00 / stop 95.00" in oco.description
    broker.advance_to(pd.Timestamp("2024-07-10 16:00", tz=NY))
    pos = trader.positions().loc["AAA"]
    assert pos["qty"] == trim.remaining_qty and pos["protected"]
    assert (pos["stop"], pos["take_profit"]) == (95.0, 300.0)


def test_trim_whose_sale_is_refused_reprotects_the_whole_position():
    trader, broker, entry = _trader_with_grown_bracket()
    real_submit = broker.submit_order

    def refuse_market_sells(req):
        if req.type.value == "market" and req.side.value == "sell":
            from activetrader.broker import api_error
            raise api_error(403, 40310000, "trade denied (test)")
        return real_submit(req)

    broker.submit_order = refuse_market_sells
    report = trader.iteration()
    assert [o.accepted for o in report.outcomes if o.action == "submit"] == [False, True]
    assert "OCO sell 100 AAA" in report.outcomes[-1].description
    pos = trader.positions().loc["AAA"]
    assert pos["qty"] == 100 and pos["protected"]


def test_journal_records_iterations_intents_orders_and_settings_changes(tmp_path):
    path = tmp_path / "journal.sqlite"
    with Trader(journal=path) as trader:
        trader.settings.bracket.stop_loss_pct = 0.04
        report = trader.iteration()
        j = trader.journal
        assert j.iterations()["complete"].tolist() == [True]
        assert len(j.intents()) == len(report.intents)
        assert len(j.orders()) == len(report.outcomes) and j.orders()["accepted"].all()
        (change,) = j.settings_changes().itertuples()
        assert (change.path, change.old, change.new) == ("bracket.stop_loss_pct", 0.05, 0.04)


def test_trim_does_not_sell_until_the_broker_confirms_the_cancel():
    # A broker that acknowledges cancels but never carries them out (a stuck cancel at Alpaca):
    # the Trader must not send the sell, and the legs keep protecting the position.
    trader, broker, entry = _trader_with_grown_bracket()
    broker.cancel_order_by_id = lambda order_id: None
    trader.cancel_timeout = 0.3
    report = trader.iteration()
    cancels = [o for o in report.outcomes if o.action == "cancel"]
    assert cancels and not any(o.accepted for o in cancels)
    assert "cancel not confirmed" in cancels[0].message
    assert not any(o.description.startswith("sell") for o in report.outcomes)
    pos = trader.positions().loc["AAA"]
    assert pos["qty"] == 100 and pos["protected"] and pos["stop"] == 95.0
