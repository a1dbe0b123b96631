"""A cheaper live iteration (issue 7, session 3) without a change of behaviour: what one
iteration now computes once and reuses must follow the data it came from.

* ``WindowSource.rsi`` reads every symbol's RSI once per (period, window) and snapshot: a
  second question with other parameters, or a later snapshot, gets its own numbers;
* ``RsiCache`` finds once per RSI matrix which rows hold a NaN: a missing close still reads
  None for the symbols whose window holds it, and only for them;
* ``Snapshot.live_sells`` is found once per symbol: the frozen snapshot's own orders;
* the caps hand back the plan itself when every intent passed unchanged, and rebuild it
  whenever anything would differ (an intent, a warning, ``cash_after``'s value, type or sign);
* the protect step rounds the entry-based levels only where a covered position lacks its own;
* ``from_ns`` builds one Timestamp per instant: another instant gets its own.
"""

import numpy as np
import pandas as pd

from activetrader import Settings
from activetrader.fastpath import RsiCache, WindowSource
from activetrader.market import HistoricalMarket
from activetrader.market.frames import BarBlock, _View
from activetrader.market.sessions import from_ns
from activetrader.strategy import CombinedStrategy, EnterBracket, OrderView, Plan, Snapshot
from activetrader.strategy.caps import enforce_caps
from test_snapshot_speed_windows import _frame, sessions_2023

NY = "America/New_York"


def _market() -> HistoricalMarket:
    """AAA, BBB, CCC trade every session of 2023 (one grid of daily bar times)."""
    return HistoricalMarket({sym: _frame(sessions_2023(), k) for k, sym in enumerate(("AAA", "BBB", "CCC"))})


def _snapshots(m, moment, cache):
    m.as_of = pd.Timestamp(moment, tz=NY)
    src = WindowSource(m.bar_windows(["AAA", "BBB", "CCC"], 0, m.as_of.value), cache)
    fast = Snapshot(now=m.as_of, account=None, source=src)
    slow = Snapshot(now=m.as_of, account=None, bars=src.frame())
    return fast, slow


def test_window_source_rsi_read_with_other_parameters_gets_those_parameters_numbers():
    fast, slow = _snapshots(_market(), "2023-09-01 09:00", RsiCache())
    symbols = ["CCC", "AAA", "BBB"]
    first = fast.rsi(symbols, 14, 100)
    assert first == slow.rsi(symbols, 14, 100)
    for period, window in ((7, 100), (14, 42), (14, 100)):  # each pair its own numbers, the first again
        got = fast.rsi(symbols, period, window)
        assert got == slow.rsi(symbols, period, window), (period, window)
        assert list(got) == symbols
    assert fast.rsi(symbols, 7, 100) != first  # a memo keyed on less than (period, window) would repeat it
    assert fast.rsi(["BBB", "ZZZ"], 14, 100) == {"BBB": first["BBB"], "ZZZ": None}


def test_window_source_rsi_of_the_next_morning_sees_the_new_close():
    m, cache = _market(), RsiCache()
    before, _ = _snapshots(m, "2023-09-01 09:00", cache)
    a = before.rsi(["AAA"], 14, 100)
    after, slow = _snapshots(m, "2023-09-05 09:00", cache)  # Friday's close is complete now
    b = after.rsi(["AAA"], 14, 100)
    assert b == slow.rsi(["AAA"], 14, 100) and b != a
    assert before.rsi(["AAA"], 14, 100) == a  # the earlier snapshot keeps its own moment


def test_rsi_cache_missing_close_reads_none_only_where_the_window_holds_it():
    # Two symbols on one grid of 60 daily bars; BBB's close 30 is missing (NaN).
    n, window, period = 60, 20, 5
    label = np.arange(n, dtype=np.int64) * 86_400_000_000_000
    rng = np.random.default_rng(3)
    closes = {s: 100 + np.cumsum(rng.normal(0, 1, n)) for s in ("AAA", "BBB")}
    closes["BBB"][30] = np.nan

    def view(c):
        return _View(label, label + 1, c, c, c, c, np.ones(n), np.full(n, np.nan), c)

    views = (view(closes["AAA"]), view(closes["BBB"]))
    cache = RsiCache()
    for stop in range(window, n + 1):  # the decision whose last complete close is stop - 1
        got = WindowSource([], cache)
        got._blocks = [BarBlock(("AAA", "BBB"), views, 0, stop)]
        rsi = got.rsi(["AAA", "BBB"], period, window)
        bars = pd.concat({s: pd.DataFrame({"close": closes[s][:stop]},
                                          index=pd.DatetimeIndex(label[:stop].astype("datetime64[ns]"), tz="UTC",
                                                                 name="timestamp")) for s in ("AAA", "BBB")},
                         names=["symbol"])
        expected = Snapshot(now=pd.Timestamp(int(label[stop - 1]), tz="UTC"), account=None, bars=bars).rsi(
            ["AAA", "BBB"], period, window)
        assert rsi == expected, stop
        holds_nan = stop - window <= 30 < stop
        assert (rsi["BBB"] is None) == holds_nan, stop
        assert rsi["AAA"] is not None


def _order(oid, symbol, side, type_, status, **kw):
    return OrderView(id=oid, client_order_id=oid, symbol=symbol, side=side, type=type_, status=status,
                     order_class="oco", qty=10.0, **kw)


