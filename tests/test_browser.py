"""JupyterLab in a real browser: run a notebook, see plotly figures as SVG and use a widget.

Starts JupyterLab on loopback on a temporary copy of a notebook and drives Debian's Chromium with
Playwright. Select with `pytest -m browser`, leave out with `-m "not browser"`. Set
COURSE_UPDATE_SCREENSHOT=1 to also write the README's screenshot to docs/jupyterlab-notebook01.png.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
README_SCREENSHOT = ROOT / "docs" / "jupyterlab-notebook01.png"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LAB_SETTINGS = {
    # Every cell stays in the page (JupyterLab 4 otherwise only renders the cells in view).
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # No "get Jupyter news?" question, no update check: nothing reaches the network.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True,
    },
}
TQDM_TEXT = re.compile(r"\d+%\|")
CONTROLS = ".jp-OutputArea .widget-checkbox, .jp-OutputArea .widget-slider, .jp-OutputArea .widget-dropdown, .jp-OutputArea .widget-toggle-buttons"
RUN_SECONDS = 240  # a notebook runs in well under 45 s on 2 cores; this only bounds a hang

# JupyterLab is exposed as window.jupyterapp (--LabApp.expose_app_in_browser).
JS_NOTEBOOK_READY = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!(panel && panel.content && panel.content.widgets.length && kernel && kernel.status === 'idle');
}"""
JS_RUN_ALL = """async (seconds) => {
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`run all: not done after ${seconds} s`)), seconds * 1000));
  return await Promise.race([window.jupyterapp.commands.execute('notebook:run-all-cells'), timeout]);
}"""
JS_NOTEBOOK_JSON = "() => window.jupyterapp.shell.currentWidget.content.model.toJSON()"
# A fingerprint of what the widget cell shows: its figures' SVG and its output and HTML text.
JS_FINGERPRINT = """(cell) => {
  const parts = [];
  cell.querySelectorAll('.js-plotly-plot svg.main-svg').forEach(svg => parts.push(svg.innerHTML));
  cell.querySelectorAll('.widget-output, .widget-html-content').forEach(el => parts.push(el.textContent));
  return parts.join('|');
}"""


def _require_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (sudo apt-get install -y chromium); the browser test needs it")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is missing (pip install -e '.[dev]')")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class LabServer:
    url: str
    token: str
    workdir: Path

    def page_url(self, name: str) -> str:
        """The notebook in a workspace of its own, so that no other test's tabs are restored with it."""
        return f"{self.url}/lab/workspaces/{Path(name).stem}/tree/{name}?token={self.token}"

    def shut_down_kernels(self) -> None:
        """Stop every kernel, so that one test's kernel does not take CPU from the next."""
        headers = {"Authorization": f"token {self.token}"}
        with urllib.request.urlopen(urllib.request.Request(f"{self.url}/api/kernels", headers=headers), timeout=10) as response:
            kernels = json.load(response)
        for kernel in kernels:
            request = urllib.request.Request(f"{self.url}/api/kernels/{kernel['id']}", headers=headers, method="DELETE")
            urllib.request.urlopen(request, timeout=30).close()


@dataclass(frozen=True)
class Lab:
    """One JupyterLab server and one Chromium, shared by this file's tests (their start is a third of a test)."""

    server: LabServer
    browser: object
    started_s: float


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    start = time.perf_counter()
    workdir = tmp_path_factory.mktemp("work")
    with jupyterlab(workdir, tmp_path_factory.mktemp("jupyter")) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield Lab(server, browser, time.perf_counter() - start)
        finally:
            browser.close()


