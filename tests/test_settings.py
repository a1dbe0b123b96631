"""Settings: defaults, validation messages, notification and TOML files."""

import copy
import math
import pickle
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activetrader.settings import (BracketSettings, EntrySettings, HedgeSettings,
                                   RebalanceSettings, ScheduleSettings, Settings, SettingsError)


@pytest.fixture
def settings():
    return Settings()


# ------------------------------------------------------------------ defaults
def test_settings_defaults_equal_the_guide():
    s = Settings()
    assert s.bracket.model_dump() == {
        "stop_loss_pct": 0.05, "take_profit_pct": 0.15, "trailing_stop_pct": None,
        "time_in_force": "gtc", "near_stop_pct": 0.02}
    assert s.hedge.model_dump() == {
        "enabled": True, "sentiment_symbols": ("AAPL", "MSFT", "GOOGL", "NVDA", "TSLA"),
        "overbought": 70.0, "bearish_ratio": 0.60, "inverse_etf": "SH",
        "max_inverse_allocation": 0.20, "rsi_period": 14}
    assert s.rebalance.model_dump() == {"enabled": True, "max_position_pct": 0.15}
    assert s.entry.model_dump() == {
        "enabled": True,
        "watchlist": ("AAPL", "MSFT", "GOOGL", "AMZN", "META", "NVDA", "TSLA", "JPM", "JNJ",
                      "XOM", "KO", "WMT", "UNH", "AMD", "NFLX"),
        "rsi_period": 14, "lookback_bars": 100, "oversold": 30.0, "confidence_threshold": 0.6,
        "position_pct": 0.05, "max_new_positions": 3, "min_cash_reserve_pct": 0.0}
    assert s.schedule.model_dump() == {"every": "1h", "market_hours_only": True}
    assert s.schedule.interval == timedelta(hours=1)


def test_settings_error_is_a_value_error():
    assert issubclass(SettingsError, ValueError)


# ------------------------------------------------------------------ out of range, per group
@pytest.mark.parametrize(("group", "name", "value", "allowed"), [
    ("bracket", "stop_loss_pct", 1.5, "must be > 0 and < 1"),
    ("bracket", "take_profit_pct", 0, "must be > 0 and <= 10"),
    ("bracket", "trailing_stop_pct", 1.0, "must be > 0 and < 1, or None (off)"),
    ("bracket", "time_in_force", "ioc", "must be one of 'gtc', 'day'"),
    ("bracket", "near_stop_pct", -1.0, "must be >= 0 and < 1"),
    ("hedge", "overbought", 50, "must be > 50 and <= 100"),
    ("hedge", "bearish_ratio", 1.2, "must be > 0 and <= 1"),
    ("hedge", "inverse_etf", "QQQ", "must be one of 'SH', 'SPXS', 'SQQQ'"),
    ("hedge", "max_inverse_allocation", -0.1, "must be >= 0 and <= 1"),
    ("hedge", "rsi_period", 1, "must be >= 2 and <= 200"),
    ("rebalance", "max_position_pct", 0.0, "must be > 0 and <= 1"),
    ("entry", "oversold", 50.0, "must be >= 0 and < 50"),
    ("entry", "confidence_threshold", 1.01, "must be >= 0 and <= 1"),
    ("entry", "position_pct", 0, "must be > 0 and <= 1"),
    ("entry", "max_new_positions", -1, "must be >= 0"),
    ("entry", "min_cash_reserve_pct", 2.0, "must be >= 0 and <= 1"),
    ("entry", "rsi_period", 201, "must be >= 2 and <= 200"),
])
def test_assignment_out_of_range_names_field_value_range_and_keeps_old(
        settings, group, name, value, allowed):
    target = getattr(settings, group)
    old = getattr(target, name)

    with pytest.raises(SettingsError) as info:
        setattr(target, name, value)

    assert str(info.value) == f"{group}.{name} = {value!r} is not allowed: {allowed}"
    assert (info.value.field, info.value.value, info.value.allowed) == (
        f"{group}.{name}", value, allowed)
    assert getattr(target, name) == old


def test_assignment_stop_loss_message_matches_the_example(settings):
    with pytest.raises(SettingsError, match=r"^bracket\.stop_loss_pct = 1\.5 is not allowed: "
                                            r"must be > 0 and < 1$"):
        settings.bracket.stop_loss_pct = 1.5
    assert settings.bracket.stop_loss_pct == 0.05


