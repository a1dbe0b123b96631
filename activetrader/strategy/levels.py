"""Price levels as Alpaca accepts them: tick sizes, rounding and bracket geometry.

Alpaca rules this module encodes (alpaca-contract.md §2):

* **Sub-penny rule.** Limit and stop prices >= $1 allow 2 decimals; below $1, 4 decimals.
  Anything finer is rejected (``sub-penny increment does not fulfill minimum pricing
  criteria``).
* **Base-price rule.** For a long exit the take-profit limit must be >= base + $0.01 and
  the stop <= base - $0.01, where the base is the current market price (and, for an OCO,
  the take-profit limit itself).

Rounding is to the *nearest* tick, half up, after removing float noise, so a level is what
a person computing it by hand would write down:

>>> round_price(141.97555)
141.98
>>> round_price(0.123456)
0.1235
>>> bracket_levels(123.457, take_profit_pct=0.15, stop_loss_pct=0.05)
(141.98, 117.28)
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

#: Minimum distance between a bracket level and its base price (Alpaca's ``base_price ± 0.01``).
MIN_DISTANCE = 0.01


def tick_size(price: float) -> float:
    """Smallest price increment Alpaca accepts at ``price``: $0.01 from $1 up, else $0.0001.

    >>> tick_size(1.0), tick_size(0.99)
    (0.01, 0.0001)
    """
    return 0.01 if price >= 1.0 else 0.0001


def _quantize(price: float, rounding: str) -> float:
    tick = Decimal("0.01") if price >= 1.0 else Decimal("0.0001")
    # 8 decimals first: 123.457 * 1.15 is 141.97554999999997 in binary, 141.97555 on paper.
    return float(Decimal(f"{price:.8f}").quantize(tick, rounding=rounding))


def round_price(price: float) -> float:
    """Round to the nearest valid increment (half up).

    >>> round_price(117.28415), round_price(2.005)
    (117.28, 2.01)
    """
    return _quantize(price, ROUND_HALF_UP)


def floor_price(price: float) -> float:
    """Round down to a valid increment.

    >>> floor_price(10.019)
    10.01
    """
    return _quantize(price, ROUND_FLOOR)


def ceil_price(price: float) -> float:
    """Round up to a valid increment.

    >>> ceil_price(10.011)
    10.02
    """
    return _quantize(price, ROUND_CEILING)


def is_valid_increment(price: float) -> bool:
    """True if ``price`` has no more decimals than Alpaca allows at that price.

    >>> is_valid_increment(290.12), is_valid_increment(290.123), is_valid_increment(0.1234)
    (True, False, True)
    """
    return math.isclose(price, round_price(price), rel_tol=0.0, abs_tol=1e-9)


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


def fmt_price(price: float) -> str:
    """A price as text at its valid precision.

    >>> fmt_price(1234.5), fmt_price(0.1235)
    ('$1,234.50', '$0.1235')
    """
    return f"${price:,.2f}" if price >= 1.0 else f"${price:.4f}"


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
