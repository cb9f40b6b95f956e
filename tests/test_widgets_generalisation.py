"""The widget of chapter 3, section 12 (dlcourse/widgets/generalisation.py): every control changes
the picture, the static and live renderings work, and the picture means what the chapter says:
the split is the page's (stratified, seeded, disjoint), the subsets are balanced, the penalty's
gradient is lambda * W, the curves drawn are the curves trained, and the numbers the page quotes
are the ones measured."""
import numpy as np
import pytest
import torch
from sklearn.model_selection import train_test_split

import widget_checks as W
from dlcourse import data
from dlcourse.widgets import MAX_FRAMES, one_torch_thread
from dlcourse.widgets import generalisation as G

# Two values of each control that must give different pictures.
CHANGES = {"n_train": (50, 500), "weight_decay": (0.0, 0.01)}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


def curves(n, wd):
    return G.learning_curves(n, wd)


# --- Generic checks --------------------------------------------------------------------------


def test_controls_are_the_documented_ones():
    W.check_controls(G.generalisation_explorer(), CHANGES)


def test_each_control_changes_the_picture():
    W.check_each_control_changes_the_picture(G.generalisation_explorer(), CHANGES)


def test_static_rendering_has_one_frame_per_grid_point(cheap_frames):
    def matches(frame, params):
        n, wd = params["n_train"], params["weight_decay"]
        return G.curves_title(n, wd, curves(n, wd)) in frame

    data_ = W.check_static_rendering(G.generalisation_explorer(), matches)
    assert len(data_["frames"]) == len(G.TRAIN_SIZES) * len(G.WEIGHT_DECAYS) <= MAX_FRAMES


def test_live_rendering_reacts_to_each_control():
    W.check_live_reacts(G.generalisation_explorer(), CHANGES)


# --- The data --------------------------------------------------------------------------------


def test_split_is_the_pages_stratified_seeded_split_of_the_training_digits():
    X_fit, y_fit, X_val, y_val = G.validation_split()
    assert X_fit.shape == (1137, 64) and X_val.shape == (300, 64)
    X, y = data.digits("train")
    # The page's own call (section 11) gives the same four arrays.
    page = train_test_split(X, y, test_size=300, stratify=y, random_state=0)
    for ours, theirs in zip((X_fit, X_val, y_fit, y_val), page):
        assert np.array_equal(ours, theirs)
    # Disjoint and complete: together they are the 1,437 training images, each once.
    both = np.concatenate([X_fit, X_val])
    assert np.array_equal(np.sort(both.view([("", both.dtype)] * 64), axis=0),
                          np.sort(X.view([("", X.dtype)] * 64), axis=0))
    assert set(np.bincount(y_val)) <= {29, 30, 31}
    assert not X_val.flags.writeable and not y_fit.flags.writeable


def test_training_subsets_are_balanced_and_nested():
    y_fit = G.validation_split()[1]
    previous = set()
    for n in (10, 37, 50, 200, 500, 1137):
        idx = G.training_subset(n)
        assert len(idx) == len(set(idx.tolist())) == n
        counts = np.bincount(y_fit[idx], minlength=10)
        if n <= 1100:  # the smallest class has 110 images: balance holds up to 10 x 110
            assert counts.max() - counts.min() <= 1, (n, counts)
        assert previous <= set(idx.tolist())
        previous = set(idx.tolist())
    with pytest.raises(ValueError, match="between 10 and 1137"):
        G.training_subset(5)


# --- The training ----------------------------------------------------------------------------


def test_penalty_gradient_is_lambda_times_the_weights_and_spares_the_biases():
    torch.manual_seed(0)
    model = G.build_mlp()
    X, y = torch.randn(7, 64), torch.randint(0, 10, (7,))
    lam = 0.03
    total, ce, _ = G.penalised_loss(model, X, y, lam)
    with_penalty = torch.autograd.grad(total, list(model.parameters()), retain_graph=True)
    without = torch.autograd.grad(ce, list(model.parameters()))
    for (name, p), g1, g0 in zip(model.named_parameters(), with_penalty, without):
        expected = lam * p.detach() if name.endswith("weight") else torch.zeros_like(p)
        assert torch.allclose(g1 - g0, expected, atol=1e-6), name
    total, ce, _ = G.penalised_loss(model, X, y, 0.0)
    assert torch.equal(total, ce)


