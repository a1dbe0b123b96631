"""Settings panels, headless: widgets are views of Settings (issue 4, item 2).

Widgets get a fake comm that records what the kernel would send to the browser, and a
``Frontend`` helper plays the browser (an edit arrives as a comm ``update`` message, a click
as a ``custom`` one), the way anywidget's and ipywidgets' own tests do.
"""

from __future__ import annotations

import html
import logging

import comm
import ipywidgets as W
import pytest
from comm.base_comm import BaseComm
from IPython.core.formatters import DisplayFormatter

from activetrader import Settings, Trader
from activetrader.notebook import BracketPanel, HedgePanel, RebalancePanel, SettingsPanel
from activetrader.settings import BracketSettings, HedgeSettings

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class FrontendComm(BaseComm):
    """A comm whose far end is this test: every message the kernel publishes is recorded."""

    def __init__(self, *args, **kwargs):
        self.published: list[tuple[str, dict | None]] = []
        super().__init__(*args, **kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        self.published.append((msg_type, data))


class Frontend:
    """Plays the browser: sends edits and clicks, reads what the kernel sent back."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    def _receive(self, widget, data: dict) -> None:
        widget.comm.handle_msg({"content": {"data": data}, "buffers": []})
        # ipywidgets logs (and swallows) an exception raised while handling a browser message
        failures = [r for r in self._caplog.records if "Exception in widget method" in r.getMessage()]
        assert not failures, failures[0].getMessage()

    def set(self, widget, **state) -> None:
        """The user edits ``widget`` in the browser."""
        self._receive(widget, {"method": "update", "state": state, "buffer_paths": []})

    def click(self, button) -> None:
        self._receive(button, {"method": "custom", "content": {"event": "click"}})

    def connect(self, widget) -> dict:
        """A view opens now (a Voila page loading): it asks for, and gets, the full state."""
        already = len(widget.comm.published)
        self._receive(widget, {"method": "request_state"})
        return [data["state"] for kind, data in widget.comm.published[already:]
                if kind == "comm_msg" and data and data.get("method") == "update"][-1]

    @staticmethod
    def sent(widget, key: str) -> list:
        """Values of ``key`` the kernel sent to the browser as state updates, in order."""
        return [data["state"][key] for kind, data in widget.comm.published
                if kind == "comm_msg" and data and data.get("method") == "update" and key in data["state"]]


@pytest.fixture(autouse=True)
def frontend(monkeypatch, caplog) -> Frontend:
    """Every widget created in a test talks to a recording comm instead of a kernel."""
    monkeypatch.setattr(comm, "create_comm", lambda *args, **kwargs: FrontendComm(*args, **kwargs))
    caplog.set_level(logging.WARNING)
    return Frontend(caplog)


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def bracket(settings):
    panel = BracketPanel(settings)
    yield panel
    panel.close()


def notifications(settings: Settings) -> list[tuple]:
    seen: list[tuple] = []
    settings.subscribe(lambda *event: seen.append(event))
    return seen


# ---------------------------------------------------------------- widget -> settings
def test_panel_widget_change_assigns_through_settings(bracket, settings):
    seen = notifications(settings)

    bracket.widgets["bracket.stop_loss_pct"].value = 0.03

    assert settings.bracket.stop_loss_pct == 0.03
    assert seen == [("bracket.stop_loss_pct", 0.05, 0.03)]  # one assignment, no echo back
    assert bracket.error == "" and bracket.error_widget.value == ""


def test_panel_invalid_value_shows_error_reverts_widget_and_keeps_setting(bracket, settings):
    seen = notifications(settings)

    bracket.widgets["bracket.stop_loss_pct"].value = 1.5

    message = "bracket.stop_loss_pct = 1.5 is not allowed: must be > 0 and < 1"
    assert bracket.error == message
    assert html.escape(message) in bracket.error_widget.value and "color:#c62828" in bracket.error_widget.value
    assert bracket.widgets["bracket.stop_loss_pct"].value == 0.05
    assert settings.bracket.stop_loss_pct == 0.05
    assert seen == []  # nothing was applied


def test_panel_invalid_edit_in_browser_is_sent_back_reverted(bracket, settings, frontend):
    box = bracket.widgets["bracket.stop_loss_pct"]
    already = len(frontend.sent(box, "value"))

    frontend.set(box, value=1.5)

    assert settings.bracket.stop_loss_pct == 0.05
    assert frontend.sent(box, "value")[already:] == [0.05]  # the browser is told to show 0.05 again
    assert "must be &gt; 0 and &lt; 1" in frontend.sent(bracket.error_widget, "value")[-1]


def test_panel_valid_edit_in_browser_assigns_and_updates_readout(bracket, settings, frontend):
    frontend.set(bracket.widgets["bracket.take_profit_pct"], value=0.2)

    assert settings.bracket.take_profit_pct == 0.2
    readout = bracket._controls["bracket.take_profit_pct"].readout
    assert frontend.sent(readout, "value")[-1] == "= 20%"


def test_panel_valid_value_after_invalid_clears_error(bracket, settings):
    bracket.widgets["bracket.stop_loss_pct"].value = -1.0
    assert bracket.error.startswith("bracket.stop_loss_pct = -1.0 is not allowed")

    bracket.widgets["bracket.stop_loss_pct"].value = 0.04

    assert settings.bracket.stop_loss_pct == 0.04
    assert bracket.error == "" and bracket.error_widget.value == ""


def test_panel_number_boxes_do_not_clamp_so_validation_explains(bracket):
    box = bracket.widgets["bracket.take_profit_pct"]

    box.value = 11.0  # above the allowed 10: reaches Settings instead of being clamped

    assert bracket.error == "bracket.take_profit_pct = 11.0 is not allowed: must be > 0 and <= 10"
    assert box.value == 0.15


# ---------------------------------------------------------------- settings -> widget
def test_panel_code_change_redraws_widget_without_assigning_back(bracket, settings, frontend):
    seen = notifications(settings)
    box = bracket.widgets["bracket.take_profit_pct"]

    settings.bracket.take_profit_pct = 0.25

    assert box.value == 0.25
    assert frontend.sent(box, "value")[-1] == 0.25
    assert bracket._controls["bracket.take_profit_pct"].readout.value == "= 25%"
    assert seen == [("bracket.take_profit_pct", 0.15, 0.25)]


def test_panel_group_replacement_redraws_every_field(bracket, settings):
    settings.bracket = BracketSettings(stop_loss_pct=0.02, time_in_force="day", trailing_stop_pct=0.04)

    w = bracket.widgets
    assert (w["bracket.stop_loss_pct"].value, w["bracket.time_in_force"].value) == (0.02, "day")
    assert bracket.switches["bracket.trailing_stop_pct"].value is True
    assert w["bracket.trailing_stop_pct"].value == 0.04

    w["bracket.take_profit_pct"].value = 0.3  # edits go to the new group

    assert settings.bracket.take_profit_pct == 0.3


def test_panels_on_one_settings_stay_in_sync(settings):
    first, second = HedgePanel(settings), HedgePanel(settings)

    first.widgets["hedge.overbought"].value = 65.0

    assert second.widgets["hedge.overbought"].value == 65.0
    first.close()
    second.close()


def test_panel_close_unsubscribes_and_closes_widgets(settings):
    panel = BracketPanel(settings)
    box = panel.widgets["bracket.stop_loss_pct"]

    panel.close()
    settings.bracket.stop_loss_pct = 0.02

    assert box.value == 0.05  # no longer redrawn
    assert box.comm is None and panel.comm is None
    panel.close()  # idempotent


# ---------------------------------------------------------------- field kinds
def test_bracket_trailing_stop_switch_turns_it_on_and_off(bracket, settings):
    switch, box = bracket.switches["bracket.trailing_stop_pct"], bracket.widgets["bracket.trailing_stop_pct"]
    assert (switch.value, box.disabled) == (False, True)
    assert box.value == settings.bracket.stop_loss_pct  # a number ready to switch on with

    switch.value = True
    assert settings.bracket.trailing_stop_pct == 0.05 and box.disabled is False

    box.value = 0.03
    assert settings.bracket.trailing_stop_pct == 0.03

    switch.value = False
    assert settings.bracket.trailing_stop_pct is None
    assert (box.disabled, box.value) == (True, 0.03)  # kept for switching on again
    assert bracket._controls["bracket.trailing_stop_pct"].readout.value == "off"


def test_bracket_trailing_stop_code_change_redraws_switch(bracket, settings):
    settings.bracket.trailing_stop_pct = 0.08
    assert bracket.switches["bracket.trailing_stop_pct"].value is True
    assert bracket.widgets["bracket.trailing_stop_pct"].value == 0.08

    settings.bracket.trailing_stop_pct = None
    assert bracket.switches["bracket.trailing_stop_pct"].value is False


def test_bracket_trailing_stop_invalid_value_reverts_switch(bracket, settings):
    box = bracket.widgets["bracket.trailing_stop_pct"]
    with bracket._sync():  # a number in the disabled box, as a user could leave it
        box.value = 0.0

    bracket.switches["bracket.trailing_stop_pct"].value = True

    assert bracket.error == "bracket.trailing_stop_pct = 0.0 is not allowed: must be > 0 and < 1, or None (off)"
    assert settings.bracket.trailing_stop_pct is None
    assert bracket.switches["bracket.trailing_stop_pct"].value is False


def test_bracket_time_in_force_is_a_dropdown_of_allowed_values(bracket, settings):
    dropdown = bracket.widgets["bracket.time_in_force"]
    assert dropdown.options == ("gtc", "day")

    dropdown.value = "day"

    assert settings.bracket.time_in_force == "day"


def test_hedge_symbols_text_is_parsed_and_redrawn_normalized(settings):
    panel = HedgePanel(settings)
    text = panel.widgets["hedge.sentiment_symbols"]
    assert text.value == "AAPL, MSFT, GOOGL, NVDA, TSLA" and text.continuous_update is False

    text.value = "aapl,msft  nvda"

    assert settings.hedge.sentiment_symbols == ("AAPL", "MSFT", "NVDA")
    assert text.value == "AAPL, MSFT, NVDA"
    panel.close()


def test_hedge_invalid_symbol_shows_error_and_reverts_text(settings):
    panel = HedgePanel(settings)
    text = panel.widgets["hedge.sentiment_symbols"]

    text.value = "AAPL, 123"

    assert panel.error.startswith("hedge.sentiment_symbols = 'AAPL, 123' is not allowed: symbols must be")
    assert text.value == "AAPL, MSFT, GOOGL, NVDA, TSLA"
    assert settings.hedge.sentiment_symbols == ("AAPL", "MSFT", "GOOGL", "NVDA", "TSLA")
    panel.close()


def test_hedge_widgets_cover_choices_switches_and_whole_numbers(settings):
    panel = HedgePanel(settings)
    w = panel.widgets
    assert w["hedge.inverse_etf"].options == ("SH", "SPXS", "SQQQ")

    w["hedge.inverse_etf"].value = "SQQQ"
    w["hedge.enabled"].value = False
    w["hedge.rsi_period"].value = 21
    w["hedge.bearish_ratio"].value = 0.8

    h = settings.hedge
    assert (h.inverse_etf, h.enabled, h.rsi_period, h.bearish_ratio) == ("SQQQ", False, 21, 0.8)
    assert type(h.rsi_period) is int

    w["hedge.rsi_period"].value = 1
    assert panel.error.startswith("hedge.rsi_period = 1 is not allowed")
    assert (w["hedge.rsi_period"].value, h.rsi_period) == (21, 21)

    settings.hedge = HedgeSettings(overbought=80.0)
    assert (w["hedge.overbought"].value, w["hedge.inverse_etf"].value, w["hedge.enabled"].value) == (80.0, "SH", True)
    panel.close()


def test_rebalance_panel_covers_the_cap_and_entry_sizing(settings):
    panel = RebalancePanel(settings)
    assert set(panel.widgets) == {"rebalance.enabled", "rebalance.max_position_pct", "entry.position_pct",
                                  "entry.max_new_positions", "entry.min_cash_reserve_pct"}

    panel.widgets["rebalance.max_position_pct"].value = 0.10
    panel.widgets["entry.max_new_positions"].value = 1
    panel.widgets["entry.position_pct"].value = 0.0

    assert (settings.rebalance.max_position_pct, settings.entry.max_new_positions) == (0.10, 1)
    assert panel.error == "entry.position_pct = 0.0 is not allowed: must be > 0 and <= 1"
    assert panel.widgets["entry.position_pct"].value == 0.05

    settings.entry.min_cash_reserve_pct = 0.1
    assert panel.widgets["entry.min_cash_reserve_pct"].value == 0.1
    panel.close()


# ---------------------------------------------------------------- construction and display
def test_panel_accepts_a_trader_or_settings_and_nothing_else():
    trader = Trader()
    panel = BracketPanel(trader)
    assert panel.settings is trader.settings
    panel.close()

    with pytest.raises(TypeError, match="a panel needs a Trader or an activetrader.Settings, not dict"):
        BracketPanel({"bracket": {}})


def test_settings_panel_ad_hoc_fields(settings):
    panel = SettingsPanel(settings, fields=["entry.oversold", "schedule.market_hours_only"], title="Entries")
    panel.widgets["entry.oversold"].value = 25.0
    assert settings.entry.oversold == 25.0
    assert "Entries" in panel.children[0].value
    panel.close()

    with pytest.raises(ValueError, match="'bracket.stop_los_pct' is not a setting"):
        SettingsPanel(settings, fields=["bracket.stop_los_pct"])


def test_panel_is_a_widget_displayed_as_itself_with_stable_classes(bracket):
    data, _ = DisplayFormatter().format(bracket)

    assert isinstance(bracket, W.VBox) and bracket.widget is bracket
    assert data[WIDGET_VIEW]["model_id"] == bracket.model_id
    assert {"activetrader-panel", "activetrader-panel-bracket"} <= set(bracket._dom_classes)
    assert "activetrader-field-bracket-stop_loss_pct" in bracket.widgets["bracket.stop_loss_pct"]._dom_classes
    assert "activetrader-error" in bracket.error_widget._dom_classes
    assert bracket.widgets["bracket.stop_loss_pct"].tooltip  # every field explains itself
    assert repr(bracket).startswith("BracketPanel(stop_loss_pct=0.05, take_profit_pct=0.15")


# ---------------------------------------------------------------- composing (issue 9, item 5)
def test_panels_compose_in_an_hbox_and_still_validate_and_redraw(frontend):
    trader = Trader()
    row = W.HBox([BracketPanel(trader), HedgePanel(trader)])  # raised a TraitError before
    bracket, hedge = row.children
    stop = bracket.widgets["bracket.stop_loss_pct"]

    frontend.set(stop, value=1.5)                      # an invalid edit in the browser
    assert trader.settings.bracket.stop_loss_pct == 0.05
    assert frontend.sent(stop, "value")[-1] == 0.05     # put back on screen
    assert "must be &gt; 0 and &lt; 1" in bracket.error_widget.value

    frontend.set(hedge.widgets["hedge.overbought"], value=65.0)   # a valid one
    trader.settings.bracket.take_profit_pct = 0.2                # a change in code
    assert trader.settings.hedge.overbought == 65.0
    assert frontend.sent(bracket.widgets["bracket.take_profit_pct"], "value")[-1] == 0.2
    for panel in row.children:
        panel.close()


def test_panels_compose_in_a_tab_and_display_inside_it(settings, frontend):
    tabs = W.Tab(children=[BracketPanel(settings), HedgePanel(settings), RebalancePanel(settings)],
                 titles=["Brackets", "Hedge", "Sizing"])
    data, _ = DisplayFormatter().format(tabs)
    rebalance = tabs.children[2]

    # the browser renders the tab's children by model id: the panels themselves
    assert data[WIDGET_VIEW]["model_id"] == tabs.model_id
    assert frontend.connect(tabs)["children"] == [f"IPY_MODEL_{p.model_id}" for p in tabs.children]
    frontend.set(rebalance.widgets["rebalance.max_position_pct"], value=0.1)
    assert settings.rebalance.max_position_pct == 0.1
    frontend.set(rebalance.widgets["entry.position_pct"], value=0.0)
    assert rebalance.error == "entry.position_pct = 0.0 is not allowed: must be > 0 and <= 1"
    assert settings.entry.position_pct == 0.05
    for panel in tabs.children:
        panel.close()
