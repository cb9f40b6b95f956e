"""Widgets of chapter 6 (06-transformers): attention as a soft lookup, and how a transformer knows
where each word is.

- ``attention_heatmap_widget(model, sentences, vocab)``: the attention weights of a
  ``dlcourse.transformer.TinyTransformer`` on a sentence, one layer and one head at a time, with
  every layer's scores divided by a temperature and the causal mask on or off. On the pronoun
  sentences of ``dlcourse.data.pronoun_sentences`` the title says how much "it" attends to
  each noun.
- ``positional_widget()``: the sinusoidal positional encodings of
  ``dlcourse.transformer.sinusoidal_positions`` as a heatmap, and how similar the encodings of
  two positions are (a function of their distance only).
- ``query_widget()``: one query, five keys in the plane and their values (colours), step by step:
  the scores, the softmax weights and the output, the weighted average of the values. A longer
  query sharpens the softmax.

Each widget is a pure function of its controls wrapped in a ``Widget``: the heatmap is an HTML
table (``attention_html``), the other two draw a matplotlib Figure (``draw_positions``,
``draw_query``). The numbers they show come from ``attention_maps``, ``position_similarity``
and ``query_attention``, which the tests check.
``train_pronoun_model`` trains the small transformer the chapter looks inside.
"""
import html

import numpy as np

from dlcourse.widgets import Choice, Slider, Widget, new_figure, one_torch_thread

ORANGE, BLUE, GREY = "#e66101", "#2166ac", "#999999"
MASKED_COLOUR = "#d9d9d9"
ANNOTATE_UP_TO = 12  # a heatmap of at most this many words has its weights written in the cells


# ---------------------------------------------------------------------------------------------
# 1. Attention heatmaps of a trained transformer
# ---------------------------------------------------------------------------------------------

TEMPERATURES = (0.25, 0.5, 1.0, 2.0, 4.0)


def attention_maps(model, tokens, temperature=1.0, causal=False):
    """The attention weights of ``model`` (a ``TinyTransformer``) on one sentence.

    ``tokens`` is one sequence of token ids, shape ``(n,)``. Returns a list with one numpy array
    ``(n_heads, n, n)`` per layer: entry ``[h, i, j]`` is how much query position ``i`` attends to
    key position ``j`` in head ``h`` (each row sums to 1).

    ``temperature`` is a real change of the forward pass: in every layer the queries are divided
    by it, which divides every score ``q . k / sqrt(d)`` by it before the softmax. Below 1 the
    weights are sharper, above 1 flatter. Later layers read the output of the changed attention
    of the earlier ones, so a layer's map at temperature T is the map of the whole network run at
    temperature T, not the temperature-1 scores of that layer alone re-softmaxed. Temperature 1
    is the model's own forward pass. ``causal=True`` runs the model with the causal mask
    (position i sees positions <= i), ``causal=False`` without, whatever ``model.causal`` says.

    Runs without gradients, in eval mode, on the model's device; the model's mode, its
    ``causal`` flag and its forward pass are restored afterwards.
    """
    import torch

    if not temperature > 0:
        raise ValueError(f"temperature={temperature}: it must be positive.")
    idx = torch.as_tensor(tokens, dtype=torch.int64)
    if idx.ndim != 1:
        raise ValueError(f"tokens has shape {tuple(idx.shape)}: give one sentence, shape (n,).")
    device = next(model.parameters()).device

    def divide_queries(_module, _inputs, queries):  # q / T makes every score q . k / sqrt(d) / T
        return queries / temperature

    hooks = ([block.attn.q_proj.register_forward_hook(divide_queries) for block in model.blocks]
             if temperature != 1 else [])
    was_training, was_causal = model.training, model.causal
    model.eval()
    model.causal = bool(causal)
    try:
        with torch.no_grad(), one_torch_thread():
            model(idx[None].to(device))
            return [w[0].cpu().numpy() for w in model.attention_weights()]
    finally:
        for hook in hooks:
            hook.remove()
        model.causal = was_causal
        model.train(was_training)


def words_of(tokens, vocab):
    """A token sequence (a list, numpy array or torch tensor) as its list of words."""
    return [vocab[int(t)] for t in tokens]


