"""The widgets of chapter 6 (dlcourse/widgets/transformers.py): every control changes the output, the
static and live renderings work, and the outputs mean what the chapter says they mean: the
attention maps are the model's own (at temperature 1), the temperature divides every layer's
scores inside the forward pass, the causal mask hides the future, the heatmap shows the weights it
was given; the positional encodings are the formula and their similarity depends on distance only;
the query widget's weights are the softmax of its scores and its output their weighted average."""
import copy
import math
import re

import numpy as np
import pytest
import torch

import widget_checks as W
from dlcourse import data
from dlcourse.transformer import TinyTransformer
from dlcourse.widgets import MAX_FRAMES, one_torch_thread
from dlcourse.widgets import transformers as T

POSITION_CHANGES = {"n": (16, 64), "d": (16, 128), "position": (0, 8)}
QUERY_CHANGES = {"angle": (0, 120), "length": (1.0, 3.0),
                 "scale": (T.SCALES["q·k (unscaled)"], T.SCALES["q·k / √d (as in attention)"])}
HEATMAP_CHANGES = {"sentence": (0, 2), "layer": (0, 1), "head": (0, 1), "temperature": (0.25, 4.0),
                   "causal": (False, True)}

FIGURE_CASES = [(T.positional_widget, POSITION_CHANGES), (T.query_widget, QUERY_CHANGES)]
FIGURE_IDS = ["positional_widget", "query_widget"]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def sentences():
    return data.pronoun_sentences(3, seed=5)


