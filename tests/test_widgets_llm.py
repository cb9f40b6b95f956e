"""The widgets of chapter 7 (dlcourse/widgets/llm.py): every control changes the output, the static
and live renderings work, and the outputs mean what the chapter says they mean: the sampling
explorer shows ``llm.sampling_probs`` and seeded draws from it, the BPE widget's tokens are
``llm.bpe_encode``'s and put back together give the sentence, and the generation widget's text is
``llm.generate``'s, greedy at temperature 0, within the model's context."""

import numpy as np
import pytest
import torch

import widget_checks as W
from dlcourse import llm
from dlcourse.transformer import TinyTransformer
from dlcourse.widgets import MAX_FRAMES, one_torch_thread
from dlcourse.widgets import llm as L

SAMPLING_CHANGES = {"temperature": (0.5, 2.0), "top_k": (0, 2), "top_p": (1.0, 0.5)}

BPE_TEXT = ("the model learns the next token. the tokenizer learns which pairs are frequent, "
            "then merges them into new tokens. a learner reads and learns; the reader writes. "
            "tokens, tokenizers and tokenized text: a café with crème brûlée. ") * 3
BPE_MERGES = 60
SENTENCES = ("the learner reads the tokens.", "a <b> & 'quoted' café", "tokenizers merge pairs")
BPE_CHANGES = {"sentence": (SENTENCES[0], SENTENCES[2]), "k": (0, 50)}

VOCAB = "abcdefghijklmnopqrs "  # 20 tokens: a character-level toy vocabulary
MAX_LEN = 64
PROMPTS = ("a big dog ", "his pie ", "pears and figs ")
N_NEW = 40
GENERATION_CHANGES = {"prompt": (PROMPTS[0], PROMPTS[1]), "temperature": (0.0, 1.5)}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


def encode(text):
    return [VOCAB.index(ch) for ch in text]


def decode(ids):
    return "".join(VOCAB[int(i)] for i in ids)


@pytest.fixture(scope="module")
def merges():
    learnt = llm.bpe_train(BPE_TEXT, BPE_MERGES)
    assert len(learnt) == BPE_MERGES
    return learnt


@pytest.fixture(scope="module")
def model():
    """A small untrained causal TinyTransformer over the 20 characters of VOCAB: the checks hold
    for any weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = TinyTransformer(len(VOCAB), MAX_LEN, d_model=16, n_heads=2, n_layers=2, causal=True)
    return net.eval()


@pytest.fixture(scope="module")
def generation(model):
    return L.generation_widget(model, encode, decode, PROMPTS, n_new=N_NEW)


def greedy(model, prompt, n_new):
    """``llm.generate``'s greedy continuation of ``prompt``, as text."""
    ids = llm.generate(model, torch.tensor([encode(prompt)]), n_new, use_cache=True, temperature=0.0)
    return decode(ids[0, len(prompt):].tolist())


# --- 1. Sampling explorer --------------------------------------------------------------------


def test_sampling_widget_controls_change_the_picture():
    widget = L.sampling_widget()
    W.check_controls(widget, SAMPLING_CHANGES)
    W.check_each_control_changes_the_picture(widget, SAMPLING_CHANGES)


def test_sampling_widget_live_and_static_renderings(cheap_frames):
    widget = L.sampling_widget()
    W.check_live_reacts(widget, SAMPLING_CHANGES)
    logits = np.array(L.DEFAULT_LOGITS)

    def matches(frame, params):
        table = L.sampling_table(logits, params["temperature"], params["top_k"], params["top_p"])
        return L.sampling_title(params["temperature"], params["top_k"], params["top_p"], table) in frame

    data_ = W.check_static_rendering(widget, matches)
    assert len(data_["frames"]) == 5 * 3 * 3 <= MAX_FRAMES


@pytest.mark.parametrize("temperature, top_k, top_p", [
    (1.0, None, None), (0.5, 3, None), (2.0, None, 0.75), (1.5, 5, 0.9), (0.1, None, 0.5), (1.0, 2, 0.5),
])
def test_sampling_table_is_sampling_probs_and_its_draws(temperature, top_k, top_p):
    logits = np.array(L.DEFAULT_LOGITS)
    table = L.sampling_table(logits, temperature, top_k, top_p, n_draws=200, seed=0)
    expected = llm.sampling_probs(torch.tensor(logits), temperature, top_k, top_p).numpy()
    assert np.allclose(table["probs"], expected, rtol=0, atol=1e-12)
    assert table["probs"].sum() == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(table["softmax"], torch.softmax(torch.tensor(logits), 0).numpy(), atol=1e-12)
    assert table["counts"].sum() == 200 and np.all(table["counts"] >= 0)
    assert np.all(table["counts"][table["probs"] == 0] == 0)
    assert table["kept"] == int((table["probs"] > 0).sum())
    if top_k:
        assert table["kept"] <= top_k
    p = table["probs"][table["probs"] > 0]
    assert table["entropy"] == pytest.approx(float(-(p * np.log(p)).sum()), abs=1e-12)


