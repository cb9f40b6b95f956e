"""Widgets of chapter 1 (01-neuron): one artificial neuron, seen from two sides.

- ``neuron_playground()``: a two-input neuron. Its output is drawn as a colour over the input plane,
  with the decision boundary ``w1*x1 + w2*x2 + b = 0``, the weight vector (the boundary's normal)
  and a small labelled point set; a second panel shows the activation function with every point's
  pre-activation on it. Whatever the activation, the boundary stays a straight line.
- ``spam_detector()``: a three-input neuron with fixed weights that scores an e-mail; the picture
  shows each input's contribution, the weighted sum and the sigmoid output as a probability bar.

Each widget is a pure drawing function (``draw_playground``, ``draw_spam``: its controls in, a
matplotlib Figure out) wrapped in a ``Widget``. No display at import and no global state.
"""
import numpy as np

from dlcourse.widgets import Choice, Slider, Widget, new_figure

# ---------------------------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------------------------

ACTIVATION_NAMES = ("step", "sigmoid", "tanh", "relu")


def _sigmoid(z):
    """The logistic function, computed without overflow for any size of ``z``."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=float)))


def activate(z, activation):
    """Apply one of the activations in ``ACTIVATION_NAMES`` to the array ``z``."""
    z = np.asarray(z, dtype=float)
    if activation == "step":  # 1 where z > 0, else 0 (the chapter's convention, also at z = 0)
        return (z > 0).astype(float)
    if activation == "sigmoid":
        return _sigmoid(z)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "relu":
        return np.maximum(z, 0.0)
    raise ValueError(f"unknown activation {activation!r}: use one of {', '.join(ACTIVATION_NAMES)}")


# ---------------------------------------------------------------------------------------------
# Neuron playground
# ---------------------------------------------------------------------------------------------

PLANE_LIMIT = 3.0  # the playground shows the square [-3, 3] x [-3, 3]


def playground_points():
    """The playground's labelled points: 10 of class 0 and 10 of class 1, the same every call.

    They can be separated by a straight line (for example ``-x1 + 2*x2 = 0``), but not by
    every one: the reader's job is to find weights and a bias that put every point on its side.
    """
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 10)
    t = rng.uniform(-2.4, 2.4, size=20)  # position along the band
    offset = np.where(y == 1, 0.8, -0.8) + 0.35 * rng.standard_normal(20)
    # Two parallel bands of slope 1/2: class 1 above the line x2 = x1/2, class 0 below it.
    direction, normal = np.array([2.0, 1.0]) / np.sqrt(5.0), np.array([-1.0, 2.0]) / np.sqrt(5.0)
    side = np.where(y == 1, 1.0, -1.0)
    offset = side * np.maximum(side * offset, 0.35)  # keep a margin around the line
    X = t[:, None] * direction + offset[:, None] * normal
    return np.clip(X, -2.8, 2.8), y


def neuron_output(X, w1, w2, b, activation):
    """The neuron's output ``f(w1*x1 + w2*x2 + b)`` for each row of ``X`` (n, 2)."""
    X = np.asarray(X, dtype=float)
    return activate(X[:, 0] * w1 + X[:, 1] * w2 + b, activation)


def boundary_segment(w1, w2, b, limit=PLANE_LIMIT):
    """Two points of the line ``w1*x1 + w2*x2 + b = 0`` at the edges of the square ``[-limit, limit]^2``,
    as an array (2, 2); ``None`` when the weights are both zero (then there is no line) or when the
    line misses the square."""
    if w1 == 0 and w2 == 0:
        return None
    edges = np.array([-limit, limit])
    if abs(w2) >= abs(w1):  # mostly horizontal line: solve for x2 at the left and right edges
        solved = -(w1 * edges + b) / w2
        pts = np.column_stack([edges, solved])
    else:  # mostly vertical line: solve for x1 at the bottom and top edges
        solved = -(w2 * edges + b) / w1
        pts = np.column_stack([solved, edges])
    if np.all(solved > limit) or np.all(solved < -limit):
        return None
    return pts


def linear_formula(w1, w2, b):
    """``"z = 1·x1 − 0.5·x2 + 2"``: the pre-activation with its signs written out."""
    def term(value, name, first):
        sign = ("−" if value < 0 else "") if first else (" − " if value < 0 else " + ")
        return f"{sign}{abs(value):g}{'·' + name if name else ''}"

    return "z = " + term(w1, "x1", True) + term(w2, "x2", False) + term(b, "", False)


def _output_range(activation, w1, w2, b):
    if activation in ("step", "sigmoid"):
        return 0.0, 1.0
    if activation == "tanh":
        return -1.0, 1.0
    # relu: from 0 up to the largest value the plane reaches (at a corner)
    top = PLANE_LIMIT * (abs(w1) + abs(w2)) + b
    return 0.0, max(top, 1.0)


