"""The book builds offline, every page of its table of contents exists, and the built pages work
in a browser with no network: MathJax renders the math, the static widgets switch pictures, and no
page asks for anything outside the book.

The book is built once per module (chapter notebooks executed, ``DLCOURSE_WIDGETS=static``) into a
temporary folder, inside a network namespace with no network (``unshare -rn``, loopback only), so a
chapter or an extension that reaches for the internet fails the build here.

``DLCOURSE_TEST_BOOK=/path/to/book`` builds another copy of the book (to try these tests on a
stand-in); by default it is the repository's ``book/``.
"""
import functools
import http.server
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from browser import launch as browser_launch

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BOOK = Path(os.environ.get("DLCOURSE_TEST_BOOK", REPO / "book")).resolve()
VENV_BIN = Path(sys.executable).parent
CHAPTER_1 = "chapters/01-neuron"
BUILD_TIMEOUT_S = 1800

# Run a command with the loopback interface up: a fresh network namespace (unshare -n) has only
# `lo`, and it is down; Jupyter kernels talk to the build over 127.0.0.1. Plain ioctls, so it does
# not need iproute2.
_LOOPBACK_UP_THEN_EXEC = """
import fcntl, os, socket, struct, sys
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack("16sH22x", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0)))[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))
os.execv(sys.argv[1], sys.argv[1:])
"""

# Lines of a build log that mean a notebook cell failed or warned while executing.
_EXECUTION_PROBLEM = re.compile(
    r"Executing notebook failed|CellExecutionError|CellTimeoutError|DeadKernelError|"
    r"Kernel didn't respond|Kernel died|exception traceback saved|Exception occurred|"
    r"Traceback \(most recent call last\)|WARNING.*\[mystnb|\[mystnb\.exec\]")


def _tail(text, n=120):
    return "\n".join(text.splitlines()[-n:])


def toc_pages(toc_file=None):
    """Every document of the book's ``_toc.yml`` (root, chapters, parts, sections), in order."""
    toc = yaml.safe_load(Path(toc_file or BOOK / "_toc.yml").read_text(encoding="utf8"))
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            for key in ("chapters", "sections"):
                walk(entry.get(key))
            for part in entry.get("parts", []):
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return [re.sub(r"\.(md|ipynb|rst)$", "", p) for p in pages]


