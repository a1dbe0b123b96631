"""Regression found by the soak (benchmarks/soak.py): after a restart, a position partly under
a kept OCO and above the cap was re-protected for *all* its remaining shares, which the kept
OCO already held, and Alpaca refused it (403 insufficient qty)."""

from activetrader import Settings
from activetrader.strategy import CombinedStrategy, OrderView, Snapshot, TrimPosition


def test_trim_without_cancel_reprotects_only_the_shares_no_kept_stop_covers():
    # 45 ADBE at 345.73 ($15,558) in a $100,558 account: 15.5%, above the 15% cap: sell 2.
    # A kept OCO holds 42 shares (its trim sell of 3 expired unfilled), so 3 are available:
    # the sale needs no cancel, and of the 43 left only 1 lacks a stop.
    snap = Snapshot.from_simple(cash=85_000, positions={"ADBE": (45, 323.71, 345.73)},
                                orders=OrderView.exit_legs("ADBE", 42, 372.26, 332.96))
    assert snap.position("ADBE").qty_available == 3

    (trim,) = CombinedStrategy().decide(snap, Settings()).of_type(TrimPosition)

    assert (trim.sell_qty, trim.remaining_qty, trim.cancel_order_ids) == (2, 43, ())
    assert trim.reprotect.qty == 1