def test_widget_values_for_off_mean_no_filter():
    logits = np.array(L.DEFAULT_LOGITS)
    off = L.sampling_table(logits, 1.0, 0, 1.0)
    assert np.allclose(off["probs"], off["softmax"], atol=1e-12) and off["kept"] == len(logits)
    assert np.array_equal(off["counts"], L.sampling_table(logits, 1.0, None, None)["counts"])


@pytest.mark.parametrize("temperature", [0.1, 1.0, 2.0])
def test_top_k_one_leaves_the_likeliest_word_only(temperature):
    logits = np.array(L.DEFAULT_LOGITS)
    table = L.sampling_table(logits, temperature, 1, 1.0, n_draws=200)
    best = int(np.argmax(logits))
    assert table["kept"] == 1 and table["probs"][best] == 1.0
    assert table["counts"][best] == 200 and table["entropy"] == 0.0


def test_controls_do_what_they_say_on_the_default_logits():
    """Lower temperature: lower entropy; top-p 0.5 keeps the two likeliest words (0.35 + 0.21),
    0.75 four, 0.9 five; at temperature 2 the tail gains probability."""
    logits = np.array(L.DEFAULT_LOGITS)
    entropies = [L.sampling_table(logits, t)["entropy"] for t in (0.1, 0.5, 1.0, 1.5, 2.0)]
    assert np.all(np.diff(entropies) > 0) and entropies[0] < 0.1
    assert entropies[-1] < np.log(len(logits))
    assert [L.sampling_table(logits, 1.0, None, p)["kept"] for p in (0.5, 0.75, 0.9)] == [2, 4, 5]
    hot, plain = L.sampling_table(logits, 2.0), L.sampling_table(logits, 1.0)
    assert hot["probs"][-1] > plain["probs"][-1] and hot["probs"][0] < plain["probs"][0]


def test_draws_are_seeded_and_follow_the_probabilities():
    logits = np.array(L.DEFAULT_LOGITS)
    state = torch.get_rng_state().clone()
    first = L.sampling_table(logits, 1.0, None, 0.9, n_draws=2000, seed=3)
    assert np.array_equal(L.sampling_table(logits, 1.0, None, 0.9, n_draws=2000, seed=3)["counts"],
                          first["counts"])
    assert not np.array_equal(L.sampling_table(logits, 1.0, None, 0.9, n_draws=2000, seed=4)["counts"],
                              first["counts"])
    assert torch.equal(torch.get_rng_state(), state), "the global random state is left alone"
    sd = np.sqrt(first["probs"] * (1 - first["probs"]) / 2000)
    assert np.all(np.abs(first["counts"] / 2000 - first["probs"]) <= 4 * sd + 1e-12)


def test_sampling_figure_shows_the_table_and_names_the_words():
    fig = L.draw_sampling(1.5, 5, 0.9)
    table = L.sampling_table(np.array(L.DEFAULT_LOGITS), 1.5, 5, 0.9)
    ax = fig.axes[0]
    bars = {}
    for patch in ax.patches:
        bars.setdefault(patch.get_gid(), []).append(patch.get_height())
    assert np.allclose(bars["softmax"], table["softmax"])
    assert np.allclose(bars["probs"], table["probs"])
    assert np.allclose(bars["draws"], table["counts"] / L.N_DRAWS)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(L.DEFAULT_WORDS)
    title = ax.get_title()
    assert title == L.sampling_title(1.5, 5, 0.9, table)
    assert "temperature 1.5, top-k 5, top-p 0.9" in title and f"entropy {table['entropy']:.2f} nats" in title
    assert ax.get_xlabel() and ax.get_ylabel() == "probability"


