"""The alpaca-py adapter, proven on the local venue: the real ``TradingClient`` and
``StockHistoricalDataClient`` over HTTP to a ``Sandbox`` on 127.0.0.1.

- Differential: the Trader makes the same orders through alpaca-py over HTTP as on the
  in-process SimBroker, day after day.
- Calls per iteration do not grow with the universe (counted by the server).
- Order listings page past Alpaca's 500-order limit, so old protective legs are still seen.
- Faults (429, 500, 503, hangs, dropped connections) are retried within bounds, never
  duplicate an order, and an iteration that cannot finish says what it did not do; the next
  one repairs.
- Live needs both opt-ins; paper is the default; a local URL is honoured in both.
"""

from __future__ import annotations

import time
from collections import Counter

import pandas as pd
import pytest
import requests
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import (
    GetOrdersRequest, LimitOrderRequest, MarketOrderRequest, StopLossRequest, TakeProfitRequest,
)

from activetrader import Settings, Trader
from activetrader.alpaca import (
    LIVE_CONFIRMATION, AlpacaEndpoints, KeysRejectedError, LiveTradingRefused, connect, list_orders,
)
from activetrader.broker import SimBroker
from activetrader.market import SimulatedMarket
from activetrader.resilience import Resilient, RetryPolicy
from activetrader.scenario import MOMENT
from activetrader.server import Sandbox

#: Short waits and timeouts so a fault costs milliseconds, with room for eight attempts.
FAST = RetryPolicy(attempts=8, total_seconds=20, initial_wait=0.01, max_wait=0.1, connect_timeout=1.0,
                   read_timeout=0.5)


@pytest.fixture
def sandbox(monkeypatch, tmp_path):
    """The embedded default served on 127.0.0.1, with the environment pointing alpaca-py at it."""
    monkeypatch.chdir(tmp_path)
    with Sandbox() as sb:
        _point_at(monkeypatch, sb)
        yield sb


def _point_at(monkeypatch, sb: Sandbox) -> None:
    for var, value in AlpacaEndpoints.of(sb).env().items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("APCA_API_KEY_ID", sb.key_id)
    monkeypatch.setenv("APCA_API_SECRET_KEY", sb.secret_key)
    monkeypatch.delenv("ACTIVETRADER_LIVE", raising=False)


def _http_trader(policy: RetryPolicy = FAST, **kwargs) -> Trader:
    trading, data = connect(policy=policy)
    return Trader(broker=trading, market=data, **kwargs)


def _next_mornings(n: int) -> list[pd.Timestamp]:
    """The n weekday mornings (09:00 New York) after the scenario's moment."""
    days = pd.bdate_range(MOMENT.normalize() + pd.Timedelta(days=1), periods=n)
    return [pd.Timestamp(d.date()).tz_localize("America/New_York") + pd.Timedelta(hours=9) for d in days]


def _orders(broker) -> list[tuple]:
    """Every order at a venue, by client order id, with its legs (ids aside): what was placed
    and how it stands."""
    def leg(o) -> tuple:
        return (o.symbol, o.side.value, o.type.value, float(o.qty or 0), _f(o.limit_price), _f(o.stop_price),
                o.status.value, float(o.filled_qty or 0), _f(o.filled_avg_price))

    listed = list_orders(broker, GetOrdersRequest(status="all", nested=True))
    return sorted((o.client_order_id, (o.order_class.value or "simple"), *leg(o), tuple(leg(x) for x in o.legs or ()))
                  for o in listed)


def _f(x) -> float | None:
    return None if x is None else float(x)


def _outcomes(report) -> list[tuple]:
    return [(o.action, o.symbol, o.client_order_id, o.accepted) for o in report.outcomes]


def _unprotected(sb: Sandbox) -> list[str]:
    """Positions at the venue not fully under a live stop (read in-process, past any fault;
    under the venue's lock, as a request the client gave up on may still be running)."""
    with sb.venue.lock:
        frame = Trader(broker=sb.broker, market=sb.broker.market).positions()
    return sorted(frame.index[~frame["protected"]])


def _venue_orders(sb: Sandbox) -> list[tuple]:
    with sb.venue.lock:
        return _orders(sb.broker)


# ---------------------------------------------------------------- differential
def test_trader_over_http_same_orders_as_in_process_simbroker_day_after_day(sandbox):
    """Both venues start from the embedded default (ten unprotected legacy positions, ADBE over
    the cap, WMT oversold). The first iteration protects ten positions, trims ADBE and enters
    WMT; the clock then moves a weekday at a time, and the fills, stop-outs and any later
    decisions must come out the same whether the Trader talks HTTP or Python."""
    http, local = _http_trader(), Trader()
    assert http.now == local.now == MOMENT
    first_http, first_local = http.iteration(), local.iteration()
    assert len(first_http.submitted) == 12  # 10 protections, the ADBE trim and re-protection, WMT
    assert _outcomes(first_http) == _outcomes(first_local)
    for when in _next_mornings(5):
        sandbox.advance_to(when)
        local.advance(when)
        assert http.now == local.now == when
        assert _outcomes(http.iteration()) == _outcomes(local.iteration())
    placed = _venue_orders(sandbox)
    assert placed == _orders(local.broker)
    assert sum(o[8] == "filled" for o in placed) >= 12, "the days must fill the legacy buys, the trim, WMT"


