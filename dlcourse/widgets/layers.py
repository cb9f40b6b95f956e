"""Widgets of chapter 2 (02-layers): neurons in layers, layers in networks.

- ``spam_network()``: a 3-4-2 network with fixed, hand-chosen weights that scores an e-mail. The
  picture is the network drawn as a diagram: nodes coloured by their value, edges by the sign and
  size of their weight, every hidden activation and both output probabilities written on it.
- ``width_depth_boundary()``: a small ReLU network trained on moons or spirals for a chosen hidden
  width and depth; the picture is its decision boundary, with its parameter count and accuracy.
- ``init_spread()``: activations flowing through 20 layers of width 256 for one initialisation
  (zero, too small, Xavier, He) and one activation (tanh, ReLU); the picture shows how the spread
  of the values grows, holds or dies out from layer to layer.

Each widget is a pure drawing function (``draw_spam_network``, ``draw_width_depth``,
``draw_init_spread``: its controls in, a matplotlib Figure out) wrapped in a ``Widget``. No display
at import; the only state is the caches of trained networks and activation statistics, which
hold the results of deterministic computations (same controls, same numbers).
"""
import functools

import numpy as np

from dlcourse.widgets import Choice, Slider, Widget, new_figure, one_torch_thread

RED, BLUE, GREY = "#b2182b", "#2166ac", "#999999"


def _relu(z):
    return np.maximum(z, 0.0)


def _softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# The 3-4-2 spam network
# ---------------------------------------------------------------------------------------------

SPAM_INPUTS = ("mentions money", "has suspicious links", "known sender")
SPAM_HIDDEN = ("money and links", "link from a stranger", "trusted sender", "nothing suspicious")
SPAM_OUTPUTS = ("spam", "not spam")

# The course's convention: a layer computes X @ W + b, so W has shape (fan_in, fan_out):
# one row per input, one column per unit of the layer.
SPAM_W1 = np.array([[2.0, 0.0, 0.0, -2.0],    # mentions money
                    [2.0, 3.0, -1.0, -2.0],   # has suspicious links
                    [0.0, -3.0, 3.0, 0.0]])   # known sender
SPAM_B1 = np.array([-2.0, 0.0, -1.0, 1.0])
SPAM_W2 = np.array([[2.0, 0.0],               # money and links
                    [1.0, 0.0],               # link from a stranger
                    [-2.0, 2.0],              # trusted sender
                    [0.0, 2.0]])              # nothing suspicious
SPAM_B2 = np.array([0.0, 0.5])


def spam_forward(money, links, known):
    """The spam network on one e-mail: ``(h, z, p)``, the four hidden ReLU activations, the two
    output scores (logits) and their softmax probabilities ``(P(spam), P(not spam))``."""
    x = np.array([money, links, known], dtype=float)
    h = _relu(x @ SPAM_W1 + SPAM_B1)
    z = h @ SPAM_W2 + SPAM_B2
    return h, z, _softmax(z)


def spam_parameter_count():
    return sum(a.size for a in (SPAM_W1, SPAM_B1, SPAM_W2, SPAM_B2))


