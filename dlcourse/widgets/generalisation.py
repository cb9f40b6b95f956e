"""Widget of chapter 3 (03-backprop), section 12: generalisation.

- ``generalisation_explorer()``: a wide MLP (64-256-10, ReLU) trained on the first ``n_train``
  images of the digits' training part, with an L2 weight-decay penalty of strength
  ``weight_decay``; the picture shows its training and validation loss after every epoch (log
  scale) and its training and validation accuracy, with the epoch of the lowest validation loss
  marked (where early stopping would stop). The title gives the numbers.

The data: ``dlcourse.data.digits("train")`` (1,437 images) split once, stratified and seeded, into
1,137 images to train on and 300 validation images (``validation_split``); the 360 test images
are never used here. The training images come in an order that cycles through the ten classes
(``training_subset``), so the first ``n`` hold ``n / 10`` images of each class, give or take one.

The drawing function ``draw_curves`` (controls in, a matplotlib Figure out) is wrapped in a
``Widget``. No display at import; the only state is caches of deterministic computations: the
split and the training runs (same controls, same numbers).
"""
import functools

import numpy as np

from dlcourse.widgets import Choice, Slider, Widget, new_figure, one_torch_thread

ORANGE, BLUE, GREY = "#e66101", "#2166ac", "#999999"

VALIDATION_SIZE = 300       # images held out of the 1,437 training digits
SPLIT_SEED = 0
HIDDEN = 256                # 64-256-10: 19,210 parameters
EPOCHS = 120
LEARNING_RATE = 0.01        # Adam, one full batch per epoch
TRAIN_SIZES = (50, 100, 200, 500, 1137)
WEIGHT_DECAYS = {"0 (none)": 0.0, "0.001": 0.001, "0.01": 0.01, "0.1": 0.1}
LOSS_RANGE = (-4, 1)        # the loss axis, powers of 10


@functools.lru_cache(maxsize=None)
def validation_split():
    """The digits' 1,437 training images split into 1,137 to train on and 300 to validate on:
    stratified by class, seed ``SPLIT_SEED``. Returns read-only numpy arrays
    ``(X_fit, y_fit, X_val, y_val)``, images flat (n, 64) in [0, 1], labels int64."""
    from sklearn.model_selection import train_test_split

    from dlcourse import data

    X, y = data.digits("train")
    X_fit, X_val, y_fit, y_val = train_test_split(X, y, test_size=VALIDATION_SIZE, stratify=y,
                                                  random_state=SPLIT_SEED)
    for a in (X_fit, y_fit, X_val, y_val):
        a.flags.writeable = False
    return X_fit, y_fit, X_val, y_val


@functools.lru_cache(maxsize=None)
def _class_cycle():
    y_fit = validation_split()[1]
    rng = np.random.default_rng(SPLIT_SEED)
    per_class = [rng.permutation(np.flatnonzero(y_fit == c)) for c in range(10)]
    longest = max(len(p) for p in per_class)
    order = np.array([p[i] for i in range(longest) for p in per_class if i < len(p)])
    order.flags.writeable = False
    return order


def training_subset(n):
    """Indices of the first ``n`` training images (into ``validation_split()``'s ``X_fit``), in an
    order that cycles through the classes: each class has ``n // 10`` or one more, and the
    images for ``n`` include those for every smaller ``n``."""
    order = _class_cycle()
    if not 10 <= n <= len(order):
        raise ValueError(f"n_train={n}: choose between 10 and {len(order)} training images.")
    return order[:n]


def build_mlp():
    """The widget's network: 64 inputs, one hidden layer of ``HIDDEN`` ReLU units, 10 scores."""
    from torch import nn

    return nn.Sequential(nn.Linear(64, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 10))


def penalised_loss(model, X, y, weight_decay):
    """Cross-entropy plus the L2 penalty ``weight_decay / 2 * (sum of squared weights)`` over the
    weight matrices (not the biases). Returns ``(total, cross_entropy, logits)``."""
    import torch.nn.functional as F
    from torch import nn

    logits = model(X)
    ce = F.cross_entropy(logits, y)
    if not weight_decay:
        return ce, ce, logits
    squares = sum((m.weight ** 2).sum() for m in model if isinstance(m, nn.Linear))
    return ce + 0.5 * weight_decay * squares, ce, logits


@functools.lru_cache(maxsize=None)
def learning_curves(n_train, weight_decay, seed=0):
    """Train ``build_mlp()`` on ``training_subset(n_train)`` with Adam (learning rate
    ``LEARNING_RATE``, the whole subset as one batch, so one step per epoch) for ``EPOCHS``
    epochs, minimising ``penalised_loss``; on the CPU, one thread, initial weights from ``seed``
    (the global random state is left as it was).

    Returns a dict of read-only arrays indexed by epoch 0 .. ``EPOCHS`` (0: the initial weights):
    ``train_loss`` and ``val_loss`` (cross-entropy, without the penalty), ``train_accuracy`` and
    ``val_accuracy``; and ``best_epoch``, the epoch of the lowest validation loss. Cached.
    """
    import torch

    with one_torch_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _train(int(n_train), float(weight_decay))


