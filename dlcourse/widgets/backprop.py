"""Widgets of chapter 3 (03-backprop): how networks learn.

- ``gradient_descent()``: gradient descent, with or without momentum, on a two-valley loss surface
  ``f(x, y)``. The picture is the path of the steps over the surface's contour lines, with the loss
  after every step beside it; the title gives the number of steps and the final loss (or the
  step at which the run diverged).
- ``backprop_steps()``: one sigmoid neuron with a squared error, ``L = (sigmoid(w1*x1 + w2*x2 + b)
  - y)^2``, drawn as a computational graph. A "step" control walks through the forward pass node
  by node and then the backward pass node by node; every box shows its value and, once it has
  one, its gradient, and a line of text gives the arithmetic of the current step.
- ``optimiser_race()``: plain gradient descent (SGD), SGD with momentum and Adam, started from
  the same point of a narrow quadratic ravine, for a chosen learning rate and number of steps;
  their paths on the contour plot and their losses against the step. The ravine can be aligned
  with the axes or tilted.

Each widget is a pure drawing function (``draw_descent``, ``draw_backprop``, ``draw_race``: its
controls in, a matplotlib Figure out) wrapped in a ``Widget``. No display at import; the only state
is a cache of optimiser runs, which are deterministic (same controls, same numbers).
"""
import functools
from types import MappingProxyType

import numpy as np

from dlcourse.widgets import Choice, Slider, Widget, new_figure, one_torch_thread

ORANGE, BLUE, GREEN, RED, GREY = "#e66101", "#2166ac", "#1b7837", "#b2182b", "#999999"


def _log_axis(ax, lo_exp, hi_exp, every):
    """A logarithmic y axis from 10^lo_exp to 10^hi_exp with plain-text labels ("1e-4"): the
    default labels are mathtext, which takes most of the time a frame needs."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    ax.set_yscale("log")
    ax.set_ylim(10.0 ** lo_exp, 10.0 ** hi_exp)
    ax.yaxis.set_major_locator(FixedLocator([10.0 ** k for k in range(lo_exp, hi_exp + 1, every)]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "1" if v == 1 else f"1e{round(np.log10(v))}"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_formatter(NullFormatter())


def _until_outside(path, box, margin=1.0):
    """The start of ``path`` up to and including its first point beyond ``box`` (enlarged by
    ``margin``): enough to show where a diverging run heads, without drawing huge zigzags."""
    x0, x1, y0, y1 = box
    outside = ((path[:, 0] < x0 - margin) | (path[:, 0] > x1 + margin) |
               (path[:, 1] < y0 - margin) | (path[:, 1] > y1 + margin))
    return path[: int(np.argmax(outside)) + 1] if outside.any() else path


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------------------------------------
# Gradient descent on a two-valley surface
# ---------------------------------------------------------------------------------------------

SURFACE_TILT = 0.15      # makes the left valley deeper than the right one
SURFACE_STEEPNESS = 10.0  # curvature across the valleys (in y); along them it is about 2
# The stationary points on the x axis solve x^3 - x + SURFACE_TILT = 0 (where df/dx = 0).
SURFACE_CRITICAL_X = tuple(float(r) for r in np.sort(np.roots([1.0, 0.0, -1.0, SURFACE_TILT]).real))
_x0 = SURFACE_CRITICAL_X[0]
SURFACE_OFFSET = -(0.25 * (_x0 ** 2 - 1) ** 2 + SURFACE_TILT * _x0)  # the lowest loss becomes 0
GLOBAL_MINIMUM = (SURFACE_CRITICAL_X[0], 0.0)  # left valley, loss 0
LOCAL_MINIMUM = (SURFACE_CRITICAL_X[2], 0.0)   # right valley, loss about 0.30
RIDGE = (SURFACE_CRITICAL_X[1], 0.0)           # the saddle point between them, loss about 0.42

START_POINTS = {"right slope (2, 1)": (2.0, 1.0), "left slope (−2, −1)": (-2.0, -1.0),
                "near the ridge (0.1, 1.2)": (0.1, 1.2)}
GD_STEPS = 60
DIVERGED_LOSS = 1e6
GD_BOX = (-2.5, 2.5, -1.5, 1.5)


def surface_loss(x, y):
    """The widget's loss surface, ``0.25 (x^2 - 1)^2 + 0.15 x + 5 y^2`` shifted so its lowest
    value is 0: two valleys along the x axis, the left one deeper, with steep walls in y."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    value = 0.25 * (x ** 2 - 1) ** 2 + SURFACE_TILT * x + 0.5 * SURFACE_STEEPNESS * y ** 2
    return np.maximum(value + SURFACE_OFFSET, 0.0)  # clip rounding errors just below 0


