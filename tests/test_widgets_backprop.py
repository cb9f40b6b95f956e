"""The widgets of chapter 3 (dlcourse/widgets/backprop.py): every control changes the picture, the
static and live renderings work, and the pictures mean what the chapter says they mean."""
import numpy as np
import pytest

import widget_checks as W
from dlcourse.widgets import MAX_FRAMES
from dlcourse.widgets import backprop as B

RIGHT, LEFT, RIDGE = (B.START_POINTS[k] for k in B.START_POINTS)
EX_A, EX_B, EX_C = (B.EXAMPLES[k] for k in B.EXAMPLES)

# Two values of each control that must give different pictures.
GD_CHANGES = {"lr": (0.05, 0.22), "momentum": (0.0, 0.9), "start": (RIGHT, LEFT)}
BACKPROP_CHANGES = {"example": (EX_A, EX_C), "step": (3, 12)}
RACE_CHANGES = {"lr": (0.03, 0.1), "steps": (50, 100), "ravine": ("aligned", "tilted")}

CASES = [(B.gradient_descent, GD_CHANGES), (B.backprop_steps, BACKPROP_CHANGES),
         (B.optimiser_race, RACE_CHANGES)]
IDS = ["gradient_descent", "backprop_steps", "optimiser_race"]


@pytest.mark.parametrize("make, changes", CASES, ids=IDS)
def test_controls_are_the_documented_ones(make, changes):
    W.check_controls(make(), changes)


@pytest.mark.parametrize("make, changes", CASES, ids=IDS)
def test_each_control_changes_the_picture(make, changes):
    W.check_each_control_changes_the_picture(make(), changes)


def gd_frame_matches(frame, params):
    result = B.descend(params["lr"], params["momentum"], params["start"])
    return B.descent_title(params["lr"], params["momentum"], result) in frame


def backprop_frame_matches(frame, params):
    label = {v: k for k, v in B.EXAMPLES.items()}[params["example"]]
    info = B.trace_backprop(params["example"])[params["step"]]
    return frame.startswith("<pre>" + B.backprop_title(label, params["step"], info))


def race_frame_matches(frame, params):
    result = B.race(params["lr"], params["steps"], params["ravine"])
    return B.race_title(params["lr"], params["steps"], params["ravine"], result) in frame


@pytest.mark.parametrize("make, matches, frames", [
    (B.gradient_descent, gd_frame_matches, 5 * 3 * 3),
    (B.backprop_steps, backprop_frame_matches, 16 * 3),
    (B.optimiser_race, race_frame_matches, 5 * 4 * 2),
], ids=IDS)
def test_static_rendering_has_one_frame_per_grid_point(make, matches, frames, cheap_frames):
    data = W.check_static_rendering(make(), matches)
    assert len(data["frames"]) == frames <= MAX_FRAMES


@pytest.mark.parametrize("make, changes", CASES, ids=IDS)
def test_live_rendering_reacts_to_each_control(make, changes):
    W.check_live_reacts(make(), changes)


# --- Gradient descent on the two-valley surface ----------------------------------------------


def test_surface_and_its_gradient_agree():
    rng = np.random.default_rng(0)
    h = 1e-6
    for x, y in rng.uniform(-2.5, 2.5, size=(20, 2)):
        numeric = [(B.surface_loss(x + h, y) - B.surface_loss(x - h, y)) / (2 * h),
                   (B.surface_loss(x, y + h) - B.surface_loss(x, y - h)) / (2 * h)]
        assert np.allclose(B.surface_gradient(x, y), numeric, rtol=1e-6, atol=1e-6)


def test_surface_has_the_valleys_the_page_describes():
    assert B.surface_loss(*B.GLOBAL_MINIMUM) == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(B.surface_gradient(*B.GLOBAL_MINIMUM), 0, atol=1e-12)
    assert np.allclose(B.surface_gradient(*B.LOCAL_MINIMUM), 0, atol=1e-12)
    assert B.surface_loss(*B.LOCAL_MINIMUM) == pytest.approx(0.30, abs=0.005)
    assert B.surface_loss(*B.RIDGE) == pytest.approx(0.42, abs=0.005)
    xs = np.linspace(-2.5, 2.5, 2001)
    assert B.surface_loss(xs, 0 * xs).min() >= 0
    assert B.GLOBAL_MINIMUM[0] < B.RIDGE[0] < B.LOCAL_MINIMUM[0]


