"""The order state machine of the simulator, as data (STYLE.md §3).

An order's status changes only through :func:`transition`; a move the table does not list
raises :class:`InvalidTransition` naming the status and the event. Statuses are alpaca-py's
``OrderStatus`` values.

>>> transition("held", "activate")
'new'
>>> transition("filled", "cancel")
Traceback (most recent call last):
...
activetrader.broker.lifecycle.InvalidTransition: an order that is 'filled' cannot 'cancel'
"""

from __future__ import annotations

#: Orders that can still fill or be cancelled.
OPEN_STATUSES = frozenset({"new", "held", "accepted", "pending_new", "partially_filled"})
TERMINAL_STATUSES = frozenset({"filled", "canceled", "expired", "replaced", "rejected"})

_TABLE: dict[tuple[str, str], str] = {
    ("new", "fill"): "filled",
    ("new", "cancel"): "canceled",
    ("new", "expire"): "expired",
    ("new", "replace"): "replaced",
    # Bracket/OTO legs wait in `held` until the entry is completely filled; then the
    # take-profit goes `new` (F-3697, alpaca-contract.md §1).
    ("held", "activate"): "new",
    # ...while the stop-loss usually stays `held` until its stop triggers, so a held leg
    # fills straight from `held` (F-3697).
    ("held", "fill"): "filled",
    ("held", "cancel"): "canceled",
    ("held", "expire"): "expired",
    # Moving a waiting stop leg (replace_order_by_id on the leg) is the documented way to
    # raise a bracket's stop (R-PATCH; F-11938).
    ("held", "replace"): "replaced",
}


class InvalidTransition(RuntimeError):
    """A status change the order lifecycle does not allow (a simulator bug, never user input)."""


def transition(status: str, event: str) -> str:
    try:
        return _TABLE[(status, event)]
    except KeyError:
        raise InvalidTransition(f"an order that is {status!r} cannot {event!r}") from None
