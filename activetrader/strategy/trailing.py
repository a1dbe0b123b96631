"""Trailing stops as a ratchet: the rule, pure, shared by the iteration and the stream monitor.

**Which mechanism when, and why.** Alpaca refuses a ``trailing_stop`` as a bracket or OCO leg
(alpaca-contract.md §2, "Trailing stop": single orders only), and a stand-alone trailing stop
next to a take-profit limit cannot work either: both would hold the same shares, and Alpaca
gives shares to one exit order only (§2, "Shares held by orders"). So, with
``bracket.trailing_stop_pct`` set:

* a position protected by a bracket or OCO (it has a take-profit) keeps its group; once the
  entry has filled, the group's **stop leg is ratcheted up** with ``replace_order_by_id``
  (``stop_price``), and the take-profit leg is left alone. This runs as a step of the pure
  strategy in every iteration (so backtests trail too) and, live, on each streamed price;
* a position protected by a server-side ``trailing_stop`` order (no take-profit) is left to
  Alpaca's engine, which trails it tick by tick.

**The ratchet.** At each decision the observed price is a candidate high. The stop it allows
is ``high × (1 − trailing_stop_pct)``, rounded to a valid increment (sub-penny rule, §2), and
never above ``price − $0.01`` (the §2 base-price rule for a sell stop) nor above the
take-profit less $0.01. The stop is raised only when that is *higher* than the stop in force,
so it never moves down and moves at most once per new high. Because the stop only rises, it
remembers the highest price seen (stop = high × (1 − pct)): the trader keeps no state, and a
restart loses nothing.

The guide's example (buy at 150, ``stop_loss_pct=0.05``, ``trailing_stop_pct=0.05``):

>>> ratchet(142.50, 160.0, trailing_stop_pct=0.05)
152.0
>>> ratchet(152.0, 155.0, trailing_stop_pct=0.05) is None     # not a new high: no move
True
>>> ratchet(152.0, 170.0, trailing_stop_pct=0.05)
161.5
"""

from __future__ import annotations

from ..ticks import floor_price, round_price, tick_size
from .levels import MIN_DISTANCE


def trailed_stop(high: float, *, trailing_stop_pct: float, price: float | None = None,
                 take_profit: float | None = None) -> float:
    """The stop a trailing rule sets at ``high``, as Alpaca accepts it.

    ``price`` is the current price (default ``high``): a sell stop must be at least $0.01
    below it; ``take_profit`` the group's take-profit limit, which the stop must stay
    $0.01 below.

    >>> trailed_stop(170.0, trailing_stop_pct=0.05)
    161.5
    >>> trailed_stop(10.0, trailing_stop_pct=0.0001)   # never within a cent of the price
    9.99
    """
    price = high if price is None else price
    stop = round_price(high * (1 - trailing_stop_pct))
    stop = min(stop, floor_price(price - MIN_DISTANCE))
    if take_profit is not None:
        stop = min(stop, floor_price(take_profit - MIN_DISTANCE))
    return stop


def ratchet(current_stop: float, high: float, *, trailing_stop_pct: float, price: float | None = None,
            take_profit: float | None = None) -> float | None:
    """The raised stop if ``high`` lifts it above ``current_stop`` by at least a tick, else None.

    >>> ratchet(95.0, 99.0, trailing_stop_pct=0.05) is None   # 94.05 would be lower: never down
    True
    """
    new = trailed_stop(high, trailing_stop_pct=trailing_stop_pct, price=price, take_profit=take_profit)
    if new > current_stop + tick_size(new) / 2 and new > 0:
        return new
    return None


def trailable_stops(snapshot, symbol: str) -> list[tuple]:
    """``(stop order, take-profit or None)`` for each stop of ``symbol`` a ratchet may raise:
    live sell ``stop``/``stop_limit`` orders with a stop price, not a ``trailing_stop`` (the
    broker trails those itself), and not a leg whose bracket entry is still open (legs wait
    for a completely filled entry, §1). The take-profit is that of the stop's own group.

    >>> from activetrader.strategy.snapshot import OrderView, Snapshot
    >>> snap = Snapshot.from_simple(cash=0, positions={"AAPL": (10, 150.0, 160.0)},
    ...                             orders=OrderView.exit_legs("AAPL", 10, 172.5, 142.5))
    >>> [(o.id, tp) for o, tp in trailable_stops(snap, "AAPL")]
    [('sl-1', 172.5)]
    """
    entries = {o.id for o in snapshot.orders if o.is_live and o.role == "entry"}
    live = snapshot.live_sells(symbol)
    out = []
    for o in live:
        if (not o.is_protective_stop or o.type == "trailing_stop" or o.stop_price is None
                or o.parent_id in entries):
            continue
        group = o.parent_id or o.id  # an OCO's top is its take-profit; a bracket's, the entry
        tps = [x.limit_price for x in live if x.type == "limit" and x.limit_price is not None
               and group in (x.id, x.parent_id)]
        out.append((o, min(tps) if tps else None))
    return out


__all__ = ["ratchet", "trailable_stops", "trailed_stop"]
