"""Widgets of chapter 9 (09-limits): what a trained network cannot do, and how small it can be made.

- ``attack_widget(model, X, y, indices=None)``: the fast gradient sign method (``limits.fgsm``) of
  size ``eps`` on one of six test digits: the clean image, the change the attack makes, the
  attacked image, the model's ten probabilities on it, and the accuracy on the whole test set
  ``X, y`` against ``eps`` with a marker at the chosen one.
- ``quantization_widget(model, X, y)``: the weights of the model's largest convolution rounded to
  2, 3, 4, 6 or 8 bits, one scale per tensor or per output channel (``limits.quantize``): their
  histogram before and after, with the representable values marked, the same for the output
  channel with the smallest weights, and the whole model's size in bytes and test accuracy
  against float32's.
- ``calibration_widget(model, X_val, y_val, X_test, y_test, n_bins=10)``: reliability diagrams
  of the test digits, clean, rotated or noisy, before and after temperature scaling, with the
  temperature fitted on clean validation digits or on validation digits with the same shift.

Each widget is a pure function of its controls wrapped in a ``Widget`` and draws a matplotlib
Figure (``draw_attack``, ``draw_quantization``, ``draw_calibration``). The numbers they show come
from ``attack_state``, ``quantization_state`` and ``calibration_state``, which the tests check;
the maths is ``dlcourse.limits``'s. The model must be in eval mode (batch norm's running
statistics). Nothing here draws at random except the noisy digits, which ``limits.noisy`` draws
from its own seeded generator; the global random state is left alone. The only state is the
attack widget's cache of its accuracy curve, a deterministic computation.
"""
import numpy as np

from dlcourse.widgets import MAX_FRAMES, Choice, Slider, Widget, new_figure, one_torch_thread

ORANGE, BLUE, GREY, LIGHT = "#e66101", "#2166ac", "#999999", "#cccccc"


def _images(X):
    import torch

    return torch.as_tensor(X, dtype=torch.float32).reshape(-1, 1, 8, 8)


def _labels(y):
    import torch

    return torch.as_tensor(y, dtype=torch.int64).reshape(-1)


def _data(X, y, what="X, y"):
    X, y = _images(X), _labels(y)
    if len(X) != len(y) or len(y) == 0:
        raise ValueError(f"{what}: give as many labels as images, at least one ({len(X)} images, "
                         f"{len(y)} labels).")
    return X, y


def _check_model(model):
    if model.training:
        raise ValueError("the model is in training mode: call model.eval() first, so batch norm uses "
                         "its running statistics.")


# ---------------------------------------------------------------------------------------------
# 1. Adversarial examples
# ---------------------------------------------------------------------------------------------

ATTACK_EPS = tuple(round(0.02 * k, 2) for k in range(16))  # the slider's values, 0 to 0.3
ATTACK_EPS_BOOK = (0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.14, 0.2, 0.24, 0.3)  # drawn for the static book
N_DIGITS = 6


def default_indices(model, X, y, n=N_DIGITS):
    """The first test image of each of ``n`` different classes that the model reads correctly,
    in the order of the test set."""
    X, y = _data(X, y)
    from dlcourse import limits as L

    with one_torch_thread():
        predicted = L.predict(model, X).argmax(1)
    chosen, seen = [], set()
    for i, (label, guess) in enumerate(zip(y.tolist(), predicted.tolist())):
        if label == guess and label not in seen:
            chosen.append(i)
            seen.add(label)
            if len(chosen) == n:
                break
    if not chosen:
        raise ValueError("the model reads none of the images correctly: there is nothing to attack.")
    return chosen


def attack_curve(model, X, y, eps_values=ATTACK_EPS):
    """The accuracy on (X, y) under an FGSM attack of each size in ``eps_values``
    (``limits.accuracy_under_attack``), a float64 numpy array."""
    from dlcourse import limits as L

    X, y = _data(X, y)
    with one_torch_thread():
        return np.array([L.accuracy_under_attack(model, X, y, float(eps)) for eps in eps_values])


