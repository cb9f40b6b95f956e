"""The widgets of chapter 2 (dlcourse/widgets/layers.py): every control changes the picture, the
static and live renderings work, and the pictures mean what the chapter says they mean."""
import numpy as np
import pytest

import widget_checks as W
from dlcourse.widgets import layers as L

# Two values of each control that must give different pictures.
SPAM_CHANGES = {"money": (0.0, 1.0), "links": (0.0, 0.5), "known": (0.0, 1.0)}
WIDTH_DEPTH_CHANGES = {"dataset_name": ("spirals", "moons"), "width": (8, 32), "depth": (1, 2)}
INIT_CHANGES = {"init": ("xavier", "he"), "activation": ("tanh", "relu")}

CASES = [(L.spam_network, SPAM_CHANGES), (L.width_depth_boundary, WIDTH_DEPTH_CHANGES),
         (L.init_spread, INIT_CHANGES)]
IDS = ["spam_network", "width_depth_boundary", "init_spread"]


@pytest.mark.parametrize("make, changes", CASES, ids=IDS)
def test_controls_are_the_documented_ones(make, changes):
    W.check_controls(make(), changes)


@pytest.mark.parametrize("make, changes", CASES, ids=IDS)
def test_each_control_changes_the_picture(make, changes):
    W.check_each_control_changes_the_picture(make(), changes)


def spam_frame_matches(frame, params):
    p = L.spam_forward(params["money"], params["links"], params["known"])[2]
    return f"P(spam) = {p[0]:.3f}" in frame


def width_depth_frame_matches(frame, params):
    result = L.train_mlp(params["dataset_name"], params["width"], params["depth"])
    return L.width_depth_title(params["dataset_name"], params["width"], params["depth"], result) in frame


def init_frame_matches(frame, params):
    label = {v: k for k, v in L.INIT_LABELS.items()}[params["init"]]
    return frame.startswith(f"<pre>{label} init, {params['activation']}:")


def test_static_spam_network_has_one_frame_per_grid_point(cheap_frames):
    data = W.check_static_rendering(L.spam_network(), spam_frame_matches)
    assert len(data["frames"]) == 27


def test_static_init_spread_has_one_frame_per_grid_point(cheap_frames):
    data = W.check_static_rendering(L.init_spread(), init_frame_matches)
    assert len(data["frames"]) == 8


@pytest.mark.slow
def test_static_width_depth_has_one_frame_per_grid_point(cheap_frames):
    """Trains all 24 networks of the grid (about 10 to 20 s on 2 cores)."""
    data = W.check_static_rendering(L.width_depth_boundary(), width_depth_frame_matches)
    assert len(data["frames"]) == len(L.DATASET_NAMES) * len(L.WIDTHS) * len(L.DEPTHS)


@pytest.mark.parametrize("make, changes", CASES, ids=IDS)
def test_live_rendering_reacts_to_each_control(make, changes):
    W.check_live_reacts(make(), changes)


# --- The spam network ----------------------------------------------------------------------


def test_spam_network_has_26_parameters_in_the_x_w_convention():
    assert L.SPAM_W1.shape == (3, 4) and L.SPAM_B1.shape == (4,)
    assert L.SPAM_W2.shape == (4, 2) and L.SPAM_B2.shape == (2,)
    assert L.spam_parameter_count() == 3 * 4 + 4 + 4 * 2 + 2 == 26


def test_spam_network_computes_relu_then_softmax():
    h, z, p = L.spam_forward(1, 1, 0)
    assert np.allclose(h, [2, 3, 0, 0]) and np.allclose(z, [7, 0.5])
    assert p.sum() == pytest.approx(1.0)
    assert p[0] == pytest.approx(1 / (1 + np.exp(-6.5)))
    h, z, p = L.spam_forward(0, 0, 0)  # a plain e-mail: only "nothing suspicious" fires
    assert np.allclose(h, [0, 0, 0, 1]) and p[0] < 0.1


def test_spam_probability_follows_the_evidence():
    values = np.linspace(0, 1, 11)
    grid = np.array([[[L.spam_forward(m, s, k)[2][0] for k in values] for s in values] for m in values])
    d_money, d_links, d_known = (np.diff(grid, axis=a) for a in range(3))
    assert np.all(d_links >= -1e-12), "more suspicious links must never lower P(spam)"
    assert np.mean(d_links > 1e-9) > 0.9, "more suspicious links should raise P(spam)"
    assert np.all(d_money >= -1e-12), "mentioning money must never lower P(spam)"
    assert np.all(d_known <= 1e-12), "a known sender must never raise P(spam)"
    assert L.spam_forward(1, 1, 0)[2][0] > 0.99, "money and links from a stranger is spam"
    assert L.spam_forward(0, 0, 1)[2][0] < 0.01, "a plain e-mail from a known sender is not"


def test_spam_picture_writes_every_value():
    fig = L.draw_spam_network(1.0, 1.0, 0.0)
    texts = [t.get_text() for t in fig.axes[0].texts]
    h, z, p = L.spam_forward(1.0, 1.0, 0.0)
    for v in h:
        assert f"{v:.2g}" in texts, f"hidden activation {v} is not written on the diagram"
    for prob in p:
        assert f"{prob:.2f}" in texts
    assert "spam" in fig.get_suptitle()


