"""``Sandbox``: the venue on 127.0.0.1 in a background thread, for scripts, notebooks and tests.

>>> from alpaca.trading.client import TradingClient
>>> with Sandbox() as sb:                     # the embedded default: $100,000, ten positions
...     client = TradingClient(sb.key_id, sb.secret_key, url_override=sb.url)
...     len(client.get_all_positions())
10
"""

from __future__ import annotations

import secrets
import threading
import time

import pandas as pd

from .faults import FaultRule, Faults
from .venue import Venue, _mask

#: Paths of the streams below the server's root (alpaca-contract.md §7: alpaca-py's
#: ``url_override`` of a stream is the full URL).
DATA_STREAM_PATH = "/v2/iex"
TRADING_STREAM_PATH = "/stream"


def build_broker(market=None, cash: float = 100_000, start=None):
    """The SimBroker a venue serves.

    No ``market``: the embedded default scenario (``activetrader.scenario``): at its moment with
    its ten legacy positions when neither ``start`` nor a ``cash`` other than $100,000 is given,
    else a flat account with ``cash`` at ``start`` (default: the scenario's moment). With a
    ``market``: a flat account at ``start`` (default: just before the market's first bar).
    """
    from .. import scenario
    from ..broker import SimBroker

    if market is None:
        if start is None and float(cash) == scenario.CASH:
            return scenario.embedded_default()
        return SimBroker(scenario.default_market(), cash=cash, start=start if start is not None else scenario.MOMENT)
    return SimBroker(market, cash=cash, start=start)