def test_descent_follows_the_momentum_convention():
    """v <- momentum * v + g, p <- p - lr * v, as the page states (and torch.optim.SGD does)."""
    import torch

    result = B.descend(0.05, 0.9, RIGHT, steps=30)
    p = torch.tensor(RIGHT, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.05, momentum=0.9)
    expected = [p.detach().numpy().copy()]
    for _ in range(30):
        x, y = p[0], p[1]
        loss = 0.25 * (x ** 2 - 1) ** 2 + B.SURFACE_TILT * x + 5 * y ** 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        expected.append(p.detach().numpy().copy())
    assert np.allclose(result["path"], np.array(expected), atol=1e-12)


def test_too_large_a_learning_rate_diverges_and_a_small_one_converges():
    # Across the valleys the curvature is 10, so plain gradient descent needs lr < 2/10.
    for start in B.START_POINTS.values():
        big = B.descend(0.22, 0.0, start)
        assert big["diverged"] and big["steps"] < B.GD_STEPS and big["losses"][-1] > B.DIVERGED_LOSS
        small = B.descend(0.05, 0.0, start, steps=400)
        assert not small["diverged"]
        assert np.linalg.norm(B.surface_gradient(*small["path"][-1])) < 1e-6, "should settle in a minimum"
        assert np.all(np.diff(small["losses"]) <= 1e-12), "a small step never raises this loss"


def test_learning_rate_between_one_and_two_over_the_curvature_zigzags():
    path = B.descend(0.18, 0.0, LEFT)["path"]
    y = path[:12, 1]
    assert np.all(np.sign(y[1:]) == -np.sign(y[:-1])), "y should change sign at every step"
    assert np.all(np.abs(y[1:]) < np.abs(y[:-1])), "and shrink"
    assert B.descend(0.18, 0.0, LEFT)["losses"][-1] < 1e-6


def test_momentum_raises_the_stable_learning_rate():
    # The heavy ball is stable on curvature 10 up to lr = 2 (1 + momentum) / 10.
    assert B.descend(0.22, 0.0, RIGHT)["diverged"]
    assert not B.descend(0.22, 0.5, RIGHT)["diverged"]


def test_the_start_decides_the_valley_for_plain_gradient_descent():
    right = B.descend(0.05, 0.0, RIGHT, steps=400)["path"][-1]
    left = B.descend(0.05, 0.0, LEFT, steps=400)["path"][-1]
    assert np.allclose(right, B.LOCAL_MINIMUM, atol=1e-4)
    assert np.allclose(left, B.GLOBAL_MINIMUM, atol=1e-4)


def test_momentum_can_carry_the_ball_over_the_ridge():
    """The page's "try this": from the right slope, lr 0.01, plain descent stays right of the
    ridge; with momentum 0.9 the run crosses into the deeper valley."""
    plain = B.descend(0.01, 0.0, RIGHT)
    heavy = B.descend(0.01, 0.9, RIGHT)
    assert np.all(plain["path"][:, 0] > B.RIDGE[0])
    assert heavy["path"][-1, 0] < B.RIDGE[0] and heavy["losses"][-1] < plain["losses"][-1]


def test_descent_picture_says_what_happened():
    fig = B.draw_descent(0.22, 0.0, RIGHT)
    assert "diverged" in fig.get_suptitle()
    fig = B.draw_descent(0.1, 0.0, LEFT)
    title = fig.get_suptitle()
    assert f"{B.GD_STEPS} steps, final loss" in title and "(-1.07, 0.00)" in title


# --- Backpropagation step by step ------------------------------------------------------------


def torch_neuron(example):
    import torch

    x1, x2, y = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in example)
    w1, w2, b = (torch.tensor(B.NEURON_WEIGHTS[k], dtype=torch.float64, requires_grad=True)
                 for k in ("w1", "w2", "b"))
    p = torch.sigmoid(w1 * x1 + w2 * x2 + b)
    loss = (p - y) ** 2
    loss.backward()
    grads = {"x1": x1.grad, "x2": x2.grad, "y": y.grad, "w1": w1.grad, "w2": w2.grad, "b": b.grad}
    return loss.item(), p.item(), {k: v.item() for k, v in grads.items()}