# --- Width and depth -----------------------------------------------------------------------


def test_parameter_count_of_the_trained_networks():
    assert L.mlp_parameter_count(8, 1) == 2 * 8 + 8 + 8 * 2 + 2 == 42
    assert L.mlp_parameter_count(32, 3) == (2 * 32 + 32) + 2 * (32 * 32 + 32) + (32 * 2 + 2)
    result = L.train_mlp("moons", 4, 2)
    assert sum(W.size + b.size for W, b in result["params"]) == result["parameters"]
    assert [W.shape for W, _ in result["params"]] == [(2, 4), (4, 4), (4, 2)]


def test_training_is_deterministic_and_leaves_global_random_state_alone():
    import torch

    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    L.train_mlp.cache_clear()
    first = L.train_mlp("moons", 4, 1)
    L.train_mlp.cache_clear()
    second = L.train_mlp("moons", 4, 1)
    for (W1, b1), (W2, b2) in zip(first["params"], second["params"]):
        assert np.array_equal(W1, W2) and np.array_equal(b1, b2)
    assert first["train_accuracy"] == second["train_accuracy"]
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert L.train_mlp("moons", 4, 1) is second, "repeated controls should come from the cache"
    assert not second["params"][0][0].flags.writeable, "cached weights must be read-only"


def test_same_controls_give_the_same_picture():
    widget = L.width_depth_boundary()
    assert widget.render(dataset_name="moons", width=4, depth=1) == \
        widget.render(dataset_name="moons", width=4, depth=1)


@pytest.mark.slow
def test_wider_and_deeper_networks_fit_the_spirals_better():
    acc = {(w, d): L.train_mlp("spirals", w, d)["train_accuracy"] for w in L.WIDTHS for d in L.DEPTHS}
    assert acc[(2, 1)] < 0.8, "two ReLUs in one layer should not be able to fit the spirals"
    assert acc[(32, 3)] >= 0.97
    for d in L.DEPTHS:
        assert acc[(32, d)] >= acc[(2, d)] + 0.2, f"width 32 should beat width 2 at depth {d}"
    for w in (4, 8):
        assert acc[(w, 3)] >= acc[(w, 1)] + 0.05, f"3 layers of {w} should beat 1 layer of {w}"


def test_moons_are_easy_for_a_small_network():
    result = L.train_mlp("moons", 8, 1)
    assert result["train_accuracy"] >= 0.95 and result["fresh_accuracy"] >= 0.9


# --- Initialisation ------------------------------------------------------------------------


def test_init_standard_deviations_are_the_textbook_ones():
    assert L.init_std("zero", 256, 128) == 0.0
    assert L.init_std("small", 256, 128) == 0.01
    assert L.init_std("xavier", 256, 128) == pytest.approx(np.sqrt(2 / (256 + 128)))
    assert L.init_std("he", 256, 128) == pytest.approx(np.sqrt(2 / 256))
    with pytest.raises(ValueError):
        L.init_std("ones", 4, 4)


def test_init_spread_means_what_the_chapter_says():
    std = {(i, a): L.activation_stats(i, a)["std"] for i in L.INIT_NAMES for a in ("tanh", "relu")}
    for a in ("tanh", "relu"):
        assert np.all(std[("zero", a)] == 0), "zero init must give zero spread in every layer"
        assert std[("small", a)][-1] < 1e-10 * std[("small", a)][0], "too small must shrink to zero"
        assert np.all(np.diff(std[("small", a)]) < 0)
    he = std[("he", "relu")]
    assert he[0] / 3 <= he[-1] <= 3 * he[0], "He init should keep ReLU activations alive"
    assert std[("xavier", "tanh")][-1] > 0.1, "Xavier init should keep tanh activations alive"
    assert std[("xavier", "relu")][-1] < 0.01 * std[("xavier", "relu")][0], \
        "Xavier with ReLU should shrink (halving the variance at every layer)"
    assert len(he) == L.STACK_DEPTH


def test_init_stats_are_deterministic_and_cached():
    a = L.activation_stats("he", "tanh")
    L.activation_stats.cache_clear()
    b = L.activation_stats("he", "tanh")
    assert np.array_equal(a["std"], b["std"]) and np.array_equal(a["percentiles"], b["percentiles"])
    assert L.activation_stats("he", "tanh") is b


# --- Purity and size -----------------------------------------------------------------------


def test_drawing_leaves_no_pyplot_figures_open():
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    L.spam_network().render()
    L.init_spread().render()
    L.width_depth_boundary().render(dataset_name="moons", width=4, depth=1)
    assert set(plt.get_fignums()) == before


def test_frames_stay_small():
    """One picture of each widget stays small, so the static book page stays light."""
    for html in (L.spam_network().render(), L.init_spread().render(),
                 L.width_depth_boundary().render(dataset_name="moons", width=4, depth=1)):
        assert len(html) < 30_000, f"a frame takes {len(html)} characters"
