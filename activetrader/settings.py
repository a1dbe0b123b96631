"""Settings: the one validated source of truth for every threshold of the strategy.

Groups: ``bracket``, ``hedge``, ``rebalance``, ``entry`` and ``schedule``. Every value is
checked on construction, on assignment and on loading a file; a bad value raises
:class:`SettingsError`, which names the field, the value and the allowed range and leaves
the old value in place. Widgets, magics, the CLI and code all go through one ``Settings``
and can :meth:`Settings.subscribe` to its changes.

>>> s = Settings()
>>> s.bracket.stop_loss_pct
0.05
>>> s.bracket.stop_loss_pct = 1.5
Traceback (most recent call last):
...
activetrader.settings.SettingsError: bracket.stop_loss_pct = 1.5 is not allowed: must be > 0 and < 1
>>> s.bracket.stop_loss_pct
0.05
>>> s.schedule.every = "15min"
>>> s.schedule.interval
datetime.timedelta(seconds=900)
"""

from __future__ import annotations

import difflib
import html
import os
import re
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

import tomli_w
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      PrivateAttr, ValidationError, model_validator)
from pydantic_core import PydanticCustomError

__all__ = ["Settings", "BracketSettings", "HedgeSettings", "RebalanceSettings",
           "EntrySettings", "ScheduleSettings", "SettingsError"]

_Callback = Callable[[str, Any, Any], None]


class SettingsError(ValueError):
    """An invalid or unknown setting.

    ``field`` is the dotted path (``"bracket.stop_loss_pct"``), ``value`` the rejected value
    and ``allowed`` the human description of what is allowed; ``problems`` lists
    ``(field, value, allowed)`` for every problem when several were found at once.
    """

    def __init__(self, message: str, *, field: str | None = None, value: Any = None,
                 allowed: str | None = None, problems: tuple = ()) -> None:
        super().__init__(message)
        self.field, self.value, self.allowed = field, value, allowed
        self.problems = problems or ((field, value, allowed),)
        self._parts: list[tuple] = [(*p, False) for p in self.problems]


# ---------------------------------------------------------------- values and validators
_SYMBOL = re.compile(r"[A-Z][A-Z.\-]{0,9}")
_UNIT_SECONDS = {**dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
                 **dict.fromkeys(("m", "t", "min", "mins", "minute", "minutes"), 60),
                 **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
                 **dict.fromkeys(("d", "day", "days"), 86400),
                 **dict.fromkeys(("w", "week", "weeks"), 604800)}
_DURATION_HINT = "must be a duration of at least 1 minute, like '15min', '1h' or '1d'"


def _parse_duration(text: str) -> timedelta:
    """``"15min"`` -> 15 minutes; parts may be combined (``"1h30min"``)."""
    s = text.strip().lower()
    if not re.fullmatch(r"(?:\d+(?:\.\d+)?\s*[a-z]+\s*)+", s):
        raise ValueError(_DURATION_HINT)
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", s):
        if unit not in _UNIT_SECONDS:
            raise ValueError(f"unknown unit {unit!r}: {_DURATION_HINT}")
        total += float(number) * _UNIT_SECONDS[unit]
    return timedelta(seconds=total)


