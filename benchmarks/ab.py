"""Same-run A/B of the simple rule (benchmarks/peers) between two checkouts of activetrader.

    git worktree add /tmp/before <commit>
    .venv/bin/python benchmarks/ab.py 100 /tmp/before . [rounds]

Each checkout runs in its own process, alternated ``rounds`` times (default 3); each process
runs the backtest once to warm up, then three times, and reports its best CPU time. Prints the
min and median of those per checkout. Both must make the same number of trades. Real data is read
from where this checkout's benchmarks read it (``peers/data.py``: ``ACTIVETRADER_REAL_DATA`` or
``../shared/data/real``), whichever checkout runs.
"""

import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
from data import REAL_DIR  # noqa: E402

CHILD = r'''
import sys, time
root, n = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, root); sys.path.insert(1, root + "/benchmarks/peers")
import activetrader
assert activetrader.__file__.startswith(root), activetrader.__file__
import data, engines
run = engines.activetrader(data.universe(n)); trades = run(); xs = []
for _ in range(3):
    c = time.process_time(); assert run() == trades; xs.append(time.process_time() - c)
print(min(xs), trades)
'''


def main(argv: list[str]) -> None:
    if len(argv) not in (3, 4):
        sys.exit(__doc__)
    n, roots = argv[0], [str(Path(r).resolve()) for r in argv[1:3]]
    rounds = int(argv[3]) if len(argv) == 4 else 3
    env = dict(os.environ)
    env["ACTIVETRADER_REAL_DATA"] = str(REAL_DIR)
    cpu: dict[str, list[float]] = {r: [] for r in roots}
    trades: dict[str, str] = {}
    for _ in range(rounds):
        for root in roots:
            out = subprocess.run([sys.executable, "-c", CHILD, root, n], capture_output=True, text=True, env=env)
            if out.returncode:
                sys.exit(f"{root}: {out.stderr[-2000:]}")
            x, trades[root] = out.stdout.split()
            cpu[root].append(float(x))
    for root, xs in cpu.items():
        print(f"{root:40s} min {min(xs):.3f} s  median {statistics.median(xs):.3f} s  trades {trades[root]}")
    if len(set(trades.values())) > 1:
        sys.exit("the two checkouts made different trades")


if __name__ == "__main__":
    main(sys.argv[1:])