def test_curves_are_cached_read_only_and_leave_global_state_alone():
    threads = torch.get_num_threads()
    rng_state = torch.random.get_rng_state()
    first = G.learning_curves.__wrapped__(60, 0.001)       # the function under the cache
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng_state), "training changed the global seed"
    for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
        assert first[key].shape == (G.EPOCHS + 1,) and not first[key].flags.writeable
    assert first["val_loss"][first["best_epoch"]] == first["val_loss"].min()
    # Cached, and deterministic: the cached run has the same numbers as the run above.
    cached = G.learning_curves(60, 0.001)
    assert G.learning_curves(60, 0.001) is cached
    assert np.array_equal(cached["val_loss"], first["val_loss"])


def test_small_training_sets_overfit_and_weight_decay_stops_the_climb():
    plain = curves(50, 0.0)
    assert plain["train_loss"][-1] < 1e-3 and plain["train_accuracy"][-1] == 1.0
    assert plain["best_epoch"] < 30
    assert plain["val_loss"][-1] > 1.3 * plain["val_loss"].min(), "validation loss should climb"
    decayed = curves(50, 0.001)
    assert decayed["best_epoch"] >= G.EPOCHS - 3 and decayed["val_loss"][-1] < plain["val_loss"][-1]
    assert decayed["train_loss"][-1] > 10 * plain["train_loss"][-1]
    too_much = curves(50, 0.1)
    assert too_much["train_loss"][-1] > 0.5 and too_much["train_accuracy"][-1] < 0.95  # underfits


def test_more_data_lowers_the_validation_loss():
    finals = [curves(n, 0.0)["val_loss"][-1] for n in G.TRAIN_SIZES]
    assert all(a > b for a, b in zip(finals, finals[1:])), finals


def test_picture_draws_the_trained_curves():
    fig = G.draw_curves(200, 0.001)
    result = curves(200, 0.001)
    ax_loss, ax_acc = fig.axes
    lines = {line.get_label(): line for line in ax_loss.get_lines()}
    assert np.allclose(lines["validation"].get_ydata(), result["val_loss"])
    assert np.allclose(lines["training"].get_ydata(), np.maximum(result["train_loss"], 1e-4))
    star = [line for label, line in lines.items() if label.startswith("lowest validation loss")][0]
    assert star.get_xdata()[0] == result["best_epoch"]
    acc = {line.get_label(): line for line in ax_acc.get_lines()}
    assert np.allclose(acc["validation"].get_ydata(), 100 * result["val_accuracy"])
    assert "200 training images, weight decay 0.001" in fig.get_suptitle()


# --- Purity and size -------------------------------------------------------------------------


def test_drawing_leaves_no_pyplot_figures_open_and_frames_stay_small():
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    html = G.generalisation_explorer().render()
    assert set(plt.get_fignums()) == before
    assert len(html) < 40_000, f"a frame takes {len(html)} characters"


# --- The numbers the page quotes in its "try this" prompts -----------------------------------


def test_numbers_quoted_by_the_page():
    def f(x):
        return f"{x:.3f}"

    r = curves(50, 0.0)
    assert int(np.argmax(r["train_accuracy"] >= 1.0)) <= 10 and r["train_loss"][-1] < 1e-4
    assert (r["best_epoch"], f(r["val_loss"].min()), f(r["val_loss"][-1])) == (13, "0.458", "0.755")
    assert [f(curves(n, 0.0)["val_loss"][-1]) for n in (100, 200, 500, 1137)] == [
        "0.503", "0.472", "0.389", "0.190"]
    # 200 images, no weight decay: the page's own experiment (sections 12.2 and 12.5)
    r = curves(200, 0.0)
    assert (r["best_epoch"], f(r["val_loss"].min()), f"{r['val_accuracy'][-1]:.1%}") == (17, "0.312", "92.3%")
    for n in G.TRAIN_SIZES:
        r = curves(n, 0.001)
        assert r["best_epoch"] >= G.EPOCHS - 3
        assert 0.008 < r["train_loss"][-1] < 0.03
    r = curves(50, 0.001)
    assert (r["best_epoch"], f(r["val_loss"][-1])) == (G.EPOCHS, "0.435")
    assert f(curves(1137, 0.001)["val_loss"][-1]) == "0.119"
    for n in G.TRAIN_SIZES:
        r = curves(n, 0.1)
        assert 0.9 < r["train_loss"][-1] < 1.3 and 0.9 < r["val_loss"][-1] < 1.3
        assert 0.81 <= round(r["train_accuracy"][-1], 2) <= 0.92
    tl = curves(200, 0.01)["train_loss"]
    low = int(np.argmin(tl))
    assert (f"{tl[low]:.2f}", low, f"{tl[low:].max():.2f}", f"{tl[-1]:.2f}") == ("0.06", 22, "0.15", "0.12")