def _duration_in(value: Any) -> str:
    if isinstance(value, timedelta):
        secs = int(value.total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if secs and secs % size == 0:
                return f"{secs // size}{unit}"
        return f"{secs}s"
    if not isinstance(value, str):
        raise ValueError(_DURATION_HINT)
    if _parse_duration(value) < timedelta(minutes=1):
        raise ValueError(_DURATION_HINT)
    return value.strip()


def _symbols_in(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, (list, tuple)):
        raise ValueError("must be a list of symbols like ['AAPL', 'MSFT']")
    out: list[str] = []
    for item in value:
        sym = item.strip().upper() if isinstance(item, str) else item
        if not isinstance(sym, str) or not _SYMBOL.fullmatch(sym):
            raise ValueError(f"symbols must be 1-10 characters of A-Z, '.' or '-' ({item!r} is not)")
        if sym in out:
            raise ValueError(f"symbols must not repeat ({sym!r} is listed twice)")
        out.append(sym)
    return tuple(out)


def _non_empty(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("must list at least one symbol")
    return value


_Symbols = Annotated[tuple[str, ...], BeforeValidator(_symbols_in)]
_Duration = Annotated[str, BeforeValidator(_duration_in)]


def _field(default: Any, **bounds: float) -> Any:
    """A strict number field (no bools, no strings) with its allowed range."""
    return Field(default, strict=True, **bounds)


# ---------------------------------------------------------------- error translation
_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def _describe(info: Any, kind: str) -> str:
    """Human text for what a field allows, built from its declared type and bounds."""
    ann = info.annotation
    if get_origin(ann) is Literal:
        return "must be one of " + ", ".join(repr(a) for a in get_args(ann))
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return f"must be a {ann.__name__} or a table of its settings"
    if ann is bool:
        return "must be true or false"
    optional = type(None) in get_args(ann)
    base = next((a for a in get_args(ann) if a is not type(None)), ann) if optional else ann
    bounds = " and ".join(f"{op} {getattr(m, attr):g}" for m in info.metadata
                          for attr, op in _BOUNDS if getattr(m, attr, None) is not None)
    noun = {int: "a whole number", float: "a number"}.get(base, "valid")
    if kind.startswith(("greater_than", "less_than")) and bounds:
        text = f"must be {bounds}"
    else:
        text = f"must be {noun}" + (f" {bounds}" if bounds else "")
    return text + (", or None (off)" if optional else "")


def _unknown(path: str, value: Any, known: Any) -> tuple:
    """A problem tuple for an unknown key, with a difflib "did you mean" hint."""
    close = difflib.get_close_matches(path.rsplit(".", 1)[-1], list(known), n=1)
    allowed = f"did you mean {close[0]!r}?" if close else "known: " + ", ".join(known)
    return (path, value, allowed, True)


def _error(parts: list[tuple], source: str | None = None) -> SettingsError:
    """One SettingsError from (path, value, allowed, is_unknown_key) problems."""
    lines = []
    for path, value, allowed, unknown in parts:
        where = f" in {source}" if source else ""
        lines.append(f"unknown setting {path!r}{where}: {allowed}" if unknown else
                     f"{path} = {value!r} is not allowed: {allowed}" + (f" (in {source})" if source else ""))
    field, value, allowed, _ = parts[0]
    err = SettingsError("\n".join(lines), field=field, value=value, allowed=allowed,
                        problems=tuple(p[:3] for p in parts))
    err._parts = parts
    return err


def _translate(exc: ValidationError, model: type[BaseModel], prefix: tuple[str, ...], *,
               assigned: tuple[str, Any] | None = None, source: str | None = None) -> SettingsError:
    """Turn pydantic's ValidationError into one SettingsError naming path, value and range."""
    parts: list[tuple] = []
    for err in exc.errors():
        ctx, value = err.get("ctx") or {}, err["input"]
        if isinstance(ctx.get("error"), SettingsError):  # raised by a nested model's __init__
            parts.extend(ctx["error"]._parts)
            continue
        names, current, info = list(prefix), model, None
        for part in err["loc"]:
            if not isinstance(part, str) or current is None:
                break
            if part not in current.model_fields:  # extra_forbidden: an unknown key
                parts.append(_unknown(".".join((*names, part)), value, current.model_fields))
                break
            info, names = current.model_fields[part], [*names, part]
            ann = info.annotation
            current = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        else:
            if not err["loc"] and assigned:  # a cross-field rule broken by an assignment
                names, value = [*names, assigned[0]], assigned[1]
            elif "field" in ctx:
                names, value = [*names, ctx["field"]], ctx["value"]
            if "allowed" in ctx:
                allowed = ctx["allowed"]
            elif err["type"] == "value_error":
                allowed = str(ctx["error"])
            elif info is not None:
                allowed = _describe(info, err["type"])
            else:
                allowed = err["msg"]
            parts.append((".".join(names) or "settings", value, allowed, False))
    return _error(parts, source)


# ---------------------------------------------------------------- models
class _Model(BaseModel):
    """Shared behaviour: SettingsError on bad input, rollback and notification on assignment."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid", allow_inf_nan=False)
    _group: ClassVar[str] = ""

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _translate(exc, type(self), self._prefix()) from None

    @classmethod
    def _prefix(cls) -> tuple[str, ...]:
        return (cls._group,) if cls._group else ()

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            return super().__setattr__(name, value)
        fields = type(self).model_fields
        if name not in fields:
            raise _error([_unknown(".".join((*self._prefix(), name)), value, fields)])
        old = self.__dict__[name]
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            self.__dict__[name] = old  # a failed model-level rule must not leave the new value
            raise _translate(exc, type(self), self._prefix(), assigned=(name, value)) from None
        self._changed(name, old, self._adopt(name, old))

    def _adopt(self, name: str, previous: Any) -> Any:
        return self.__dict__[name]

    def _changed(self, name: str, old: Any, new: Any) -> None:
        raise NotImplementedError

    def copy(self) -> Any:  # type: ignore[override]
        """An independent deep copy (subscribers are not copied).

        Every field holds an immutable value (numbers, strings, tuples) or a group, so a
        shallow pydantic copy whose groups are copied in turn is deep; the values were validated
        already. (Strategy.decide copies the settings every iteration: this is ~100x faster
        than re-validating a dump, issue 7.)
        """
        cls = type(self)
        new = cls.__new__(cls)
        put = object.__setattr__  # what BaseModel.__copy__ does, minus its generic checks
        put(new, "__dict__", dict(self.__dict__))
        put(new, "__pydantic_fields_set__", set(self.__pydantic_fields_set__))
        put(new, "__pydantic_extra__", None)
        put(new, "__pydantic_private__", dict(self.__pydantic_private__ or {}))
        new._fresh()
        return new

    def _fresh(self) -> None:
        """Drop what a copy must not share (subscribers, change routing)."""

    __copy__ = copy

    def __deepcopy__(self, memo: dict | None = None) -> Any:
        return self.copy()

    def __reduce__(self) -> tuple:  # pickle values only, never subscribers
        return type(self).model_validate, (self.model_dump(),)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.model_dump() == other.model_dump()  # type: ignore[union-attr]


class _Group(_Model):
    _on_change: _Callback | None = PrivateAttr(default=None)

    def _fresh(self) -> None:
        self.__pydantic_private__["_on_change"] = None

    def _changed(self, name: str, old: Any, new: Any) -> None:
        if self._on_change is not None:
            self._on_change(f"{self._group}.{name}", old, new)


class BracketSettings(_Group):
    """Take-profit and stop-loss legs attached to every entry, as fractions of the entry."""

    _group = "bracket"
    stop_loss_pct: float = _field(0.05, gt=0, lt=1)
    take_profit_pct: float = _field(0.15, gt=0, le=10)
    trailing_stop_pct: float | None = _field(None, gt=0, lt=1)  # None: trailing stops off
    time_in_force: Literal["gtc", "day"] = "gtc"
    #: Warn when the price is within this fraction of the stop (``0.02``: 2% of the price). The
    #: one threshold for the strategy's warnings, the stream monitor, ``%positions --near`` and
    #: ``activetrader positions`` (whose ``--near PCT`` overrides it, in percent).
    near_stop_pct: float = _field(0.02, ge=0, lt=1)


class HedgeSettings(_Group):
    """Inverse-ETF hedge: bearish when ``bearish_ratio`` of symbols have RSI > ``overbought``."""

    _group = "hedge"
    enabled: bool = _field(True)
    sentiment_symbols: Annotated[_Symbols, AfterValidator(_non_empty)] = (
        "AAPL", "MSFT", "GOOGL", "NVDA", "TSLA")
    overbought: float = _field(70.0, gt=50, le=100)
    bearish_ratio: float = _field(0.60, gt=0, le=1)
    inverse_etf: Literal["SH", "SPXS", "SQQQ"] = "SH"
    max_inverse_allocation: float = _field(0.20, ge=0, le=1)
    rsi_period: int = _field(14, ge=2, le=200)


class RebalanceSettings(_Group):
    """Trim any position above ``max_position_pct`` of the portfolio back to the cap."""

    _group = "rebalance"
    enabled: bool = _field(True)
    max_position_pct: float = _field(0.15, gt=0, le=1)


class EntrySettings(_Group):
    """New bracket entries into oversold watchlist names."""

    _group = "entry"
    enabled: bool = _field(True)
    watchlist: _Symbols = ("AAPL", "MSFT", "GOOGL", "AMZN", "META", "NVDA", "TSLA", "JPM",
                          "JNJ", "XOM", "KO", "WMT", "UNH", "AMD", "NFLX")
    rsi_period: int = _field(14, ge=2, le=200)
    lookback_bars: int = _field(100)
    oversold: float = _field(30.0, ge=0, lt=50)
    confidence_threshold: float = _field(0.6, ge=0, le=1)
    position_pct: float = _field(0.05, gt=0, le=1)  # of portfolio value, per new entry
    max_new_positions: int = _field(3, ge=0)
    min_cash_reserve_pct: float = _field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _rsi_converged(self) -> EntrySettings:
        if self.lookback_bars < 3 * self.rsi_period:
            raise PydanticCustomError("rsi_lookback", "{allowed}", {
                "field": "lookback_bars", "value": self.lookback_bars,
                "allowed": f"lookback_bars ({self.lookback_bars}) must be >= 3 * rsi_period "
                           f"({3 * self.rsi_period}) so Wilder RSI has converged"})
        return self


class ScheduleSettings(_Group):
    """How often the live loop runs an iteration.

    >>> ScheduleSettings(every="1h").interval
    datetime.timedelta(seconds=3600)
    """

    _group = "schedule"
    every: _Duration = "1h"
    market_hours_only: bool = _field(True)

    @property
    def interval(self) -> timedelta:
        """``every`` as a timedelta."""
        return _parse_duration(self.every)


_GROUPS = ("bracket", "hedge", "rebalance", "entry", "schedule")


class Settings(_Model):
    """All settings of the strategy, validated on construction, assignment and load.

    >>> s = Settings()
    >>> seen = []
    >>> unsubscribe = s.subscribe(lambda path, old, new: seen.append((path, old, new)))
    >>> s.bracket.stop_loss_pct = 0.03
    >>> seen
    [('bracket.stop_loss_pct', 0.05, 0.03)]
    >>> Settings.loads(s.dumps()) == s
    True
    >>> s.bracket.stop_los_pct = 0.1
    Traceback (most recent call last):
    ...
    activetrader.settings.SettingsError: unknown setting 'bracket.stop_los_pct': did you mean 'stop_loss_pct'?
    """

    bracket: BracketSettings = Field(default_factory=BracketSettings)
    hedge: HedgeSettings = Field(default_factory=HedgeSettings)
    rebalance: RebalanceSettings = Field(default_factory=RebalanceSettings)
    entry: EntrySettings = Field(default_factory=EntrySettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    _subscribers: list[_Callback] = PrivateAttr(default_factory=list)
    _version: int = PrivateAttr(default=0)

    def model_post_init(self, context: Any, /) -> None:
        for name in _GROUPS:
            self._adopt(name, None)

    def _fresh(self) -> None:
        self.__pydantic_private__["_subscribers"] = []
        for name in _GROUPS:
            self._adopt(name, None)

    def _adopt(self, name: str, previous: Any) -> Any:
        """Own a fresh copy of a group (never share one) and route its changes here."""
        # Private attributes written in place: what their setattr does, minus pydantic's generic
        # checks (every copy, so every iteration, adopts all the groups).
        if previous is not None:
            previous.__pydantic_private__["_on_change"] = None
        group = self.__dict__[name] = self.__dict__[name].copy()
        group.__pydantic_private__["_on_change"] = self._changed
        return group

    def _changed(self, path: str, old: Any, new: Any) -> None:
        self.__pydantic_private__["_version"] += 1
        for callback in list(self._subscribers):
            callback(path, old, new)

    @property
    def version(self) -> int:
        """A change counter: every successful assignment (to a setting or a whole group) adds 1,
        so while one Settings object keeps its version its values are unchanged (what lets
        :meth:`Strategy.decide <activetrader.strategy.base.Strategy.decide>` reuse its copies).
        A copy starts at its original's count; compare versions of the same object only.

        >>> s = Settings()
        >>> before = s.version
        >>> s.entry.oversold = 25.0
        >>> s.entry = {"oversold": 20.0}
        >>> s.version - before
        2
        """
        return self.__pydantic_private__["_version"]

    def subscribe(self, callback: _Callback) -> Callable[[], None]:
        """Call ``callback(path, old, new)`` after every successful assignment.

        Returns a function that unsubscribes. Failed assignments notify nobody.
        """
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)
        return unsubscribe

    # ------------------------------------------------------------ dicts and files
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Settings:
        """Settings from nested dicts; missing keys keep their defaults."""
        if not isinstance(data, Mapping):
            raise SettingsError(f"settings must be a table of groups, not {type(data).__name__}")
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise _translate(exc, cls, (), source=source) from None

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Nested dicts of plain values (lists for symbol tuples)."""
        return self.model_dump(mode="json")

    @classmethod
    def loads(cls, text: str, *, source: str = "<string>") -> Settings:
        """Settings from TOML text."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{source} is not valid TOML: {exc}") from None
        return cls.from_dict(data, source=source)

    def dumps(self) -> str:
        """TOML text with every group; a ``None`` value (trailing stop off) is omitted."""
        data = {g: {k: v for k, v in d.items() if v is not None} for g, d in self.to_dict().items()}
        return "# activetrader settings\n" + tomli_w.dumps(data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Settings:
        """Settings from a TOML file (FileNotFoundError if it does not exist)."""
        path = Path(path)
        return cls.loads(path.read_text(encoding="utf-8"), source=str(path))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write TOML atomically: a temp file beside ``path``, then ``os.replace``."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.dumps())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _repr_html_(self) -> str:
        rows = []
        for group, values in self.model_dump().items():
            rows.append(f'<tr><th colspan="2" style="text-align:left">{group}</th></tr>')
            for key, value in values.items():
                shown = ", ".join(value) if isinstance(value, tuple) else (
                    "off" if value is None else value)
                rows.append(f"<tr><td>{key}</td><td>{html.escape(str(shown))}</td></tr>")
        return f"<table><caption>Settings</caption>{''.join(rows)}</table>"
