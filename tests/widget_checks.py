"""What every widget's tests check, written once; tests/test_widgets_<topic>.py call these.

Each control changes the picture; the static rendering holds one frame per grid point, each drawn
for its own settings, with a control for every parameter; the live panel redraws on every change.
``changes`` maps a control's name to two of its (precomputed) values that must look different."""
import json
import re

import numpy as np

from dlcourse.widgets import MAX_FRAMES, Widget


def frames_of(static_html):
    """The labels and precomputed frames that a static rendering carries."""
    payload = re.search(r'<script type="application/json" class="dlw-frames">(.*?)</script>',
                        static_html, re.S).group(1)
    return json.loads(payload.replace("<\\/", "</"))


def figure_summary(fig):
    """A figure's titles, as text: what the cheap frames (conftest.py) show instead of a PNG."""
    return " | ".join([fig.get_suptitle()] + [ax.get_title() for ax in fig.axes])


def check_controls(widget, changes):
    assert isinstance(widget, Widget)
    assert set(widget.controls) == set(changes)
    for name, (a, b) in changes.items():  # both test values are among the precomputed ones
        assert a in widget.controls[name].static_values and b in widget.controls[name].static_values


def check_each_control_changes_the_picture(widget, changes):
    for name, (a, b) in changes.items():
        first, second = widget.render(**{name: a}), widget.render(**{name: b})
        assert first.startswith("<img") and "base64," in first
        assert first != second, f"changing {name} from {a!r} to {b!r} did not change the picture"


def check_static_rendering(widget, matches):
    """``matches(frame, params)`` says whether a (cheap) frame was drawn for ``params``."""
    expected = int(np.prod([len(c.static_values) for c in widget.controls.values()]))
    assert expected <= MAX_FRAMES
    html = widget.static_html()
    data = frames_of(html)
    assert set(data["frames"]) == {",".join(map(str, idx)) for idx, _ in widget.grid()}
    assert len(data["frames"]) == expected
    for name, control in widget.controls.items():
        assert f'data-name="{name}"' in html, f"the static page has no control for {name}"
        assert len(data["labels"][name]) == len(control.static_values)
    for idx, params in widget.grid():
        frame = data["frames"][",".join(map(str, idx))]
        assert matches(frame, params), f"the frame for {params} shows {frame}"
    return data


def check_live_reacts(widget, changes):
    panel = widget.live()
    output, inputs = panel.children[-1], panel.children[1].children
    assert len(inputs) == len(widget.controls)
    by_name = dict(zip(widget.controls, inputs))
    for name, (a, b) in changes.items():
        by_name[name].value = a
        before = output.value
        by_name[name].value = b
        assert output.value != before, f"setting {name} to {b!r} did not redraw the live widget"
        assert output.value == widget.render(**{n: w.value for n, w in by_name.items()})
