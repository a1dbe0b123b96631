"""Trailing stops: the stop leg of a bracket is ratcheted up as the price makes new highs.

The guide's example: buy at 150 with a 5% stop (142.50); the price goes to 160 -> stop 152;
to 170 -> stop 161.50 (``trailing_stop_pct=0.05``). The scenario tests run the real Trader on
a SimBroker over a daily HistoricalMarket whose bars each test states.
"""

from __future__ import annotations

import pandas as pd
import pytest
from alpaca.trading.requests import GetOrdersRequest

from activetrader import Settings, Trader
from activetrader.strategy import CombinedStrategy, OrderView, Snapshot, TrimPosition
from activetrader.strategy.caps import enforce_caps
from activetrader.strategy.intents import Plan, RaiseStop
from activetrader.strategy.trailing import ratchet, trailed_stop
from scenario import bracket, broker, et

#: Shared by both exits: bought at the 150 open on Mon 03-04, then closes 150, 160, 155, 170, 166.
_RISE = [("2024-03-04", 150.0, 151.0, 149.0, 150.0),
         ("2024-03-05", 150.0, 160.5, 150.0, 160.0),   # close 160: stop 142.50 -> 152.00
         ("2024-03-06", 160.0, 161.0, 155.0, 155.0),   # close 155 is no new high: stop stays 152
         ("2024-03-07", 155.0, 170.5, 155.0, 170.0),   # close 170: stop -> 161.50 (TP 172.50 not hit)
         ("2024-03-08", 170.0, 171.0, 165.0, 166.0)]   # no new high: stays 161.50


def _settings() -> Settings:
    s = Settings()
    s.bracket.trailing_stop_pct = 0.05
    s.entry.enabled = False  # only the held position matters here
    return s


def _legs(b) -> dict[str, object]:
    """The bracket's legs by type (the nested listing shows the replacement in the group)."""
    (top,) = [o for o in b.get_orders(GetOrdersRequest(status="all", nested=True)) if o.order_class.value == "bracket"]
    return {leg.type.value: leg for leg in top.legs}


def _run_days(last_bar: tuple) -> tuple[object, list[float]]:
    """Buy 10 AAA with a bracket (TP 172.50, stop 142.50) before the 03-04 open, then run one
    iteration after each close; returns the broker and the stop after each iteration."""
    b = broker({"AAA": [*_RISE, last_bar]}, start="2024-03-04 09:00")
    b.submit_order(bracket("AAA", 10, tp=172.50, sl=142.50))
    trader = Trader(broker=b, settings=_settings())
    stops = []
    for day, *_ in _RISE:
        trader.advance(et(f"{day} 16:30"))
        report = trader.iteration()
        assert report.rejections == ()
        stops.append(float(_legs(b)["stop"].stop_price))
    trader.advance(et(f"{last_bar[0]} 16:30"))
    return b, stops


def test_trailing_guide_path_stop_ends_at_guide_levels_and_never_moves_down():
    # Path: _RISE, then a quiet day (165-168, above the 161.50 stop).
    b, stops = _run_days(("2024-03-11", 166.0, 168.0, 165.0, 167.0))

    assert stops == [142.50, 152.00, 152.00, 161.50, 161.50]
    assert all(later >= earlier for earlier, later in zip(stops, stops[1:]))
    legs = _legs(b)
    assert float(legs["limit"].limit_price) == 172.50 and legs["limit"].status.value in ("new", "held")
    assert float(b.get_open_position("AAA").qty) == 10


def test_trailing_fall_through_raised_stop_exits_at_the_stop():
    # 03-11 opens 165 (above the 161.50 stop) and trades down to 159: the stop fills at 161.50.
    b, _ = _run_days(("2024-03-11", 165.0, 166.0, 159.0, 160.0))

    sells = b.fills_frame().query("side == 'sell'")
    assert sells["price"].tolist() == [161.50] and sells["qty"].tolist() == [10]
    assert b.get_all_positions() == []
    assert _legs(b)["limit"].status.value == "canceled"  # the take-profit went with its group


def test_trailing_gap_below_raised_stop_exits_at_the_open():
    # 03-11 opens at 158, below the 161.50 stop: a gap fills at the open, a bigger loss than the stop.
    b, _ = _run_days(("2024-03-11", 158.0, 159.0, 150.0, 152.0))

    sells = b.fills_frame().query("side == 'sell'")
    assert sells["price"].tolist() == [158.0]
    assert b.get_all_positions() == []


def test_trailing_off_leaves_the_stop_where_it_was():
    b = broker({"AAA": _RISE}, start="2024-03-04 09:00")
    b.submit_order(bracket("AAA", 10, tp=172.50, sl=142.50))
    s = _settings()
    s.bracket.trailing_stop_pct = None
    trader = Trader(broker=b, settings=s)
    for day, *_ in _RISE:
        trader.advance(et(f"{day} 16:30"))
        trader.iteration()
    assert float(_legs(b)["stop"].stop_price) == 142.50