def test_assignment_valid_value_is_applied(settings):
    settings.bracket.trailing_stop_pct = 0.08
    settings.bracket.trailing_stop_pct = None
    settings.hedge.inverse_etf = "SQQQ"
    settings.rebalance.max_position_pct = 1
    assert settings.bracket.trailing_stop_pct is None
    assert settings.hedge.inverse_etf == "SQQQ"
    assert settings.rebalance.max_position_pct == 1.0


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("stop_loss_pct", "abc", "must be a number > 0 and < 1"),
    ("stop_loss_pct", True, "must be a number > 0 and < 1"),
    ("stop_loss_pct", math.nan, "must be a number > 0 and < 1"),
    ("time_in_force", 3, "must be one of 'gtc', 'day'"),
])
def test_assignment_wrong_type_names_field_and_keeps_old(settings, name, value, allowed):
    old = getattr(settings.bracket, name)

    with pytest.raises(SettingsError) as info:
        setattr(settings.bracket, name, value)

    assert str(info.value) == f"bracket.{name} = {value!r} is not allowed: {allowed}"
    assert getattr(settings.bracket, name) == old


def test_assignment_wrong_type_for_int_and_bool_is_rejected(settings):
    with pytest.raises(SettingsError, match=r"^hedge\.rsi_period = 14\.5 is not allowed: "
                                            r"must be a whole number >= 2 and <= 200$"):
        settings.hedge.rsi_period = 14.5
    with pytest.raises(SettingsError, match=r"^rebalance\.enabled = 'yes' is not allowed: "
                                            r"must be true or false$"):
        settings.rebalance.enabled = "yes"
    assert settings.hedge.rsi_period == 14
    assert settings.rebalance.enabled is True


def test_construction_out_of_range_raises_settings_error_with_full_path():
    with pytest.raises(SettingsError, match=r"^bracket\.stop_loss_pct = -1 is not allowed"):
        BracketSettings(stop_loss_pct=-1)
    with pytest.raises(SettingsError, match=r"^hedge\.overbought = 20 is not allowed"):
        Settings(hedge={"overbought": 20})


def test_construction_several_problems_are_all_reported():
    with pytest.raises(SettingsError) as info:
        Settings(bracket={"stop_loss_pct": 2}, rebalance={"max_position_pct": 3})

    assert [p[0] for p in info.value.problems] == ["bracket.stop_loss_pct",
                                                    "rebalance.max_position_pct"]
    assert info.value.field == "bracket.stop_loss_pct"


# ------------------------------------------------------------------ symbols
def test_symbols_are_normalised_to_upper_case(settings):
    settings.hedge.sentiment_symbols = ["aapl", " msft "]
    settings.entry.watchlist = "nvda, brk.b"
    assert settings.hedge.sentiment_symbols == ("AAPL", "MSFT")
    assert settings.entry.watchlist == ("NVDA", "BRK.B")


@pytest.mark.parametrize(("value", "allowed"), [
    ([], "must list at least one symbol"),
    (["AAPL", "aapl"], "symbols must not repeat ('AAPL' is listed twice)"),
    (["TOOLONGSYMBOL"], "symbols must be 1-10 characters of A-Z, '.' or '-' ('TOOLONGSYMBOL' is not)"),
    (["A1"], "symbols must be 1-10 characters of A-Z, '.' or '-' ('A1' is not)"),
])
def test_sentiment_symbols_invalid_is_rejected(settings, value, allowed):
    with pytest.raises(SettingsError) as info:
        settings.hedge.sentiment_symbols = value
    assert info.value.allowed == allowed
    assert info.value.field == "hedge.sentiment_symbols"
    assert settings.hedge.sentiment_symbols == ("AAPL", "MSFT", "GOOGL", "NVDA", "TSLA")


def test_watchlist_empty_is_allowed(settings):
    settings.entry.watchlist = []
    assert settings.entry.watchlist == ()


# ------------------------------------------------------------------ entry cross-field rule
def test_entry_lookback_below_three_rsi_periods_is_rejected(settings):
    with pytest.raises(SettingsError) as info:
        settings.entry.lookback_bars = 41

    assert str(info.value) == (
        "entry.lookback_bars = 41 is not allowed: lookback_bars (41) must be >= "
        "3 * rsi_period (42) so Wilder RSI has converged")
    assert settings.entry.lookback_bars == 100


def test_entry_rsi_period_raised_past_lookback_is_rejected_and_kept(settings):
    with pytest.raises(SettingsError, match=r"^entry\.rsi_period = 34 is not allowed: .*Wilder"):
        settings.entry.rsi_period = 34
    assert settings.entry.rsi_period == 14
    settings.entry.lookback_bars = 42
    assert settings.entry.lookback_bars == 42


def test_entry_lookback_below_three_rsi_periods_at_construction_is_rejected():
    with pytest.raises(SettingsError, match=r"^entry\.lookback_bars = 30 is not allowed"):
        EntrySettings(lookback_bars=30)


