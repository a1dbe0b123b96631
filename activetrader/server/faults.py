"""Fault injection and request counting, for tests of clients against the venue.

A :class:`FaultRule` matches requests by path (a glob such as ``/v2/orders*``, or a regular
expression when it starts with ``^``) and method, and does one thing to them:

* ``status``: answer 429, 500, 502, 503 or 504 with Alpaca's ``{code, message}`` body (the
  request never reaches the broker);
* ``hang``: wait that many seconds, then serve the request normally (a client with a shorter
  timeout sees a timeout, and the order may still be placed, as with a real slow answer);
* ``drop``: close the connection without any answer (the request never reaches the broker).

It applies to the next ``times`` matching requests, or, with ``fraction``, to that share of
them (drawn from a generator seeded by ``seed``, so a test run is repeatable). Rules are set
with ``POST /admin/faults`` and cleared with ``DELETE /admin/faults``.

>>> rule = FaultRule.from_dict({"path": "/v2/orders*", "method": "POST", "status": 503, "times": 1})
>>> rule.matches("POST", "/v2/orders"), rule.matches("GET", "/v2/orders")
(True, False)
>>> rule.take(), rule.take()
(True, False)
"""

from __future__ import annotations

import fnmatch
import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field

_STATUSES = (429, 500, 502, 503, 504)
_KEYS = {"path", "method", "status", "hang", "drop", "times", "fraction", "seed"}


class FaultError(ValueError):
    """A fault rule that cannot be used; the message names the field."""


@dataclass
class FaultRule:
    path: str
    method: str | None = None
    status: int | None = None
    hang: float | None = None
    drop: bool = False
    times: int | None = None
    fraction: float | None = None
    seed: int = 0
    fired: int = 0
    _regex: re.Pattern | None = field(default=None, repr=False)
    _rng: random.Random | None = field(default=None, repr=False)

    @classmethod
    def from_dict(cls, data: dict) -> FaultRule:
        if not isinstance(data, dict):
            raise FaultError("a fault rule is a JSON object")
        unknown = set(data) - _KEYS
        if unknown:
            raise FaultError(f"{sorted(unknown)[0]}: unknown field (known: {', '.join(sorted(_KEYS))})")
        path = data.get("path")
        if not isinstance(path, str) or not path:
            raise FaultError("path: required, a glob (/v2/orders*) or a regex starting with ^")
        method = data.get("method")
        if method is not None and (not isinstance(method, str) or not method.isalpha()):
            raise FaultError(f"method: {method!r} is not an HTTP method")
        status, hang, drop = data.get("status"), data.get("hang"), data.get("drop", False)
        kinds = sum([status is not None, hang is not None, bool(drop)])
        if kinds != 1:
            raise FaultError("exactly one of status, hang or drop is required")
        if status is not None and status not in _STATUSES:
            raise FaultError(f"status: {status!r} is not one of {', '.join(map(str, _STATUSES))}")
        if hang is not None and (isinstance(hang, bool) or not isinstance(hang, (int, float)) or not 0 < hang <= 600):
            raise FaultError(f"hang: {hang!r} must be seconds, > 0 and <= 600")
        if not isinstance(drop, bool):
            raise FaultError(f"drop: {drop!r} is not a boolean")
        times, fraction, seed = data.get("times"), data.get("fraction"), data.get("seed", 0)
        if times is not None and fraction is not None:
            raise FaultError("times and fraction are mutually exclusive")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise FaultError(f"times: {times!r} must be an integer >= 1")
        if fraction is not None and (isinstance(fraction, bool) or not isinstance(fraction, (int, float))
                                     or not 0 < fraction <= 1):
            raise FaultError(f"fraction: {fraction!r} must be > 0 and <= 1")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise FaultError(f"seed: {seed!r} is not an integer")
        if times is None and fraction is None:
            times = 1
        regex = None
        if path.startswith("^"):
            try:
                regex = re.compile(path)
            except re.error as e:
                raise FaultError(f"path: {path!r} is not a valid regular expression ({e})") from None
        return cls(path=path, method=method.upper() if method else None, status=status,
                   hang=float(hang) if hang is not None else None, drop=drop, times=times,
                   fraction=float(fraction) if fraction is not None else None, seed=seed,
                   _regex=regex, _rng=random.Random(seed))

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and method.upper() != self.method:
            return False
        if self._regex is not None:
            return self._regex.search(path) is not None
        return fnmatch.fnmatchcase(path, self.path)

    @property
    def spent(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def take(self) -> bool:
        """Whether this matching request gets the fault (and count it)."""
        if self.spent:
            return False
        if self.fraction is not None and self._rng.random() >= self.fraction:
            return False
        self.fired += 1
        return True

    def to_dict(self) -> dict:
        out = {"path": self.path, "method": self.method, "times": self.times, "fraction": self.fraction,
               "seed": self.seed, "fired": self.fired}
        if self.status is not None:
            out["status"] = self.status
        elif self.hang is not None:
            out["hang"] = self.hang
        else:
            out["drop"] = True
        return out


class Faults:
    """The active fault rules and the per-path request counts (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []
        #: ``"METHOD /path"`` -> number of requests received (admin requests are not counted).
        self.counts: Counter[str] = Counter()

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self.rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def pick(self, method: str, path: str) -> FaultRule | None:
        """Count the request and return the first rule that fires on it, if any."""
        with self._lock:
            self.counts[f"{method} {path}"] += 1
            for rule in self.rules:
                if rule.matches(method, path) and rule.take():
                    if rule.spent:
                        self.rules.remove(rule)
                    return rule
        return None

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()

    def snapshot(self) -> dict:
        with self._lock:
            return {"requests": dict(self.counts), "faults": [r.to_dict() for r in self.rules]}
