"""Connecting to Alpaca through alpaca-py: keys, endpoints, paper or live, and order listings.

- **Keys** come from ``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY`` in the environment or a
  ``.env`` file in the working directory (never overriding the environment). Missing keys and
  keys the venue refuses (HTTP 401) each give one clear message naming the variables, never the
  values; no repr, log line or error carries a key.
- **Paper by default.** Live trading needs ``live=True`` *and* the confirmation
  ``ACTIVETRADER_LIVE="I understand"`` in the environment; either alone is refused with a
  message saying what is missing.
- **Endpoints** (:class:`AlpacaEndpoints`): ``ACTIVETRADER_TRADING_URL``, ``ACTIVETRADER_DATA_URL``,
  ``ACTIVETRADER_DATA_STREAM_URL`` and ``ACTIVETRADER_TRADING_STREAM_URL`` become alpaca-py's
  ``url_override``\\ s, so every command can point at a local venue (``activetrader serve``).
- **Resilience**: the clients come wrapped in :class:`~activetrader.resilience.Resilient`
  (timeouts, bounded retries, no duplicate orders).
- :func:`list_orders` pages through listings longer than Alpaca's 500-order limit.

>>> AlpacaEndpoints.from_env({"ACTIVETRADER_TRADING_URL": "http://127.0.0.1:8000"})
AlpacaEndpoints(trading_url='http://127.0.0.1:8000', data_url=None, data_stream_url=None, trading_stream_url=None)
>>> check_live(True, environ={})
Traceback (most recent call last):
...
activetrader.alpaca.LiveTradingRefused: live trading refused: live=True also needs the confirmation ACTIVETRADER_LIVE="I understand" in the environment (it is not set); without both, activetrader trades paper
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pandas as pd

from .resilience import Resilient, RetryPolicy, status_of

__all__ = ["AlpacaEndpoints", "AlpacaClient", "AlpacaError", "MissingKeysError", "KeysRejectedError",
           "LiveTradingRefused", "LIVE_CONFIRMATION", "connect", "stream_clients", "check_live", "list_orders"]

#: The environment value that confirms live trading (together with ``live=True``).
LIVE_CONFIRMATION = "I understand"
_LIVE_VAR = "ACTIVETRADER_LIVE"
_KEY_VARS = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY")
#: Alpaca's page limit for ``GET /v2/orders`` (alpaca-contract.md §5).
MAX_ORDERS_PAGE = 500


class AlpacaError(RuntimeError):
    """Alpaca cannot be used as configured (no retry can cure it)."""


class MissingKeysError(AlpacaError):
    """Alpaca keys are not configured."""


class KeysRejectedError(AlpacaError):
    """The venue refused the configured keys (HTTP 401/403)."""


class LiveTradingRefused(AlpacaError):
    """Live trading was asked for without the explicit confirmation (or the reverse)."""


# ---------------------------------------------------------------- endpoints and keys
_ENV = {"trading_url": "ACTIVETRADER_TRADING_URL", "data_url": "ACTIVETRADER_DATA_URL",
        "data_stream_url": "ACTIVETRADER_DATA_STREAM_URL", "trading_stream_url": "ACTIVETRADER_TRADING_STREAM_URL"}


@dataclass(frozen=True)
class AlpacaEndpoints:
    """Where alpaca-py's clients connect; ``None`` keeps alpaca-py's own Alpaca URL.

    ``trading_url`` and ``data_url`` are bases without ``/v2`` (alpaca-py appends it);
    the stream URLs are full websocket URLs (alpaca-contract.md §5, §7).

    >>> class Venue:  # anything with the Sandbox's url attributes
    ...     url, data_stream_url, trading_stream_url = "http://h:1", "ws://h:1/v2/iex", "ws://h:1/stream"
    >>> AlpacaEndpoints.of(Venue()).env()["ACTIVETRADER_DATA_URL"]
    'http://h:1'
    """

    trading_url: str | None = None
    data_url: str | None = None
    data_stream_url: str | None = None
    trading_stream_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AlpacaEndpoints:
        env = os.environ if environ is None else environ
        return cls(**{name: env.get(var) or None for name, var in _ENV.items()})

    @classmethod
    def of(cls, venue: Any) -> AlpacaEndpoints:
        """The endpoints of a local venue (an :class:`activetrader.server.Sandbox`)."""
        return cls(trading_url=venue.url, data_url=venue.url, data_stream_url=venue.data_stream_url,
                   trading_stream_url=venue.trading_stream_url)

    def env(self) -> dict[str, str]:
        """The ``ACTIVETRADER_*_URL`` variables that select these endpoints (for a subprocess)."""
        return {var: getattr(self, name) for name, var in _ENV.items() if getattr(self, name)}


@dataclass(frozen=True)
class _Keys:
    key_id: str = field(repr=False)
    secret_key: str = field(repr=False)

    def __repr__(self) -> str:
        return "_Keys(<hidden>)"


def _load_keys(environ: Mapping[str, str] | None = None) -> _Keys:
    if environ is None:
        from dotenv import find_dotenv, load_dotenv

        load_dotenv(find_dotenv(usecwd=True), override=False)
        environ = os.environ
    key, secret = (environ.get(v) for v in _KEY_VARS)
    missing = [n for n, v in zip(_KEY_VARS, (key, secret), strict=True) if not v]
    if missing:
        raise MissingKeysError(f"Alpaca keys are not set: {', '.join(missing)} (environment or .env file)")
    return _Keys(key, secret)


def check_live(live: bool, *, environ: Mapping[str, str] | None = None) -> str:
    """``"paper"``, or ``"live"`` when ``live=True`` and the confirmation is set; refuses otherwise.

    >>> check_live(False, environ={}), check_live(True, environ={"ACTIVETRADER_LIVE": "I understand"})
    ('paper', 'live')
    """
    env = os.environ if environ is None else environ
    if not live:
        return "paper"
    given = env.get(_LIVE_VAR)
    if given != LIVE_CONFIRMATION:
        state = "it is not set" if given is None else "it is set to something else"
        raise LiveTradingRefused(
            f'live trading refused: live=True also needs the confirmation {_LIVE_VAR}="{LIVE_CONFIRMATION}" '
            f"in the environment ({state}); without both, activetrader trades paper")
    return "live"


def _keys_refused(mode: str, base: str) -> KeysRejectedError:
    return KeysRejectedError(
        f"Alpaca refused the API keys ({mode} at {base}): check {_KEY_VARS[0]} and {_KEY_VARS[1]} "
        "(environment or .env file); paper and live accounts have different keys")


def _auth_failure(mode: str, base: str):
    def fatal(exc: BaseException) -> BaseException | None:
        status = status_of(exc)
        if status == 401:
            return _keys_refused(mode, base)
        if status == 403:  # 403 also means "insufficient buying power" (code 40310000): keep those
            try:
                code = exc.code  # type: ignore[attr-defined]
            except Exception:
                code = None
            if code in (None, 40110000):
                return _keys_refused(mode, base)
        return None
    return fatal


# ---------------------------------------------------------------- the clients
class AlpacaClient(Resilient):
    """An alpaca-py client with retries, timeouts and no keys in its repr; ``now`` is the venue's
    clock (``GET /v2/clock``), so a local venue's simulated time drives the Trader."""

    #: Capability: the broker is across the network (its clock is a request away).
    remote = True

    def __init__(self, client: Any, policy: RetryPolicy | None = None, *, mode: str = "paper") -> None:
        self.mode = mode
        super().__init__(client, policy, fatal=_auth_failure(mode, self._base_of(client)))

    @staticmethod
    def _base_of(client: Any) -> str:
        base = getattr(client, "_base_url", "")
        return str(getattr(base, "value", base))

    @property
    def base_url(self) -> str:
        """The URL requests go to (without ``/v2``)."""
        return self._base_of(self.client)

    @property
    def now(self) -> pd.Timestamp:
        if not hasattr(self.client, "get_clock"):
            raise AttributeError("now: this client has no clock")
        return pd.Timestamp(self.get_clock().timestamp).tz_convert("UTC")

    def __repr__(self) -> str:
        return f"AlpacaClient({type(self.client).__name__}, {self.mode}, {self.base_url})"


