"""The native fast path and the alpaca-py path are the same trader (issue 7, DESIGN.md "Speed").

``Trader(fast=True)`` (the default) reads a SimBroker and a market through plain rows and
arrays; ``Trader(fast=False)`` through alpaca-py models, as on Alpaca. Two traders on two
identical brokers, advanced through the same mornings, must see identical snapshots (account,
positions, open orders and legs, prices, close series, the RSI each decision uses), decide
identical plans and submit identical orders (client order ids, symbols, sides, types,
quantities, limit and stop prices). Any drift would mean a backtest (fast) does not show what
live trading (alpaca-py) would have done.
"""

import pandas as pd
import pytest

from activetrader import Settings, Trader
from activetrader.broker import SimBroker
from activetrader.market import HistoricalMarket
from activetrader.strategy import EnterBracket, ExitPosition, Plan, ProtectPosition, Strategy, TrimPosition
from activetrader.strategy.intents import EnterPosition, RaiseStop

NY = "America/New_York"
WATCHLIST = ("AAPL", "MSFT", "GOOGL", "AMZN", "META", "NVDA", "TSLA", "JPM", "JNJ", "XOM", "KO", "WMT", "UNH")


class _HideNative:
    """A broker proxy without the native capability: what a TradingClient-shaped broker offers."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        if name.startswith("native_"):
            raise AttributeError(name)
        return getattr(self._inner, name)


def _assert_same_snapshot(fast: Trader, slow: Trader, symbols) -> None:
    a, b = fast.snapshot(), slow.snapshot()
    assert a.now == b.now
    assert a.account == b.account
    assert a.positions == b.positions
    assert a.orders == b.orders
    assert dict(a.prices) == dict(b.prices)
    for sym in symbols:
        ca, cb = a.closes(sym), b.closes(sym)
        assert ca.tolist() == cb.tolist(), sym
        assert list(ca.index) == list(cb.index), sym
    assert a.rsi(symbols, 14, 100) == b.rsi(symbols, 14, 100)
    pd.testing.assert_frame_equal(a.bars[["open", "high", "low", "close", "volume"]],
                                  b.bars[["open", "high", "low", "close", "volume"]], check_index_type=False)


def _orders(broker) -> list[tuple]:
    return [(o.client_order_id, o.symbol, o.side, o.type, o.order_class, o.qty, o.limit_price, o.stop_price,
             o.status, o.filled_avg_price) for o in broker._orders.values()]


def _assert_same_iteration(fast: Trader, slow: Trader) -> None:
    ra, rb = fast.iteration(), slow.iteration()
    assert ra.plan.intents == rb.plan.intents
    assert ra.plan.sentiment == rb.plan.sentiment
    assert ra.plan.watchlist_rsi == rb.plan.watchlist_rsi
    assert (ra.plan.skipped, ra.plan.warnings) == (rb.plan.skipped, rb.plan.warnings)
    assert [(o.action, o.symbol, o.client_order_id, o.accepted, o.message) for o in ra.outcomes] == \
        [(o.action, o.symbol, o.client_order_id, o.accepted, o.message) for o in rb.outcomes]
    assert (ra.portfolio_value, ra.cash, ra.buying_power) == (rb.portfolio_value, rb.cash, rb.buying_power)
    assert _orders(fast.broker) == _orders(slow.broker._inner if isinstance(slow.broker, _HideNative)
                                           else slow.broker)


def test_fast_path_on_the_embedded_default_matches_the_alpaca_py_path_for_forty_mornings():
    fast, slow = Trader(), Trader(fast=False)
    assert fast.fast and not slow.fast
    universe = fast._universe([p.symbol for p in fast.snapshot().positions])
    days = fast.broker.market.calendar.sessions_between("2024-08-27", "2024-10-31")[:40]
    submitted = 0
    for day in days:
        moment = pd.Timestamp(day.date()).tz_localize(NY) + pd.Timedelta(hours=9)
        fast.advance(moment)
        slow.advance(moment)
        _assert_same_snapshot(fast, slow, universe)
        _assert_same_iteration(fast, slow)
        submitted = len(fast.broker._orders)
    assert submitted > 20, "the comparison covered protections, trims and entries, not just quiet days"


def test_fast_path_on_real_prices_matches_a_broker_that_hides_the_native_capability(real_data_dir):
    frames = {s: pd.read_csv(real_data_dir / f"{s}.csv") for s in (*WATCHLIST, "SH", "SPY")}
    settings = Settings()
    settings.entry.watchlist = WATCHLIST
    start = pd.Timestamp("2022-01-03 09:00", tz=NY)
    fast = Trader(broker=SimBroker(HistoricalMarket(frames), cash=100_000, start=start), settings=settings)
    slow_broker = SimBroker(HistoricalMarket(frames), cash=100_000, start=start)
    slow = Trader(broker=_HideNative(slow_broker), market=slow_broker.market, settings=settings.copy(), fast=False)
    days = fast.broker.market.calendar.sessions_between("2022-01-03", "2022-06-30")
    for day in days:
        moment = pd.Timestamp(day.date()).tz_localize(NY) + pd.Timedelta(hours=9)
        fast.broker.advance_to(moment)
        slow_broker.advance_to(moment)
        if day.day_of_week == 0:  # a full snapshot comparison every Monday
            _assert_same_snapshot(fast, slow, (*WATCHLIST, "SH"))
        _assert_same_iteration(fast, slow)
    fills = [(f.timestamp, f.symbol, f.side, f.qty, f.price) for f in fast.broker.fills]
    assert fills == [(f.timestamp, f.symbol, f.side, f.qty, f.price) for f in slow_broker.fills]
    assert {f[2] for f in fills} == {"buy", "sell"}, "entries and exits both happened in a falling half-year"


@pytest.mark.parametrize("fast", [True, False])
def test_snapshot_bars_are_complete_daily_bars_either_way(fast):
    trader = Trader(fast=fast)
    snap = trader.snapshot()
    last = snap.bars.index.get_level_values("timestamp").max()
    assert last < trader.now.normalize()  # 09:00 before the open: today's bar is not complete
    assert snap.price("AAPL") == snap.closes("AAPL").iloc[-1]


def test_fast_path_with_more_than_500_orders_in_the_window_sees_every_live_leg():
    """An hourly bot places more than 500 orders within the 91 days the trader looks at. The
    oldest order here is the OCO protecting AAPL; 600 resting limit buys come after it. Alpaca
    lists 500 orders a page, so the alpaca-py path pages (``list_orders``) and the native path
    must list the whole window too: both find the OCO's two legs, and AAPL counts as protected."""
    from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, StopLossRequest, TakeProfitRequest

    from activetrader.scenario import default_market

    def broker():
        b = SimBroker(default_market(), cash=1_000_000, start="2024-03-04 09:00-05:00")
        b.submit_order(MarketOrderRequest(symbol="AAPL", qty=10, side="buy", time_in_force="day"))
        b.advance_to("2024-03-04 16:00-05:00")
        price = b.last_price("AAPL")
        b.submit_order(LimitOrderRequest(symbol="AAPL", qty=10, side="sell", time_in_force="gtc", order_class="oco",
                                         take_profit=TakeProfitRequest(limit_price=round(price * 1.15, 2)),
                                         stop_loss=StopLossRequest(stop_price=round(price * 0.95, 2))))
        for i in range(600):
            b.advance_to(pd.Timestamp("2024-03-04 16:00", tz=NY) + pd.Timedelta(minutes=i + 1))
            b.submit_order(LimitOrderRequest(symbol="MSFT", qty=1, side="buy", time_in_force="gtc", limit_price=1.0))
        return b

    fast, slow = Trader(broker()), Trader(_HideNative(broker()), fast=False)
    a, b = fast.snapshot(), slow.snapshot()
    legs = [o for o in a.orders if o.symbol == "AAPL"]
    assert sorted(o.role for o in legs) == ["stop_loss", "take_profit"]
    assert len(a.orders) == 602 and a.orders == b.orders
    assert a.covered_qty("AAPL") == 10


