"""The layers stay honest (DESIGN.md "Import rules") and the public surface is explicit."""

import ast
from pathlib import Path

import pytest

import activetrader

PKG = Path(activetrader.__file__).parent


def _imports(path: Path) -> set[str]:
    """Absolute activetrader module names imported by a file (relative imports resolved)."""
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    package = ".".join(parts[:-1])  # the package a relative import starts from
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            out |= {f"{name}.{a.name}" for a in node.names}
    return {i for i in out if i.startswith("activetrader")}


def _layer_imports(layer: str) -> set[str]:
    files = [PKG / f"{layer}.py"] if (PKG / f"{layer}.py").exists() else list((PKG / layer).rglob("*.py"))
    return set().union(*(_imports(f) for f in files))


@pytest.mark.parametrize("layer, forbidden", [
    ("strategy", ("activetrader.broker", "activetrader.market", "activetrader.trader", "activetrader.notebook",
                  "activetrader.journal", "activetrader.cli")),
    ("broker", ("activetrader.strategy", "activetrader.trader", "activetrader.notebook", "activetrader.cli")),
    ("market", ("activetrader.broker", "activetrader.strategy", "activetrader.trader", "activetrader.notebook")),
    ("trader", ("activetrader.notebook", "activetrader.cli")),
    # the Trader's native fast path: market arrays and strategy indicators, nothing above the Trader
    ("fastpath", ("activetrader.broker", "activetrader.trader", "activetrader.notebook", "activetrader.cli",
                  "activetrader.backtest", "activetrader.server", "activetrader.live", "activetrader.sweep")),
    ("settings", ("activetrader.",)),
    ("ticks", ("activetrader.",)),
    ("backtest", ("activetrader.notebook", "activetrader.cli")),
    # the Alpaca connection and its retries know alpaca-py, not the toolkit's upper layers
    ("alpaca", ("activetrader.strategy", "activetrader.trader", "activetrader.notebook", "activetrader.cli",
                "activetrader.server", "activetrader.live", "activetrader.backtest", "activetrader.sweep")),
    ("resilience", ("activetrader.",)),
    # the local venue sits on the broker, market, trader and settings; never on widgets, CLI or strategy
    ("server", ("activetrader.notebook", "activetrader.cli", "activetrader.strategy", "activetrader.live",
                "activetrader.sweep", "activetrader.backtest")),
    # the live loop sits on the Trader (and the broker/strategy below it); never on widgets or the CLI
    ("live", ("activetrader.notebook", "activetrader.cli", "activetrader.server", "activetrader.backtest",
              "activetrader.sweep")),
    # sweeps sit on the backtest (and so on the Trader); the core, server and live loop never know them
    ("sweep", ("activetrader.notebook", "activetrader.server", "activetrader.live", "activetrader.trader")),
    ("backtest", ("activetrader.sweep",)),
])
def test_layer_does_not_import_what_it_must_not_know(layer, forbidden):
    bad = sorted(i for i in _layer_imports(layer) if i.startswith(forbidden))
    assert bad == [], f"{layer} imports {bad}"


def _backtest_imports_outside(path: Path, allowed_function: str | None) -> list[str]:
    """Imports of activetrader.backtest in ``path``, except those inside ``def allowed_function``."""
    tree = ast.parse(path.read_text())
    allowed = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == allowed_function:
            allowed |= {id(n) for n in ast.walk(node)}
    bad = []
    for node in ast.walk(tree):
        if id(node) in allowed:
            continue
        if isinstance(node, ast.ImportFrom) and ((node.level and (node.module or "").startswith("backtest"))
                                                 or (node.module or "").startswith("activetrader.backtest")):
            bad.append(f"{path.name}:{node.lineno}")
        elif isinstance(node, ast.Import) and any(a.name.startswith("activetrader.backtest") for a in node.names):
            bad.append(f"{path.name}:{node.lineno}")
    return bad


def test_core_does_not_import_backtest_except_trader_backtest_lazily():
    """The backtest layer sits on top of the Trader: the core never imports it, except the one
    lazy import inside ``Trader.backtest`` (run time, so the module graph has no cycle)."""
    core = [PKG / "trader.py", PKG / "settings.py", PKG / "report.py", PKG / "journal.py", PKG / "ticks.py"]
    for layer in ("strategy", "broker", "market"):
        core += list((PKG / layer).rglob("*.py"))
    bad = [hit for f in core for hit in _backtest_imports_outside(f, "backtest" if f.name == "trader.py" else None)]
    assert bad == [], f"the core imports activetrader.backtest at {bad}"
    assert _backtest_imports_outside(PKG / "trader.py", None), "Trader.backtest imports the backtest layer lazily"


def test_public_api_is_explicit():
    assert set(activetrader.__all__) >= {"Trader", "Settings"}
    for name in activetrader.__all__:
        assert hasattr(activetrader, name)


@pytest.mark.parametrize("layer", ["strategy", "broker", "market", "trader", "settings", "ticks", "scenario",
                                   "report", "journal"])
def test_core_layer_does_not_import_the_server(layer):
    bad = sorted(i for i in _layer_imports(layer) if i.startswith("activetrader.server"))
    assert bad == [], f"{layer} imports {bad}"


def _live_imports(path: Path, allowed_functions: tuple[str, ...]) -> list[str]:
    """Lines of ``path`` importing activetrader.live, except inside ``def`` s named in ``allowed_functions``."""
    tree = ast.parse(path.read_text())
    allowed = {id(n) for node in ast.walk(tree)
               if isinstance(node, ast.FunctionDef) and node.name in allowed_functions for n in ast.walk(node)}
    return [f"{path.name}:{node.lineno}" for node in ast.walk(tree) if id(node) not in allowed and (
        (isinstance(node, ast.ImportFrom) and ((node.level and (node.module or "").startswith("live"))
                                               or (node.module or "").startswith("activetrader.live")))
        or (isinstance(node, ast.Import) and any(a.name.startswith("activetrader.live") for a in node.names)))]


def test_core_does_not_import_live_except_trader_run_lazily():
    """The live layer sits on top of the Trader: the core never imports it, except lazily inside
    ``Trader.run`` (so ``import activetrader`` does not load the loop or the streams)."""
    core = [PKG / f for f in ("trader.py", "settings.py", "report.py", "journal.py", "ticks.py", "scenario.py")]
    for layer in ("strategy", "broker", "market"):
        core += list((PKG / layer).rglob("*.py"))
    bad = [hit for f in core for hit in _live_imports(f, ("run",) if f.name == "trader.py" else ())]
    assert bad == [], f"the core imports activetrader.live at {bad}"
    assert _live_imports(PKG / "trader.py", ()), "Trader.run imports the live layer lazily"


def test_broker_engine_does_not_import_alpaca():
    """The simulation engine (broker/engine.py) knows no alpaca-py: SimBroker (broker/sim.py) is
    its alpaca-py surface. Checked on the file's own imports, top level or inside functions."""
    tree = ast.parse((PKG / "broker" / "engine.py").read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
    assert names, "engine.py's imports were found"
    bad = sorted(i for i in names if i == "alpaca" or i.startswith("alpaca."))
    assert bad == [], f"broker/engine.py imports {bad}"