def test_trader_calls_per_iteration_do_not_grow_with_the_universe(monkeypatch, tmp_path):
    """A watchlist of 5 and one of 200 symbols: the same trading-API requests, and one bars
    request, which alpaca-py splits into pages only where Alpaca's 10,000-bar page is full."""
    monkeypatch.chdir(tmp_path)
    symbols = [f"Q{a}{b}" for a in "ABCDEFGHIJKLMNOPQRST" for b in "ABCDEFGHIJ"]  # 200 synthetic tickers
    market = SimulatedMarket(seed=3, start="2024-01-02", end="2024-12-31",
                             symbols=["AAPL", "MSFT", "GOOGL", "NVDA", "TSLA", *symbols])
    counts, bars = {}, {}
    for n in (5, 200):
        settings = Settings()
        settings.entry.watchlist = symbols[:n]
        with Sandbox(market=market, start=pd.Timestamp("2024-09-03 09:00", tz="America/New_York")) as sb:
            _point_at(monkeypatch, sb)
            trader = _http_trader(RetryPolicy(), settings=settings)
            sb.reset_counts()
            report = trader.iteration(dry_run=True)  # decisions differ with the universe; reads must not
            counts[n] = sb.request_counts
            bars[n] = len(trader.snapshot().bars)  # (after counting) what that one request returned
            assert len(report.plan.watchlist_rsi) == n
    trading = {n: {k: v for k, v in c.items() if "/v2/stocks/" not in k} for n, c in counts.items()}
    assert trading[5] == trading[200]
    bar_pages = {n: c.get("GET /v2/stocks/bars", 0) for n, c in counts.items()}
    assert bar_pages == {n: -(-bars[n] // 10_000) for n in bars}, (bar_pages, bars)


# ---------------------------------------------------------------- order listings past 500
def test_list_orders_pages_past_500_and_finds_every_live_leg(sandbox):
    """Three bracket entries fill on day one (their legs then live: take-profit new, stop held);
    an hourly bot then places 540 more orders over the following weeks (GTC limit buys far
    below the market, in other symbols, ten an hour). The legs are the oldest orders, past the
    first page of 500: a single listing misses them, ``list_orders`` and the snapshot find them."""
    broker = sandbox.broker  # orders placed in-process (no HTTP request runs meanwhile), listed over HTTP
    protected = ("KO", "MRK", "XOM")
    for sym in protected:
        price = broker.last_price(sym)
        broker.submit_order(MarketOrderRequest(
            symbol=sym, qty=5, side="buy", time_in_force="gtc", order_class="bracket", client_order_id=f"entry-{sym}",
            take_profit=TakeProfitRequest(limit_price=round(price * 1.3, 2)),
            stop_loss=StopLossRequest(stop_price=round(price * 0.7, 2))))
    when = MOMENT + pd.Timedelta(days=1)
    sandbox.advance_to(when)
    fillers = ("HD", "MCD", "COST", "ORCL", "CSCO")
    for hour in range(54):
        when += pd.Timedelta(hours=1)
        sandbox.advance_to(when)
        for i in range(10):
            sym = fillers[i % len(fillers)]
            broker.submit_order(LimitOrderRequest(symbol=sym, qty=1, side="buy", time_in_force="gtc",
                                                  limit_price=1.00, client_order_id=f"f-{hour}-{i}"))
    trading, _ = connect(policy=FAST)
    request = GetOrdersRequest(status="all", nested=True, after=(when - pd.Timedelta(days=91)).to_pydatetime())
    one_page = trading.get_orders(request.model_copy(update={"limit": 500}))
    everything = list_orders(trading, request)
    assert len(one_page) == 500 and not {f"entry-{s}" for s in protected} & {o.client_order_id for o in one_page}
    ids = [str(o.id) for o in everything]
    assert len(ids) == len(set(ids)) == 3 + 10 + 540  # 3 brackets, the 10 legacy buys, 540 fillers
    legs = {o.symbol: [leg.status.value for leg in o.legs]
            for o in everything if o.client_order_id.startswith("entry-")}
    assert legs == {s: ["new", "held"] for s in protected}
    positions = _http_trader().positions()
    assert positions.loc[list(protected), "protected"].all()


def test_list_orders_with_many_orders_at_one_moment_loses_none():
    """Orders placed in one iteration share a timestamp; a page boundary inside such a group must
    neither lose nor repeat any (the bound moves by one microsecond past the group)."""
    broker = SimBroker(SimulatedMarket(seed=1, start="2024-01-02", end="2024-06-28"), cash=10_000_000,
                       start=pd.Timestamp("2024-03-01 09:00", tz="America/New_York"))
    when = broker.now
    for batch in range(7):  # 7 moments x 150 orders: boundaries at 500 and 1000 fall inside groups
        when += pd.Timedelta(hours=1)
        broker.advance_to(when)
        for i in range(150):
            broker.submit_order(LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="gtc",
                                                  limit_price=1.00, client_order_id=f"b{batch}-{i}"))
    newest_first = list_orders(broker, GetOrdersRequest(status="all"))
    oldest_first = list_orders(broker, GetOrdersRequest(status="all", direction="asc"))
    assert len(newest_first) == len({o.id for o in newest_first}) == 1050
    assert [o.id for o in oldest_first] == [o.id for o in reversed(newest_first)]
    assert len(list_orders(broker, GetOrdersRequest(status="all", limit=520))) == 520


# ---------------------------------------------------------------- resilience
def test_rate_limited_call_is_retried_and_succeeds(sandbox):
    sandbox.add_fault(path="/v2/account", method="GET", status=429, times=2)
    trading, _ = connect(policy=FAST)
    sandbox.reset_counts()
    assert float(trading.get_account().cash) > 0
    assert sandbox.request_counts["GET /v2/account"] == 3 and trading.retries == 2


def test_request_to_a_hanging_venue_times_out_instead_of_waiting(sandbox):
    """A venue that hangs for 2 s: the call gives up after its attempts, each cut at the read
    timeout, instead of waiting for the answer."""
    sandbox.add_fault(path="/v2/clock", hang=2, times=2)
    trading, _ = connect(policy=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.01, read_timeout=0.3))
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        trading.get_clock()
    assert time.monotonic() - started < 1.9  # two 0.3 s timeouts, not a 2 s hang


