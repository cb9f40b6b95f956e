"""Widgets of chapter 5 (05-rnn): what a recurrent network remembers, and for how long.

- ``gradient_norm_widget()``: a plain RNN run over a random sequence, and the size of the gradient
  that a loss at the last step sends back to every earlier hidden state. The controls are the
  spectral radius of the recurrent matrix, the sequence length and the activation: the picture
  shows the gradient shrinking or growing geometrically with the distance from the loss.
- ``lstm_gate_explorer()``: an LSTM cell whose gates are set by hand. One value is written into the
  cell at step 0; afterwards the forget gate decides how much of it survives each step, the input
  gate how much noise is written on top, the output gate how much of the cell is shown.
- ``generation_widget(model, chars)``: text sampled from a trained character-level ``CharRNN``,
  for a choice of prompts and temperatures.

Each widget is a pure function of its controls (``draw_gradient_norms``, ``draw_lstm_trace``: a
matplotlib Figure; the generation widget: an HTML block) wrapped in a ``Widget``. Everything is
deterministic: a seed fixes the random weights, inputs, noise and samples, and the global random
state is left alone.
"""
import html

import numpy as np

from dlcourse.widgets import Choice, Slider, Widget, new_figure, one_torch_thread

ORANGE, BLUE, GREY = "#e66101", "#2166ac", "#999999"


