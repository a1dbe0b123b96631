"""Account and positions stay consistent with the fills (alpaca-contract.md §4)."""

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.models import Order
from alpaca.trading.requests import ClosePositionRequest

from scenario import bracket, broker, buy, et, sell

BARS = {"AAA": [("2024-03-01", 100, 101, 99, 100), ("2024-03-04", 100, 101, 99, 100),
                ("2024-03-05", 110, 111, 109, 110), ("2024-03-06", 120, 121, 119, 120)],
        "BBB": [("2024-03-01", 50, 51, 49, 50), ("2024-03-04", 50, 51, 49, 50),
                ("2024-03-05", 50, 51, 49, 50), ("2024-03-06", 40, 41, 39, 40)]}


def test_average_entry_price_and_unrealized_pl_after_two_buys():
    # Buy 10 at Monday's 100 open and 10 at Tuesday's 110 open: average 105; Tuesday closes 110.
    b = broker(BARS, start="2024-03-01 17:00", cash=10_000)
    b.submit_order(buy(qty=10))
    b.advance_to(et("2024-03-04 16:00"))
    b.submit_order(buy(qty=10))
    b.advance_to(et("2024-03-05 16:00"))
    p = b.get_open_position("AAA")
    assert float(p.avg_entry_price) == pytest.approx(105.0)
    assert float(p.market_value) == pytest.approx(2200.0) and float(p.unrealized_pl) == pytest.approx(100.0)
    assert float(p.current_price) == 110.0 and float(p.lastday_price) == 100.0
    a = b.get_account()
    assert float(a.cash) == pytest.approx(10_000 - 1000 - 1100)
    assert float(a.equity) == pytest.approx(float(a.cash) + float(a.long_market_value))
    assert float(a.last_equity) == pytest.approx(float(a.cash) + 20 * 100.0)


def test_realized_pl_after_a_partial_sell():
    b = broker(BARS, start="2024-03-01 17:00")
    b.submit_order(buy(qty=10))
    b.advance_to(et("2024-03-04 16:00"))
    b.submit_order(sell(qty=4, tif="day"))
    b.advance_to(et("2024-03-05 16:00"))
    assert b.realized_pl == pytest.approx(4 * (110 - 100))
    assert b.get_open_position("AAA").qty == "6"
    assert float(b.get_open_position("AAA").avg_entry_price) == 100.0


def test_buying_power_of_a_two_times_margin_account():
    # Equity 100,000 with 30,000 of stock: max(100,000 - 15,000, 0) x 2 = 170,000.
    b = broker(BARS, start="2024-03-01 17:00")
    b.submit_order(buy(qty=300))
    b.advance_to(et("2024-03-04 16:00"))
    a = b.get_account()
    assert float(a.buying_power) == pytest.approx(170_000) and a.multiplier == "2"


def test_cash_like_account_buying_power_is_cash():
    b = broker(BARS, start="2024-03-01 17:00", margin_multiplier=1)
    b.submit_order(buy(qty=300))
    b.advance_to(et("2024-03-04 16:00"))
    assert float(b.get_account().buying_power) == pytest.approx(70_000)


def test_close_position_sells_at_market_and_refuses_when_legs_hold_the_shares():
    b = broker(BARS, start="2024-03-01 17:00")
    b.submit_order(buy(qty=10))
    b.submit_order(bracket(symbol="BBB", qty=10, tp=60, sl=45))
    b.advance_to(et("2024-03-04 16:00"))
    o = b.close_position("AAA", ClosePositionRequest(percentage="50"))
    assert isinstance(o, Order) and float(o.qty) == 5
    with pytest.raises(APIError) as e:
        b.close_position("BBB")
    assert e.value.status_code == 403
    with pytest.raises(APIError) as e:
        b.close_position("ZZZ")
    assert (e.value.status_code, e.value.message) == (404, "position does not exist")


def test_close_all_positions_reports_per_symbol_and_cancel_orders_frees_held_shares():
    b = broker(BARS, start="2024-03-01 17:00")
    b.submit_order(buy(qty=10))
    b.submit_order(bracket(symbol="BBB", qty=10, tp=60, sl=45))
    b.advance_to(et("2024-03-04 16:00"))
    out = {r.symbol: r for r in b.close_all_positions()}
    assert out["AAA"].status == 200 and out["BBB"].status == 403
    assert out["BBB"].body.held_for_orders == 10
    out = {r.symbol: r for r in b.close_all_positions(cancel_orders=True)}
    assert out["BBB"].status == 200
    b.advance_to(et("2024-03-06 16:00"))
    assert b.get_all_positions() == []


def test_position_models_parse_as_alpaca_py_models():
    b = broker(BARS, start="2024-03-01 17:00")
    b.submit_order(buy(qty=10))
    b.advance_to(et("2024-03-04 16:00"))
    (p,) = b.get_all_positions()
    assert p.side.value == "long" and p.qty_available == "10" and p.exchange.value == "NASDAQ"
