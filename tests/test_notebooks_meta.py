"""The notebooks as files: stored outputs, honest nbval markers, correct OOP teaching.

``pytest --nbval`` (run by ``make test``) re-executes every notebook and compares its
outputs with the stored ones. These tests check what nbval cannot: that the stored outputs
come from one complete top-to-bottom run, that ``# NBVAL_IGNORE_OUTPUT`` only ever excuses
a chart or a widget (whose outputs hold model ids and plotly JSON), and that the lessons
show what they promise.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from activetrader import IterationReport

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TUTORIALS = ("01_quickstart", "02_bracket_orders", "03_hedging", "04_rebalancing", "05_oop_concepts",
             "06_backtesting", "07_alpaca_sandbox", "08_live_trailing_streaming", "09_sweeps")
ALL = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
IGNORE = "NBVAL_IGNORE_OUTPUT"
#: Source that makes a chart or a widget: the toolkit's chart functions, its panels and
#: dashboard, plotly figures, a result's ``.plot()``.
FIGURE_SOURCE = re.compile(r"\b\w+_chart\(|\b\w*Panel\(|\bDashboard\(|\bFigureWidget\(|\bgo\.Figure\(|\.plot\(|\.heatmap\(")
#: Outputs that are a chart or a widget.
FIGURE_MIME = ("application/vnd.plotly.v1+json", "application/vnd.jupyter.widget-view+json")
#: Markers that would hide a cell from strict comparison or from running at all.
FORBIDDEN_MARKERS = ("NBVAL_SKIP", "NBVAL_RAISES_EXCEPTION", "NBVAL_IGNORE_OUTPUT_IF")


def _load(name: str) -> dict:
    return json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _source(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def _text_of_outputs(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"] if isinstance(out["text"], str) else "".join(out["text"]))
        for mime in ("text/plain", "text/html"):
            value = out.get("data", {}).get(mime)
            if value is not None:
                parts.append(value if isinstance(value, str) else "".join(value))
    return "".join(parts)


def test_notebooks_folder_has_every_tutorial_and_the_dashboard():
    assert set(TUTORIALS) | {"dashboard"} <= set(ALL), ALL


@pytest.mark.parametrize("name", ALL)
def test_notebook_outputs_come_from_one_complete_run_in_order(name):
    nb = _load(name)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    counts = [c["execution_count"] for c in _code_cells(nb)]
    assert None not in counts, f"{name}: unexecuted code cells (execution_count None) at {counts}"
    assert counts == list(range(1, len(counts) + 1)), f"{name}: not one top-to-bottom run: {counts}"


@pytest.mark.parametrize("name", ALL)
def test_notebook_stores_outputs_and_no_errors(name):
    cells = _code_cells(_load(name))
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{name}: stored error outputs: {[e['ename'] + ': ' + e['evalue'] for e in errors]}"
    stderr = [_source(c)[:60] for c in cells for o in c["outputs"]
              if o["output_type"] == "stream" and o["name"] == "stderr"]
    assert not stderr, f"{name}: cells wrote to stderr (warnings?): {stderr}"
    # A cell whose last line is an expression or a print() has something to show.
    for cell in cells:
        lines = [ln for ln in _source(cell).strip().splitlines() if ln.strip() and not ln.startswith("#")]
        last = lines[-1] if lines else ""
        shows = last.startswith(("print(", "%")) or re.fullmatch(r"[A-Za-z_][\w.\[\]\"', ()=:*-]*", last)
        if shows and not re.match(r"^\s*(\w+(\.\w+)*\s*=[^=]|import |from |del |_ = )", last):
            assert cell["outputs"], f"{name}: cell has no stored output:\n{_source(cell)}"


@pytest.mark.parametrize("name", ALL)
def test_nbval_ignore_output_marks_only_chart_and_widget_cells(name):
    for cell in _code_cells(_load(name)):
        src = _source(cell)
        for marker in FORBIDDEN_MARKERS:
            assert marker not in src, f"{name}: {marker} hides a cell from strict nbval:\n{src}"
        if IGNORE not in src:
            continue
        assert FIGURE_SOURCE.search(src), f"{name}: {IGNORE} on a cell that makes no chart or widget:\n{src}"
        mimes = {m for out in cell["outputs"] for m in out.get("data", {})}
        assert mimes & set(FIGURE_MIME), f"{name}: {IGNORE} cell shows no chart or widget (outputs {mimes}):\n{src}"


@pytest.mark.parametrize("name", ALL)
def test_chart_and_widget_outputs_are_marked_ignore(name):
    """The converse: a cell that displays a figure or widget must carry the marker, or
    nbval would compare plotly uids and widget model ids, which change every run."""
    for cell in _code_cells(_load(name)):
        mimes = {m for out in cell["outputs"] for m in out.get("data", {})}
        if mimes & set(FIGURE_MIME):
            assert IGNORE in _source(cell), f"{name}: figure/widget output without {IGNORE}:\n{_source(cell)}"


@pytest.mark.parametrize("name", ALL)
def test_notebook_is_small_because_plotly_js_is_not_embedded(name):
    size = (NOTEBOOKS / f"{name}.ipynb").stat().st_size
    assert size < 500_000, f"{name}: {size} bytes; a figure probably embedded plotly.js"


def test_oop_notebook_demonstrates_name_mangling_with_the_mangled_name():
    nb = _load("05_oop_concepts")
    text = "".join(_source(c) for c in nb["cells"])
    outputs = "".join(_text_of_outputs(c) for c in _code_cells(nb))
    # the mangled names it demonstrates, shown by running code
    for mangled in ("_CountingStrategy__proposals", "_Audited__proposals"):
        assert re.search(rf"'{mangled}'", outputs), f"{mangled} not shown in an output"
    assert "counting._CountingStrategy__proposals" in text
    assert "AttributeError" in outputs  # counting.__proposals from outside the class
    assert "name mangling" in text.lower()
    # and what it is not
    assert re.search(r"\*\*not\*\* access control|not access control", text)


def test_oop_notebook_shows_class_vs_instance_variables_inheritance_and_a_hook_override():
    nb = _load("05_oop_concepts")
    text = "".join(_source(c) for c in nb["cells"])
    outputs = "".join(_text_of_outputs(c) for c in _code_cells(nb))
    assert "CombinedStrategy.STOP_LOSS_PCT" in text and "vars(a) = {'settings': None, 'STOP_LOSS_PCT': 0.03}" in outputs
    assert "class HalfSure(CombinedStrategy)" in text and "def confidence(self" in text
    assert "confidence 0.37 < 0.60" in outputs  # the override changed the decision
    assert "class DoNothing(Strategy)" in text and "super()" in text
    assert "self" in text and "__self__ is strategy" in text


def test_dashboard_notebook_explains_the_design_with_live_objects():
    nb = _load("dashboard")
    text = "".join(_source(c) for c in nb["cells"])
    outputs = "".join(_text_of_outputs(c) for c in _code_cells(nb))
    assert "Dashboard(trader)" in text
    assert "SimBroker         MRO: SimBroker -> Engine -> object" in outputs
    assert "CombinedStrategy  MRO: CombinedStrategy -> Strategy -> object" in outputs
    assert "_Vault__secret" in outputs
    assert "class default   CombinedStrategy.STOP_LOSS_PCT" in outputs


def test_quickstart_mentions_every_report_field():
    text = "".join(_source(c) for c in _load("01_quickstart")["cells"])
    fields = {f.name for f in dataclasses.fields(IterationReport)}
    properties = {n for n, v in vars(IterationReport).items() if isinstance(v, property)}
    missing = sorted(n for n in fields | properties | {"to_dict"} if f"report.{n}" not in text)
    assert not missing, f"01_quickstart never shows report.{missing}"


def test_quickstart_uses_the_magics():
    text = "".join(_source(c) for c in _load("01_quickstart")["cells"])
    for magic in ("%load_ext activetrader", "%trade_iteration", "%positions", "%trader_settings", "%trader_status"):
        assert magic in text
