"""What one iteration did, as data (for code and tests), as text (the narrative log of the
original guide's "RUNNING TRADING ITERATION NOW") and as HTML (in notebooks).
"""

from __future__ import annotations

import html
import math
from dataclasses import asdict, dataclass, field

import pandas as pd

from .strategy import EnterBracket, ExitPosition, Plan, ProtectPosition, TrimPosition
from .strategy.intents import RaiseStop, intent_fields

_RULE = "=" * 64


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """One broker call made for an intent: accepted (with the order's status) or rejected
    (with Alpaca's HTTP status, error code and message)."""

    intent_seq: int | None
    action: str  # "submit" | "cancel"
    symbol: str | None
    description: str
    client_order_id: str | None = None
    order_id: str | None = None
    accepted: bool = True
    status: str | None = None
    message: str | None = None
    http_status: int | None = None
    error_code: int | None = None

    def line(self) -> str:
        if self.accepted:
            sid = f" [{self.client_order_id}]" if self.client_order_id else ""
            note = f" - {self.message}" if self.message else ""
            return f"  OK   {self.description}{sid} -> {self.status}{note}"
        return f"  FAIL {self.description} -> {self.http_status} {self.message}"


def _step_of(intent) -> int:
    if isinstance(intent, (ProtectPosition, ExitPosition, RaiseStop)):
        return 1
    if isinstance(intent, TrimPosition):
        return 2
    if isinstance(intent, EnterBracket) and intent.purpose == "hedge":
        return 3
    return 4


