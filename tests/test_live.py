"""The live loop: N iterations on simulated time, stopping on request, market hours, a failing
iteration, in-process (thread and blocking), through the magics and through the CLI
(a subprocess stopped by SIGINT and by SIGTERM), and a notebook kernel that stays responsive."""

from __future__ import annotations

import atexit
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from activetrader import Trader
from activetrader.journal import Journal
from activetrader.live import LiveRun

ET = "America/New_York"


def _et(ts) -> str:
    return f"{pd.Timestamp(ts).tz_convert(ET):%Y-%m-%d %H:%M}"


def _wait(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def _journal_is_consistent(journal: Journal) -> None:
    """Every iteration begun is ended or marked abandoned; every order sent is journaled once."""
    its = journal.iterations()
    assert its["completed_at"].notna().all(), its[its["completed_at"].isna()]
    assert journal.unresolved().empty
    sent = journal.orders().query("action == 'submit' and accepted")
    assert not sent["client_order_id"].duplicated().any(), sent[sent["client_order_id"].duplicated(keep=False)]


# ---------------------------------------------------------------- in-process
def test_live_run_embedded_default_runs_n_hourly_iterations_on_simulated_time(tmp_path):
    # The embedded default starts at 09:00 ET, before the open: the loop sleeps to 09:30, then
    # runs every hour: 09:30, 10:30, 11:30; the broker's clock stands at the last one.
    trader = Trader(journal=tmp_path / "j.sqlite")
    run = LiveRun(trader, every="1h", speed=math.inf, iterations=3).run()

    assert run.status == "stopped" and run.iterations == 3 and run.errors == []
    its = trader.journal.iterations()
    assert [_et(t) for t in its["started_at"]] == ["2024-08-27 09:30", "2024-08-27 10:30", "2024-08-27 11:30"]
    assert its["complete"].all()
    assert _et(trader.now) == "2024-08-27 11:30"
    assert run.log[0].endswith("market closed: sleeping until the next session at 2024-08-27 09:30 ET")
    _journal_is_consistent(trader.journal)
    trader.close()


def test_live_run_after_the_close_sleeps_until_the_next_session_and_says_so():
    # Hourly from 15:30: the 16:30 run would be after the close, so the loop sleeps to 09:30 next day.
    trader = Trader()
    trader.advance(pd.Timestamp("2024-08-27 15:30", tz=ET))
    run = LiveRun(trader, every="1h", speed=math.inf, iterations=2).run()

    lines = [line.split(" ET ", 1)[1] for line in run.log]
    assert lines[0].startswith("iteration it-20240827T193000Z: 12 submitted, 0 rejected")
    assert lines[1] == "market closed: sleeping until the next session at 2024-08-28 09:30 ET"
    assert lines[2].startswith("iteration it-20240828T133000Z")


def test_live_run_in_background_stops_on_request_after_the_current_iteration(tmp_path):
    trader = Trader(journal=tmp_path / "j.sqlite")
    handle = trader.run("1h", speed=7200)      # an hourly schedule every half second
    assert handle.running
    _wait(lambda: handle.iterations >= 2)
    assert handle.next_run is not None or handle.status.startswith("running")

    stopped = trader.stop()
    assert stopped is handle and not handle.running and handle.status == "stopped"
    done = handle.iterations
    time.sleep(0.3)
    assert handle.iterations == done      # nothing runs after the stop
    _journal_is_consistent(trader.journal)
    assert len(trader.journal.iterations()) == done
    trader.close()


def test_live_run_waiting_does_not_spin_the_cpu():
    # Real-time speed (1x) with an hourly schedule: a second of waiting costs almost no CPU.
    trader = Trader()
    trader.advance(pd.Timestamp("2024-08-27 09:30", tz=ET))
    handle = trader.run("1h", speed=1)
    _wait(lambda: handle.iterations == 1 and handle.status.startswith("waiting"))
    cpu = time.process_time()
    time.sleep(1.0)
    used = time.process_time() - cpu
    trader.stop()
    assert used < 0.5, f"the waiting loop used {used:.2f} s of CPU in 1 s"


def test_live_run_a_failing_iteration_is_journaled_abandoned_and_the_loop_goes_on(tmp_path):
    trader = Trader(journal=tmp_path / "j.sqlite")
    real = trader.snapshot
    calls = {"n": 0}

    def flaky(**kw):  # the first snapshot's broker calls fail
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("venue unreachable")
        return real(**kw)

    trader.snapshot = flaky
    run = LiveRun(trader, every="1h", speed=math.inf, iterations=2).run()

    its = trader.journal.iterations()
    assert its["abandoned"].tolist() == ["ConnectionError: venue unreachable", None]
    assert its["complete"].tolist() == [False, True]
    assert run.errors == ["ConnectionError: venue unreachable"] and run.iterations == 2
    trader.close()


def test_iteration_interrupted_mid_way_is_journaled_abandoned_not_left_running(tmp_path):
    # What a second Ctrl-C does to `activetrader live`: KeyboardInterrupt inside the iteration.
    trader = Trader(journal=tmp_path / "j.sqlite")

    def interrupted(**kw):
        raise KeyboardInterrupt

    trader.snapshot = interrupted
    with pytest.raises(KeyboardInterrupt):
        trader.iteration()
    its = trader.journal.iterations()
    assert its["abandoned"].tolist() == ["KeyboardInterrupt: "] and its["completed_at"].notna().all()
    trader.close()


def test_live_run_rejects_bad_arguments_with_clear_messages():
    trader = Trader()
    with pytest.raises(ValueError, match="speed=0 is not allowed: must be > 0"):
        LiveRun(trader, speed=0)
    with pytest.raises(ValueError, match="iterations=0 is not allowed"):
        LiveRun(trader, iterations=0)
    with pytest.raises(Exception, match="schedule.every = '5s' is not allowed"):
        LiveRun(trader, every="5s")


def test_trader_run_twice_is_refused_while_running():
    trader = Trader()
    trader.run("1h", speed=3600)
    try:
        with pytest.raises(RuntimeError, match="already running"):
            trader.run("1h")
    finally:
        trader.stop()


# ---------------------------------------------------------------- magics and the control
@pytest.fixture
def ip():
    """A fresh shell with the extension loaded, torn down completely (as in test_magics)."""
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell(config=config)
    try:
        shell.run_line_magic("load_ext", "activetrader")
        yield shell
    finally:
        t = shell.user_ns.pop("trader", None)
        if t is not None:
            t.stop()
        shell.reset(new_session=False)
        shell.restore_sys_module_state()
        atexit.unregister(shell.atexit_operations)


def test_magics_trader_run_returns_the_handle_and_trader_stop_stops_it(ip):
    ip.user_ns["trader"] = Trader()
    handle = ip.run_line_magic("trader_run", "--every 1h --speed inf --iterations 2")
    assert handle.join(60) and handle.iterations == 2
    handle = ip.run_line_magic("trader_run", "--speed 3600")
    assert handle.running
    assert ip.run_line_magic("trader_stop", "") is handle and handle.status == "stopped"


def test_magics_trader_run_bad_speed_is_a_usage_error(ip):
    ip.user_ns["trader"] = Trader()
    with pytest.raises(UsageError, match="speed=-1.0 is not allowed"):
        ip.run_line_magic("trader_run", "--speed -1")
    with pytest.raises(UsageError, match="not running"):
        ip.run_line_magic("trader_stop", "")


def test_run_control_start_and_stop_buttons_drive_the_loop():
    from activetrader.notebook.run_control import RunControl

    control = RunControl(Trader(), speed=7200)
    assert control.status.value == "<b>not running</b>" and control.stop_button.disabled
    control.start_button.click()
    assert control.handle.running and control.start_button.disabled
    _wait(lambda: control.handle.iterations >= 1)
    control.stop_button.click()
    assert not control.handle.running and control.status.value.startswith("<b>stopped</b>")
    assert not control.start_button.disabled
    control.speed_box.value = -5
    control.start_button.click()
    assert "speed=-5.0 is not allowed" in control.status.value
    control.close()


# ---------------------------------------------------------------- the command line
def _live(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "activetrader.cli", "live", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**os.environ, **(env or {})})