def draw_playground(w1=1.0, w2=1.0, b=0.0, activation="sigmoid", resolution=90):
    """The playground's picture for one setting of the controls (a matplotlib Figure)."""
    fig = new_figure(7.6, 3.4)
    gs = fig.add_gridspec(1, 2, width_ratios=[1.15, 1.0], wspace=0.42,
                          left=0.08, right=0.98, bottom=0.15, top=0.85)
    ax, ax_f = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
    L = PLANE_LIMIT

    # Left: the output over the plane.
    g = np.linspace(-L, L, resolution)
    xx, yy = np.meshgrid(g, g)
    out = neuron_output(np.column_stack([xx.ravel(), yy.ravel()]), w1, w2, b, activation)
    lo, hi = _output_range(activation, w1, w2, b)
    # relu is coloured from -top to top so that its flat zero half is white, like the middle
    # of the other activations; its colour bar shows only the part it uses.
    vmin = -hi if activation == "relu" else lo
    image = ax.imshow(out.reshape(xx.shape), origin="lower", extent=(-L, L, -L, L),
                      cmap="RdBu_r", vmin=vmin, vmax=hi, alpha=0.75, interpolation="bilinear")
    cbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    cbar.ax.set_ylim(lo, hi)
    cbar.set_ticks(np.linspace(lo, hi, 3))
    cbar.ax.tick_params(labelsize=9)
    cbar.set_label(f"output {activation}(z)", fontsize=10)

    X, y = playground_points()
    z_pts = X @ np.array([w1, w2]) + b
    correct = int(np.sum((z_pts > 0) == (y == 1)))
    ax.scatter(X[y == 0, 0], X[y == 0, 1], marker="o", s=26, c="#2166ac", edgecolors="white",
               linewidths=0.8, label="class 0", zorder=3)
    ax.scatter(X[y == 1, 0], X[y == 1, 1], marker="^", s=34, c="#b2182b", edgecolors="white",
               linewidths=0.8, label="class 1", zorder=3)

    seg = boundary_segment(w1, w2, b)
    if seg is not None:
        ax.plot(seg[:, 0], seg[:, 1], color="k", lw=2, zorder=4)
        # The weight vector drawn from the point of the line closest to the origin: it is the
        # line's normal and points to the side where z > 0.
        w = np.array([w1, w2])
        foot = -b * w / (w @ w)
        if np.all(np.abs(foot) < L):
            tip = foot + 0.9 * w / np.linalg.norm(w)
            ax.annotate("", xy=tip, xytext=foot, zorder=5,
                        arrowprops=dict(arrowstyle="-|>", color="k", lw=1.5))
            ax.text(*(tip + 0.15 * w / np.linalg.norm(w)), "w", fontsize=11, ha="center",
                    va="center", zorder=5)
        note = f"{correct} of {len(y)} points on their side"
    else:
        note = "w = 0: no boundary, the output is constant"
    ax.set_xlim(-L, L)
    ax.set_ylim(-L, L)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(f"{linear_formula(w1, w2, b)}\n{note}", fontsize=11)
    ax.legend(loc="lower right", fontsize=9, framealpha=0.8, handletextpad=0.2)

    # Right: the activation function, with every point's z on it.
    zs = np.linspace(-6, 6, 241)
    ax_f.plot(zs, activate(zs, activation), color="k", lw=1.5)
    z_clip = np.clip(z_pts, -6, 6)
    a_pts = activate(z_clip, activation)
    ax_f.scatter(z_clip[y == 0], a_pts[y == 0], marker="o", s=22, c="#2166ac",
                 edgecolors="white", linewidths=0.6, zorder=3)
    ax_f.scatter(z_clip[y == 1], a_pts[y == 1], marker="^", s=28, c="#b2182b",
                 edgecolors="white", linewidths=0.6, zorder=3)
    ax_f.axvline(0, color="grey", lw=0.8, ls="--")
    ax_f.set_xlim(-6, 6)
    ax_f.set_ylim(-1.15, 6.2 if activation == "relu" else 1.15)
    ax_f.set_xlabel("pre-activation z")
    ax_f.set_ylabel("output")
    ax_f.set_title(f"activation: {activation}", fontsize=11)
    ax.set_xticks([-2, 0, 2])
    ax.set_yticks([-2, 0, 2])
    ax_f.set_xticks([-5, 0, 5])
    ax_f.set_yticks([-1, 0, 1] if activation != "relu" else [0, 2, 4, 6])
    for a in (ax, ax_f):
        a.tick_params(labelsize=9)
        a.xaxis.label.set_size(10)
        a.yaxis.label.set_size(10)
    return fig