@pytest.fixture(scope="module")
def model():
    """A small untrained TinyTransformer (d_model 16, 2 layers of 2 heads): the meaning checks
    hold for any weights, and random ones give attention far from uniform enough to see."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = TinyTransformer(len(data.PRONOUN_VOCAB), 9, d_model=16, n_heads=2, n_layers=2)
    return net.eval()


@pytest.fixture(scope="module")
def heatmap(model, sentences):
    return T.attention_heatmap_widget(model, sentences["tokens"], sentences["vocab"])


def own_forward_weights(model, tokens, causal_model=False):
    """The attention weights a TinyTransformer stores in its own forward pass, one (heads, n, n)
    per layer; ``causal_model`` runs a copy built as a decoder (causal=True) with the same weights."""
    net = model
    if causal_model:
        net = TinyTransformer(len(data.PRONOUN_VOCAB), 9, d_model=16, n_heads=2, n_layers=2, causal=True)
        net.load_state_dict(model.state_dict())
    with torch.no_grad():
        net(torch.as_tensor(tokens)[None])
    return [block.attn.weights[0].numpy() for block in net.blocks]


def softmax_rows(scores):
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


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


def positions_frame_matches(frame, params):
    _, S = T.position_similarity(params["n"], params["d"])
    return (T.positions_title(params["n"], params["d"], S) in frame
            and f"position {min(params['position'], params['n'] - 1)} (orange)" in frame)


def query_frame_matches(frame, params):
    step = T.query_attention(params["angle"], params["length"], params["scale"])
    return T.query_title(params["angle"], params["length"], step) in frame


@pytest.mark.parametrize("make, matches, frames", [
    (T.positional_widget, positions_frame_matches, 4 * 4 * 2),
    (T.query_widget, query_frame_matches, 6 * 3 * 2),
], ids=FIGURE_IDS)
def test_static_rendering_has_one_frame_per_grid_point(make, matches, frames, cheap_frames):
    data_ = W.check_static_rendering(make(), matches)
    assert len(data_["frames"]) == frames <= MAX_FRAMES


def test_drawing_leaves_no_pyplot_figures_open_and_frames_stay_small():
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    for make, _ in FIGURE_CASES:
        html = make().render()
        assert len(html) < 30_000, f"a frame of {make.__name__} takes {len(html)} characters"
    assert set(plt.get_fignums()) == before


# --- 1. Attention heatmap --------------------------------------------------------------------


def test_heatmap_widget_controls_change_the_table_in_every_rendering(heatmap, model, sentences):
    W.check_controls(heatmap, HEATMAP_CHANGES)
    for name, (a, b) in HEATMAP_CHANGES.items():
        first, second = heatmap.render(**{name: a}), heatmap.render(**{name: b})
        assert first.startswith('<div class="dlw-attention">') and "</table>" in first
        assert first != second, f"changing {name} from {a!r} to {b!r} did not change the heatmap"
    W.check_live_reacts(heatmap, HEATMAP_CHANGES)

    def matches(frame, params):
        maps = T.attention_maps(model, sentences["tokens"][params["sentence"]], params["temperature"],
                                params["causal"])
        words = T.words_of(sentences["tokens"][params["sentence"]], sentences["vocab"])
        return frame == T.attention_html(maps[params["layer"]][params["head"]], words, params["layer"],
                                         params["head"], params["temperature"], params["causal"])

    data_ = W.check_static_rendering(heatmap, matches)
    assert len(data_["frames"]) == 3 * 2 * 2 * 5 * 2 <= MAX_FRAMES
    assert len(W.frames_of(heatmap.static_html())["labels"]["sentence"][0].split()) == 9
    assert sum(map(len, data_["frames"].values())) < 1_000_000, "the static heatmap should stay small"


def test_heatmap_widget_refuses_too_many_frames_and_repeated_sentences(model, sentences):
    more = data.pronoun_sentences(4, seed=6)["tokens"]
    with pytest.raises(ValueError, match="160 pictures, more than MAX_FRAMES"):
        T.attention_heatmap_widget(model, more, sentences["vocab"])
    widget = T.attention_heatmap_widget(model, more, sentences["vocab"], temperatures=(0.5, 1, 2))
    assert widget.controls["temperature"].static_values == [0.5, 1, 2]
    with pytest.raises(ValueError, match="the same"):
        T.attention_heatmap_widget(model, [more[0], more[0]], sentences["vocab"])


@pytest.mark.parametrize("i", [0, 1, 2])
def test_attention_maps_at_temperature_one_are_the_models_own(model, sentences, i):
    tokens = sentences["tokens"][i]
    maps = T.attention_maps(model, tokens)
    assert len(maps) == 2 and all(m.shape == (2, 9, 9) for m in maps)
    own = own_forward_weights(model, tokens)
    assert all(np.array_equal(m, o) for m, o in zip(maps, own))
    assert all(np.allclose(m.sum(axis=-1), 1, atol=1e-6) and m.min() >= 0 for m in maps)
    causal = T.attention_maps(model, torch.as_tensor(tokens), causal=True)
    assert all(np.allclose(m, o, atol=1e-7) for m, o in zip(causal, own_forward_weights(model, tokens, True)))
    for m in causal:
        assert np.all(m[:, np.triu_indices(9, 1)[0], np.triu_indices(9, 1)[1]] == 0), "the future is hidden"
        assert np.allclose(m.sum(axis=-1), 1, atol=1e-6) and np.all(m[:, 0, 0] == 1)
    assert not np.allclose(causal[0], maps[0]), "the mask changes the weights"


def test_attention_maps_leave_the_model_as_they_found_it(model, sentences):
    tokens = sentences["tokens"][0]
    before = own_forward_weights(model, tokens)
    model.train()
    try:
        T.attention_maps(model, tokens, temperature=0.5, causal=True)
        assert model.training and model.causal is False
        assert all(not block.attn.q_proj._forward_hooks for block in model.blocks)
    finally:
        model.eval()
    assert all(np.array_equal(a, b) for a, b in zip(before, own_forward_weights(model, tokens)))
    decoder = copy.deepcopy(model)
    decoder.causal = True
    T.attention_maps(decoder, tokens, causal=False)
    assert decoder.causal is True


def first_layer_scores(model, tokens):
    """The first layer's scores q.k / sqrt(d_head), written out from the model's weights."""
    with torch.no_grad():
        idx = torch.as_tensor(tokens)[None]
        x = model.embed(idx) + model.position(torch.arange(idx.shape[1]))
        block = model.blocks[0]
        h = block.norm1(x)
        q, k = (t.reshape(1, -1, 2, 8).transpose(1, 2)[0]  # (heads, n, d_head)
                for t in (block.attn.q_proj(h), block.attn.k_proj(h)))
        return (q @ k.transpose(-2, -1)).double().numpy() / math.sqrt(8)


@pytest.mark.parametrize("temperature", [0.25, 0.5, 2.0, 4.0])
def test_temperature_divides_every_layers_scores_in_the_forward_pass(model, sentences, temperature):
    tokens = sentences["tokens"][1]
    cold = T.attention_maps(model, tokens, temperature)
    # layer 1 sees the model's own inputs: softmax(scores / T)
    assert np.allclose(cold[0], softmax_rows(first_layer_scores(model, tokens) / temperature), atol=1e-5)
    # the whole network run at temperature T: a copy whose query projections are divided by T
    scaled = copy.deepcopy(model)
    with torch.no_grad():
        for block in scaled.blocks:
            block.attn.q_proj.weight /= temperature
            block.attn.q_proj.bias /= temperature
    assert all(np.allclose(c, s, atol=1e-5) for c, s in zip(cold, own_forward_weights(scaled, tokens)))
    # so layer 2 reads the changed layer 1: it is not its temperature-1 map re-softmaxed at T
    warm = T.attention_maps(model, tokens)
    resoftmaxed = [softmax_rows(np.log(w.astype(np.float64)) / temperature) for w in warm]
    assert np.allclose(cold[0], resoftmaxed[0], atol=1e-4)
    assert not np.allclose(cold[1], resoftmaxed[1], atol=1e-3)


def test_lower_temperature_sharpens_every_row_of_the_first_layer(model, sentences):
    tokens = sentences["tokens"][2]
    entropy = [-(m * np.log(m)).sum(axis=-1) for m in
               (T.attention_maps(model, tokens, t)[0].astype(np.float64) for t in T.TEMPERATURES)]
    assert all(np.all(a < b) for a, b in zip(entropy, entropy[1:]))


def test_attention_maps_refuse_bad_input(model, sentences):
    for temperature in (0, -1.0):
        with pytest.raises(ValueError, match="must be positive"):
            T.attention_maps(model, sentences["tokens"][0], temperature)
    with pytest.raises(ValueError, match=r"shape \(3, 9\)"):
        T.attention_maps(model, sentences["tokens"])


def cells_of(html):
    """The heatmap's cells, row by row: (class, background, text) of every <td>."""
    rows = re.findall(r"<tr(?: class=\"it\")?><th>[^<]*</th>(.*?)</tr>", html)
    cell = re.compile(r'<td(?: class="(\w+)")?(?: style="background: (#[0-9a-f]{6})")?[^>]*>([^<]*)</td>')
    return [cell.findall(row) for row in rows]