def test_retried_submission_after_a_timeout_finds_the_order_instead_of_resubmitting(sandbox):
    """The venue holds the submission 0.6 s and then places it; the client has given up at 0.3 s.
    Waiting 1 s before the retry, the client looks the client_order_id up, finds the order and
    does not send it again."""
    sandbox.add_fault(path="/v2/orders", method="POST", hang=0.6, times=1)
    trading = Resilient(TradingClient(sandbox.key_id, sandbox.secret_key, url_override=sandbox.url),
                        RetryPolicy(attempts=3, read_timeout=0.3), sleep=lambda seconds: time.sleep(1.0))
    sandbox.reset_counts()
    order = trading.submit_order(LimitOrderRequest(symbol="KO", qty=1, side="buy", time_in_force="gtc",
                                                   limit_price=1.00, client_order_id="once-only"))
    assert order.client_order_id == "once-only"
    assert sandbox.request_counts["POST /v2/orders"] == 1
    assert sandbox.request_counts["GET /v2/orders:by_client_order_id"] == 1
    with sandbox.venue.lock:
        at_venue = [o for o in sandbox.broker.get_orders(GetOrdersRequest(status="all", limit=500))
                    if o.client_order_id == "once-only"]
    assert len(at_venue) == 1


def test_iterations_under_random_faults_match_a_fault_free_run(sandbox):
    """Over twenty weekdays, a seeded fifth of all requests fail: 429, 500, 503, a 0.6 s hang
    (beyond the 0.5 s read timeout; the venue still acts on it) or a dropped connection. Every
    iteration completes; after each, every position at the venue is under a stop; no
    client_order_id is used twice; and the venue ends with exactly the orders of the same days
    run in-process without faults."""
    faults = [dict(status=429, fraction=0.06, seed=1), dict(status=500, fraction=0.05, seed=2),
              dict(status=503, fraction=0.03, seed=3), dict(hang=0.6, fraction=0.03, seed=4),
              dict(drop=True, fraction=0.03, seed=5)]
    for rule in faults:
        sandbox.add_fault(path="/v2/*", **rule)
    http, local = _http_trader(), Trader()
    started = time.monotonic()
    for when in [MOMENT, *_next_mornings(19)]:
        if when != MOMENT:
            sandbox.advance_to(when)
            local.advance(when)
        report, expected = http.iteration(), local.iteration()
        assert report.errors == (), report.narrative
        assert _outcomes(report) == _outcomes(expected)
        assert _unprotected(sandbox) == []
    elapsed = time.monotonic() - started
    fired = {r.status or ("hang" if r.hang else "drop"): r.fired for r in sandbox.faults.rules}
    assert all(fired.values()) and len(fired) == 5, fired  # every kind of fault really happened
    assert http.broker.retries + http.market.retries == sum(fired.values())  # each fault cost one retry
    placed = _venue_orders(sandbox)
    assert Counter(o[0] for o in placed).most_common(1)[0][1] == 1
    assert placed == _orders(local.broker)
    print(f"20 iterations, {sum(sandbox.request_counts.values())} requests, in {elapsed:.1f}s; faults {fired}")


