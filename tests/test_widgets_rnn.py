"""The widgets of chapter 5 (dlcourse/widgets/rnn.py): every control changes the output, the static
and live renderings work, and the outputs mean what the chapter says they mean: the gradient norms
are torch autograd's, the recurrent matrix has the stated spectral radius, the gate explorer is the
LSTM's cell update (torch's LSTMCell with the gates pinned), and generation samples
softmax(logits / temperature), greedily as the temperature nears 0."""
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import widget_checks as W
from dlcourse import data
from dlcourse.models import CharRNN
from dlcourse.widgets import MAX_FRAMES, one_torch_thread
from dlcourse.widgets import rnn as R

# Two values of each control that must give different outputs (all among the precomputed ones).
GRADIENT_CHANGES = {"scale": (0.8, 1.25), "length": (20, 100), "activation": ("tanh", "linear")}
LSTM_CHANGES = {"forget": (0.5, 0.99), "write": (0.0, 1.0), "output": (0.0, 1.0), "length": (20, 60)}
GENERATION_CHANGES = {"prompt": (R.DEFAULT_PROMPTS[0], R.DEFAULT_PROMPTS[2]), "temperature": (0.2, 1.5)}

FIGURE_CASES = [(R.gradient_norm_widget, GRADIENT_CHANGES), (R.lstm_gate_explorer, LSTM_CHANGES)]
FIGURE_IDS = ["gradient_norm_widget", "lstm_gate_explorer"]

PROMPT = "the network "


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """torch on one thread, as in the widgets: these networks are tiny, and the machine is busy."""
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def chars():
    return R.char_vocab(data.course_text())


@pytest.fixture(scope="module")
def model(chars):
    """A CharRNN with 16 hidden units after 40 Adam steps on the course's prose (about a second):
    enough that its most likely next character stands clear of the second (greedy decoding is
    well defined) while sampling still has many characters to choose from."""
    ids = torch.as_tensor(R.encode(data.course_text()[:20_000], chars))
    with one_torch_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = CharRNN(len(chars), hidden=16)
        optimiser = torch.optim.Adam(net.parameters(), lr=0.02)
        for _ in range(40):
            starts = torch.randint(0, len(ids) - 49, (16,))
            batch = torch.stack([ids[s:s + 49] for s in starts])
            logits, _ = net(batch[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, len(chars)), batch[:, 1:].reshape(-1))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return net.eval()


def lines_by_gid(fig):
    return {line.get_gid(): line for ax in fig.axes for line in ax.lines if line.get_gid()}


# --- Generic checks --------------------------------------------------------------------------


@pytest.mark.parametrize("make, changes", FIGURE_CASES, ids=FIGURE_IDS)
def test_controls_are_the_documented_ones(make, changes):
    W.check_controls(make(), changes)


@pytest.mark.parametrize("make, changes", FIGURE_CASES, ids=FIGURE_IDS)
def test_each_control_changes_the_picture(make, changes):
    W.check_each_control_changes_the_picture(make(), changes)


@pytest.mark.parametrize("make, changes", FIGURE_CASES, ids=FIGURE_IDS)
def test_live_rendering_reacts_to_each_control(make, changes):
    W.check_live_reacts(make(), changes)


def gradient_frame_matches(frame, params):
    norms = R.gradient_norms(params["scale"], params["length"], params["activation"])
    return R.gradient_title(params["scale"], params["length"], params["activation"], norms) in frame


def lstm_frame_matches(frame, params):
    trace = R.lstm_trace(params["forget"], params["write"], params["output"], params["length"])
    return R.lstm_title(params["forget"], params["write"], params["output"], trace) in frame


@pytest.mark.parametrize("make, matches, frames", [
    (R.gradient_norm_widget, gradient_frame_matches, 7 * 3 * 3),
    (R.lstm_gate_explorer, lstm_frame_matches, 4 * 3 * 2 * 2),
], ids=FIGURE_IDS)
def test_static_rendering_has_one_frame_per_grid_point(make, matches, frames, cheap_frames):
    data_ = W.check_static_rendering(make(), matches)
    assert len(data_["frames"]) == frames <= MAX_FRAMES


