"""Peer benchmark: the simple rule through activetrader, backtesting.py, vectorbt and Lumibot.

The rule (``activetrader.strategy.RsiBracket``): Wilder RSI(14) of the last 100 closes below 30
at the close -> buy at the next open, $10,000 per entry in whole shares, with a bracket at
-5% / +15% of the signal close; one position per symbol. Every engine gets the same daily bars
(``benchmarks/peers/data.py``: 16 real series, then documented derived copies; 2,516 traded
sessions 2015-2024 after a 2014 warm-up) and the same signal and levels
(``benchmarks/peers/rule.py``), each symbol on $100,000.

Each (engine, size) runs in its own process (``benchmarks/peers/engines.py``), so its peak RSS
is its own; ``first`` is the first run in that process (for vectorbt: with an empty numba
cache, i.e. counting its JIT compilation), ``warm`` the second. backtesting.py runs one symbol
per ``Backtest``. vectorbt and Lumibot need their own venv (vectorbt 1.x needs plotly < 7):
``benchmarks/.venv-peers``, built on first use with python3.12; if it cannot be built, they are
reported as skipped with the reason and the rest still runs.

Run:  .venv/bin/python benchmarks/bench_peers.py [--sizes 1,10,100,500] [--engines ...]
      (engines: activetrader, activetrader-broker (the SimBroker alone on the rule's precomputed
      signals: the broker's share, a lower bound for the simple rule through it), backtesting,
      vectorbt, lumibot; also activetrader-every, which runs every iteration, skip_quiet=False,
      to show what skipping quiet ones buys, and activetrader-floor, a strategy that never trades
      run at every iteration: the live path's fixed cost, another lower bound)
      [--lumibot-max 10] [--backtesting-max 500]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / "peers"
PEER_VENV = HERE / ".venv-peers"
PEER_PACKAGES = ("vectorbt>=0.26", "plotly<7", "lumibot")
ENGINES = ("activetrader", "activetrader-broker", "backtesting", "vectorbt", "lumibot")
#: Not run by default: activetrader with every iteration run (``skip_quiet=False``), for the ablation,
#: and the live path's fixed cost (a strategy that never trades, every iteration run).
EXTRA_ENGINES = ("activetrader-every", "activetrader-floor")
IN_PEER_VENV = {"vectorbt", "lumibot"}


def _python312() -> str | None:
    """A Python 3.12 for the peers' venv: python3.12 on PATH, else pyenv's."""
    for cand in [shutil.which("python3.12"), *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python")))]:
        if cand and subprocess.run([cand, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 12))"],
                                   capture_output=True).returncode == 0:
            return cand
    return None


def peer_python() -> tuple[str | None, dict[str, str]]:
    """The peers' interpreter (building the venv if needed) and, per peer, why it cannot run."""
    py = PEER_VENV / "bin" / "python"
    why: dict[str, str] = {}
    if not py.exists():
        base = _python312()
        if base is None:
            return None, dict.fromkeys(IN_PEER_VENV, "no python3.12 found to build benchmarks/.venv-peers")
        print(f"building {PEER_VENV.relative_to(ROOT)} with {base} (vectorbt, plotly<7, lumibot)...", flush=True)
        made = subprocess.run([base, "-m", "venv", str(PEER_VENV)], capture_output=True, text=True)
        if made.returncode != 0:
            return None, dict.fromkeys(IN_PEER_VENV, f"venv creation failed: {made.stderr.strip()[-200:]}")
    for pkg, module in (("vectorbt", "vectorbt"), ("lumibot", "lumibot")):
        if subprocess.run([str(py), "-c", f"import {module}"], capture_output=True).returncode == 0:
            continue
        spec = [p for p in PEER_PACKAGES if p.startswith(pkg)] + (["plotly<7"] if pkg == "vectorbt" else [])
        got = subprocess.run([str(py), "-m", "pip", "install", "-q", *spec], capture_output=True, text=True)
        if got.returncode != 0:
            lines = [ln for ln in got.stderr.splitlines() if "is ignored" not in ln]
            why[pkg] = f"pip install {' '.join(spec)} failed: {' '.join(lines)[-200:]}"
    return str(py), why


