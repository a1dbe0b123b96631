"""The ``activetrader`` command: one iteration, a positions check, the settings.

``activetrader iterate`` runs one iteration and prints its narrative (the original guide's
``test_iteration.py``); ``activetrader positions`` lists the positions and which are near
their stop or take-profit (``check_positions_now.py``); ``activetrader settings`` prints the
effective settings as TOML. With no keys and no network everything runs on the embedded
default (simulated market + SimBroker). ``--json`` gives machine-readable output; colour is
used only on a terminal (and never when ``NO_COLOR`` is set).

>>> code = main(["settings"])  # doctest: +ELLIPSIS
# activetrader settings
[bracket]
stop_loss_pct = 0.05
...
>>> code
0
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from .journal import Journal, JournalError
from .settings import Settings, SettingsError

__all__ = ["main"]

_PROG = "activetrader"


# ---------------------------------------------------------------- output helpers
class _Style:
    """ANSI emphasis when writing to a terminal; plain text otherwise."""

    _CODES = {"bold": "1", "red": "31", "green": "32", "yellow": "33", "dim": "2"}

    def __init__(self, stream: TextIO) -> None:
        isatty = getattr(stream, "isatty", None)
        self.on = bool(callable(isatty) and isatty()) and not os.environ.get("NO_COLOR")

    def __call__(self, text: str, *styles: str) -> str:
        if not self.on or not styles:
            return text
        codes = ";".join(self._CODES[s] for s in styles)
        return f"\033[{codes}m{text}\033[0m"


def _paint_narrative(text: str, style: _Style) -> str:
    """Emphasise the headings and outcomes of an iteration narrative (terminal only)."""
    if not style.on:
        return text
    out = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("RUNNING TRADING ITERATION", "STEP ", "WARNINGS", "ORDERS",
                                "Iteration complete")):
            line = style(line, "bold")
        elif stripped.startswith(("FAIL", "error:")):
            line = style(line, "red")
        elif stripped.startswith("OK "):
            line = style(line, "green")
        elif "BEARISH" in line:
            line = style(line, "red", "bold")
        elif line.startswith("=" * 8):
            line = style(line, "dim")
        out.append(line)
    return "\n".join(out)


def _plain(value: Any) -> Any:
    """A JSON-safe Python value (numpy scalars unwrapped, NaN/inf -> None)."""
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is not None and type(value).__name__ in ("NaTType", "NAType"):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _money(x: Any) -> str:
    return "-" if _plain(x) is None else f"${x:,.2f}"


def _pct(x: Any, signed: bool = False) -> str:
    if _plain(x) is None:
        return "-"
    return f"{x:+.1%}" if signed else f"{x:.1%}"


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()
    return [fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]


# ---------------------------------------------------------------- commands
def _load_settings(path: str | None) -> Settings:
    return Settings.load(path) if path else Settings()


def _broker_options(args: argparse.Namespace) -> dict[str, Any]:
    """``Trader`` arguments for ``--broker``/``--live``/``--clean`` (``--clean`` is for the sim)."""
    if args.broker == "alpaca":
        if args.clean:
            raise _UsageError("--clean applies to the embedded default (--broker sim), not to Alpaca")
        return {"broker": "alpaca", "live": args.live}
    if args.live:
        raise _UsageError("--live needs --broker alpaca")
    return {"clean": args.clean}


def _trader(args: argparse.Namespace) -> Any:
    """The Trader the command runs on: the embedded default (or Alpaca) with the chosen settings."""
    from .trader import Trader  # the heavy imports only for the commands that trade

    return Trader(settings=_load_settings(args.settings), **_broker_options(args))


def _cmd_iterate(args: argparse.Namespace, out: TextIO) -> int:
    settings = _load_settings(args.settings)  # a bad file fails before a journal is created
    journal = Journal(args.journal) if args.journal else None
    try:
        from .trader import Trader  # the heavy imports only for the commands that trade

        trader = Trader(settings=settings, journal=journal, **_broker_options(args))
        report = trader.iteration(dry_run=args.dry_run)
    finally:
        if journal is not None:
            journal.close()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=_plain), file=out)
    else:
        print(_paint_narrative(report.narrative, _Style(out)), file=out)
    return 1 if report.errors else 0  # the venue broke the iteration off: the report says where


def _levels(row: dict[str, Any], settings: Settings) -> tuple[Any, Any, bool]:
    """(stop, take-profit, at_broker): the broker's levels, or for an unprotected position
    the levels protection would set from its entry price (the configured percentages)."""
    stop, tp = _plain(row.get("stop")), _plain(row.get("take_profit"))
    if stop is not None or tp is not None or row.get("protected"):
        return stop, tp, True
    entry = _plain(row.get("entry"))
    if not entry:
        return None, None, False
    from .strategy import round_price  # Alpaca's price increments, as the strategy rounds

    b = settings.bracket
    return (round_price(entry * (1 - b.stop_loss_pct)), round_price(entry * (1 + b.take_profit_pct)),
            False)


def _position_rows(trader: Any, near_pct: float) -> list[dict[str, Any]]:
    """Records of ``trader.positions()`` plus the near-stop / near-take-profit checks."""
    frame = trader.positions()
    if "symbol" not in frame.columns:
        frame = frame.reset_index()  # the symbol may be the index
    rows = []
    for raw in frame.to_dict(orient="records"):
        row = {k: _plain(v) for k, v in raw.items()}
        stop, tp, at_broker = _levels(row, trader.settings)
        price = row.get("price")
        to_stop = (price - stop) / price if price and stop is not None else None
        to_tp = (tp - price) / price if price and tp is not None else None
        row.update(stop=stop, take_profit=tp, to_stop_pct=to_stop, to_take_profit_pct=to_tp,
                   levels_at_broker=at_broker,
                   near_stop=to_stop is not None and to_stop * 100 <= near_pct,
                   near_take_profit=to_tp is not None and to_tp * 100 <= near_pct)
        rows.append(row)
    return rows


def _cmd_positions(args: argparse.Namespace, out: TextIO) -> int:
    if args.near is not None and not (math.isfinite(args.near) and args.near >= 0):
        raise _UsageError(f"--near must be a percentage >= 0, not {args.near:g}")
    trader = _trader(args)
    near = trader.settings.bracket.near_stop_pct * 100 if args.near is None else args.near
    rows = _position_rows(trader, near)
    if args.json:
        print(json.dumps(rows, indent=2, default=_plain), file=out)
        return 0

    style = _Style(out)
    when = getattr(trader, "now", None)
    stamp = ""
    if when is not None:
        when = pd.Timestamp(when)
        when = when.tz_localize("UTC") if when.tzinfo is None else when
        stamp = f" at {when.tz_convert('America/New_York'):%Y-%m-%d %H:%M} ET"
    print(style(f"POSITIONS{stamp}: {len(rows)} held", "bold"), file=out)
    if not rows:
        print("  no open positions", file=out)
        return 0
    headers = ["symbol", "qty", "entry", "price", "value", "weight", "P/L", "stop",
               "take-profit", "to stop", "to TP", "protected", "inverse"]
    body = [[str(r["symbol"]), f"{r['qty']:g}", _money(r.get("entry")), _money(r.get("price")),
             _money(r.get("market_value")), _pct(r.get("weight")), _pct(r.get("pl_pct"), True),
             _money(r["stop"]) + ("" if r["levels_at_broker"] else "*"),
             _money(r["take_profit"]) + ("" if r["levels_at_broker"] else "*"),
             _pct(r["to_stop_pct"]), _pct(r["to_take_profit_pct"]),
             "yes" if r.get("protected") else "NO", "yes" if r.get("inverse") else ""]
            for r in rows]
    for line in _table(headers, body, right=set(range(1, 11))):
        print(line, file=out)
    if not all(r["levels_at_broker"] for r in rows):
        print("  * not at the broker: the levels protection would set from the entry price "
              f"(-{trader.settings.bracket.stop_loss_pct:.0%} / "
              f"+{trader.settings.bracket.take_profit_pct:.0%})", file=out)

    print("", file=out)
    unprotected = [r["symbol"] for r in rows if not r.get("protected")]
    if unprotected:
        print(style(f"UNPROTECTED (no broker-side stop): {', '.join(unprotected)}", "yellow"),
              file=out)
    for r in rows:
        sym, price = r["symbol"], r["price"]
        if r["near_stop"]:
            where = (f"{r['to_stop_pct']:.1%} above" if r["to_stop_pct"] >= 0
                     else f"already {-r['to_stop_pct']:.1%} below")
            print(style(f"NEAR STOP {sym}: price {_money(price)} is {where} its stop "
                        f"{_money(r['stop'])}", "red", "bold"), file=out)
        if r["near_take_profit"]:
            where = (f"{r['to_take_profit_pct']:.1%} below" if r["to_take_profit_pct"] >= 0
                     else f"already {-r['to_take_profit_pct']:.1%} above")
            print(style(f"NEAR TAKE-PROFIT {sym}: price {_money(price)} is {where} its "
                        f"take-profit {_money(r['take_profit'])}", "green", "bold"), file=out)
    if not any(r["near_stop"] or r["near_take_profit"] for r in rows):
        print(f"No position within {near:g}% of its stop or take-profit.", file=out)
    return 0


def _cmd_settings(args: argparse.Namespace, out: TextIO) -> int:
    settings = _load_settings(args.settings)
    if args.write is None:
        print(settings.dumps(), end="", file=out)
        return 0
    target = Path(args.write)
    if target.exists() and not args.force:
        raise _UsageError(f"{target} already exists (use --force to overwrite it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    settings.save(target)
    print(f"wrote settings to {target}", file=out)
    return 0


def _cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    from .server.serve import ServeError, serve
    from .server.state import StateError

    try:
        return serve(host=args.host, port=args.port, market=args.market, cash=args.cash, clock=args.clock,
                     state=args.state, start=args.start, key_id=args.key_id, secret_key=args.secret_key, out=out)
    except (ServeError, StateError) as exc:
        raise _UsageError(str(exc)) from None


# ---------------------------------------------------------------- parser and entry point
class _UsageError(Exception):
    """A problem with the command line or its files: one line on stderr, exit status 2."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("activetrader")
    except PackageNotFoundError:
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--settings", metavar="FILE",
                        help="TOML settings file (default: the built-in settings)")
    trading = argparse.ArgumentParser(add_help=False)
    trading.add_argument("--json", action="store_true", help="machine-readable JSON output")
    trading.add_argument("--clean", action="store_true",
                         help="embedded default only: start from a flat $100,000 account")
    trading.add_argument("--broker", choices=("sim", "alpaca"), default="sim",
                         help="sim: the embedded default (default); alpaca: Alpaca paper through "
                         "alpaca-py (keys from APCA_API_KEY_ID/APCA_API_SECRET_KEY or .env; "
                         "ACTIVETRADER_TRADING_URL/ACTIVETRADER_DATA_URL point it elsewhere, e.g. at "
                         "`activetrader serve`)")
    trading.add_argument("--live", action="store_true",
                         help="with --broker alpaca: trade the live account; also needs "
                         'ACTIVETRADER_LIVE="I understand" in the environment')

    parser = argparse.ArgumentParser(
        prog=_PROG, description="Run and inspect the activetrader strategy on the embedded "
        "default: a simulated market and an in-process, Alpaca-faithful broker with $100,000 "
        "(no keys, no network).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    it = sub.add_parser("iterate", parents=[common, trading], help="run one trading iteration",
                        description="Run one iteration (protect, rebalance, hedge, enter) and "
                        "print its narrative. Exits 1 when the broker failed part-way (the "
                        "narrative's errors say what was not done).")
    it.add_argument("--dry-run", action="store_true", help="decide, but submit no orders")
    it.add_argument("--journal", metavar="PATH",
                    help="append the iteration to this SQLite journal (created if missing)")
    it.set_defaults(run=_cmd_iterate)

    pos = sub.add_parser("positions", parents=[common, trading],
                         help="list positions and flag those near their stop or take-profit",
                         description="List positions with their stop and take-profit and flag "
                         "those within --near percent of either.")
    pos.add_argument("--near", metavar="PCT", type=float, default=None,
                     help="flag positions within PCT percent of a level (default: the setting "
                     "bracket.near_stop_pct, 2%%)")
    pos.set_defaults(run=_cmd_positions)

    from .live.cli import add_parser as _add_live  # the live layer sits on top: its own module

    _add_live(sub, common)

    st = sub.add_parser("settings", parents=[common], help="print the effective settings as TOML",
                        description="Print the effective settings as TOML, or write them to a "
                        "file to start from.")
    st.add_argument("--write", metavar="FILE", help="write the settings to FILE instead")
    st.add_argument("--force", action="store_true", help="with --write: overwrite FILE")
    st.set_defaults(run=_cmd_settings)

    sv = sub.add_parser("serve", help="run a local Alpaca-compatible paper venue (offline)",
                        description="Serve Alpaca's Trading and Market Data API (REST and streams) "
                        "from the simulator on HOST:PORT until Ctrl-C: point any alpaca-py script at "
                        "it with url_override. Keys: APCA_API_KEY_ID/APCA_API_SECRET_KEY (any values).")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sv.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    sv.add_argument("--market", default="sim", metavar="sim|FOLDER",
                    help="sim: the embedded default scenario (default); or a folder of CSV/Parquet bars")
    sv.add_argument("--cash", type=float, default=100_000, help="starting cash (default 100000)")
    sv.add_argument("--start", metavar="TIME", help="simulated start time (default: the scenario's moment)")
    sv.add_argument("--clock", default="manual", metavar="manual|realtime|SPEED",
                    help="manual (POST /admin/clock moves it; default), realtime, or a speed "
                    "(60 = one simulated minute per second)")
    sv.add_argument("--state", metavar="FILE", help="keep the account in this SQLite file across restarts")
    sv.add_argument("--key-id", help="the key id clients must send (default: $APCA_API_KEY_ID)")
    sv.add_argument("--secret-key", help="the secret clients must send (default: $APCA_API_SECRET_KEY)")
    sv.set_defaults(run=_cmd_serve)

    from .sweep.command import add_parser as add_sweep_parser

    add_sweep_parser(sub, [common])
    return parser


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"file not found: {exc.filename}"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or exc}: {exc.filename}"
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``activetrader`` command line; returns the exit status.

    Errors in the settings file, a missing file or an unusable journal print one line,
    ``activetrader: error: <message>``, on stderr and return 2 (no traceback).
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors (already printed)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return args.run(args, sys.stdout)
    except BrokenPipeError:  # `activetrader positions | head`: the reader left; stay quiet
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        except (OSError, ValueError, AttributeError):
            pass
        return 1
    except (SettingsError, JournalError, _UsageError, OSError) as exc:
        print(f"{_PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from .alpaca import AlpacaError  # missing or refused keys, live not confirmed: one line

        if not isinstance(exc, AlpacaError):
            raise
        print(f"{_PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