class _Script(Strategy):
    """Each morning's intents, written against the snapshot (order ids come from it)."""

    def __init__(self):
        super().__init__()
        self.day = 0

    def universe(self, settings):
        return ["AAA", "BBB", "CCC", "DDD", "EEE"]

    def propose(self, snapshot, settings, **kwargs):
        self.day += 1
        legs = {(o.symbol, o.role): o for o in snapshot.orders}
        if self.day == 1:  # entries fill at Monday's open, 100
            return Plan(intents=(
                EnterBracket(symbol="AAA", qty=10, reference_price=100.0, take_profit=115.0, stop_loss=95.0,
                             reason="s"),
                EnterPosition(symbol="BBB", qty=20, reference_price=100.0, reason="s"),
                EnterPosition(symbol="CCC", qty=30, reference_price=100.0, reason="s"),
                EnterPosition(symbol="DDD", qty=10, reference_price=100.0, reason="s"),
                EnterBracket(symbol="EEE", qty=1, reference_price=120.0, take_profit=138.0, stop_loss=114.0,
                             reason="refused: the stop is above the price, 100")))
        if self.day == 2:
            return Plan(intents=(
                ProtectPosition(symbol="BBB", qty=20, take_profit=115.0, stop_loss=95.0, entry_price=100.0, reason="s"),
                ExitPosition(symbol="DDD", qty=10, price=100.0, stop_loss=100.0, reason="s"),
                TrimPosition(symbol="CCC", sell_qty=10, remaining_qty=20, price=100.0, weight_before=0.03,
                             weight_after=0.02, reason="s",
                             reprotect=ProtectPosition(symbol="CCC", qty=20, take_profit=115.0, stop_loss=95.0,
                                                       entry_price=100.0, reason="s"))))
        if self.day == 3:
            stop = legs["BBB", "stop_loss"]
            return Plan(intents=(
                RaiseStop(symbol="BBB", order_id=stop.id, old_stop=stop.stop_price, new_stop=97.0, high=101.0,
                          reason="s"),
                TrimPosition(symbol="AAA", sell_qty=5, remaining_qty=5, price=100.0, weight_before=0.01,
                             weight_after=0.005, reason="s",
                             cancel_order_ids=(legs["AAA", "take_profit"].id, legs["AAA", "stop_loss"].id),
                             reprotect=ProtectPosition(symbol="AAA", qty=5, take_profit=115.0, stop_loss=95.0,
                                                       entry_price=100.0, reason="s"))))
        return Plan()


