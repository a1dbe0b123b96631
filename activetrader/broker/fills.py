"""One fill mechanism for every order type: where along a bar's price path a level is touched.

A bar is walked as a path of four points at "path times" 0..3: the open, the two extremes,
then the close. The extreme nearer in direction of the close comes last: a bar that closes
up is walked open → low → high → close, one that closes down open → high → low → close
(the usual convention; which exit wins when both are reachable in one bar is decided by the
broker's ``same_bar`` rule, not by this order).

Stops, take-profits, limits and trailing stops all reduce (:func:`touch`) to :func:`first_touch` of a price
level from the moment the order becomes active: a level already beyond at that moment fills
at that moment's price (a gap fills at the open, never at the stop); otherwise it fills at
the level itself where the path crosses it. A limit therefore never fills worse than its
limit, and a stop gapped through fills at the open.

>>> path = bar_path(100.0, 104.0, 94.0, 95.0)   # closes down: open, high, low, close
>>> path
(100.0, 104.0, 94.0, 95.0)
>>> first_touch(path, 0.0, 100.0, 96.0, DOWN)    # a sell stop at 96 is hit on the way down
(1.8, 96.0)
>>> first_touch(path, 0.0, 100.0, 101.0, DOWN)   # already below 101 at the open: fills at the open
(0.0, 100.0)
"""

from __future__ import annotations

from bisect import bisect_left

from .rules import buy_stop_limit

UP = 1  # the level triggers when price >= level (sell limit, buy stop)
DOWN = -1  # the level triggers when price <= level (buy limit, sell stop)


def bar_path(open_: float, high: float, low: float, close: float) -> tuple[float, float, float, float]:
    """The four-point path of a bar (see module docstring for the order of the extremes)."""
    if close >= open_:
        return (open_, low, high, close)
    return (open_, high, low, close)


def first_touch(
    path: tuple[float, float, float, float], t0: float, p0: float, level: float, direction: int
) -> tuple[float, float] | None:
    """Earliest ``(path_time, price)`` at or after ``t0`` where price reaches ``level``.

    ``p0`` is the price at ``t0`` (the open for an order active from the bar's start, the
    entry's fill price for a bracket leg activated mid-bar). Returns None if the rest of the
    path never reaches the level.
    """
    if (p0 - level) * direction >= 0:
        return (t0, p0)
    k = int(t0)
    t_s, p_s = t0, p0
    while k < 3:
        t_e, p_e = float(k + 1), path[k + 1]
        if (p_e - level) * direction >= 0:
            frac = (level - p_s) / (p_e - p_s)
            return (t_s + (t_e - t_s) * frac, level)
        k += 1
        t_s, p_s = t_e, p_e
    return None


def trailing_stop_level(hwm: float, side: str, trail_percent: float | None, trail_price: float | None) -> float:
    """The live stop of a trailing stop from its mark (alpaca-contract.md §2, D-ORD).

    A sell trails below the high-water mark, a buy above the low-water mark.
    """
    sign = -1.0 if side == "sell" else 1.0
    if trail_percent is not None:
        return hwm * (1.0 + sign * trail_percent / 100.0)
    return hwm + sign * float(trail_price)


def path_time_to_ns(start_ns: int, end_ns: int, t: float) -> int:
    """Map a path time (0..3) to a timestamp inside the bar, for fill times."""
    return int(start_ns + (end_ns - start_ns) * (t / 3.0))


def eligible(od, regular: bool) -> bool:
    """Whether the order ``od`` may trade in a bar (``regular``: a regular-session bar)."""
    # Outside regular hours only DAY limit orders flagged extended_hours trade; stops,
    # trailing stops and every bracket/OCO/OTO leg wait for the session (§3).
    return regular or (od.type == "limit" and od.extended_hours)


def touch(od, path, t0: float, p0: float) -> tuple[float, float] | None:
    """Where along a bar's ``path``, from ``(t0, p0)`` on, the order ``od`` fills: ``(path_time,
    price)``, or None. Elects a stop-limit (or a buy stop) whose stop the path reaches."""
    buy = od.side == "buy"
    if od.type == "market":
        return (t0, p0)
    if od.type == "limit":
        return first_touch(path, t0, p0, od.limit_price, DOWN if buy else UP)
    if od.type == "trailing_stop":
        level = trailing_stop_level(od.hwm, od.side, od.trail_percent, od.trail_price)
        return first_touch(path, t0, p0, level, UP if buy else DOWN)
    if od.type == "stop" and not buy:  # a sell stop is market-on-trigger (§2)
        return first_touch(path, t0, p0, od.stop_price, DOWN)
    # stop_limit, and a buy stop (which Alpaca runs as a stop-limit, §2)
    limit = od.limit_price if od.type == "stop_limit" else buy_stop_limit(od.stop_price)
    if not od.elected:
        hit = first_touch(path, t0, p0, od.stop_price, UP if buy else DOWN)
        if hit is None:
            return None
        od.elected = True  # §11: an elected stop-limit that cannot fill rests as a limit
        t0, p0 = hit
    return first_touch(path, t0, p0, limit, DOWN if buy else UP)


def order_event_bar(od, arr, starts, i: int, limit: int) -> int:
    """The first bar at or after ``i`` (and before ``limit``) in which the order ``od`` can do
    anything, found with array comparisons over the symbol's bar arrays ``arr`` (``starts``:
    the bars' start times); ``i`` for the kinds that must be walked bar by bar."""
    if (od.time_in_force in ("ioc", "fok") or od.elected
            or not (od.type == "limit" or (od.type == "stop" and od.side == "sell"))):
        return i  # market, trailing, stop-limit, buy stop, IOC/FOK: walk bar by bar
    lo = i if od.active_from_ns <= starts[i] else bisect_left(starts, od.active_from_ns, i)
    hi = limit
    if od.expires_ns is not None:  # the engine expires it at the first bar starting at/after
        hi = min(hi, max(i, bisect_left(starts, od.expires_ns, i)))
    if od.legs_expire_ns is not None:  # ...and ends its group when a waiting leg expires first
        hi = min(hi, max(i, bisect_left(starts, od.legs_expire_ns, i)))
    if lo >= hi:
        return hi
    if od.type == "limit" and od.side == "sell":
        hit = arr.high[lo:hi] >= od.limit_price
    else:  # buy limit, sell stop: the path reaches the level iff the low does
        hit = arr.low[lo:hi] <= (od.limit_price if od.type == "limit" else od.stop_price)
    if not eligible(od, False):  # see eligible: only extended-hours limits trade outside the session
        hit &= arr.regular[lo:hi]
    k = int(hit.argmax())
    return lo + k if hit[k] else hi