def surface_gradient(x, y):
    """``(df/dx, df/dy)`` of ``surface_loss``."""
    return np.array([x * (x ** 2 - 1) + SURFACE_TILT, SURFACE_STEEPNESS * y])


def descend(lr, momentum=0.0, start=(2.0, 1.0), steps=GD_STEPS):
    """Gradient descent with momentum on ``surface_loss`` from ``start``.

    The convention of this course (and of ``torch.optim.SGD``): ``v <- momentum * v + g`` and
    ``p <- p - lr * v``, with ``v`` starting at zero; ``momentum=0`` is plain gradient descent.
    The run stops early when the loss exceeds ``DIVERGED_LOSS``.

    Returns a dict: ``path`` (k + 1, 2), the points visited, start included; ``losses`` (k + 1,);
    ``steps`` (k, the steps taken) and ``diverged`` (bool).
    """
    p = np.array(start, dtype=float)
    v = np.zeros(2)
    path, losses = [p.copy()], [float(surface_loss(*p))]
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            v = momentum * v + surface_gradient(*p)
            p = p - lr * v
            path.append(p.copy())
            losses.append(float(surface_loss(*p)))
            if not np.isfinite(losses[-1]) or losses[-1] > DIVERGED_LOSS:
                diverged = True
                break
    return {"path": np.array(path), "losses": np.array(losses), "steps": len(path) - 1,
            "diverged": diverged}


def descent_title(lr, momentum, result):
    head = f"learning rate {lr:g}, momentum {momentum:g}: "
    if result["diverged"]:
        return head + f"diverged, loss above 10^6 after {result['steps']} steps"
    x, y = (f"{v:.2f}".replace("-0.00", "0.00") for v in result["path"][-1])
    return head + f"{result['steps']} steps, final loss {result['losses'][-1]:.3g} at ({x}, {y})"


def draw_descent(lr=0.05, momentum=0.0, start=(2.0, 1.0)):
    """The path of ``descend(lr, momentum, start)`` over the surface (a matplotlib Figure)."""
    result = descend(lr, momentum, tuple(start))
    x0, x1, y0, y1 = GD_BOX
    gx, gy = np.meshgrid(np.linspace(x0, x1, 201), np.linspace(y0, y1, 121))
    fig = new_figure(10.0, 4.0)
    gs = fig.add_gridspec(1, 2, width_ratios=[1.75, 1.0], wspace=0.25,
                          left=0.06, right=0.98, bottom=0.14, top=0.84)
    ax, ax_loss = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])

    Z = surface_loss(gx, gy)
    # Colour by the logarithm of the loss (a raster: quick to draw), with contour lines on top.
    ax.imshow(np.log10(Z + 0.01), extent=GD_BOX, origin="lower", aspect="auto", cmap="Blues_r",
              vmin=-2.2, vmax=1.6, alpha=0.75, interpolation="bilinear")
    ax.contour(gx, gy, Z, levels=np.geomspace(0.02, 20, 11), colors="k", linewidths=0.45, alpha=0.5)
    for point, name in [(GLOBAL_MINIMUM, "lowest point"), (LOCAL_MINIMUM, "local minimum")]:
        ax.plot(*point, "x", color="k", ms=9, mew=2)
        ax.annotate(name, point, xytext=(0, -16), textcoords="offset points", ha="center",
                    fontsize=8)
    path = _until_outside(result["path"], GD_BOX)
    ax.plot(path[:, 0], path[:, 1], "-o", color=ORANGE, lw=1.3, ms=2.8, zorder=3)
    ax.plot(*path[0], "o", color=GREEN, ms=8, zorder=4, label="start")
    if not result["diverged"]:
        ax.plot(*path[-1], "*", color=RED, ms=13, zorder=4, label=f"after {result['steps']} steps")
    else:
        ax.text(0.25, 0.86, "diverging: the steps grow\nand leave the picture", transform=ax.transAxes,
                ha="center", va="center", fontsize=11, color=RED,
                bbox=dict(facecolor="white", alpha=0.85, edgecolor=RED))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Path over the contour lines of the loss", fontsize=10.5)

    losses = np.maximum(result["losses"], 1e-10)
    ax_loss.plot(np.arange(len(losses)), losses, "-o", color=ORANGE, ms=2.5, lw=1.2)
    ax_loss.axhline(float(surface_loss(*LOCAL_MINIMUM)), color=GREY, ls="--", lw=1,
                    label="loss at the local minimum")
    ax_loss.set_xlim(0, GD_STEPS)
    _log_axis(ax_loss, -10, 6, 2)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss (log scale)")
    ax_loss.legend(fontsize=8, loc="upper right")
    ax_loss.set_title("Loss after each step", fontsize=10.5)
    fig.suptitle(descent_title(lr, momentum, result), fontsize=11.5)
    return fig