def attack_state(model, X, y, index, eps, curve=None):
    """The FGSM attack of size ``eps`` on test image ``index`` of ``X``: ``limits.fgsm`` on that
    one image and its label. Returns a dict: ``clean``, ``adv`` and ``perturbation = adv - clean``
    (the change the attack makes, ``eps`` times the sign of the gradient where the clamp to
    [0, 1] leaves it), each (8, 8) numpy; ``label``; ``clean_predicted`` and ``predicted``, the
    model's reading of the clean and the attacked image; ``probs`` (10,), its softmax
    probabilities on the attacked image; ``eps_values`` and ``curve``, the accuracy on all of (X,
    y) at each of ``ATTACK_EPS`` (``attack_curve``, unless given); ``accuracy``, the accuracy at
    ``eps`` itself."""
    from dlcourse import limits as L

    X, y = _data(X, y)
    index, eps = int(index), float(eps)
    if not 0 <= index < len(y):
        raise ValueError(f"index={index}: choose an image between 0 and {len(y) - 1}.")
    curve = attack_curve(model, X, y) if curve is None else np.asarray(curve)
    x, label = X[index:index + 1], y[index:index + 1]
    with one_torch_thread():
        adv = L.fgsm(model, x, label, eps)
        probs = L.predict(model, adv).softmax(1)[0]
        clean_predicted = int(L.predict(model, x).argmax(1))
        on_grid = np.isclose(eps, ATTACK_EPS, rtol=0, atol=1e-9)  # a live slider may end at 0.1 + 1e-17
        if on_grid.any():
            accuracy = float(curve[on_grid.argmax()])
        else:
            accuracy = L.accuracy_under_attack(model, X, y, eps)
    clean, adv = x[0, 0].numpy(), adv[0, 0].numpy()
    return {"clean": clean, "adv": adv, "perturbation": adv - clean, "label": int(label),
            "clean_predicted": clean_predicted, "predicted": int(probs.argmax()), "probs": probs.numpy(),
            "eps_values": np.array(ATTACK_EPS), "curve": curve, "accuracy": accuracy}


def attack_title(index, eps, state, n):
    return (f"FGSM with eps = {eps:g} on test image {index} (a {state['label']}): the model reads "
            f"{state['predicted']} with probability {state['probs'][state['predicted']]:.2f}; "
            f"it still gets {state['accuracy']:.1%} of the {n} test digits right at this eps")


