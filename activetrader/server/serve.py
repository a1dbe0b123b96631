"""``activetrader serve``: the venue in the foreground, until Ctrl-C (SIGINT) or SIGTERM.

The keys the venue accepts come from ``--key-id``/``--secret-key`` or from the environment
variables alpaca-py scripts already use, ``APCA_API_KEY_ID`` and ``APCA_API_SECRET_KEY``
(pick any values: they are this venue's own). They are shown masked, never in full.
"""

from __future__ import annotations

import os
import socket
from typing import TextIO

from .sandbox import _urls, _uvicorn_config, build_venue
from .venue import _mask, parse_clock


class ServeError(ValueError):
    """A bad ``serve`` option (the CLI prints it as one line)."""


def load_market(spec: str | None):
    """``None``/``"sim"``: the embedded default; else a folder of CSV/Parquet bars (HistoricalMarket)."""
    if spec in (None, "sim"):
        return None
    from pathlib import Path

    from ..market import HistoricalMarket

    path = Path(spec)
    if not path.is_dir():
        raise ServeError(f"--market {spec}: not 'sim' and not a folder of CSV/Parquet files")
    try:
        return HistoricalMarket.from_folder(path)
    except ValueError as e:
        raise ServeError(f"--market {spec}: {e}") from None


def serve(*, host: str = "127.0.0.1", port: int = 8000, market: str | None = None, cash: float = 100_000,
          clock: str = "manual", state: str | None = None, start: str | None = None, key_id: str | None = None,
          secret_key: str | None = None, out: TextIO) -> int:
    """Run the venue until interrupted; returns the exit status (0 after a clean stop)."""
    import uvicorn

    from .app import create_app

    key_id = key_id or os.environ.get("APCA_API_KEY_ID")
    secret_key = secret_key or os.environ.get("APCA_API_SECRET_KEY")
    if not key_id or not secret_key:
        raise ServeError("no keys: set APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment (any values "
                         "you choose; clients send the same), or pass --key-id and --secret-key")
    try:
        parse_clock(clock)
    except ValueError as e:
        raise ServeError(f"--clock: {e}") from None
    if not (cash >= 0):
        raise ServeError(f"--cash {cash:g}: must be >= 0")
    if start is not None:
        from ..market.sessions import to_timestamp

        try:
            start = to_timestamp(start)
        except (ValueError, TypeError):
            raise ServeError(f"--start {start!r}: not a timestamp (e.g. 2024-08-27T09:00-04:00)") from None
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(2048)  # connections wait in the backlog until uvicorn serves them
    port = sock.getsockname()[1]
    try:
        venue = build_venue(load_market(market), cash, start, key_id=key_id, secret_key=secret_key, clock=clock,
                            state=state)
    except Exception:
        sock.close()
        raise
    base, data_stream, trading_stream = _urls(host, port)
    now = venue.now.tz_convert("America/New_York")
    lines = [
        f"activetrader venue: an Alpaca-compatible paper API on {base}",
        f"  account   {'embedded default scenario' if market in (None, 'sim') else market}, "
        f"simulated time {now:%Y-%m-%d %H:%M} ET, clock {clock}" + (f", state in {state}" if state else ""),
        f"  keys      APCA-API-KEY-ID {_mask(key_id)}, APCA-API-SECRET-KEY hidden "
        "(clients send the values of APCA_API_KEY_ID / APCA_API_SECRET_KEY)",
        f"  trading   TradingClient(key, secret, url_override=\"{base}\")",
        f"  data      StockHistoricalDataClient(key, secret, url_override=\"{base}\")",
        f"  streams   StockDataStream(..., url_override=\"{data_stream}\"), "
        f"TradingStream(..., url_override=\"{trading_stream}\")",
        f"  toolkit   export ACTIVETRADER_TRADING_URL={base} ACTIVETRADER_DATA_URL={base}",
        f"  clock     POST {base}/admin/clock {{\"advance_to\": \"<ISO-8601>\"}} (manual clock)",
        "  Ctrl-C stops the venue" + (" (the account is saved)." if state else "."),
    ]
    if host not in ("127.0.0.1", "localhost", "::1"):
        lines.append(f"  note      listening on {host}: other machines can reach this venue (keys still required)")
    print("\n".join(lines), file=out, flush=True)
    server = uvicorn.Server(_uvicorn_config(create_app(venue), host, port))
    _sigterm_as_interrupt()
    venue.start_clock()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the signal it stopped on: a requested, clean stop
        pass
    finally:
        venue.close()
        sock.close()
    print("activetrader venue: stopped", file=out, flush=True)
    return 0


def _sigterm_as_interrupt() -> None:
    """SIGTERM stops the venue like Ctrl-C (uvicorn re-raises it after its graceful shutdown)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
