"""Calls to Alpaca that survive a flaky network: timeouts, bounded retries, no duplicate orders.

:class:`Resilient` wraps anything shaped like alpaca-py's ``TradingClient`` or
``StockHistoricalDataClient`` and has the same methods, so the Trader's code does not change.

- **Every HTTP request has a timeout.** alpaca-py's ``RESTClient`` sends each request with
  ``self._session.request(method, url, headers=..., params/json=..., allow_redirects=False)``
  and no ``timeout``, so a hung server would block for ever. :func:`install_timeouts` mounts a
  :class:`TimeoutHTTPAdapter` on that ``requests.Session``; ``Session.send`` hands the adapter
  ``timeout=None`` and the adapter puts the policy's ``(connect, read)`` timeout in its place.
- **Transient failures are retried** with tenacity: HTTP 429 and 500/502/503/504, timeouts and
  dropped connections; exponential backoff with full jitter (a 429's ``Retry-After`` is
  honoured as a floor), bounded by a number of attempts *and* a total time. alpaca-py's own
  retry (429/504, three times at a fixed 3 s, outside any time bound) is switched off so there
  is one retry policy, not two stacked.
- **A retried submission never creates a second order.** Before a resubmission the order is
  looked up by its ``client_order_id`` (Alpaca's idempotency key, alpaca-contract.md §2); if the
  first attempt reached the venue, that order is returned. A request without a
  ``client_order_id`` gets one, so every submission can be checked this way.
- A replace that carries a ``client_order_id`` is retried the same way. Calls that are neither
  reads nor idempotent (closing a position, a replace without one) are retried only when the
  request cannot have been acted on: a 429 or a failure to connect.
- Errors leave with the API keys scrubbed from the request they carry
  (:func:`scrub_secrets`): a ``requests`` error or alpaca-py's ``APIError`` keeps the
  ``PreparedRequest`` with its ``APCA-API-*`` headers.

Why tenacity (not stamina): the submission needs a step between attempts (the lookup) and a
custom notion of "transient" (alpaca-py's ``APIError`` status codes); tenacity's ``Retrying``
iterator gives both directly, with composable stop conditions (attempts | time), and it is
what stamina itself is built on.

>>> from activetrader.broker import SimBroker
>>> from activetrader.scenario import default_market
>>> client = Resilient(SimBroker(default_market(), start="2024-08-27"), RetryPolicy(attempts=3))
>>> float(client.get_account().cash)
100000.0
>>> client
Resilient(SimBroker, attempts=3, total=30s)
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError
from tenacity import (
    RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_before_delay, wait_random_exponential,
)

__all__ = ["BROKER_ERRORS", "RetryPolicy", "Resilient", "TimeoutHTTPAdapter", "describe_error", "install_timeouts",
           "is_transient", "order_by_client_id", "scrub_secrets", "status_of"]

log = logging.getLogger("activetrader.alpaca")

#: What a broker or data call can raise when the venue or the network fails (after retries).
BROKER_ERRORS = (APIError, requests.RequestException)
#: HTTP statuses worth another try: rate limited, or the server/gateway failed.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
_SECRET_HEADERS = ("APCA-API-KEY-ID", "APCA-API-SECRET-KEY", "Authorization")
_REDACTED = "[redacted]"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: at most ``attempts`` tries within ``total_seconds``, waiting a random
    time up to ``initial_wait * 2**n`` (capped at ``max_wait``) between them; every request
    times out after ``connect_timeout`` to connect and ``read_timeout`` between bytes.

    >>> RetryPolicy(attempts=0)
    Traceback (most recent call last):
    ...
    ValueError: RetryPolicy.attempts = 0 is not allowed: must be >= 1
    """

    attempts: int = 5
    total_seconds: float = 30.0
    initial_wait: float = 0.5
    max_wait: float = 8.0
    connect_timeout: float = 5.0
    read_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts = {self.attempts} is not allowed: must be >= 1")
        for name in ("total_seconds", "initial_wait", "max_wait", "connect_timeout", "read_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"RetryPolicy.{name} = {getattr(self, name)} is not allowed: must be > 0")

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


# ---------------------------------------------------------------- timeouts
class TimeoutHTTPAdapter(HTTPAdapter):
    """A ``requests`` adapter that gives every request a timeout unless the caller set one."""

    def __init__(self, timeout: tuple[float, float], **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(**kwargs)  # max_retries=0: retrying is the policy's job, with its bounds

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        return super().send(request, stream=stream, timeout=self.timeout if timeout is None else timeout,
                            verify=verify, cert=cert, proxies=proxies)


def install_timeouts(client: Any, policy: RetryPolicy) -> None:
    """Give an alpaca-py REST client request timeouts and turn off its own fixed-interval retry.

    alpaca-py keeps its ``requests.Session`` in ``_session`` and its 429/504 retry count in
    ``_retry`` (alpaca-py 0.44 ``common/rest.py``); the constructor cannot set the count to 0.
    Objects without a session (the in-process SimBroker) are left alone.
    """
    session = getattr(client, "_session", None)
    if not isinstance(session, requests.Session):
        return
    adapter = TimeoutHTTPAdapter(policy.timeout)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if hasattr(client, "_retry"):
        client._retry = 0


# ---------------------------------------------------------------- classification
def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an alpaca-py ``APIError`` (None for other errors)."""
    if isinstance(exc, APIError):
        try:
            return exc.status_code
        except Exception:  # an APIError built without a response
            return None
    return None


def order_by_client_id(client: Any, cid: str) -> Any:
    """``client.get_order_by_client_id(cid)``, or None when the broker answers 404 (no such order)."""
    try:
        return client.get_order_by_client_id(cid)
    except APIError as exc:
        if status_of(exc) == 404:
            return None
        raise


def is_transient(exc: BaseException) -> bool:
    """True for failures another try may cure: 429/5xx, timeouts, dropped connections.

    >>> is_transient(requests.ReadTimeout()), is_transient(ValueError("bad qty"))
    (True, False)
    """
    if isinstance(exc, APIError):
        return status_of(exc) in TRANSIENT_STATUSES
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError))


def _not_acted_on(exc: BaseException) -> bool:
    """True when the venue cannot have acted on the request (safe to repeat anything)."""
    return status_of(exc) == 429 or isinstance(exc, requests.ConnectTimeout) or (
        isinstance(exc, requests.ConnectionError) and _refused(exc))


def _refused(exc: BaseException) -> bool:
    """requests wraps a refused connection as ConnectionError(MaxRetryError(reason=NewConnectionError))."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def describe_error(exc: BaseException) -> str:
    """A short, key-free description: ``HTTP 503 service unavailable`` or ``ReadTimeout``."""
    status = status_of(exc)
    if isinstance(exc, APIError):
        try:
            message = exc.message
        except Exception:
            message = str(exc)[:200]
        return f"HTTP {status} {message}".strip()
    if isinstance(exc, requests.Timeout):
        return type(exc).__name__
    if isinstance(exc, requests.ConnectionError):
        return f"{type(exc).__name__} (connection failed or dropped)"
    return f"{type(exc).__name__}: {exc}"


def scrub_secrets(exc: BaseException) -> BaseException:
    """Redact API-key headers in the requests an exception (and its causes) carry; returns it."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        for holder in (e, getattr(e, "response", None), getattr(e, "_http_error", None)):
            request = getattr(holder, "request", None) if holder is not None else None
            headers = getattr(request, "headers", None)
            if headers is not None:
                for name in _SECRET_HEADERS:
                    if name in headers:
                        headers[name] = _REDACTED
        e = e.__cause__ or e.__context__
    return exc


def _retry_after(exc: BaseException) -> float:
    response = getattr(exc, "response", None) if isinstance(exc, APIError) else None
    try:
        return float(response.headers.get("Retry-After", 0)) if response is not None else 0.0
    except (TypeError, ValueError):  # an HTTP date instead of seconds: fall back to backoff
        return 0.0


# ---------------------------------------------------------------- the wrapper
#: Calls that change nothing, or whose repetition changes nothing more (a cancel already done is
#: refused with 422, which the Trader reads as "already canceled").
_IDEMPOTENT_PREFIXES = ("get_", "cancel_")


class Resilient:
    """``client`` with timeouts and bounded retries on every method; the same methods and results.

    ``fatal`` may turn the error a call ends with into the one to raise instead (e.g. refused keys
    into one clear message, without the original's request attached).
    """

    def __init__(self, client: Any, policy: RetryPolicy | None = None, *,
                 fatal: Callable[[BaseException], BaseException | None] | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        self._client = client
        self.policy = policy or RetryPolicy()
        self._fatal = fatal
        self._sleep = sleep
        #: Retries made so far (for reports and tests).
        self.retries = 0
        install_timeouts(client, self.policy)

    @property
    def client(self) -> Any:
        """The wrapped client."""
        return self._client

    def __getattr__(self, name: str) -> Any:
        if name == "_client":  # not yet set (copy/pickle): no recursion
            raise AttributeError(name)
        attr = getattr(self._client, name)
        if name.startswith("_") or not callable(attr):
            return attr
        safe = is_transient if name.startswith(_IDEMPOTENT_PREFIXES) else _not_acted_on

        def call(*args, **kwargs):
            return self._call(name, safe, lambda: attr(*args, **kwargs))

        call.__name__ = call.__qualname__ = name
        call.__doc__ = attr.__doc__
        return call

    def __dir__(self):
        return sorted(set(super().__dir__()) | {n for n in dir(self._client) if not n.startswith("_")})

    def __repr__(self) -> str:
        p = self.policy
        return f"Resilient({type(self._client).__name__}, attempts={p.attempts}, total={p.total_seconds:g}s)"

    # -- retrying --------------------------------------------------------------------
    def _retrying(self, name: str, retry_on: Callable[[BaseException], bool]) -> Retrying:
        p = self.policy
        jitter = wait_random_exponential(multiplier=p.initial_wait, max=p.max_wait)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return min(max(jitter(state), _retry_after(exc) if exc else 0.0), p.max_wait)

        def before_sleep(state: RetryCallState) -> None:
            self.retries += 1
            exc = state.outcome.exception()
            log.warning("%s failed (%s); retry %d/%d in %.2fs", name, describe_error(exc),
                        state.attempt_number, p.attempts - 1, state.next_action.sleep if state.next_action else 0)

        kwargs = {"sleep": self._sleep} if self._sleep is not None else {}
        return Retrying(stop=stop_after_attempt(p.attempts) | stop_before_delay(p.total_seconds), wait=wait,
                        retry=retry_if_exception(retry_on),
                        before_sleep=before_sleep, reraise=True, **kwargs)

    def _fatal_of(self, exc: BaseException) -> BaseException | None:
        return self._fatal(exc) if self._fatal is not None else None

    def _call(self, name: str, retry_on: Callable[[BaseException], bool], fn: Callable[[], Any],
              before_retry: Callable[[], Any] | None = None) -> Any:
        try:
            for attempt in self._retrying(name, retry_on):
                with attempt:
                    if before_retry is not None and attempt.retry_state.attempt_number > 1:
                        found = before_retry()
                        if found is not None:
                            return found
                    return fn()
        except Exception as exc:
            scrub_secrets(exc)
            replacement = self._fatal_of(exc)
            if replacement is not None:
                raise replacement from None
            raise

    def submit_order(self, order_data):
        """``submit_order`` that can be retried safely: before resubmitting, the order is looked up
        by its ``client_order_id`` and returned if the earlier attempt created it."""
        if getattr(order_data, "client_order_id", None) is None:
            order_data = order_data.model_copy(update={"client_order_id": f"rs-{uuid.uuid4().hex}"})
        cid = order_data.client_order_id
        return self._call("submit_order", is_transient, lambda: self._client.submit_order(order_data),
                          self._lookup(cid, "submit_order"))

    def replace_order_by_id(self, order_id, order_data=None):
        """``replace_order_by_id``; with a ``client_order_id`` on the request it is retried like a
        submission (the replacement is looked up first), else only when it cannot have acted."""
        cid = getattr(order_data, "client_order_id", None)
        call = lambda: self._client.replace_order_by_id(order_id, order_data)  # noqa: E731
        if cid is None:
            return self._call("replace_order_by_id", _not_acted_on, call)
        return self._call("replace_order_by_id", is_transient, call, self._lookup(cid, "replace_order_by_id"))

    def _lookup(self, cid: str, name: str) -> Callable[[], Any]:
        """Find the order an earlier attempt may have created (None when there is none)."""
        def lookup():
            found = order_by_client_id(self._client, cid)
            if found is None:
                return None
            log.warning("%s: order %s was created by an earlier attempt; not sending it again", name, cid)
            return found
        return lookup