def _code(cid: str | None) -> str | None:
    """The executor's code in a client order id: ``at-<minute>-<code>-<symbol>`` or ``at-<code>-<replaced id>``."""
    if cid is None:
        return None
    parts = cid.split("-")
    return parts[2] if parts[1].isdigit() else parts[1]


def test_fast_path_submits_every_kind_of_order_as_the_alpaca_py_path_does():
    """Twin brokers on five flat symbols (every session 100/101/99/100, Mon 2024-03-04 to Fri
    03-08), iterations at 09:00 New York. Monday: a bracket buy of AAA (take-profit 115, stop 95)
    and plain buys of BBB, CCC and DDD, all filled at the 09:30 open (100), and a bracket for EEE
    sized on a stale 120 refused (its stop 114 is above the price). Tuesday: an OCO for BBB, a market exit of DDD and a
    trim of CCC (sell 10, re-protect 20 with an OCO). Wednesday: BBB's stop raised 95 -> 97 (a
    replace) and a trim of AAA that first cancels its bracket legs. The fast trader hands the
    broker plain OrderFields, the other alpaca-py requests: the same outcomes, orders and fills."""
    from scenario import broker as scenario_broker

    days = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]
    bars = {s: [(d, 100.0, 101.0, 99.0, 100.0) for d in days] for s in ("AAA", "BBB", "CCC", "DDD", "EEE")}
    fb, sb = (scenario_broker(bars, start="2024-03-04 08:00") for _ in range(2))
    sent = {fb: [], sb: []}
    for b in (fb, sb):
        b._place = (lambda place, seen: lambda req: (seen.append(type(req).__name__), place(req))[1])(b._place, sent[b])
    fast = Trader(broker=fb, strategy=_Script())
    slow = Trader(broker=_HideNative(sb), market=sb.market, strategy=_Script(), fast=False)
    kinds = set()
    for day in days:
        moment = pd.Timestamp(day).tz_localize(NY) + pd.Timedelta(hours=9)
        fb.advance_to(moment)
        sb.advance_to(moment)
        report = fast.iteration()
        rb = slow.iteration()
        assert [(o.action, o.client_order_id, o.order_id, o.accepted, o.status, o.message) for o in report.outcomes] \
            == [(o.action, o.client_order_id, o.order_id, o.accepted, o.status, o.message) for o in rb.outcomes]
        assert (report.portfolio_value, report.cash, report.buying_power) == \
            (rb.portfolio_value, rb.cash, rb.buying_power)
        kinds |= {(o.action, _code(o.client_order_id), o.accepted) for o in report.outcomes}
    assert _orders(fb) == _orders(sb)
    assert [o.to_alpaca() for o in fb._orders.values()] == [o.to_alpaca() for o in sb._orders.values()]
    assert [(f.timestamp, f.symbol, f.side, f.qty, f.price) for f in fb.fills] == \
        [(f.timestamp, f.symbol, f.side, f.qty, f.price) for f in sb.fills]
    # bracket (e), buy (b), OCO (p), exit (x), trim (t), re-protection (r), replaced stop (s); one refusal; cancels
    assert {("submit", c, True) for c in "ebpxtrs"} | {("submit", "e", False), ("cancel", None, True)} <= kinds, kinds
    assert set(sent[fb]) == {"OrderFields"} and len(sent[fb]) == len(sent[sb]) >= 10
    assert set(sent[sb]) == {"MarketOrderRequest", "LimitOrderRequest"}
