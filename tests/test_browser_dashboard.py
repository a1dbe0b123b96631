"""The Voila dashboard in a real browser: Voila serves ``notebooks/dashboard.ipynb`` on
127.0.0.1, Debian's headless Chromium (driven by Playwright, never ``playwright install``)
loads it, the panels render, the sentiment chart shows the RSI before any run, "Run iteration"
fills the log and redraws the charts, the Backtest tab's "Run backtest" draws the equity curve,
and the page shows no kernel error. A screenshot of the page after the run is saved to
``test-artifacts/dashboard.png`` (the path is printed; run ``pytest -s`` to see it).

Without Chromium or Playwright the test is skipped locally, with the reason. In CI
(``CI`` set) it fails instead, because ``.ci/run`` installs both.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "dashboard.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("ACTIVETRADER_CHROMIUM", "/usr/bin/chromium"))
#: Flags verified on these machines (shared/TIPS.md): offline, no sandbox (root), no GPU.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
#: Text Voila puts in the page when a cell raised.
VOILA_CELL_ERROR = "There was an error when executing cell"
SERVER_START_TIMEOUT_S = 60
RENDER_TIMEOUT_MS = 90_000
RUN_TIMEOUT_MS = 60_000
SENTIMENT_SYMBOLS = ("AAPL", "MSFT", "GOOGL", "NVDA", "TSLA")


def _unavailable(reason: str) -> None:
    """Fail in CI (the browser is part of the suite there), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"browser test cannot run in CI: {reason}. .ci/run must install it.", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture
def voila_url(tmp_path):
    """Voila serving the dashboard on a free 127.0.0.1 port; stopped (with its kernels) after."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as e:
        _unavailable(f"playwright is not importable ({e}); pip install -e '.[test]'")
    if shutil.which("voila", path=str(Path(sys.executable).parent)) is None:
        _unavailable(f"voila is not installed next to {sys.executable}")

    port = _free_port()
    log = tmp_path / "voila.log"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "voila", str(NOTEBOOK), "--no-browser", f"--port={port}",
           "--Voila.ip=127.0.0.1"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"voila exited with {proc.returncode} before serving:\n{_log_tail(log)}", pytrace=False)
            try:  # any HTTP answer means the server is up (GET / would already start a kernel)
                with urllib.request.urlopen(url + "voila/static/favicon.ico", timeout=2):
                    break
            except urllib.error.HTTPError:
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"voila did not answer on {url} within {SERVER_START_TIMEOUT_S} s:\n"
                            f"{_log_tail(log)}", pytrace=False)
            time.sleep(0.25)
        yield url, log
    finally:
        # SIGTERM lets Voila shut its kernels down; the process group catches stragglers.
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=15)


def _screenshot(page, path: Path) -> None:
    """The whole page. Voila (0.5) scrolls inside ``#rendered_cells``, not the document, so
    ``full_page`` alone stops at the viewport: grow the viewport to the content's height."""
    height = page.evaluate(
        "() => { const cells = document.querySelector('#rendered_cells');"
        " return Math.max(document.documentElement.scrollHeight, cells ? cells.scrollHeight : 0); }")
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": min(int(height) + 40, 12000)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)


def _bars(page, chart_class: str) -> int:
    """Drawn bars (plotly SVG bar points) in one of the dashboard's charts."""
    return page.locator(f".{chart_class} .barlayer .point").count()


#: Points on the equity curve as drawn: the vertices of its SVG line path (0 when there is none).
_EQUITY_POINTS_JS = (
    "(() => { const line = document.querySelector('.activetrader-equity-chart .scatterlayer .js-line');"
    " const d = line ? (line.getAttribute('d') || '') : ''; return (d.match(/[ML]/g) || []).length; })()")


def _equity_points(page) -> int:
    return page.evaluate(f"() => {_EQUITY_POINTS_JS}")