def pronoun_weights(weights, words):
    """How much "it" attends to each noun of a pronoun sentence: ``[(noun, weight), ...]`` in
    sentence order, read from one head's ``(n, n)`` map. Empty if the sentence has no "it"."""
    from dlcourse.data import PRONOUN_WORDS

    if "it" not in words:
        return []
    nouns = set(PRONOUN_WORDS["eaters"]) | set(PRONOUN_WORDS["foods"])
    row = weights[words.index("it")]
    return [(w, float(row[j])) for j, w in enumerate(words) if w in nouns]


def attention_title(words, weights, layer, head, temperature, causal):
    """Which map this is (layer and head counted from 1) and, for a pronoun sentence, the weight
    of "it" on each noun: two lines of plain text."""
    title = (f"layer {layer + 1}, head {head + 1}, temperature {temperature:g}, "
             f"causal mask {'on' if causal else 'off'}")
    on_nouns = pronoun_weights(weights, words)
    if on_nouns:
        title += "\n“it” attends to " + ", ".join(f"{noun} {w:.2f}" for noun, w in on_nouns)
    return title


def _blues(weights):
    """Background colours (hex) for attention weights in [0, 1], from matplotlib's "Blues"."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return [to_hex(c) for c in colormaps["Blues"](np.clip(np.ravel(weights), 0.0, 1.0))]


# The heatmap's look, written once per picture instead of once per cell (a page holds a hundred).
_HEATMAP_CSS = (
    ".dlw-attention {font-family: sans-serif; font-size: 14px}"
    " .dlw-attention table {border-collapse: collapse; margin: 0.4em 0}"
    " .dlw-attention th {font-weight: normal; text-align: right; padding: 0 0.4em}"
    " .dlw-attention th.key {writing-mode: vertical-rl; transform: rotate(180deg); text-align: left;"
    " padding: 0.2em 0}"
    " .dlw-attention td {width: 2.6em; height: 2.6em; padding: 0; text-align: center; font-size: 0.8em}"
    " .dlw-attention table.long td {width: 1.2em; height: 1.2em}"
    f" .dlw-attention td.masked {{background: {MASKED_COLOUR}}}"
    " .dlw-attention td.dark {color: white}"
    f" .dlw-attention tr.it th {{color: {ORANGE}; font-weight: bold}}"
    f" .dlw-attention tr.it td {{border-top: 2px solid {ORANGE}; border-bottom: 2px solid {ORANGE}}}"
    f" .dlw-attention tr.it th + td {{border-left: 2px solid {ORANGE}}}"
    f" .dlw-attention tr.it td:last-child {{border-right: 2px solid {ORANGE}}}"
    " .dlw-attention .note {font-size: 0.8em}"
)


def attention_html(weights, words, layer, head, temperature, causal):
    """One head's ``(n, n)`` attention weights as a heatmap, an HTML table: queries on rows, keys
    on columns, the words as row and column labels, each cell coloured by its weight (white 0,
    dark blue 1) and, for at most ``ANNOTATE_UP_TO`` words, showing it (a longer sentence shows
    it on hovering); positions the causal mask hides in grey; the row of "it" outlined in
    orange. A table of text rather than a picture: it stays sharp at any zoom, and the static
    book precomputes a hundred of them in a blink."""
    weights = np.asarray(weights, dtype=np.float64)
    n = len(words)
    hidden = np.triu(np.ones((n, n), dtype=bool), 1) if causal else np.zeros((n, n), dtype=bool)
    colours = np.reshape(_blues(weights), (n, n))
    annotate = n <= ANNOTATE_UP_TO
    heading, _, pronoun = attention_title(words, weights, layer, head, temperature, causal).partition("\n")

    rows = ['<tr><th class="note">query ↓ &nbsp; key →</th>'
            + "".join(f'<th class="key">{html.escape(w)}</th>' for w in words) + "</tr>"]
    for i, query in enumerate(words):
        cells = []
        for j, w in enumerate(weights[i]):
            if hidden[i, j]:
                cells.append('<td class="masked"></td>')
                continue
            dark = ' class="dark"' if w > 0.6 else ""
            if annotate:
                cells.append(f'<td{dark} style="background: {colours[i, j]}">{w:.2f}</td>')
            else:
                cells.append(f'<td{dark} style="background: {colours[i, j]}" title="{w:.3f}"></td>')
        marked = ' class="it"' if query == "it" else ""
        rows.append(f"<tr{marked}><th>{html.escape(query)}</th>" + "".join(cells) + "</tr>")
    scale = ", ".join(_blues(np.linspace(0.0, 1.0, 5)))
    legend = (f'weight 0 <span style="display: inline-block; width: 8em; height: 0.8em; '
              f'vertical-align: middle; background: linear-gradient(to right, {scale})"></span> 1; '
              "each row sums to 1")
    if causal:
        legend += (f'; <span style="background: {MASKED_COLOUR}">&nbsp;grey&nbsp;</span>: '
                   "hidden by the causal mask")
    return (f'<div class="dlw-attention"><style>{_HEATMAP_CSS}</style>'
            f'<div><b>{html.escape(heading)}</b></div>'
            + (f'<div style="color: {ORANGE}">{html.escape(pronoun)}</div>' if pronoun else "")
            + ("<table>" if annotate else '<table class="long">') + "".join(rows) + "</table>"
            f'<div class="note">{legend}</div></div>')


def attention_heatmap_widget(model, sentences, vocab, temperatures=TEMPERATURES):
    """Sentence, layer, head, temperature and causal mask -> one head's attention map.

    ``sentences`` is a short list of token sequences (the static book precomputes every
    sentence x layer x head x temperature x mask: at most ``MAX_FRAMES`` pictures, so 3 sentences
    for a model with 2 layers of 2 heads and 5 temperatures); ``vocab`` maps token ids to words.
    The maps are computed afresh for each picture (a forward pass on one sentence), so the widget
    shows the model as it is when drawn.
    """
    from dlcourse.widgets import MAX_FRAMES

    sentences = [np.array([int(t) for t in s], dtype=np.int64) for s in sentences]
    texts = [" ".join(words_of(s, vocab)) for s in sentences]
    n_layers, n_heads = len(model.blocks), model.blocks[0].attn.n_heads
    frames = len(sentences) * n_layers * n_heads * len(temperatures) * 2
    if frames > MAX_FRAMES:
        raise ValueError(f"{len(sentences)} sentences x {n_layers} layers x {n_heads} heads x "
                         f"{len(temperatures)} temperatures x 2 masks = {frames} pictures, more than "
                         f"MAX_FRAMES={MAX_FRAMES}: give fewer sentences or temperatures.")
    if len(set(texts)) < len(texts):
        raise ValueError("two of the sentences are the same.")

    def draw(sentence, layer, head, temperature, causal):
        maps = attention_maps(model, sentences[sentence], temperature, causal)
        return attention_html(maps[layer][head], words_of(sentences[sentence], vocab),
                              layer, head, temperature, causal)

    return Widget(
        draw,
        {
            "sentence": Choice("sentence", {text: i for i, text in enumerate(texts)}, 0),
            "layer": Choice("layer", {str(i + 1): i for i in range(n_layers)}, 0),
            "head": Choice("head", {str(i + 1): i for i in range(n_heads)}, 0),
            "temperature": Slider("temperature", min(temperatures), max(temperatures), 0.25,
                                  1.0, static=list(temperatures)),
            "causal": Choice("causal mask", {"off": False, "on": True}, False),
        },
        title="Attention heatmap: where each word looks",
        caption="Row i shows how the word on the left spreads its attention over the words of the "
                "sentence (the columns): the softmax weights of one head, each row summing to 1. "
                "The row of “it” is outlined. The temperature divides every layer's scores "
                "before the softmax (the whole network is run that way): below 1 the weights "
                "sharpen toward the largest score, above 1 they flatten toward uniform. The "
                "causal mask lets each word look only at itself and the words before it (grey: "
                "hidden); then “it” cannot see the word that decides what it refers to.",
    )


def train_pronoun_model(seed=0, steps=300, batch_size=64, lr=3e-3):
    """A ``TinyTransformer`` (d_model 32, 2 heads, 2 layers, no causal mask) trained to name the
    noun that "it" refers to in ``data.pronoun_sentences``: cross-entropy between the logits at
    the position of "it" and the referent's token id. Adam, ``steps`` steps on fresh batches of
    ``batch_size`` sentences, on the CPU with one thread: a few seconds for 300 steps; it passes
    98% accuracy on fresh sentences after 50 to 70. Batch ``s`` is drawn with seed
    ``1000 * seed + s``, so with ``seed < 1000`` and ``steps <= 1000`` no training batch uses a
    seed of 10**6 or more: held-out sentences can. The initial weights come from ``seed``; the
    global random state is restored afterwards. Returns the model in eval mode.
    """
    import torch
    import torch.nn.functional as F

    from dlcourse import data
    from dlcourse.transformer import TinyTransformer

    with one_torch_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyTransformer(len(data.PRONOUN_VOCAB), 9, d_model=32, n_heads=2, n_layers=2)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        for step in range(steps):
            batch = data.pronoun_sentences(batch_size, seed=1000 * seed + step)
            logits = model(torch.as_tensor(batch["tokens"]))[:, batch["pronoun"]]
            loss = F.cross_entropy(logits, torch.as_tensor(batch["target"]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


def pronoun_accuracy(model, sentences):
    """The fraction of ``sentences`` (a ``data.pronoun_sentences`` dict) whose referent is the
    model's most likely token at the position of "it"."""
    import torch

    tokens = torch.as_tensor(sentences["tokens"], device=next(model.parameters()).device)
    with torch.no_grad(), one_torch_thread():
        predicted = model(tokens)[:, sentences["pronoun"]].argmax(-1).cpu().numpy()
    return float((predicted == sentences["target"]).mean())


