"""Alpaca's price increments, in one place for the broker and the strategy.

**Sub-penny rule** (alpaca-contract.md §2, D-ORD): limit and stop prices >= $1 allow 2
decimals; below $1, 4 decimals. Anything finer is rejected (``sub-penny increment does not
fulfill minimum pricing criteria``). Rounding is to the *nearest* tick, half up, after
removing float noise, so a level is what a person computing it by hand would write down.

This module stands alone (like :mod:`activetrader.settings`): the pure strategy core and the
simulated broker both read it, and it knows neither.

>>> round_price(141.97555), round_price(0.123456)
(141.98, 0.1235)
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal


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
    # A price of $1..$1M that round() leaves alone is whole cents (ulp < 1e-9): valid without
    # the Decimal arithmetic, which orders would otherwise pay for every level.
    if 1.0 <= price < 1e6 and round(price, 2) == price:
        return True
    return math.isclose(price, round_price(price), rel_tol=0.0, abs_tol=1e-9)


def fmt_price(price: float) -> str:
    """A price as text at its valid precision.

    >>> fmt_price(1234.5), fmt_price(0.1235)
    ('$1,234.50', '$0.1235')
    """
    return f"${price:,.2f}" if price >= 1.0 else f"${price:.4f}"


__all__ = ["ceil_price", "floor_price", "fmt_price", "is_valid_increment", "round_price", "tick_size"]
