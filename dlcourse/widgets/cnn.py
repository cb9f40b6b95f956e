"""Widgets of chapter 4 (04-cnn): convolution as a small filter sliding over an image.

- ``convolution_explorer()``: a digit, a 3x3 kernel (a preset, or nine weights of your own) and
  the feature map they give: the digit cross-correlated with the kernel, with zero padding 1, as
  ``torch.nn.functional.conv2d`` computes it.
- ``output_size_explorer()``: kernel size, stride, padding and dilation on an 8x8 input; the
  picture shows the padded input with the pixels that feed one chosen output pixel, the output
  grid, and the output-size formula evaluated in the title.
- ``cnn_feature_maps()``: a small CNN trained on the digits (``trained_cnn()``), and what each of
  its layers makes of a chosen test digit: every channel's feature map and the ten class
  probabilities, with the network's measured test accuracy in the title.

Each widget is a pure drawing function (``draw_explorer``, ``draw_output_size``,
``draw_feature_maps``: its controls in, a matplotlib Figure out) wrapped in a ``Widget``. No
display at import; the only state is the caches of the digits and of the trained network, which
hold the results of deterministic computations (same controls, same numbers).
"""
import functools

import numpy as np

from dlcourse.widgets import Choice, Slider, Widget, new_figure, one_torch_thread

ORANGE, BLUE, GREY = "#e66101", "#2166ac", "#999999"


def _grid_lines(ax, first, last, colour, lw):
    """Lines around the unit cells whose centres run from ``first`` to ``last`` on both axes:
    two line collections, much cheaper to draw than one patch per cell."""
    edges = np.arange(first, last + 2) - 0.5
    ax.hlines(edges, first - 0.5, last + 0.5, colors=colour, lw=lw, zorder=0.3)
    ax.vlines(edges, first - 0.5, last + 0.5, colors=colour, lw=lw, zorder=0.3)


def _integer_ticks(ax, first, last):
    """A tick at every integer from ``first`` to ``last`` on both axes. A locator (rather than
    set_xticks) makes the tick objects only when the figure is drawn."""
    from matplotlib.ticker import FixedLocator

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(FixedLocator(range(first, last + 1)))
    ax.tick_params(labelsize=7, length=0)


# ---------------------------------------------------------------------------------------------
# The digits the widgets show
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _test_digits():
    from dlcourse import data

    X, y = data.digits("test", flat=False)
    X.flags.writeable = y.flags.writeable = False
    return X, y


def sample_index(label):
    """Index in the test split of the first image of class ``label`` (the one the widgets show)."""
    _, y = _test_digits()
    return int(np.flatnonzero(y == label)[0])


def sample_digit(label):
    """The first test image of class ``label``: an (8, 8) float array with values in [0, 1]."""
    X, _ = _test_digits()
    return X[sample_index(label)]


# ---------------------------------------------------------------------------------------------
# 1. The convolution explorer
# ---------------------------------------------------------------------------------------------

# Kernels as torch's conv2d applies them (cross-correlation: no flip). Row 0 is the top row.
PRESETS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "box blur": [[1 / 9] * 3] * 3,
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "horizontal edge": [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],
    "vertical edge": [[1, 0, -1], [1, 0, -1], [1, 0, -1]],
    "Sobel x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Sobel y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "outline (Laplacian)": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
}
CUSTOM = "custom (the nine sliders)"
PRESET_NAMES = (CUSTOM,) + tuple(PRESETS)
# The sliders' starting kernel: a diagonal edge detector, which no preset offers.
CUSTOM_DEFAULT = ((0.0, 1.0, 2.0), (-1.0, 0.0, 1.0), (-2.0, -1.0, 0.0))
WEIGHT_NAMES = tuple(f"w{a}{b}" for a in range(3) for b in range(3))
EXPLORER_DIGITS = (0, 1, 4, 7, 8)
EXPLORER_PADDING = 1


