"""The local venue through alpaca-py's real TradingClient on 127.0.0.1 (no mocks, no internet)."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderStatus
from alpaca.trading.models import Asset, Calendar, Clock, ClosePositionResponse, Order, Position, TradeAccount
from alpaca.trading.requests import (ClosePositionRequest, GetAssetsRequest, GetCalendarRequest, GetOrderByIdRequest,
                                     GetOrdersRequest, LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest,
                                     StopLossRequest, TakeProfitRequest)

from activetrader import scenario
from activetrader.broker import SimBroker
from activetrader.market import SimulatedMarket
from activetrader.server import Sandbox

KEY, SECRET = "test-key-server-rest", "sandbox-secret-for-tests-only-0000"
START = pd.Timestamp("2024-03-04 09:00", tz="America/New_York")  # a Monday, before the open


def _market() -> SimulatedMarket:
    return SimulatedMarket(seed=7, start="2024-01-02", end="2024-06-28")


@pytest.fixture(scope="module")
def default_sb():
    """The embedded default scenario (ten legacy positions), shared by read-only tests."""
    with Sandbox(key_id=KEY, secret_key=SECRET) as sb:
        yield sb


@pytest.fixture
def sb():
    """A fresh flat $100,000 account on a small simulated market, before the open of START."""
    with Sandbox(_market(), start=START, key_id=KEY, secret_key=SECRET) as box:
        yield box


def _client(sb) -> TradingClient:
    return TradingClient(sb.key_id, sb.secret_key, url_override=sb.url)


def _raw(sb, method: str, path: str, **kw) -> requests.Response:
    headers = {"APCA-API-KEY-ID": sb.key_id, "APCA-API-SECRET-KEY": sb.secret_key, **kw.pop("headers", {})}
    return requests.request(method, sb.url + path, headers=headers, timeout=30, **kw)


def _plain(model) -> object:
    """A model as plain data, instants to the microsecond (alpaca-py parses to microseconds)."""
    import datetime as dt

    def walk(x):
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, dt.datetime):
            return pd.Timestamp(x).tz_convert("UTC").floor("us")
        return x
    return walk(model.model_dump())


def _group(orders: list[Order], parent_id) -> dict[str, tuple]:
    """{role: (status, filled_avg_price)} of a nested bracket listing."""
    parent = next(o for o in orders if o.id == parent_id)
    legs = {("take_profit" if leg.type.value == "limit" else "stop_loss"): leg for leg in parent.legs}
    return {"entry": (parent.status.value, parent.filled_avg_price),
            **{k: (v.status.value, v.filled_avg_price) for k, v in legs.items()}}


# ---------------------------------------------------------------- the bracket, side by side
def test_bracket_over_http_legs_fill_or_cancel_exactly_as_in_process_simbroker(sb):
    # Arrange: the same market, moment and bracket for the venue (over HTTP) and an in-process SimBroker.
    client = _client(sb)
    local = SimBroker(_market(), cash=100_000, start=START)
    price = local.last_price("AAPL")
    tp, sl = round(price * 1.04, 2), round(price * 0.96, 2)

    def bracket():
        return MarketOrderRequest(symbol="AAPL", qty=10, side="buy", time_in_force="gtc", order_class="bracket",
                                  client_order_id="bracket-1", take_profit=TakeProfitRequest(limit_price=tp),
                                  stop_loss=StopLossRequest(stop_price=sl))

    remote_entry = client.submit_order(bracket())
    local_entry = local.submit_order(bracket())
    listing = client.get_orders(GetOrdersRequest(status="all", nested=True))
    # Before the open the entry waits and both legs are held (alpaca-contract.md §1).
    assert _group(listing, remote_entry.id) == {"entry": ("new", None), "take_profit": ("held", None),
                                                "stop_loss": ("held", None)}
    assert [o.id for o in listing] == [remote_entry.id]  # legs live inside their parent when nested

    # Act: walk both forward one session at a time until an exit fills.
    arr = local.market.arrays("AAPL")
    day0 = int(arr.start.searchsorted(int(START.value)))
    for day in range(day0, day0 + 60):
        close = pd.Timestamp(int(arr.end[day]), tz="UTC")
        sb.advance_to(close)
        local.advance_to(close)
        remote = _group(client.get_orders(GetOrdersRequest(status="all", nested=True)), remote_entry.id)
        here = _group(local.get_orders(GetOrdersRequest(status="all", nested=True)), local_entry.id)
        assert remote == here, f"the venue and the in-process SimBroker disagree after {close}"
        if "filled" in (remote["take_profit"][0], remote["stop_loss"][0]):
            break
    else:
        pytest.fail("no exit filled within 60 sessions: choose tighter levels")

    # Assert, independently of the engine: the entry filled at the first session's open; the exit is
    # the first session whose range reaches a level (the stop when both do: the worst case), at the
    # level, or at the open when the session opens beyond it (a gap).
    assert float(remote["entry"][1]) == pytest.approx(arr.open[day0])
    hit = next(d for d in range(day0, day + 1) if arr.high[d] >= tp or arr.low[d] <= sl)
    assert hit == day
    if arr.low[day] <= sl:
        assert remote["stop_loss"][0] == "filled" and remote["take_profit"][0] == "canceled"
        assert float(remote["stop_loss"][1]) == pytest.approx(min(sl, arr.open[day]) if day > day0 else sl)
    else:
        assert remote["take_profit"][0] == "filled" and remote["stop_loss"][0] == "canceled"
        assert float(remote["take_profit"][1]) == pytest.approx(max(tp, arr.open[day]) if day > day0 else tp)
    assert client.get_all_positions() == [] and local.get_all_positions() == []
    assert client.get_account().cash == local.get_account().cash


def test_every_order_type_and_class_over_http_equals_the_in_process_simbroker(sb):
    from alpaca.trading.requests import StopLimitOrderRequest, StopOrderRequest, TrailingStopOrderRequest

    client = _client(sb)
    local = SimBroker(_market(), cash=100_000, start=START)
    aapl, msft = local.last_price("AAPL"), local.last_price("MSFT")

    def both(request):
        """Submit to both; the answers (ids included: both number orders alike) must be equal."""
        try:
            here = local.submit_order(request)
        except APIError as e:
            with pytest.raises(APIError) as err:
                client.submit_order(request)
            assert (err.value.status_code, err.value.code, err.value.message) == (e.status_code, e.code, e.message)
            return None
        there = client.submit_order(request)
        assert _plain(there) == _plain(here)
        return there

    def listings_equal():
        req = GetOrdersRequest(status="all", nested=True, limit=500)
        assert [_plain(o) for o in client.get_orders(req)] == [_plain(o) for o in local.get_orders(req)]
        assert _plain(client.get_account()) == _plain(local.get_account())
        assert [_plain(p) for p in client.get_all_positions()] == [_plain(p) for p in local.get_all_positions()]

    both(MarketOrderRequest(symbol="AAPL", qty=10, side="buy", time_in_force="day"))
    both(LimitOrderRequest(symbol="MSFT", qty=3, side="buy", time_in_force="gtc", limit_price=round(msft * 0.97, 2)))
    both(StopOrderRequest(symbol="MSFT", qty=2, side="buy", time_in_force="gtc", stop_price=round(msft * 1.02, 2)))
    both(StopLimitOrderRequest(symbol="MSFT", qty=1, side="buy", time_in_force="day",
                               stop_price=round(msft * 1.01, 2), limit_price=round(msft * 1.03, 2)))
    both(MarketOrderRequest(symbol="KO", qty=5, side="buy", time_in_force="gtc", order_class="oto",
                         stop_loss=StopLossRequest(stop_price=round(local.last_price("KO") * 0.9, 2))))
    both(MarketOrderRequest(symbol="AAPL", qty=100, side="sell", time_in_force="day"))  # refused alike: no shares yet
    for when in ("2024-03-04 16:00-05:00", "2024-03-05 10:00-05:00"):
        sb.advance_to(when)
        local.advance_to(when)
        listings_equal()
    both(TrailingStopOrderRequest(symbol="AAPL", qty=2, side="sell", time_in_force="gtc", trail_percent=3))
    both(LimitOrderRequest(symbol="AAPL", qty=3, side="sell", time_in_force="gtc", order_class="oco",
                         take_profit=TakeProfitRequest(limit_price=round(aapl * 1.2, 2)),
                         stop_loss=StopLossRequest(stop_price=round(aapl * 0.8, 2))))
    both(MarketOrderRequest(symbol="AAPL", qty=6, side="sell", time_in_force="day"))  # 5 free: refused alike
    for when in ("2024-03-08 16:00-05:00", "2024-04-05 16:00-04:00"):
        sb.advance_to(when)
        local.advance_to(when)
        listings_equal()
    statuses = {o.status.value for o in client.get_orders(GetOrdersRequest(status="all", limit=500))}
    assert {"filled", "new"} <= statuses  # things happened, not just an empty comparison


# ---------------------------------------------------------------- models
def test_account_positions_and_clock_of_default_scenario_parse_into_alpaca_models(default_sb):
    client = _client(default_sb)
    account = client.get_account()
    assert isinstance(account, TradeAccount)
    assert account.equity == default_sb.broker.get_account().equity
    assert float(account.equity) == pytest.approx(float(account.cash) + float(account.long_market_value))
    positions = client.get_all_positions()
    assert all(isinstance(p, Position) for p in positions)
    assert sorted(p.symbol for p in positions) == sorted(scenario.LEGACY)  # the ten legacy positions
    one = client.get_open_position("ADBE")
    assert one.qty == next(p.qty for p in positions if p.symbol == "ADBE")
    clock = client.get_clock()
    assert isinstance(clock, Clock)
    assert clock.timestamp == scenario.MOMENT and clock.is_open is False  # 09:00 ET, before the open
    assert clock.next_open == pd.Timestamp("2024-08-27 09:30", tz="America/New_York")


def test_calendar_lists_sessions_with_holidays_and_early_closes(default_sb):
    days = _client(default_sb).get_calendar(GetCalendarRequest(start="2024-11-25", end="2024-11-29"))
    assert all(isinstance(d, Calendar) for d in days)
    # Thanksgiving (the 28th) is closed; the day after closes at 13:00.
    assert [d.date.day for d in days] == [25, 26, 27, 29]
    assert (days[-1].open.strftime("%H:%M"), days[-1].close.strftime("%H:%M")) == ("09:30", "13:00")


def test_assets_list_every_market_symbol_and_unknown_asset_is_404(default_sb):
    client = _client(default_sb)
    assets = client.get_all_assets(GetAssetsRequest(status="active"))
    assert all(isinstance(a, Asset) for a in assets)
    assert [a.symbol for a in assets] == list(default_sb.broker.market.symbols)
    assert client.get_asset("SPY").exchange.value == "ARCA"
    with pytest.raises(APIError) as err:
        client.get_asset("ZZZZ")
    assert (err.value.status_code, err.value.code) == (404, 40410000)


def test_order_lookups_by_id_client_id_and_filters(sb):
    client = _client(sb)
    buy = client.submit_order(LimitOrderRequest(symbol="MSFT", qty=2, side="buy", time_in_force="gtc",
                                                limit_price=100, client_order_id="cheap-msft"))
    client.submit_order(LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="day", limit_price=50))
    assert client.get_order_by_client_id("cheap-msft").id == buy.id
    assert client.get_order_by_id(buy.id, GetOrderByIdRequest(nested=True)).client_order_id == "cheap-msft"
    assert [o.symbol for o in client.get_orders(GetOrdersRequest(symbols=["MSFT"]))] == ["MSFT"]
    assert [o.symbol for o in client.get_orders(GetOrdersRequest(direction="asc"))] == ["MSFT", "AAPL"]
    assert [o.symbol for o in client.get_orders(GetOrdersRequest(limit=1))] == ["AAPL"]  # newest first
    assert client.get_orders(GetOrdersRequest(side="sell")) == []
    assert client.get_orders(GetOrdersRequest(status="closed")) == []
    with pytest.raises(APIError) as err:
        client.get_order_by_client_id("no-such-order")
    assert err.value.status_code == 404


def test_replace_gives_a_new_order_and_marks_the_old_one_replaced(sb):
    client = _client(sb)
    old = client.submit_order(LimitOrderRequest(symbol="MSFT", qty=2, side="buy", time_in_force="gtc", limit_price=100))
    new = client.replace_order_by_id(old.id, ReplaceOrderRequest(limit_price=101.5, qty=3))
    assert isinstance(new, Order) and new.id != old.id
    assert (new.limit_price, new.qty, new.replaces) == ("101.5", "3", old.id)
    again = client.get_order_by_id(old.id)
    assert (again.status, again.replaced_by) == (OrderStatus.REPLACED, new.id)


def test_cancel_answers_204_empty_and_cancel_all_207_with_one_entry_per_order(sb):
    client = _client(sb)
    a = client.submit_order(LimitOrderRequest(symbol="MSFT", qty=1, side="buy", time_in_force="gtc", limit_price=100))
    b = client.submit_order(LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="gtc", limit_price=50))
    c = client.submit_order(LimitOrderRequest(symbol="KO", qty=1, side="buy", time_in_force="gtc", limit_price=10))
    resp = _raw(sb, "DELETE", f"/v2/orders/{a.id}")
    assert (resp.status_code, resp.content) == (204, b"")
    assert client.get_order_by_id(a.id).status == OrderStatus.CANCELED
    with pytest.raises(APIError) as err:  # a finished order is not cancellable (§11)
        client.cancel_order_by_id(a.id)
    assert err.value.status_code == 422
    assert client.cancel_order_by_id(b.id) is None  # alpaca-py's answer to an empty 204
    raw = _raw(sb, "DELETE", "/v2/orders")
    assert raw.status_code == 207 and [e["id"] for e in raw.json()] == [str(c.id)]
    assert client.cancel_orders() == []  # nothing left to cancel


def test_close_position_by_percentage_and_close_all_207_parse(default_sb):
    # Fresh copy of the default scenario: ten positions, no open orders.
    with Sandbox(key_id=KEY, secret_key=SECRET) as box:
        client = _client(box)
        held = {p.symbol: int(p.qty) for p in client.get_all_positions()}
        half = client.close_position("CAT", ClosePositionRequest(percentage="50"))
        assert (half.side.value, float(half.qty)) == ("sell", pytest.approx(held["CAT"] * 0.5))
        client.cancel_orders()
        raw = _raw(box, "DELETE", "/v2/positions", params={"cancel_orders": "True"})
        assert raw.status_code == 207
        assert sorted(e["symbol"] for e in raw.json()) == sorted(held)
        # The closes are queued market orders: one more call sees them refused (shares held by them).
        answers = client.close_all_positions(cancel_orders=False)
        assert all(isinstance(a, ClosePositionResponse) for a in answers)
        assert {a.status for a in answers} == {403}


# ---------------------------------------------------------------- auth and bad requests
@pytest.mark.parametrize("headers", [{}, {"APCA-API-KEY-ID": KEY},
                                     {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": "wrong"},
                                     {"APCA-API-KEY-ID": "wrong", "APCA-API-SECRET-KEY": SECRET}])
def test_request_without_the_right_keys_is_401_not_authorized(default_sb, headers):
    resp = requests.get(default_sb.url + "/v2/account", headers=headers, timeout=30)
    assert resp.status_code == 401
    assert resp.json() == {"code": 40110000, "message": "request is not authorized"}


def test_trading_client_with_wrong_keys_raises_api_error_401(default_sb):
    with pytest.raises(APIError) as err:
        TradingClient(KEY, "not-the-secret", url_override=default_sb.url).get_account()
    assert (err.value.status_code, err.value.code) == (401, 40110000)


_BAD = [
    ("POST", "/v2/orders", {"data": "{not json"}, 400),
    ("POST", "/v2/orders", {"json": [1, 2]}, 400),
    ("POST", "/v2/orders", {"json": {"symbol": "AAPL", "qty": 1, "side": "buy", "time_in_force": "day"}}, 422),
    ("POST", "/v2/orders", {"json": {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "teleport",
                                     "time_in_force": "day"}}, 422),
    ("POST", "/v2/orders", {"json": {"symbol": "AAPL", "qty": "ten", "side": "buy", "type": "market",
                                     "time_in_force": "day"}}, 422),
    ("POST", "/v2/orders", {"json": {"symbol": "AAPL", "qty": -3, "side": "buy", "type": "market",
                                     "time_in_force": "day"}}, 422),
    ("POST", "/v2/orders", {"json": {"symbol": "AAPL", "qty": 1, "side": "hold", "type": "market",
                                     "time_in_force": "day"}}, 422),
    ("POST", "/v2/orders", {"json": {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "limit",
                                     "time_in_force": "day"}}, 422),
    ("POST", "/v2/orders", {"json": {"symbol": "NOPE", "qty": 1, "side": "buy", "type": "market",
                                     "time_in_force": "day"}}, 422),
    ("POST", "/v2/orders", {"json": {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market",
                                     "time_in_force": "day", "order_class": "bracket", "take_profit": 5}}, 422),
    ("GET", "/v2/orders?limit=abc", {}, 422),
    ("GET", "/v2/orders?limit=501", {}, 422),
    ("GET", "/v2/orders?status=maybe", {}, 422),
    ("GET", "/v2/orders?nested=perhaps", {}, 422),
    ("GET", "/v2/orders?after=yesterday", {}, 422),
    ("GET", "/v2/orders/not-a-uuid", {}, 400),
    ("GET", "/v2/orders/00000000-0000-0000-0000-000000000000", {}, 404),
    ("PATCH", "/v2/orders/00000000-0000-0000-0000-000000000000", {"json": {"qty": 1.5}}, 422),
    ("PATCH", "/v2/orders/00000000-0000-0000-0000-000000000000", {"json": {"side": "sell"}}, 422),
    ("DELETE", "/v2/orders/00000000-0000-0000-0000-000000000000", {}, 404),
    ("GET", "/v2/orders:by_client_order_id", {}, 422),
    ("DELETE", "/v2/positions/ZZZZ", {}, 404),
    ("DELETE", "/v2/positions/AAPL?qty=1&percentage=5", {}, 422),
    ("DELETE", "/v2/positions/AAPL?percentage=150", {}, 422),
    ("GET", "/v2/calendar?start=someday", {}, 422),
    ("GET", "/v2/assets?status=zombie", {}, 422),
    ("PATCH", "/v2/account/configurations", {"json": {"max_margin_multiplier": "9"}}, 422),
    ("GET", "/v2/nowhere", {}, 404),
    ("PUT", "/v2/account", {}, 405),
]


@pytest.mark.parametrize("method, path, kw, status", _BAD, ids=[f"{m} {p}" for m, p, _, _ in _BAD])
def test_bad_request_gets_alpaca_4xx_body_with_code_and_message(default_sb, method, path, kw, status):
    resp = _raw(default_sb, method, path, **kw)
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert isinstance(body["code"], int) and isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in resp.text


def test_keys_never_appear_in_reprs_or_logs(default_sb, caplog):
    caplog.set_level(logging.DEBUG)
    _client(default_sb).get_account()
    _raw(default_sb, "GET", "/v2/orders?limit=abc")
    shown = repr(default_sb) + repr(default_sb.venue) + caplog.text
    assert SECRET not in shown and KEY not in shown
    assert KEY[-4:] in repr(default_sb)  # masked, but recognisable


# ---------------------------------------------------------------- the admin clock
def test_admin_clock_moves_a_manual_clock_and_refuses_going_back(sb):
    target = "2024-03-05T16:00:00-05:00"
    resp = _raw(sb, "POST", "/admin/clock", json={"advance_to": target})
    assert resp.status_code == 200 and resp.json()["now"] == "2024-03-05T21:00:00Z"
    assert _client(sb).get_clock().timestamp == pd.Timestamp(target)
    back = _raw(sb, "POST", "/admin/clock", json={"advance_to": "2024-03-04T12:00:00Z"})
    assert back.status_code == 422 and "backwards" in back.json()["message"]
    assert _raw(sb, "POST", "/admin/clock", json={"advance_to": "soon"}).status_code == 422
    assert requests.post(sb.url + "/admin/clock", json={"advance_to": target}, timeout=30).status_code == 401


def test_admin_clock_is_refused_when_the_clock_runs_by_itself():
    with Sandbox(_market(), start=START, clock=3600, key_id=KEY, secret_key=SECRET) as box:
        resp = _raw(box, "POST", "/admin/clock", json={"advance_to": "2024-03-06T16:00:00-05:00"})
        assert resp.status_code == 409


def test_accelerated_clock_moves_the_broker_with_the_wall_clock():
    import time

    with Sandbox(_market(), start=START, clock=3600, key_id=KEY, secret_key=SECRET) as box:
        t0 = box.now
        time.sleep(1.6)
        moved = (box.now - t0).total_seconds()
    # 3600 simulated seconds per real second: after ~1.6 s (ticks every 0.25 s) about 1-2 hours.
    assert 3600 * 1.0 <= moved <= 3600 * 2.5


def test_realtime_clock_follows_the_wall_clock_from_the_start():
    import time

    with Sandbox(_market(), start=START, clock="realtime", key_id=KEY, secret_key=SECRET) as box:
        time.sleep(2.5)
        moved = (box.now - START).total_seconds()
    assert 1.0 <= moved <= 4.0  # ticks once a second


def test_account_configurations_round_trip(default_sb):
    client = _client(default_sb)
    conf = client.get_account_configurations()
    assert conf.suspend_trade is False
    conf.ptp_no_exception_entry = True
    assert client.set_account_configurations(conf).ptp_no_exception_entry is True  # alpaca-py sends its whole model
    raw = _raw(default_sb, "PATCH", "/v2/account/configurations", json={"trade_confirm_email": "all"})
    assert raw.status_code == 200 and raw.json()["trade_confirm_email"] == "all"
    assert json.loads(_raw(default_sb, "GET", "/v2/account/configurations").text)["trade_confirm_email"] == "all"