def test_generation_widget_controls_change_the_text_in_every_rendering(model, chars):
    widget = R.generation_widget(model, chars, n_chars=60)
    W.check_controls(widget, GENERATION_CHANGES)
    for name, (a, b) in GENERATION_CHANGES.items():
        first, second = widget.render(**{name: a}), widget.render(**{name: b})
        assert first.startswith('<div class="dlw-text"><pre') and "</pre>" in first
        assert first != second, f"changing {name} from {a!r} to {b!r} did not change the text"
    W.check_live_reacts(widget, GENERATION_CHANGES)

    def matches(frame, params):
        text = R.generate(model, chars, params["prompt"], params["temperature"], 60)
        return frame == R.generation_html(params["prompt"], text, params["temperature"])

    data_ = W.check_static_rendering(widget, matches)
    assert len(data_["frames"]) == len(R.DEFAULT_PROMPTS) * 5


def test_drawing_leaves_no_pyplot_figures_open_and_frames_stay_small():
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    for make, _ in FIGURE_CASES:
        html = make().render()
        assert len(html) < 30_000, f"a frame of {make.__name__} takes {len(html)} characters"
    assert set(plt.get_fignums()) == before


# --- 1. Gradient norms -----------------------------------------------------------------------


def autograd_norms(scale, length, activation, hidden=32, seed=0):
    """The same RNN run forward in torch (float64); ||dL/dh_t|| read off autograd."""
    net = {k: torch.tensor(v) for k, v in R.rnn_setup(scale, length, hidden, seed).items()}
    act = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda a: a}[activation]
    h, states = torch.zeros(hidden, dtype=torch.float64, requires_grad=True), []
    for x_t in net["x"]:
        h = act(net["W_x"] @ x_t + net["W_h"] @ h + net["b"])
        h.retain_grad()
        states.append(h)
    (net["u"] @ h).backward()
    return np.array([s.grad.norm().item() for s in states])


@pytest.mark.parametrize("scale, length, activation, hidden, seed", [
    (0.9, 30, "tanh", 32, 0), (1.5, 40, "tanh", 32, 1), (1.25, 20, "relu", 32, 0),
    (1.1, 15, "linear", 32, 0), (0.7, 12, "tanh", 5, 3),
])
def test_gradient_norms_are_autograds(scale, length, activation, hidden, seed):
    got = R.gradient_norms(scale, length, activation, hidden=hidden, seed=seed)
    assert got.shape == (length,)
    assert np.allclose(got, autograd_norms(scale, length, activation, hidden, seed), rtol=1e-9, atol=0)
    assert got[-1] == pytest.approx(1.0), "the last entry is the loss's gradient wrt h_T: ||u|| = 1"


def test_a_jacobian_in_the_wrong_order_would_be_caught():
    """The comparison above has teeth: multiplying by W_h^T before the activation's slope
    (diag(act') W_h^T instead of W_h^T diag(act')) gives other norms than autograd."""
    net = R.rnn_setup(0.9, 30)
    h, slopes = np.zeros(32), []
    for x_t in net["x"]:
        a = net["W_x"] @ x_t + net["W_h"] @ h
        h = np.tanh(a)
        slopes.append(1 - h ** 2)
    grad, wrong = net["u"], [1.0]
    for t in range(29, 0, -1):
        grad = slopes[t] * (net["W_h"].T @ grad)
        wrong.append(np.linalg.norm(grad))
    assert not np.allclose(wrong[::-1], autograd_norms(0.9, 30, "tanh"), rtol=1e-3)


@pytest.mark.parametrize("scale", [0.6, 1.0, 1.5])
def test_recurrent_matrix_has_the_stated_spectral_radius(scale):
    W_h = R.rnn_setup(scale, 10)["W_h"]
    assert np.max(np.abs(np.linalg.eigvals(W_h))) == pytest.approx(scale, rel=1e-12)
    assert np.allclose(np.linalg.svd(W_h, compute_uv=False), scale, rtol=1e-12)
    assert np.allclose(W_h / scale, R.rnn_setup(1.0, 10)["W_h"]), "scale should only multiply Q"