def _digit_image(ax, image, title):
    ax.imshow(image, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def draw_attack(index, eps, state, n):
    """Five panels: the clean image, the perturbation (red adds ink, blue removes it, on a scale
    fixed to the largest eps), the attacked image, the ten probabilities on it (the true class in
    blue, a wrong reading in orange), and the test accuracy against eps."""
    from matplotlib.patches import Patch

    fig = new_figure(12, 3.3)
    gs = fig.add_gridspec(1, 5, width_ratios=[1, 1.25, 1, 1.45, 1.45], wspace=0.35,
                          left=0.02, right=0.99, bottom=0.17, top=0.74)
    names = ("clean", "perturbation", "attacked", "probabilities", "curve")
    ax_c, ax_p, ax_a, ax_b, ax_e = (fig.add_subplot(gs[i], gid=name) for i, name in enumerate(names))
    label, predicted = state["label"], state["predicted"]

    _digit_image(ax_c, state["clean"], f"clean: a {label}, read as {state['clean_predicted']}")
    limit = max(ATTACK_EPS)
    im = ax_p.imshow(state["perturbation"], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax_p.set_xticks([])
    ax_p.set_yticks([])
    ax_p.set_title("perturbation (attacked - clean)", fontsize=9)
    cbar = fig.colorbar(im, ax=ax_p, fraction=0.046, pad=0.04)
    cbar.ax.tick_params(labelsize=7)
    _digit_image(ax_a, state["adv"], f"attacked: a {label}, read as {predicted}")

    colours = [LIGHT] * 10
    colours[predicted] = ORANGE
    colours[label] = BLUE
    ax_b.bar(range(10), state["probs"], color=colours, gid="probabilities")
    ax_b.set_xticks(range(10))
    ax_b.set_ylim(0, 1.05)
    ax_b.tick_params(labelsize=8)
    ax_b.set_xlabel("class", fontsize=9)
    ax_b.set_ylabel("probability", fontsize=9)
    ax_b.set_title("the model on the attacked image", fontsize=9)
    handles = [Patch(color=BLUE, label="true class")]
    if predicted != label:
        handles.append(Patch(color=ORANGE, label="its reading"))
    ax_b.legend(handles=handles, fontsize=7, loc="upper left")

    ax_e.plot(state["eps_values"], state["curve"], color=GREY, marker=".", ms=4, gid="curve")
    ax_e.plot([eps], [state["accuracy"]], "o", color=ORANGE, mec="black", mew=0.6, ms=6, zorder=3,
              gid="marker")
    ax_e.set_xlim(-0.015, max(ATTACK_EPS) + 0.015)
    ax_e.set_ylim(0, 1.02)
    ax_e.tick_params(labelsize=8)
    ax_e.set_xlabel("eps", fontsize=9)
    ax_e.set_ylabel("test accuracy", fontsize=9)
    ax_e.set_title(f"accuracy on the {n} test digits", fontsize=9)
    fig.suptitle(attack_title(index, eps, state, n), fontsize=9.5, wrap=True)
    return fig


def attack_widget(model, X, y, indices=None):
    """Perturbation size eps and one of a few test digits -> the FGSM attack on that digit (see
    ``attack_state``). ``X, y``: the test images (N, 1, 8, 8) in [0, 1] and labels, on which the
    accuracy curve is measured; ``indices``: which of them to offer (default
    ``default_indices``: six digits of different classes that the model reads correctly). The
    curve is computed once, the first time it is shown."""
    X, y = _data(X, y)
    _check_model(model)
    indices = default_indices(model, X, y) if indices is None else [int(i) for i in indices]
    most = MAX_FRAMES // len(ATTACK_EPS_BOOK)
    if not 1 <= len(indices) <= most or len(set(indices)) < len(indices):
        raise ValueError(f"indices {indices}: give 1 to {most} different images.")
    if not all(0 <= i < len(y) for i in indices):
        raise ValueError(f"indices {indices}: each must be between 0 and {len(y) - 1}.")
    cache = {}

    def draw(eps, index):
        if "curve" not in cache:
            cache["curve"] = attack_curve(model, X, y)
        return draw_attack(index, eps, attack_state(model, X, y, index, eps, cache["curve"]), len(y))

    return Widget(
        draw,
        {
            "eps": Slider("perturbation size eps", 0.0, max(ATTACK_EPS), 0.02, 0.0, static=ATTACK_EPS_BOOK),
            "index": Choice("test digit", {f"image {i}: a {int(y[i])}": i for i in indices}, indices[0]),
        },
        title="Adversarial examples: the fast gradient sign method",
        caption="The attack moves every pixel by eps in the direction that raises the model's loss "
                "on the true label (the sign of the loss's gradient with respect to the pixel), "
                "then clamps the image to [0, 1]. Pixels are in [0, 1], so eps = 0.1 is a tenth "
                "of the way from white to black: you can still read the digit easily, and the "
                "model often cannot. The curve is the accuracy when every test digit is attacked "
                "the same way.",
    )


# ---------------------------------------------------------------------------------------------
# 2. Quantization
# ---------------------------------------------------------------------------------------------

BITS = (2, 3, 4, 6, 8, 32)  # 32: float32, no rounding
SCHEMES = ("per-tensor", "per-channel")


def largest_conv(model):
    """The name and module of the model's convolution with the most weights (the first of
    equals): for ``DigitCNN``, the second one, ``features.4``."""
    from torch import nn

    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("the model has no Conv2d layer to show.")
    return max(convs, key=lambda named: named[1].weight.numel())


def quantization_state(model, X, y, bits, per_channel):
    """The model at ``bits`` bits (32: float32, untouched), one scale per tensor or per output
    channel. Returns a dict: ``layer``, the name of ``largest_conv``; ``weights`` and
    ``dequantized``, its weights before and after ``quantize`` and ``dequantize``, flat float32
    numpy; ``levels`` (C, 2^bits - 1), the values each output channel's weights can take
    (every row the same per tensor; None at 32 bits); ``channel``, the output channel with the
    smallest largest magnitude (the one a single scale serves worst), with its ``channel_weights``,
    ``channel_dequantized`` and ``channel_levels``; ``zeroed``, the share of the layer's weights
    rounded to 0; ``size`` (``limits.size_bytes``) and ``accuracy`` on (X, y) of the whole model
    (``quantized_copy``), ``float_size`` and ``float_accuracy`` of the float32 model, and
    ``ratio = size / float_size``."""
    import torch

    from dlcourse import limits as L

    X, y = _data(X, y)
    bits = int(bits)
    if bits not in BITS:
        raise ValueError(f"bits={bits}: use one of {', '.join(map(str, BITS))}.")
    name, layer = largest_conv(model)
    w = layer.weight.detach().clone()  # the state's arrays must not alias the model
    with one_torch_thread():
        float_accuracy = L.accuracy(model, X, y)
        if bits == 32:
            deq, levels, accuracy = w, None, float_accuracy
        else:
            q, scale = L.quantize(w, bits, per_channel)
            deq = L.dequantize(q, scale)
            qmax = 2 ** (bits - 1) - 1
            grid = torch.arange(-qmax, qmax + 1).to(torch.int8)
            levels = L.dequantize(grid, scale.reshape(-1, 1).expand(len(w), 1)).numpy()
            accuracy = L.accuracy(L.quantized_copy(model, bits, per_channel), X, y)
    channel = int(w.abs().reshape(len(w), -1).amax(1).argmin())
    size, float_size = L.size_bytes(model, bits, per_channel), L.size_bytes(model, 32)
    return {"layer": name, "weights": w.flatten().numpy(), "dequantized": deq.flatten().numpy(),
            "levels": levels, "channel": channel, "channel_weights": w[channel].flatten().numpy(),
            "channel_dequantized": deq[channel].flatten().numpy(),
            "channel_levels": None if levels is None else levels[channel],
            "zeroed": float((deq == 0).float().mean()), "size": size, "accuracy": accuracy,
            "float_size": float_size, "float_accuracy": float_accuracy, "ratio": size / float_size}


def quantization_title(bits, scheme, state):
    if bits == 32:
        return (f"float32 weights, no rounding: {state['size']:,} bytes, test accuracy "
                f"{state['accuracy']:.1%}")
    return (f"{bits}-bit {scheme} weights: {state['size']:,} bytes ({state['ratio']:.0%} of "
            f"float32's {state['float_size']:,}), test accuracy {state['accuracy']:.1%} "
            f"(float32: {state['float_accuracy']:.1%})")


def _draw_levels(ax, levels, lo, hi):
    """Vertical lines at the representable values in [lo, hi]: each one when there are few, all
    of them faintly up to 80; beyond that (the rest would be a grey wall) only the grid's two
    ends, where they are in view."""
    shown = levels[(levels >= lo) & (levels <= hi)]
    if len(shown) > 80:
        shown, style = [v for v in (levels[0], levels[-1]) if lo <= v <= hi], {"lw": 0.8, "linestyles": "--"}
    else:
        style = {"lw": 0.4, "alpha": 0.35} if len(shown) > 20 else {"lw": 0.8, "alpha": 0.7}
    if len(shown):
        ax.vlines(shown, 0, 1, transform=ax.get_xaxis_transform(), colors=BLUE, gid="levels", **style)


def histogram_edges(peak, per_bin, half):
    """Bins of ``per_bin`` steps of the 8-bit grid of ``peak`` (steps of peak / 127), centred on
    its values and covering [-half, half]: every edge lies halfway between two 8-bit values, so
    rounding to 8 bits per tensor never moves a weight to another bin, and the histograms before
    and after agree."""
    width = per_bin * peak / 127
    k = int(np.ceil(half / width - 0.5))
    centres = np.arange(-k, k + 1) * width
    return np.append(centres - width / 2, centres[-1] + width / 2)


def _weight_histogram(ax, weights, dequantized, edges, half, bits, scheme):
    ax.stairs(np.histogram(weights, edges)[0], edges, fill=True, color=LIGHT, label="float32", gid="weights")
    if bits != 32:
        ax.stairs(np.histogram(dequantized, edges)[0], edges, color=ORANGE, lw=1.1,
                  label=f"{bits}-bit {scheme}", gid="dequantized")
    ax.set_yscale("log")
    ax.set_xlim(-half, half)
    ax.tick_params(labelsize=7)
    ax.set_xlabel("weight", fontsize=9)


def draw_quantization(bits, scheme, state):
    """Three panels: the histogram of the layer's weights before (grey) and after (orange)
    rounding, the same for its output channel of smallest weights, with the representable values
    in blue, and a table of the whole model's size and test accuracy."""
    fig = new_figure(12, 3.9)
    gs = fig.add_gridspec(1, 3, width_ratios=[1.35, 1.1, 1.05], wspace=0.22,
                          left=0.05, right=0.99, bottom=0.15, top=0.76)
    names = ("layer", "channel", "table")
    ax_w, ax_c, ax_t = (fig.add_subplot(gs[i], gid=name) for i, name in enumerate(names))
    levels = state["levels"]

    weights = state["weights"]
    peak = float(np.abs(weights).max())
    half = peak * 1.06
    _weight_histogram(ax_w, weights, state["dequantized"], histogram_edges(peak, 3, peak), half, bits, scheme)
    ax_w.set_ylabel("number of weights (log scale)", fontsize=9)
    if levels is None:
        where = "float32, no rounding"
    elif scheme == "per-tensor":
        where = (f"{levels.shape[1]} values (blue{', the outermost' if levels.shape[1] > 80 else ''}); "
                 f"{state['zeroed']:.0%} rounded to 0")
        _draw_levels(ax_w, levels[0], -half, half)
    else:
        where = f"a grid per output channel; {state['zeroed']:.0%} rounded to 0"
    ax_w.legend(fontsize=7, loc="upper right")
    ax_w.set_title(f"all {len(weights):,} weights of {state['layer']}\n{where}", fontsize=9)

    channel_weights, channel_levels = state["channel_weights"], state["channel_levels"]
    channel_peak = float(np.abs(channel_weights).max())
    half = channel_peak
    if channel_levels is not None:
        nonzero = np.abs(channel_levels[channel_levels != 0])
        half = max(half, float(nonzero.min()))  # show the nearest level even beyond the weights
        _draw_levels(ax_c, channel_levels, -1.08 * half, 1.08 * half)
    # bins on the grid the channel is rounded to: the layer's per tensor, its own per channel
    grid_peak = peak if scheme == "per-tensor" and channel_levels is not None else channel_peak
    per_bin = max(1, round(half / (grid_peak / 127) / 25))
    _weight_histogram(ax_c, channel_weights, state["channel_dequantized"],
                      histogram_edges(grid_peak, per_bin, half), 1.08 * half, bits, scheme)
    kept = len(np.unique(state["channel_dequantized"]))
    ax_c.set_title(f"output channel {state['channel']}, the smallest weights:\n"
                   f"its {len(channel_weights)} weights take {kept} different values", fontsize=9)

    ax_t.axis("off")
    rows = [("size (bytes)", f"{state['float_size']:,}", f"{state['size']:,}"),
            ("size vs float32", "100%", f"{state['ratio']:.1%}"),
            ("test accuracy", f"{state['float_accuracy']:.1%}", f"{state['accuracy']:.1%}")]
    table = ax_t.table(cellText=[r[1:] for r in rows], rowLabels=[r[0] for r in rows],
                       colLabels=["float32", "float32" if bits == 32 else f"{bits}-bit\n{scheme}"],
                       cellLoc="center", bbox=[0.36, 0.2, 0.64, 0.62])
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    ax_t.set_title("the whole model", fontsize=9)
    fig.suptitle(quantization_title(bits, scheme, state), fontsize=10)
    return fig


def quantization_widget(model, X, y):
    """Bits and scheme -> the model's weights rounded to that many bits (see
    ``quantization_state``), the accuracy measured on ``X, y`` (the test images and labels)."""
    X, y = _data(X, y)
    _check_model(model)
    name, _ = largest_conv(model)

    def draw(bits, scheme):
        return draw_quantization(bits, scheme, quantization_state(model, X, y, bits, scheme == "per-channel"))

    return Widget(
        draw,
        {
            "bits": Choice("bits", {"2": 2, "3": 3, "4": 4, "6": 6, "8": 8, "32 (float32)": 32}, 8),
            "scheme": Choice("scheme", SCHEMES, "per-tensor"),
        },
        title="Quantization: fewer bits per weight",
        caption=f"Each convolution and linear weight is stored as a signed integer of the chosen "
                f"width times a float32 scale, which maps the largest magnitude to the largest "
                f"integer: b bits give 2^b - 1 values, evenly spaced and symmetric about 0. "
                f"Per tensor, one scale serves a whole layer; per channel, each output channel has "
                f"its own, so a channel of small weights gets a fine grid of its own. The "
                f"histograms show {name}, the largest convolution (log scale: most weights are "
                f"near 0); the size counts every weight at b bits plus the scales, and the biases "
                f"and batch norm in float32.",
    )


# ---------------------------------------------------------------------------------------------
# 3. Calibration under shift
# ---------------------------------------------------------------------------------------------

SHIFTS = ("clean", "rotated 15°", "rotated 30°", "noisy (sigma 0.3)")
FIT_ON = ("clean validation", "same shift's validation")
N_BINS = (5, 10, 15)
NOISE_SEEDS = {"val": 0, "test": 1}  # different noise on the two splits


def apply_shift(X, shift, seed=0):
    """The images (N, 1, 8, 8) as ``shift`` leaves them: unchanged, ``limits.rotated`` by 15 or 30
    degrees, or ``limits.noisy`` with sigma 0.3 drawn with ``seed``."""
    from dlcourse import limits as L

    X = _images(X)
    if shift == "clean":
        return X
    if shift == "rotated 15°":
        return L.rotated(X, 15)
    if shift == "rotated 30°":
        return L.rotated(X, 30)
    if shift == "noisy (sigma 0.3)":
        return L.noisy(X, 0.3, seed=seed)
    raise ValueError(f"shift={shift!r}: use one of {', '.join(SHIFTS)}.")


def _calibration(probs, y, n_bins):
    from dlcourse import limits as L

    confidence, accuracy, count = (t.numpy() for t in L.reliability(probs, y, n_bins))
    return {"probs": probs.numpy(), "bin_confidence": confidence, "bin_accuracy": accuracy,
            "bin_count": count, "ece": L.expected_calibration_error(probs, y, n_bins),
            "mean_confidence": float(probs.max(1).values.double().mean())}


def calibration_state(model, X_val, y_val, X_test, y_test, shift="clean", fit_on=FIT_ON[0], n_bins=10):
    """The test images under ``shift`` (``apply_shift``, noise seed ``NOISE_SEEDS["test"]``), and
    the temperature T that ``limits.fit_temperature`` fits on the validation logits: of the clean
    validation images, or of the validation images under the same shift (noise seed
    ``NOISE_SEEDS["val"]``). Returns a dict: ``T``; ``fitted_on``, the shift of those validation
    images; ``accuracy`` on the shifted test images (T does not change the prediction);
    ``before`` and ``after`` for softmax(logits) and softmax(logits / T): ``probs`` (N, 10)
    float32 numpy, ``bin_confidence``, ``bin_accuracy`` and ``bin_count`` (``limits.reliability``
    with ``n_bins`` bins), ``ece`` (``limits.expected_calibration_error``) and
    ``mean_confidence``."""
    from dlcourse import limits as L

    X_val, y_val = _data(X_val, y_val, "X_val, y_val")
    X_test, y_test = _data(X_test, y_test, "X_test, y_test")
    if fit_on not in FIT_ON:
        raise ValueError(f"fit_on={fit_on!r}: use one of {', '.join(FIT_ON)}.")
    fitted_on = "clean" if fit_on == FIT_ON[0] else shift
    with one_torch_thread():
        logits = L.predict(model, apply_shift(X_test, shift, NOISE_SEEDS["test"]))
        T = L.fit_temperature(L.predict(model, apply_shift(X_val, fitted_on, NOISE_SEEDS["val"])), y_val)
        before = _calibration(logits.softmax(1), y_test, int(n_bins))
        after = _calibration((logits / T).softmax(1), y_test, int(n_bins))
    return {"T": T, "fitted_on": fitted_on, "accuracy": float((logits.argmax(1) == y_test).double().mean()),
            "before": before, "after": after}


def calibration_title(shift, n_bins, state, n_test, n_val):
    return (f"{n_test} test digits, {shift}: accuracy {state['accuracy']:.1%}; "
            f"T fitted on {n_val} {state['fitted_on']} validation digits; {n_bins} bins")


def _reliability_diagram(ax, ax_n, part, n_bins, title):
    edges = np.linspace(0, 1, n_bins + 1)
    left, width = edges[:-1], 1 / n_bins
    used = part["bin_count"] > 0
    acc = np.where(used, part["bin_accuracy"], 0.0)
    conf = np.where(used, part["bin_confidence"], 0.0)
    ax.bar(left, acc, width, align="edge", color=BLUE, edgecolor="white", label="accuracy", gid="accuracy")
    ax.bar(left, conf - acc, width, bottom=acc, align="edge", fill=False, hatch="///",
           edgecolor=ORANGE, lw=0.6, label="gap to the mean confidence", gid="gap")
    ax.plot([0, 1], [0, 1], "--", color=GREY, lw=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy in the bin", fontsize=9)
    ax.tick_params(labelsize=8, labelbottom=False)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title, fontsize=9)

    counts = part["bin_count"]
    ax_n.bar(left, counts, width, align="edge", color=GREY, edgecolor="white", gid="counts")
    for x, c in zip(left[used], counts[used]):
        ax_n.text(x + width / 2, c, f"{int(c)}", ha="center", va="bottom", fontsize=6.5)
    ax_n.set_xlim(0, 1)
    ax_n.set_ylim(0, counts.max() * 1.45)
    ax_n.set_yticks([])
    ax_n.tick_params(labelsize=8)
    ax_n.set_xlabel("confidence (the top probability)", fontsize=9)
    ax_n.set_ylabel("images", fontsize=8)


def before_title(part):
    return (f"before: ECE {part['ece']:.3f}, mean confidence {part['mean_confidence']:.1%}")


def after_title(T, part):
    return (f"after temperature scaling, T = {T:.2f}: ECE {part['ece']:.3f}, "
            f"mean confidence {part['mean_confidence']:.1%}")


def draw_calibration(shift, n_bins, state, n_test, n_val):
    """Two reliability diagrams side by side, before and after temperature scaling: accuracy per
    bin of confidence (blue) against the diagonal, the gap to the bin's mean confidence shaded,
    and how many test images fall in each bin below."""
    fig = new_figure(11, 5.0)
    gs = fig.add_gridspec(2, 2, height_ratios=[3.2, 1], hspace=0.08, wspace=0.18,
                          left=0.06, right=0.99, bottom=0.1, top=0.86)
    for col, (part, title) in enumerate(((state["before"], before_title(state["before"])),
                                         (state["after"], after_title(state["T"], state["after"])))):
        name = ("before", "after")[col]
        _reliability_diagram(fig.add_subplot(gs[0, col], gid=name),
                             fig.add_subplot(gs[1, col], gid=f"{name} counts"), part, n_bins, title)
    fig.suptitle(calibration_title(shift, n_bins, state, n_test, n_val), fontsize=10)
    return fig


def calibration_widget(model, X_val, y_val, X_test, y_test, n_bins=10):
    """Test data, where T is fitted and the number of bins -> reliability diagrams before and after
    temperature scaling (see ``calibration_state``). ``X_val, y_val``: the validation digits
    (``limits.digits("val")``); ``X_test, y_test``: the test digits; ``n_bins``: the bins shown
    first (5, 10 or 15)."""
    X_val, y_val = _data(X_val, y_val, "X_val, y_val")
    X_test, y_test = _data(X_test, y_test, "X_test, y_test")
    _check_model(model)
    if n_bins not in N_BINS:
        raise ValueError(f"n_bins={n_bins}: use one of {', '.join(map(str, N_BINS))}.")

    def draw(shift, fit_on, n_bins):
        state = calibration_state(model, X_val, y_val, X_test, y_test, shift, fit_on, n_bins)
        return draw_calibration(shift, n_bins, state, len(y_test), len(y_val))

    return Widget(
        draw,
        {
            "shift": Choice("test data", SHIFTS, "clean"),
            "fit_on": Choice("temperature fitted on", FIT_ON, FIT_ON[0]),
            "n_bins": Choice("bins", N_BINS, n_bins),
        },
        title="Calibration: does confidence mean correctness?",
        caption="The test digits are sorted into bins by the model's confidence, its top "
                "probability. A calibrated model is right in a bin as often as it is confident: "
                "the blue bars reach the diagonal. ECE (expected calibration error) is the gap, "
                "weighted by the share of images in each bin, so a bin of a few images (see the counts "
                "below) weighs little however large its gap. Temperature scaling divides the "
                "logits by one number T, fitted on validation digits: T > 1 makes the model less "
                "confident, T < 1 more; the predictions, and so the accuracy, stay the same. With "
                "clean test digits, both choices fit T on the same clean validation digits.",
    )