def test_sampling_widget_takes_its_own_words_and_refuses_bad_ones():
    widget = L.sampling_widget(["yes", "no", "maybe"], [2.0, 1.0, -1.0])
    assert widget.render(top_k=1) != widget.render(top_k=0)
    with pytest.raises(ValueError, match="both words and logits"):
        L.sampling_widget(["yes", "no"])
    with pytest.raises(ValueError, match="one score per word"):
        L.sampling_widget(["yes", "no"], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        L.sampling_widget(["yes", "no"], [1.0, np.inf])
    with pytest.raises(ValueError, match="positive"):
        L.sampling_table([1.0, 2.0], 0.0)


# --- 2. BPE merges -----------------------------------------------------------------------------


def test_bpe_widget_controls_change_the_tokens_in_every_rendering(merges):
    widget = L.bpe_widget(merges, SENTENCES)
    W.check_controls(widget, BPE_CHANGES)
    for name, (a, b) in BPE_CHANGES.items():
        first, second = widget.render(**{name: a}), widget.render(**{name: b})
        assert first.startswith('<div class="dlw-bpe">') and 'class="tok"' in first
        assert first != second, f"changing {name} from {a!r} to {b!r} did not change the tokens"
    W.check_live_reacts(widget, BPE_CHANGES)

    def matches(frame, params):
        return frame == L.bpe_html(params["sentence"], merges, params["k"])

    data_ = W.check_static_rendering(widget, matches)
    assert len(data_["frames"]) == len(SENTENCES) * 5 <= MAX_FRAMES
    assert widget.controls["k"].static_values == [0, 5, 20, 50, BPE_MERGES]


def shown_tokens(frame):
    """The labels of a frame's token boxes, unescaped."""
    import html
    import re

    return [html.unescape(t) for t in re.findall(r'<span class="tok"[^>]*>(.*?)</span>', frame)]


def test_tokens_put_back_together_give_the_sentence_and_get_fewer(merges):
    for sentence in SENTENCES + ("the café — “tokens”", "  two  spaces\tand a tab"):
        counts = []
        for k in range(BPE_MERGES + 1):
            ids, pieces = L.bpe_tokens(sentence, merges, k)
            assert ids == llm.bpe_encode(sentence, merges[:k])
            assert b"".join(pieces) == sentence.encode("utf-8")
            assert llm.bpe_decode(ids, merges[:k]) == sentence
            counts.append(len(ids))
        assert counts[0] == len(sentence.encode("utf-8")), "no merges: one token per byte"
        assert all(b <= a for a, b in zip(counts, counts[1:])), f"{sentence!r}: {counts}"
        assert counts[-1] < counts[0]
        for k in L.merge_steps(BPE_MERGES):
            frame = L.bpe_html(sentence, merges, k)
            labels = shown_tokens(frame)
            assert len(labels) == counts[k]
            assert f"<b>{k} of {BPE_MERGES} merges applied: {counts[k]} tokens" in frame
            if sentence.isascii() and "\t" not in sentence:
                assert "".join(labels).replace("␣", " ") == sentence


def test_bpe_frame_escapes_the_text_and_shows_partial_characters_as_hex(merges):
    frame = L.bpe_html(SENTENCES[1], merges, 0)
    assert "<b>" not in frame.split('class="tokens"')[1] and "&lt;" in frame and "&amp;" in frame
    labels = shown_tokens(frame)
    assert labels[-2:] == ["\\xc3", "\\xa9"], "é is two bytes, each only part of a character"
    assert labels[1] == "␣" and "no merges yet" in frame
    assert f"{len(SENTENCES[1])} characters ({len(SENTENCES[1].encode())} bytes)" in frame
    merged = shown_tokens(L.bpe_html(SENTENCES[1], merges, BPE_MERGES))
    assert "é" in "".join(merged), "once its two bytes are merged, é shows as itself"


def test_last_merge_is_written_out():
    merges = llm.bpe_train("er er er", 2)
    assert merges == [(101, 114), (32, 256)]
    assert L.last_merge(merges, 1) == "merge 1: 'e' + 'r' -> 'er'"
    assert L.last_merge(merges, 2) == "merge 2: '␣' + 'er' -> '␣er'"
    assert "merge 2: &#x27;␣&#x27; + &#x27;er&#x27; -&gt; &#x27;␣er&#x27;" in L.bpe_html("her", merges, 2)


def test_merge_steps_and_refusals(merges):
    assert L.merge_steps(0) == [0] and L.merge_steps(7) == [0, 5, 7]
    assert L.merge_steps(1000) == [0, 5, 20, 50, 100, 200, 500, 1000]
    many = [f"sentence {i}" for i in range(31)]
    with pytest.raises(ValueError, match="155 pictures, more than MAX_FRAMES"):
        L.bpe_widget(merges, many)
    with pytest.raises(ValueError, match="merge 1"):
        L.bpe_widget([(300, 1)], SENTENCES)


# --- 3. Generation -----------------------------------------------------------------------------


def test_generation_controls_change_the_text(generation):
    W.check_controls(generation, GENERATION_CHANGES)
    for name, (a, b) in GENERATION_CHANGES.items():
        first, second = generation.render(**{name: a}), generation.render(**{name: b})
        assert first.startswith('<div class="dlw-text"><pre') and "</pre>" in first
        assert first != second, f"changing {name} from {a!r} to {b!r} did not change the text"
    W.check_live_reacts(generation, GENERATION_CHANGES)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_temperature_zero_is_greedy_generate(generation, model, prompt):
    expected = greedy(model, prompt, N_NEW)
    frame = generation.render(prompt=prompt, temperature=0.0)
    assert f"<b>{prompt}</b>{expected}</pre>" in frame
    assert f"greedy decoding, the likeliest token each time: {N_NEW} tokens" in frame


def test_generation_renders_statically_within_max_frames(monkeypatch, generation, model):
    from dlcourse.widgets import widget_mode

    shown = []
    monkeypatch.setenv("DLCOURSE_WIDGETS", "static")
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    assert widget_mode() == "static"
    generation._ipython_display_()
    data_ = W.frames_of(shown[0].data)
    assert len(data_["frames"]) == len(PROMPTS) * len(L.TEMPERATURES) <= MAX_FRAMES
    assert data_["labels"]["temperature"] == ["0 (greedy)", "0.5", "1", "1.5"]

    def matches(frame, params):
        result = L.continue_text(model, encode, decode, params["prompt"], params["temperature"], N_NEW)
        return frame == L.generation_html(result, params["temperature"], N_NEW)

    W.check_static_rendering(generation, matches)


def test_sampled_text_is_seeded_and_leaves_model_and_random_state_alone(model):
    state = torch.get_rng_state().clone()
    first = L.continue_text(model, encode, decode, PROMPTS[0], 1.0, N_NEW, seed=1)
    assert L.continue_text(model, encode, decode, PROMPTS[0], 1.0, N_NEW, seed=1) == first
    assert L.continue_text(model, encode, decode, PROMPTS[0], 1.0, N_NEW, seed=2) != first
    assert torch.equal(torch.get_rng_state(), state)
    assert len(first["new_ids"]) == N_NEW and set(first["continuation"]) <= set(VOCAB)
    model.train()
    try:
        again = L.continue_text(model, encode, decode, PROMPTS[0], 1.0, N_NEW, seed=1)
        assert model.training, "the model's training mode is restored"
    finally:
        model.eval()
    assert again == first


def test_context_is_never_overrun(model):
    """A prompt shorter than the context gets at most max_len - len(prompt) new tokens; a longer
    one is cut from the left to max_len - 1 tokens, leaving room for one."""
    short = L.continue_text(model, encode, decode, PROMPTS[2], 0.0, n_new=100)
    assert len(short["prompt_ids"]) + len(short["new_ids"]) == MAX_LEN and not short["cropped"]
    assert short["continuation"] == greedy(model, PROMPTS[2], MAX_LEN - len(PROMPTS[2]))
    html = L.generation_html(short, 0.0, 100)
    assert f"stopped when the context of {MAX_LEN} tokens was full" in html and "cut" not in html

    long_prompt = "abcdefghijklmnopqrs " * 4
    result = L.continue_text(model, encode, decode, long_prompt, 0.5, n_new=10)
    assert result["cropped"] and result["prompt_text"] == long_prompt[-(MAX_LEN - 1):]
    assert len(result["new_ids"]) == 1
    html = L.generation_html(result, 0.5, 10)
    assert f"<b>{long_prompt[-(MAX_LEN - 1):]}</b>" in html and f"last {MAX_LEN - 1} tokens" in html


def test_generation_refuses_bad_prompts_and_settings(model):
    with pytest.raises(ValueError, match="cannot be encoded"):
        L.generation_widget(model, encode, decode, ["the cat "])
    with pytest.raises(ValueError, match="no tokens"):
        L.generation_widget(model, encode, decode, ["a ", ""])
    with pytest.raises(ValueError, match="more than MAX_FRAMES"):
        L.generation_widget(model, encode, decode, [f"{c} " for c in VOCAB[:19]], temperatures=range(8))
    with pytest.raises(ValueError, match="0 \\(greedy\\) or positive"):
        L.generation_widget(model, encode, decode, PROMPTS, temperatures=(0.0, -1.0))


def test_generation_html_escapes_the_text():
    result = {"prompt_ids": [0], "prompt_text": "a <b", "new_ids": [1, 2], "continuation": " & c>",
              "max_len": 8, "cropped": False}
    block = L.generation_html(result, 0.5, 2)
    assert "<b>a &lt;b</b> &amp; c&gt;</pre>" in block and "temperature 0.5" in block


# --- All three ---------------------------------------------------------------------------------


def test_frames_stay_small_and_leave_no_pyplot_figures_open(merges, generation):
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    for widget in (L.sampling_widget(), L.bpe_widget(merges, SENTENCES), generation):
        html = widget.render()
        assert len(html) < 30_000, f"a frame of {widget.title} takes {len(html)} characters"
    assert set(plt.get_fignums()) == before