def gradient_descent():
    """Learning rate, momentum and start point vs the path of gradient descent."""
    return Widget(
        draw_descent,
        {
            "lr": Slider("learning rate", 0.005, 0.25, 0.005, 0.05, static=[0.01, 0.05, 0.1, 0.18, 0.22]),
            "momentum": Slider("momentum", 0.0, 0.95, 0.05, 0.0, static=[0.0, 0.5, 0.9]),
            "start": Choice("start", START_POINTS, START_POINTS["right slope (2, 1)"]),
        },
        title="Gradient descent on a loss surface with two valleys",
        caption=f"f(x, y) = 0.25 (x² − 1)² + 0.15 x + 5 y², shifted so that its lowest value is 0. "
                f"{GD_STEPS} steps of v ← momentum·v + ∇f, (x, y) ← (x, y) − learning rate·v, from "
                "the green dot. Darker blue is lower. The walls across the valleys (in y) are five "
                "times steeper than the slopes along them.",
    )


# ---------------------------------------------------------------------------------------------
# Backpropagation step by step through one neuron
# ---------------------------------------------------------------------------------------------

NEURON_WEIGHTS = {"w1": 0.8, "w2": -0.4, "b": 0.2}
EXAMPLES = {"x = (1, 0.5), target y = 1": (1.0, 0.5, 1.0),
            "x = (2, −1), target y = 0": (2.0, -1.0, 0.0),
            "x = (−3, 4), target y = 1": (-3.0, 4.0, 1.0)}
# The graph: (node, operation, inputs), in the order the forward pass computes them. The loss
# multiplies e by itself, so e feeds the last node twice.
GRAPH = (("m1", "mul", ("w1", "x1")),
         ("m2", "mul", ("w2", "x2")),
         ("s", "add", ("m1", "m2")),
         ("z", "add", ("s", "b")),
         ("p", "sigmoid", ("z",)),
         ("e", "sub", ("p", "y")),
         ("L", "mul", ("e", "e")))
LEAVES = ("x1", "w1", "x2", "w2", "b", "y")
FORMULAS = {"m1": "m1 = w1·x1", "m2": "m2 = w2·x2", "s": "s = m1 + m2", "z": "z = s + b",
            "p": "p = σ(z)", "e": "e = p − y", "L": "L = e·e"}
BACKPROP_STEPS = 2 * len(GRAPH) + 2  # the leaves, 7 forward steps, the seed, 7 backward steps


def _leaf_values(example):
    x1, x2, y = example
    return {"x1": x1, "x2": x2, "y": y, **NEURON_WEIGHTS}


def _local_derivatives(op, inputs, values, out):
    """d(out)/d(input) for each input of one node, given the values of the forward pass."""
    if op == "mul":
        a, b = inputs
        return (values[b], values[a])
    if op == "add":
        return (1.0, 1.0)
    if op == "sub":
        return (1.0, -1.0)
    if op == "sigmoid":
        return (out * (1.0 - out),)
    raise ValueError(op)


def neuron_forward_backward(example):
    """Every value and every gradient ``dL/d(node)`` of the widget's graph for ``example``
    ``(x1, x2, y)``: two dicts, node name -> number."""
    last = trace_backprop(tuple(example))[-1]
    return dict(last["values"]), dict(last["grads"])