def connect(*, live: bool = False, endpoints: AlpacaEndpoints | None = None,
            policy: RetryPolicy | None = None) -> tuple[AlpacaClient, AlpacaClient]:
    """``(trading, data)``: alpaca-py's ``TradingClient`` and ``StockHistoricalDataClient``, paper
    unless live is confirmed (:func:`check_live`), pointed at ``endpoints`` (default: from the
    environment), each wrapped in an :class:`AlpacaClient`. Makes no network call."""
    from alpaca.data.historical import StockHistoricalDataClient
    from alpaca.trading.client import TradingClient

    mode = check_live(live)
    keys = _load_keys()
    ep = endpoints if endpoints is not None else AlpacaEndpoints.from_env()
    trading = TradingClient(keys.key_id, keys.secret_key, paper=mode == "paper", url_override=ep.trading_url)
    data = StockHistoricalDataClient(keys.key_id, keys.secret_key, url_override=ep.data_url)
    return AlpacaClient(trading, policy, mode=mode), AlpacaClient(data, policy, mode=mode)


def stream_clients(*, live: bool = False, endpoints: AlpacaEndpoints | None = None, feed: str = "iex"):
    """``(TradingStream, StockDataStream)`` with the same keys, mode and endpoints as :func:`connect`."""
    from alpaca.data.enums import DataFeed
    from alpaca.data.live import StockDataStream
    from alpaca.trading.stream import TradingStream

    mode = check_live(live)
    keys = _load_keys()
    ep = endpoints if endpoints is not None else AlpacaEndpoints.from_env()
    trading = TradingStream(keys.key_id, keys.secret_key, paper=mode == "paper", url_override=ep.trading_stream_url)
    data = StockDataStream(keys.key_id, keys.secret_key, feed=DataFeed(feed), url_override=ep.data_stream_url)
    return trading, data


