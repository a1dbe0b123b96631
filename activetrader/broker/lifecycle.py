"""The order state machine of the simulator, as data (STYLE.md §3).

An order's status changes only through :func:`transition`; a move the table does not list
raises :class:`InvalidTransition` naming the status and the event. Statuses are alpaca-py's
``OrderStatus`` values.
:func:`gtc_expiry_ns` says when a GTC order ages out (Alpaca's 90-day cancel).

>>> transition("held", "activate")
'new'
>>> transition("filled", "cancel")
Traceback (most recent call last):
...
activetrader.broker.lifecycle.InvalidTransition: an order that is 'filled' cannot 'cancel'
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

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


_NY = ZoneInfo("America/New_York")
_GTC_DAYS, _GTC_JOB = timedelta(days=90), time(16, 15)  # 90 days, then the 4:15pm ET job (§1)


def gtc_expiry_ns(ns: int) -> int:
    """When a GTC order created at ``ns`` (int ns UTC) is auto-cancelled: 16:15 New York time
    (the 4:15pm ET job) on the 90th calendar day after its New York creation date
    (alpaca-contract.md §1), on either side of a DST change. Plain ints and :mod:`zoneinfo`,
    because a submission pays for this on every new moment.

    >>> import pandas as pd
    >>> ns = gtc_expiry_ns(pd.Timestamp("2024-03-04 15:00-05:00").value)
    >>> pd.Timestamp(ns, tz="UTC").tz_convert("America/New_York")
    Timestamp('2024-06-02 16:15:00-0400', tz='America/New_York')
    """
    created = datetime.fromtimestamp(ns // 1_000_000_000, _NY).date()
    return int(datetime.combine(created + _GTC_DAYS, _GTC_JOB, tzinfo=_NY).timestamp()) * 1_000_000_000