def _unshare_works():
    unshare = shutil.which("unshare")
    if not unshare:
        return None, "the `unshare` command (util-linux) is not installed"
    probe = subprocess.run([unshare, "-rn", sys.executable, "-c", _LOOPBACK_UP_THEN_EXEC, "/bin/true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return None, f"`unshare -rn` is not permitted here: {probe.stderr.strip()}"
    return unshare, ""


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    """Build the book once, offline, and return the folder of its HTML pages."""
    vendor = BOOK / "_static" / "vendor"
    for needed in ("mathjax/tex-chtml.js", "require.js", "html-manager/embed-amd.js"):
        if not (vendor / needed).is_file():
            pytest.fail(f"{vendor / needed} is missing: run `make vendor` (MathJax, require.js and the "
                        "widget manager are installed from npm into book/_static/vendor/).")
    unshare, why = _unshare_works()
    if not unshare:
        pytest.fail(f"cannot build the book with networking disabled: {why}. This test proves the "
                    "book builds with no network by building it in an empty network namespace; "
                    "allow unprivileged user namespaces (kernel.unprivileged_userns_clone=1) or run "
                    "it where `unshare -rn true` works.")
    out = tmp_path_factory.mktemp("book-build")
    env = {**os.environ, "DLCOURSE_WIDGETS": "static", "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [unshare, "-rn", sys.executable, "-c", _LOOPBACK_UP_THEN_EXEC,
           str(VENV_BIN / "jupyter-book"), "build", str(BOOK), "--path-output", str(out)]
    started = time.monotonic()
    log_file = out / "build.log"
    with open(log_file, "w") as log_out:
        # its own session, so a timeout also ends the kernels it started
        proc = subprocess.Popen(cmd, env=env, stdout=log_out, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            proc.wait(timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"the book build took more than {BUILD_TIMEOUT_S} s:\n{_tail(log_file.read_text())}")
    log = re.sub(r"\x1b\[[0-9;]*m", "", log_file.read_text(errors="replace"))  # no colour codes
    if proc.returncode != 0:
        pytest.fail(f"`jupyter-book build` failed (exit {proc.returncode}) with no network; log "
                    f"({out / 'build.log'}):\n{_tail(log)}")
    problems = [line for line in log.splitlines() if _EXECUTION_PROBLEM.search(line)]
    if problems:
        pytest.fail("executing the chapter notebooks went wrong:\n" + "\n".join(problems)
                    + f"\n\nfull log ({out / 'build.log'}):\n{_tail(log)}")
    html = out / "_build" / "html"
    assert (html / "index.html").is_file(), f"no index.html in {html}:\n{_tail(log)}"
    print(f"book built offline in {time.monotonic() - started:.0f} s into {html}")
    return html


# --- the static pages --------------------------------------------------------------------------

class _Resources(HTMLParser):
    """What a page loads by itself when it opens: scripts, stylesheets, images, frames, media."""

    LOADING_LINK_RELS = {"stylesheet", "preload", "modulepreload", "prefetch", "icon",
                         "shortcut", "apple-touch-icon", "manifest", "preconnect", "dns-prefetch"}

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "frame", "embed", "source", "audio", "video", "track",
                   "input") and a.get("src"):
            self.urls.append((tag, a["src"]))
        if tag == "img" and a.get("srcset"):
            self.urls += [(tag, part.split()[0]) for part in a["srcset"].split(",") if part.strip()]
        if tag == "object" and a.get("data"):
            self.urls.append((tag, a["data"]))
        if tag == "video" and a.get("poster"):
            self.urls.append((tag, a["poster"]))
        if tag == "link" and a.get("href"):
            if set((a.get("rel") or "").lower().split()) & self.LOADING_LINK_RELS:
                self.urls.append((f"link rel={a.get('rel')}", a["href"]))


def _is_external(url):
    url = url.strip().lower()
    return url.startswith(("http://", "https://", "//", "ws://", "wss://"))


def test_every_page_executed_without_errors_or_stderr(built_book):
    """The build executes every page (once per test run): no cell may fail or write to stderr."""
    import nbformat

    executed = sorted((built_book.parent / "jupyter_execute").rglob("*.ipynb"))
    assert any(p.stem.startswith("01-") for p in executed), f"no executed chapters in {built_book.parent}"
    problems = [f"{page.name}: {out.get('ename') or out.get('text', '')[:200]}"
                for page in executed for cell in nbformat.read(page, as_version=4).cells
                if cell.cell_type == "code" for out in cell.get("outputs", [])
                if out.output_type == "error" or out.get("name") == "stderr"]
    assert not problems, "\n".join(problems)


def test_every_toc_page_is_built(built_book):
    missing = [p for p in toc_pages() if not (built_book / f"{p}.html").is_file()]
    assert not missing, f"pages of book/_toc.yml with no HTML in {built_book}: {missing}"


def test_no_page_loads_anything_from_the_internet(built_book):
    pages = sorted(built_book.rglob("*.html"))
    assert pages
    external = []
    stylesheets = set()
    for page in pages:
        parser = _Resources()
        parser.feed(page.read_text(encoding="utf8", errors="replace"))
        for tag, url in parser.urls:
            if _is_external(url):
                external.append(f"{page.relative_to(built_book)}: <{tag}> {url}")
            elif tag.startswith("link") and not url.startswith(("data:", "#")):
                target = (page.parent / urlsplit(url).path).resolve()
                if target.suffix == ".css":
                    stylesheets.add(target)
    # A stylesheet the pages load must not pull fonts or other sheets from the internet either.
    for css in sorted(stylesheets):
        assert css.is_file(), f"a page links the stylesheet {css}, which is not in the build"
        text = css.read_text(encoding="utf8", errors="replace")
        for m in re.finditer(r"""(?:url\(\s*['"]?|@import\s+['"])\s*((?:https?:)?//[^'")\s]+)""", text):
            external.append(f"{css.relative_to(built_book)}: {m.group(1)}")
    assert not external, "the book loads these from the internet when a page opens:\n" + "\n".join(external)


def test_math_and_widgets_are_served_by_the_book(built_book):
    page = (built_book / f"{CHAPTER_1}.html").read_text(encoding="utf8")
    assert "_static/vendor/mathjax/tex-chtml.js" in page, "chapter 1 does not load the book's own MathJax"
    assert (built_book / "_static/vendor/mathjax/tex-chtml.js").is_file()
    assert 'class="dlw"' in page, "chapter 1 shows no static widget (build with DLCOURSE_WIDGETS=static)"
    # The npm assets must not be added to every page as scripts (Jupyter Book adds every .js under
    # _static/ to every page unless book/_ext/dlcourse_book.py keeps them out).
    scripts = [src for tag, src in _parse(page) if tag == "script"]
    vendored = [s for s in scripts if "_static/vendor/" in s]
    allowed = ("vendor/mathjax/tex-chtml.js", "vendor/require.js", "vendor/html-manager/embed-amd.js")
    assert all(s.split("?")[0].endswith(allowed) for s in vendored), f"unexpected vendor scripts: {vendored}"


def _parse(text):
    parser = _Resources()
    parser.feed(text)
    return parser.urls


# --- in a browser --------------------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def book_server(built_book):
    """The built book over http on 127.0.0.1 (the widget manager's AMD loader needs http)."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(built_book)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = browser_launch(p)
        try:
            yield b
        finally:
            b.close()


class _Watched:
    """A browser page that lets only loopback requests through and records what went wrong."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900},
                                           service_workers="block")
        self.blocked, self.js_errors, self.failed, self.bad_status = [], [], [], []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.js_errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        self.page.on("response", self._response)

    def _route(self, route):
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def _response(self, response):
        if response.status >= 400 and not urlsplit(response.url).path.endswith("/favicon.ico"):
            self.bad_status.append(f"{response.status} {response.url}")

    def problems(self):
        failed = [f for f in self.failed if not any(b in f for b in self.blocked)]
        out = []
        if self.blocked:
            out.append("requests outside the book (blocked): " + ", ".join(self.blocked))
        if self.js_errors:
            out.append("JavaScript errors: " + " | ".join(self.js_errors))
        if failed:
            out.append("failed requests: " + ", ".join(failed))
        if self.bad_status:
            out.append("HTTP errors: " + ", ".join(self.bad_status))
        return out

    def close(self):
        self.context.close()


@pytest.mark.browser
def test_chapter_1_math_and_widget_work_offline(book_server, browser, tmp_path):
    w = _Watched(browser)
    page = w.page
    try:
        page.goto(f"{book_server}/{CHAPTER_1}.html", wait_until="load")
        try:
            page.wait_for_selector("mjx-container", state="attached", timeout=30_000)
        except Exception:
            pytest.fail("MathJax rendered no math on chapter 1 (no <mjx-container>). "
                        + " ".join(w.problems()))

        widget = page.locator(".dlw").first
        widget.wait_for(state="visible", timeout=10_000)
        img = widget.locator(".dlw-output img").first
        img.wait_for(state="visible", timeout=10_000)
        before = img.get_attribute("src")
        assert before and before.startswith("data:image/"), f"widget picture: {before!r:.80}"
        assert page.evaluate("(img) => img.naturalWidth > 0", img.element_handle()), "widget picture is broken"

        slider = widget.locator('input[type="range"]').first
        value, top = int(slider.input_value()), int(slider.get_attribute("max"))
        slider.focus()
        page.keyboard.press("ArrowRight" if value < top else "ArrowLeft")
        assert int(slider.input_value()) != value, "the keyboard did not move the widget's slider"
        page.wait_for_function(
            "([el, before]) => { const i = el.querySelector('.dlw-output img'); "
            "return i && i.getAttribute('src') !== before; }",
            arg=[widget.element_handle(), before], timeout=5_000)
        after = widget.locator(".dlw-output img").first.get_attribute("src")
        assert after != before, "moving the slider did not change the widget's picture"
        page.screenshot(path=str(tmp_path / "chapter-1.png"), full_page=True)
        problems = w.problems()
        assert not problems, f"chapter 1 ({tmp_path / 'chapter-1.png'}):\n" + "\n".join(problems)
    finally:
        w.close()


@pytest.mark.browser
def test_every_page_opens_offline_without_errors(book_server, browser, built_book):
    """Every toc page opens with no request outside the book and no JavaScript error; where a page
    holds saved ipywidgets state, the ipywidgets render from the book's own widget manager."""
    report = []
    for name in toc_pages():
        w = _Watched(browser)
        try:
            w.page.goto(f"{book_server}/{name}.html", wait_until="load")
            html = (built_book / f"{name}.html").read_text(encoding="utf8")
            if "application/vnd.jupyter.widget-view+json" in html:
                try:
                    w.page.wait_for_selector(".jupyter-widgets", state="attached", timeout=30_000)
                except Exception:
                    report.append(f"{name}: saved ipywidgets did not render")
            if "mjx-container" not in html and re.search(r'class="[^"]*\bmath\b', html):
                try:
                    w.page.wait_for_selector("mjx-container", state="attached", timeout=30_000)
                except Exception:
                    report.append(f"{name}: MathJax rendered no math")
            w.page.wait_for_timeout(500)  # let late requests (fonts, lazy scripts) show up
            report += [f"{name}: {p}" for p in w.problems()]
        finally:
            w.close()
    assert not report, "\n".join(report)
