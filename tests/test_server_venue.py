"""The Venue's events: what the streams are built on (no HTTP here)."""

from __future__ import annotations

import pandas as pd
import pytest
from alpaca.trading.requests import (LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest, StopLossRequest,
                                     TakeProfitRequest)

from activetrader.broker import SimBroker
from activetrader.market import SimulatedMarket
from activetrader.server import Venue

START = pd.Timestamp("2024-03-04 09:00", tz="America/New_York")


@pytest.fixture
def venue():
    return Venue(SimBroker(SimulatedMarket(seed=7), start=START))


def _record(venue):
    seen = []
    venue.subscribe(seen.append)
    return seen


def test_bracket_events_come_in_causal_order_with_the_order_as_it_was(venue):
    # SimulatedMarket seed 7: AAPL opens 193.93 on Mon 03-04 and trades down to 185.97 on Wed 03-06,
    # through a 190.00 stop; the entry fills at Monday's open and the stop on Wednesday.
    seen = _record(venue)
    entry = venue.mutate(venue.broker.submit_order, MarketOrderRequest(
        symbol="AAPL", qty=10, side="buy", time_in_force="gtc", order_class="bracket",
        take_profit=TakeProfitRequest(limit_price=222.89), stop_loss=StopLossRequest(stop_price=190.00)))
    venue.advance_to("2024-03-08 16:00-05:00")
    kinds = [e[0] for e in seen]
    assert kinds == ["orders", "orders", "advanced"]  # the submission; the advance's changes, then the move
    changes = seen[0][1] + seen[1][1]
    legs = {o.order_type.value: o for o in [c.order for c in changes if c.order.id != entry.id]}
    assert [(c.event, c.order.id) for c in changes] == [
        ("new", entry.id), ("fill", entry.id), ("new", legs["limit"].id), ("fill", legs["stop"].id),
        ("canceled", legs["limit"].id)]
    tp_new = changes[2]
    assert tp_new.order.status.value == "new" and tp_new.order.canceled_at is None  # not yet cancelled then
    assert (changes[1].price, changes[1].position_qty) == (pytest.approx(193.93, abs=0.01), 10)
    assert (changes[3].price, changes[3].position_qty) == (190.00, 0)
    assert seen[2][1] == START and seen[2][2] == pd.Timestamp("2024-03-08 16:00-05:00")


def test_replace_publishes_replaced_then_new_and_unsubscribe_stops_events(venue):
    seen = []
    unsubscribe = venue.subscribe(seen.append)
    old = venue.mutate(venue.broker.submit_order, LimitOrderRequest(symbol="KO", qty=1, side="buy",
                                                                     time_in_force="gtc", limit_price=20))
    new = venue.mutate(venue.broker.replace_order_by_id, old.id, ReplaceOrderRequest(limit_price=21))
    assert [(c.event, c.order.id) for c in seen[1][1]] == [("replaced", old.id), ("new", new.id)]
    unsubscribe()
    venue.mutate(venue.broker.cancel_order_by_id, new.id)
    assert len(seen) == 2


def test_a_failing_subscriber_does_not_stop_the_others(venue, caplog):
    seen = []
    venue.subscribe(lambda e: 1 / 0)
    venue.subscribe(seen.append)
    venue.advance_to("2024-03-04 16:00-05:00")
    assert [e[0] for e in seen] == ["advanced"] and "failed" in caplog.text


def test_refused_call_publishes_nothing_and_going_back_is_an_error(venue):
    from alpaca.common.exceptions import APIError

    seen = _record(venue)
    with pytest.raises(APIError):
        venue.mutate(venue.broker.submit_order, MarketOrderRequest(symbol="AAPL", qty=5, side="sell",
                                                                   time_in_force="day"))
    assert seen == []
    venue.advance_to("2024-03-05 16:00-05:00")
    with pytest.raises(ValueError, match="backwards"):
        venue.advance_to("2024-03-04 16:00-05:00")
