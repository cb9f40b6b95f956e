"""One wrapper that makes a widget live in Jupyter and still alive in the static book.

A widget is a pure function ``params -> figure or HTML`` plus a description of its controls::

    Widget(draw, {"w": Slider("weight", -2, 2, 0.1, value=1.0), "f": Choice("activation", ["relu", "tanh"])})

Displaying it (the last expression of a cell, or ``display(widget)``) picks a rendering:

- ``live``: an ipywidgets panel that calls the function again on every change (Jupyter with a kernel);
- ``static``: the function evaluated on a bounded grid of control values, with plain HTML
  controls and a few lines of JavaScript that switch between the precomputed pictures, so the
  widget keeps working in a static page with no kernel (the published book);
- ``once``: the function evaluated once with the default values (under nbgrader, or with no
  front end), so a widget never blocks or slows grading.

``DLCOURSE_WIDGETS=live|static|once`` forces one; ``make book`` sets ``static``.
"""
import base64
import contextlib
import hashlib
import html
import io
import itertools
import json
import os

import numpy as np

MODE_ENV = "DLCOURSE_WIDGETS"
MODES = ("live", "static", "once")
MAX_FRAMES = 150  # cap on precomputed pictures per widget, so a book page stays small
FIGURE_DPI = 72
PALETTE_COLOURS = 96  # a palette PNG of a plot is about a fifth of matplotlib's RGBA PNG


def widget_mode():
    """Which rendering applies here: see the module docstring."""
    forced = os.environ.get(MODE_ENV, "").strip().lower()
    if forced:
        if forced not in MODES:
            raise ValueError(f"{MODE_ENV}={forced!r}: use one of {', '.join(MODES)}.")
        return forced
    if os.environ.get("NBGRADER_EXECUTION"):
        return "once"
    try:
        from IPython import get_ipython
    except ImportError:
        return "once"
    shell = get_ipython()
    return "live" if shell is not None and getattr(shell, "kernel", None) is not None else "once"


class Slider:
    """A number between ``min`` and ``max``. ``static`` is how many evenly spaced values (or which
    values) the static book precomputes."""

    def __init__(self, label, min, max, step, value, static=5):
        self.label, self.min, self.max, self.step, self.value = label, min, max, step, value
        if np.ndim(static) == 0:
            static = np.linspace(min, max, int(static))
        self.static_values = [self._clean(v) for v in static]

    def _clean(self, v):
        v = round(float(v), 6)
        return int(v) if isinstance(self.step, int) and v == int(v) else v

    def static_default(self):
        return int(np.argmin([abs(v - self.value) for v in self.static_values]))

    def ipywidget(self):
        import ipywidgets as W

        cls = W.IntSlider if isinstance(self.step, int) and isinstance(self.value, int) else W.FloatSlider
        return cls(value=self.value, min=self.min, max=self.max, step=self.step,
                   description=self.label, continuous_update=False,
                   style={"description_width": "initial"})

    def static_control(self, name):
        labels = [f"{v:g}" for v in self.static_values]
        i = self.static_default()
        return (f'<label class="dlw-control">{html.escape(self.label)} '
                f'<input type="range" data-name="{name}" min="0" max="{len(labels) - 1}" step="1" value="{i}"> '
                f'<span class="dlw-value">{labels[i]}</span></label>'), labels


class Choice:
    """One of a few options: a list of values, or a dict label -> value."""

    def __init__(self, label, options, value=None):
        self.label = label
        self.options = dict(options) if isinstance(options, dict) else {str(o): o for o in options}
        values = list(self.options.values())
        self.value = values[0] if value is None else value
        if self.value not in values:
            raise ValueError(f"{label}: default {value!r} is not one of the options {values}.")
        self.static_values = values

    def static_default(self):
        return self.static_values.index(self.value)

    def ipywidget(self):
        import ipywidgets as W

        return W.Dropdown(options=list(self.options.items()), value=self.value,
                          description=self.label, style={"description_width": "initial"})

    def static_control(self, name):
        labels = list(self.options)
        opts = "".join(f'<option value="{i}"{" selected" if i == self.static_default() else ""}>'
                       f"{html.escape(lab)}</option>" for i, lab in enumerate(labels))
        return (f'<label class="dlw-control">{html.escape(self.label)} '
                f'<select data-name="{name}">{opts}</select></label>'), labels