def pronoun_attention(model, sentences):
    """The mean attention weight of "it" on its antecedent and on the other noun, over
    ``sentences`` (a ``data.pronoun_sentences`` dict), in the model's own forward pass: two numpy
    arrays ``(n_layers, n_heads)``, ``(on_antecedent, on_other)``."""
    import torch

    rows = np.arange(len(sentences["tokens"]))
    tokens = torch.as_tensor(sentences["tokens"], device=next(model.parameters()).device)
    with torch.no_grad(), one_torch_thread():
        model(tokens)
        maps = [w[:, :, sentences["pronoun"]].cpu().numpy() for w in model.attention_weights()]

    def mean_on(positions):  # the weight of "it" on the noun at positions[s] in sentence s, averaged
        return np.array([m[rows, :, positions].mean(axis=0) for m in maps])

    return mean_on(sentences["antecedent"]), mean_on(sentences["other"])


# ---------------------------------------------------------------------------------------------
# 2. Sinusoidal positional encodings
# ---------------------------------------------------------------------------------------------


def _few_ticks(ax, count=5):
    """At most about ``count`` integer ticks on each axis. Ticks and their labels are most of
    the time a picture takes to draw, and the static book draws every picture once per setting."""
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(count - 1, integer=True))


def position_similarity(n, d):
    """The sinusoidal encodings ``P`` (``(n, d)``, from ``sinusoidal_positions``) and the cosine
    similarity of every pair of positions, ``S = P P^T / (d / 2)`` (every row of ``P`` has squared
    length exactly ``d / 2``: one ``sin^2 + cos^2 = 1`` per pair of dimensions). Since
    ``P_p . P_q = sum_i cos((p - q) w_i)``, ``S`` depends on ``p - q`` only. float64 numpy arrays."""
    from dlcourse.transformer import sinusoidal_positions

    P = sinusoidal_positions(int(n), int(d)).double().numpy()
    return P, P @ P.T / (d / 2)