# ------------------------------------------------------------------ schedule
@pytest.mark.parametrize(("every", "interval"), [
    ("15min", timedelta(minutes=15)), ("1h", timedelta(hours=1)), ("1d", timedelta(days=1)),
    ("1h30min", timedelta(minutes=90)), ("60s", timedelta(minutes=1)),
])
def test_schedule_every_valid_parses_to_interval(settings, every, interval):
    settings.schedule.every = every
    assert settings.schedule.interval == interval


@pytest.mark.parametrize("every", ["0h", "abc", "10s", "", "5 parsecs"])
def test_schedule_every_invalid_is_rejected_with_message(settings, every):
    with pytest.raises(SettingsError) as info:
        settings.schedule.every = every

    assert str(info.value).startswith(f"schedule.every = {every!r} is not allowed: ")
    assert "at least 1 minute" in info.value.allowed
    assert settings.schedule.every == "1h"


def test_schedule_every_accepts_a_timedelta():
    assert ScheduleSettings(every=timedelta(minutes=45)).every == "45min"


# ------------------------------------------------------------------ unknown names
def test_unknown_attribute_suggests_the_closest_field(settings):
    with pytest.raises(SettingsError, match=r"^unknown setting 'bracket\.stop_los_pct': "
                                            r"did you mean 'stop_loss_pct'\?$"):
        settings.bracket.stop_los_pct = 0.1
    assert not hasattr(settings.bracket, "stop_los_pct")


def test_unknown_group_suggests_the_closest_group(settings):
    with pytest.raises(SettingsError, match=r"did you mean 'hedge'\?"):
        settings.hedg = HedgeSettings()


def test_unknown_key_at_construction_is_rejected():
    with pytest.raises(SettingsError, match=r"unknown setting 'rebalance\.max_position'.*"
                                            r"did you mean 'max_position_pct'"):
        RebalanceSettings(max_position=0.1)


# ------------------------------------------------------------------ notification
def test_subscribe_nested_assignment_notifies_path_old_new(settings):
    seen = []
    settings.subscribe(lambda *event: seen.append(event))

    settings.bracket.stop_loss_pct = 0.03
    settings.schedule.every = "15min"

    assert seen == [("bracket.stop_loss_pct", 0.05, 0.03), ("schedule.every", "1h", "15min")]


def test_subscribe_failed_assignment_notifies_nothing(settings):
    seen = []
    settings.subscribe(lambda *event: seen.append(event))

    with pytest.raises(SettingsError):
        settings.bracket.stop_loss_pct = 1.5
    with pytest.raises(SettingsError):
        settings.entry.rsi_period = 50

    assert seen == []


def test_unsubscribe_stops_notifications(settings):
    seen = []
    unsubscribe = settings.subscribe(lambda *event: seen.append(event))

    unsubscribe()
    unsubscribe()  # idempotent
    settings.bracket.stop_loss_pct = 0.03

    assert seen == []


def test_group_replacement_notifies_and_new_group_is_wired(settings):
    seen = []
    settings.subscribe(lambda *event: seen.append(event))
    old_group = settings.bracket

    settings.bracket = BracketSettings(stop_loss_pct=0.1)
    old_group.stop_loss_pct = 0.2  # detached: no longer part of these settings
    settings.bracket.take_profit_pct = 0.3

    assert [e[0] for e in seen] == ["bracket", "bracket.take_profit_pct"]
    assert seen[0][2].stop_loss_pct == 0.1
    assert settings.bracket.stop_loss_pct == 0.1


def test_group_replacement_with_invalid_dict_keeps_old_group(settings):
    with pytest.raises(SettingsError, match=r"^bracket\.stop_loss_pct = 3 is not allowed"):
        settings.bracket = {"stop_loss_pct": 3}
    assert settings.bracket.stop_loss_pct == 0.05


def test_groups_are_never_shared_between_settings():
    a, b = Settings(), Settings()
    b.bracket = a.bracket
    b.bracket.stop_loss_pct = 0.02
    assert a.bracket.stop_loss_pct == 0.05


# ------------------------------------------------------------------ copies and dicts
def test_copy_is_independent_and_has_no_subscribers(settings):
    seen = []
    settings.subscribe(lambda *event: seen.append(event))

    clone = settings.copy()
    clone.bracket.stop_loss_pct = 0.02
    deep = copy.deepcopy(settings)
    deep.hedge.enabled = False

    assert settings.bracket.stop_loss_pct == 0.05
    assert settings.hedge.enabled is True
    assert seen == []
    assert clone != settings