def _train(n_train, weight_decay):
    import torch
    import torch.nn.functional as F

    X_fit, y_fit, X_val, y_val = validation_split()
    idx = training_subset(n_train)
    # torch.tensor copies: the cached arrays are read-only, and torch warns about sharing those.
    X = torch.tensor(X_fit[idx], dtype=torch.float32)
    y = torch.tensor(y_fit[idx])
    Xv = torch.tensor(X_val, dtype=torch.float32)
    yv = torch.tensor(y_val)
    model = build_mlp()
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    curves = {k: [] for k in ("train_loss", "val_loss", "train_accuracy", "val_accuracy")}

    def record_validation():
        with torch.no_grad():
            logits = model(Xv)
            curves["val_loss"].append(F.cross_entropy(logits, yv).item())
            curves["val_accuracy"].append((logits.argmax(dim=1) == yv).float().mean().item())

    for epoch in range(EPOCHS + 1):
        record_validation()
        total, ce, logits = penalised_loss(model, X, y, weight_decay)
        curves["train_loss"].append(ce.item())
        curves["train_accuracy"].append((logits.argmax(dim=1) == y).float().mean().item())
        if epoch == EPOCHS:
            break
        optimiser.zero_grad()
        total.backward()
        optimiser.step()
    out = {k: np.array(v) for k, v in curves.items()}
    for a in out.values():
        a.flags.writeable = False
    out["best_epoch"] = int(np.argmin(out["val_loss"]))
    return out


def _log_axis(ax, lo_exp, hi_exp):
    """A log y axis with plain-text labels (mathtext labels take most of a frame's time)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    ax.set_yscale("log")
    ax.set_ylim(10.0 ** lo_exp, 10.0 ** hi_exp)
    ax.yaxis.set_major_locator(FixedLocator([10.0 ** k for k in range(lo_exp, hi_exp + 1)]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_formatter(NullFormatter())


def curves_title(n_train, weight_decay, result):
    best = result["best_epoch"]
    return (f"{n_train} training images, weight decay {weight_decay:g}: validation loss lowest "
            f"({result['val_loss'][best]:.3f}) at epoch {best}, {result['val_loss'][-1]:.3f} at "
            f"epoch {EPOCHS}\nafter {EPOCHS} epochs: training accuracy "
            f"{result['train_accuracy'][-1]:.1%}, validation accuracy {result['val_accuracy'][-1]:.1%}")


def draw_curves(n_train=200, weight_decay=0.0):
    """Training and validation curves of ``learning_curves(n_train, weight_decay)`` (a Figure)."""
    n_train, weight_decay = int(n_train), float(weight_decay)
    result = learning_curves(n_train, weight_decay)
    epochs = np.arange(EPOCHS + 1)
    best = result["best_epoch"]
    fig = new_figure(10.5, 4.0)
    gs = fig.add_gridspec(1, 2, wspace=0.25, left=0.07, right=0.98, bottom=0.13, top=0.8)
    ax_loss, ax_acc = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])

    lo = 10.0 ** LOSS_RANGE[0]
    ax_loss.plot(epochs, np.maximum(result["train_loss"], lo), color=BLUE, lw=1.8, label="training")
    ax_loss.plot(epochs, result["val_loss"], color=ORANGE, lw=1.8, label="validation")
    ax_loss.plot(best, result["val_loss"][best], "*", color="k", ms=12, zorder=4,
                 label=f"lowest validation loss (epoch {best})")
    ax_loss.axvline(best, color=GREY, ls="--", lw=1)
    _log_axis(ax_loss, *LOSS_RANGE)
    ax_loss.set_xlim(0, EPOCHS)
    ax_loss.set_xlabel("epoch (one full-batch step each)")
    ax_loss.set_ylabel("cross-entropy (log scale)")
    ax_loss.set_title("Loss", fontsize=10.5)
    ax_loss.legend(fontsize=8, loc="lower left")

    ax_acc.plot(epochs, 100 * result["train_accuracy"], color=BLUE, lw=1.8, label="training")
    ax_acc.plot(epochs, 100 * result["val_accuracy"], color=ORANGE, lw=1.8, label="validation")
    ax_acc.axvline(best, color=GREY, ls="--", lw=1)
    ax_acc.set_xlim(0, EPOCHS)
    ax_acc.set_ylim(50, 101)
    ax_acc.set_xlabel("epoch (one full-batch step each)")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_title("Accuracy", fontsize=10.5)
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(fontsize=8, loc="lower right")
    fig.suptitle(curves_title(n_train, weight_decay, result), fontsize=10.5)
    return fig


def generalisation_explorer():
    """Training-set size and weight decay against training and validation curves."""
    return Widget(
        draw_curves,
        {
            "n_train": Slider("training images", 50, 1137, 1, 200, static=list(TRAIN_SIZES)),
            "weight_decay": Choice("weight decay λ", WEIGHT_DECAYS, 0.0),
        },
        title="Overfitting: training-set size and weight decay",
        caption=f"A 64-{HIDDEN}-10 ReLU network trained with Adam (learning rate {LEARNING_RATE:g}, "
                f"the whole training subset as one batch) for {EPOCHS} epochs on the first n of "
                "the 1,137 training digits (n/10 of each class), with the penalty λ/2 times the "
                "sum of its squared weights. Validation: the 300 held-out digits. The star marks "
                "the epoch that early stopping would keep.",
    )