def test_setup_is_seeded_and_a_longer_sequence_extends_a_shorter_one():
    short, long_ = R.rnn_setup(0.9, 10), R.rnn_setup(0.9, 30)
    assert np.array_equal(long_["x"][:10], short["x"])
    assert all(np.array_equal(short[k], long_[k]) for k in ("W_h", "W_x", "b", "u"))
    assert np.array_equal(R.gradient_norms(0.9, 30), R.gradient_norms(0.9, 30))
    assert not np.allclose(R.rnn_setup(0.9, 10, seed=1)["W_h"], short["W_h"])


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("scale", [0.6, 0.8, 0.9])
def test_below_radius_one_the_gradient_vanishes_toward_early_steps(activation, scale):
    """With slopes at most 1 and ||W_h^T v|| = scale ||v||, each step back shrinks the gradient by
    at least the factor scale: it vanishes geometrically."""
    norms = R.gradient_norms(scale, 50, activation)
    assert np.all(norms[:-1] <= scale * norms[1:] * (1 + 1e-12))
    assert norms[0] <= scale ** 49 * (1 + 1e-9) and norms[0] < 1e-2


@pytest.mark.parametrize("scale", [0.8, 1.1, 1.5])
def test_linear_rnn_scales_the_gradient_by_exactly_radius_to_the_k(scale):
    norms = R.gradient_norms(scale, 60, "linear")
    k = np.arange(59, -1, -1)
    assert np.allclose(norms, scale ** k, rtol=1e-9)
    if scale > 1:
        assert np.all(np.diff(norms) < 0) and norms[0] > 100, "it explodes toward early steps"


def test_tanh_saturation_tames_the_explosion():
    """Above radius 1 a tanh RNN's gradient can still grow, but far less than a linear RNN's."""
    tanh, linear = R.gradient_norms(1.5, 50, "tanh"), R.gradient_norms(1.5, 50, "linear")
    assert 1 < tanh[0] < 1e-3 * linear[0]


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="use one of tanh, relu, linear"):
        R.gradient_norms(1.0, 10, "sigmoid")


def test_gradient_picture_draws_the_norms_and_says_the_ratio():
    for scale, length, activation in [(0.8, 25, "tanh"), (1.5, 100, "linear"), (0.6, 100, "relu")]:
        fig = R.draw_gradient_norms(scale, length, activation)
        norms = R.gradient_norms(scale, length, activation)
        lines = lines_by_gid(fig)
        assert np.array_equal(lines["norms"].get_xdata(), np.arange(length))
        assert np.array_equal(lines["norms"].get_ydata(), norms)
        assert np.allclose(lines["linear"].get_ydata(), scale ** np.arange(length - 1, -1, -1))
        low, high = fig.axes[0].get_ylim()
        assert fig.axes[0].get_yscale() == "log" and low <= norms.min() and norms.max() <= high
        assert f"spectral radius {scale:g}, {length} steps" in fig.axes[0].get_title()
        assert f"= {norms[0] / norms[-1]:.2g}" in fig.axes[0].get_title()
        assert fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel()


# --- 2. LSTM gate explorer -------------------------------------------------------------------


@pytest.mark.parametrize("value", [1.0, -0.3, 0.7])
def test_forget_one_write_zero_keeps_the_value_exactly(value):
    trace = R.lstm_trace(forget=1.0, write=0.0, output=0.5, length=60, value=value)
    assert np.array_equal(trace["c"], np.full(60, value))
    assert np.array_equal(trace["h"], np.full(60, 0.5 * np.tanh(value)))
    assert np.array_equal(trace["t"], np.arange(60))


def test_forget_zero_drops_the_value_after_one_step():
    closed = R.lstm_trace(forget=0.0, write=0.0, length=20)
    assert closed["c"][0] == 1.0 and np.all(closed["c"][1:] == 0)
    noisy = R.lstm_trace(forget=0.0, write=0.5, length=20)
    assert np.array_equal(noisy["c"][1:], 0.5 * noisy["candidate"][1:]), "only the last write is left"


