"""Alpaca's order-entry rules that are pure arithmetic: price increments, whole shares,
bracket geometry. Each raises the ``APIError`` Alpaca answers with (alpaca-contract.md §2).
"""

from __future__ import annotations

from ..ticks import is_valid_increment, round_price
from .errors import INVALID, UNPROCESSABLE, api_error

_EPS = 1e-9


def is_whole(qty: float) -> bool:
    return abs(qty - round(qty)) < _EPS


def check_price_increment(name: str, price: float | None) -> None:
    """Sub-penny rule: prices >= $1 allow 2 decimals, below $1 allow 4 (D-ORD)."""
    if price is None:
        return
    if price <= 0:
        raise api_error(422, INVALID, f"invalid {name} {price}. must be greater than 0")
    if not is_valid_increment(price):
        raise api_error(
            422, UNPROCESSABLE,
            f"invalid {name} {price}. sub-penny increment does not fulfill minimum pricing criteria",
        )


def check_exit_geometry(side: str, base_price: float, take_profit: float | None, stop_loss: float | None) -> None:
    """Bracket/OCO/OTO exit legs against the base price (D-ORD; F-13049).

    For exits of a long (legs that sell), the stop must be at least a cent below the base
    price and the take-profit at least a cent above; mirrored for legs that buy. The message
    and the ``base_price`` in the body are Alpaca's.
    """
    base = round(base_price, 4)
    if side == "sell":  # legs sell: protecting a long
        if stop_loss is not None and stop_loss > base - 0.01 + _EPS:
            raise api_error(422, UNPROCESSABLE, "stop_loss.stop_price must be <= base_price - 0.01",
                            base_price=f"{base}", stop_price=f"{stop_loss}")
        if take_profit is not None and take_profit < base + 0.01 - _EPS:
            raise api_error(422, UNPROCESSABLE, "take_profit.limit_price must be >= base_price + 0.01",
                            base_price=f"{base}", limit_price=f"{take_profit}")
    else:
        if stop_loss is not None and stop_loss < base + 0.01 - _EPS:
            raise api_error(422, UNPROCESSABLE, "stop_loss.stop_price must be >= base_price + 0.01",
                            base_price=f"{base}", stop_price=f"{stop_loss}")
        if take_profit is not None and take_profit > base - 0.01 + _EPS:
            raise api_error(422, UNPROCESSABLE, "take_profit.limit_price must be <= base_price - 0.01",
                            base_price=f"{base}", limit_price=f"{take_profit}")


def buy_stop_limit(stop: float) -> float:
    """Alpaca turns a buy stop into a stop-limit 4% above the stop (< $50) or 2.5% (>= $50) (D-ORD)."""
    return round_price(stop * (1.04 if stop < 50 else 1.025))