@functools.lru_cache(maxsize=None)
def trace_backprop(example):
    """The widget's steps for ``example`` ``(x1, x2, y)``: a tuple of ``BACKPROP_STEPS``
    read-only dicts with ``phase`` ('start', 'forward', 'seed' or 'backward'), ``node`` (the node
    worked on, None at the start), ``touched`` (the nodes it reads (forward) or passes gradient
    to (backward)), ``values`` and ``grads`` (what is known after the step) and ``text``, the
    step's arithmetic. Gradients are accumulated with += in reverse topological order. Cached."""
    values = _leaf_values(example)
    steps = [{"phase": "start", "node": None, "touched": (), "values": dict(values), "grads": {},
              "text": "The inputs x1, x2, the weights w1, w2, the bias b and the target y are "
                      "given. Nothing is computed yet."}]
    for name, op, inputs in GRAPH:
        args = [values[i] for i in inputs]
        if op == "mul":
            out = args[0] * args[1]
            text = f"{FORMULAS[name]} = {_n(args[0])} × {_n(args[1])} = {_n(out)}"
        elif op == "add":
            out = args[0] + args[1]
            text = f"{FORMULAS[name]} = {_n(args[0])} + {_n(args[1])} = {_n(out)}"
        elif op == "sub":
            out = args[0] - args[1]
            text = f"{FORMULAS[name]} = {_n(args[0])} − {_n(args[1])} = {_n(out)}"
        else:
            out = float(_sigmoid(args[0]))
            text = f"{FORMULAS[name]} = 1 / (1 + exp(−({_n(args[0])}))) = {_n(out)}"
        values[name] = out
        steps.append({"phase": "forward", "node": name, "touched": tuple(inputs),
                      "values": dict(values), "grads": {}, "text": text})
    grads = {"L": 1.0}
    steps.append({"phase": "seed", "node": "L", "touched": (), "values": dict(values),
                  "grads": dict(grads),
                  "text": f"The loss is L = {_n(values['L'])}. Its gradient with respect to "
                          "itself is ∂L/∂L = 1: the backward pass starts here."})
    for name, op, inputs in reversed(GRAPH):
        g = grads[name]
        local = _local_derivatives(op, inputs, values, values[name])
        for i, d in zip(inputs, local):
            grads[i] = grads.get(i, 0.0) + g * d  # += : a node used twice gets both
        steps.append({"phase": "backward", "node": name, "touched": tuple(dict.fromkeys(inputs)),
                      "values": dict(values), "grads": dict(grads),
                      "text": _backward_text(name, op, inputs, g, local, grads, values)})
    # Cached: hand out read-only views, so that no caller can change what later calls see.
    return tuple(MappingProxyType({**step, "values": MappingProxyType(step["values"]),
                                   "grads": MappingProxyType(step["grads"])}) for step in steps)


def _n(v):
    """A number as the widget writes it: three decimals, a true minus sign."""
    return f"{v:.3f}".replace("-", "−")


def _backward_text(name, op, inputs, g, local, grads, values):
    G = f"∂L/∂{name}"
    if op == "mul" and inputs[0] == inputs[1]:
        i = inputs[0]
        return (f"{FORMULAS[name]} uses {i} twice, and each use passes back {G} × (the other "
                f"factor) = {_n(g)} × {_n(local[0])}. They add up: ∂L/∂{i} = {_n(g * local[0])} + "
                f"{_n(g * local[1])} = {_n(grads[i])}")
    if op == "mul":
        a, b = inputs
        return (f"{FORMULAS[name]}: each input gets {G} times the other input. "
                f"∂L/∂{a} = {_n(g)} × {_n(values[b])} = {_n(grads[a])},  "
                f"∂L/∂{b} = {_n(g)} × {_n(values[a])} = {_n(grads[b])}")
    if op == "add":
        a, b = inputs
        return (f"{FORMULAS[name]}: a sum passes its gradient unchanged to both inputs. "
                f"∂L/∂{a} = ∂L/∂{b} = {G} = {_n(g)}")
    if op == "sub":
        a, b = inputs
        return (f"{FORMULAS[name]}: ∂L/∂{a} = {G} × 1 = {_n(grads[a])},  "
                f"∂L/∂{b} = {G} × (−1) = {_n(grads[b])}")
    (a,) = inputs
    p = values[name]
    return (f"{FORMULAS[name]}: the local derivative is σ'(z) = p(1 − p) = {_n(p)} × {_n(1 - p)} = "
            f"{_n(local[0])}, so ∂L/∂{a} = {_n(g)} × {_n(local[0])} = {_n(grads[a])}")