@pytest.mark.parametrize("causal", [False, True])
def test_heatmap_table_shows_the_weights_it_is_given(model, sentences, causal):
    tokens = sentences["tokens"][0]
    words = T.words_of(tokens, sentences["vocab"])
    weights = T.attention_maps(model, tokens, 0.5, causal)[1][0]
    html = T.attention_html(weights, words, 1, 0, 0.5, causal)
    cells = cells_of(html)
    assert len(cells) == 9 and all(len(row) == 9 for row in cells)
    for i, row in enumerate(cells):
        for j, (kind, colour, text) in enumerate(row):
            if causal and j > i:
                assert kind == "masked" and text == "" and not colour
            else:
                assert text == f"{weights[i, j]:.2f}" and colour == T._blues([weights[i, j]])[0]
                assert (kind == "dark") == (weights[i, j] > 0.6)
    assert sum(kind == "masked" for row in cells for kind, _, _ in row) == (36 if causal else 0)
    assert re.findall(r"<th>([^<]*)</th>", html) == words  # rows: the queries
    assert re.findall(r'<th class="key">([^<]*)</th>', html) == words  # columns: the keys
    assert html.count('<tr class="it">') == 1 and '<tr class="it"><th>it</th>' in html
    heading = f"layer 2, head 1, temperature 0.5, causal mask {'on' if causal else 'off'}"
    assert f"<b>{heading}</b>" in html
    nouns = T.pronoun_weights(weights, words)
    assert [noun for noun, _ in nouns] == [words[1], words[4]]
    assert [w for _, w in nouns] == pytest.approx([weights[6, 1], weights[6, 4]])
    assert f"“it” attends to {words[1]} {weights[6, 1]:.2f}, {words[4]} {weights[6, 4]:.2f}" in html
    assert ("hidden by the causal mask" in html) == causal


