"""What one iteration knows: account, positions, open orders, bars and prices, frozen.

The Trader fills a :class:`Snapshot` from alpaca-py models (a constant number of calls);
the strategy reads it and nothing else. Tests write one by hand with
:meth:`Snapshot.from_simple`:

>>> snap = Snapshot.from_simple(cash=10_000, positions={"AAPL": (10, 150.0, 160.0)})
>>> snap.position("AAPL").market_value, snap.portfolio_value
(1600.0, 11600.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

import numpy as np
import pandas as pd

from .indicators import rsi_last

#: Order statuses that still protect or hold shares. ``pending_cancel`` is on its way out
#: and does not count as protection.
LIVE_STATUSES = frozenset(
    {"new", "accepted", "pending_new", "accepted_for_bidding", "partially_filled", "held",
     "pending_replace", "calculated", "stopped", "suspended"}
)
#: Order types that put a floor under a long position.
STOP_TYPES = frozenset({"stop", "stop_limit", "trailing_stop"})

#: Default "now" of hand-written snapshots (a Thursday afternoon, regular session).
DEFAULT_NOW = pd.Timestamp("2025-01-02 20:00", tz="UTC")


@dataclass(frozen=True, slots=True)
class AccountView:
    """The account numbers the strategy uses (``TradeAccount.cash/equity/buying_power``)."""

    cash: float
    equity: float
    buying_power: float


@dataclass(frozen=True, slots=True)
class PositionView:
    """One position (``alpaca.trading.models.Position``). ``qty_available`` is what no open
    order holds: after a bracket entry fills, its take-profit leg holds every share, so it
    is 0 (alpaca-contract.md §2, "the rebalance trap")."""

    symbol: str
    qty: float
    avg_entry_price: float
    current_price: float
    qty_available: float

    @property
    def market_value(self) -> float:
        """``qty × current_price``."""
        return self.qty * self.current_price


_SET_POSITION = tuple(PositionView.__dict__[f].__set__
                      for f in ("symbol", "qty", "avg_entry_price", "current_price", "qty_available"))


def position_views(rows: Iterable[Sequence]) -> tuple[PositionView, ...]:
    """``tuple(PositionView(*row) for row in rows)``, twice as fast: each field set through its
    slot, not through the frozen dataclass's ``__init__`` (the Trader's fast path builds one
    view per position every iteration).

    >>> position_views([("AAPL", 10.0, 150.0, 160.0, 0.0)]) == (PositionView("AAPL", 10.0, 150.0, 160.0, 0.0),)
    True
    """
    new, (s0, s1, s2, s3, s4) = object.__new__, _SET_POSITION
    out = []
    for symbol, qty, avg_entry_price, current_price, qty_available in rows:
        p = new(PositionView)
        s0(p, symbol)
        s1(p, qty)
        s2(p, avg_entry_price)
        s3(p, current_price)
        s4(p, qty_available)
        out.append(p)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class OrderView:
    """One open order or bracket leg, in Alpaca's words (``side``, ``type``, ``status``,
    ``order_class``). ``role`` says what the order is to the strategy: ``"entry"``,
    ``"take_profit"``, ``"stop_loss"`` or None."""

    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str
    order_class: str
    qty: float
    limit_price: float | None = None
    stop_price: float | None = None
    trail_percent: float | None = None
    trail_price: float | None = None
    parent_id: str | None = None
    role: str | None = None

    @property
    def is_live(self) -> bool:
        """True while the order can still fill or trigger (see :data:`LIVE_STATUSES`)."""
        return self.status in LIVE_STATUSES

    @property
    def is_protective_stop(self) -> bool:
        """A live sell stop, stop-limit or trailing stop: a floor under a long position."""
        return self.status in LIVE_STATUSES and self.side == "sell" and self.type in STOP_TYPES  # is_live, inlined

    @classmethod
    def exit_legs(
        cls, symbol: str, qty: float, take_profit: float, stop_loss: float, *, group: str = "1"
    ) -> tuple[OrderView, OrderView]:
        """The two resting legs of a filled bracket: a take-profit limit (``new``, holds
        the shares) and a stop (``held``), as Alpaca lists them.

        >>> tp, sl = OrderView.exit_legs("AAPL", 10, 172.5, 142.5)
        >>> (tp.id, tp.status, tp.limit_price), (sl.id, sl.status, sl.stop_price)
        (('tp-1', 'new', 172.5), ('sl-1', 'held', 142.5))
        """
        common = dict(symbol=symbol, side="sell", order_class="bracket", qty=qty,
                      parent_id=f"entry-{group}")
        return (
            cls(id=f"tp-{group}", client_order_id=f"tp-{group}", type="limit", status="new",
                limit_price=take_profit, role="take_profit", **common),
            cls(id=f"sl-{group}", client_order_id=f"sl-{group}", type="stop", status="held",
                stop_price=stop_loss, role="stop_loss", **common),
        )


def _held_for_orders(orders: Iterable[OrderView], symbol: str) -> float:
    """Shares Alpaca counts as held: live sell orders, except ``held`` legs (the stop leg
    of a bracket/OCO shares its shares with the take-profit leg)."""
    return sum(o.qty for o in orders
               if o.symbol == symbol and o.side == "sell" and o.is_live and o.status != "held")


class BarSource(Protocol):
    """Where a :class:`Snapshot` gets its bars lazily (the Trader's native fast path).

    ``frame()`` is the ``BarSet.df``-shaped frame, built only when someone reads
    :attr:`Snapshot.bars`; ``close_series(symbol)`` one symbol's closes (or None without bars);
    ``rsi(symbols, period, window)`` what :meth:`Snapshot.rsi` returns, by the same rule (one
    entry per symbol, in the order first asked, repeats included in ``symbols``).
    """

    def frame(self) -> pd.DataFrame: ...

    def close_series(self, symbol: str) -> pd.Series | None: ...

    def rsi(self, symbols: Sequence[str], period: int, window: int) -> dict[str, float | None]: ...


@dataclass(frozen=True, slots=True, eq=False, init=False)
class Snapshot:
    """Everything one decision needs, read-only.

    ``bars`` has alpaca-py's ``BarSet.df`` shape (MultiIndex ``(symbol, timestamp)``, a
    ``close`` column at least) and holds only complete bars; ``prices`` maps a symbol to
    its current price (the last complete close). Instead of ``bars`` the Trader's fast path
    passes ``source=`` (a :class:`BarSource`): ``bars`` is then built on first access only,
    and :meth:`closes` and :meth:`rsi` read the source directly.
    """

    now: pd.Timestamp
    account: AccountView
    positions: tuple[PositionView, ...]
    orders: tuple[OrderView, ...]
    prices: Mapping[str, float]
    _bars: pd.DataFrame | None
    _source: BarSource | None
    _by_symbol: dict
    _live_sells: dict

    def __init__(self, now: pd.Timestamp, account: AccountView, positions: Iterable[PositionView] = (),
                 orders: Iterable[OrderView] = (), bars: pd.DataFrame | None = None,
                 prices: Mapping[str, float] | None = None, *, source: BarSource | None = None) -> None:
        put = object.__setattr__
        put(self, "now", now)
        put(self, "account", account)
        put(self, "positions", tuple(positions))
        put(self, "orders", tuple(orders))
        put(self, "prices", MappingProxyType(dict(prices or {})))
        put(self, "_bars", bars if bars is not None or source is not None else _bars_frame({}, DEFAULT_NOW))
        put(self, "_source", source)
        put(self, "_by_symbol", {})
        put(self, "_live_sells", {})

    @property
    def bars(self) -> pd.DataFrame:
        """Complete bars of the universe, shaped like alpaca-py's ``BarSet.df``."""
        if self._bars is None:
            object.__setattr__(self, "_bars", self._source.frame())
        return self._bars

    def __repr__(self) -> str:
        return (f"Snapshot(now={self.now}, account={self.account}, positions={len(self.positions)}, "
                f"orders={len(self.orders)}, prices={len(self.prices)})")

    @property
    def portfolio_value(self) -> float:
        """The account's equity: what position weights are measured against."""
        return self.account.equity

    def position(self, symbol: str) -> PositionView | None:
        """The position in ``symbol``, or None."""
        return next((p for p in self.positions if p.symbol == symbol), None)

    def orders_for(self, symbol: str) -> tuple[OrderView, ...]:
        """Open orders (and held legs) for ``symbol``, in snapshot order."""
        by = self._by_symbol
        if not by and self.orders:
            for o in self.orders:
                by.setdefault(o.symbol, []).append(o)
            for k, v in by.items():
                by[k] = tuple(v)
        return by.get(symbol, ())

    def live_sells(self, symbol: str) -> tuple[OrderView, ...]:
        """Live sell orders (exits) for ``symbol``, held legs included."""
        found = self._live_sells.get(symbol)
        if found is None:  # several steps ask for the same symbol; the snapshot is frozen
            found = self._live_sells[symbol] = tuple([o for o in self.orders_for(symbol)
                                                      if o.side == "sell" and o.is_live])
        return found

    def covered_qty(self, symbol: str) -> float:
        """Shares of ``symbol`` with an exit at the broker: those under a live stop, plus those a
        pending market sell is about to take out (they need no stop of their own)."""
        return sum([o.qty for o in self.live_sells(symbol) if o.is_protective_stop or o.type == "market"])

    def price(self, symbol: str) -> float | None:
        """Current price of ``symbol``: ``prices``, else the position's, else None."""
        if symbol in self.prices:
            return float(self.prices[symbol])
        pos = self.position(symbol)
        return pos.current_price if pos else None

    def closes(self, symbol: str) -> pd.Series:
        """A copy of ``symbol``'s close series (empty if there are no bars)."""
        if self._bars is None:
            series = self._source.close_series(symbol)
            return pd.Series(dtype=float, name="close") if series is None else series
        if self.bars.empty or symbol not in self.bars.index.get_level_values(0):
            return pd.Series(dtype=float, name="close")
        return self.bars.xs(symbol, level=0)["close"].copy()

    def rsi(self, symbols: Iterable[str], period: int, window: int) -> dict[str, float | None]:
        """The RSI a decision uses, per symbol: **Wilder RSI(``period``) over exactly the last
        ``window`` complete closes** in the snapshot (all of them if it holds fewer), seeded
        inside that window (:func:`~activetrader.strategy.indicators.rsi_last`). None when
        there are ``period`` closes or fewer, or a missing close among them.

        The strategies pass ``window = max(entry.lookback_bars, 3 × period)`` (100 closes by
        default), so a live iteration, a simulated one and a backtest see the same number
        however much history each fetched.

        >>> s = Snapshot.from_simple(cash=0, closes={"X": [10.0, 10.5, 10.2, 10.8, 11.0, 10.7, 11.2]})
        >>> {k: round(v, 2) for k, v in s.rsi(["X"], period=3, window=5).items()}
        {'X': 83.78}
        >>> s.rsi(["X", "Y"], period=3, window=3)
        {'X': None, 'Y': None}
        """
        if self._bars is None:  # a source answers each symbol once, in the order first asked
            return self._source.rsi(symbols if isinstance(symbols, (list, tuple)) else list(symbols), period, window)
        symbols = list(dict.fromkeys(symbols))
        out: dict[str, float | None] = dict.fromkeys(symbols)
        bars = self.bars
        if bars.empty or not symbols:
            return out
        names = bars.index.get_level_values(0)
        for sym in symbols:
            if sym not in names:
                continue
            closes = bars.xs(sym, level=0)["close"].sort_index().to_numpy(dtype=float)[-window:]
            if len(closes) <= period or not np.isfinite(closes).all():
                continue
            out[sym] = float(rsi_last(closes[:, None], period)[0])
        return out

    @classmethod
    def from_simple(
        cls,
        *,
        cash: float,
        positions: Mapping[str, tuple[float, float, float]] | None = None,
        closes: Mapping[str, Sequence[float]] | None = None,
        orders: Iterable[OrderView] = (),
        equity: float | None = None,
        buying_power: float | None = None,
        prices: Mapping[str, float] | None = None,
        now: pd.Timestamp = DEFAULT_NOW,
    ) -> Snapshot:
        """A snapshot from plain numbers, for tests and teaching.

        ``positions`` maps a symbol to ``(qty, avg_entry_price, current_price)``;
        ``closes`` maps a symbol to hourly closes ending at ``now``. ``equity`` defaults to
        cash plus market values, ``buying_power`` to cash, ``qty_available`` to what the
        open sell ``orders`` do not hold, and ``prices`` to each position's price, then to
        each series' last close.

        >>> s = Snapshot.from_simple(cash=500, closes={"SPY": [1.0, 2.0, 3.0]})
        >>> s.price("SPY"), len(s.closes("SPY")), s.account.buying_power
        (3.0, 3, 500.0)
        """
        positions = dict(positions or {})
        closes = dict(closes or {})
        orders = tuple(orders)
        views = tuple(
            PositionView(sym, float(q), float(entry), float(px),
                         float(q) - _held_for_orders(orders, sym))
            for sym, (q, entry, px) in positions.items()
        )
        px = {s: float(c[-1]) for s, c in closes.items() if len(c)}
        px.update({p.symbol: p.current_price for p in views})
        px.update(prices or {})
        eq = cash + sum(p.market_value for p in views) if equity is None else equity
        account = AccountView(float(cash), float(eq),
                              float(cash if buying_power is None else buying_power))
        return cls(now=now, account=account, positions=views, orders=orders,
                   bars=_bars_frame(closes, now), prices=px)


def _bars_frame(closes: Mapping[str, Sequence[float]], now: pd.Timestamp) -> pd.DataFrame:
    """Hourly ``BarSet.df``-shaped frame with a ``close`` column; the last bar ends at ``now``."""
    frames = []
    for symbol, values in closes.items():
        n = len(values)
        stamps = pd.date_range(end=now - pd.Timedelta(hours=1), periods=n, freq="h")
        idx = pd.MultiIndex.from_arrays([[symbol] * n, stamps], names=["symbol", "timestamp"])
        frames.append(pd.DataFrame({"close": [float(v) for v in values]}, index=idx))
    if not frames:
        idx = pd.MultiIndex.from_arrays(
            [pd.Index([], dtype=object), pd.DatetimeIndex([], tz="UTC")],
            names=["symbol", "timestamp"])
        return pd.DataFrame({"close": pd.Series([], dtype=float)}, index=idx)
    return pd.concat(frames)


__all__ = ["AccountView", "BarSource", "LIVE_STATUSES", "OrderView", "PositionView", "STOP_TYPES", "Snapshot"]