def run_child(engine: str, n: int, python: str, timeout: float) -> dict:
    env = dict(os.environ, TQDM_DISABLE="1", PYTHONWARNINGS="ignore")
    cache = None
    if engine == "vectorbt":  # an empty numba cache: the first run pays the JIT compilation
        cache = tempfile.mkdtemp(prefix="numba-cache-")
        env["NUMBA_CACHE_DIR"] = cache
    try:
        done = subprocess.run([python, str(PEERS / "engines.py"), engine, str(n)], capture_output=True,
                              text=True, timeout=timeout, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired:
        return dict(engine=engine, n=n, skipped=f"over the {timeout:.0f} s time limit")
    finally:
        if cache:
            shutil.rmtree(cache, ignore_errors=True)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return dict(engine=engine, n=n, skipped=f"failed: {tail[:160]}")
    return json.loads(lines[-1])


def table(rows: list[dict]) -> str:
    head = (f"{'symbols':>7} {'engine':<19} {'first_s':>8} {'warm_s':>8} {'us/sym-bar':>10} "
            f"{'x activetrader':>14} {'trades':>6} {'peak_rss_mb':>11}")
    out = [head, "-" * len(head)]
    ours = {r["n"]: r for r in rows if r["engine"] == "activetrader" and "skipped" not in r}
    for r in rows:
        if "skipped" in r:
            out.append(f"{r['n']:>7} {r['engine']:<19} skipped: {r['skipped']}")
            continue
        us = r["warm_s"] / (r["n"] * r["sessions"]) * 1e6
        base = ours.get(r["n"])
        ratio = f"{r['warm_s'] / base['warm_s']:.2f}" if base else "-"
        out.append(f"{r['n']:>7} {r['engine']:<19} {r['cold_s']:>8.3f} {r['warm_s']:>8.3f} {us:>10.2f} "
                   f"{ratio:>14} {r['trades']:>6} {r['peak_rss_mb']:>11.0f}")
    return "\n".join(out)


def targets(rows: list[dict]) -> str:
    """The issue's three speed targets, judged on this run's numbers."""
    by = {(r["engine"], r["n"]): r for r in rows if "skipped" not in r}
    lines = []
    for n in sorted({r["n"] for r in rows}):
        a, b = by.get(("activetrader", n)), by.get(("backtesting", n))
        if a and b:
            x = b["warm_s"] / a["warm_s"]
            lines.append(f"- {n} symbols: backtesting.py / activetrader = {x:.2f}x per symbol-bar "
                         f"(target >= 10x): {'met' if x >= 10 else 'MISSED'}")
    a, v = by.get(("activetrader", 100)), by.get(("vectorbt", 100))
    if a and v:
        x = a["warm_s"] / v["warm_s"]
        lines.append(f"- 100 symbols: activetrader / vectorbt (warm) = {x:.2f}x (target <= 3x, aim 1x): "
                     f"{'met' if x <= 3 else 'MISSED'}")
    a, v = by.get(("activetrader", 1)), by.get(("vectorbt", 1))
    if a and v:
        lines.append(f"- 1 symbol: activetrader first run {a['cold_s']:.3f} s vs vectorbt first run with JIT "
                     f"{v['cold_s']:.3f} s (target: faster): {'met' if a['cold_s'] < v['cold_s'] else 'MISSED'}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,10,100,500")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--lumibot-max", type=int, default=10, help="largest size Lumibot runs (it is slow)")
    ap.add_argument("--backtesting-max", type=int, default=500, help="largest size backtesting.py runs")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per (engine, size) process")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = [e for e in args.engines.split(",") if e]
    unknown = set(engines) - set(ENGINES) - set(EXTRA_ENGINES)
    if unknown:
        sys.exit(f"unknown engine(s) {sorted(unknown)}: choose from {', '.join(ENGINES + EXTRA_ENGINES)}")
    sys.path.insert(0, str(PEERS))
    import data

    if not data.REAL_DIR.is_dir():
        print(f"peer benchmark skipped: real data folder {data.REAL_DIR} is absent")
        return
    peer_py, why = (peer_python() if IN_PEER_VENV & set(engines) else (None, {}))
    rows: list[dict] = []
    t_all = time.perf_counter()
    for n in sizes:
        for engine in engines:
            if engine == "lumibot" and n > args.lumibot_max:
                continue
            if engine == "backtesting" and n > args.backtesting_max:
                continue
            if engine in IN_PEER_VENV and (peer_py is None or engine in why):
                rows.append(dict(engine=engine, n=n, skipped=why.get(engine, "no peers venv")))
                continue
            python = peer_py if engine in IN_PEER_VENV else sys.executable
            row = run_child(engine, n, python, args.timeout)
            rows.append(row)
            print(f"  {engine:<13} {n:>4} symbols: " + (row.get("skipped") or
                  f"first {row['cold_s']:.3f} s, warm {row['warm_s']:.3f} s, {row['trades']} trades"), flush=True)
    print(f"\nThe simple rule, {rows[0].get('sessions', 2516)} sessions x N symbols "
          f"(same bars, signal and levels in every engine); wall time of the whole run "
          f"{time.perf_counter() - t_all:.0f} s\n")
    print(table(rows))
    print("\nSpeed targets (issue 7):\n" + targets(rows))


if __name__ == "__main__":
    main()