def backprop_title(example_label, step, info):
    n = len(GRAPH)
    if info["phase"] == "start":
        where = "before the forward pass"
    elif info["phase"] == "forward":
        where = f"forward pass, node {step} of {n}: {info['node']}"
    elif info["phase"] == "seed":
        where = "backward pass begins at the loss"
    else:
        where = f"backward pass, node {step - n - 1} of {n}: {info['node']}"
    return f"{example_label}: step {step} of {BACKPROP_STEPS - 1}, {where}"


# Where each node sits in the drawing: (x, y) of its box's centre.
NODE_XY = {"x1": (0.0, 4.2), "w1": (0.0, 3.0), "x2": (0.0, 1.8), "w2": (0.0, 0.6),
           "m1": (2.4, 3.6), "m2": (2.4, 1.2), "s": (4.8, 2.4), "b": (4.8, 0.5),
           "z": (7.2, 2.4), "p": (9.6, 2.4), "y": (9.6, 0.5), "e": (12.0, 2.4), "L": (14.7, 2.4)}
BOX_W, BOX_H = 1.8, 0.95


def draw_backprop(example=EXAMPLES["x = (1, 0.5), target y = 1"], step=0):
    """The graph after ``step`` steps of the forward and backward passes (a matplotlib Figure)."""
    import textwrap

    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    example, step = tuple(example), int(step)
    label = {v: k for k, v in EXAMPLES.items()}.get(example, f"x = ({example[0]:g}, {example[1]:g}), "
                                                            f"target y = {example[2]:g}")
    info = trace_backprop(example)[step]
    fig = new_figure(11.0, 4.9)
    ax = fig.add_axes([0.0, 0.16, 1.0, 0.74])
    ax.set_xlim(-1.1, 15.8)
    ax.set_ylim(-0.1, 4.8)
    ax.axis("off")

    current, touched = info["node"], set(info["touched"])
    backward = info["phase"] in ("seed", "backward")
    for name, op, inputs in GRAPH:
        for k, i in enumerate(inputs):
            (xa, ya), (xb, yb) = NODE_XY[i], NODE_XY[name]
            rad = 0.0 if inputs.count(i) == 1 else (0.7 if k == 0 else -0.7)
            active = name == current and i in touched
            colour = (BLUE if backward else ORANGE) if active else GREY
            arrow = FancyArrowPatch((xa + BOX_W / 2, ya), (xb - BOX_W / 2, yb),
                                    connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                                    mutation_scale=12, lw=2.2 if active else 1.0, color=colour,
                                    zorder=1)
            ax.add_patch(arrow)

    for name, (cx, cy) in NODE_XY.items():
        is_leaf = name in LEAVES
        if name == current:
            edge, lw = (BLUE if backward else ORANGE), 3.0
        elif name in touched:
            edge, lw = (BLUE if backward else ORANGE), 2.0
        else:
            edge, lw = "k", 0.8
        ax.add_patch(FancyBboxPatch((cx - BOX_W / 2, cy - BOX_H / 2), BOX_W, BOX_H,
                                    boxstyle="round,pad=0.02,rounding_size=0.12",
                                    facecolor="#f0f0f0" if is_leaf else "white",
                                    edgecolor=edge, lw=lw, zorder=2))
        head = name if is_leaf else FORMULAS[name]
        value = info["values"].get(name)
        grad = info["grads"].get(name)
        ax.text(cx, cy + 0.25, head, ha="center", va="center", fontsize=9, fontweight="bold",
                zorder=3)
        ax.text(cx, cy, "value " + (_n(value) if value is not None else "?"), ha="center",
                va="center", fontsize=8.5, color="k" if value is not None else GREY, zorder=3)
        ax.text(cx, cy - 0.26, "grad " + (_n(grad) if grad is not None else "?"), ha="center",
                va="center", fontsize=8.5, color=BLUE if grad is not None else GREY, zorder=3)

    fig.text(0.02, 0.1, "\n".join(textwrap.wrap(info["text"], 150)), ha="left", va="top",
             fontsize=9.5, family="DejaVu Sans")
    fig.text(0.02, 0.93, "grey boxes: inputs, weights and target;  orange: forward pass;  "
                         "blue: backward pass (grad = ∂L/∂node)", fontsize=8.5, color="#444444")
    fig.suptitle(backprop_title(label, step, info), fontsize=11.5, y=0.995)
    return fig