def test_trace_follows_the_cell_update():
    trace = R.lstm_trace(forget=0.8, write=0.3, output=0.6, length=30, value=0.9, seed=4)
    g, c = trace["candidate"], trace["c"]
    assert g[0] == 0.9 and np.all(np.abs(g[1:]) <= 1) and np.std(g[1:]) > 0.3
    assert c[0] == 0.9
    assert np.allclose(c[1:], 0.8 * c[:-1] + 0.3 * g[1:], rtol=0, atol=1e-15)
    assert np.allclose(trace["written"], np.r_[0.9, 0.3 * g[1:]])
    assert np.allclose(trace["h"], 0.6 * np.tanh(c))
    assert np.allclose(trace["remembered"], 0.9 * 0.8 ** np.arange(30))
    assert np.allclose(R.lstm_trace(0.8, 0.0, length=30, value=0.9)["c"], trace["remembered"])


def test_trace_is_torchs_lstm_cell_with_the_gates_pinned():
    """torch.nn.LSTMCell with one unit, no recurrent weights, gate biases logit(f), logit(i),
    logit(o) and the input atanh(g_t) feeding the candidate: from c_0 = value on, its cell state
    and output are the trace's."""
    forget, write, output, value = 0.85, 0.4, 0.7, 0.6
    trace = R.lstm_trace(forget, write, output, length=25, value=value, seed=2)
    logit = lambda p: float(np.log(p / (1 - p)))
    as_double = lambda values: torch.tensor(values, dtype=torch.float64)
    cell = torch.nn.LSTMCell(1, 1).double()
    with torch.no_grad():
        cell.weight_hh.zero_()
        cell.bias_hh.zero_()
        cell.weight_ih.copy_(as_double([[0.0], [0.0], [1.0], [0.0]]))  # gates i, f, g, o
        cell.bias_ih.copy_(as_double([logit(write), logit(forget), 0.0, logit(output)]))
        h, c = as_double([[output * np.tanh(value)]]), as_double([[value]])
        for t in range(1, 25):
            h, c = cell(as_double([[np.arctanh(trace["candidate"][t])]]), (h, c))
            assert c.item() == pytest.approx(trace["c"][t], abs=1e-12), f"c at step {t}"
            assert h.item() == pytest.approx(trace["h"][t], abs=1e-12), f"h at step {t}"


def test_output_gate_hides_the_cell_without_changing_it():
    shut, open_ = R.lstm_trace(0.9, 0.2, output=0.0), R.lstm_trace(0.9, 0.2, output=1.0)
    assert np.array_equal(shut["c"], open_["c"]) and np.all(shut["h"] == 0)


def test_noise_is_seeded_and_a_longer_trace_extends_a_shorter_one():
    short, long_ = R.lstm_trace(0.9, 0.5, length=20), R.lstm_trace(0.9, 0.5, length=60)
    for key in ("candidate", "c", "h"):
        assert np.array_equal(long_[key][:20], short[key])
    assert not np.array_equal(R.lstm_trace(0.9, 0.5, seed=1)["c"], short["c"])


def test_lstm_picture_draws_the_trace():
    fig = R.draw_lstm_trace(0.9, 0.2, 0.5, 60)
    trace = R.lstm_trace(0.9, 0.2, 0.5, 60)
    lines = lines_by_gid(fig)
    for key in ("c", "h", "remembered"):
        assert np.array_equal(lines[key].get_ydata(), trace[key]), key
    written = [c for c in fig.axes[1].collections if c.get_gid() == "written"][0].get_segments()
    assert np.allclose([segment[:, 0] for segment in written], np.arange(60)[:, None])
    assert np.allclose([segment[1, 1] - segment[0, 1] for segment in written], trace["written"])
    assert fig.axes[0].get_title() == R.lstm_title(0.9, 0.2, 0.5, trace)
    assert "after 59 steps" in fig.axes[0].get_title()


# --- 3. Generation ---------------------------------------------------------------------------


def greedy(model, chars, prompt, n_chars):
    """Greedy decoding, written independently: always the most likely next character. Also
    returns the smallest gap between the two best logits met on the way."""
    idx = torch.tensor([[chars.index(ch) for ch in prompt]])
    out, gaps, h = [], [], None
    with torch.no_grad():
        logits, h = model(idx, h)
        for _ in range(n_chars):
            best = torch.topk(logits[0, -1], 2).values
            gaps.append(float(best[0] - best[1]))
            out.append(int(logits[0, -1].argmax()))
            logits, h = model(torch.tensor([[out[-1]]]), h)
    return prompt + "".join(chars[i] for i in out), min(gaps)