def _log_y(ax, values):
    """A logarithmic y axis spanning whole decades around ``values``, with at most about eight
    labelled ticks written as plain text ("1e-12"): mathtext labels are slow to draw, and the
    widget draws one picture per grid point."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    logs = np.log10(np.asarray(values)[np.asarray(values) > 0])
    lo, hi = min(int(np.floor(logs.min())), -1), max(int(np.ceil(logs.max())), 1)
    every = max(1, int(np.ceil((hi - lo) / 8)))
    ax.set_yscale("log")
    ax.set_ylim(10.0 ** lo, 10.0 ** hi)
    ax.yaxis.set_major_locator(FixedLocator([10.0 ** k for k in range(hi, lo - 1, -every)]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "1" if v == 1 else f"1e{round(np.log10(v))}"))
    ax.yaxis.set_minor_locator(NullLocator())


# ---------------------------------------------------------------------------------------------
# 1. Vanishing and exploding gradients in a plain RNN
# ---------------------------------------------------------------------------------------------

ACTIVATIONS = ("tanh", "relu", "linear")
INPUT_SIZE = 4
INPUT_DRIVE = 0.25  # standard deviation of W_x x_t in each unit: the units start near tanh's linear middle


def _activation(name):
    """The activation and its derivative, as functions of the pre-activation."""
    if name == "tanh":
        return np.tanh, lambda a: 1.0 - np.tanh(a) ** 2
    if name == "relu":
        return lambda a: np.maximum(a, 0.0), lambda a: (a > 0).astype(float)
    if name == "linear":
        return lambda a: a, np.ones_like
    raise ValueError(f"unknown activation {name!r}: use one of {', '.join(ACTIVATIONS)}")


def rnn_setup(scale, length, hidden=32, seed=0):
    """The random RNN and sequence that ``gradient_norms`` studies, as float64 numpy arrays.

    ``W_h = scale * Q`` with ``Q`` a random orthogonal matrix: every eigenvalue of ``Q`` has
    modulus 1 (and so has every singular value), so ``scale`` is exactly the spectral radius of
    ``W_h``, and also the factor by which ``W_h`` stretches any vector. ``W_x`` maps
    ``INPUT_SIZE`` standard normal inputs ``x`` (``length`` rows) to a drive of standard deviation
    ``INPUT_DRIVE`` per unit; the bias is zero. The loss is ``L = u . h_T`` for a fixed random unit
    vector ``u``. The seed fixes ``Q``, ``W_x``, ``u`` and the inputs; ``scale`` only multiplies
    ``Q``, and a longer sequence extends a shorter one.
    """
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((hidden, hidden)))
    q = q * np.sign(np.diag(r))  # QR's sign convention made unique: Q is uniform over rotations
    W_x = rng.standard_normal((hidden, INPUT_SIZE)) * INPUT_DRIVE / np.sqrt(INPUT_SIZE)
    u = rng.standard_normal(hidden)
    x = rng.standard_normal((length, INPUT_SIZE))
    return {"W_h": scale * q, "W_x": W_x, "b": np.zeros(hidden), "u": u / np.linalg.norm(u), "x": x}


def gradient_norms(scale, length, activation="tanh", hidden=32, seed=0):
    """How much of a last-step loss's gradient reaches each hidden state of a plain RNN.

    The RNN is ``h_t = act(W_x x_t + W_h h_{t-1} + b)`` from ``h_{-1} = 0`` for ``t = 0 ..
    length-1``, built by ``rnn_setup`` (``scale`` is the spectral radius of ``W_h``), with the loss
    ``L = u . h_T`` at the last step ``T = length - 1``. Returns ``||dL/dh_t||`` for every ``t``,
    shape ``(length,)``: the last entry is ``||u|| = 1``, and going back one step multiplies the
    gradient by the transposed Jacobian ``dh_t/dh_{t-1} = diag(act'(a_t)) W_h``, which is the
    product this function computes (in float64). For ``activation="linear"`` the entry ``k``
    steps back is exactly ``scale**k``.
    """
    act, slope = _activation(activation)
    net = rnn_setup(scale, length, hidden, seed)
    h, slopes = np.zeros(hidden), []
    for x_t in net["x"]:
        a = net["W_x"] @ x_t + net["W_h"] @ h + net["b"]
        h = act(a)
        slopes.append(slope(a))
    grad = net["u"]
    norms = [np.linalg.norm(grad)]
    for t in range(length - 1, 0, -1):  # from dL/dh_t to dL/dh_{t-1}
        grad = net["W_h"].T @ (slopes[t] * grad)
        norms.append(np.linalg.norm(grad))
    return np.array(norms[::-1])


def gradient_title(scale, length, activation, norms):
    return (f"{activation} RNN, spectral radius {scale:g}, {length} steps: "
            f"‖∂L/∂h_0‖ / ‖∂L/∂h_{length - 1}‖ = {norms[0] / norms[-1]:.2g}")


def draw_gradient_norms(scale=1.0, length=50, activation="tanh"):
    """The gradient's norm at every step (log scale), against what a linear RNN gives: scale**k."""
    norms = gradient_norms(scale, int(length), activation)
    t = np.arange(len(norms))
    linear = float(scale) ** (t[-1] - t)
    fig = new_figure(7.5, 4.2)
    ax = fig.add_subplot()
    ax.axhline(1.0, color=GREY, lw=0.8)
    ax.plot(t, linear, "--", color=GREY, lw=1.5, gid="linear",
            label=f"{scale:g}^k: a linear RNN, k steps back")
    ax.plot(t, norms, "o-", color=BLUE, ms=3, lw=1.8, gid="norms",
            label=f"‖∂L/∂h_t‖ of this {activation} RNN")
    ax.plot(t[-1], norms[-1], "o", color=ORANGE, ms=8, zorder=3, label="the loss is computed here")
    _log_y(ax, np.concatenate([norms, linear]))
    ax.set_xlim(-0.5, t[-1] + 0.5)
    ax.set_xlabel("time step t (the loss is at the last step)")
    ax.set_ylabel("size of the gradient reaching h_t")
    ax.legend(loc="best", fontsize=8.5)
    ax.set_title(gradient_title(scale, int(length), activation, norms), fontsize=10.5)
    return fig


def gradient_norm_widget():
    """Spectral radius, length and activation -> the gradient's norm at every step."""
    return Widget(
        draw_gradient_norms,
        {
            "scale": Slider("spectral radius of W_h", 0.5, 1.5, 0.05, 1.0,
                            static=[0.6, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5]),
            "length": Slider("sequence length", 10, 100, 5, 50, static=[20, 50, 100]),
            "activation": Choice("activation", list(ACTIVATIONS), "tanh"),
        },
        title="Vanishing and exploding gradients: how far back a loss can reach",
        caption="A plain RNN with 32 hidden units reads a random sequence; a loss is computed at "
                "the last step only. Blue: the size of the gradient of that loss with respect to "
                "each earlier hidden state (log scale: each labelled tick is a power of ten). "
                "Backpropagation through time multiplies it by W_h (transposed) and by the "
                "activation's slope once per step back, so it shrinks or grows geometrically. "
                "Grey dashes: a linear RNN, where each step back multiplies by exactly the "
                "spectral radius.",
    )


# ---------------------------------------------------------------------------------------------
# 2. The LSTM's cell with its gates set by hand
# ---------------------------------------------------------------------------------------------


def lstm_trace(forget=0.9, write=0.0, output=1.0, length=20, value=1.0, seed=0):
    """The LSTM's cell update ``c_t = f * c_{t-1} + i * g_t`` and output ``h_t = o * tanh(c_t)``,
    with the gates set by hand instead of computed from the input.

    At step 0 the input gate is fully open and the candidate is ``value``, so ``c_0 = value``.
    At every later step the forget gate is ``forget``, the input gate ``write`` and the candidate
    ``g_t`` noise drawn uniformly from [-1, 1] (seeded; a longer trace extends a shorter one); the
    output gate is ``output`` throughout. Returns numpy arrays over the steps ``t = 0 ..
    length-1``: ``t``, ``candidate`` (``g_t``), ``written`` (what the input gate lets in,
    ``i_t * g_t``), ``c``, ``h``, and ``remembered``: ``value * forget**t``, what is left of the
    step-0 value alone.
    """
    t = np.arange(int(length))
    candidate = np.random.default_rng(seed).uniform(-1.0, 1.0, len(t))
    candidate[0] = value
    written = np.where(t == 0, 1.0, write) * candidate
    c = np.empty(len(t))
    memory = 0.0
    for step, w in enumerate(written):
        memory = forget * memory + w
        c[step] = memory
    return {"t": t, "candidate": candidate, "written": written, "c": c,
            "h": output * np.tanh(c), "remembered": value * float(forget) ** t}


def lstm_title(forget, write, output, trace):
    last = len(trace["t"]) - 1
    return (f"forget {forget:g}, input {write:g}, output {output:g}: after {last} steps "
            f"c = {trace['c'][-1]:.3g} (the first write alone: {trace['remembered'][-1]:.3g})")


def draw_lstm_trace(forget=0.9, write=0.0, output=1.0, length=20, value=1.0, seed=0):
    """The cell state and the output over time (top), and what the input gate writes (bottom)."""
    from matplotlib.ticker import MaxNLocator

    trace = lstm_trace(forget, write, output, length, value, seed)
    t = trace["t"]
    fig = new_figure(7.5, 4.8)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 1], "hspace": 0.1})
    top.axhline(0.0, color=GREY, lw=0.8)
    top.plot(t, trace["remembered"], "--", color=GREY, lw=1.5, gid="remembered",
             label="value · forget^t (the first write alone)")
    top.plot(t, trace["c"], "o-", color=BLUE, ms=3, lw=1.8, gid="c", label="cell state c_t")
    top.plot(t, trace["h"], "s-", color=ORANGE, ms=2.5, lw=1.2, gid="h",
             label="output h_t = o · tanh(c_t)")
    reach = max(1.1, 1.1 * np.abs(np.concatenate([trace["c"], [value]])).max())
    top.set_ylim(-reach, reach)
    top.set_ylabel("value")
    top.legend(loc="best", fontsize=8)
    # One line per step, as thick as 60% of a step: a single collection draws much faster than bars.
    colours = [ORANGE if step == 0 else BLUE for step in t]
    bottom.vlines(t, 0.0, trace["written"], colors=colours, lw=0.6 * 6.5 * 72 / len(t), gid="written")
    bottom.axhline(0.0, color=GREY, lw=0.8)
    bottom.set_ylim(-1.1, 1.1 * max(1.0, value))
    bottom.set_ylabel("written: i·g", fontsize=9)
    bottom.set_xlabel("time step t (step 0, orange: input gate open, writes the value)")
    top.set_xlim(-0.7, t[-1] + 0.7)
    top.xaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_title(lstm_title(forget, write, output, trace), fontsize=10)
    return fig