def kernel_of(preset, weights=None):
    """The 3x3 kernel a preset names; for ``CUSTOM``, the nine ``weights`` (row by row)."""
    if preset == CUSTOM:
        if weights is None:
            weights = np.ravel(CUSTOM_DEFAULT)
        return np.asarray(weights, dtype=float).reshape(3, 3)
    if preset not in PRESETS:
        raise ValueError(f"unknown kernel {preset!r}: use one of {', '.join(PRESET_NAMES)}")
    return np.array(PRESETS[preset], dtype=float)


def cross_correlate(image, kernel, padding=0):
    """``image`` (h, w) cross-correlated with ``kernel`` (k, k) after ``padding`` rings of zeros:
    ``out[i, j] = sum_{a, b} kernel[a, b] * padded[i + a, j + b]`` (numpy, no kernel flip)."""
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
    x = np.pad(image, padding)
    k = kernel.shape[0]
    out = np.zeros((x.shape[0] - k + 1, x.shape[1] - k + 1))
    for a in range(k):
        for b in range(k):
            out += kernel[a, b] * x[a:a + out.shape[0], b:b + out.shape[1]]
    return out


def explorer_title(preset, digit, fmap):
    return (f"{preset} on a {digit}: feature map from {fmap.min():.2f} to {fmap.max():.2f}")


def _show_values(ax, values, fmt, threshold, fontsize):
    for (r, c), v in np.ndenumerate(values):
        ax.text(c, r, fmt(v), ha="center", va="center", fontsize=fontsize,
                color="white" if abs(v) > threshold else "black")