@dataclass(frozen=True)
class IterationReport:
    """The result of :meth:`activetrader.Trader.iteration`.

    Fields are plain data: ``sentiment`` (symbol -> RSI or None), ``bearish_ratio`` against
    ``bearish_threshold``, the ``plan`` and its ``intents``, the ``outcomes`` of every broker
    call (``submitted`` and ``rejections`` filter them), ``warnings``, and the account after
    submitting (``portfolio_value``, ``cash``, ``buying_power``). ``str(report)`` is the
    narrative; in a notebook it renders as HTML.
    """

    iteration_id: str
    timestamp: pd.Timestamp
    mode: str
    dry_run: bool
    plan: Plan
    outcomes: tuple[OrderOutcome, ...]
    portfolio_value: float
    cash: float
    buying_power: float
    positions_count: int
    overbought: float
    bearish_threshold: float
    inverse_etf: str
    max_position_pct: float
    oversold: float
    confidence_threshold: float
    broker_calls: int = 0
    errors: tuple[str, ...] = field(default_factory=tuple)

    # -- data views ------------------------------------------------------------------
    @property
    def intents(self) -> tuple:
        return self.plan.intents

    @property
    def sentiment(self) -> dict[str, float | None]:
        return dict(self.plan.sentiment)

    @property
    def bearish_ratio(self) -> float:
        return self.plan.bearish_ratio

    @property
    def bearish(self) -> bool:
        return self.plan.bearish

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(w.describe() for w in self.plan.warnings)

    @property
    def submitted(self) -> tuple[OrderOutcome, ...]:
        return tuple(o for o in self.outcomes if o.accepted and o.action == "submit")

    @property
    def rejections(self) -> tuple[OrderOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.accepted)

    def to_dict(self) -> dict:
        """A JSON-safe dict of the report (what ``activetrader iterate --json`` prints)."""
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            return v

        intents = [dict(kind=type(i).__name__, description=i.describe(),
                        **{k: v for k, v in intent_fields(i).items() if k != "reason"}) for i in self.intents]
        return clean(dict(
            iteration_id=self.iteration_id, timestamp=self.timestamp.isoformat(), mode=self.mode,
            dry_run=self.dry_run, sentiment=self.sentiment, bearish_ratio=self.bearish_ratio,
            bearish=self.bearish, bearish_threshold=self.bearish_threshold, overbought=self.overbought,
            intents=intents, outcomes=[asdict(o) for o in self.outcomes], warnings=list(self.warnings),
            skipped=[s.describe() for s in self.plan.skipped], portfolio_value=self.portfolio_value,
            cash=self.cash, buying_power=self.buying_power, positions_count=self.positions_count,
            broker_calls=self.broker_calls, errors=list(self.errors),
        ))

    # -- text --------------------------------------------------------------------------
    @property
    def narrative(self) -> str:
        """The iteration told step by step, like the original guide's console log."""
        when = self.timestamp.tz_convert("America/New_York").strftime("%Y-%m-%d %H:%M ET")
        out = [_RULE, f"RUNNING TRADING ITERATION NOW  ({when}, {self.mode}{', dry run' if self.dry_run else ''})",
               _RULE,
               f"Portfolio value ${self.portfolio_value:,.2f}   cash ${self.cash:,.2f}   "
               f"positions {self.positions_count}", ""]
        by_step: dict[int, list[str]] = {1: [], 2: [], 3: [], 4: []}
        for i in self.intents:
            by_step[_step_of(i)].append("  " + i.describe())
        skipped = {k: [f"  {s.describe()}" for s in self.plan.skipped if s.step == k] for k in ("hedge", "entry")}
        out.append("STEP 1 - Protect positions that have no broker-side stop")
        out += by_step[1] or ["  every position is protected"]
        out.append(f"STEP 2 - Rebalance (no position above {self.max_position_pct:.0%})")
        out += by_step[2] or ["  no position above the cap"]
        out.append(f"STEP 3 - Market sentiment (RSI > {self.overbought:g} is overbought)")
        for sym, r in self.sentiment.items():
            flag = "n/a (not enough bars)" if r is None else f"{r:5.1f}" + ("  overbought" if r > self.overbought else "")
            out.append(f"  {sym:<6} RSI {flag}")
        verdict = "BEARISH" if self.bearish else "not bearish"
        out.append(f"  bearish ratio {self.bearish_ratio:.0%} (threshold {self.bearish_threshold:.0%}) -> {verdict}")
        out += by_step[3] + skipped["hedge"]
        out.append(f"STEP 4 - New entries (RSI < {self.oversold:g}, confidence >= {self.confidence_threshold:.2f})")
        out += by_step[4] or ["  no new entries"]
        out += skipped["entry"][:8] + ([f"  ... {len(skipped['entry']) - 8} more skipped"] if len(skipped["entry"]) > 8 else [])
        if self.warnings:
            out += ["WARNINGS"] + [f"  {w}" for w in self.warnings]
        if self.outcomes:
            out += ["ORDERS"] + [o.line() for o in self.outcomes]
        out += [f"  error: {e}" for e in self.errors]
        done = "complete" if not self.errors else f"INCOMPLETE ({len(self.errors)} error(s) above)"
        out.append(f"Iteration {done}: {len(self.submitted)} order(s) submitted, "
                   f"{len(self.rejections)} rejected, {len(self.warnings)} warning(s).")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.narrative

    def __repr__(self) -> str:
        return (f"IterationReport({self.timestamp.isoformat()}, intents={len(self.intents)}, "
                f"submitted={len(self.submitted)}, rejected={len(self.rejections)}, "
                f"bearish_ratio={self.bearish_ratio:.2f})")

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{'&#10003;' if o.accepted else '&#10007;'}</td><td>{html.escape(o.description)}</td>"
            f"<td>{html.escape(str(o.status or o.http_status or ''))}</td><td>{html.escape(o.message or '')}</td></tr>"
            for o in self.outcomes)
        senti = "".join(
            f"<tr><td>{s}</td><td>{'' if r is None else f'{r:.1f}'}</td>"
            f"<td>{'overbought' if r is not None and r > self.overbought else ''}</td></tr>"
            for s, r in self.sentiment.items())
        return (f"<div class='activetrader-report'><h4>Iteration {html.escape(self.timestamp.isoformat())}"
                f" ({self.mode}{', dry run' if self.dry_run else ''})</h4>"
                f"<p>Portfolio ${self.portfolio_value:,.2f} &middot; cash ${self.cash:,.2f} &middot; "
                f"bearish ratio {self.bearish_ratio:.0%} (threshold {self.bearish_threshold:.0%})</p>"
                f"<table><tr><th>symbol</th><th>RSI</th><th></th></tr>{senti}</table>"
                f"<table><tr><th></th><th>order</th><th>status</th><th>message</th></tr>{rows}</table>"
                f"<details><summary>narrative</summary><pre>{html.escape(self.narrative)}</pre></details></div>")