def positions_title(n, d, S):
    near, far = S[0, 1], S[0, min(10, n - 1)]
    return (f"{n} positions in {d} dimensions: a position's similarity to the next one is "
            f"{near:.2f}, to one 10 steps away {far:.2f}")


def draw_positions(n=64, d=64, position=8):
    """Three panels: the encodings (positions x dimensions), the cosine similarity of every
    pair of positions, and the similarity of position ``position`` (clipped to ``n - 1``) to
    every position."""
    n, d = int(n), int(d)
    position = min(int(position), n - 1)
    P, S = position_similarity(n, d)
    fig = new_figure(12.5, 4.2)
    ax_p, ax_s, ax_row = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.1], "wspace": 0.3})
    shown = ax_p.imshow(P, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    shown.set_gid("P")
    ax_p.set_xlabel("dimension i")
    ax_p.set_ylabel("position p")
    ax_p.set_title("encodings P[p, i] (red +1, blue -1)", fontsize=9.5)
    similar = ax_s.imshow(S, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    similar.set_gid("S")
    for ax in (ax_p, ax_s, ax_row):
        _few_ticks(ax)
    ax_s.axhline(position, color=ORANGE, lw=1.2)
    ax_s.set_xlabel("position q")
    ax_s.set_ylabel("position p")
    ax_s.set_title("cosine similarity of P[p] and P[q] (same colours)", fontsize=9.5)
    ax_row.axhline(0.0, color=GREY, lw=0.8)
    ax_row.plot(np.arange(n), S[position], "o-", color=BLUE, ms=2.5, lw=1.3, gid="row")
    ax_row.axvline(position, color=ORANGE, lw=1.2, ls="--")
    ax_row.set_ylim(-1.05, 1.05)
    ax_row.set_xlabel("position q")
    ax_row.set_ylabel(f"similarity of P[{position}] and P[q]")
    ax_row.set_title(f"position {position} (orange) against all the others", fontsize=9.5)
    fig.suptitle(positions_title(n, d, S), fontsize=11)
    return fig


def positional_widget():
    """Number of positions, dimensions and a chosen position -> the encodings and their similarity."""
    return Widget(
        draw_positions,
        {
            "n": Slider("positions n", 16, 128, 16, 64, static=[16, 32, 64, 128]),
            "d": Slider("dimensions d", 16, 128, 16, 64, static=[16, 32, 64, 128]),
            "position": Slider("chosen position", 0, 127, 1, 8, static=[0, 8]),
        },
        title="Sinusoidal positional encodings",
        caption="Each position p gets a vector of d numbers: pairs of sin(p·w) and cos(p·w) whose "
                "frequencies w fall from 1 (the first columns, fast stripes) to 1/10000 (the last "
                "columns, nearly constant). Middle: the cosine similarity of two positions' "
                "vectors; it depends only on how far apart they are, so every diagonal has one "
                "colour. Right: one row of it: a position is most like itself and its neighbours. "
                "A chosen position beyond the last one shows the last one.",
    )


# ---------------------------------------------------------------------------------------------
# 3. One query, step by step
# ---------------------------------------------------------------------------------------------

KEY_NAMES = ("A", "B", "C", "D", "E")
KEYS = np.array([[1.0, 0.1], [0.35, 1.2], [-1.1, 0.55], [-0.6, -0.9], [0.7, -0.85]])
VALUES = np.array([[0.85, 0.1, 0.1], [0.95, 0.65, 0.05], [0.15, 0.65, 0.2],
                   [0.15, 0.35, 0.9], [0.6, 0.2, 0.75]])  # colours (red, green, blue)
PLANE_REACH, QUERY_SHOWN = 2.3, 1.8  # the plane shows -2.3 .. 2.3; a query arrow is drawn at most 1.8 long
SCALES = {"q·k / √d (as in attention)": 1 / np.sqrt(2), "q·k (unscaled)": 1.0}


def query_attention(angle=60, length=1.0, scale=1 / np.sqrt(2)):
    """One query's attention over the five hand-made keys ``KEYS`` (2-dimensional, so attention
    divides the dot products by sqrt(2)), whose values ``VALUES`` are colours (red, green,
    blue in [0, 1]).

    The query points at ``angle`` degrees with length ``length``. Returns a dict of float64
    numpy arrays: ``query`` (2,), ``scores`` = ``scale * KEYS @ query`` (5,), ``weights`` =
    ``softmax(scores)`` (5,), and ``output`` = ``weights @ VALUES`` (3,), a colour. Doubling the
    length doubles every score, which sharpens the softmax; at length 0 the weights are uniform.
    """
    theta = np.deg2rad(angle)
    query = float(length) * np.array([np.cos(theta), np.sin(theta)])
    scores = float(scale) * KEYS @ query
    weights = np.exp(scores - scores.max())
    weights /= weights.sum()
    return {"query": query, "scores": scores, "weights": weights, "output": weights @ VALUES}


def query_title(angle, length, step):
    weights = step["weights"]
    best = int(np.argmax(weights))
    if np.ptp(weights) < 1e-12:
        return f"query at {angle:g}°, length {length:g}: every score is 0, every weight {weights[0]:.2f}"
    return (f"query at {angle:g}°, length {length:g}: the largest weight is "
            f"{weights[best]:.2f}, on key {KEY_NAMES[best]}")


def draw_query(angle=60, length=1.0, scale=1 / np.sqrt(2)):
    """Two panels: the keys and the query in the plane; then, for each key, its score and its
    softmax weight (a bar in the key's value colour), the values stacked in those proportions
    ("mix") and the output colour, their weighted average."""
    step = query_attention(angle, length, scale)
    fig = new_figure(11.5, 4.4)
    ax_plane, ax_w = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.45], "wspace": 0.25})

    ax_plane.axhline(0, color=GREY, lw=0.6)
    ax_plane.axvline(0, color=GREY, lw=0.6)
    arrows = {"angles": "xy", "scale_units": "xy", "scale": 1, "width": 0.012}
    ax_plane.quiver(np.zeros(5), np.zeros(5), KEYS[:, 0], KEYS[:, 1], color=VALUES, gid="keys", **arrows)
    for name, key, colour in zip(KEY_NAMES, KEYS, VALUES):
        ax_plane.text(*(key * 1.15), f"k_{name}", color=colour, ha="center", va="center",
                      fontsize=10, fontweight="bold")
    q = step["query"]
    shown = q * min(1.0, QUERY_SHOWN / max(float(length), 1e-12))  # a long query reaches the frame's edge
    ax_plane.quiver([0], [0], [shown[0]], [shown[1]], color="black", gid="query", **arrows)
    ax_plane.text(*(shown * 1.08 + 0.18 * np.sign(shown)), f"q (length {length:g})", fontsize=9.5,
                  fontweight="bold", ha="center", va="center")
    ax_plane.set_xlim(-PLANE_REACH, PLANE_REACH)
    ax_plane.set_ylim(-PLANE_REACH, PLANE_REACH)
    ax_plane.set_aspect("equal")
    _few_ticks(ax_plane)
    ax_plane.set_xlabel("dimension 1")
    ax_plane.set_ylabel("dimension 2")
    ax_plane.set_title("keys (coloured by their values) and the query", fontsize=10)

    x = np.arange(len(KEY_NAMES))
    ax_w.bar(x, step["weights"], color=VALUES, edgecolor="black", lw=0.6, gid="weights")
    for i, w in enumerate(step["weights"]):
        ax_w.text(i, w + 0.02, f"{w:.2f}", ha="center", fontsize=9)
    mix, out = len(x) + 0.6, len(x) + 1.8
    below = np.concatenate([[0.0], np.cumsum(step["weights"])[:-1]])
    ax_w.bar(np.full(len(x), mix), step["weights"], bottom=below, color=VALUES, edgecolor="white", lw=0.5)
    ax_w.bar(out, 1.0, color=step["output"], edgecolor="black", lw=0.6, gid="output")
    r, g, b = step["output"]
    ax_w.set_xticks(list(x) + [mix, out],
                    [f"{name}\n{s:.2f}" for name, s in zip(KEY_NAMES, step["scores"])]
                    + ["mix", f"output\n({r:.2f}, {g:.2f}, {b:.2f})"], fontsize=9)
    ax_w.set_xlabel("key and its score;  the values mixed by weight;  their average (red, green, blue)",
                    fontsize=9)
    ax_w.set_ylim(0, 1.1)
    ax_w.set_yticks([0, 0.5, 1])
    ax_w.set_ylabel("softmax weight")
    if np.isclose(scale, 1 / np.sqrt(2)):
        scores = "q·k / √2"
    else:
        scores = "q·k" if scale == 1 else f"{scale:g} q·k"
    ax_w.set_title(f"scores = {scores},  weights = softmax(scores),  output = Σ weight · value",
                   fontsize=10)
    fig.suptitle(query_title(angle, length, step), fontsize=11)
    return fig


def query_widget():
    """The query's direction and length, and the scaling of the scores -> one attention step."""
    return Widget(
        draw_query,
        {
            "angle": Slider("query direction (degrees)", 0, 345, 15, 60, static=list(range(0, 360, 60))),
            "length": Slider("query length", 0.0, 4.0, 0.25, 1.0, static=[0.0, 1.0, 3.0]),
            "scale": Choice("scores", SCALES, 1 / np.sqrt(2)),
        },
        title="One query, step by step: scores, softmax, weighted average",
        caption="Five keys k_A ... k_E in a 2-dimensional space, each with a value: a colour. The "
                "query q scores each key by the dot product q·k (divided by √d = √2, as attention "
                "does); the softmax turns the scores into weights that sum to 1; the output is "
                "the values averaged with those weights: a blend of the colours. Turn the query "
                "toward a key and its weight grows. Lengthen the query and every score grows in "
                "proportion, so the softmax sharpens toward the best key; at length 0 all the "
                "weights are equal.",
    )