# ---------------------------------------------------------------- the pure step
def _snap(price: float, *, stop: float = 142.50, tp: float = 172.50, orders=None) -> Snapshot:
    legs = OrderView.exit_legs("AAPL", 10, tp, stop) if orders is None else orders
    return Snapshot.from_simple(cash=50_000, positions={"AAPL": (10, 150.0, price)}, orders=legs)


def test_trail_step_new_high_raises_the_stop_leg_with_exact_numbers():
    plan = CombinedStrategy().decide(_snap(160.0), _settings())
    (r,) = plan.of_type(RaiseStop)
    assert (r.symbol, r.order_id, r.old_stop, r.new_stop, r.high) == ("AAPL", "sl-1", 142.50, 152.00, 160.0)
    assert r.describe().startswith("TRAIL AAPL stop $142.50 -> $152.00 (high $160.00)")


def test_trail_step_price_below_the_high_the_stop_encodes_does_nothing():
    assert CombinedStrategy().decide(_snap(155.0, stop=152.0), _settings()).of_type(RaiseStop) == ()


def test_trail_step_entry_not_filled_yet_leaves_legs_alone():
    # A second bracket whose entry is still open: its held stop leg waits for the entry.
    tp, sl = OrderView.exit_legs("AAPL", 10, 172.5, 142.5)
    entry = OrderView(id="entry-1", client_order_id="e", symbol="AAPL", side="buy", type="market",
                      status="new", order_class="bracket", qty=10, role="entry")
    plan = CombinedStrategy().decide(_snap(160.0, orders=(entry, tp, sl)), _settings())
    assert plan.of_type(RaiseStop) == ()


def test_trail_step_server_side_trailing_stop_is_left_to_the_broker():
    trail = OrderView(id="ts", client_order_id="ts", symbol="AAPL", side="sell", type="trailing_stop",
                      status="new", order_class="simple", qty=10, stop_price=142.5, trail_percent=5.0)
    assert CombinedStrategy().decide(_snap(160.0, orders=(trail,)), _settings()).of_type(RaiseStop) == ()


def test_trail_step_trim_that_cancels_the_legs_drops_the_raise_and_reprotects_at_the_raised_stop():
    # 100 sh at 160 = $16,000 of a ~$26,000 account: far above the 15% cap; the legs hold every share.
    snap = Snapshot.from_simple(cash=10_000, positions={"AAPL": (100, 150.0, 160.0)},
                                orders=OrderView.exit_legs("AAPL", 100, 172.5, 142.5))
    plan = CombinedStrategy().decide(snap, _settings())
    assert plan.of_type(RaiseStop) == ()
    (trim,) = plan.of_type(TrimPosition)
    assert trim.cancel_order_ids and trim.reprotect.stop_loss == 152.00


def test_caps_drop_a_stop_raise_that_would_lower_the_stop_or_touch_the_price():
    snap = _snap(160.0)
    lower = RaiseStop(symbol="AAPL", order_id="sl-1", old_stop=142.5, new_stop=140.0, high=160.0, reason="x")
    at_price = RaiseStop(symbol="AAPL", order_id="sl-1", old_stop=142.5, new_stop=160.0, high=160.0, reason="x")
    ok = RaiseStop(symbol="AAPL", order_id="sl-1", old_stop=142.5, new_stop=152.0, high=160.0, reason="x")
    capped = enforce_caps(Plan(intents=(lower, at_price, ok)), snap, _settings())
    assert capped.intents == (ok,)
    assert [w.message.split(":")[-1].strip() for w in capped.warnings] == [
        "it would lower the stop", "not at least $0.01 below the price $160.00"]


@pytest.mark.parametrize("stop, high, price, tp, expected", [
    (142.50, 160.0, 160.0, None, 152.0),        # the guide
    (152.00, 170.0, 170.0, None, 161.5),        # the guide
    (9.00, 10.0, 10.0, None, 9.5),
    (0.50, 0.7777, 0.7777, None, 0.7388),       # below $1: four decimals (0.738815 rounds to 0.7388)
    (95.00, 100.0, 100.0, 100.005, 99.99),      # never within a cent of the take-profit or the price
])
def test_ratchet_rounds_to_valid_increments_and_respects_the_base_price(stop, high, price, tp, expected):
    pct = 0.00001 if tp else 0.05
    assert ratchet(stop, high, trailing_stop_pct=pct, price=price, take_profit=tp) == expected


def test_trailed_stop_is_below_price_by_at_least_a_cent():
    assert trailed_stop(1.0, trailing_stop_pct=0.001) == 0.99


def test_trail_step_replace_ids_are_deterministic(tmp_path):
    # Two identical runs give the same client order id for the ratchet (derived from the old leg).
    ids = []
    for _ in range(2):
        b = broker({"AAA": _RISE[:2]}, start="2024-03-04 09:00")
        b.submit_order(bracket("AAA", 10, tp=172.50, sl=142.50))
        trader = Trader(broker=b, settings=_settings())
        trader.advance(et("2024-03-05 16:30"))
        (o,) = trader.iteration().submitted
        ids.append(o.client_order_id)
    assert ids[0] == ids[1] and ids[0].startswith("at-s-")
    assert pd.Series(ids).str.len().max() <= 48