def draw_spam_network(money=1.0, links=0.0, known=0.0):
    """The 3-4-2 network as a diagram for one e-mail (a matplotlib Figure)."""
    import matplotlib
    from matplotlib.patches import Circle

    x = np.array([money, links, known], dtype=float)
    h, z, p = spam_forward(money, links, known)

    fig = new_figure(8.0, 4.3)
    ax = fig.add_axes([0.0, 0.0, 1.0, 0.9])
    ax.set_xlim(-2.7, 9.5)
    ax.set_ylim(-0.4, 4.6)
    ax.set_aspect("equal")
    ax.axis("off")

    cmap = matplotlib.colormaps["YlOrBr"]
    xs = {"in": 0.0, "hid": 3.8, "out": 7.4}
    ys = {"in": np.array([3.4, 2.1, 0.8]), "hid": np.array([3.9, 2.7, 1.5, 0.3]),
          "out": np.array([2.85, 1.35])}
    radius = 0.42

    def edges(W, src, dst):
        for i, y0 in enumerate(ys[src]):
            for j, y1 in enumerate(ys[dst]):
                w = W[i, j]
                if w == 0:
                    continue
                ax.plot([xs[src] + radius, xs[dst] - radius], [y0, y1], zorder=1,
                        color=RED if w > 0 else BLUE, lw=0.6 + 1.1 * abs(w),
                        alpha=0.35 + 0.12 * min(abs(w), 3), solid_capstyle="round")

    edges(SPAM_W1, "in", "hid")
    edges(SPAM_W2, "hid", "out")

    def node(cx, cy, value, top, text):
        # Darker is larger: inputs and output probabilities on 0..1, hidden units on 0..3.
        level = min(max(value / top, 0.0), 1.0)
        ax.add_patch(Circle((cx, cy), radius, facecolor=cmap(0.85 * level), edgecolor="k",
                            lw=1.0, zorder=3))
        ax.text(cx, cy, text, ha="center", va="center", fontsize=10, zorder=4,
                color="white" if level > 0.6 else "black", fontweight="bold")

    for name, v, cy in zip(SPAM_INPUTS, x, ys["in"]):
        node(xs["in"], cy, v, 1.0, f"{v:g}")
        ax.text(xs["in"] - radius - 0.12, cy, name, ha="right", va="center", fontsize=9.5)
    for name, v, bias, cy in zip(SPAM_HIDDEN, h, SPAM_B1, ys["hid"]):
        node(xs["hid"], cy, v, 3.0, f"{v:.2g}")
        ax.text(xs["hid"], cy + radius + 0.06, f"{name}  (b = {bias:g})", ha="center",
                va="bottom", fontsize=8.5, color="#333333", zorder=5,
                bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))
    for name, prob, logit, bias, cy in zip(SPAM_OUTPUTS, p, z, SPAM_B2, ys["out"]):
        node(xs["out"], cy, prob, 1.0, f"{prob:.2f}")
        ax.text(xs["out"] + radius + 0.15, cy + 0.12, f"P({name})", ha="left", va="bottom",
                fontsize=10, fontweight="bold")
        ax.text(xs["out"] + radius + 0.15, cy - 0.05, f"score {logit:.2f}\n(b = {bias:g})",
                ha="left", va="top", fontsize=8.5, color="#333333")

    for key, label in (("in", "inputs x"), ("hid", "hidden layer h = ReLU(x W1 + b1)"),
                       ("out", "outputs softmax(h W2 + b2)")):
        ax.text(xs[key], 4.55 if key != "hid" else 4.75, label, ha="center", va="bottom",
                fontsize=9.5, style="italic")
    ax.plot([], [], color=RED, lw=2.5, label="positive weight")
    ax.plot([], [], color=BLUE, lw=2.5, label="negative weight")
    ax.legend(loc="lower left", fontsize=8.5, frameon=False, bbox_to_anchor=(0.0, -0.02))

    verdict = "spam" if p[0] > 0.5 else "not spam" if p[0] < 0.5 else "undecided"
    fig.suptitle(f"P(spam) = {p[0]:.3f}: {verdict}", fontsize=12, y=0.99)
    return fig


def spam_network():
    """A 3-4-2 network with fixed weights scoring an e-mail; its inputs are the controls."""
    values = [0.0, 0.5, 1.0]
    return Widget(
        draw_spam_network,
        {
            "money": Slider("mentions money", 0.0, 1.0, 0.05, 1.0, static=values),
            "links": Slider("has suspicious links", 0.0, 1.0, 0.05, 0.0, static=values),
            "known": Slider("known sender", 0.0, 1.0, 0.05, 0.0, static=values),
        },
        title="A 3-4-2 network that filters spam",
        caption="Inputs from 0 (no) to 1 (yes). Each hidden unit is a ReLU neuron with its own "
                "weights and bias; the two outputs go through softmax. Edge colour: sign of the "
                "weight (red positive, blue negative); edge width: its size. Number in each node: "
                "the value it computes for this e-mail (darker is larger).",
    )


# ---------------------------------------------------------------------------------------------
# Width and depth vs decision boundary
# ---------------------------------------------------------------------------------------------