def lstm_gate_explorer():
    """Forget, input and output gates set by hand -> what the cell remembers."""
    return Widget(
        draw_lstm_trace,
        {
            "forget": Slider("forget gate f", 0.0, 1.0, 0.01, 0.9, static=[0.5, 0.9, 0.99, 1.0]),
            "write": Slider("input gate i (after step 0)", 0.0, 1.0, 0.05, 0.0, static=[0.0, 0.2, 1.0]),
            "output": Slider("output gate o", 0.0, 1.0, 0.05, 1.0, static=[0.0, 1.0]),
            "length": Slider("steps", 5, 100, 5, 20, static=[20, 60]),
        },
        title="LSTM gate explorer: one value in the cell, and what becomes of it",
        caption="The LSTM's cell update c_t = f·c_{t-1} + i·g_t with the gates fixed by hand. "
                "At step 0 the input gate is open and writes the value 1 into the cell. After "
                "that, each step keeps the fraction f of the cell and adds i times a random "
                "candidate g_t between -1 and 1 (bottom). The output h_t = o·tanh(c_t) is what "
                "the rest of the network sees. Grey dashes: what would be left of the value with "
                "nothing written on top, 1·f^t.",
    )


# ---------------------------------------------------------------------------------------------
# 3. Text from a trained character-level RNN
# ---------------------------------------------------------------------------------------------