def test_failed_iteration_reports_what_was_not_done_and_the_next_repairs(sandbox):
    """Every order submission fails with 500 (beyond the retries): the iteration reports each
    refused protection, says it is incomplete, and leaves the ten legacy positions unprotected.
    With the venue healthy again the next iteration protects all of them."""
    sandbox.add_fault(path="/v2/orders", method="POST", status=500, fraction=1.0)
    trader = _http_trader(RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.01))
    failed = trader.iteration()
    assert failed.submitted == () and len(failed.rejections) == 12
    assert all(o.http_status == 500 for o in failed.rejections)
    assert "FAIL OCO sell 41 PG" in failed.narrative
    assert len(_unprotected(sandbox)) == 10
    sandbox.clear_faults()
    repaired = trader.iteration()
    assert len(repaired.submitted) == 12 and repaired.errors == ()
    assert _unprotected(sandbox) == []


def test_snapshot_failure_gives_an_incomplete_report_not_a_crash(sandbox):
    sandbox.add_fault(path="/v2/positions", status=503, fraction=1.0)
    trader = _http_trader(RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.01))
    report = trader.iteration()
    assert report.outcomes == () and report.positions_count == 0
    assert report.errors[0].startswith("snapshot failed (HTTP 503")
    assert "nothing was decided or submitted" in report.errors
    assert "Iteration INCOMPLETE (2 error(s) above)" in report.narrative
    assert sandbox.request_counts.get("POST /v2/orders", 0) == 0


def test_rejected_keys_give_one_clear_message_and_no_retry(sandbox, monkeypatch):
    monkeypatch.setenv("APCA_API_SECRET_KEY", "not-the-right-secret")
    trading, _ = connect(policy=FAST)
    sandbox.reset_counts()
    with pytest.raises(KeysRejectedError) as e:
        trading.get_account()
    assert "APCA_API_KEY_ID and APCA_API_SECRET_KEY" in str(e.value)
    assert "not-the-right-secret" not in str(e.value) and e.value.__cause__ is None
    assert sandbox.request_counts["GET /v2/account"] == 1


def test_resilient_wrapper_on_simbroker_gives_the_same_results():
    broker = SimBroker(SimulatedMarket(seed=1, start="2024-01-02", end="2024-03-28"), start="2024-03-01")
    wrapped = Resilient(broker, FAST)
    assert wrapped.get_account() == broker.get_account()
    assert wrapped.now == broker.now and wrapped.market is broker.market
    assert "submit_order" in dir(wrapped)


# ---------------------------------------------------------------- paper and live
def test_live_trading_without_confirmation_is_refused(sandbox):
    with pytest.raises(LiveTradingRefused, match='ACTIVETRADER_LIVE="I understand"'):
        Trader(broker="alpaca", live=True)
    assert sandbox.request_counts == {}


def test_live_trading_with_confirmation_uses_the_local_url(sandbox, monkeypatch):
    monkeypatch.setenv("ACTIVETRADER_LIVE", LIVE_CONFIRMATION)
    trader = Trader(broker="alpaca", live=True)
    assert trader.mode == "live"
    assert isinstance(trader.broker.client, TradingClient) and trader.broker.client._sandbox is False
    assert trader.broker.base_url == sandbox.url == trader.market.base_url
    assert len(trader.positions()) == 10  # the venue's ten legacy positions, over HTTP
    assert trader.iteration(dry_run=True).mode == "live"


def test_paper_is_the_default_against_the_local_venue(sandbox):
    trader = Trader(broker="alpaca")
    assert trader.mode == "paper" and trader.broker.client._sandbox is True
    assert trader.broker.base_url == sandbox.url


def test_unreachable_clock_gives_an_incomplete_report(sandbox):
    sandbox.add_fault(path="/v2/clock", status=503, fraction=1.0)
    report = _http_trader(RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.01)).iteration()
    assert report.errors == ("the broker's clock is unavailable (HTTP 503 service unavailable (injected fault))",
                             "nothing was decided or submitted")
    assert not any(k.startswith(("POST", "GET /v2/positions")) for k in sandbox.request_counts)


def test_cli_iterate_exits_1_when_the_venue_breaks_the_iteration_off(sandbox, capsys):
    from activetrader.cli import main

    sandbox.add_fault(path="/v2/account", status=500, fraction=1.0)
    assert main(["iterate", "--broker", "alpaca"]) == 1
    out = capsys.readouterr().out
    assert "error: snapshot failed (HTTP 500" in out and "Iteration INCOMPLETE" in out