DATASET_NAMES = ("moons", "spirals")
WIDTHS = (2, 4, 8, 32)
DEPTHS = (1, 2, 3)
TRAIN_STEPS = 600
RESTARTS = 4  # independent starts trained side by side; the one with the lowest loss is kept


def dataset(name, fresh=False):
    """The widget's training set (``fresh=False``) or a second sample from the same
    distribution, for checking on points the network has not seen (``fresh=True``)."""
    from dlcourse import data

    seed = 1 if fresh else 0
    if name == "moons":
        return data.moons(n=200, noise=0.15, seed=seed)
    if name == "spirals":
        return data.spirals(n=300, seed=seed)
    raise ValueError(f"unknown dataset {name!r}: use one of {', '.join(DATASET_NAMES)}")


def mlp_parameter_count(width, depth, d_in=2, d_out=2):
    sizes = [d_in] + [width] * depth + [d_out]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def mlp_forward(params, X):
    """Logits of a ReLU network given as ``[(W, b), ...]`` (numpy, X @ W + b convention)."""
    h = np.asarray(X, dtype=float)
    for i, (W, b) in enumerate(params):
        h = h @ W + b
        if i < len(params) - 1:
            h = _relu(h)
    return h


def mlp_probability(params, X):
    """P(class 1) for each row of ``X``."""
    return _softmax(mlp_forward(params, X))[:, 1]


@functools.lru_cache(maxsize=None)
def train_mlp(name, width, depth, steps=TRAIN_STEPS, seed=0):
    """Train a ReLU network with ``depth`` hidden layers of ``width`` units on ``dataset(name)``.

    Full-batch Adam (learning rate 0.02) on the cross-entropy for ``steps`` steps, He-initialised
    weights drawn from a private generator seeded with ``seed`` (the global random state is not
    touched), on the CPU. ``RESTARTS`` networks are trained at once, as one batched computation,
    and the one with the lowest final training loss is kept: a narrow network sometimes starts
    with all its ReLUs silent and never recovers, which says more about luck than about width.

    Returns a dict: ``params`` (list of numpy ``(W, b)``, read-only), ``train_accuracy``,
    ``fresh_accuracy`` (on a second sample of the same data set), ``loss`` and ``parameters``.
    Cached: the same arguments give the same (identical) result.
    """
    with one_torch_thread():
        return _train_mlp(name, width, depth, steps, seed)


def _train_mlp(name, width, depth, steps, seed):
    import torch

    X, y = dataset(name)
    X_fresh, y_fresh = dataset(name, fresh=True)
    R, n = RESTARTS, len(y)
    Xt = torch.as_tensor(X, dtype=torch.float32).expand(R, -1, -1)
    yt = torch.as_tensor(y).repeat(R)
    gen = torch.Generator().manual_seed(seed)
    sizes = [X.shape[1]] + [width] * depth + [2]
    weights, biases = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        weights.append((torch.randn(R, fan_in, fan_out, generator=gen) * np.sqrt(2.0 / fan_in))
                       .requires_grad_())
        # A small positive bias keeps more ReLUs active at the start.
        biases.append(torch.full((R, 1, fan_out), 0.1, requires_grad=True))
    optimiser = torch.optim.Adam(weights + biases, lr=0.02)

    def forward(h):
        for i, (W, b) in enumerate(zip(weights, biases)):
            h = torch.baddbmm(b, h, W)
            if i < len(weights) - 1:
                h = torch.relu(h)
        return h

    ce = torch.nn.functional.cross_entropy
    for _ in range(steps):
        # Sum over the restarts of each one's mean loss: their gradients stay independent.
        loss = ce(forward(Xt).reshape(-1, 2), yt, reduction="sum") / n
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        per_start = ce(forward(Xt).reshape(-1, 2), yt, reduction="none").reshape(R, n).mean(dim=1)
    best = int(torch.argmin(per_start))
    params = []
    for W, b in zip(weights, biases):
        Wn, bn = W[best].detach().double().numpy().copy(), b[best, 0].detach().double().numpy().copy()
        Wn.flags.writeable = bn.flags.writeable = False
        params.append((Wn, bn))
    accuracy = lambda A, t: float(np.mean((mlp_probability(params, A) > 0.5) == (t == 1)))  # noqa: E731
    return {"params": params, "train_accuracy": accuracy(X, y),
            "fresh_accuracy": accuracy(X_fresh, y_fresh), "loss": float(per_start[best]),
            "parameters": mlp_parameter_count(width, depth)}