def test_cli_live_runs_n_iterations_then_exits_zero(tmp_path):
    proc = _live(tmp_path, "--speed", "inf", "--iterations", "3", "--journal", "j.sqlite")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.count(" iteration it-") == 3 and "stopped after 3 iteration(s)" in out
    with Journal(tmp_path / "j.sqlite") as j:
        assert j.iterations()["complete"].sum() == 3
        _journal_is_consistent(j)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_live_signal_stops_cleanly_with_a_consistent_journal(tmp_path, sig):
    proc = _live(tmp_path, "--speed", "3600", "--journal", "j.sqlite")
    path = tmp_path / "j.sqlite"

    def iterations_done() -> int:
        if not path.exists():
            return 0
        with Journal(path) as j:
            return int(j.iterations()["complete"].sum())

    try:
        _wait(lambda: iterations_done() >= 2, timeout=120)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert f"{sig.name}: stopping after the current iteration" in out
    with Journal(path) as j:
        _journal_is_consistent(j)
        assert j.iterations()["complete"].all()  # the iteration under way finished


def test_cli_live_bad_speed_exits_two_with_one_line(tmp_path):
    proc = _live(tmp_path, "--speed", "0")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip() == "activetrader: error: --speed must be > 0 simulated seconds per real second, not 0"


# ---------------------------------------------------------------- a notebook kernel
def test_notebook_kernel_stays_responsive_while_the_loop_runs():
    import jupyter_client  # a dependency (nbval, voila): its absence must fail, not skip
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        def run(code: str) -> str:
            reply = kc.execute_interactive(code, timeout=60, output_hook=lambda msg: outputs.append(msg))
            assert reply["content"]["status"] == "ok", reply["content"]
            return "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")

        outputs: list = []
        run("from activetrader import Trader\ntrader = Trader()\nhandle = trader.run('1h', speed=7200)")
        seen = []
        for _ in range(6):  # cells answer while iterations keep happening in the background
            outputs.clear()
            t0 = time.monotonic()
            seen.append(int(run("print(handle.iterations)").strip()))
            assert time.monotonic() - t0 < 10
            time.sleep(0.3)
        assert seen[-1] > seen[0]
        outputs.clear()
        assert run("trader.stop(); print(handle.status)").strip() == "stopped"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_live_notebook_shows_the_guide_ratchet_stream_raises_and_a_recovered_restart():
    import json

    nb = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "08_live_trailing_streaming.ipynb")
                    .read_text(encoding="utf-8"))
    text = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                   for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"])
    for line in ("price 160.00 -> stop 152.00", "price 155.00 -> stop 152.00", "price 170.00 -> stop 161.50",
                 "market closed: sleeping until the next session at 2024-08-27 09:30 ET",
                 "- new high on the stream", "Recovery(resolved=1, not_received=0, abandoned=0)",
                 "acknowledgement recovered at restart", "unresolved submissions: 0",
                 "orders journaled twice: 0", "every position protected: True"):
        assert line in text, line
