"""The caps pass an intent they do not change through as it is, and look for oversize positions
without sorting every position (issue 7); what they return must be what they returned before:
whole-share quantities as ints, warnings in symbol order, none for a position the plan trims or
a pending market sell takes out."""

from activetrader.settings import Settings
from activetrader.strategy import EnterBracket, OrderView, Plan, ProtectPosition, Snapshot, enforce_caps
from activetrader.strategy.intents import ExitPosition


def test_caps_float_whole_quantities_come_back_as_ints_and_untouched_intents_equal():
    buy = EnterBracket(symbol="ABC", qty=10.0, reference_price=100.0, take_profit=115.0, stop_loss=95.0,
                       purpose="entry", reason="oversold")
    oco = ProtectPosition(symbol="XYZ", qty=5, take_profit=60.0, stop_loss=47.5, entry_price=50.0, reason="legs gone")
    snap = Snapshot.from_simple(cash=100_000, positions={"XYZ": (5, 50.0, 50.0)})

    capped_buy, capped_oco = enforce_caps(Plan(intents=(buy, oco)), snap, Settings()).intents

    assert capped_buy == buy and type(capped_buy.qty) is int and capped_buy.qty == 10
    assert capped_oco is oco  # nothing to change: the same intent
    assert capped_oco.qty == 5 and type(capped_oco.qty) is int


def test_caps_oversize_positions_are_warned_in_symbol_order_unless_trimmed_or_being_sold():
    # $100,000 of equity, cap 15% = $15,000: ZZZ, MMM, AAA and SSS are above it, LOW is not.
    positions = {"ZZZ": (200, 100.0, 100.0), "LOW": (10, 100.0, 100.0), "MMM": (300, 100.0, 100.0),
                  "AAA": (160, 100.0, 100.0), "SSS": (170, 100.0, 100.0)}
    selling = OrderView(id="o1", client_order_id="o1", symbol="SSS", side="sell", type="market", status="new",
                        order_class="simple", qty=170)
    snap = Snapshot.from_simple(cash=0, equity=100_000, positions=positions, orders=[selling])
    exit_mmm = ExitPosition(symbol="MMM", qty=300, price=100.0, stop_loss=95.0, reason="below stop")

    plan = enforce_caps(Plan(intents=(exit_mmm,)), snap, Settings())

    assert [w.symbol for w in plan.warnings] == ["AAA", "ZZZ"]
    assert plan.warnings[0].message == ("caps: 16.0% of the portfolio, above the 15% cap, "
                                        "and the plan does not trim it")