def width_depth_title(name, width, depth, result):
    layers = "1 hidden layer" if depth == 1 else f"{depth} hidden layers"
    return (f"{name}: {layers} of {width} ReLUs, {result['parameters']} parameters\n"
            f"training accuracy {result['train_accuracy']:.1%}, "
            f"fresh points {result['fresh_accuracy']:.1%}")


def draw_width_depth(dataset_name="spirals", width=8, depth=1):
    """Decision boundary of the network trained for these controls (a matplotlib Figure)."""
    from dlcourse.plot import decision_boundary

    result = train_mlp(dataset_name, int(width), int(depth))
    X, y = dataset(dataset_name)
    fig = new_figure(5.4, 4.9)
    ax = fig.add_subplot(1, 1, 1)
    decision_boundary(lambda P: mlp_probability(result["params"], P), X, y, ax=ax, steps=150,
                      title=width_depth_title(dataset_name, width, depth, result))
    ax.title.set_fontsize(10.5)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.1, top=0.88)
    return fig


def width_depth_boundary():
    """Hidden width and depth of a trained network vs its decision boundary."""
    return Widget(
        draw_width_depth,
        {
            "dataset_name": Choice("data set", list(DATASET_NAMES), "spirals"),
            "width": Choice("hidden width", list(WIDTHS), 8),
            "depth": Choice("hidden layers", list(DEPTHS), 1),
        },
        title="Width and depth bend the decision boundary",
        caption="Each picture is a ReLU network trained for 600 steps of full-batch Adam on the "
                "points shown (the best of four fixed random starts). Shading: the network's probability of class "
                "1; black curve: where it is 0.5. The title counts the parameters and gives the "
                "accuracy on the training points and on fresh points from the same distribution.",
    )


# ---------------------------------------------------------------------------------------------
# Initialisation vs the spread of activations through a deep stack
# ---------------------------------------------------------------------------------------------

INIT_LABELS = {"zero": "zero", "too small (std 0.01)": "small", "Xavier": "xavier", "He": "he"}
INIT_NAMES = tuple(INIT_LABELS.values())
STACK_DEPTH, STACK_WIDTH, STACK_BATCH = 20, 256, 512


def init_std(kind, fan_in, fan_out):
    """The standard deviation of the zero-mean normal weights each initialisation draws."""
    if kind == "zero":
        return 0.0
    if kind == "small":
        return 0.01
    if kind == "xavier":
        return float(np.sqrt(2.0 / (fan_in + fan_out)))
    if kind == "he":
        return float(np.sqrt(2.0 / fan_in))
    raise ValueError(f"unknown initialisation {kind!r}: use one of {', '.join(INIT_NAMES)}")


@functools.lru_cache(maxsize=None)
def activation_stats(init, activation, depth=STACK_DEPTH, width=STACK_WIDTH, batch=STACK_BATCH,
                     seed=0):
    """Push a fixed batch of standard normal inputs (batch, width) through ``depth`` layers
    ``h <- f(h @ W)`` (biases zero) with weights drawn by ``init``.

    Returns a dict of read-only arrays, one entry per layer: ``std`` (standard deviation of all
    the layer's activations) and ``percentiles`` (depth, 5): the 5th, 25th, 50th, 75th and 95th
    percentiles of its values. The inputs and the weights come from one generator seeded with
    ``seed``; the same arguments always give the same numbers.
    """
    if activation not in ("tanh", "relu"):
        raise ValueError(f"unknown activation {activation!r}: use 'tanh' or 'relu'")
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((batch, width))
    stds, pcts = [], []
    for _ in range(depth):
        W = init_std(init, width, width) * rng.standard_normal((width, width))
        z = h @ W
        h = np.tanh(z) if activation == "tanh" else _relu(z)
        stds.append(h.std())
        pcts.append(np.percentile(h, [5, 25, 50, 75, 95]))
    out = {"std": np.array(stds), "percentiles": np.array(pcts)}
    for a in out.values():
        a.flags.writeable = False
    return out


