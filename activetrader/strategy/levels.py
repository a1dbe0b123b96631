"""Price levels as Alpaca accepts them: bracket geometry on top of :mod:`activetrader.ticks`.

The rule this module adds (alpaca-contract.md §2), on top of the sub-penny rule in
:mod:`activetrader.ticks`: for a long exit the take-profit limit must be >= base + $0.01 and
the stop <= base - $0.01, where the base is the current market price (and, for an OCO, the
take-profit limit itself).

>>> bracket_levels(123.457, take_profit_pct=0.15, stop_loss_pct=0.05)
(141.98, 117.28)
"""

from __future__ import annotations

from ..ticks import ceil_price, floor_price, fmt_price, is_valid_increment, round_price, tick_size

#: Minimum distance between a bracket level and its base price (Alpaca's ``base_price ± 0.01``).
MIN_DISTANCE = 0.01


def bracket_levels(
    reference: float, *, take_profit_pct: float, stop_loss_pct: float, base: float | None = None
) -> tuple[float, float]:
    """Take-profit and stop-loss for a long position, as valid Alpaca prices.

    ``reference`` is the price the percentages apply to (the entry or the average entry
    price); ``base`` is Alpaca's base price for its ±$0.01 check (the current price;
    defaults to ``reference``). The levels are rounded to the nearest tick, then pushed
    out to at least one cent from the base if rounding brought them too close.

    >>> bracket_levels(100.0, take_profit_pct=0.15, stop_loss_pct=0.05)
    (115.0, 95.0)
    >>> bracket_levels(0.1, take_profit_pct=0.15, stop_loss_pct=0.05)  # cent rule wins
    (0.115, 0.09)
    """
    base = reference if base is None else base
    take_profit = round_price(reference * (1 + take_profit_pct))
    stop_loss = round_price(reference * (1 - stop_loss_pct))
    take_profit = max(take_profit, ceil_price(base + MIN_DISTANCE))
    stop_loss = min(stop_loss, floor_price(base - MIN_DISTANCE))
    return take_profit, stop_loss


def stop_floor(reference: float, stop_loss_pct: float) -> float:
    """The lowest stop the settings allow for ``reference`` (the "stop floor"), rounded.

    A stop below this is *wider* than configured. :func:`enforce_caps` never lets one through.

    >>> stop_floor(150.0, 0.05)
    142.5
    """
    return round_price(reference * (1 - stop_loss_pct))


__all__ = [
    "MIN_DISTANCE",
    "bracket_levels",
    "ceil_price",
    "floor_price",
    "fmt_price",
    "is_valid_increment",
    "round_price",
    "stop_floor",
    "tick_size",
]
