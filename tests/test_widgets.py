"""The widget wrapper: mode choice, the three renderings, and the static grid's cap."""
import matplotlib.pyplot as plt
import pytest

from dlcourse import widgets
from dlcourse.widgets import Choice, Slider, Widget
from widget_checks import frames_of


def draw(a=1.0, kind="line"):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, a], "-" if kind == "line" else "o")
    return fig


def make():
    return Widget(draw, {"a": Slider("slope", -1.0, 1.0, 0.5, value=1.0), "kind": Choice("style", ["line", "dots"])},
                  title="Demo")


@pytest.mark.parametrize("env,expected", [({"DLCOURSE_WIDGETS": "static"}, "static"),
                                          ({"DLCOURSE_WIDGETS": "live"}, "live"),
                                          ({"NBGRADER_EXECUTION": "autograde"}, "once"),
                                          ({}, "once")])  # pytest has no kernel: no front end
def test_mode_follows_the_environment(monkeypatch, env, expected):
    monkeypatch.delenv("DLCOURSE_WIDGETS", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert widgets.widget_mode() == expected


def test_unknown_mode_is_an_error(monkeypatch):
    monkeypatch.setenv("DLCOURSE_WIDGETS", "animated")
    with pytest.raises(ValueError, match="use one of live, static, once"):
        widgets.widget_mode()


def test_render_depends_on_every_control():
    w = make()
    base = w.render()
    assert base.startswith('<img alt="widget output" src="data:image/png;base64,')
    assert w.render(a=-1.0) != base and w.render(kind="dots") != base


def test_static_html_holds_one_frame_per_grid_point_and_its_controls():
    html = make().static_html()
    data = frames_of(html)
    assert len(data["frames"]) == 5 * 2
    assert data["labels"] == {"a": ["-1", "-0.5", "0", "0.5", "1"], "kind": ["line", "dots"]}
    assert data["frames"]["0,0"] != data["frames"]["4,0"] != data["frames"]["4,1"]
    assert 'type="range" data-name="a"' in html and 'value="4"' in html  # starts at the default 1.0
    assert '<select data-name="kind">' in html and "addEventListener(\"input\"" in html


def test_static_html_is_reproducible():
    assert make().static_html() == make().static_html()


def test_static_grid_is_capped():
    w = Widget(draw, {"a": Slider("a", 0, 1, 0.01, 0.5, static=200)})
    with pytest.raises(ValueError, match="MAX_FRAMES"):
        w.static_html()


def test_live_panel_recomputes_when_a_control_moves():
    panel = make().live()
    slider, dropdown = panel.children[1].children
    output = panel.children[-1]
    first = output.value
    slider.value = -0.5
    assert output.value != first
    moved = output.value
    dropdown.value = "dots"
    assert output.value != moved


def test_once_mode_renders_a_single_picture(monkeypatch):
    calls = []

    def counted(a=1.0):
        calls.append(a)
        return "<p>%s</p>" % a

    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.delenv("DLCOURSE_WIDGETS", raising=False)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    Widget(counted, {"a": Slider("a", 0, 1, 0.5, 0.5)})._ipython_display_()
    assert calls == [0.5] and "<p>0.5</p>" in shown[0].data


def test_choice_rejects_a_default_outside_its_options():
    with pytest.raises(ValueError, match="not one of the options"):
        Choice("c", ["a", "b"], value="z")


def test_widget_function_must_return_a_picture():
    with pytest.raises(TypeError, match="Figure or HTML"):
        Widget(lambda: 3, {}).render()