def _no_kernel_error(page) -> None:
    body = page.inner_text("body")
    assert VOILA_CELL_ERROR not in body, f"a notebook cell failed in Voila:\n{body[:4000]}"
    assert "Traceback (most recent call last)" not in body, body[:4000]
    errors = page.locator(".activetrader-log-error, .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, f"error output on the page: {errors.all_inner_texts()}"


def test_dashboard_in_voila_renders_runs_an_iteration_and_a_backtest_and_updates_the_charts(voila_url):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    url, log = voila_url
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    page_errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))

            def wait(what: str, action) -> None:
                try:
                    action()
                except PlaywrightError as e:
                    _screenshot(page, ARTIFACTS / "dashboard-failed.png")
                    raise AssertionError(
                        f"{what}: {e.message.splitlines()[0]}\nscreenshot: {ARTIFACTS / 'dashboard-failed.png'}\n"
                        f"errors in the page: {page_errors}\n"
                        f"page text:\n{page.inner_text('body')[:3000]}\nvoila log:\n{_log_tail(log)}") from None

            # Arrange: Voila runs every cell; the dashboard, its panels and the charts render.
            wait("the dashboard did not render", lambda: (
                page.goto(url, wait_until="domcontentloaded", timeout=RENDER_TIMEOUT_MS),
                page.locator(".activetrader-dashboard").wait_for(timeout=RENDER_TIMEOUT_MS),
                page.get_by_role("button", name="Run iteration").wait_for(timeout=RENDER_TIMEOUT_MS),
                page.locator(".activetrader-sentiment-chart .main-svg").first.wait_for(timeout=RENDER_TIMEOUT_MS),
                page.locator(".activetrader-weights-chart .main-svg").first.wait_for(timeout=RENDER_TIMEOUT_MS)))
            _no_kernel_error(page)
            live = page.locator(".activetrader-live")  # the Live tab (the Backtest tab has panels too)
            for title in ("Bracket orders", "Inverse-ETF hedge", "Rebalancing and sizing"):
                assert live.get_by_text(title, exact=True).count() == 1, f"panel {title!r} missing"
            assert live.locator(".activetrader-panel").count() == 3
            assert live.get_by_text("Stop loss", exact=True).count() == 1
            assert "RUNNING TRADING ITERATION" not in page.locator(".activetrader-log").inner_text()
            # The sentiment chart shows the RSI of the moment on first render, before any run:
            # five RSI bars next to the bearish-ratio bar, one tick per sentiment symbol.
            wait("the sentiment chart is empty on first render", lambda: page.wait_for_function(
                "() => document.querySelectorAll('.activetrader-sentiment-chart .barlayer .point').length >= 6",
                timeout=RENDER_TIMEOUT_MS))
            ticks_before = page.locator(".activetrader-sentiment-chart .xtick text").all_text_contents()
            for symbol in SENTIMENT_SYMBOLS:
                assert symbol in ticks_before, ticks_before
            assert "overbought" in (page.locator(".activetrader-sentiment-chart .gtitle").text_content() or "")

            # Act: click "Run iteration" and wait for the log and the sentiment bars.
            page.get_by_role("button", name="Run iteration").click()
            wait("the iteration log did not appear", lambda: page.wait_for_function(
                "() => { const log = document.querySelector('.activetrader-log');"
                " return log !== null && log.innerText.includes('RUNNING TRADING ITERATION'); }",
                timeout=RUN_TIMEOUT_MS))
            page.wait_for_timeout(500)  # let plotly finish its transition before the screenshot
            _screenshot(page, shot)
            print(f"\ndashboard screenshot: {shot}")

            # Assert: nothing failed, the log tells the iteration, and the charts show its data.
            _no_kernel_error(page)
            log_text = page.locator(".activetrader-log").inner_text()
            assert "STEP 1" in log_text and "STEP 4" in log_text, log_text
            assert "ENTER WMT" in log_text, log_text  # the embedded default's first iteration buys WMT
            assert "Iteration complete: 12 order(s) submitted, 0 rejected" in log_text, log_text
            ticks_after = page.locator(".activetrader-sentiment-chart .xtick text").all_text_contents()
            assert _bars(page, "activetrader-sentiment-chart") == 6
            for symbol in SENTIMENT_SYMBOLS:
                assert symbol in ticks_after, ticks_after
            weight_ticks = page.locator(".activetrader-weights-chart .xtick text").all_text_contents()
            assert "ADBE" in weight_ticks and _bars(page, "activetrader-weights-chart") >= 10, (
                "the weights chart shows no bars for the ten legacy positions; its x ticks: "
                f"{weight_ticks}")

            # The Backtest tab: one click on "Run backtest" replays the year before the trader's
            # clock (251 daily iterations) and the equity chart, empty until then, draws its curve.
            page.get_by_role("tab", name="Backtest").click()  # the kernel builds the tab now
            run_backtest = page.get_by_role("button", name="Run backtest")
            wait("the Backtest tab did not show", lambda: (
                run_backtest.wait_for(state="visible", timeout=RUN_TIMEOUT_MS),
                page.locator(".activetrader-equity-chart .main-svg").first.wait_for(timeout=RUN_TIMEOUT_MS)))
            assert _equity_points(page) == 0, "the equity chart has a curve before any backtest"
            run_backtest.click()
            # plotly drops collinear points from the SVG path (flat stretches), hence "> 20", not 252
            wait("the equity chart did not draw the backtest", lambda: page.wait_for_function(
                f"() => ({_EQUITY_POINTS_JS}) > 20", timeout=RUN_TIMEOUT_MS))
            wait("the backtest status and stats did not update", lambda: page.wait_for_function(
                "() => (document.querySelector('.activetrader-backtest-status') || {}).innerText"
                "?.includes('251 iterations')", timeout=RUN_TIMEOUT_MS))  # drawn last, after the stats
            title = page.locator(".activetrader-equity-chart .gtitle").text_content() or ""
            assert title.startswith("Equity 100,000.00 -> ") and "max drawdown" in title, title
            _no_kernel_error(page)
            stats = page.locator(".activetrader-backtest-stats").inner_text()
            assert "total_return" in stats and "gapped_stops" in stats, stats
            assert page.locator(".activetrader-stat-iterations").inner_text() == "251", stats
            errors = page.locator(".activetrader-backtest .activetrader-error").all_inner_texts()
            assert not any(e.strip() for e in errors), errors  # the panels' and the run's error lines
            page.wait_for_timeout(300)
            _screenshot(page, ARTIFACTS / "dashboard-backtest.png")
        finally:
            browser.close()
    assert not page_errors, f"uncaught errors in the page: {page_errors}"
