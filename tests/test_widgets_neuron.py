"""The widgets of chapter 1 (dlcourse/widgets/neuron.py): every control changes the picture, the
static and live renderings work, and the pictures mean what the chapter says they mean."""
import warnings

import numpy as np
import pytest

import widget_checks as W
from dlcourse.widgets import neuron as N

# Two values of each control that must give different pictures.
PLAYGROUND_CHANGES = {"w1": (1.0, -1.0), "w2": (1.0, 2.0), "b": (0.0, 1.0),
                      "activation": ("sigmoid", "step")}
SPAM_CHANGES = {"money": (0, 1), "links": (0, 1), "known": (0, 1), "bias": (-3.0, -1.0)}

CASES = [(N.neuron_playground, PLAYGROUND_CHANGES), (N.spam_detector, SPAM_CHANGES)]
IDS = ["neuron_playground", "spam_detector"]


@pytest.mark.parametrize("make, changes", CASES, ids=IDS)
def test_controls_are_the_documented_ones(make, changes):
    W.check_controls(make(), changes)


@pytest.mark.parametrize("make, changes", CASES, ids=IDS)
def test_each_control_changes_the_picture(make, changes):
    W.check_each_control_changes_the_picture(make(), changes)


def test_every_activation_gives_its_own_picture():
    widget = N.neuron_playground()
    pictures = {act: widget.render(activation=act) for act in N.ACTIVATION_NAMES}
    assert len(set(pictures.values())) == len(N.ACTIVATION_NAMES)


def playground_frame_matches(frame, params):
    return (N.linear_formula(params["w1"], params["w2"], params["b"]) in frame
            and f"activation: {params['activation']}" in frame)


def spam_frame_matches(frame, params):
    z, p = N.spam_score(params["money"], params["links"], params["known"], params["bias"])
    verdict = "SPAM" if z > 0 else "not spam" if z < 0 else "undecided"
    return f"{p:.2f}\n{verdict}" in frame


@pytest.mark.parametrize("make, matches", [(N.neuron_playground, playground_frame_matches),
                                           (N.spam_detector, spam_frame_matches)], ids=IDS)
def test_static_rendering_has_one_frame_per_grid_point(make, matches, cheap_frames):
    W.check_static_rendering(make(), matches)


@pytest.mark.parametrize("make, changes", CASES, ids=IDS)
def test_live_rendering_reacts_to_each_control(make, changes):
    W.check_live_reacts(make(), changes)


def test_static_grid_keeps_a_solution_of_the_puzzle():
    """The playground's points can be classified perfectly with one of the precomputed settings."""
    X, y = N.playground_points()
    solved = [p for _, p in N.neuron_playground().grid()
              if np.all((X @ np.array([p["w1"], p["w2"]]) + p["b"] > 0) == (y == 1))]
    assert solved, "no precomputed setting puts every point on its side"
    defaults = N.neuron_playground().defaults()
    z = X @ np.array([defaults["w1"], defaults["w2"]]) + defaults["b"]
    assert not np.all((z > 0) == (y == 1)), "the default setting should not solve the puzzle"


def test_boundary_moves_against_w_when_the_bias_grows():
    w = np.array([1.0, 2.0])
    for b in (-1.0, 0.0, 1.0):
        seg = N.boundary_segment(w[0], w[1], b)
        assert np.allclose(seg @ w + b, 0.0), "the drawn line is not w1*x1 + w2*x2 + b = 0"
    # Signed distance of the line from the origin along w is -b / |w|.
    distance = {b: (N.boundary_segment(w[0], w[1], b)[0] @ w) / np.linalg.norm(w) for b in (0.0, 1.0)}
    assert distance[0.0] == pytest.approx(0.0)
    assert distance[1.0] == pytest.approx(-1.0 / np.linalg.norm(w))
    assert N.boundary_segment(0.0, 0.0, 1.0) is None
    assert N.boundary_segment(0.0, 1.0, 10.0) is None  # the line x2 = -10 misses the square


def test_boundary_is_the_same_line_for_every_activation():
    """Whatever the activation, 'output above its middle' is exactly the side z > 0."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(500, 2))
    w1, w2, b = 0.7, -1.3, 0.4
    z = X @ np.array([w1, w2]) + b
    X, z = X[np.abs(z) > 1e-6], z[np.abs(z) > 1e-6]
    middle = {"step": 0.5, "sigmoid": 0.5, "tanh": 0.0, "relu": 0.0}
    for act in N.ACTIVATION_NAMES:
        out = N.neuron_output(X, w1, w2, b, act)
        assert np.array_equal(out > middle[act], z > 0), act


def test_sigmoid_is_stable_for_large_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = N.activate(np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0]), "sigmoid")
    assert np.all(np.isfinite(out))
    assert out[0] == 0.0 and out[2] == 0.5 and out[-1] == 1.0


def test_spam_probability_follows_the_evidence():
    for bias in np.arange(-6.0, 2.01, 0.5):
        p = {key: N.spam_score(*key, bias)[1] for key in [(0, 0, 0), (1, 0, 0), (0, 1, 0),
                                                          (1, 1, 0), (1, 1, 1)]}
        assert p[(1, 0, 0)] > p[(0, 0, 0)], "mentioning money should raise P(spam)"
        assert p[(0, 1, 0)] > p[(0, 0, 0)], "suspicious links should raise P(spam)"
        assert p[(1, 1, 1)] < p[(1, 1, 0)], "a known sender should lower P(spam)"
    z, p = N.spam_score(1, 1, 0, -3.0)
    assert z == pytest.approx(2.0) and p == pytest.approx(1 / (1 + np.exp(-2.0)))
    # A higher bias (a more lenient threshold) never lowers the probability.
    ps = [N.spam_score(1, 0, 1, b)[1] for b in np.arange(-6.0, 2.01, 0.5)]
    assert np.all(np.diff(ps) > 0)


def test_spam_picture_shows_the_verdict():
    from matplotlib.figure import Figure

    fig = N.draw_spam(1, 1, 0, -3.0)
    assert isinstance(fig, Figure)
    assert "SPAM" in fig.axes[1].get_title() and "0.88" in fig.axes[1].get_title()
    fig = N.draw_spam(0, 0, 1, -3.0)
    assert "not spam" in fig.axes[1].get_title()
    fig = N.draw_spam(0, 1, 0, -3.0)  # z = 3 - 3 = 0: exactly on the boundary
    assert "undecided" in fig.axes[1].get_title() and "0.50" in fig.axes[1].get_title()


def test_drawing_leaves_no_pyplot_figures_open():
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    N.neuron_playground().render()
    N.spam_detector().render()
    assert set(plt.get_fignums()) == before


def test_frames_stay_small():
    """One picture of each widget stays small, so the static book page stays light."""
    for html in (N.neuron_playground().render(), N.spam_detector().render()):
        assert len(html) < 30_000, f"a frame takes {len(html)} characters"