def draw_explorer(preset=CUSTOM, digit=4, **weights):
    """Input digit, kernel and feature map side by side (a matplotlib Figure)."""
    w = [weights.get(name, CUSTOM_DEFAULT[int(name[1])][int(name[2])]) for name in WEIGHT_NAMES]
    kernel = kernel_of(preset, w)
    image = sample_digit(int(digit))
    fmap = cross_correlate(image, kernel, padding=EXPLORER_PADDING)

    fig = new_figure(10.5, 3.7)
    gs = fig.add_gridspec(1, 4, width_ratios=[1, 0.62, 1, 0.05], wspace=0.3,
                          left=0.04, right=0.95, bottom=0.06, top=0.8)
    ax_in, ax_k, ax_out, ax_cb = (fig.add_subplot(gs[i]) for i in range(4))

    ax_in.imshow(image, cmap="gray_r", vmin=0, vmax=1)
    ax_in.set_title(f"input: a {digit} (8×8, ink near 1)", fontsize=10)

    kmax = max(np.abs(kernel).max(), 1e-9)
    ax_k.imshow(kernel, cmap="RdBu_r", vmin=-kmax, vmax=kmax)
    _show_values(ax_k, kernel, lambda v: f"{v:.2g}", 0.6 * kmax, 10)
    ax_k.set_title("kernel W (3×3)", fontsize=10)

    vmax = max(np.abs(fmap).max(), 1e-9)
    im = ax_out.imshow(fmap, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax_out.set_gid("feature map")
    ax_out.set_title("feature map (8×8, zero padding 1)", fontsize=10)
    fig.colorbar(im, cax=ax_cb)
    ax_cb.tick_params(labelsize=8)

    for ax in (ax_in, ax_k, ax_out):
        _integer_ticks(ax, 0, ax.images[0].get_array().shape[0] - 1)
        ax.set_xlabel("column", fontsize=8)
    ax_in.set_ylabel("row", fontsize=8)
    fig.suptitle(explorer_title(preset, digit, fmap), fontsize=11.5)
    return fig


def convolution_explorer():
    """A digit, a 3x3 kernel and the feature map they make."""
    controls = {
        "preset": Choice("kernel", list(PRESET_NAMES), CUSTOM),
        "digit": Choice("digit", list(EXPLORER_DIGITS), 4),
    }
    for name in WEIGHT_NAMES:
        a, b = int(name[1]), int(name[2])
        default = CUSTOM_DEFAULT[a][b]
        # One static value: the static book precomputes the presets, not 9 free weights.
        controls[name] = Slider(f"W[{a},{b}]", -2.0, 2.0, 0.1, default, static=[default])
    return Widget(
        draw_explorer, controls,
        title="Convolution explorer: a 3×3 kernel sliding over a digit",
        caption="Each output pixel is the dot product of the kernel with the 3×3 patch of the "
                "digit around the same position (cross-correlation, as torch's conv2d computes "
                "it: the kernel is not flipped). The digit gets a ring of zeros (padding 1), so "
                "the feature map keeps its 8×8 size. Red: positive, blue: negative. The nine "
                "weight sliders W[row,column] apply to the kernel 'custom' (the first choice); in "
                "the static book they stay at their starting values, a diagonal edge detector; "
                "in Jupyter you can move them.",
    )


# ---------------------------------------------------------------------------------------------
# 2. Output size, and which input pixels feed one output pixel
# ---------------------------------------------------------------------------------------------

GRID_INPUT = 8
KERNEL_SIZES = (2, 3, 5)
STRIDES = (1, 2)
PADDINGS = (0, 1, 2)
DILATIONS = (1, 2)
OUTPUT_PIXELS = ("top-left", "centre", "bottom-right")


def output_size(n, k, s=1, p=0, d=1):
    """Side of a conv2d's output, torch's formula: floor((n + 2p - d(k-1) - 1) / s) + 1.
    Zero or less means the (dilated) kernel does not fit in the padded input."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def output_formula(n, k, s, p, d):
    """The formula with these numbers, evaluated step by step (the widget's title)."""
    top = n + 2 * p - d * (k - 1) - 1
    return (f"out = ⌊({n} + 2·{p} − {d}·({k}−1) − 1) / {s}⌋ + 1 = ⌊{top}/{s}⌋ + 1 = "
            f"{output_size(n, k, s, p, d)}")


def chosen_output_pixel(out, where):
    """Row and column of the output pixel called ``where`` in an ``out`` x ``out`` output."""
    last = out - 1
    return {"top-left": (0, 0), "centre": (last // 2, last // 2), "bottom-right": (last, last)}[where]


def receptive_pixels(i, j, k, s=1, p=0, d=1):
    """The input positions (row, column) that output pixel (i, j) reads, in the coordinates of
    the unpadded input: rows or columns below 0 or from n up lie in the padding."""
    rows = [i * s - p + a * d for a in range(k)]
    cols = [j * s - p + b * d for b in range(k)]
    return [(r, c) for r in rows for c in cols]


def draw_output_size(k=3, s=1, p=1, d=1, pixel="centre", n=GRID_INPUT):
    """The padded input with one output pixel's taps highlighted, and the output grid."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Rectangle

    k, s, p, d = int(k), int(s), int(p), int(d)
    out = output_size(n, k, s, p, d)
    fig = new_figure(9.6, 4.9)
    total = n + 2 * p
    gs = fig.add_gridspec(1, 2, width_ratios=[total, max(n, 1)], wspace=0.15,
                          left=0.03, right=0.97, bottom=0.1, top=0.8)
    ax_in, ax_out = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
    digit = sample_digit(4)

    # The input: padding as a hatched border, the digit faintly on top of it, a grid over
    # every cell, the border of the real image in black.
    if p:
        ax_in.add_patch(Rectangle((-p - 0.5, -p - 0.5), total, total, facecolor="#eeeeee",
                                  edgecolor=GREY, lw=0, hatch="///", zorder=0.1))
    ax_in.imshow(digit, cmap="gray_r", vmin=0, vmax=2.5, extent=(-0.5, n - 0.5, n - 0.5, -0.5),
                 zorder=0.2)
    _grid_lines(ax_in, -p, n + p - 1, GREY, 0.5)
    ax_in.add_patch(Rectangle((-0.5, -0.5), n, n, fill=False, lw=2, edgecolor="k", zorder=2))
    ax_in.set_xlim(-p - 0.5, n + p - 0.5)
    ax_in.set_ylim(n + p - 0.5, -p - 0.5)
    ax_in.set_aspect("equal")
    _integer_ticks(ax_in, -p, n + p - 1)
    ax_in.set_xlabel("input column (hatched: padding)", fontsize=9)
    ax_in.set_ylabel("input row", fontsize=9)

    settings = f"kernel {k}, stride {s}, padding {p}, dilation {d}"
    if out <= 0:
        span = d * (k - 1) + 1
        ax_in.set_title(f"{n}×{n} input, padded to {total}×{total}", fontsize=10)
        ax_out.axis("off")
        ax_out.text(0.5, 0.5, f"no output:\nthe dilated kernel spans {span}×{span},\n"
                    f"the padded input is {total}×{total}", ha="center", va="center", fontsize=11)
        ax_out.set_title("output: none", fontsize=10)
        fig.suptitle(f"{settings}: no output\n{output_formula(n, k, s, p, d)}", fontsize=11.5)
        return fig

    i, j = chosen_output_pixel(out, pixel)
    taps = receptive_pixels(i, j, k, s, p, d)
    rows, cols = [r for r, _ in taps], [c for _, c in taps]
    ax_in.add_patch(Rectangle((min(cols) - 0.5, min(rows) - 0.5), max(cols) - min(cols) + 1,
                              max(rows) - min(rows) + 1, fill=False, lw=1.5, ls="--",
                              edgecolor=ORANGE, zorder=1.5))
    for r, c in taps:
        ax_in.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor=ORANGE, alpha=0.65,
                                  edgecolor="k", lw=0.8, gid=f"tap {r} {c}", zorder=1))
    ax_in.set_title(f"{n}×{n} input, padded to {total}×{total}: the {k * k} pixels that feed "
                    f"output ({i}, {j})", fontsize=10)

    # The output: one cell per output pixel, the chosen one (value 1) in orange.
    chosen = np.zeros((out, out))
    chosen[i, j] = 1
    image = ax_out.imshow(chosen, cmap=ListedColormap(["#f4f4f4", ORANGE]), vmin=0, vmax=1,
                          zorder=0.2)
    image.set_gid("output grid")
    _grid_lines(ax_out, 0, out - 1, "k", 0.8)
    ax_out.set_xlim(-0.5, max(n, out) - 0.5)
    ax_out.set_ylim(max(n, out) - 0.5, -0.5)
    ax_out.set_aspect("equal")
    _integer_ticks(ax_out, 0, out - 1)
    for side in ("top", "right"):
        ax_out.spines[side].set_visible(False)
    ax_out.set_xlabel("output column", fontsize=9)
    ax_out.set_ylabel("output row", fontsize=9)
    ax_out.set_title(f"output: {out}×{out}, pixel ({i}, {j}) in orange", fontsize=10)
    fig.suptitle(f"{settings}: output {out}×{out}\n{output_formula(n, k, s, p, d)}", fontsize=11.5)
    return fig


def output_size_explorer():
    """Kernel size, stride, padding, dilation -> output size and one output pixel's inputs."""
    return Widget(
        draw_output_size,
        {
            "k": Choice("kernel size", list(KERNEL_SIZES), 3),
            "s": Choice("stride", list(STRIDES), 1),
            "p": Choice("padding", list(PADDINGS), 1),
            "d": Choice("dilation", list(DILATIONS), 1),
            "pixel": Choice("output pixel", list(OUTPUT_PIXELS), "centre"),
        },
        title="Padding, stride and dilation: the output size, and what one output pixel sees",
        caption="An 8×8 input (a digit, drawn faintly) with the chosen padding drawn as a hatched "
                "border. Orange cells: the k×k input positions that the chosen output pixel "
                "multiplies with the kernel's weights (dashed: the window they span). Right: the "
                "output grid. The title evaluates torch's output-size formula.",
    )


# ---------------------------------------------------------------------------------------------
# 3. The trained CNN and its feature maps
# ---------------------------------------------------------------------------------------------

CNN_EPOCHS = 12
CNN_BATCH = 64
CNN_LR = 0.01
# The stages the widget shows: (label, index of the last module of the stage in build_cnn()).
STAGES = {
    "block 1: conv 1→8, BN, ReLU": 2,
    "block 2: conv 8→16, BN, ReLU": 5,
    "max pool 1 (2×2)": 6,
    "block 3: conv 16→32, BN, ReLU": 9,
    "max pool 2 (2×2)": 10,
}
STAGE_NAMES = tuple(STAGES)
PROBABILITY_FLOOR = 1e-6  # where the log-scale probability bars start


def build_cnn():
    """The chapter's small CNN for (N, 1, 8, 8) digits: three conv blocks (3x3 convolution with
    padding 1, batch normalisation, ReLU), a 2x2 max pool after blocks 2 and 3, and a dense layer
    from the 32 x 2 x 2 = 128 features to 10 class scores. 7,290 parameters."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10),
    )


def digits_tensors(split):
    """A digits split as float32 images (N, 1, 8, 8) and int64 labels, on the CPU."""
    import torch

    from dlcourse import data

    X, y = data.digits(split, flat=False)
    return torch.as_tensor(X[:, None], dtype=torch.float32), torch.as_tensor(y)


def accuracy(model, X, y):
    """Fraction of ``X`` that ``model`` (put in eval mode) classifies as ``y``."""
    import torch

    model.eval()
    with torch.no_grad():
        return float((model(X).argmax(dim=1) == y).float().mean())


@functools.lru_cache(maxsize=None)
def trained_cnn(seed=0):
    """``build_cnn()`` trained on the digits' training split, on the CPU with one thread.

    Adam with a one-cycle learning-rate schedule (peak 0.01), batches of 64, 12 epochs: a few
    seconds. The initial weights and the shuffling come from ``seed`` (the global random
    state is restored afterwards). Returns a dict: ``model`` (in eval mode), ``losses`` (one per
    step), ``test_accuracy``, ``train_accuracy`` and ``parameters``. Cached.
    """
    import torch

    with one_torch_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _train_cnn(seed)


def _train_cnn(seed):
    import torch
    import torch.nn.functional as F

    X, y = digits_tensors("train")
    X_test, y_test = digits_tensors("test")
    model = build_cnn()
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = -(-len(y) // CNN_BATCH)
    optimiser = torch.optim.Adam(model.parameters(), lr=CNN_LR)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=CNN_LR,
                                                   total_steps=CNN_EPOCHS * steps_per_epoch)
    losses = []
    for _ in range(CNN_EPOCHS):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), CNN_BATCH):
            batch = order[start:start + CNN_BATCH]
            loss = F.cross_entropy(model(X[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return {"model": model, "losses": losses, "test_accuracy": accuracy(model, X_test, y_test),
            "train_accuracy": accuracy(model, X, y),
            "parameters": sum(p.numel() for p in model.parameters())}


def stage_outputs(image, seed=0):
    """What each stage of the trained CNN makes of one (8, 8) image: a dict stage name ->
    numpy array (channels, h, w), plus ``"probabilities"``: the softmax of the 10 scores."""
    import torch

    model = trained_cnn(seed)["model"]
    x = torch.as_tensor(np.asarray(image, dtype=np.float32)[None, None])
    by_index, out = {}, {}
    with one_torch_thread(), torch.no_grad():
        h = x
        for index, layer in enumerate(model):
            h = layer(h)
            by_index[index] = h
    for name, index in STAGES.items():
        out[name] = by_index[index][0].numpy().copy()
    out["probabilities"] = torch.softmax(by_index[len(model) - 1][0], dim=0).numpy().copy()
    return out


def feature_maps_title(digit, stage, outputs, test_accuracy):
    p = outputs["probabilities"]
    guess = int(np.argmax(p))
    maps = outputs[stage]
    return (f"test digit {digit}, {stage}: {maps.shape[0]} maps of {maps.shape[1]}×{maps.shape[2]}\n"
            f"the network says {guess} (probability {p[guess]:.2f}); "
            f"its test accuracy is {test_accuracy:.1%}")


def draw_feature_maps(digit=3, stage=STAGE_NAMES[0]):
    """The chosen digit, one stage's feature maps and the class probabilities (a Figure)."""
    result = trained_cnn()
    image = sample_digit(int(digit))
    outputs = stage_outputs(image)
    maps = outputs[stage]
    channels = maps.shape[0]
    cols = 4 if channels <= 8 else 8
    rows = -(-channels // cols)

    fig = new_figure(12.0, 4.6)
    outer = fig.add_gridspec(1, 3, width_ratios=[1.0, 3.2, 1.2], wspace=0.22,
                             left=0.03, right=0.98, bottom=0.12, top=0.8)
    ax_in = fig.add_subplot(outer[0])
    ax_in.imshow(image, cmap="gray_r", vmin=0, vmax=1)
    ax_in.set_title("input (8×8)", fontsize=10)
    ax_in.set_xticks([])
    ax_in.set_yticks([])

    # All maps as tiles of one axes (one image per channel, a gap of one cell between tiles):
    # far cheaper to draw than an axes per map.
    ax_maps = fig.add_subplot(outer[1])
    h, w = maps.shape[1:]
    vmax = max(float(maps.max()), 1e-9)  # after ReLU and max pool every value is >= 0
    for c in range(channels):
        x0, y0 = (c % cols) * (w + 1), (c // cols) * (h + 1)
        image = ax_maps.imshow(maps[c], cmap="magma", vmin=0, vmax=vmax, interpolation="nearest",
                               extent=(x0 - 0.5, x0 + w - 0.5, y0 + h - 0.5, y0 - 0.5))
        image.set_gid(f"map {c}")
        ax_maps.text(x0 + (w - 1) / 2, y0 - 0.6, f"{c}", ha="center", va="bottom", fontsize=7)
    ax_maps.set_xlim(-0.5, cols * (w + 1) - 1.5)
    ax_maps.set_ylim(rows * (h + 1) - 1.5, -0.5 - 0.12 * (h + 1) * rows)
    ax_maps.set_aspect("equal")
    ax_maps.axis("off")
    fig.text(0.47, 0.86, f"{channels} feature maps (channel numbers above; one colour "
             f"scale, black 0 to white {vmax:.2f})", ha="center", fontsize=9)

    ax_p = fig.add_subplot(outer[2])
    p = outputs["probabilities"]
    colours = [ORANGE if c == int(np.argmax(p)) else BLUE for c in range(10)]
    ax_p.barh(range(10), np.maximum(p - PROBABILITY_FLOOR, 0), left=PROBABILITY_FLOOR, color=colours)
    ax_p.set_xscale("log")
    ax_p.set_xlim(PROBABILITY_FLOOR, 1)
    ax_p.set_yticks(range(10))
    ax_p.set_ylim(9.6, -0.6)
    ax_p.tick_params(labelsize=8)
    ax_p.set_xlabel("probability (log scale)", fontsize=9)
    ax_p.set_ylabel("class", fontsize=9)
    ax_p.set_title("network's output", fontsize=10)

    fig.suptitle(feature_maps_title(digit, stage, outputs, result["test_accuracy"]), fontsize=11)
    return fig


def cnn_feature_maps():
    """The trained CNN's feature maps, stage by stage, for a chosen test digit."""
    return Widget(
        draw_feature_maps,
        {
            "digit": Choice("test digit", list(range(10)), 3),
            "stage": Choice("layer", list(STAGE_NAMES), STAGE_NAMES[0]),
        },
        title="Inside the trained CNN: feature maps layer by layer",
        caption="The chapter's CNN (7,290 parameters), trained for 12 epochs on the 1,437 "
                "training digits. For one test digit it has never seen: every channel's feature "
                "map after the chosen layer (bright: strong response), and on the right the "
                "probabilities it gives to the ten classes.",
    )