def backprop_steps():
    """The forward and backward passes through one neuron's graph, one node per step."""
    return Widget(
        draw_backprop,
        {
            "example": Choice("example", EXAMPLES, EXAMPLES["x = (1, 0.5), target y = 1"]),
            "step": Slider("step", 0, BACKPROP_STEPS - 1, 1, 0, static=list(range(BACKPROP_STEPS))),
        },
        title="Backpropagation, one node at a time",
        caption="A sigmoid neuron with weights w1 = 0.8, w2 = −0.4, bias b = 0.2 and a squared "
                "error L = (p − y)², written as e·e. Steps 1 to 7 compute the values from left to "
                "right; step 8 sets ∂L/∂L = 1; steps 9 to 15 pass gradients from right to left, each "
                "node multiplying the gradient it holds by its local derivatives.",
    )


# ---------------------------------------------------------------------------------------------
# Optimiser race on a ravine
# ---------------------------------------------------------------------------------------------

RAVINE_CURVATURES = (0.1, 10.0)   # gentle along the ravine, steep across it
RAVINE_TILT_DEGREES = 30.0
RACE_START = (-4.0, 1.0)          # in the ravine's own coordinates
RACE_MOMENTUM = 0.9
RACE_OPTIMISERS = ("SGD", "momentum", "Adam")
RACE_COLOURS = {"SGD": "#7570b3", "momentum": "#d95f02", "Adam": "#1b9e77"}
RAVINES = ("aligned", "tilted")
RACE_BOX = (-5.0, 5.0, -3.2, 3.2)


def _rotation(ravine):
    if ravine not in RAVINES:
        raise ValueError(f"unknown ravine {ravine!r}: use 'aligned' or 'tilted'")
    angle = np.deg2rad(RAVINE_TILT_DEGREES if ravine == "tilted" else 0.0)
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def ravine_hessian(ravine="aligned"):
    """The matrix ``H`` of the ravine ``f(p) = 0.5 p^T H p``: curvatures 0.1 and 10 along the
    axes (aligned) or along axes turned by 30 degrees (tilted)."""
    R = _rotation(ravine)
    return R @ np.diag(RAVINE_CURVATURES) @ R.T


def race_start(ravine="aligned"):
    """The start point: (-4, 1) in the ravine's own axes (so both ravines start at loss 5.8)."""
    return _rotation(ravine) @ np.array(RACE_START)


def ravine_loss(points, ravine="aligned"):
    """``0.5 p^T H p`` for one point ``(2,)`` or many ``(..., 2)``."""
    P = np.asarray(points, dtype=float)
    return 0.5 * np.einsum("...i,ij,...j->...", P, ravine_hessian(ravine), P)


@functools.lru_cache(maxsize=None)
def race(lr, steps, ravine="aligned"):
    """Run PyTorch's SGD, SGD with momentum 0.9 and Adam (betas 0.9, 0.999, eps 1e-8) for
    ``steps`` steps with learning rate ``lr`` on the ravine, from ``race_start(ravine)``, in
    float64. The gradient is exact: ``H p``.

    Returns a dict optimiser name -> dict ``path`` ((k + 1, 2), read-only), ``losses`` ((k + 1,),
    read-only), ``diverged`` (the loss passed ``DIVERGED_LOSS``; the run stops there). Cached.
    """
    with one_torch_thread():
        return _race(float(lr), int(steps), ravine)