# ---------------------------------------------------------------- order listings
def list_orders(broker: Any, request: Any = None) -> list:
    """Every order ``request`` (a ``GetOrdersRequest``) selects, however many: pages of at most
    500 through ``until`` (newest first) or ``after`` (oldest first), de-duplicated by id.

    Alpaca's ``after``/``until`` are exclusive bounds on the submission time (Trading API spec),
    and orders placed in one iteration share a timestamp, so each next page is bounded by the
    previous page's oldest time *plus one microsecond*: the boundary's orders come again and are
    dropped as duplicates instead of being lost. (Whether Alpaca compares ``submitted_at`` or
    ``created_at`` is UNVERIFIED; the later of the two bounds the next page, which is right
    for either.) ``request.limit`` caps the total; without one every order is returned.

    >>> from alpaca.trading.requests import GetOrdersRequest
    >>> from activetrader.scenario import embedded_default
    >>> len(list_orders(embedded_default(), GetOrdersRequest(status="all")))
    10
    """
    from alpaca.trading.requests import GetOrdersRequest

    request = request if request is not None else GetOrdersRequest()
    wanted = request.limit
    ascending = str(getattr(request.direction, "value", request.direction) or "desc") == "asc"
    bound = request.after if ascending else request.until
    seen: dict[str, Any] = {}
    step = timedelta(microseconds=1)
    while True:
        page_request = request.model_copy(update={"limit": MAX_ORDERS_PAGE,
                                                  ("after" if ascending else "until"): bound})
        page = broker.get_orders(page_request)
        fresh = [o for o in page if str(o.id) not in seen]
        for o in fresh:
            seen[str(o.id)] = o
        if len(page) < MAX_ORDERS_PAGE or (wanted is not None and len(seen) >= wanted):
            break
        if not fresh:
            raise AlpacaError(f"cannot page past {len(page)} orders submitted at one moment ({bound}); "
                              "narrow the listing (symbols, side or a time window)")
        times = [(o.submitted_at or o.created_at, o.created_at or o.submitted_at) for o in page]
        bound = (max(min(t) for t in times) - step) if ascending else (min(max(t) for t in times) + step)
    orders = list(seen.values())  # pages arrive in order; repeats at the boundaries are dropped
    return orders[:wanted] if wanted is not None else orders
