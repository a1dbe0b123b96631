"""Settings panels: ipywidgets views of a trader's :class:`~activetrader.settings.Settings`.

A panel holds no settings of its own. Changing a widget assigns the value through
``Settings`` (so it is validated); an invalid value shows the error in red in the panel and
the widget goes back to the value still in force. A change made in code (or in another
panel) redraws the panel, because the panel subscribes to the settings.

A panel *is* a widget (an ipywidgets ``VBox``): display it, or put it in any layout
(``HBox([BracketPanel(t), HedgePanel(t)])``, a ``Tab``), in Jupyter, JupyterLab, VS Code and
Voila. Numbers are shown exactly as stored (as
fractions: ``0.05`` is 5%, with the percentage beside the box), so the widget value and the
setting are always the same float. Bounds live only in ``Settings``: the number boxes are
unbounded, so an out-of-range value reaches validation and is explained, not clamped.

>>> from activetrader import Trader
>>> trader = Trader()
>>> panel = BracketPanel(trader)
>>> panel.widgets["bracket.stop_loss_pct"].value = 0.03     # what a user's edit does
>>> trader.settings.bracket.stop_loss_pct
0.03
>>> panel.widgets["bracket.stop_loss_pct"].value = 1.5      # invalid: shown, reverted
>>> panel.error
'bracket.stop_loss_pct = 1.5 is not allowed: must be > 0 and < 1'
>>> panel.widgets["bracket.stop_loss_pct"].value
0.03
>>> trader.settings.bracket.stop_loss_pct = 0.04            # a change in code redraws
>>> panel.widgets["bracket.stop_loss_pct"].value
0.04
>>> panel.close()
"""

from __future__ import annotations

import html
import types
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import Any, Literal, Union, get_args, get_origin

import ipywidgets as W

from ..settings import Settings, SettingsError
from .view import WidgetView

__all__ = ["SettingsPanel", "BracketPanel", "HedgePanel", "RebalancePanel"]

#: path -> (label, tooltip, shown as a percentage too?)
_FIELD_TEXT: dict[str, tuple[str, str, bool]] = {
    "bracket.stop_loss_pct": (
        "Stop loss", "Stop-loss leg of every bracket, as a fraction below the entry price "
        "(0.05 = 5% below). A gap through the stop fills at the worse open.", True),
    "bracket.take_profit_pct": (
        "Take profit", "Take-profit leg of every bracket, as a fraction above the entry price "
        "(0.15 = 15% above).", True),
    "bracket.trailing_stop_pct": (
        "Trailing stop", "Tick 'on' to trail the stop this fraction below the highest price "
        "since entry; off keeps the fixed stop.", True),
    "bracket.time_in_force": (
        "Time in force", "gtc: the legs work until filled or cancelled (Alpaca cancels after "
        "90 days); day: they expire at the close.", False),
    "bracket.near_stop_pct": (
        "Near-stop warning", "Warn when a price is within this fraction of the price above its "
        "stop (also what %positions --near and the stream monitor use).", True),
    "hedge.enabled": ("Hedge enabled", "Buy the inverse ETF when the market looks overbought.", False),
    "hedge.sentiment_symbols": (
        "Sentiment symbols", "Symbols whose RSI measures market sentiment, comma separated "
        "(applied on Enter or when the box loses focus).", False),
    "hedge.overbought": ("Overbought RSI", "A symbol is overbought when its RSI is above "
                         "this.", False),
    "hedge.bearish_ratio": (
        "Bearish ratio", "The market is bearish when at least this fraction of the sentiment "
        "symbols is overbought (0.6 = 3 of 5).", True),
    "hedge.inverse_etf": (
        "Inverse ETF", "SH: -1x S&P 500; SPXS: -3x S&P 500; SQQQ: -3x Nasdaq-100 (the "
        "leveraged ones decay with their daily reset).", False),
    "hedge.max_inverse_allocation": (
        "Max inverse", "Cap on all inverse ETF positions together, as a fraction of the "
        "portfolio.", True),
    "hedge.rsi_period": ("RSI period", "Bars in Wilder's RSI for the sentiment check.", False),
    "rebalance.enabled": ("Trim to cap", "Trim any position above the cap back to it.", False),
    "rebalance.max_position_pct": (
        "Max position", "Cap on any one position, as a fraction of the portfolio; larger "
        "positions are trimmed back to it.", True),
    "entry.position_pct": ("Entry size", "Size of each new entry, as a fraction of the "
                           "portfolio (never above the position cap).", True),
    "entry.max_new_positions": ("Max new entries", "Most new positions opened in one "
                                "iteration.", False),
    "entry.min_cash_reserve_pct": ("Cash reserve", "Cash new entries must leave untouched, "
                                   "as a fraction of the portfolio.", True),
}

_STYLE = {"description_width": "150px"}
_ERROR_COLOR = "#c62828"