def test_heatmap_of_a_long_sentence_without_a_pronoun_is_not_annotated():
    words = [f"w{i}" for i in range(14)]
    weights = softmax_rows(np.random.default_rng(0).standard_normal((14, 14)))
    html = T.attention_html(weights, words, 0, 1, 1.0, False)
    assert 'class="long"' in html and "“it”" not in html and '<tr class="it">' not in html
    assert all(text == "" for row in cells_of(html) for _, _, text in row)
    assert html.count('title="') == 14 * 14, "each cell tells its weight on hovering"
    title = T.attention_title(words, weights, 0, 1, 1.0, False)
    assert title == "layer 1, head 2, temperature 1, causal mask off"


def test_heatmap_escapes_the_words():
    html = T.attention_html(np.eye(2), ["<b>", "&"], 0, 0, 1.0, False)
    assert "<th>&lt;b&gt;</th>" in html and '<th class="key">&amp;</th>' in html


def test_trained_model_names_the_referent_and_a_head_finds_it():
    """``train_pronoun_model`` is seeded, leaves the global random state alone, and 80 steps
    give a model that names the referent of "it" in fresh sentences, with a second-layer head
    whose attention from "it" goes to the antecedent far more than to the other noun."""
    state = torch.get_rng_state().clone()
    net = T.train_pronoun_model(seed=0, steps=80)
    assert torch.equal(torch.get_rng_state(), state) and not net.training
    first, second = (T.train_pronoun_model(seed=0, steps=3).state_dict() for _ in range(2))
    assert all(torch.equal(first[name], second[name]) for name in first)
    fresh = data.pronoun_sentences(1000, seed=10**6)
    assert T.pronoun_accuracy(net, fresh) >= 0.98
    on_antecedent, on_other = T.pronoun_attention(net, fresh)
    assert on_antecedent.shape == on_other.shape == (2, 2)
    assert np.max(on_antecedent[1] - on_other[1]) > 0.3
    # the batched means are the single-sentence maps, averaged
    for i in range(3):
        maps = T.attention_maps(net, fresh["tokens"][i])
        a, o = T.pronoun_attention(net, {k: v[i:i + 1] if isinstance(v, np.ndarray) else v
                                         for k, v in fresh.items()})
        assert np.allclose(a, [m[:, 6, fresh["antecedent"][i]] for m in maps], atol=1e-6)
        assert np.allclose(o, [m[:, 6, fresh["other"][i]] for m in maps], atol=1e-6)


# --- 2. Positional encodings -----------------------------------------------------------------


@pytest.mark.parametrize("n, d", [(16, 16), (50, 32), (128, 128), (7, 6)])
def test_positions_are_the_formula_and_their_similarity_the_cosine(n, d):
    P, S = T.position_similarity(n, d)
    p, i = np.arange(n)[:, None], np.arange(d // 2)[None, :]
    angle = p / 10000.0 ** (2 * i / d)
    assert P.shape == (n, d) and np.allclose(P[:, 0::2], np.sin(angle), atol=1e-6)
    assert np.allclose(P[:, 1::2], np.cos(angle), atol=1e-6)
    norms = np.linalg.norm(P, axis=1)
    assert np.allclose(S, P @ P.T / np.outer(norms, norms), atol=1e-6)
    assert np.allclose(np.diag(S), 1, atol=1e-6)
    assert np.allclose(S[1:, 1:], S[:-1, :-1], atol=1e-5), "similarity depends on p - q only"
    assert np.allclose(S, S.T)


def test_positions_picture_draws_the_encodings_and_the_chosen_row():
    for n, d, position in [(16, 128, 8), (128, 16, 0), (32, 64, 100)]:
        fig = T.draw_positions(n, d, position)
        P, S = T.position_similarity(n, d)
        shown = min(position, n - 1)
        images = {im.get_gid(): im.get_array() for ax in fig.axes for im in ax.images}
        assert np.array_equal(images["P"], P) and np.array_equal(images["S"], S)
        row = [line for ax in fig.axes for line in ax.lines if line.get_gid() == "row"][0]
        assert np.array_equal(row.get_ydata(), S[shown])
        assert f"position {shown} (orange)" in W.figure_summary(fig)
        assert fig.get_suptitle() == T.positions_title(n, d, S)
        assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)


