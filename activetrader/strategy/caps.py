"""The last word on a plan: risk caps no strategy can loosen.

:func:`enforce_caps` runs after the strategy and its hooks (``Strategy.decide`` calls it
last). It walks the intents in order, tracking positions, inverse exposure and spendable
cash, and shrinks or drops what would break a cap:

* a position above ``rebalance.max_position_pct`` of equity (entries shrink; a trim that
  leaves too much sells more);
* inverse ETFs together above ``hedge.max_inverse_allocation`` (existing holdings count);
* spending more than ``min(cash, buying_power)`` less the cash reserve (sell proceeds are
  not spendable until filled: Alpaca frees buying power only on the fill);
* a stop wider than ``bracket.stop_loss_pct`` (the stop floor: it is tightened);
* a plain buy (:class:`~activetrader.strategy.intents.EnterPosition`) beyond the position cap
  (counting the shares already held), the inverse cap or cash (it shrinks, in whole shares);
* a trailing-stop ratchet (:class:`~activetrader.strategy.intents.RaiseStop`) that would lower
  a stop, sit within $0.01 of the current price, break the sub-penny rule or touch a position
  the plan exits (it is dropped);
* non-whole-share bracket/OCO quantities (Alpaca rejects fractional brackets), brackets that
  would add to an existing position (``bracket orders must be entry orders``) and bracket
  levels Alpaca would reject (sub-penny, or within $0.01 of the base price).

Each adjustment becomes a :class:`~activetrader.strategy.intents.PlanWarning`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from operator import attrgetter, is_

from .intents import (EnterBracket, EnterPosition, ExitPosition, Plan, PlanWarning, ProtectPosition, RaiseStop,
                      TrimPosition)
from .levels import MIN_DISTANCE, fmt_price, is_valid_increment, stop_floor
from .snapshot import Snapshot

#: Inverse ETFs the toolkit knows; the configured one and any a strategy names are added.
INVERSE_ETFS = ("SH", "SPXS", "SQQQ")
_EPS = 1e-9


def whole(x: float) -> int:
    """Whole shares in ``x``, tolerant of float noise: ``whole(2.9999999999) == 3``.

    >>> whole(7.5), whole(2.9999999999), whole(-0.2)
    (7, 3, 0)
    """
    return max(0, math.floor(x + 1e-6))


def spendable_cash(snapshot: Snapshot, settings) -> float:
    """Cash new buys may use: ``min(cash, buying_power)`` less ``entry.min_cash_reserve_pct``."""
    acct = snapshot.account
    reserve = settings.entry.min_cash_reserve_pct * snapshot.portfolio_value
    return max(0.0, min(acct.cash, acct.buying_power) - reserve)


def inverse_exposure(snapshot: Snapshot, inverse: Iterable[str]) -> float:
    """Market value held in ``inverse`` ETFs, plus open buy orders for them at current price."""
    inverse = set(inverse)
    held = sum([p.market_value for p in snapshot.positions if p.symbol in inverse])
    pending = sum([o.qty * (snapshot.price(o.symbol) or 0.0) for o in snapshot.orders
                   if o.symbol in inverse and o.side == "buy" and o.is_live])
    return held + pending


def cash_after(intents: Iterable, cash: float) -> float:
    """Cash once every intent fills at its estimated price."""
    for i in intents:
        if isinstance(i, (EnterBracket, EnterPosition)):
            cash -= i.cost
        elif isinstance(i, TrimPosition):
            cash += i.proceeds
        elif isinstance(i, ExitPosition):
            cash += i.qty * i.price
    return round(cash, 2)


def enforce_caps(plan: Plan, snapshot: Snapshot, settings, *, inverse_etfs: Iterable[str] = ()) -> Plan:
    """Return ``plan`` with every intent inside the risk caps, adjustments recorded as warnings."""
    return _Caps(snapshot, settings, inverse_etfs).apply(plan)


class _Caps:
    def __init__(self, snapshot: Snapshot, settings, inverse_etfs: Iterable[str]) -> None:
        self.snap, self.s = snapshot, settings
        equity = snapshot.portfolio_value
        self.cap = settings.rebalance.max_position_pct * equity
        self.inverse = {*INVERSE_ETFS, settings.hedge.inverse_etf, *inverse_etfs}
        self.inverse_room = settings.hedge.max_inverse_allocation * equity - inverse_exposure(
            snapshot, self.inverse)
        self.cash = spendable_cash(snapshot, settings)
        self.held = {p.symbol: p.qty for p in snapshot.positions}
        self.warnings: list[PlanWarning] = []

    def warn(self, symbol: str | None, message: str) -> None:
        self.warnings.append(PlanWarning(symbol=symbol, message=f"caps: {message}"))

    def apply(self, plan: Plan) -> Plan:
        out = []
        for intent in plan.intents:
            check = _CHECKS.get(type(intent))
            intent = check(self, intent) if check else intent
            if intent is not None:
                out.append(intent)
        limit = self.cap + 0.01
        over = [p for p in self.snap.positions if p.qty > 0 and p.qty * p.current_price > limit]  # market_value
        if over:  # the usual case has none: then neither the trims nor the sort are needed
            trimmed = {i.symbol for i in out if isinstance(i, (TrimPosition, ExitPosition))}
            trimmed |= {o.symbol for o in self.snap.orders if o.is_live and o.side == "sell" and o.type == "market"}
            for p in sorted(over, key=_symbol):  # the order of snapshot_positions
                if p.symbol not in trimmed:
                    self.warn(p.symbol, f"{p.market_value / self.snap.portfolio_value:.1%} of the "
                              f"portfolio, above the {self.s.rebalance.max_position_pct:.0%} cap, "
                              "and the plan does not trim it")
        cash = cash_after(out, self.snap.account.cash)
        if (not self.warnings and type(plan.intents) is tuple and type(plan.warnings) is tuple
                and len(out) == len(plan.intents) and all(map(is_, out, plan.intents))
                and _same(cash, plan.cash_after)):
            return plan  # the usual case: every intent passed unchanged, nothing to rebuild
        return replace(plan, intents=tuple(out), warnings=(*plan.warnings, *self.warnings), cash_after=cash)

    def stop_ok(self, symbol: str, reference: float, stop: float) -> float:
        """The stop, tightened to the stop floor if it is wider."""
        floor = stop_floor(reference, self.s.bracket.stop_loss_pct)
        if stop < floor - _EPS:
            self.warn(symbol, f"stop {fmt_price(stop)} wider than the "
                      f"{self.s.bracket.stop_loss_pct:.0%} floor; tightened to {fmt_price(floor)}")
            return floor
        return stop

    def enter(self, e: EnterBracket) -> EnterBracket | None:
        sym, px = e.symbol, e.reference_price
        if self.held.get(sym, 0) != 0:
            self.warn(sym, "dropped bracket: it would add to an existing position "
                      "(Alpaca: 'bracket orders must be entry orders')")
            return None
        stop = self.stop_ok(sym, px, e.stop_loss)
        if not (e.take_profit >= px + MIN_DISTANCE - _EPS and stop <= px - MIN_DISTANCE + _EPS
                and is_valid_increment(e.take_profit) and is_valid_increment(stop)):
            self.warn(sym, f"dropped bracket with invalid levels: stop {fmt_price(stop)}, "
                      f"entry {fmt_price(px)}, take-profit {fmt_price(e.take_profit)}")
            return None
        qty = self.fit(sym, px, e.qty, self.cap, sym in self.inverse or e.purpose == "hedge", "bracket")
        return _with(e, qty=qty, stop_loss=stop) if qty >= 1 else None

    def buy(self, e: EnterPosition) -> EnterPosition | None:
        """A plain buy: whole shares, within the position cap (counting what is held), the
        inverse cap and cash."""
        sym, px = e.symbol, e.reference_price
        if not px or px <= 0:
            self.warn(sym, f"dropped buy of {e.qty:g} sh: no price")
            return None
        qty = self.fit(sym, px, e.qty, self.cap - self.held.get(sym, 0) * px, sym in self.inverse, "buy")
        return _with(e, qty=qty) if qty >= 1 else None

    def fit(self, sym: str, px: float, want: float, room: float, inverse: bool, what: str) -> int:
        """Whole shares of a buy of ``want`` at ``px`` within ``room`` dollars of position cap,
        the cash and (``inverse``) the inverse cap; warns when it shrinks, books what is kept."""
        limits = {"whole shares": whole(want), "position cap": whole(room / px),
                  "available cash": whole(self.cash / px)}
        if inverse:
            limits["inverse cap"] = whole(self.inverse_room / px)
        qty = min(limits.values())
        if qty < want:
            why = min(limits, key=limits.get)
            self.warn(sym, f"{what} qty {want:g} -> {qty} ({why})" if qty else f"dropped {what} of {want:g} sh ({why})")
        if qty >= 1:
            self.cash -= qty * px
            self.held[sym] = self.held.get(sym, 0) + qty
            if inverse:
                self.inverse_room -= qty * px
        return qty

    def protect(self, p: ProtectPosition) -> ProtectPosition | None:
        qty = whole(p.qty)
        if qty != p.qty:
            self.warn(p.symbol, f"OCO qty {p.qty:g} -> {qty} (whole shares)")
        if qty < 1:
            return None
        return _with(p, qty=qty, stop_loss=self.stop_ok(p.symbol, p.entry_price, p.stop_loss))

    def trim(self, t: TrimPosition) -> TrimPosition:
        qty = self.held.get(t.symbol, t.sell_qty + t.remaining_qty)
        need = max(0, math.ceil((qty * t.price - self.cap) / t.price - _EPS))
        sell = min(max(whole(t.sell_qty), need), whole(qty))
        if sell != t.sell_qty:
            self.warn(t.symbol, f"trim {t.sell_qty:g} -> {sell} sh to respect the cap")
        remaining = qty - sell
        reprotect = t.reprotect
        if reprotect is not None:
            # Shares still under the stops the trim keeps (none when it cancels the legs) need no new OCO.
            covered = 0.0 if t.cancel_order_ids else max(0.0, t.remaining_qty - reprotect.qty)
            reprotect = self.protect(replace(reprotect, qty=whole(remaining - covered)))
        self.held[t.symbol] = remaining
        equity = self.snap.portfolio_value
        return replace(t, sell_qty=sell, remaining_qty=remaining, reprotect=reprotect,
                       weight_after=remaining * t.price / equity)

    def raise_stop(self, r: RaiseStop) -> RaiseStop | None:
        pos = self.snap.position(r.symbol)
        price = pos.current_price if pos is not None else None
        why = ("no position" if price is None or self.held.get(r.symbol, 0) <= 0
               else "it would lower the stop" if r.new_stop <= r.old_stop + _EPS
               else f"not at least $0.01 below the price {fmt_price(price)}"
               if r.new_stop > price - MIN_DISTANCE + _EPS
               else "sub-penny price" if not is_valid_increment(r.new_stop) else None)
        if why:
            self.warn(r.symbol, f"dropped stop raise {fmt_price(r.old_stop)} -> {fmt_price(r.new_stop)}: {why}")
            return None
        return r

    def exit(self, x: ExitPosition) -> ExitPosition:
        self.held[x.symbol] = self.held.get(x.symbol, x.qty) - x.qty
        return x


def _same(a, b) -> bool:
    """The same number, type and sign (``0.0 == -0.0`` but they print differently)."""
    return type(a) is type(b) and a == b and math.copysign(1, a) == math.copysign(1, b)


def _with(intent, **changes):
    """``replace(intent, **changes)``, or ``intent`` itself when every change is the value it
    has already, of the same type (the usual case: most intents pass the caps unchanged)."""
    for k, v in changes.items():
        old = getattr(intent, k)
        if v is not old and (v != old or type(v) is not type(old)):
            return replace(intent, **changes)
    return intent


_CHECKS = {EnterBracket: _Caps.enter, ProtectPosition: _Caps.protect, TrimPosition: _Caps.trim,
           ExitPosition: _Caps.exit, RaiseStop: _Caps.raise_stop, EnterPosition: _Caps.buy}
_symbol = attrgetter("symbol")


def snapshot_positions(snapshot: Snapshot):
    """Long positions, sorted by symbol (the order every step walks them in)."""
    return sorted([p for p in snapshot.positions if p.qty > 0], key=_symbol)


__all__ = ["INVERSE_ETFS", "cash_after", "enforce_caps", "inverse_exposure", "spendable_cash",
           "whole"]
