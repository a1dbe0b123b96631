"""IPython magics: ``%trade_iteration``, ``%positions``, ``%trader_settings``, ``%trader_status``,
``%trader_run`` and ``%trader_stop``.

Load them with ``%load_ext activetrader``. Each magic is thin: it parses its line, finds the
trader, calls one :class:`~activetrader.Trader` method and returns the result, which Jupyter
renders richly when it is the cell's value (``r = %trade_iteration`` stores it instead, like
any assignment). A magic can do nothing that plain Python cannot::

    %trade_iteration --dry-run        # trader.iteration(dry_run=True)
    %positions --near 2               # trader.positions(), rows within 2% of a level
    %positions --near                 # ... within settings.bracket.near_stop_pct
    %trader_settings bracket.stop_loss_pct=0.03 hedge.sentiment_symbols=AAPL,MSFT
    %trader_status                    # clock, cash, equity, counts
    %trader_run --every 1h --speed 3600   # trader.run(): the live loop, in the background
    %trader_stop                      # trader.stop()

The trader is the variable named on the line (it must exist), or else ``trader``: when no
name is given and there is no ``trader``, the embedded default ``Trader()`` (simulated
market, no keys) is created once and stored as ``trader``. Bad input (an unknown variable, a variable that is not a Trader, an invalid
setting, an unknown option) raises :class:`~IPython.core.error.UsageError`, which Jupyter
shows as one message without a traceback.
"""

from __future__ import annotations

import ast
import difflib
import html
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..settings import Settings, SettingsError
from ..trader import Trader

__all__ = ["ActiveTraderMagics", "TraderStatus", "load_ipython_extension"]

_DEFAULT_NAME = "trader"
_VAR_HELP = "name of the Trader variable (default: trader; created if missing)"


def load_ipython_extension(ipython: Any) -> None:
    """Register :class:`ActiveTraderMagics` (what ``%load_ext activetrader`` calls)."""
    ipython.register_magics(ActiveTraderMagics)


@dataclass(frozen=True, repr=False)
class TraderStatus:
    """What ``%trader_status`` shows: the broker's clock, the account and the counts.

    ``open_orders`` counts live orders including bracket and OCO legs; ``market_open`` is
    ``None`` when the broker has no clock.

    >>> s = TraderStatus(now=pd.Timestamp("2024-08-27 13:00", tz="UTC"), mode="sim",
    ...                  market_open=False, cash=28334.67, equity=100460.36, positions=10,
    ...                  open_orders=0)
    >>> s
    Trader (sim) at 2024-08-27 09:00 ET, market closed
      cash $28,334.67   equity $100,460.36   positions 10   open orders 0
    """

    now: pd.Timestamp
    mode: str
    market_open: bool | None
    cash: float
    equity: float
    positions: int
    open_orders: int

    def _market(self) -> str:
        return {True: "market open", False: "market closed", None: "market hours unknown"}[self.market_open]

    def _when(self) -> str:
        return f"{pd.Timestamp(self.now).tz_convert('America/New_York'):%Y-%m-%d %H:%M} ET"

    def __repr__(self) -> str:
        return (f"Trader ({self.mode}) at {self._when()}, {self._market()}\n"
                f"  cash ${self.cash:,.2f}   equity ${self.equity:,.2f}   "
                f"positions {self.positions}   open orders {self.open_orders}")

    def _repr_html_(self) -> str:
        rows = (("time", self._when()), ("market", self._market()), ("cash", f"${self.cash:,.2f}"),
                ("equity", f"${self.equity:,.2f}"), ("positions", str(self.positions)),
                ("open orders (incl. legs)", str(self.open_orders)))
        body = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{html.escape(v)}</td></tr>"
                       for k, v in rows)
        return f"<table><caption>Trader ({html.escape(self.mode)})</caption>{body}</table>"


