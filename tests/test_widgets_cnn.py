"""The widgets of chapter 4 (dlcourse/widgets/cnn.py): every control changes the picture, the
static and live renderings work, and the pictures mean what the chapter says they mean: the
explorer's feature map is torch's conv2d, the output size is the size torch produces, the
highlighted pixels are exactly the receptive field, and the accuracy stated is the one measured."""
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import widget_checks as W
from dlcourse import data
from dlcourse.widgets import MAX_FRAMES, one_torch_thread
from dlcourse.widgets import cnn as C

# Two values of each control that must give different pictures. The explorer's weight sliders
# come first: they act on the default kernel ("custom"), and check_live_reacts leaves each
# control at its second value before moving on to the next. The generic checks render PNGs, so
# they take one of the nine sliders (W[0,2]) to check its way through the Widget and the live
# panel; every one of the nine is checked on the drawing itself, which is far cheaper, in
# test_explorer_custom_kernel_uses_the_nine_sliders.
EXPLORER_CONTROLS = (*C.WEIGHT_NAMES, "digit", "preset")
EXPLORER_CHANGES = {"w02": (0.0, 1.5), "digit": (4, 7), "preset": (C.CUSTOM, "Sobel x")}
OUTPUT_CHANGES = {"k": (3, 5), "s": (1, 2), "p": (1, 2), "d": (1, 2),
                  "pixel": ("centre", "bottom-right")}
MAPS_CHANGES = {"digit": (3, 8), "stage": (C.STAGE_NAMES[0], C.STAGE_NAMES[3])}

CASES = [(C.convolution_explorer, EXPLORER_CHANGES), (C.output_size_explorer, OUTPUT_CHANGES),
         (C.cnn_feature_maps, MAPS_CHANGES)]
IDS = ["convolution_explorer", "output_size_explorer", "cnn_feature_maps"]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """torch on one thread in these tests, as in the widgets: on a busy 2-core machine its
    threads wait for each other, and thousands of tiny conv2d calls crawl."""
    with one_torch_thread():
        yield


def torch_feature_map(image, kernel, padding=C.EXPLORER_PADDING):
    """What the chapter says the explorer shows: F.conv2d of the digit with the kernel."""
    x = torch.tensor(np.asarray(image, dtype=np.float64))[None, None]
    k = torch.tensor(np.asarray(kernel, dtype=np.float64))[None, None]
    return F.conv2d(x, k, padding=padding)[0, 0].numpy()


def axes_by_gid(fig):
    return {ax.get_gid(): ax for ax in fig.axes if ax.get_gid()}


def images_by_gid(fig):
    return {im.get_gid(): im for ax in fig.axes for im in ax.images if im.get_gid()}


def output_grid(fig):
    """The output grid of the output-size widget: one cell per output pixel, 1 where the chosen
    pixel is, 0 elsewhere; None when no grid is drawn."""
    image = images_by_gid(fig).get("output grid")
    return None if image is None else np.asarray(image.get_array())


# --- Generic checks --------------------------------------------------------------------------


def test_explorer_controls_are_the_documented_ones():
    """check_controls, except that a weight slider has one precomputed value: the static book
    precomputes the presets and digits, and the nine free weights are live only."""
    widget = C.convolution_explorer()
    assert set(widget.controls) == set(EXPLORER_CONTROLS) >= set(EXPLORER_CHANGES)
    for name in ("preset", "digit"):
        a, b = EXPLORER_CHANGES[name]
        assert a in widget.controls[name].static_values and b in widget.controls[name].static_values
    for name in C.WEIGHT_NAMES:
        slider = widget.controls[name]
        assert slider.static_values == [slider.value], f"{name} must precompute its default only"
    assert widget.controls["preset"].value == C.CUSTOM, "the sliders must act on the default kernel"
    frames = len(C.PRESET_NAMES) * len(C.EXPLORER_DIGITS)
    assert frames == len(list(widget.grid())) <= MAX_FRAMES


@pytest.mark.parametrize("make, changes", CASES[1:], ids=IDS[1:])
def test_controls_are_the_documented_ones(make, changes):
    W.check_controls(make(), changes)


