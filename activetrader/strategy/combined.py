"""The guide's strategy: protect, rebalance, hedge, enter, in that order.

>>> from activetrader.strategy.snapshot import Snapshot
>>> snap = Snapshot.from_simple(cash=50_000, positions={"AAPL": (10, 150.0, 160.0)})
>>> print(CombinedStrategy().decide(snap).intents[0].describe())
PROTECT AAPL 10 sh: OCO take-profit $172.50 / stop $142.50 (entry $150.00) - no broker-side stop
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from activetrader.settings import Settings

from .base import Strategy
from .caps import INVERSE_ETFS, inverse_exposure, whole
from .draft import Draft
from .intents import ExitPosition, Plan, ProtectPosition, RaiseStop, TrimPosition
from .levels import MIN_DISTANCE, fmt_price, round_price
from .snapshot import PositionView
from .trailing import ratchet, trailable_stops
from .wake import Wake, during, rsi_flags

_EPS = 1e-9


class CombinedStrategy(Strategy):
    """Bracket entries, inverse-ETF hedging, rebalancing and legacy protection.

    **Class attributes versus the settings.** ``STOP_LOSS_PCT`` and friends are *class*
    attributes: one value shared by every instance, readable as ``self.STOP_LOSS_PCT``.
    Assigning ``strategy.STOP_LOSS_PCT = 0.03`` does not change the class: it creates an
    *instance* attribute that hides the class one for that object only, while
    ``CombinedStrategy.STOP_LOSS_PCT = 0.03`` changes it for all. Either way these are
    only *defaults*: they fill :meth:`default_settings`, used when neither ``decide()``
    nor the constructor got a :class:`~activetrader.settings.Settings`. Settings passed
    in win, so the thresholds have one source of truth.

    >>> class Cautious(CombinedStrategy):
    ...     STOP_LOSS_PCT = 0.03
    >>> Cautious().default_settings().bracket.stop_loss_pct
    0.03
    >>> s = CombinedStrategy()
    >>> s.STOP_LOSS_PCT = 0.04      # an instance attribute now hides the class attribute
    >>> s.default_settings().bracket.stop_loss_pct, CombinedStrategy.STOP_LOSS_PCT
    (0.04, 0.05)
    """

    STOP_LOSS_PCT: ClassVar[float] = 0.05
    TAKE_PROFIT_PCT: ClassVar[float] = 0.15
    MAX_POSITION_PCT: ClassVar[float] = 0.15
    MAX_INVERSE_ALLOCATION: ClassVar[float] = 0.20
    OVERBOUGHT: ClassVar[float] = 70.0
    BEARISH_RATIO: ClassVar[float] = 0.60
    OVERSOLD: ClassVar[float] = 30.0
    CONFIDENCE_THRESHOLD: ClassVar[float] = 0.6
    INVERSE_ETFS: ClassVar[tuple[str, ...]] = INVERSE_ETFS
    #: Which setting each class default fills.
    SETTING_FOR: ClassVar[dict[str, str]] = {
        "STOP_LOSS_PCT": "bracket.stop_loss_pct", "TAKE_PROFIT_PCT": "bracket.take_profit_pct",
        "MAX_POSITION_PCT": "rebalance.max_position_pct",
        "MAX_INVERSE_ALLOCATION": "hedge.max_inverse_allocation",
        "OVERBOUGHT": "hedge.overbought", "BEARISH_RATIO": "hedge.bearish_ratio",
        "OVERSOLD": "entry.oversold", "CONFIDENCE_THRESHOLD": "entry.confidence_threshold",
    }

    def default_settings(self) -> Settings:
        """``Settings()`` with this class's defaults (see the class docstring)."""
        settings = Settings()
        for attr, path in self.SETTING_FOR.items():
            group, name = path.split(".")
            setattr(getattr(settings, group), name, getattr(self, attr))
        return settings

    def propose(self, snapshot, settings, **kwargs: Any) -> Plan:
        """Run the four steps on one :class:`Draft`, so cash is tracked across them (with
        trailing stops on, the stops are ratcheted right after the protect step)."""
        draft = Draft(snapshot, settings)
        self.protect(draft)
        if settings.bracket.trailing_stop_pct is not None:
            self.trail(draft)
        if settings.rebalance.enabled:
            self.rebalance(draft)
        self.hedge(draft)
        if settings.entry.enabled:
            self.enter(draft)
        return draft.plan()

    #: What :meth:`wake` reasons about: a subclass that overrides one of these gets no rule
    #: (``_near_stop`` too: it is given the Draft). ``confidence`` and ``filter_entry`` are not
    #: here: they can only veto an entry.
    WAKE_READS: ClassVar[tuple[str, ...]] = ("propose", "protect", "_near_stop", "trail", "rebalance", "hedge",
                                             "enter", "on_plan")

    def wake(self, closes, settings, **kwargs: Any) -> Wake | None:
        """When the plan may be non-empty, for a backtest to skip the other iterations.

        Step by step: **enter** only where a watchlist name not held may be oversold, by the
        entry RSI the decision reads (:func:`~activetrader.strategy.wake.rsi_flags`);
        **hedge** only while the inverse ETF is not held and the sentiment symbols may be
        bearish (each one's overbought flags, seen on the ETF's bars, counted against
        ``bearish_ratio``); **rebalance** only when a position is at or above
        ``max_position_pct`` of equity (``Wake.max_weight``, checked on the account);
        **protect** only a position without its exit legs, which are lost by a cancel or an
        expiry (``on_cancel``) or a refused order (the backtest retries after one); with
        ``trailing_stop_pct`` set, **trail** only while a stop sits within a cent of price x
        (1 - ``trailing_stop_pct``) or below it (``Wake.trail_pct``, checked on the orders: the
        ratchet raises a stop only to a level above it). A subclass that overrides a step gets
        no rule (:attr:`WAKE_READS`).

        >>> import numpy as np
        >>> from activetrader.settings import Settings
        >>> from activetrader.strategy.wake import DailyCloses
        >>> s = Settings(); s.entry.watchlist = ["ABC"]; s.hedge.sentiment_symbols = ["SPY"]
        >>> day = 86_400_000_000_000
        >>> t = np.arange(120) * day
        >>> up = DailyCloses(t, t + day // 2, np.linspace(100, 160, 120))      # a steady climb
        >>> rule = CombinedStrategy().wake({"ABC": up, "SPY": up, "SH": up}, s)
        >>> int(rule.signals["ABC"][100:-1].sum()), bool(rule.signals["SH"][100:-1].all()), rule.max_weight
        (0, True, 0.15)
        >>> s.bracket.trailing_stop_pct = 0.05
        >>> CombinedStrategy().wake({"ABC": up, "SPY": up, "SH": up}, s).trail_pct
        0.05
        """
        cls = type(self)
        if any(name in vars(self) or getattr(cls, name) is not getattr(CombinedStrategy, name)
               for name in self.WAKE_READS):
            return None
        e, h = settings.entry, settings.hedge
        signals = rsi_flags(closes, e.watchlist, settings, e.rsi_period, below=e.oversold) if e.enabled else {}
        etf = closes.get(h.inverse_etf)
        if h.enabled and etf is not None:  # without bars the ETF has no price: the hedge cannot buy
            bearish = self._bearish_flags(closes, settings, etf)
            signals[h.inverse_etf] = signals[h.inverse_etf] | bearish if h.inverse_etf in signals else bearish
        cap = settings.rebalance.max_position_pct if settings.rebalance.enabled else None
        return Wake(signals, on_cancel=True, flat_only=True, max_weight=cap,  # flat_only: held or bought is busy
                    trail_pct=settings.bracket.trailing_stop_pct)

    @staticmethod
    def _bearish_flags(closes, settings, etf) -> np.ndarray:
        """Per bar of the inverse ETF: True where :meth:`hedge` may find the market bearish.
        Each sentiment symbol's overbought flags count while the ETF's bar is the last
        complete one, and a symbol without bars never counts (its RSI is None)."""
        h = settings.hedge
        names = list(dict.fromkeys(h.sentiment_symbols))
        hot = np.zeros(len(etf.close), dtype=np.int64)
        for sym, flags in rsi_flags(closes, names, settings, h.rsi_period, above=h.overbought).items():
            hot += during(closes[sym], flags, etf)
        return hot >= (h.bearish_ratio - _EPS) * len(names) - 1e-6

    # -- step 1 ----------------------------------------------------------------------------
    def protect(self, d: Draft) -> None:
        """Give every long position without a live broker-side stop an OCO exit at
        entry × (1 + take-profit) / entry × (1 − stop); exit at market if the price is
        already at the stop (within Alpaca's $0.01). A position already past its
        take-profit gets a take-profit re-based on the current price (Alpaca rejects a
        sell limit at or below the market), the stop staying entry-based. Flags positions
        within ``near_stop_pct`` of their stop (a fraction of the price)."""
        b = d.settings.bracket
        for p in d.positions:
            live = d.snapshot.live_sells(p.symbol)
            stops = [o for o in live if o.is_protective_stop]
            covered = d.snapshot.covered_qty(p.symbol)
            limits = [o.limit_price for o in live if o.type == "limit" and o.limit_price]
            stop_prices = [o.stop_price for o in stops if o.stop_price is not None]
            tp = sl = None  # the entry-based levels: rounded only where the position has no levels of its own
            if covered < p.qty - _EPS or not limits or not stop_prices:
                tp, sl = (round_price(p.avg_entry_price * (1 + b.take_profit_pct)),
                          round_price(p.avg_entry_price * (1 - b.stop_loss_pct)))
            d.levels[p.symbol] = (max(limits) if limits else tp, max(stop_prices) if stop_prices else sl)
            if covered >= p.qty - _EPS:
                if stop_prices:  # a trailing stop may not report its current stop
                    self._near_stop(d, p, max(stop_prices))
                continue
            uncovered = p.qty - covered
            what = "no broker-side stop" if not stops else f"stops cover {covered:g} of {p.qty:g} sh"
            if p.current_price < sl + MIN_DISTANCE - _EPS:
                holders = [o for o in live if not o.is_protective_stop]
                cancel = tuple(sorted(o.id for o in holders)) if p.qty_available < uncovered else ()
                d.add(ExitPosition(symbol=p.symbol, qty=uncovered, price=p.current_price,
                                   stop_loss=sl, cancel_order_ids=cancel,
                                   reason=f"{what}, price already at or below the stop"))
                continue
            if tp < p.current_price + MIN_DISTANCE - _EPS:
                tp = round_price(p.current_price * (1 + b.take_profit_pct))
                d.warn(p.symbol, f"already past its take-profit level; take-profit re-based "
                       f"on the current price {fmt_price(p.current_price)}: {fmt_price(tp)}")
            d.levels[p.symbol] = (tp, sl)
            qty = whole(min(uncovered, max(p.qty_available, 0.0)))
            if qty < whole(uncovered):
                d.warn(p.symbol, f"{uncovered - qty:g} unprotected sh are held by other orders")
            elif qty < uncovered:
                d.warn(p.symbol, f"{uncovered - qty:g} fractional sh cannot be in an OCO "
                       "(whole shares only) and stay unprotected")
            if qty >= 1:
                d.add(ProtectPosition(symbol=p.symbol, qty=qty, take_profit=tp, stop_loss=sl,
                                      entry_price=p.avg_entry_price, reason=what))
                self._near_stop(d, p, sl)

    def _near_stop(self, d: Draft, p: PositionView, stop: float) -> None:
        gap = (p.current_price - stop) / p.current_price if p.current_price else 0.0
        if gap <= d.settings.bracket.near_stop_pct + _EPS:
            where = f"{gap:.1%} above" if gap >= 0 else f"already {-gap:.1%} below"
            d.warn(p.symbol, f"price {fmt_price(p.current_price)} is {where} its stop {fmt_price(stop)}")

    # -- step 1b ---------------------------------------------------------------------------
    def trail(self, d: Draft) -> None:
        """Ratchet the stop leg of every protected position up to ``high × (1 −
        trailing_stop_pct)`` when the current price is a new high (see
        :mod:`activetrader.strategy.trailing` for the rule and why a leg is replaced rather
        than a server-side trailing stop used). A leg whose entry has not filled yet (the
        entry is still live) is left alone, and so is a ``trailing_stop`` order (the broker
        trails it itself)."""
        pct = d.settings.bracket.trailing_stop_pct
        for p in d.positions:
            if d.intent_for(ExitPosition, p.symbol):
                continue
            for o, tp in trailable_stops(d.snapshot, p.symbol):
                new = ratchet(o.stop_price, p.current_price, trailing_stop_pct=pct,
                              price=p.current_price, take_profit=tp)
                if new is None:
                    continue
                d.add(RaiseStop(symbol=p.symbol, order_id=o.id, old_stop=o.stop_price, new_stop=new,
                                high=p.current_price, reason=f"new high; the stop trails {pct * 100:g}% below it"))
                level_tp, sl = d.levels[p.symbol]
                d.levels[p.symbol] = (level_tp, max(sl, new))

    # -- step 2 ----------------------------------------------------------------------------
    def rebalance(self, d: Draft) -> None:
        """Trim every position above ``max_position_pct`` of equity back to the cap, in
        whole shares: ``ceil((value − cap × equity) / price)``. Shares held by exit legs
        cannot be sold at Alpaca (the rebalance trap), so the trim cancels the legs and
        re-protects the remainder at the original levels; a position protected in this
        very plan is sold first and then protected."""
        cap = d.settings.rebalance.max_position_pct * d.equity
        for p in d.positions:
            value = p.qty * p.current_price
            if value <= cap + 0.005 or d.intent_for(ExitPosition, p.symbol):
                continue
            selling = sum(o.qty for o in d.snapshot.live_sells(p.symbol) if o.type == "market")
            if selling:  # an earlier trim has not filled yet (e.g. hourly runs on daily bars): never sell twice
                if (p.qty - selling) * p.current_price > cap + 0.005:
                    d.warn(p.symbol, f"above the cap; a market sell of {selling:g} sh is pending: "
                           "trimming again once it has filled")
                continue
            sell = min(math.ceil((value - cap) / p.current_price - _EPS), whole(p.qty))
            remaining = p.qty - sell
            pending = d.intent_for(ProtectPosition, p.symbol)
            if pending is not None:
                d.remove(pending)
            live = [o for o in d.snapshot.orders_for(p.symbol) if o.is_live and o.side == "sell"]
            covered = sum(o.qty for o in live if o.is_protective_stop)
            cancel: tuple[str, ...] = ()
            if p.qty_available < sell - _EPS:
                cancel, covered = tuple(sorted(o.id for o in live)), 0.0
                raised = d.intent_for(RaiseStop, p.symbol)
                while raised is not None:  # the legs go: re-protect at the raised stop instead
                    d.remove(raised)
                    raised = d.intent_for(RaiseStop, p.symbol)
            tp, sl = d.levels[p.symbol]
            qty = whole(remaining - min(covered, remaining))
            how = "at the original levels" if cancel else "at the configured levels"
            reprotect = None if qty < 1 else ProtectPosition(
                symbol=p.symbol, qty=qty, take_profit=tp, stop_loss=sl,
                entry_price=p.avg_entry_price, reason=f"re-protect the remainder {how}")
            d.add(TrimPosition(
                symbol=p.symbol, sell_qty=sell, remaining_qty=remaining, price=p.current_price,
                weight_before=value / d.equity, weight_after=remaining * p.current_price / d.equity,
                cancel_order_ids=cancel, reprotect=reprotect,
                reason=f"above the {d.settings.rebalance.max_position_pct:.0%} position cap"))

    # -- step 3 ----------------------------------------------------------------------------
    def hedge(self, d: Draft) -> None:
        """Bearish when at least ``bearish_ratio`` of the sentiment symbols have RSI above
        ``overbought``; then buy ``inverse_etf`` with a bracket, sized so that all inverse
        ETFs together stay within ``max_inverse_allocation`` of equity (existing holdings
        and open buys count), the ETF within the position cap, and the cost within cash.
        An ETF already held is not added to: Alpaca may reject a bracket that does not
        open a position (``bracket orders must be entry orders``)."""
        h = d.settings.hedge
        d.sentiment = d.rsi(h.sentiment_symbols, h.rsi_period)
        for sym, value in d.sentiment.items():
            if value is None:
                d.skip("hedge", sym, f"not enough bars for RSI({h.rsi_period}); "
                       "counted as not overbought")
        hot = sum([1 for v in d.sentiment.values() if v is not None and v > h.overbought])
        n = len(d.sentiment)
        d.bearish_ratio = hot / n if n else 0.0
        d.bearish = n > 0 and d.bearish_ratio >= h.bearish_ratio - _EPS
        verdict = (f"{hot} of {n} sentiment symbols RSI > {h.overbought:g} "
                   f"(ratio {d.bearish_ratio:.2f} {'>=' if d.bearish else '<'} {h.bearish_ratio:.2f})")
        etf = h.inverse_etf
        if not d.bearish or not h.enabled:
            d.skip("hedge", etf, verdict if not d.bearish else "hedging disabled")
            return
        price = d.snapshot.price(etf)
        position = d.snapshot.position(etf)
        open_buy = any(o.side == "buy" and o.is_live for o in d.snapshot.orders_for(etf))
        inverse = {*self.INVERSE_ETFS, etf}
        held = inverse_exposure(d.snapshot, inverse)
        rooms = {"inverse cap": h.max_inverse_allocation * d.equity - held,
                 "position cap": d.settings.rebalance.max_position_pct * d.equity,
                 "available cash": d.spendable}
        why = ("already holding it: a bracket must open a position" if position and position.qty
               else "a buy order for it is already open" if open_buy
               else "no price" if not price else None)
        qty = 0 if why else whole(min(rooms.values()) / price)
        if not why and qty < 1:
            why = f"{min(rooms, key=rooms.get)} leaves room for no share at {fmt_price(price)}"
        if why:
            d.skip("hedge", etf, f"bearish but not hedging: {why}")
            return
        after = (held + qty * price) / d.equity
        d.enter(etf, qty, price, purpose="hedge",
                reason=f"bearish: {verdict}; inverse {held / d.equity:.1%} -> {after:.1%}")
        d.spendable -= qty * price

    # -- step 4 ----------------------------------------------------------------------------
    def enter(self, d: Draft) -> None:
        """Buy oversold watchlist names (RSI < ``oversold``, most oversold first) whose
        :meth:`confidence` reaches the threshold and that :meth:`filter_entry` keeps, at
        most ``max_new_positions``. Size: ``min(position_pct, max_position_pct) × equity``,
        within spendable cash, floored to whole shares (Alpaca rejects fractional
        brackets); take-profit and stop at ±% of the current price, valid increments."""
        e = d.settings.entry
        d.watchlist_rsi = d.rsi(e.watchlist, e.rsi_period)
        busy = {p.symbol for p in d.snapshot.positions if p.qty}
        busy |= {o.symbol for o in d.snapshot.orders if o.side == "buy" and o.is_live}
        busy |= {i.symbol for i in d.intents}
        ranked = sorted([(r, s) for s, r in d.watchlist_rsi.items()
                         if r is not None and r < e.oversold and s not in busy])
        entered = 0
        # Strategy.confidence reads only the RSI: the closes (a pandas Series, ~45 us to build) are
        # built for an overriding confidence alone.
        wants_closes = type(self).confidence is not Strategy.confidence
        for rsi, sym in ranked:
            price = d.snapshot.price(sym)
            ctx = dict(snapshot=d.snapshot, settings=d.settings)
            if entered >= e.max_new_positions or not price:
                why = "no price" if not price else f"max_new_positions ({e.max_new_positions}) reached"
                d.skip("entry", sym, f"RSI {rsi:.1f}: {why}")
                continue
            closes = d.snapshot.closes(sym) if wants_closes else None
            conf = float(self.confidence(sym, rsi, closes, oversold=e.oversold, **ctx))
            if conf < e.confidence_threshold - _EPS:
                d.skip("entry", sym, f"RSI {rsi:.1f}: confidence {conf:.2f} < "
                       f"{e.confidence_threshold:.2f}")
                continue
            if not self.filter_entry(sym, rsi=rsi, confidence=conf, price=price, **ctx):
                d.skip("entry", sym, f"RSI {rsi:.1f}: vetoed by filter_entry")
                continue
            budget = min(e.position_pct, d.settings.rebalance.max_position_pct) * d.equity
            qty = whole(min(budget, d.spendable) / price)
            if qty < 1:
                d.skip("entry", sym, f"RSI {rsi:.1f}: insufficient cash: {fmt_price(d.spendable)} "
                       f"available, one share costs {fmt_price(price)}")
                continue
            d.enter(sym, qty, price, purpose="entry", rsi=rsi, confidence=conf,
                    reason=f"RSI {rsi:.1f} < {e.oversold:g}, confidence {conf:.2f}")
            d.spendable -= qty * price
            entered += 1


__all__ = ["CombinedStrategy"]