def _settings_of(obj: Any) -> Settings:
    settings = getattr(obj, "settings", obj)
    if not isinstance(settings, Settings):
        raise TypeError(f"a panel needs a Trader or an activetrader.Settings, not {type(obj).__name__}")
    return settings


def _pct(value: Any) -> str:
    return "off" if value is None else f"= {value * 100:.6g}%"


def _field_info(path: str) -> Any:
    group, _, name = path.partition(".")
    groups = Settings.model_fields
    if group not in groups or name not in groups[group].annotation.model_fields:
        raise ValueError(f"{path!r} is not a setting (use 'group.field', e.g. 'bracket.stop_loss_pct')")
    return groups[group].annotation.model_fields[name]


class _Control:
    """The widgets of one setting: ``main`` holds the value, ``row`` is what is laid out.

    ``read()`` is the value to assign; ``show(value)`` draws a setting's value. Optional
    numbers (``None`` = off) get a ``switch`` checkbox beside the number.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        label, tip, self.percent = _FIELD_TEXT.get(path, (path.partition(".")[2].replace("_", " "), path, False))
        ann = _field_info(path).annotation
        args = get_args(ann)
        self.optional = get_origin(ann) in (Union, types.UnionType) and type(None) in args
        base = next(a for a in args if a is not type(None)) if self.optional else ann
        common = dict(description=label, tooltip=tip, style=_STYLE)
        self.switch: W.Checkbox | None = None
        self.kind = "number"
        if base is bool:
            self.main: W.ValueWidget = W.Checkbox(indent=True, **common)
            self.kind = "bool"
        elif get_origin(base) is Literal:
            self.main = W.Dropdown(options=get_args(base), **common)
            self.kind = "choice"
        elif base is int:
            self.main = W.IntText(**common)
        elif base is float:
            self.main = W.FloatText(**common)
        else:  # symbol tuples
            self.main = W.Text(continuous_update=False, placeholder="AAPL, MSFT", **common)
            self.kind = "symbols"
        self.main.layout.width = "300px"
        self.main.add_class("activetrader-field")
        self.main.add_class("activetrader-field-" + path.replace(".", "-"))
        parts: list[W.Widget] = [self.main]
        if self.optional:
            self.switch = W.Checkbox(description="on", indent=False, tooltip=tip,
                                     layout=W.Layout(width="60px"))
            self.switch.add_class("activetrader-switch-" + path.replace(".", "-"))
            parts.append(self.switch)
        self.readout = W.HTML(layout=W.Layout(width="90px")) if self.percent else None
        if self.readout is not None:
            parts.append(self.readout)
        self.row = W.HBox(parts) if len(parts) > 1 else self.main
        self.widgets: list[W.Widget] = parts + ([self.row] if self.row is not self.main else [])

    def observe(self, handler: Callable[[dict], None]) -> None:
        self.main.observe(handler, names="value")
        if self.switch is not None:
            self.switch.observe(handler, names="value")

    def read(self) -> Any:
        if self.switch is not None and not self.switch.value:
            return None
        return self.main.value

    def show(self, value: Any) -> None:
        if self.switch is not None:
            self.switch.value = value is not None
            self.main.disabled = value is None
        if value is None:
            pass  # keep the last number in the (disabled) box, ready for switching on
        elif self.kind == "symbols":
            self.main.value = ", ".join(value)
        else:
            self.main.value = value
        if self.readout is not None:
            self.readout.value = _pct(value)


class SettingsPanel(WidgetView):
    """A panel of settings fields (``"group.field"`` paths), bound to one ``Settings``.

    ``settings_or_trader`` is a :class:`~activetrader.Trader` (its ``settings`` are used) or a
    :class:`~activetrader.settings.Settings`. Subclasses set ``fields`` and ``title``; any
    panel can be made ad hoc::

        SettingsPanel(trader, fields=["entry.oversold", "entry.confidence_threshold"], title="Entries")

    The panel is a ``VBox`` (header, one row per field, the error line). Attributes:
    ``widgets`` (path -> the widget holding its value), ``switches`` (path -> the "on" checkbox of an optional number),
    ``error`` (the message of the last rejected value, ``""`` when none) and
    ``error_widget`` (the red ``HTML`` line showing it). ``close()`` stops listening to the
    settings and closes the widgets.
    """

    title = "Settings"
    fields: tuple[str, ...] = ()
    name = "settings"

    def __init__(self, settings_or_trader: Any, *, fields: Iterable[str] | None = None,
                 title: str | None = None) -> None:
        settings = _settings_of(settings_or_trader)  # before any widget exists
        super().__init__(layout=W.Layout(padding="4px 12px 4px 0", min_width="320px"))
        self.settings = settings
        if fields is not None:
            self.fields = tuple(fields)
        if title is not None:
            self.title = title
        self._controls = {path: _Control(path) for path in self.fields}
        self.widgets: dict[str, W.ValueWidget] = {p: c.main for p, c in self._controls.items()}
        self.switches: dict[str, W.Checkbox] = {p: c.switch for p, c in self._controls.items()
                                                if c.switch is not None}
        self.error = ""
        self.error_widget = W.HTML("")
        self.error_widget.add_class("activetrader-error")
        header = W.HTML(f"<b>{html.escape(self.title)}</b>")
        self.children = [header, *(c.row for c in self._controls.values()), self.error_widget]
        self.add_class("activetrader-panel")
        self.add_class(f"activetrader-panel-{self.name}")
        self._own = [header, self.error_widget, *(w for c in self._controls.values() for w in c.widgets)]
        self._syncing = False
        with self._sync():
            for path, control in self._controls.items():
                control.show(self._get(path))
        for path, control in self._controls.items():
            control.observe(lambda change, path=path: self._on_widget(path))
        self._unsubscribe = self.settings.subscribe(self._on_settings)

    # -------------------------------------------------------------- settings access
    def _get(self, path: str) -> Any:
        group, _, name = path.partition(".")
        return getattr(getattr(self.settings, group), name)

    @contextmanager
    def _sync(self):
        """Widget values set inside this block are drawings, not user edits."""
        previous, self._syncing = self._syncing, True
        try:
            yield
        finally:
            self._syncing = previous

    def _redraw(self, path: str) -> None:
        with self._sync():
            self._controls[path].show(self._get(path))

    # -------------------------------------------------------------- events
    def _on_widget(self, path: str) -> None:
        """A user edit: assign through Settings; on an error show it and put the old value back."""
        if self._syncing:
            return
        group, _, name = path.partition(".")
        try:
            setattr(getattr(self.settings, group), name, self._controls[path].read())
        except SettingsError as exc:
            self._set_error(str(exc))
            self._redraw(path)
        else:
            self._set_error("")

    def _on_settings(self, path: str, old: Any, new: Any) -> None:
        """A successful assignment anywhere: redraw what it touched (a field or a whole group)."""
        for mine in self._controls:
            if mine == path or mine.partition(".")[0] == path:
                self._redraw(mine)

    def _set_error(self, message: str) -> None:
        self.error = message
        self.error_widget.value = (
            f'<span style="color:{_ERROR_COLOR}">&#9888; '
            f'{html.escape(message).replace(chr(10), "<br>")}</span>' if message else "")


    def __repr__(self) -> str:
        values = ", ".join(f"{p.partition('.')[2]}={self._get(p)!r}" for p in self.fields)
        return f"{type(self).__name__}({values})"


class BracketPanel(SettingsPanel):
    """The ``bracket`` group: stop loss, take profit, trailing stop, time in force, warning.

    >>> from activetrader import Trader
    >>> panel = BracketPanel(Trader())
    >>> panel.switches["bracket.trailing_stop_pct"].value = True   # trailing stop on
    >>> panel.settings.bracket.trailing_stop_pct == panel.widgets["bracket.trailing_stop_pct"].value
    True
    """

    title = "Bracket orders"
    name = "bracket"
    fields = ("bracket.stop_loss_pct", "bracket.take_profit_pct", "bracket.trailing_stop_pct",
              "bracket.time_in_force", "bracket.near_stop_pct")

    def __init__(self, settings_or_trader: Any) -> None:
        super().__init__(settings_or_trader)
        # a trailing stop that is off still needs a number to switch on with
        trail = self.widgets["bracket.trailing_stop_pct"]
        if self.settings.bracket.trailing_stop_pct is None and not trail.value:
            with self._sync():
                trail.value = self.settings.bracket.stop_loss_pct


class HedgePanel(SettingsPanel):
    """The ``hedge`` group: sentiment symbols and thresholds, the inverse ETF and its cap.

    >>> from activetrader import Trader
    >>> panel = HedgePanel(Trader())
    >>> panel.widgets["hedge.sentiment_symbols"].value = "aapl, msft,nvda"
    >>> panel.settings.hedge.sentiment_symbols
    ('AAPL', 'MSFT', 'NVDA')
    >>> panel.widgets["hedge.sentiment_symbols"].value     # redrawn as stored
    'AAPL, MSFT, NVDA'
    """

    title = "Inverse-ETF hedge"
    name = "hedge"
    fields = ("hedge.enabled", "hedge.sentiment_symbols", "hedge.overbought", "hedge.bearish_ratio",
              "hedge.inverse_etf", "hedge.max_inverse_allocation", "hedge.rsi_period")


class RebalancePanel(SettingsPanel):
    """Position sizing: the ``rebalance`` cap and the ``entry`` size, count and cash reserve.

    >>> from activetrader import Trader
    >>> panel = RebalancePanel(Trader())
    >>> panel.widgets["rebalance.max_position_pct"].value = 0.10
    >>> panel.settings.rebalance.max_position_pct
    0.1
    """

    title = "Rebalancing and sizing"
    name = "rebalance"
    fields = ("rebalance.enabled", "rebalance.max_position_pct", "entry.position_pct",
              "entry.max_new_positions", "entry.min_cash_reserve_pct")