@pytest.mark.parametrize("label", list(B.EXAMPLES))
def test_backprop_gradients_equal_torch_autograd(label):
    example = B.EXAMPLES[label]
    values, grads = B.neuron_forward_backward(example)
    loss, p, torch_grads = torch_neuron(example)
    assert values["L"] == pytest.approx(loss, rel=1e-12)
    assert values["p"] == pytest.approx(p, rel=1e-12)
    for name, g in torch_grads.items():
        assert grads[name] == pytest.approx(g, rel=1e-12, abs=1e-15), name


def test_backprop_steps_go_forward_then_backward_node_by_node():
    steps = B.trace_backprop(EX_A)
    assert len(steps) == B.BACKPROP_STEPS == 16
    ops = [name for name, _, _ in B.GRAPH]
    assert [s["node"] for s in steps[1:8]] == ops
    assert steps[8]["phase"] == "seed" and steps[8]["grads"] == {"L": 1.0}
    assert [s["node"] for s in steps[9:]] == ops[::-1]
    for k, s in enumerate(steps):
        known = set(s["values"])
        assert known == set(B.LEAVES) | set(ops[: min(k, 7)]), f"step {k} knows {known}"
    # A node passes its gradient on only once it is complete: never touched again afterwards.
    for k in range(9, 16):
        done = steps[k]["node"]
        for later in steps[k + 1:]:
            assert later["grads"][done] == steps[k]["grads"][done]
    assert set(steps[-1]["grads"]) == set(B.LEAVES) | set(ops)


def test_node_used_twice_gets_both_contributions():
    """L = e * e: dL/de is 2e, not e (what overwriting instead of adding would give)."""
    values, grads = B.neuron_forward_backward(EX_A)
    assert grads["e"] == pytest.approx(2 * values["e"])
    assert "twice" in B.trace_backprop(EX_A)[9]["text"]


def test_saturated_example_is_wrong_but_gets_a_small_gradient():
    """The page's "try this": example C is badly wrong but its sigmoid is saturated."""
    va, ga = B.neuron_forward_backward(EX_A)
    vc, gc = B.neuron_forward_backward(EX_C)
    assert vc["L"] > 5 * va["L"]
    assert abs(gc["z"]) < abs(ga["z"]) and abs(gc["z"]) < 0.05


def test_backprop_picture_writes_every_known_value_and_gradient():
    step = 12
    fig = B.draw_backprop(EX_B, step)
    texts = [t.get_text() for t in fig.axes[0].texts]
    info = B.trace_backprop(EX_B)[step]
    for name, v in info["values"].items():
        assert "value " + B._n(v) in texts, name
    for name, g in info["grads"].items():
        assert "grad " + B._n(g) in texts, name
    assert texts.count("grad ?") == len(B.NODE_XY) - len(info["grads"])
    assert "backward pass" in fig.get_suptitle()


def test_cached_backprop_trace_cannot_be_changed_by_a_caller():
    steps = B.trace_backprop(EX_A)
    with pytest.raises(TypeError):
        steps[-1]["grads"]["w1"] = 0.0
    values, grads = B.neuron_forward_backward(EX_A)
    grads["w1"] = 123.0  # a copy: the cache keeps the true gradient
    assert B.neuron_forward_backward(EX_A)[1]["w1"] != 123.0


# --- The optimiser race ----------------------------------------------------------------------


def test_race_starts_at_the_same_loss_on_both_ravines():
    for ravine in B.RAVINES:
        assert B.ravine_loss(B.race_start(ravine), ravine) == pytest.approx(5.8)
        assert np.allclose(np.linalg.eigvalsh(B.ravine_hessian(ravine)), B.RAVINE_CURVATURES)


def test_momentum_and_adam_beat_sgd_at_the_stated_settings():
    """The page: learning rate 0.1, 100 steps, aligned ravine."""
    result = B.race(0.1, 100, "aligned")
    sgd = result["SGD"]["losses"][-1]
    assert sgd > 0.05
    assert result["momentum"]["losses"][-1] < sgd / 100
    assert result["Adam"]["losses"][-1] < sgd / 100


def test_sgd_diverges_just_above_two_over_the_steep_curvature():
    for ravine in B.RAVINES:
        assert not B.race(0.19, 100, ravine)["SGD"]["diverged"]
        fast = B.race(0.21, 200, ravine)
        assert fast["SGD"]["diverged"]
        assert not fast["momentum"]["diverged"] and not fast["Adam"]["diverged"]