def test_pickle_keeps_values_and_drops_subscribers(settings):
    settings.subscribe(lambda *event: None)  # a lambda cannot be pickled
    settings.bracket.stop_loss_pct = 0.04

    clone = pickle.loads(pickle.dumps(settings))
    seen = []
    clone.subscribe(lambda *event: seen.append(event))
    clone.bracket.stop_loss_pct = 0.03

    assert clone.bracket.stop_loss_pct == 0.03
    assert seen == [("bracket.stop_loss_pct", 0.04, 0.03)]


def test_dict_round_trip_equals_original(settings):
    settings.bracket.trailing_stop_pct = 0.07
    assert Settings.from_dict(settings.to_dict()) == settings
    assert settings.to_dict()["hedge"]["sentiment_symbols"] == ["AAPL", "MSFT", "GOOGL", "NVDA", "TSLA"]


def test_from_dict_partial_keeps_defaults():
    s = Settings.from_dict({"bracket": {"stop_loss_pct": 0.04}})
    assert s.bracket.stop_loss_pct == 0.04
    assert s.bracket.take_profit_pct == 0.15


# ------------------------------------------------------------------ TOML files
def test_toml_file_round_trip_equals_original(tmp_path, settings):
    settings.bracket.stop_loss_pct = 0.04
    settings.hedge.sentiment_symbols = ("SPY", "QQQ")
    settings.entry.watchlist = ()
    settings.schedule.every = "15min"
    path = tmp_path / "settings.toml"

    settings.save(path)

    assert Settings.load(path) == settings
    assert Settings.load(str(path)) == settings
    assert [p.name for p in tmp_path.iterdir()] == ["settings.toml"]  # no temp file left


def test_toml_save_writes_every_group_and_omits_none_trailing_stop(tmp_path, settings):
    path = tmp_path / "s.toml"
    settings.save(path)
    text = path.read_text()

    for group in ("[bracket]", "[hedge]", "[rebalance]", "[entry]", "[schedule]"):
        assert group in text
    assert "trailing_stop_pct" not in text
    assert Settings.load(path).bracket.trailing_stop_pct is None


def test_toml_save_overwrites_existing_file(tmp_path, settings):
    path = tmp_path / "s.toml"
    Settings().save(path)
    settings.rebalance.max_position_pct = 0.1
    settings.save(path)
    assert Settings.load(path).rebalance.max_position_pct == 0.1


def test_toml_unknown_key_names_dotted_key_file_and_suggestion(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[bracket]\nstop_los_pct = 0.1\n")

    with pytest.raises(SettingsError) as info:
        Settings.load(path)

    assert str(info.value) == (f"unknown setting 'bracket.stop_los_pct' in {path}: "
                               "did you mean 'stop_loss_pct'?")


def test_toml_unknown_group_names_suggestion(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[hedg]\nenabled = false\n")
    with pytest.raises(SettingsError, match=r"unknown setting 'hedg' in .*did you mean 'hedge'"):
        Settings.load(path)


def test_toml_invalid_value_names_field_value_range_and_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[hedge]\nbearish_ratio = 1.5\n")

    with pytest.raises(SettingsError) as info:
        Settings.load(path)

    assert str(info.value) == (
        f"hedge.bearish_ratio = 1.5 is not allowed: must be > 0 and <= 1 (in {path})")
    assert info.value.field == "hedge.bearish_ratio"


def test_toml_malformed_file_is_a_settings_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[bracket\n")
    with pytest.raises(SettingsError, match="is not valid TOML"):
        Settings.load(path)


def test_load_missing_file_names_the_path(tmp_path):
    path = tmp_path / "missing.toml"
    with pytest.raises(FileNotFoundError, match="missing.toml"):
        Settings.load(path)


def test_loads_dumps_round_trip(settings):
    settings.bracket.time_in_force = "day"
    assert Settings.loads(settings.dumps()) == settings


# ------------------------------------------------------------------ display
def test_repr_html_groups_by_section(settings):
    page = settings._repr_html_()
    for group in ("bracket", "hedge", "rebalance", "entry", "schedule"):
        assert f">{group}</th>" in page
    assert "<td>stop_loss_pct</td><td>0.05</td>" in page
    assert "<td>trailing_stop_pct</td><td>off</td>" in page


# ------------------------------------------------------------------ properties
@given(st.floats(min_value=0, max_value=1, exclude_min=True, exclude_max=True))
def test_stop_loss_pct_inside_range_is_accepted(value):
    s = BracketSettings()
    s.stop_loss_pct = value
    assert s.stop_loss_pct == value


@given(st.floats(allow_nan=True).filter(lambda x: not 0 < x < 1))
def test_stop_loss_pct_outside_range_is_rejected(value):
    s = BracketSettings()
    with pytest.raises(SettingsError, match=r"^bracket\.stop_loss_pct = "):
        s.stop_loss_pct = value
    assert s.stop_loss_pct == 0.05
