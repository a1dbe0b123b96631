"""Restart recovery: reconcile the journal with the broker before the first iteration.

A process can die anywhere, in particular after the broker accepted an order and before the
journal recorded the acknowledgement. The executor writes ahead (``record_submitting`` before
each broker call), so on restart:

* every *unresolved* submission is looked up at the broker by its ``client_order_id``
  (``get_order_by_client_id``) and completed in the journal: accepted with the broker's
  order id and status if the broker has it, refused ("never reached the broker") if not;
* every iteration begun and never ended is marked *abandoned*;
* positions left without protection are protected by the next iteration's protect step,
  which reads the broker's state, not the journal's.

Nothing is submitted twice: client order ids are deterministic, the broker refuses a repeated
one (``client_order_id must be unique``), and the executor then adopts the existing order.

>>> import tempfile, pathlib
>>> from activetrader import Trader
>>> tmp = tempfile.TemporaryDirectory()
>>> trader = Trader(journal=pathlib.Path(tmp.name) / "j.sqlite")
>>> recover(trader)
Recovery(resolved=0, not_received=0, abandoned=0)
>>> trader.close(); tmp.cleanup()
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..resilience import order_by_client_id

_NOT_RECEIVED = "never reached the broker (process ended before the acknowledgement; found at restart)"
_RECOVERED = "acknowledgement recovered at restart (looked up by client_order_id)"
_ABANDONED = "process ended before the iteration finished (found at restart)"


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover` did: submissions completed from the broker (``resolved``), those the
    broker never received (``not_received``), and iterations marked abandoned."""

    resolved: tuple[str, ...] = ()
    not_received: tuple[str, ...] = ()
    abandoned: tuple[str, ...] = field(default_factory=tuple)

    def __repr__(self) -> str:
        return (f"Recovery(resolved={len(self.resolved)}, not_received={len(self.not_received)}, "
                f"abandoned={len(self.abandoned)})")


def recover(trader) -> Recovery:
    """Reconcile ``trader.journal`` with ``trader.broker`` (see the module docstring).

    A trader without a journal has nothing to reconcile. Broker errors other than "not found"
    propagate: recovery must not guess.
    """
    journal = trader.journal
    if journal is None:
        return Recovery()
    resolved, missing = [], []
    for row in journal.unresolved().itertuples(index=False):
        cid = row.client_order_id
        order = order_by_client_id(trader.broker, cid)
        seq = None if row.intent_seq is None or str(row.intent_seq) == "<NA>" else int(row.intent_seq)
        if order is not None:
            journal.record_order(row.iteration_id, intent_seq=seq, action=row.action, symbol=row.symbol,
                                 client_order_id=cid, order_id=str(order.id), accepted=True,
                                 status=order.status.value, message=_RECOVERED)
            resolved.append(cid)
        else:
            journal.record_order(row.iteration_id, intent_seq=seq, action=row.action, symbol=row.symbol,
                                 client_order_id=cid, order_id=None, accepted=False, status=None,
                                 message=_NOT_RECEIVED)
            missing.append(cid)
    its = journal.iterations()
    open_its = its[its["completed_at"].isna()]
    for iteration_id in dict.fromkeys(open_its["iteration_id"]):
        journal.abandon_iteration(iteration_id, _ABANDONED)
    return Recovery(tuple(resolved), tuple(missing), tuple(dict.fromkeys(open_its["iteration_id"])))


__all__ = ["Recovery", "recover"]