@magics_class
class ActiveTraderMagics(Magics):
    """The activetrader line magics (see the module docstring)."""

    # -- %trade_iteration ------------------------------------------------------------------
    @line_magic
    @magic_arguments()
    @argument("trader_var", nargs="?", default=None, help=_VAR_HELP)
    @argument("--dry-run", action="store_true", help="decide, but submit no orders")
    def trade_iteration(self, line: str = ""):
        """Run one trading iteration and return its IterationReport.

        Protect, rebalance, hedge, enter (``trader.iteration()``). The report renders as
        HTML; ``r = %trade_iteration`` keeps it (``r.intents``, ``r.outcomes``, ``print(r)``).
        """
        args = parse_argstring(self.trade_iteration, line)
        return self._trader(args.trader_var).iteration(dry_run=args.dry_run)

    # -- %positions ------------------------------------------------------------------------
    @line_magic
    @magic_arguments()
    @argument("trader_var", nargs="?", default=None, help=_VAR_HELP)
    @argument("--near", metavar="PCT", type=float, nargs="?", default=None, const=-0.0,
              help="only positions within PCT percent of their stop or take-profit "
                   "(--near alone: settings.bracket.near_stop_pct)")
    def positions(self, line: str = ""):
        """Return the positions DataFrame (``trader.positions()``).

        One row per symbol: qty, entry, price, market value, weight, P/L, the broker-side
        stop and take-profit, the distance to each (fractions of the price), protected?,
        inverse?. With ``--near PCT`` only rows within PCT percent of a level are kept;
        ``--near`` alone uses ``settings.bracket.near_stop_pct`` (the one near-stop threshold).
        """
        args = parse_argstring(self.positions, line)
        near = args.near
        if near is not None and near == 0 and math.copysign(1, near) < 0:  # --near without a value
            near = self._trader(args.trader_var).settings.bracket.near_stop_pct * 100
        if near is not None and not (math.isfinite(near) and near >= 0):
            raise UsageError(f"--near must be a percentage >= 0, not {near:g}")
        frame = self._trader(args.trader_var).positions()
        if near is None:
            return frame
        limit = near / 100
        close = (frame["to_stop_pct"].astype(float) <= limit) | (
            frame["to_take_profit_pct"].astype(float) <= limit)
        return frame[close.fillna(False)]

    # -- %trader_settings ------------------------------------------------------------------
    @line_magic
    @magic_arguments()
    @argument("items", nargs="*", metavar="[trader_var] [group.field=value ...]",
              help="a trader variable, then assignments such as bracket.stop_loss_pct=0.03, "
                   "hedge.enabled=false, hedge.sentiment_symbols=AAPL,MSFT or "
                   "bracket.trailing_stop_pct=none")
    def trader_settings(self, line: str = ""):
        """Show the trader's Settings, or assign values through their validation.

        Values are read as Python literals, ``true``/``false``, ``none``, comma lists
        (symbols) or plain text. All assignments are checked first: if one is invalid,
        none is applied and the message names the field, the value and what is allowed.
        """
        items = parse_argstring(self.trader_settings, line).items
        name = None
        if items and "=" not in items[0]:
            name, items = items[0], items[1:]
        trader = self._trader(name)
        assignments = [_split_assignment(item) for item in items]
        if assignments:
            trial = trader.settings.copy()  # all or nothing: try them on a copy first
            for path, value in assignments:
                _assign(trial, path, value)
            for path, value in assignments:
                old = getattr(getattr(trader.settings, path[0]), path[1])
                _assign(trader.settings, path, value)
                new = getattr(getattr(trader.settings, path[0]), path[1])
                print(f"{'.'.join(path)}: {old!r} -> {new!r}")
        return trader.settings

    # -- %trader_status --------------------------------------------------------------------
    @line_magic
    @magic_arguments()
    @argument("trader_var", nargs="?", default=None, help=_VAR_HELP)
    def trader_status(self, line: str = ""):
        """Return a TraderStatus: time, market open?, cash, equity, positions, open orders."""
        trader = self._trader(parse_argstring(self.trader_status, line).trader_var)
        snap = trader.snapshot(with_bars=False)
        clock = getattr(trader.broker, "get_clock", None)
        return TraderStatus(now=snap.now, mode=trader.mode,
                            market_open=bool(clock().is_open) if clock is not None else None,
                            cash=snap.account.cash, equity=snap.account.equity,
                            positions=len(snap.positions), open_orders=len(snap.orders))

    # -- %trader_run / %trader_stop ---------------------------------------------------------
    @line_magic
    @magic_arguments()
    @argument("trader_var", nargs="?", default=None, help=_VAR_HELP)
    @argument("--every", metavar="DURATION", default=None,
              help="time between iterations, like 1h or 15min (default: settings.schedule.every)")
    @argument("--speed", metavar="N", type=float, default=None,
              help="simulated broker: N simulated seconds per real second (default 3600)")
    @argument("--iterations", metavar="N", type=int, default=None, help="stop after N iterations")
    @argument("--stream", action="store_true", help="also react to streamed prices and order updates")
    def trader_run(self, line: str = ""):
        """Start the live loop in the background and return its handle (``trader.run()``).

        The kernel stays usable while it runs; the handle shows status, iterations, the last
        report and the next run time. ``%trader_stop`` ends it after the current iteration.
        """
        args = parse_argstring(self.trader_run, line)
        trader = self._trader(args.trader_var)
        try:
            return trader.run(args.every, speed=args.speed, iterations=args.iterations, stream=args.stream)
        except (ValueError, RuntimeError, SettingsError) as exc:
            raise UsageError(str(exc).splitlines()[-1]) from None

    @line_magic
    @magic_arguments()
    @argument("trader_var", nargs="?", default=None, help=_VAR_HELP)
    def trader_stop(self, line: str = ""):
        """Stop the live loop after its current iteration (``trader.stop()``); returns its handle."""
        trader = self._trader(parse_argstring(self.trader_stop, line).trader_var)
        handle = trader.stop()
        if handle is None:
            raise UsageError("this trader is not running (start it with %trader_run)")
        return handle

    # -- the trader ------------------------------------------------------------------------
    def _trader(self, name: str | None) -> Trader:
        """The Trader named ``name`` in the user namespace; without a name, ``trader``,
        created (once) as the embedded default when there is none."""
        ns = self.shell.user_ns
        if name is None:
            name = _DEFAULT_NAME
            if name not in ns:
                ns[name] = Trader()
                print(f"activetrader: no `{name}` variable, so created `{name} = Trader()` "
                      "(the embedded simulator: simulated market, no keys).")
        elif not name.isidentifier():
            raise UsageError(f"{name!r} is not a variable name")
        elif name not in ns:
            hint = difflib.get_close_matches(name, [k for k, v in ns.items() if isinstance(v, Trader)], n=1)
            raise UsageError(f"no variable named {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else
                             "; create one with `trader = Trader()`"))
        obj = ns[name]
        if not isinstance(obj, Trader):
            raise UsageError(f"{name!r} is of type {type(obj).__name__}, not an activetrader.Trader")
        return obj


