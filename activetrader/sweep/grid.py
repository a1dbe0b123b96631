"""Parameter grids: setting paths to values, expanded and validated before anything runs.

A grid is either a mapping of setting paths to the values to try (every combination is run)
or a list of mappings (random search: each one is a combination). Every combination is
applied to a copy of the base :class:`~activetrader.settings.Settings`, so a bad path or
value is refused with the path named before a single task is sent anywhere.

>>> combos = expand({"bracket.stop_loss_pct": [0.03, 0.05], "entry.oversold": [25.0, 30.0]})
>>> len(combos), combos[0].params
(4, {'bracket.stop_loss_pct': 0.03, 'entry.oversold': 25.0})
>>> combos[0].settings.bracket.stop_loss_pct
0.03
>>> expand({"bracket.stop_los_pct": [0.03]})
Traceback (most recent call last):
...
activetrader.settings.SettingsError: grid: unknown setting 'bracket.stop_los_pct': did you mean 'stop_loss_pct'?
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..settings import Settings, SettingsError

_GROUPS = tuple(Settings.model_fields)


@dataclass(frozen=True)
class Combo:
    """One combination: the swept values by path, and the full validated settings."""

    params: dict[str, Any]
    settings: Settings


def expand(grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
           base: Settings | None = None) -> list[Combo]:
    """Every combination of ``grid`` applied to a copy of ``base`` (default ``Settings()``).

    Raises :class:`~activetrader.settings.SettingsError` naming the path for an unknown path,
    an invalid value, an empty grid or an empty list of values.
    """
    base = base if base is not None else Settings()
    if not isinstance(base, Settings):
        raise TypeError(f"settings must be an activetrader.Settings, not {type(base).__name__}")
    if isinstance(grid, Mapping):
        if not grid:
            raise SettingsError("grid is empty: give at least one setting path and its values")
        paths = list(grid)
        values = []
        for path in paths:
            v = grid[path]
            if isinstance(v, (str, bytes)) or not isinstance(v, Sequence):
                v = [v]  # a single value is swept as a one-value list
            if len(v) == 0:
                raise SettingsError(f"grid: {path!r} has no values to try", field=str(path))
            values.append(list(v))
        rows = [dict(zip(paths, combo)) for combo in itertools.product(*values)]
    elif isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
        rows = [dict(r) if isinstance(r, Mapping) else _not_a_row(i, r) for i, r in enumerate(grid)]
        if not rows:
            raise SettingsError("grid is empty: give at least one settings dict")
    else:
        raise TypeError(f"grid must be a dict of setting paths to values or a list of dicts, "
                        f"not {type(grid).__name__}")
    return [Combo(params=row, settings=apply(base, row)) for row in rows]


def apply(base: Settings, params: Mapping[str, Any]) -> Settings:
    """A copy of ``base`` with each ``"group.field"`` path set (validated on assignment)."""
    settings = base.copy()
    for path, value in params.items():
        group, field = _split(path)
        try:
            setattr(getattr(settings, group), field, value)
        except SettingsError as e:
            raise SettingsError(f"grid: {e}", field=e.field, value=e.value, allowed=e.allowed) from None
    return settings


def _split(path: Any) -> tuple[str, str]:
    if not isinstance(path, str) or path.count(".") != 1:
        raise SettingsError(f"grid: {path!r} is not a setting path like 'bracket.stop_loss_pct'",
                            field=str(path))
    group, field = path.split(".")
    if group not in _GROUPS:
        close = difflib.get_close_matches(group, _GROUPS, n=1)
        hint = f": did you mean '{close[0]}'?" if close else f" (groups: {', '.join(_GROUPS)})"
        raise SettingsError(f"grid: unknown setting group {group!r} in {path!r}{hint}", field=path)
    return group, field


def _not_a_row(i: int, row: Any):
    raise SettingsError(f"grid: item {i} is {type(row).__name__}, not a dict of setting paths to values")


def flatten(table: Mapping[str, Any]) -> dict[str, Any]:
    """``{"bracket": {"stop_loss_pct": [..]}}`` (a TOML grid file) -> ``{"bracket.stop_loss_pct": [..]}``.

    >>> flatten({"bracket": {"stop_loss_pct": [0.03, 0.05]}, "entry.oversold": [30.0]})
    {'bracket.stop_loss_pct': [0.03, 0.05], 'entry.oversold': [30.0]}
    """
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            for sub, v in value.items():
                out[f"{key}.{sub}"] = v
        else:
            out[key] = value
    return out
