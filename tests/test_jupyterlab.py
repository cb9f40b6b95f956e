"""A student's first minutes: JupyterLab opens the released chapter 1 notebook, Run All Cells, and
the neuron playground appears as a live ipywidgets panel (sliders and a picture).

JupyterLab runs from the course's virtual environment on 127.0.0.1, on a temporary copy of
``exercises/01-neuron/`` and with its config, runtime, data, settings and workspace folders in a
temporary folder, so nothing is written into the repository or the user's home. Headless Chromium
(Debian's, through playwright) drives it; requests outside 127.0.0.1 are refused.

``DLCOURSE_TEST_EXERCISE=/path/to/folder`` (a folder holding ``01-neuron.ipynb``) runs the test on
another notebook, to try it on a stand-in; by default it is the repository's ``exercises/01-neuron``.
"""
import json
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
from urllib.parse import urlsplit

import pytest

from browser import launch as browser_launch

pytestmark = [pytest.mark.slow, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[1]
EXERCISE_DIR = Path(os.environ.get("DLCOURSE_TEST_EXERCISE", REPO / "exercises" / "01-neuron")).resolve()
NOTEBOOK = "01-neuron.ipynb"
VENV_BIN = Path(sys.executable).parent
TOKEN = "dlcourse-test-token"
SERVER_START_S = 120
WIDGET_TIMEOUT_MS = 120_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(path, n=80):
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab on a copy of the exercise folder; yields (base url, notebook path, log file)."""
    if not (EXERCISE_DIR / NOTEBOOK).is_file():
        pytest.skip(f"{EXERCISE_DIR / NOTEBOOK} does not exist yet: release chapter 1 with "
                    "`make release` (python -m autograder release).")
    root = tmp_path / "student"
    shutil.copytree(EXERCISE_DIR, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    home = tmp_path / "jupyter"
    env = {k: v for k, v in os.environ.items()
           if k not in ("DLCOURSE_WIDGETS", "NBGRADER_EXECUTION", "JUPYTER_PATH")}
    env.update({
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    # no "get official Jupyter news?" prompt over the notebook
    notification = home / "lab-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = free_port()
    cmd = [str(VENV_BIN / "jupyter-lab"), "--no-browser",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
           "--ServerApp.open_browser=False",
           # nothing from the internet: no news, no update check, no extension manager look-ups
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    log = tmp_path / "jupyterlab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited ({proc.returncode}) before it served:\n{_log_tail(log)}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n{_log_tail(log)}")
            time.sleep(0.5)
        yield base, root / NOTEBOOK, log
    finally:
        _stop(proc, base)


def _stop(proc, base):
    """Shut JupyterLab down (its kernels with it), then make sure the whole process group is gone."""
    if proc.poll() is None:
        try:
            req = urllib.request.Request(f"{base}/api/shutdown?token={TOKEN}", method="POST")
            urllib.request.urlopen(req, timeout=10).close()
        except (urllib.error.URLError, OSError):
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
    try:  # kernels JupyterLab started are in its process group (its own session)
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kernel_sessions(base):
    with urllib.request.urlopen(f"{base}/api/sessions?token={TOKEN}", timeout=10) as r:
        return json.load(r)


def _click_menu(page, menu, item):
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-item:visible .lm-Menu-itemLabel", has_text=item).first.click()


def test_run_all_shows_the_live_neuron_playground(jupyterlab, tmp_path):
    base, notebook, log = jupyterlab
    from playwright.sync_api import sync_playwright

    nb = json.loads(notebook.read_text(encoding="utf8"))
    assert any("neuron_playground" in "".join(c.get("source", "")) for c in nb["cells"]), \
        f"{notebook.name} never calls neuron_playground()"

    blocked, js_errors = [], []

    def route(r):
        parts = urlsplit(r.request.url)
        if parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1":
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort("blockedbyclient")

    def step(name):
        print(f"[{time.strftime('%H:%M:%S')}] {name}")

    with sync_playwright() as p:
        browser = browser_launch(p)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.route("**/*", route)
            page = context.new_page()
            page.on("pageerror", lambda e: js_errors.append(str(e)))
            shot = tmp_path / "jupyterlab.png"

            def fail(message):
                try:
                    page.screenshot(path=str(shot))
                except Exception:
                    pass
                pytest.fail(f"{message}\nscreenshot: {shot}\nJavaScript errors: {js_errors}\n"
                            f"blocked requests: {blocked}\nJupyterLab log:\n{_log_tail(log)}")

            step("open the notebook")
            page.goto(f"{base}/lab/tree/{notebook.name}?reset&token={TOKEN}", wait_until="domcontentloaded")
            try:
                page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            except Exception:
                fail("JupyterLab did not show the notebook's cells")

            # A notebook without a usable kernelspec asks which kernel to start: take the default.
            dialog = page.locator(".jp-Dialog .jp-mod-accept")
            try:
                dialog.first.wait_for(state="visible", timeout=3_000)
                dialog.first.click()
            except Exception:
                pass

            step("wait for the kernel to be idle")
            try:
                page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]',
                                       state="attached", timeout=90_000)
            except Exception:
                fail("the notebook's kernel never became idle")

            step("Run > Run All Cells")
            page.locator(".jp-Notebook").first.click()
            _click_menu(page, "Run", "Run All Cells")

            step("wait for the ipywidgets panel")
            try:
                page.wait_for_selector(".jp-OutputArea-output .jupyter-widgets .widget-slider",
                                       state="visible", timeout=WIDGET_TIMEOUT_MS)
                page.wait_for_selector(".jp-OutputArea-output .jupyter-widgets img",
                                       state="visible", timeout=30_000)
            except Exception:
                fail("no live ipywidgets panel (slider + picture) after Run All Cells")

            panel = page.locator(".jp-OutputArea-output .jupyter-widgets img").first
            src = panel.get_attribute("src") or ""
            assert src.startswith("data:image/png"), f"the widget's picture is not a PNG: {src[:60]!r}"
            assert page.evaluate("(img) => img.naturalWidth > 0", panel.element_handle()), \
                "the widget's picture does not load"
            assert page.locator(".jp-OutputArea-output .widget-slider").count() >= 2, \
                "the neuron playground should show its sliders"

            step("move the first slider: the kernel redraws the picture")
            handle = page.locator(".jp-OutputArea-output .widget-slider .noUi-handle").first
            handle.focus()
            for _ in range(3):
                page.keyboard.press("ArrowRight")
            try:
                page.wait_for_function(
                    "(before) => { const i = document.querySelector('.jp-OutputArea-output .jupyter-widgets img');"
                    " return i && i.getAttribute('src') !== before; }", arg=src, timeout=60_000)
            except Exception:
                fail("moving a slider of the live panel did not change its picture")
            page.screenshot(path=str(shot))
            step("done")
            assert not blocked, f"JupyterLab or the notebook asked the internet for: {blocked}"
            assert _kernel_sessions(base), "no kernel session is running"
        finally:
            browser.close()