def test_nearby_positions_are_more_alike_than_far_ones():
    _, S = T.position_similarity(128, 64)
    assert S[0, 1] > S[0, 4] > S[0, 16] and S[0, 1] > 0.9


# --- 3. One query, step by step --------------------------------------------------------------


@pytest.mark.parametrize("angle, length, scale", [(0, 1.0, 1 / np.sqrt(2)), (135, 2.5, 1.0),
                                                  (300, 4.0, 1 / np.sqrt(2)), (77, 0.3, 2.0)])
def test_query_step_is_softmax_of_scores_and_the_weighted_average(angle, length, scale):
    step = T.query_attention(angle, length, scale)
    q = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))]) * length
    assert np.allclose(step["query"], q) and np.isclose(np.linalg.norm(step["query"]), length)
    assert np.allclose(step["scores"], scale * np.array([k @ q for k in T.KEYS]))
    expected = torch.softmax(torch.tensor(step["scores"]), dim=0).numpy()
    assert np.allclose(step["weights"], expected, rtol=1e-12) and np.isclose(step["weights"].sum(), 1)
    assert np.allclose(step["output"], sum(w * v for w, v in zip(step["weights"], T.VALUES)))
    assert step["output"].shape == (3,) and np.all((0 <= step["output"]) & (step["output"] <= 1))


def test_a_query_of_length_zero_averages_all_values():
    step = T.query_attention(200, 0.0)
    assert np.allclose(step["weights"], 0.2) and np.allclose(step["output"], T.VALUES.mean(axis=0))
    assert "every weight 0.20" in T.query_title(200, 0.0, step)


@pytest.mark.parametrize("angle", [0, 60, 120, 180, 240, 300])
def test_a_longer_query_sharpens_the_softmax(angle):
    weights = [T.query_attention(angle, length)["weights"] for length in (0.5, 1.0, 2.0, 4.0)]
    assert all(np.max(a) < np.max(b) for a, b in zip(weights, weights[1:]))
    # doubling the length squares the weights, renormalised: softmax(2s) is softmax(s)^2 / sum
    for short, long_ in zip(weights, weights[1:]):
        assert np.allclose(long_, short ** 2 / np.sum(short ** 2))
    # leaving out the 1/sqrt(d) is the same as a query sqrt(2) times longer
    assert np.allclose(T.query_attention(angle, 1.0, 1.0)["weights"],
                       T.query_attention(angle, np.sqrt(2))["weights"])


def test_pointing_the_query_at_a_key_gives_that_key_the_largest_weight():
    for i, key in enumerate(T.KEYS):
        angle = np.degrees(np.arctan2(key[1], key[0]))
        step = T.query_attention(angle, 2.0)
        assert np.argmax(step["weights"]) == i
        assert f"on key {T.KEY_NAMES[i]}" in T.query_title(angle, 2.0, step)


def test_query_picture_draws_the_weights_and_the_output():
    from matplotlib.colors import to_rgb

    for angle, length, scale in [(60, 2.0, 1 / np.sqrt(2)), (240, 4.0, 1.0)]:
        fig = T.draw_query(angle, length, scale)
        step = T.query_attention(angle, length, scale)
        bars = [p for ax in fig.axes for p in ax.patches if p.get_gid() == "weights"]
        assert np.allclose([b.get_height() for b in bars], step["weights"])
        assert np.allclose([to_rgb(b.get_facecolor()) for b in bars], T.VALUES)
        output = [p for ax in fig.axes for p in ax.patches if p.get_gid() == "output"][0]
        assert np.allclose(to_rgb(output.get_facecolor()), step["output"])
        arrow = [c for ax in fig.axes for c in ax.collections if c.get_gid() == "query"][0]
        direction = np.array([arrow.U[0], arrow.V[0]])
        assert np.allclose(direction / np.linalg.norm(direction), step["query"] / length)
        assert fig.get_suptitle() == T.query_title(angle, length, step)
        assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)
        assert ("q·k / √2" in fig.axes[1].get_title()) == (scale != 1.0)