@contextmanager
def jupyterlab(workdir: Path, home: Path) -> Iterator[LabServer]:
    """JupyterLab serving `workdir` on loopback with its own settings."""
    port, token = _free_port(), secrets.token_hex(16)
    settings = home / "user-settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "HF_HUB_OFFLINE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    env.pop("COURSE_STRICT_DIR", None)
    command = [
        sys.executable, "-m", "jupyterlab",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={workdir}", f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}", "--LabApp.expose_app_in_browser=True",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")  # CI containers run as root
    log = home / "jupyterlab.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(command, cwd=workdir, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with status {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield LabServer(url, token, workdir)
    finally:
        _stop(server)


def _stop(server: subprocess.Popen) -> None:
    """Stop the server and its kernels (one process group, started by this test)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=15)
    try:
        os.killpg(server.pid, signal.SIGKILL)  # kernels left behind by the server, if any
    except ProcessLookupError:
        pass


def _use_a_widget(page, cell) -> str:
    """Change the first widget control in `cell` (checkbox, slider, dropdown, toggle); say which."""
    checkbox = cell.locator(".widget-checkbox input[type=checkbox]")
    if checkbox.count():
        checkbox.first.click()
        return "checkbox"
    readout = cell.locator(".widget-slider .widget-readout")
    if readout.count():
        slider = readout.first
        old = slider.inner_text().strip()
        slider.click()
        page.keyboard.press("Control+A")
        page.keyboard.type("0" if old not in {"0", "0.0", "0.00"} else "1")
        page.keyboard.press("Enter")
        return "slider"
    select = cell.locator(".widget-dropdown select")
    if select.count():
        values = select.first.locator("option").evaluate_all("options => options.map(o => o.value)")
        current = select.first.input_value()
        select.first.select_option(next(v for v in values if v != current))
        return "dropdown"
    toggle = cell.locator(".widget-toggle-buttons button:not(.mod-active)")
    if toggle.count():
        toggle.first.click()
        return "toggle buttons"
    pytest.fail("the widget cell shows no checkbox, slider, dropdown or toggle buttons to use")


def run_in_jupyterlab(lab: Lab, notebook: Path, screenshot: str) -> dict:
    """Open a copy of `notebook` in JupyterLab in Chromium, run all cells, use a widget, screenshot."""
    # Stored outputs are dropped: every cell is run afresh, and the page need not render them twice.
    (lab.server.workdir / notebook.name).write_text(json.dumps(_without_outputs(json.loads(notebook.read_text()))))
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / screenshot
    found: dict = {"console_errors": [], "lab_start_s": lab.started_s}
    start = time.perf_counter()
    page = lab.browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.on("console", lambda msg: msg.type == "error" and found["console_errors"].append(msg.text))
    try:
        page.goto(lab.server.page_url(notebook.name))
        page.wait_for_function(JS_NOTEBOOK_READY, timeout=90_000)
        found["open_s"] = time.perf_counter() - start
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        found["run_all"] = page.evaluate(JS_RUN_ALL, RUN_SECONDS)
        found["run_s"] = time.perf_counter() - start
        found["notebook"] = page.evaluate(JS_NOTEBOOK_JSON)
        page.wait_for_selector(".js-plotly-plot svg.main-svg", state="attached")
        found["plotly_svgs"] = page.locator(".js-plotly-plot svg.main-svg").count()
        found["widget_errors"] = page.get_by_text(re.compile("Error displaying widget|Failed to load model class")).count()
        cells = page.locator(".jp-CodeCell").filter(has=page.locator(CONTROLS))
        found["widget_cells"] = cells.count()
        if found["widget_cells"]:
            cell = cells.first
            cell.locator(".js-plotly-plot svg.main-svg").first.wait_for(state="attached")
            cell.scroll_into_view_if_needed()
            cell.evaluate("cell => cell.scrollIntoView({block: 'start'})")
            before = cell.evaluate(JS_FINGERPRINT)
            found["control"] = _use_a_widget(page, cell)
            page.wait_for_function(f"([cell, before]) => ({JS_FINGERPRINT})(cell) !== before && "
                                   "cell.querySelectorAll('.js-plotly-plot svg.main-svg').length > 0",
                                   arg=[cell.element_handle(), before], timeout=30_000)
            found["changed"] = True
            found["widget_s"] = time.perf_counter() - start
        page.screenshot(path=str(shot))
    except Exception as error:  # a timeout or a crashed page: say where to look
        try:
            page.screenshot(path=str(shot))
        except Exception:
            pass
        raise AssertionError(f"{notebook.name} in JupyterLab: {error} (screenshot: {shot}; "
                             f"console errors: {found['console_errors'][:5]})") from error
    finally:
        page.close()
        try:
            lab.server.shut_down_kernels()
        except OSError:  # the server is gone: the test has failed already, and the fixture stops the rest
            pass
        found["closed_s"] = time.perf_counter() - start
    found["seconds"] = time.perf_counter() - start
    found["screenshot"] = shot
    return found


def _without_outputs(notebook: dict) -> dict:
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook["metadata"].pop("widgets", None)
    return notebook


def error_outputs(notebook: dict) -> list[str]:
    """Each error output of the notebook as 'cell N: ename: evalue'."""
    errors = []
    for index, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors.append(f"cell {index + 1}: {output.get('ename')}: {output.get('evalue')}")
    return errors


def widget_outputs(path: Path) -> int:
    """How many widget views (not counting tqdm progress bars) a notebook's stored outputs hold."""
    count = 0
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            text = "".join(data.get("text/plain", ""))
            if "application/vnd.jupyter.widget-view+json" in data and not TQDM_TEXT.search(text):
                count += 1
    return count


def solution_with_most_widgets() -> Path:
    paths = sorted(p for p in (ROOT / "solutions").glob("*.ipynb") if ".backup-" not in p.name)
    # A tie goes to the earliest notebook after 01, whose exercise version the other test runs.
    return max(paths, key=lambda p: (widget_outputs(p), not p.name.startswith("01_"), -paths.index(p)))


def _timeline(found: dict) -> str:
    steps = ("open", "run", "widget", "closed")
    shared = f"server and browser started in {found['lab_start_s']:.1f} s (once for the file); "
    return shared + ", ".join(f"{step} at {found[f'{step}_s']:.1f} s" for step in steps if f"{step}_s" in found)


def _assert_lab_run(found: dict, name: str) -> None:
    notes = f"(screenshot: {found['screenshot']}; console errors: {found['console_errors'][:5]})"
    assert not error_outputs(found["notebook"]), f"{name}: error outputs {error_outputs(found['notebook'])} {notes}"
    assert found["run_all"] is True, f"{name}: run all cells did not succeed {notes}"
    code_cells = [c for c in found["notebook"]["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert all(c.get("execution_count") for c in code_cells), f"{name}: some code cells did not run {notes}"
    assert found["plotly_svgs"] >= 1, f"{name}: no plotly figure was rendered as SVG {notes}"
    assert found["widget_errors"] == 0, f"{name}: a widget failed to display (is the ipywidgets extension enabled?) {notes}"
    assert found["widget_cells"] >= 1, f"{name}: no ipywidgets view was rendered {notes}"
    assert found.get("changed"), f"{name}: using the {found.get('control')} did not change the figure {notes}"


def test_exercise_notebook_01_runs_in_jupyterlab(lab):
    """notebooks/01 as a learner first opens it: runs clean, figures render, the widget responds."""
    notebook = ROOT / "notebooks" / "01_polysemanticity.ipynb"
    found = run_in_jupyterlab(lab, notebook, "jupyterlab-notebook01.png")
    _assert_lab_run(found, notebook.name)
    if os.environ.get("COURSE_UPDATE_SCREENSHOT") == "1":
        shutil.copy(found["screenshot"], README_SCREENSHOT)
    print(f"{notebook.name}: {found['seconds']:.1f} s in JupyterLab, {found['plotly_svgs']} plotly SVGs, "
          f"{found['widget_cells']} widget cell(s), used a {found['control']}; "
          f"timeline: {_timeline(found)}")


def test_solution_notebook_with_most_widgets_runs_in_jupyterlab(lab):
    """The worked notebook with the most widgets: runs clean, figures render, the widget responds."""
    notebook = solution_with_most_widgets()
    found = run_in_jupyterlab(lab, notebook, f"jupyterlab-solution-{notebook.stem}.png")
    _assert_lab_run(found, f"solutions/{notebook.name}")
    print(f"solutions/{notebook.name}: {found['seconds']:.1f} s in JupyterLab, {found['plotly_svgs']} plotly SVGs, "
          f"{found['widget_cells']} widget cell(s), used a {found['control']}; "
          f"timeline: {_timeline(found)}")