# ---------------------------------------------------------------- settings assignments
def _split_assignment(item: str) -> tuple[tuple[str, str], Any]:
    """``"bracket.stop_loss_pct=0.03"`` -> ``(("bracket", "stop_loss_pct"), 0.03)``."""
    key, sep, text = item.partition("=")
    parts = tuple(p.strip() for p in key.split("."))
    if not sep or len(parts) != 2 or not all(parts):
        raise UsageError(f"expected group.field=value (like bracket.stop_loss_pct=0.03), not {item!r}")
    return parts, _parse_value(text)


def _parse_value(text: str) -> Any:
    """A setting value typed on a magic line.

    >>> [_parse_value(t) for t in ("0.03", "14", "true", "False", "none", "'SQQQ'", "AAPL,MSFT", "1h")]
    [0.03, 14, True, False, None, 'SQQQ', ['AAPL', 'MSFT'], '1h']
    """
    text = text.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null", "off"):
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        value = text
    if isinstance(value, str) and "," in value:
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value) if isinstance(value, tuple) else value


def _assign(settings: Settings, path: tuple[str, str], value: Any) -> None:
    group_name, field = path
    groups = type(settings).model_fields
    if group_name not in groups:
        close = difflib.get_close_matches(group_name, list(groups), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "groups: " + ", ".join(groups)
        raise UsageError(f"unknown settings group {group_name!r}: {hint}")
    try:
        setattr(getattr(settings, group_name), field, value)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
