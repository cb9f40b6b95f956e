"""Headless Chromium for the browser tests: Debian's chromium, driven by playwright, with the
flags that keep it from reaching for the network on its own."""
import shutil
from pathlib import Path

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--no-default-browser-check", "--disable-default-apps",
                 "--disable-extensions", "--metrics-recording-only", "--mute-audio"]


def chromium_path():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if not found:
        pytest.fail("Debian's chromium is needed for the browser tests: `make chromium` installs it.")
    return found


def launch(playwright):
    """A headless Chromium browser (never playwright's own download)."""
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