@pytest.mark.parametrize("make, changes", CASES, ids=IDS)
def test_each_control_changes_the_picture(make, changes):
    W.check_each_control_changes_the_picture(make(), changes)


@pytest.mark.parametrize("make, changes", CASES, ids=IDS)
def test_live_rendering_reacts_to_each_control(make, changes):
    W.check_live_reacts(make(), changes)


def explorer_frame_matches(frame, params):
    kernel = C.kernel_of(params["preset"], [params[n] for n in C.WEIGHT_NAMES])
    fmap = torch_feature_map(data.digits("test", flat=False)[0][C.sample_index(params["digit"])], kernel)
    return (f"{params['preset']} on a {params['digit']}: feature map from {fmap.min():.2f} to "
            f"{fmap.max():.2f}") in frame


def output_frame_matches(frame, params):
    k, s, p, d = params["k"], params["s"], params["p"], params["d"]
    out = torch_output_size(8, k, s, p, d)
    head = f"kernel {k}, stride {s}, padding {p}, dilation {d}: "
    if out is None:
        return head + "no output" in frame
    i, j = {"top-left": (0, 0), "centre": ((out - 1) // 2,) * 2, "bottom-right": (out - 1,) * 2}[params["pixel"]]
    return head + f"output {out}×{out}" in frame and f"pixel ({i}, {j}) in orange" in frame


def maps_frame_matches(frame, params):
    return frame.startswith(f"<pre>test digit {params['digit']}, {params['stage']}:")


def test_static_explorer_has_one_frame_per_grid_point(cheap_frames):
    data_ = W.check_static_rendering(C.convolution_explorer(), explorer_frame_matches)
    assert len(data_["frames"]) == len(C.PRESET_NAMES) * len(C.EXPLORER_DIGITS) == 45


def test_static_output_size_has_one_frame_per_grid_point(cheap_frames):
    data_ = W.check_static_rendering(C.output_size_explorer(), output_frame_matches)
    assert len(data_["frames"]) == 3 * 2 * 3 * 2 * 3 == 108


def test_static_feature_maps_have_one_frame_per_grid_point(cheap_frames):
    data_ = W.check_static_rendering(C.cnn_feature_maps(), maps_frame_matches)
    assert len(data_["frames"]) == 10 * len(C.STAGE_NAMES) == 50


# --- 1. The convolution explorer -------------------------------------------------------------


def test_presets_are_the_textbook_kernels():
    assert np.array_equal(C.kernel_of("Sobel x"), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    assert np.array_equal(C.kernel_of("Sobel y"), C.kernel_of("Sobel x").T)
    assert np.array_equal(C.kernel_of("horizontal edge"), C.kernel_of("vertical edge").T)
    assert C.kernel_of("box blur").sum() == pytest.approx(1.0)
    assert C.kernel_of("outline (Laplacian)").sum() == 0
    assert np.array_equal(C.kernel_of(C.CUSTOM), C.CUSTOM_DEFAULT)
    with pytest.raises(ValueError):
        C.kernel_of("emboss")


@pytest.mark.parametrize("index, preset", enumerate(C.PRESET_NAMES))
def test_explorer_feature_map_is_torch_conv2d(index, preset):
    """The map drawn is F.conv2d (cross-correlation, no flip) of the digit drawn with the kernel
    drawn, for every preset, each on one of the digits in turn (so every digit is drawn too);
    Sobel and the diagonal kernel catch a flipped kernel."""
    for digit in [C.EXPLORER_DIGITS[index % len(C.EXPLORER_DIGITS)]]:
        fig = C.draw_explorer(preset, digit)
        ax_in, ax_k = fig.axes[0], fig.axes[1]
        image, kernel = ax_in.images[0].get_array(), ax_k.images[0].get_array()
        X, y = data.digits("test", flat=False)
        assert y[C.sample_index(digit)] == digit
        assert np.array_equal(image, X[C.sample_index(digit)]), "the input is not the chosen digit"
        assert np.array_equal(kernel, C.kernel_of(preset))
        shown = axes_by_gid(fig)["feature map"].images[0].get_array()
        expected = torch_feature_map(image, kernel)
        assert shown.shape == (8, 8)
        assert np.allclose(shown, expected, atol=1e-12), f"{preset} on {digit}: not F.conv2d"


def test_explorer_custom_kernel_uses_the_nine_sliders():
    rng = np.random.default_rng(0)
    weights = rng.uniform(-2, 2, size=9).round(1)
    fig = C.draw_explorer(C.CUSTOM, 7, **dict(zip(C.WEIGHT_NAMES, weights)))
    assert np.array_equal(fig.axes[1].images[0].get_array(), weights.reshape(3, 3))
    shown = axes_by_gid(fig)["feature map"].images[0].get_array()
    assert np.allclose(shown, torch_feature_map(C.sample_digit(7), weights.reshape(3, 3)))
    for a, name in enumerate(C.WEIGHT_NAMES):  # each slider moves its own weight, and only it
        row, col = divmod(a, 3)
        kernel = C.draw_explorer(C.CUSTOM, 7, **{name: 1.7}).axes[1].images[0].get_array()
        expected = np.array(C.CUSTOM_DEFAULT)
        expected[row, col] = 1.7
        assert np.array_equal(kernel, expected), f"slider {name} should set W[{row},{col}]"
    # the sliders act on "custom" only
    preset = C.draw_explorer("Sobel y", 7, **dict(zip(C.WEIGHT_NAMES, weights)))
    assert np.array_equal(preset.axes[1].images[0].get_array(), C.kernel_of("Sobel y"))


def test_a_flipped_kernel_would_be_caught(monkeypatch):
    """The check above has teeth: a true convolution (kernel flipped) in place of the
    cross-correlation gives a different map, which the comparison with F.conv2d rejects."""
    from scipy.signal import convolve2d

    monkeypatch.setattr(C, "cross_correlate",
                        lambda image, kernel, padding=0: convolve2d(np.pad(image, padding), kernel, "valid"))
    fig = C.draw_explorer("Sobel x", 4)
    shown = axes_by_gid(fig)["feature map"].images[0].get_array()
    assert not np.allclose(shown, torch_feature_map(C.sample_digit(4), C.kernel_of("Sobel x")))


def test_cross_correlate_matches_torch_with_padding():
    rng = np.random.default_rng(1)
    for n, k, p in [(8, 3, 0), (8, 3, 1), (7, 2, 2), (5, 5, 0)]:
        image, kernel = rng.standard_normal((n, n)), rng.standard_normal((k, k))
        assert np.allclose(C.cross_correlate(image, kernel, p), torch_feature_map(image, kernel, p))


# --- 2. Output size and receptive field ------------------------------------------------------


SETTINGS = [(k, s, p, d) for k in C.KERNEL_SIZES for s in C.STRIDES for p in C.PADDINGS
            for d in C.DILATIONS]


def torch_output_size(n, k, s, p, d):
    """The side of F.conv2d's output, or None where torch refuses (the kernel does not fit)."""
    try:
        out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p,
                       dilation=d)
    except RuntimeError:
        return None
    assert out.shape[-1] == out.shape[-2]
    return out.shape[-1]


def test_output_size_formula_is_torchs():
    checked = 0
    for n in range(3, 13):
        for k in range(1, 7):
            for s in (1, 2, 3):
                for p in (0, 1, 2, 3):
                    for d in (1, 2, 3):
                        expected = torch_output_size(n, k, s, p, d)
                        got = C.output_size(n, k, s, p, d)
                        if expected is None:
                            assert got <= 0, (n, k, s, p, d, got)
                        else:
                            assert got == expected, (n, k, s, p, d, got, expected)
                        checked += 1
    assert checked == 10 * 6 * 3 * 4 * 3


def receptive_field_by_gradient(n, k, s, p, d, i, j):
    """The input positions (unpadded coordinates) whose value reaches output (i, j): where the
    gradient of that output with respect to the padded input is non-zero."""
    padded = torch.zeros(1, 1, n + 2 * p, n + 2 * p, dtype=torch.float64, requires_grad=True)
    out = F.conv2d(padded, torch.ones(1, 1, k, k, dtype=torch.float64), stride=s, dilation=d)
    out[0, 0, i, j].backward()
    rows, cols = torch.nonzero(padded.grad[0, 0], as_tuple=True)
    return {(int(r) - p, int(c) - p) for r, c in zip(rows, cols)}


def test_receptive_pixels_are_exactly_the_receptive_field():
    """For every setting of the widget and every output pixel it offers, the pure function
    (what the drawing highlights) against the gradient of that output pixel."""
    checked = 0
    for k, s, p, d in SETTINGS:
        out = torch_output_size(8, k, s, p, d)
        if out is None:
            continue
        for pixel in C.OUTPUT_PIXELS:
            i, j = {"top-left": (0, 0), "centre": ((out - 1) // 2,) * 2,
                    "bottom-right": (out - 1, out - 1)}[pixel]
            assert C.chosen_output_pixel(out, pixel) == (i, j)
            taps = C.receptive_pixels(i, j, k, s, p, d)
            assert len(taps) == len(set(taps)) == k * k
            assert set(taps) == receptive_field_by_gradient(8, k, s, p, d, i, j), (k, s, p, d, pixel)
            checked += 1
    assert checked == (len(SETTINGS) - 2) * 3  # kernel 5, dilation 2, no padding: no output (either stride)


@pytest.mark.parametrize("pixel", C.OUTPUT_PIXELS)
def test_output_size_picture_shows_torchs_size_and_the_receptive_field(pixel):
    """Each setting of the widget drawn once (each with one of the output pixels, in turn): the
    size in the title and the formula evaluated there are torch's, the output grid has that many
    cells with the chosen one marked, and the orange input cells are exactly the pixels whose
    gradient reaches the chosen output pixel."""
    for k, s, p, d in SETTINGS[C.OUTPUT_PIXELS.index(pixel)::len(C.OUTPUT_PIXELS)]:
        expected = torch_output_size(8, k, s, p, d)
        fig = C.draw_output_size(k, s, p, d, pixel)
        title, grid = fig.get_suptitle(), output_grid(fig)
        top = 8 + 2 * p - d * (k - 1) - 1
        assert title.endswith(f"⌊{top}/{s}⌋ + 1 = {C.output_size(8, k, s, p, d)}")
        if expected is None:
            assert "no output" in title and grid is None
            assert C.output_size(8, k, s, p, d) <= 0
            continue
        assert title.endswith(f"= {expected}") and f"output {expected}×{expected}" in title
        assert grid.shape == (expected, expected)
        i, j = C.chosen_output_pixel(expected, pixel)
        assert [tuple(v) for v in np.argwhere(grid != 0)] == [(i, j)], \
            f"{pixel}: output pixel ({i}, {j}) should be the one marked"
        assert f"output ({i}, {j})" in fig.axes[0].get_title()
        taps = {tuple(int(v) for v in a.get_gid().split()[1:])
                for a in fig.axes[0].patches if str(a.get_gid()).startswith("tap ")}
        assert taps == receptive_field_by_gradient(8, k, s, p, d, i, j), (k, s, p, d, pixel)


def test_chosen_output_pixel_is_drawn_in_orange():
    from matplotlib.colors import to_rgba

    fig = C.draw_output_size(3, 2, 1, 1, "bottom-right")
    image = images_by_gid(fig)["output grid"]
    assert image.cmap(image.norm(1.0)) == to_rgba(C.ORANGE)
    assert image.cmap(image.norm(0.0)) != to_rgba(C.ORANGE)


def test_a_wrong_receptive_field_would_be_caught():
    """Forgetting the dilation (or the padding offset) gives other pixels than the gradient."""
    right = set(C.receptive_pixels(1, 1, 3, s=2, p=1, d=2))
    assert right == receptive_field_by_gradient(8, 3, 2, 1, 2, 1, 1)
    assert set(C.receptive_pixels(1, 1, 3, s=2, p=1, d=1)) != right
    assert set(C.receptive_pixels(1, 1, 3, s=2, p=0, d=2)) != right


# --- 3. The trained CNN ----------------------------------------------------------------------


def test_trained_cnn_reaches_the_chapter_target_and_states_what_it_measures():
    result = C.trained_cnn()
    model = result["model"]
    X, y = data.digits("test", flat=False)
    with torch.no_grad():
        predicted = model(torch.tensor(X[:, None], dtype=torch.float32)).argmax(dim=1).numpy()
    measured = float(np.mean(predicted == y))
    assert measured >= 0.98, f"the chapter's CNN should reach 98% on the test digits, got {measured:.1%}"
    assert result["test_accuracy"] == pytest.approx(measured)
    for digit in (0, 9):
        title = C.draw_feature_maps(digit, C.STAGE_NAMES[0]).get_suptitle()
        stated = re.search(r"its test accuracy is (\d+\.\d)%", title).group(1)
        assert stated == f"{100 * measured:.1f}", f"the widget says {stated}%, the network measures {measured:.1%}"


def test_trained_cnn_has_the_architecture_the_chapter_describes():
    model = C.trained_cnn()["model"]
    assert sum(p.numel() for p in model.parameters()) == C.trained_cnn()["parameters"] == 7290
    convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
    assert [tuple(c.weight.shape) for c in convs] == [(8, 1, 3, 3), (16, 8, 3, 3), (32, 16, 3, 3)]
    assert not model.training, "the cached network must be in eval mode (batch norm: running averages)"


def test_feature_maps_shown_are_the_networks_activations():
    model = C.trained_cnn()["model"]
    shapes = {C.STAGE_NAMES[0]: (8, 8, 8), C.STAGE_NAMES[1]: (16, 8, 8), C.STAGE_NAMES[2]: (16, 4, 4),
              C.STAGE_NAMES[3]: (32, 4, 4), C.STAGE_NAMES[4]: (32, 2, 2)}
    digit = 5
    x = torch.tensor(C.sample_digit(digit)[None, None], dtype=torch.float32)
    with torch.no_grad():
        probabilities = torch.softmax(model(x)[0], dim=0).numpy()
    for stage, index in C.STAGES.items():
        with torch.no_grad():
            expected = model[:index + 1](x)[0].numpy()
        assert expected.shape == shapes[stage]
        fig = C.draw_feature_maps(digit, stage)
        maps = images_by_gid(fig)
        assert len([g for g in maps if g.startswith("map ")]) == expected.shape[0]
        for c in range(expected.shape[0]):
            assert np.allclose(maps[f"map {c}"].get_array(), expected[c], atol=1e-6), (stage, c)
        corners = {tuple(maps[f"map {c}"].get_extent()[::3]) for c in range(expected.shape[0])}
        assert len(corners) == expected.shape[0], f"{stage}: two maps are drawn on the same spot"
        bars = fig.axes[-1].patches
        assert np.allclose([b.get_x() + b.get_width() for b in bars],
                           np.maximum(probabilities, C.PROBABILITY_FLOOR), rtol=1e-5)
        guess = int(np.argmax(probabilities))
        assert f"the network says {guess} (probability {probabilities[guess]:.2f})" in fig.get_suptitle()


def test_training_is_deterministic_and_leaves_global_random_state_alone():
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    torch.set_num_threads(2)  # the caller's setting (the fixture restores its own afterwards)
    threads = torch.get_num_threads()
    first = C.trained_cnn()
    C.trained_cnn.cache_clear()
    second = C.trained_cnn()
    for a, b in zip(first["model"].state_dict().values(), second["model"].state_dict().values()):
        assert torch.equal(a, b)
    assert first["test_accuracy"] == second["test_accuracy"] and first["losses"] == second["losses"]
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert torch.get_num_threads() == threads
    assert C.trained_cnn() is second, "repeated calls should come from the cache"


# --- Purity and size -------------------------------------------------------------------------


def test_default_frames_are_small_and_leave_no_pyplot_figures_open():
    """One picture of each widget stays small, so the static book page stays light, and drawing
    it registers no pyplot figure (which would pile up, and pop up in a notebook)."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    for make, _ in CASES:
        html = make().render()
        assert len(html) < 30_000, f"a frame takes {len(html)} characters"
    assert set(plt.get_fignums()) == before
