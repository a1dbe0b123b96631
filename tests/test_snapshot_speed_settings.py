"""Strategy.decide reuses its settings copies between calls (issue 7), under its contract:
the strategy and its hooks see a copy, the caps are checked against the original, a change
the caller makes is seen by the next decision, and a change the strategy makes to its copy
reaches neither the caller nor the next decision. Settings.version is what tells them apart."""

import pytest

from activetrader import Settings
from activetrader.settings import SettingsError
from activetrader.strategy import CombinedStrategy, EnterBracket, Plan, Strategy
from activetrader.strategy.snapshot import Snapshot


class _Recorder(Strategy):
    """Records the oversold level and settings object it is given, then (``mutate``) changes
    its working copy: the loosest caps and another oversold level."""

    def __init__(self, settings=None, *, mutate=False):
        super().__init__(settings)
        self.mutate, self.seen, self.objects = mutate, [], []

    def propose(self, snapshot, settings, **kwargs):
        self.seen.append(settings.entry.oversold)
        self.objects.append(settings)
        if self.mutate:
            settings.entry.oversold = 5.0
            settings.rebalance.max_position_pct = 1.0
        # 100 sh at $100 = $10,000: two thirds of a $15,000 account, far above a 15% cap
        return Plan(intents=(EnterBracket(symbol="ABC", qty=100, reference_price=100.0, take_profit=115.0,
                                          stop_loss=95.0, purpose="entry", reason="test"),))


def _snap():
    return Snapshot.from_simple(cash=15_000, prices={"ABC": 100.0})


def test_decide_strategy_mutating_its_copy_does_not_leak_into_next_decision_or_caller():
    settings = Settings()
    strategy = _Recorder(mutate=True)
    plans = [strategy.decide(_snap(), settings) for _ in range(3)]
    assert strategy.seen == [30.0, 30.0, 30.0]  # each decision starts from the caller's values
    assert settings.entry.oversold == 30.0 and settings.rebalance.max_position_pct == 0.15
    # the caps never saw the strategy's 100% cap: 15% of $15,000 at $100 is 22 shares
    assert [p.intents[0].qty for p in plans] == [22, 22, 22]
    assert all(o is not settings for o in strategy.objects)


def test_decide_caller_change_is_seen_by_next_decision():
    settings = Settings()
    strategy = _Recorder()
    first = strategy.decide(_snap(), settings)
    settings.entry.oversold = 20.0
    settings.rebalance.max_position_pct = 0.5
    second = strategy.decide(_snap(), settings)
    settings.entry = {"oversold": 10.0}  # a whole group assigned
    third = strategy.decide(_snap(), settings)
    assert strategy.seen == [30.0, 20.0, 10.0]
    # the caps follow the caller: 15% then 50% of $15,000 at $100, then the group default 15% again
    assert [p.intents[0].qty for p in (first, second, third)] == [22, 75, 75]


def test_decide_another_settings_object_with_the_same_version_is_not_mistaken_for_the_first():
    a, b = Settings(), Settings()
    b.entry.oversold = 12.0
    a.entry.oversold = 25.0  # both at version 1 now
    assert a.version == b.version
    strategy = _Recorder()
    strategy.decide(_snap(), a)
    strategy.decide(_snap(), b)
    assert strategy.seen == [25.0, 12.0]


def test_decide_strategy_changing_the_callers_settings_mid_decision_cannot_loosen_that_decisions_caps():
    settings = Settings()

    class Loosen(_Recorder):
        def propose(self, snapshot, s, **kwargs):
            self.settings.rebalance.max_position_pct = 1.0  # the caller's own object
            return super().propose(snapshot, s, **kwargs)

    strategy = Loosen(settings)
    first = strategy.decide(_snap())
    second = strategy.decide(_snap())
    assert first.intents[0].qty == 22  # capped by the 15% in force when the decision began
    assert second.intents[0].qty == 100  # the change is the caller's now, seen by the next one


def test_settings_version_counts_successful_assignments_only():
    s = Settings()
    v = s.version
    s.bracket.stop_loss_pct = 0.04
    s.hedge = {"overbought": 75.0}
    with pytest.raises(SettingsError):
        s.entry.oversold = 99.0
    with pytest.raises(SettingsError):
        s.entry.lookback_bars = 10  # breaks the RSI look-back rule: rolled back
    assert s.version == v + 2
    c = s.copy()
    c.entry.oversold = 20.0
    assert s.version == v + 2 and c.version == v + 3


def test_decide_keeps_its_settings_copies_outside_the_strategy_and_drops_them_with_it():
    """``vars(strategy)`` is the user's own (the OOP tutorial prints it); the reused copies live
    beside it and go when the strategy is collected."""
    import gc

    from activetrader.strategy import base

    strategy = CombinedStrategy(Settings())
    strategy.decide(Snapshot.from_simple(cash=1_000))
    assert vars(strategy) == {"settings": strategy.settings}
    assert id(strategy) in base._COPIES
    key = id(strategy)
    del strategy
    gc.collect()
    assert key not in base._COPIES