def new_figure(width, height, **kwargs):
    """A figure for a widget's drawing function, ``width`` x ``height`` inches. A bare Figure,
    not pyplot's: nothing is registered globally, nothing pops up in a notebook."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), **kwargs)


@contextlib.contextmanager
def one_torch_thread():
    """Run torch on one thread, then restore the caller's setting. A widget's networks are far
    too small to gain from a second thread, and on a busy 2-core machine (a test run beside the
    book build) torch's threads wait for each other and a 0.5 s training can take a minute."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def to_html(result):
    """A widget function's result as an HTML fragment: a matplotlib Figure becomes a compact
    palette PNG (and is closed), an object with ``_repr_html_`` its HTML, a string is taken as
    HTML."""
    from matplotlib.figure import Figure

    if isinstance(result, Figure):
        return f'<img alt="widget output" src="data:image/png;base64,{_palette_png(result)}">'
    if hasattr(result, "_repr_html_"):
        return result._repr_html_()
    if isinstance(result, str):
        return result
    raise TypeError(f"a widget function must return a matplotlib Figure or HTML, not {type(result).__name__}")


def _palette_png(fig):
    """``fig`` as a base64 palette PNG: the static book stores one picture per grid point, and
    plots need few colours. Pillow is there: matplotlib writes PNGs with it."""
    import matplotlib.pyplot as plt
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    buf.seek(0)
    out = io.BytesIO()
    Image.open(buf).convert("RGB").quantize(PALETTE_COLOURS).save(out, format="png", optimize=True)
    return base64.b64encode(out.getvalue()).decode("ascii")


_STATIC_JS = """(function () {
  var root = document.getElementById("%(id)s");
  var data = JSON.parse(root.querySelector("script.dlw-frames").textContent);
  var inputs = root.querySelectorAll("[data-name]");
  function update() {
    var key = [];
    inputs.forEach(function (el) {
      key.push(el.value);
      var shown = el.parentNode.querySelector(".dlw-value");
      if (shown) { shown.textContent = data.labels[el.dataset.name][el.value]; }
    });
    root.querySelector(".dlw-output").innerHTML = data.frames[key.join(",")];
  }
  inputs.forEach(function (el) { el.addEventListener("input", update); });
  update();
})();"""


class Widget:
    """A pure function of its controls, rendered live, static or once (see the module docstring)."""

    def __init__(self, func, controls, title="", caption=""):
        self.func, self.controls, self.title, self.caption = func, dict(controls), title, caption

    def defaults(self):
        return {name: c.value for name, c in self.controls.items()}

    def render(self, **params):
        """One picture, as HTML, for the given control values (missing ones take their default)."""
        return to_html(self.func(**{**self.defaults(), **params}))

    def grid(self):
        """The control values the static rendering precomputes, as index tuples and parameters."""
        names = list(self.controls)
        sizes = [len(self.controls[n].static_values) for n in names]
        if int(np.prod(sizes)) > MAX_FRAMES:
            raise ValueError(f"{self.title or self.func.__name__}: the static grid has "
                             f"{' x '.join(map(str, sizes))} = {int(np.prod(sizes))} pictures, more "
                             f"than MAX_FRAMES={MAX_FRAMES}; give the sliders fewer static values.")
        for idx in itertools.product(*(range(s) for s in sizes)):
            yield idx, {n: self.controls[n].static_values[i] for n, i in zip(names, idx)}

    def static_html(self):
        """The self-contained HTML of the static rendering: controls, pictures and script."""
        frames = {",".join(map(str, idx)): self.render(**params) for idx, params in self.grid()}
        controls, labels = [], {}
        for name, control in self.controls.items():
            markup, labels[name] = control.static_control(name)
            controls.append(markup)
        payload = json.dumps({"labels": labels, "frames": frames}, sort_keys=True)
        payload = payload.replace("</", "<\\/")  # a frame must not close the script element
        uid = "dlw-" + hashlib.sha1(payload.encode()).hexdigest()[:12]
        return (f'<div class="dlw" id="{uid}">{self._header()}'
                f'<div class="dlw-controls">{" ".join(controls)}</div>'
                f'<div class="dlw-output"></div>'
                f'<script type="application/json" class="dlw-frames">{payload}</script>'
                f"<script>{_STATIC_JS % {'id': uid}}</script></div>")

    def live(self):
        """The ipywidgets panel: controls above, the picture below, recomputed on every change."""
        import ipywidgets as W

        inputs = {name: c.ipywidget() for name, c in self.controls.items()}
        output = W.HTML()

        def update(_change=None):
            output.value = self.render(**{n: w.value for n, w in inputs.items()})

        for w in inputs.values():
            w.observe(update, names="value")
        update()
        return W.VBox([W.HTML(self._header()), W.HBox(list(inputs.values()),
                       layout=W.Layout(flex_flow="row wrap")), output])

    def _header(self):
        parts = [f"<b>{html.escape(self.title)}</b>" if self.title else "",
                 f"<div>{html.escape(self.caption)}</div>" if self.caption else ""]
        return f'<div class="dlw-title">{"".join(parts)}</div>'

    def _ipython_display_(self):
        from IPython.display import HTML, display

        mode = widget_mode()
        if mode == "live":
            display(self.live())
        elif mode == "static":
            display(HTML(self.static_html()))
        else:
            display(HTML(self._header() + self.render()))
