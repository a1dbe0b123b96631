"""SimBroker split in two: the simulation :class:`~activetrader.broker.engine.Engine` and the
alpaca-py surface over it (broker/sim.py), with the broker's behaviour and saved state unchanged.

The market path is SimulatedMarket(seed=1)'s; the exact prices do not matter here. Each test
compares the broker with itself across a save and load, so no fill price is written down."""

from __future__ import annotations

import pickle
import sqlite3

from alpaca.trading.client import TradingClient
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest, StopLossRequest, TakeProfitRequest

from activetrader.broker import SimBroker
from activetrader.broker.engine import Engine, Fill, SimPosition
from activetrader.market import SimulatedMarket
from activetrader.server.state import StateStore, _account_state

#: The account attributes a state file saved before the split holds (read from such a file:
#: server/state.py pickles the broker's instance attributes by name, so these must not change).
SAVED_BEFORE_SPLIT = {"_by_client_id", "_cash", "_gtc_expiry", "_initial_cash", "_market_has_clock",
                      "_next_expiry_ns", "_now_ns", "_orders", "_positions", "_seq", "_working", "ended_unfilled",
                      "fills", "list_held_legs", "margin_multiplier", "realized_pl", "same_bar", "skip_quiet_bars"}


def _traded_broker() -> SimBroker:
    """Two brackets whose exits stay far away (the positions are still held on 2024-04-15),
    one whose exits are near (some of them fill), and a buy limit at $1 that never fills."""
    market = SimulatedMarket(seed=1)
    broker = SimBroker(market, cash=100_000, start="2024-03-04 09:00-05:00")
    for k, symbol in enumerate(market.symbols[:3]):
        price = broker.last_price(symbol)
        width = 0.5 if k < 2 else 0.03
        broker.submit_order(MarketOrderRequest(
            symbol=symbol, qty=10, side="buy", time_in_force="gtc", order_class="bracket",
            take_profit=TakeProfitRequest(limit_price=round(price * (1 + width), 2)),
            stop_loss=StopLossRequest(stop_price=round(price * (1 - width), 2))))
    broker.submit_order(LimitOrderRequest(symbol=market.symbols[5], qty=3, side="buy", time_in_force="gtc",
                                          limit_price=1))
    broker.advance_to("2024-04-15 16:00-04:00")
    return broker


def _view(broker: SimBroker) -> tuple:
    return (broker.get_account().model_dump(), [p.model_dump() for p in broker.get_all_positions()],
            [o.model_dump() for o in broker.get_orders(GetOrdersRequest(status="all", nested=True, limit=500))],
            broker.fills_frame().to_dict("list"))


def _old_layout_blob(broker: SimBroker) -> bytes:
    """The state as the broker before the split pickled it: its SimPosition and Fill classes
    were module ``activetrader.broker.sim``'s. Protocol 2 names classes as text lines, so the
    module name can be set as the old layout wrote it."""
    blob = pickle.dumps(_account_state(broker), protocol=2)
    assert b"activetrader.broker.engine\nSimPosition\n" in blob and b"activetrader.broker.engine\nFill\n" in blob
    return blob.replace(b"activetrader.broker.engine\n", b"activetrader.broker.sim\n")


def test_simbroker_split_keeps_saved_attribute_names():
    broker = _traded_broker()
    assert broker._positions and broker.fills and any(o.is_open for o in broker._orders.values())
    assert set(_account_state(broker)) == SAVED_BEFORE_SPLIT
    assert not hasattr(SimBroker, "__slots__") and not hasattr(Engine, "__slots__")  # attributes in __dict__


def test_state_file_saved_with_old_class_layout_loads_and_runs_on_alike(tmp_path):
    # Arrange: a state file whose pickle names the classes as before the split, and a twin
    # broker that is never saved.
    path = tmp_path / "paper.sqlite"
    saved, twin = _traded_broker(), _traded_broker()
    store = StateStore(path)
    store.save_broker(saved, {})
    blob = _old_layout_blob(saved)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE broker SET state = ? WHERE id = 1", (blob,))
    store.close()

    # Act
    loaded, _ = StateStore(path).load(SimulatedMarket(seed=1))

    # Assert: the old class names resolve to the engine's classes, the account reads the same,
    # and it moves on as the uninterrupted twin does: the GTC orders still open at the save
    # (the two far brackets' take-profit and stop-loss, the $1 limit) are cancelled 90 days
    # after their creation (§1).
    assert all(type(p) is SimPosition for p in loaded._positions.values())
    assert all(type(f) is Fill for f in loaded.fills)
    assert _view(loaded) == _view(twin)
    assert sum(o.is_open for o in loaded._orders.values()) == 5
    for broker in (loaded, twin):
        broker.advance_to("2024-07-15 16:00-04:00")
    assert sum(o.is_open for o in loaded._orders.values()) == 0
    assert _view(loaded) == _view(twin)


def test_simbroker_is_the_alpaca_surface_over_the_engine():
    assert SimBroker.__mro__ == (SimBroker, Engine, object)
    surface = {n for n in dir(TradingClient) if not n.startswith("_")}
    assert surface & set(dir(Engine)) == set(), "the engine defines no TradingClient method"
    assert {"submit_order", "get_orders", "get_account", "get_all_positions", "replace_order_by_id",
            "cancel_order_by_id", "get_clock", "get_asset"} <= set(vars(SimBroker))