def test_snapshot_live_sells_are_the_symbols_own_live_sells_each_time_asked():
    orders = [_order("1", "AAA", "sell", "limit", "new", limit_price=60.0),
              _order("2", "AAA", "sell", "stop", "held", stop_price=45.0),
              _order("3", "AAA", "sell", "stop", "canceled", stop_price=44.0),
              _order("4", "AAA", "buy", "market", "new"),
              _order("5", "BBB", "sell", "stop", "new", stop_price=20.0)]
    snap = Snapshot.from_simple(cash=1_000, positions={"AAA": (10, 50.0, 52.0), "BBB": (10, 25.0, 24.0)},
                                orders=orders)
    assert [o.id for o in snap.live_sells("AAA")] == ["1", "2"]
    assert [o.id for o in snap.live_sells("BBB")] == ["5"]  # not the first symbol's answer
    assert snap.live_sells("AAA") == snap.live_sells("AAA") and snap.live_sells("CCC") == ()
    assert snap.covered_qty("AAA") == 10.0 and snap.covered_qty("BBB") == 10.0
    other = Snapshot.from_simple(cash=1_000, positions={"AAA": (10, 50.0, 52.0)}, orders=orders[:1])
    assert [o.id for o in other.live_sells("AAA")] == ["1"] and other.covered_qty("AAA") == 0.0


def _bracket(qty=10, price=50.0):
    return EnterBracket(symbol="AAA", qty=qty, reference_price=price, take_profit=57.5, stop_loss=47.5,
                        reason="test")


def test_caps_plan_passing_unchanged_is_rebuilt_whenever_a_field_would_differ():
    snap = Snapshot.from_simple(cash=10_000, prices={"AAA": 50.0})
    settings = Settings()
    entry = _bracket()
    plan = Plan(intents=(entry,), cash_after=9_500.0)
    assert enforce_caps(plan, snap, settings) is plan  # nothing to change: the plan itself
    cases = {
        "int cash_after": Plan(intents=(entry,), cash_after=9_500),  # the caps' estimate is a float
        "wrong cash_after": Plan(intents=(entry,), cash_after=1.0),
        "list of intents": Plan(intents=[entry], cash_after=9_500.0),
        "list of warnings": Plan(intents=(entry,), warnings=[], cash_after=9_500.0),
        "shrunk entry": Plan(intents=(_bracket(qty=100),), cash_after=5_000.0),  # 15% cap: 30 sh
    }
    for name, p in cases.items():
        got = enforce_caps(p, snap, settings)
        assert got is not p, name
        assert type(got.intents) is tuple and type(got.warnings) is tuple, name
        assert type(got.cash_after) is float and got.cash_after == 10_000 - got.intents[0].cost, name
    assert enforce_caps(cases["shrunk entry"], snap, settings).intents[0].qty == 30
    zero = Snapshot.from_simple(cash=0.0)
    signed = enforce_caps(Plan(cash_after=-0.0), zero, settings)  # equal to 0.0, but not the same float
    assert str(signed.cash_after) == "0.0"


def test_protect_levels_of_a_covered_position_are_its_orders_own_or_else_the_entry_based_ones():
    # 300 AAPL bought at $100, now $100: 30% of $100,000, so the plan trims to 15% and
    # re-protects the rest at the levels in force. Only a stop at $96 is live (no take-profit
    # order): the stop is kept at $96, the take-profit is entry-based, 100 x 1.15 = $115.
    stop = OrderView(id="s1", client_order_id="s1", symbol="AAPL", side="sell", type="stop", status="new",
                     order_class="simple", qty=300.0, stop_price=96.0)
    only_stop = Snapshot.from_simple(cash=70_000, positions={"AAPL": (300, 100.0, 100.0)}, orders=[stop])
    (trim,) = CombinedStrategy().decide(only_stop).intents
    assert (trim.sell_qty, trim.cancel_order_ids) == (150, ("s1",))
    assert (trim.reprotect.qty, trim.reprotect.take_profit, trim.reprotect.stop_loss) == (150, 115.0, 96.0)
    # A take-profit at $120 and a trailing stop that reports no stop price: the take-profit is
    # kept, the stop is entry-based, 100 x 0.95 = $95.
    trailing = OrderView(id="t1", client_order_id="t1", symbol="AAPL", side="sell", type="trailing_stop",
                         status="new", order_class="simple", qty=300.0, trail_percent=5.0)
    limit = OrderView(id="l1", client_order_id="l1", symbol="AAPL", side="sell", type="limit", status="new",
                      order_class="simple", qty=300.0, limit_price=120.0)
    trailed = Snapshot.from_simple(cash=70_000, positions={"AAPL": (300, 100.0, 100.0)}, orders=[trailing, limit])
    (trim,) = CombinedStrategy().decide(trailed).intents
    assert (trim.reprotect.take_profit, trim.reprotect.stop_loss) == (120.0, 95.0)
    # Both legs live (take-profit $120, stop $97): the remainder is re-protected at those.
    legs = OrderView.exit_legs("AAPL", 300, take_profit=120.0, stop_loss=97.0)
    both = Snapshot.from_simple(cash=70_000, positions={"AAPL": (300, 100.0, 100.0)}, orders=legs)
    (trim,) = CombinedStrategy().decide(both).intents
    assert (trim.reprotect.take_profit, trim.reprotect.stop_loss) == (120.0, 97.0)


def test_from_ns_gives_each_instant_its_own_timestamp_whatever_the_integer_type():
    ns = 1_735_848_000_000_000_000  # 2025-01-02 20:00 UTC
    first = from_ns(ns)
    assert first == pd.Timestamp("2025-01-02 20:00", tz="UTC") and from_ns(np.int64(ns)) == first
    assert from_ns(ns + 1) == first + pd.Timedelta(1, "ns")  # the next instant is not the cached one
    for k in range(2_000):  # more instants than the memo keeps: each still its own
        assert from_ns(ns + k * 60_000_000_000) == first + pd.Timedelta(minutes=k)
    assert from_ns(ns) == first and from_ns(ns).tz is not None