class Sandbox:
    """An Alpaca-compatible paper venue served on ``127.0.0.1`` from a background thread.

    Parameters
    ----------
    market:
        A :class:`~activetrader.market.Market` (None: the embedded default scenario).
    cash, start:
        The account's starting cash and the simulated moment it starts at (see :func:`build_broker`).
    key_id, secret_key:
        The keys requests must carry; generated (``secrets``) when not given. Never printed:
        the repr masks them.
    clock:
        ``"manual"`` (default: time moves with :meth:`advance_to`), ``"realtime"``, or a speed
        such as ``60`` (simulated seconds per real second).
    state:
        A SQLite file keeping the account across restarts (None: in memory). An existing file
        is loaded (``cash`` and ``start`` are then ignored).
    host, port:
        Where to listen (default ``127.0.0.1`` and a free port).
    page_size:
        Most items per market-data page (Alpaca's 10,000; smaller makes clients page sooner).

    Attributes: ``url`` (pass as ``url_override`` to ``TradingClient`` and
    ``StockHistoricalDataClient``), ``data_stream_url`` (``StockDataStream``),
    ``trading_stream_url`` (``TradingStream``), ``broker``, ``venue``, ``request_counts``.
    """

    def __init__(self, market=None, cash: float = 100_000, start=None, key_id: str | None = None,
                 secret_key: str | None = None, clock="manual", state=None, *, host: str = "127.0.0.1",
                 port: int = 0, page_size: int = 10_000) -> None:
        from .venue import parse_clock

        parse_clock(clock)  # a bad clock fails here, before anything starts
        self._args = (market, cash, start)
        self.key_id = key_id or "PK" + secrets.token_hex(9).upper()
        self.secret_key = secret_key or secrets.token_urlsafe(30)
        self.clock = clock
        self.state_path = state
        self.host, self._port = host, port
        self.page_size = page_size
        self.venue: Venue | None = None
        self.faults = Faults()
        self._server = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox:
        """Build the venue and serve it; returns when the server accepts connections."""
        if self._thread is not None:
            return self
        import uvicorn

        from .app import create_app

        self.venue = build_venue(*self._args, key_id=self.key_id, secret_key=self.secret_key, clock=self.clock,
                                 state=self.state_path, page_size=self.page_size)
        app = create_app(self.venue, self.faults)
        # log_config=None: uvicorn leaves the host program's logging alone (its loggers propagate).
        config = _uvicorn_config(app, self.host, self._port, log_config=None)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # the host program owns its signals
        self._thread = threading.Thread(target=self._server.run, name="activetrader-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._thread = None
                self.venue.close()
                raise RuntimeError(f"the sandbox could not start on {self.host}:{self._port}")
            time.sleep(0.01)
        self._port = self._server.servers[0].sockets[0].getsockname()[1]
        self.venue.start_clock()
        return self

    def stop(self) -> None:
        """Stop serving and save the state (idempotent)."""
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._thread = None
        self.venue.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ what clients need
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """``url_override`` for ``TradingClient`` and ``StockHistoricalDataClient`` (no ``/v2``)."""
        return _urls(self.host, self._port)[0]

    @property
    def data_stream_url(self) -> str:
        """``url_override`` for ``StockDataStream`` (the full ws URL, as alpaca-py wants it)."""
        return _urls(self.host, self._port)[1]

    @property
    def trading_stream_url(self) -> str:
        """``url_override`` for ``TradingStream``."""
        return _urls(self.host, self._port)[2]

    @property
    def broker(self):
        return self._venue().broker

    @property
    def now(self) -> pd.Timestamp:
        return self._venue().now

    def advance_to(self, timestamp) -> None:
        """Move the simulated clock (manual clock): orders fill, streams send what happened."""
        self._venue().advance_to(timestamp)

    # ------------------------------------------------------------------ for tests
    @property
    def request_counts(self) -> dict[str, int]:
        """Requests received per ``"METHOD /path"`` (admin requests not counted)."""
        return self.faults.snapshot()["requests"]

    def reset_counts(self) -> None:
        self.faults.reset_counts()

    def add_fault(self, **rule) -> None:
        """Add a fault rule (see :mod:`activetrader.server.faults`), e.g.
        ``add_fault(path="/v2/orders", method="POST", status=503, times=2)``."""
        self.faults.add(FaultRule.from_dict(rule))

    def clear_faults(self) -> None:
        self.faults.clear()

    def _venue(self) -> Venue:
        if self.venue is None:
            raise RuntimeError("the sandbox is not started: use `with Sandbox() as sb:` or sb.start()")
        return self.venue

    def __repr__(self) -> str:
        where = self.url if self._thread is not None else "stopped"
        return f"Sandbox({where}, key_id={_mask(self.key_id)}, secret_key=***, clock={self.clock!r})"


def build_venue(market=None, cash: float = 100_000, start=None, *, key_id=None, secret_key=None, clock="manual",
                state=None, page_size: int = 10_000) -> Venue:
    """A :class:`Venue` over :func:`build_broker`, or over the account saved in ``state``."""
    store = None
    broker = None
    config = None
    if state is not None:
        from .state import StateStore

        store = StateStore(state)
        if market is None:
            from .. import scenario

            loaded = store.load(scenario.default_market())
        else:
            loaded = store.load(market)
        if loaded is not None:
            broker, config = loaded
    if broker is None:
        broker = build_broker(market, cash, start)
    venue = Venue(broker, key_id=key_id, secret_key=secret_key, clock=clock, state=store, page_size=page_size)
    if config:
        venue.configurations.update(config)
    if store is not None:
        store.save(venue)
    return venue


def _urls(host: str, port: int) -> tuple[str, str, str]:
    """The ``url_override`` s of a venue on ``host:port``: REST, data stream, trading stream.

    >>> _urls("127.0.0.1", 8000)
    ('http://127.0.0.1:8000', 'ws://127.0.0.1:8000/v2/iex', 'ws://127.0.0.1:8000/stream')
    """
    return f"http://{host}:{port}", f"ws://{host}:{port}{DATA_STREAM_PATH}", f"ws://{host}:{port}{TRADING_STREAM_PATH}"


def _uvicorn_config(app, host: str, port: int, **options):
    """How a venue is served (the Sandbox and ``activetrader serve``): quiet, no lifespan, 5 s to stop."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
                          ws="websockets-sansio" if _has_sansio() else "auto", timeout_graceful_shutdown=5, **options)


def _has_sansio() -> bool:
    """uvicorn's ``websockets-sansio`` implementation avoids the deprecated legacy websockets API."""
    import importlib.util

    return importlib.util.find_spec("uvicorn.protocols.websockets.websockets_sansio_impl") is not None
