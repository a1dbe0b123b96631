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
    ("settings", ("activetrader.",)),
    ("ticks", ("activetrader.",)),
])
def test_layer_does_not_import_what_it_must_not_know(layer, forbidden):
    bad = sorted(i for i in _layer_imports(layer) if i.startswith(forbidden))
    assert bad == [], f"{layer} imports {bad}"


def test_public_api_is_explicit():
    assert set(activetrader.__all__) >= {"Trader", "Settings"}
    for name in activetrader.__all__:
        assert hasattr(activetrader, name)