DEFAULT_PROMPTS = ("the network ", "a neuron ", "gradient descent ")


def char_vocab(text):
    """The distinct characters of ``text``, sorted, as one string: index i stands for chars[i]."""
    return "".join(sorted(set(text)))


def encode(text, chars):
    """``text`` as an int64 array of indices into ``chars``; a ValueError names the characters
    that ``chars`` lacks."""
    index = {ch: i for i, ch in enumerate(chars)}
    missing = sorted(set(text) - set(index))
    if missing:
        raise ValueError(f"{''.join(missing)!r}: not in the vocabulary {chars!r}")
    return np.array([index[ch] for ch in text], dtype=np.int64)


def decode(indices, chars):
    """The inverse of ``encode``: indices into ``chars`` -> a string."""
    return "".join(chars[int(i)] for i in indices)


def generate(model, chars, prompt, temperature=1.0, n_chars=200, seed=0):
    """``prompt`` followed by ``n_chars`` characters sampled from ``model``, a ``CharRNN``.

    The prompt is fed once, and its last step's logits give the first new character; each
    sampled character is then fed back in, carrying the hidden state. A character is drawn from
    ``softmax(logits / temperature)``: temperature 1 samples the model's own probabilities, a
    higher one flattens them (more surprising text, more mistakes), a lower one sharpens them,
    and as it approaches 0 sampling becomes greedy decoding (always the most likely character).
    The draws use a ``torch.Generator`` seeded with ``seed`` on the CPU, so the global random
    state is untouched and a seed gives the same text on any device. Runs in eval mode without
    gradients, on the model's device, and restores the model's training mode.
    """
    import torch

    if not temperature > 0:
        raise ValueError(f"temperature={temperature}: it must be positive (near 0 is greedy decoding).")
    if not prompt:
        raise ValueError("the prompt is empty: give the model at least one character to start from.")
    try:
        idx = encode(prompt, chars)
    except ValueError as error:
        raise ValueError(f"the prompt {prompt!r} has characters the model does not know: {error}") from None
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad(), one_torch_thread():
            logits, h = model(torch.as_tensor(idx[None], device=device))
            for _ in range(n_chars):
                probs = torch.softmax(logits[0, -1].double().cpu() / temperature, dim=0)
                nxt = int(torch.multinomial(probs, 1, generator=gen))
                out.append(nxt)
                logits, h = model(torch.tensor([[nxt]], device=device), h)
    finally:
        model.train(was_training)
    return prompt + decode(out, chars)


def generation_html(prompt, text, temperature):
    """The sample as an HTML block: the prompt in bold, the model's continuation after it."""
    return (f'<div class="dlw-text"><pre style="white-space: pre-wrap; max-width: 48em">'
            f"<b>{html.escape(prompt)}</b>{html.escape(text[len(prompt):])}</pre>"
            f"<div>temperature {temperature:g}: {len(text) - len(prompt)} characters sampled "
            f"after the prompt (bold)</div></div>")


def generation_widget(model, chars, prompts=DEFAULT_PROMPTS, n_chars=200):
    """Prompt and temperature -> ``n_chars`` characters of text from ``model``."""
    for prompt in prompts:
        generate(model, chars, prompt, n_chars=0)  # an unknown character fails here, not in the page

    def sample(prompt, temperature):
        return generation_html(prompt, generate(model, chars, prompt, temperature, n_chars), temperature)

    return Widget(
        sample,
        {
            "prompt": Choice("prompt", list(prompts), prompts[0]),
            "temperature": Slider("temperature", 0.1, 2.0, 0.1, 0.8, static=[0.2, 0.5, 0.8, 1.0, 1.5]),
        },
        title="Text from the character-level RNN",
        caption="The network reads the prompt, then writes one character at a time, each drawn "
                "from softmax(logits / temperature) and fed back in. Low temperature: the most "
                "likely characters, safe and repetitive. High temperature: flatter probabilities, "
                "more invention and more misspellings. The random draws are seeded, so the same "
                "settings always give the same text.",
    )