INIT_COLOURS = {"zero": "#777777", "small": "#1b9e77", "xavier": "#7570b3", "he": "#d95f02"}
STD_FLOOR = 1e-20  # where an exact zero is drawn on the logarithmic axis


def draw_init_spread(init="xavier", activation="tanh"):
    """Spread of the activations through the stack for one setting (a matplotlib Figure)."""
    label_of = {v: k for k, v in INIT_LABELS.items()}
    stats = activation_stats(init, activation)
    layers = np.arange(1, STACK_DEPTH + 1)

    fig = new_figure(9.6, 4.2)
    gs = fig.add_gridspec(1, 2, width_ratios=[1.0, 1.15], wspace=0.28,
                          left=0.08, right=0.98, bottom=0.3, top=0.84)
    ax, ax_b = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])

    # Left: the standard deviation per layer, this setting bold, the other three faint.
    for kind in INIT_NAMES:
        std = activation_stats(kind, activation)["std"]
        chosen = kind == init
        ax.plot(layers, np.maximum(std, STD_FLOOR), "o-" if chosen else "-",
                color=INIT_COLOURS[kind], lw=2.4 if chosen else 1.0, ms=3.5,
                alpha=1.0 if chosen else 0.45, zorder=3 if chosen else 2,
                label=label_of[kind] + ("  (0 drawn at the bottom)" if kind == "zero" else ""))
    ax.set_yscale("log")
    ax.set_ylim(STD_FLOOR / 3, 30)
    ax.set_yticks([1e-20, 1e-15, 1e-10, 1e-5, 1])
    ax.set_xlim(0.5, STACK_DEPTH + 0.5)
    ax.set_xticks([1, 5, 10, 15, 20])
    ax.set_xlabel("layer")
    ax.set_ylabel("std of the activations")
    ax.set_title(f"Spread per layer, {activation} (log scale)", fontsize=10.5)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)

    # Right: what the values look like, layer by layer, on an ordinary axis.
    p = stats["percentiles"]
    colour = INIT_COLOURS[init]
    ax_b.fill_between(layers, p[:, 0], p[:, 4], color=colour, alpha=0.25, lw=0,
                      label="5th to 95th percentile")
    ax_b.fill_between(layers, p[:, 1], p[:, 3], color=colour, alpha=0.55, lw=0,
                      label="25th to 75th percentile")
    ax_b.plot(layers, p[:, 2], color=colour, lw=1.5, label="median")
    ax_b.axhline(0, color="k", lw=0.6)
    ax_b.set_xlim(1, STACK_DEPTH)
    ax_b.set_xticks([1, 5, 10, 15, 20])
    ax_b.set_ylim(*((-1.05, 1.05) if activation == "tanh" else (-0.1, 3.6)))
    ax_b.set_xlabel("layer")
    ax_b.set_ylabel("activation value")
    ax_b.set_title("Where the values lie", fontsize=10.5)
    ax_b.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)

    std = stats["std"]
    fig.suptitle(f"{label_of[init]} init, {activation}: std {std[0]:.2g} at layer 1, "
                 f"{std[-1]:.2g} at layer {STACK_DEPTH}", fontsize=11.5)
    return fig


def init_spread():
    """Initialisation and activation vs the spread of activations through 20 layers."""
    return Widget(
        draw_init_spread,
        {
            "init": Choice("initialisation", INIT_LABELS, "xavier"),
            "activation": Choice("activation", ["tanh", "relu"], "tanh"),
        },
        title="Initialisation and the spread of activations",
        caption=f"A batch of {STACK_BATCH} random inputs flows through {STACK_DEPTH} layers of "
                f"{STACK_WIDTH} units (no biases). Left: the standard deviation of each layer's "
                "activations, on a logarithmic axis, for the chosen initialisation (bold) and the "
                "other three (faint). Right: percentiles of the values in each layer.",
    )