def neuron_playground():
    """A two-input neuron: weights, bias and activation -> its output over the plane."""
    return Widget(
        draw_playground,
        {
            "w1": Slider("weight w1", -2.0, 2.0, 0.1, 1.0, static=[-1.0, 0.0, 1.0, 2.0]),
            "w2": Slider("weight w2", -2.0, 2.0, 0.1, 1.0, static=[-1.0, 1.0, 2.0]),
            "b": Slider("bias b", -3.0, 3.0, 0.1, 0.0, static=[-1.0, 0.0, 1.0]),
            "activation": Choice("activation", list(ACTIVATION_NAMES), "sigmoid"),
        },
        title="Neuron playground",
        caption="Colour: the neuron's output at each point (x1, x2). Black line: the decision "
                "boundary w1*x1 + w2*x2 + b = 0, with the weight vector w as an arrow. Right: the "
                "activation, with each point's pre-activation z on it.",
    )


# ---------------------------------------------------------------------------------------------
# Spam detector
# ---------------------------------------------------------------------------------------------

SPAM_INPUTS = ("mentions money", "has suspicious links", "known sender")
SPAM_WEIGHTS = np.array([2.0, 3.0, -4.0])  # evidence for, for, against


def spam_score(money, links, known, bias):
    """The spam neuron's pre-activation ``z`` and probability ``sigmoid(z)`` for one e-mail."""
    x = np.array([money, links, known], dtype=float)
    z = float(SPAM_WEIGHTS @ x + bias)
    return z, float(_sigmoid(z))


def draw_spam(money=1, links=0, known=0, bias=-3.0):
    """The spam detector's picture for one e-mail and one bias (a matplotlib Figure)."""
    x = np.array([money, links, known], dtype=float)
    contributions = SPAM_WEIGHTS * x
    z, p = spam_score(money, links, known, bias)

    fig = new_figure(7.2, 3.1)
    gs = fig.add_gridspec(1, 2, width_ratios=[3.2, 1.0], wspace=0.45,
                          left=0.27, right=0.97, bottom=0.16, top=0.86)
    ax, ax_p = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])

    labels = [f"{name} = {v:g}\n(w = {w:+g})" for name, v, w in zip(SPAM_INPUTS, x, SPAM_WEIGHTS)]
    labels += ["bias b", "sum z"]
    values = np.concatenate([contributions, [bias, z]]) + 0.0  # + 0.0 turns -0.0 into 0.0
    colours = ["#b2182b" if v > 0 else "#2166ac" if v < 0 else "#bbbbbb" for v in values]
    ypos = np.arange(len(values))[::-1].astype(float)
    ypos[-1] -= 0.3  # a little gap before the total
    ax.barh(ypos, values, color=colours, edgecolor="k", linewidth=0.6, height=0.7)
    ax.axvline(0, color="k", lw=0.8)
    for yv, v in zip(ypos, values):
        ax.text(v + (0.15 if v >= 0 else -0.15), yv, f"{v:+.1f}", va="center",
                ha="left" if v >= 0 else "right", fontsize=10)
    ax.set_yticks(ypos)
    ax.set_yticklabels(labels, fontsize=10)
    ax.set_xlim(-9.5, 9.5)
    ax.set_xticks([-8, -4, 0, 4, 8])
    ax.set_xlabel("contribution to z  (w_i * x_i)", fontsize=10)
    ax.set_title("z = 2*money + 3*links - 4*known + b", fontsize=11)
    ax.tick_params(axis="x", labelsize=9)

    verdict = "SPAM" if z > 0 else "not spam" if z < 0 else "undecided"
    colour = "#b2182b" if z > 0 else "#2166ac" if z < 0 else "#999999"
    ax_p.bar([0], [p], color=colour, edgecolor="k", width=0.6)
    ax_p.bar([0], [1 - p], bottom=[p], color="#eeeeee", edgecolor="k", width=0.6)
    ax_p.axhline(0.5, color="k", ls="--", lw=1)
    ax_p.text(0.36, 0.52, "0.5", va="bottom", fontsize=9)
    ax_p.set_xlim(-0.5, 0.75)
    ax_p.set_ylim(0, 1)
    ax_p.set_yticks([0, 0.5, 1])
    ax_p.set_xticks([])
    ax_p.set_ylabel("P(spam) = sigmoid(z)", fontsize=10)
    ax_p.tick_params(axis="y", labelsize=9)
    ax_p.set_title(f"{p:.2f}\n{verdict}", fontsize=11)
    return fig


def spam_detector():
    """A three-input neuron scoring an e-mail: fixed weights, adjustable bias."""
    yes_no = {"no (0)": 0, "yes (1)": 1}
    return Widget(
        draw_spam,
        {
            "money": Choice("mentions money", yes_no, 1),
            "links": Choice("has suspicious links", yes_no, 0),
            "known": Choice("known sender", yes_no, 0),
            "bias": Slider("bias b", -6.0, 2.0, 0.5, -3.0, static=np.arange(-6.0, 2.01, 1.0)),
        },
        title="A spam-detecting neuron",
        caption="Weights are fixed: money +2, suspicious links +3, known sender -4. The bias sets "
                "how much evidence the neuron needs: the lower b, the stricter the filter.",
    )
