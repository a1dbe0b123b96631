"""Fault injection and request counting of the local venue (for resilience tests of clients)."""

from __future__ import annotations

import time

import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest

from activetrader.market import SimulatedMarket
from activetrader.server import Sandbox

KEY, SECRET = "test-key-server-faults", "sandbox-fault-secret-for-tests-000"
HEADERS = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}


@pytest.fixture
def sb():
    market = SimulatedMarket(seed=5, start="2024-01-02", end="2024-03-28")
    with Sandbox(market, start=pd.Timestamp("2024-03-04 09:00", tz="America/New_York"),
                 key_id=KEY, secret_key=SECRET) as box:
        yield box


def _admin(sb, method: str, path: str, **kw) -> requests.Response:
    return requests.request(method, sb.url + path, headers=HEADERS, timeout=30, **kw)


def _get(sb, path: str, timeout: float = 30) -> requests.Response:
    return requests.get(sb.url + path, headers=HEADERS, timeout=timeout)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_status_fault_answers_the_next_n_matching_requests_then_stops(sb, status):
    resp = _admin(sb, "POST", "/admin/faults", json={"path": "/v2/account", "status": status, "times": 2})
    assert resp.status_code == 201
    first, second, third = (_get(sb, "/v2/account") for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [status, status, 200]
    assert first.json()["code"] // 100000 == status and first.json()["message"]
    assert _get(sb, "/v2/clock").status_code == 200  # another path: untouched


def test_fault_matches_method_and_glob_or_regex(sb):
    _admin(sb, "POST", "/admin/faults", json=[{"path": "/v2/orders*", "method": "POST", "status": 500, "times": 5},
                                               {"path": "^/v2/stocks/.*/latest$", "status": 503, "times": 1}])
    assert _get(sb, "/v2/orders").status_code == 200  # GET is not POST
    post = requests.post(sb.url + "/v2/orders", headers=HEADERS, timeout=30,
                         json={"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day"})
    assert post.status_code == 500
    assert _get(sb, "/v2/stocks/trades/latest?symbols=AAPL").status_code == 503
    listed = _admin(sb, "GET", "/admin/faults").json()
    assert [(r["path"], r["fired"]) for r in listed] == [("/v2/orders*", 1)]  # the spent regex rule is gone
    assert _admin(sb, "DELETE", "/admin/faults").status_code == 204
    assert _admin(sb, "GET", "/admin/faults").json() == []


def test_a_faulted_submission_never_reaches_the_broker(sb):
    client = TradingClient(KEY, SECRET, url_override=sb.url)
    sb.add_fault(path="/v2/orders", method="POST", status=500, times=1)
    with pytest.raises(APIError) as err:
        client.submit_order(LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="gtc",
                                              limit_price=50, client_order_id="only-once"))
    assert err.value.status_code == 500
    assert client.get_orders(GetOrdersRequest(status="all")) == []


def test_hang_fault_delays_then_serves_and_a_short_timeout_times_out(sb):
    sb.add_fault(path="/v2/clock", hang=1.5, times=2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        _get(sb, "/v2/clock", timeout=0.5)
    t0 = time.monotonic()
    resp = _get(sb, "/v2/clock")
    assert resp.status_code == 200 and time.monotonic() - t0 >= 1.4  # late, but answered
    t0 = time.monotonic()
    assert _get(sb, "/v2/clock").status_code == 200 and time.monotonic() - t0 < 1.0


def test_drop_fault_closes_the_connection_without_an_answer(sb):
    sb.add_fault(path="/v2/positions", drop=True, times=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        _get(sb, "/v2/positions")
    assert _get(sb, "/v2/positions").status_code == 200  # the next one is served


def test_fraction_fault_is_seeded_and_hits_about_that_share(sb):
    def run() -> list[int]:
        _admin(sb, "DELETE", "/admin/faults")
        _admin(sb, "POST", "/admin/faults", json={"path": "/v2/clock", "status": 503, "fraction": 0.3, "seed": 42})
        return [_get(sb, "/v2/clock").status_code for _ in range(60)]
    first, second = run(), run()
    assert first == second  # same seed, same requests hit
    assert 8 <= first.count(503) <= 28  # ~30% of 60 (binomial: 18 +- 3.5)


@pytest.mark.parametrize("rule", [
    {"status": 500},  # no path
    {"path": "/v2/*", "status": 404},  # not a server fault
    {"path": "/v2/*", "status": 500, "drop": True},  # two kinds
    {"path": "/v2/*", "hang": -1},
    {"path": "/v2/*", "status": 500, "times": 0},
    {"path": "/v2/*", "status": 500, "fraction": 1.5},
    {"path": "/v2/*", "status": 500, "times": 1, "fraction": 0.5},
    {"path": "^/v2/(", "status": 500},
    {"path": "/v2/*", "status": 500, "colour": "red"},
])
def test_bad_fault_rule_is_refused_with_a_message(sb, rule):
    resp = _admin(sb, "POST", "/admin/faults", json=rule)
    assert resp.status_code == 422 and resp.json()["message"]
    assert _admin(sb, "GET", "/admin/faults").json() == []


def test_request_counts_per_path_exclude_admin_and_reset(sb):
    sb.reset_counts()
    client = TradingClient(KEY, SECRET, url_override=sb.url)
    client.get_account()
    client.get_account()
    client.get_all_positions()
    stats = _admin(sb, "GET", "/admin/stats").json()
    assert stats == {"GET /v2/account": 2, "GET /v2/positions": 1} == sb.request_counts
    assert _admin(sb, "DELETE", "/admin/stats").status_code == 204
    assert sb.request_counts == {}


def test_hang_on_a_submission_still_places_the_order_after_the_client_gave_up(sb):
    # A slow venue acts on a request whose client timed out: the retry problem clients must handle.
    sb.add_fault(path="/v2/orders", method="POST", hang=0.8, times=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(sb.url + "/v2/orders", headers=HEADERS, timeout=0.3,
                      json={"symbol": "KO", "qty": 1, "side": "buy", "type": "limit", "limit_price": 20,
                            "time_in_force": "gtc", "client_order_id": "slow-one"})
    time.sleep(1.2)
    order = TradingClient(KEY, SECRET, url_override=sb.url).get_order_by_client_id("slow-one")
    assert order.status.value == "new"
