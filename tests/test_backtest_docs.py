"""The backtest's documentation keeps up with its code: every stat is defined where users look."""

from __future__ import annotations

import json
from pathlib import Path

import activetrader
from activetrader.backtest import STATS, BacktestResult

ROOT = Path(__file__).resolve().parents[1]


def test_every_stat_is_defined_in_the_result_docstring_and_listed_in_the_readme():
    doc = BacktestResult.__doc__
    readme = (ROOT / "README.md").read_text()
    assert [s for s in STATS if f"``{s}``" not in doc] == []
    assert [s for s in STATS if s not in readme] == []
    assert "## Backtesting" in readme


def test_backtest_api_is_exported_from_the_package():
    assert {"backtest", "compare", "BacktestResult"} <= set(activetrader.__all__)
    assert activetrader.backtest.__module__ == "activetrader.backtest.run"


def test_backtesting_tutorial_shows_the_gapped_stops_and_the_comparison():
    nb = json.loads((ROOT / "notebooks" / "06_backtesting.ipynb").read_text())
    source = "".join("".join(c["source"]) for c in nb["cells"])
    outputs = "".join("".join(o.get("data", {}).get("text/plain", "")) for c in nb["cells"] if c["cell_type"] == "code"
                      for o in c["outputs"])
    assert "default_market()" in source and "BuyAndHold()" in source and "compare({" in source
    assert "active.gapped_stops" in source
    assert "gapped_stops" in outputs and "exit_level" in outputs
    assert "Comparison(passive, active)" in outputs