def test_tilting_changes_adam_but_not_sgd_or_momentum():
    """SGD and momentum do not care how the ravine is turned; Adam's per-coordinate scaling does."""
    aligned, tilted = B.race(0.1, 100, "aligned"), B.race(0.1, 100, "tilted")
    for name in ("SGD", "momentum"):
        assert np.allclose(aligned[name]["losses"], tilted[name]["losses"], rtol=1e-9, atol=1e-15)
    assert tilted["Adam"]["losses"][-1] > 100 * aligned["Adam"]["losses"][-1]


def test_race_follows_the_formulas_on_the_page():
    """Momentum: v <- 0.9 v + g, p <- p - lr v. Adam: m, v with bias correction, Kingma & Ba's
    Algorithm 1 with betas (0.9, 0.999) and eps 1e-8."""
    lr, steps = 0.03, 50
    H, p0 = B.ravine_hessian("tilted"), B.race_start("tilted")
    result = B.race(lr, steps, "tilted")
    p, v = p0.copy(), np.zeros(2)
    for _ in range(steps):
        v = 0.9 * v + H @ p
        p = p - lr * v
    assert np.allclose(result["momentum"]["path"][-1], p, atol=1e-12)
    p, m, s = p0.copy(), np.zeros(2), np.zeros(2)
    for t in range(1, steps + 1):
        g = H @ p
        m = 0.9 * m + 0.1 * g
        s = 0.999 * s + 0.001 * g ** 2
        p = p - lr * (m / (1 - 0.9 ** t)) / (np.sqrt(s / (1 - 0.999 ** t)) + 1e-8)
    assert np.allclose(result["Adam"]["path"][-1], p, atol=1e-10)
    p = p0.copy()
    for _ in range(steps):
        p = p - lr * H @ p
    assert np.allclose(result["SGD"]["path"][-1], p, atol=1e-12)


def test_race_is_cached_read_only_and_leaves_torch_threads_alone():
    import torch

    threads = torch.get_num_threads()
    B.race.cache_clear()
    first = B.race(0.03, 25, "aligned")
    assert torch.get_num_threads() == threads
    assert B.race(0.03, 25, "aligned") is first
    assert not first["Adam"]["path"].flags.writeable


# --- Purity and size -------------------------------------------------------------------------


def test_drawing_leaves_no_pyplot_figures_open():
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    for make in (B.gradient_descent, B.backprop_steps, B.optimiser_race):
        make().render()
    assert set(plt.get_fignums()) == before


def test_frames_stay_small():
    for make in (B.gradient_descent, B.backprop_steps, B.optimiser_race):
        html = make().render()
        assert len(html) < 40_000, f"a frame of {make.__name__} takes {len(html)} characters"



# --- The numbers the page quotes in its "try this" prompts -----------------------------------


def test_numbers_quoted_by_the_page():
    """Every widget number the chapter's prose states, as the widget writes it (3 decimals)."""
    va, ga = B.neuron_forward_backward(EX_A)
    assert (B._n(va["e"]), B._n(ga["e"])) == ("−0.310", "−0.620")        # step 9: 2e, not e
    assert "−0.310 + −0.310 = −0.620" in B.trace_backprop(EX_A)[9]["text"]
    vc, gc = B.neuron_forward_backward(EX_C)
    assert (B._n(vc["p"]), B._n(vc["L"]), B._n(gc["z"]), B._n(vc["p"] - 1)) == (
        "0.022", "0.957", "−0.042", "−0.978")
    assert f"{B.descend(0.01, 0.0, RIGHT)['losses'][-1]:.3f}" == "0.329"
    assert f"{float(B.surface_loss(*B.LOCAL_MINIMUM)):.3f}" == "0.299"
    assert {B.descend(0.22, 0.0, s)["steps"] for s in B.START_POINTS.values()} <= {33, 34}
    assert not B.descend(0.05, 0.5, LEFT)["path"][-1, 0] > B.RIDGE[0]
    assert B.descend(0.05, 0.9, LEFT)["path"][-1, 0] > B.RIDGE[0]       # thrown out of the deep valley
    finals = {name: f"{r['losses'][-1]:.2g}" for name, r in B.race(0.1, 100, "aligned").items()}
    assert finals == {"SGD": "0.11", "momentum": "1.5e-05", "Adam": "6.6e-05"}
    assert f"{B.race(0.1, 100, 'tilted')['Adam']['losses'][-1]:.2g}" == "0.22"
    slow = B.race(0.01, 100, "aligned")
    assert all(slow["Adam"]["losses"][t] > max(slow["SGD"]["losses"][t], slow["momentum"]["losses"][t])
               for t in range(1, 101))