def _race(lr, steps, ravine):
    import torch

    H = torch.tensor(ravine_hessian(ravine))
    out = {}
    for name in RACE_OPTIMISERS:
        p = torch.tensor(race_start(ravine), requires_grad=True)
        if name == "SGD":
            opt = torch.optim.SGD([p], lr=lr)
        elif name == "momentum":
            opt = torch.optim.SGD([p], lr=lr, momentum=RACE_MOMENTUM)
        else:
            opt = torch.optim.Adam([p], lr=lr, betas=(0.9, 0.999), eps=1e-8)
        path = [p.detach().numpy().copy()]
        diverged = False
        for _ in range(steps):
            with torch.no_grad():
                p.grad = H @ p
            opt.step()
            path.append(p.detach().numpy().copy())
            loss = ravine_loss(path[-1], ravine)
            if not np.isfinite(loss) or loss > DIVERGED_LOSS:
                diverged = True
                break
        path = np.array(path)
        losses = ravine_loss(path, ravine)
        path.flags.writeable = losses.flags.writeable = False
        out[name] = {"path": path, "losses": losses, "diverged": diverged}
    return out


def race_title(lr, steps, ravine, result):
    parts = []
    for name in RACE_OPTIMISERS:
        r = result[name]
        parts.append(f"{name} diverged" if r["diverged"] else f"{name} {r['losses'][-1]:.2g}")
    return f"{ravine} ravine, learning rate {lr:g}, {steps} steps. Final loss: " + ", ".join(parts)


def draw_race(lr=0.1, steps=100, ravine="aligned"):
    """Paths and losses of the three optimisers (a matplotlib Figure)."""
    result = race(float(lr), int(steps), ravine)
    x0, x1, y0, y1 = RACE_BOX
    gx, gy = np.meshgrid(np.linspace(x0, x1, 201), np.linspace(y0, y1, 131))
    Z = ravine_loss(np.stack([gx, gy], axis=-1), ravine)
    fig = new_figure(10.5, 4.2)
    gs = fig.add_gridspec(1, 2, width_ratios=[1.45, 1.0], wspace=0.22,
                          left=0.06, right=0.98, bottom=0.13, top=0.85)
    ax, ax_loss = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
    ax.imshow(np.log10(Z + 0.01), extent=RACE_BOX, origin="lower", cmap="Greys_r", vmin=-2.5,
              vmax=2.5, alpha=0.45, interpolation="bilinear")
    ax.contour(gx, gy, Z, levels=np.geomspace(0.01, 60, 12), colors="k", linewidths=0.4, alpha=0.5)
    ax.plot(0, 0, "x", color="k", ms=9, mew=2)
    start = race_start(ravine)
    ax.plot(*start, "o", color="k", ms=7, zorder=5)
    for name in RACE_OPTIMISERS:
        r = result[name]
        path = _until_outside(r["path"], RACE_BOX)
        ax.plot(path[:, 0], path[:, 1], "-", color=RACE_COLOURS[name], lw=1.4,
                alpha=0.9, zorder=3, label=name + (" (diverged)" if r["diverged"] else ""))
        if not r["diverged"]:
            ax.plot(*r["path"][-1], "o", color=RACE_COLOURS[name], ms=6, mec="k", zorder=4)
        losses = np.maximum(r["losses"], 1e-12)
        ax_loss.plot(np.arange(len(losses)), losses, color=RACE_COLOURS[name], lw=1.6, label=name)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xlabel("$p_1$")
    ax.set_ylabel("$p_2$")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Paths from the black dot (the minimum is at ×)", fontsize=10.5)
    ax_loss.set_xlim(0, steps)
    _log_axis(ax_loss, -12, 6, 3)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss (log scale)")
    ax_loss.legend(fontsize=8, loc="lower left")
    ax_loss.set_title("Loss after each step", fontsize=10.5)
    fig.suptitle(race_title(lr, steps, ravine, result), fontsize=11)
    return fig


def optimiser_race():
    """SGD, momentum and Adam on the same ravine, for one learning rate and number of steps."""
    return Widget(
        draw_race,
        {
            "lr": Slider("learning rate (all three)", 0.005, 0.25, 0.005, 0.1,
                         static=[0.01, 0.03, 0.1, 0.19, 0.21]),
            "steps": Slider("steps", 10, 300, 10, 100, static=[25, 50, 100, 200]),
            "ravine": Choice("ravine", list(RAVINES), "aligned"),
        },
        title="Optimiser race in a ravine",
        caption="f(p) = ½ pᵀHp with curvature 0.1 along the ravine and 10 across it, aligned with "
                "the axes or tilted by 30°. All three start at the black dot with the same learning "
                "rate: PyTorch's SGD, SGD with momentum 0.9, and Adam with its default betas.",
    )