def test_vocabulary_helpers(chars):
    assert chars == "".join(sorted(set(chars))) and R.char_vocab("banana") == "abn"
    codes = R.encode("a neuron.", chars)
    assert codes.dtype == np.int64 and codes.shape == (9,)
    assert R.decode(codes, chars) == "a neuron." and R.decode(torch.tensor(codes), chars) == "a neuron."
    with pytest.raises(ValueError, match="'AN'"):
        R.encode("A Neuron", chars)


def test_default_prompts_are_lower_case_course_text(chars):
    for prompt in R.DEFAULT_PROMPTS:
        assert prompt == prompt.lower() and set(prompt) <= set(chars)


def test_generate_starts_with_the_prompt_has_the_length_and_uses_the_vocabulary(model, chars):
    for n_chars in (0, 1, 150):
        text = R.generate(model, chars, PROMPT, 1.0, n_chars)
        assert text.startswith(PROMPT) and len(text) == len(PROMPT) + n_chars
        assert set(text) <= set(chars)


def test_generate_is_deterministic_for_a_seed_and_leaves_global_state_alone(model, chars):
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    first = R.generate(model, chars, PROMPT, 1.0, 120, seed=3)
    assert R.generate(model, chars, PROMPT, 1.0, 120, seed=3) == first
    assert R.generate(model, chars, PROMPT, 1.0, 120, seed=4) != first
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_generate_restores_the_training_mode(model, chars):
    model.train()
    try:
        text = R.generate(model, chars, PROMPT, 0.8, 50)
        assert model.training
    finally:
        model.eval()
    assert text == R.generate(model, chars, PROMPT, 0.8, 50)


def test_tiny_temperature_is_greedy_decoding(model, chars):
    for prompt in R.DEFAULT_PROMPTS:
        expected, gap = greedy(model, chars, prompt, 100)
        # the best logit leads by `gap`: at temperature 1e-3 another character has a chance
        # below exp(-gap / 1e-3) per step, so the comparison is well posed
        assert gap > 0.02, f"the test model's greedy path has near-ties ({gap:.3g})"
        for seed in (0, 1):
            assert R.generate(model, chars, prompt, 1e-3, 100, seed=seed) == expected


def test_samples_follow_softmax_of_logits_over_temperature(model, chars):
    """The first sampled character over 400 seeds, against softmax(logits / T): each of the three
    likeliest characters within 4 standard deviations of its probability. The two temperatures
    give clearly different probabilities, so a forgotten temperature would fail."""
    with torch.no_grad():
        logits = model(torch.as_tensor(R.encode(PROMPT, chars))[None])[0][0, -1].double()
    top3 = torch.topk(logits, 3).indices.tolist()
    mass = {}
    for temperature in (0.5, 1.5):
        probs = torch.softmax(logits / temperature, dim=0).numpy()
        counts = Counter(R.generate(model, chars, PROMPT, temperature, 1, seed=s)[-1] for s in range(400))
        for i in top3:
            sd = np.sqrt(probs[i] * (1 - probs[i]) / 400)
            assert abs(counts[chars[i]] / 400 - probs[i]) < 4 * sd, (temperature, chars[i])
        mass[temperature] = probs[top3].sum()
    assert mass[0.5] - mass[1.5] > 8 * np.sqrt(0.25 / 400)


def test_bad_prompts_and_temperatures_are_refused(model, chars):
    with pytest.raises(ValueError, match=r"'T'.*not in the vocabulary"):
        R.generate(model, chars, "The network", 1.0, 10)
    with pytest.raises(ValueError, match="prompt is empty"):
        R.generate(model, chars, "", 1.0, 10)
    for temperature in (0, -1.0):
        with pytest.raises(ValueError, match="must be positive"):
            R.generate(model, chars, PROMPT, temperature, 10)
    with pytest.raises(ValueError, match="'G'"):
        R.generation_widget(model, chars, prompts=("the ", "Gradient "))


def test_generation_html_escapes_the_text():
    block = R.generation_html("a <b", "a <b & c>", 0.5)
    assert "<b>a &lt;b</b> &amp; c&gt;</pre>" in block and "temperature 0.5" in block
