"""RsiBracket, the simple rule: decisions on hand-written snapshots.

ABC falls one dollar a bar from 50 to 31 (20 closes): only losses, so its RSI(14) is 0, below 30.
"""

from __future__ import annotations

import pytest

from activetrader.settings import Settings
from activetrader.strategy import (EnterBracket, ExitPosition, OrderView, ProtectPosition, RsiBracket,
                                   Snapshot)

FALLING = [50.0 - i for i in range(20)]
RISING = [31.0 + i for i in range(20)]


@pytest.fixture
def settings() -> Settings:
    s = Settings()
    s.entry.watchlist = ["ABC"]
    return s


def test_rsi_bracket_oversold_name_enters_with_levels_from_the_last_close(settings):
    snap = Snapshot.from_simple(cash=100_000, closes={"ABC": FALLING})
    (entry,) = RsiBracket(dollars=1_000).decide(snap, settings).intents
    # $1,000 at the last close 31: 32 whole shares; take-profit 31 x 1.15, stop 31 x 0.95.
    assert isinstance(entry, EnterBracket)
    assert (entry.qty, entry.take_profit, entry.stop_loss, entry.rsi) == (32, 35.65, 29.45, 0.0)


def test_rsi_bracket_without_dollars_sizes_by_position_pct_of_equity(settings):
    settings.entry.position_pct = 0.05
    snap = Snapshot.from_simple(cash=100_000, closes={"ABC": FALLING})
    (entry,) = RsiBracket().decide(snap, settings).intents
    assert entry.qty == 161  # 5% of 100,000 = 5,000 / 31 = 161.3 -> 161 whole shares


def test_rsi_bracket_name_not_oversold_is_not_bought(settings):
    snap = Snapshot.from_simple(cash=100_000, closes={"ABC": RISING})
    assert RsiBracket(dollars=1_000).decide(snap, settings).intents == ()


def test_rsi_bracket_held_symbol_with_its_legs_gets_nothing(settings):
    legs = OrderView.exit_legs("ABC", 32, 35.65, 29.45)
    snap = Snapshot.from_simple(cash=99_000, positions={"ABC": (32, 31.0, 31.0)}, closes={"ABC": FALLING},
                                orders=legs)
    assert RsiBracket(dollars=1_000).decide(snap, settings).intents == ()


def test_rsi_bracket_open_buy_blocks_a_second_entry(settings):
    buy = OrderView(id="b1", client_order_id="b1", symbol="ABC", side="buy", type="market", status="new",
                    order_class="bracket", qty=32, role="entry")
    snap = Snapshot.from_simple(cash=100_000, closes={"ABC": FALLING}, orders=[buy])
    assert RsiBracket(dollars=1_000).decide(snap, settings).intents == ()


def test_rsi_bracket_position_whose_legs_expired_gets_an_oco_at_entry_levels(settings):
    # Entered at 40, now 41, no order left (Alpaca's 90-day GTC expiry took the legs).
    snap = Snapshot.from_simple(cash=99_000, positions={"ABC": (25, 40.0, 41.0)}, closes={"ABC": RISING})
    (protect,) = RsiBracket(dollars=1_000).decide(snap, settings).intents
    assert isinstance(protect, ProtectPosition)
    assert (protect.qty, protect.take_profit, protect.stop_loss) == (25, 46.0, 38.0)


def test_rsi_bracket_position_without_legs_at_its_stop_is_sold_at_market(settings):
    # Entered at 40, now 37.5: below the entry-based stop 38, so an OCO would be refused.
    snap = Snapshot.from_simple(cash=99_000, positions={"ABC": (25, 40.0, 37.5)}, closes={"ABC": RISING})
    (exit_,) = RsiBracket(dollars=1_000).decide(snap, settings).intents
    assert isinstance(exit_, ExitPosition) and (exit_.qty, exit_.stop_loss) == (25, 38.0)


def test_rsi_bracket_bad_dollars_is_refused_with_the_value():
    with pytest.raises(ValueError, match=r"dollars=-5 is not allowed"):
        RsiBracket(dollars=-5)
