"""Sphinx extension for the course book: the npm assets in ``_static/vendor/`` load only where
they are needed, and pages open without JavaScript errors and with no request outside the book.

1. Jupyter Book 1.x registers every ``.js`` and ``.css`` file found under ``_static/`` as a script
   or stylesheet of *every* page. ``_static/vendor/`` holds MathJax, require.js and the ipywidgets
   HTML manager (``make vendor``): dozens of files that must load only where needed and in their
   own way, MathJax through ``mathjax_path`` (pages with math) and its own loader, require.js and
   the widget manager through myst-nb's ``nb_ipywidgets_js`` (pages with saved widget state).
   They are dropped from ``html_js_files`` / ``html_css_files``; the files are still copied.
2. On pages that load require.js (saved ipywidgets), a small inline script before it:
   - maps the widget manager's AMD module to ``_static/vendor/html-manager/``, so the fonts its CSS
     asks for are found there (require.js would otherwise resolve them against the page's folder);
   - gives MathJax 3 the one MathJax 2 call that ``@jupyter-widgets/controls`` makes to typeset
     widget labels (``MathJax.Hub.Queue``), which otherwise throws on pages with math.
3. Inline scripts that Sphinx 7.4 emits twice (added during the build, they are kept both under
   the filename None and ""; sphinx-thebe's ``const THEBE_JS_URL = ...``, a
   second declaration being a SyntaxError) are written once.
"""
import json

VENDOR_PREFIX = "vendor/"
REQUIRE_JS = "_static/vendor/require.js"
HTML_MANAGER_MODULE = "@jupyter-widgets/html-manager/dist"
HTML_MANAGER_DIR = "_static/vendor/html-manager"

_BEFORE_REQUIRE_JS = """var require = {paths: %(paths)s};
document.addEventListener("DOMContentLoaded", function () {
  var M = window.MathJax;
  if (M && M.version && !M.Hub) {
    M.Hub = {Queue: function (job) {
      var el = job && job[2];
      if (M.typesetPromise) { M.typesetPromise(el ? [el] : undefined).catch(function (e) { console.warn(e); }); }
    }};
  }
});"""


def _filename(entry):
    return entry[0] if isinstance(entry, (tuple, list)) else entry


def _drop_vendor(app, config):
    for name in ("html_js_files", "html_css_files"):
        files = getattr(config, name, None) or []
        kept = [e for e in files if not str(_filename(e)).replace("\\", "/").startswith(VENDOR_PREFIX)]
        setattr(config, name, kept)


def _script_key(js):
    attrs = dict(getattr(js, "attributes", {}) or {})
    attrs.pop("priority", None)
    # Sphinx 7.4 registers an extension's inline script once as filename None and once as ""
    return getattr(js, "filename", str(js)) or "", tuple(sorted((k, str(v)) for k, v in attrs.items()))


def _fix_page_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for js in scripts:
        key = _script_key(js)
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique

    require = [js for js in scripts if str(getattr(js, "filename", js) or "").endswith(REQUIRE_JS)]
    if require:
        pathto = context["pathto"]
        paths = {HTML_MANAGER_MODULE: pathto(HTML_MANAGER_DIR, 1)}
        priority = getattr(require[0], "priority", 500) - 1
        app.builder.add_js_file(None, body=_BEFORE_REQUIRE_JS % {"paths": json.dumps(paths)}, priority=priority)


def setup(app):
    # before Sphinx's own config-inited handlers (priority 800) turn these lists into tuples
    app.connect("config-inited", _drop_vendor, priority=100)
    # after myst-nb has added a page's widget scripts (default priority 500)
    app.connect("html-page-context", _fix_page_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
