import numpy as np
import pytest
import torch

from dlcourse import data

GENERATORS = [data.blobs, data.moons, data.circles, data.spirals, data.xor]


@pytest.mark.parametrize("make", GENERATORS, ids=lambda f: f.__name__)
def test_2d_sets_have_the_documented_shapes_and_balanced_labels(make):
    X, y = make(n=101, seed=3)
    assert X.shape == (101, 2) and X.dtype == np.float64
    assert y.shape == (101,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("make", GENERATORS + [data.swiss_roll], ids=lambda f: f.__name__)
def test_generators_repeat_with_a_seed_and_change_without(make):
    a, b, c = make(seed=1), make(seed=1), make(seed=2)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_xor_labels_follow_the_quadrants():
    X, y = data.xor(n=400, noise=0.05, seed=0)
    assert np.array_equal(y, (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(int))


def test_circles_put_class_one_inside():
    X, y = data.circles(n=400, noise=0.0, seed=0)
    r = np.linalg.norm(X, axis=1)
    assert np.allclose(r[y == 0], 1.0) and np.allclose(r[y == 1], 0.5)


def test_spirals_support_several_classes():
    X, y = data.spirals(n=300, classes=3, seed=0)
    assert set(np.unique(y)) == {0, 1, 2}


def test_swiss_roll_position_is_in_unit_interval():
    X, t = data.swiss_roll(n=500, seed=0)
    assert X.shape == (500, 2) and t.min() >= 0 and t.max() <= 1


def test_digits_split_is_fixed_disjoint_and_stratified():
    Xtr, ytr = data.digits("train")
    Xte, yte = data.digits("test")
    assert Xtr.shape == (1437, 64) and Xte.shape == (360, 64)
    assert 0.0 <= Xtr.min() and Xtr.max() <= 1.0
    assert np.array_equal(data.digits("train")[0], Xtr)  # same split every time
    train_rows = {row.tobytes() for row in Xtr}
    assert not any(row.tobytes() in train_rows for row in Xte)
    assert np.all(np.bincount(yte) >= 35)
    images, _ = data.digits("test", flat=False)
    assert images.shape == (360, 8, 8)


def test_digits_rejects_unknown_split():
    with pytest.raises(ValueError, match="use 'train', 'test' or 'all'"):
        data.digits("validation")


def test_to_torch_gives_float32_features_and_int64_labels():
    X, y = data.moons(n=10)
    Xt, yt = data.to_torch(X, y, device="cpu")
    assert Xt.dtype == torch.float32 and yt.dtype == torch.int64 and Xt.device.type == "cpu"
    assert torch.allclose(Xt, torch.tensor(X, dtype=torch.float32))
    assert data.to_torch(X, device="cpu").shape == (10, 2)


def test_adding_problem_marks_one_step_in_each_half_and_sums_them():
    X, y = data.adding_problem(500, length=50, seed=3)
    assert X.shape == (500, 50, 2) and y.shape == (500,)
    values, markers = X[..., 0], X[..., 1]
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert np.all(markers[:, :25].sum(axis=1) == 1) and np.all(markers[:, 25:].sum(axis=1) == 1)
    assert np.allclose(y, (values * markers).sum(axis=1))
    assert np.array_equal(data.adding_problem(5, seed=1)[0], data.adding_problem(5, seed=1)[0])
    # predicting the mean, 1, scores Var(u1 + u2) = 2/12: the chapter's baseline
    assert abs(np.mean((data.adding_problem(20_000, seed=0)[1] - 1.0) ** 2) - 1 / 6) < 0.005


def test_course_text_is_the_books_prose_without_code_or_math():
    text = data.course_text()
    assert 50_000 < len(text) and "the artificial neuron" in text
    assert set(text) <= set("abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'()- \n")
    for markup in ("```", "$$", "import numpy", "<details>", "\\frac"):
        assert markup not in text
    with pytest.raises(FileNotFoundError, match="checkout of the course repository"):
        data.course_text(chapters=("99-missing",))
    # the default corpus is a frozen copy of these chapters' prose: the pages read now are close to it
    now = data.course_text(chapters=data.PROSE_CHAPTERS)
    assert set(now) <= set("abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'()- \n")
    assert 0.8 < len(now) / len(text) < 1.25


def test_reversal_pairs_each_sequence_with_its_reverse():
    X, Y = data.reversal(50, length=16, vocab_size=10, seed=2)
    assert X.shape == Y.shape == (50, 16) and X.dtype == np.int64
    assert np.array_equal(Y, X[:, ::-1]) and X.min() >= 0 and X.max() <= 9
    assert not np.array_equal(X, data.reversal(50, seed=3)[0])


def test_pronoun_sentences_follow_the_grammar_and_the_last_word_decides_the_referent():
    sents = data.pronoun_sentences(4000, seed=3)
    tokens, vocab, n = sents["tokens"], sents["vocab"], 4000
    assert tokens.shape == (n, 9) and tokens.dtype == np.int64 and vocab == data.PRONOUN_VOCAB
    assert len(set(vocab)) == len(vocab) and sents["pronoun"] == 6
    for key in ("antecedent", "other", "target"):
        assert sents[key].shape == (n,) and sents[key].dtype == np.int64
    words = np.array(vocab)[tokens]
    W = {k: set(v) for k, v in data.PRONOUN_WORDS.items()}
    fixed = {0: "the", 3: "the", 5: "because", 6: "it", 7: "was"}
    assert all(np.all(words[:, i] == w) for i, w in fixed.items())
    eater_first = np.isin(words[:, 1], list(W["eaters"]))
    assert np.all(np.isin(words[:, 4], list(W["foods"])) == eater_first)
    assert np.all(np.isin(words[~eater_first, 1], list(W["foods"])))
    assert np.all(np.isin(words[~eater_first, 4], list(W["eaters"])))
    assert np.all(np.isin(words[eater_first, 2], list(W["eater_first_verbs"])))
    assert np.all(np.isin(words[~eater_first, 2], list(W["food_first_verbs"])))
    about_eater = np.isin(words[:, 8], list(W["eater_words"]))
    assert np.all(about_eater | np.isin(words[:, 8], list(W["food_words"])))
    # the referent is the noun of the class the last word names, wherever it stands
    referent = words[np.arange(n), sents["antecedent"]]
    assert np.all(np.isin(referent, list(W["eaters"])) == about_eater)
    assert np.all(np.isin(sents["antecedent"], [1, 4])) and np.all(sents["other"] == 5 - sents["antecedent"])
    assert np.array_equal(sents["target"], tokens[np.arange(n), sents["antecedent"]])
    # neither the position nor the order of the nouns answers: all four cases are common
    for first in (True, False):
        for at in (1, 4):
            share = np.mean((eater_first == first) & (sents["antecedent"] == at))
            assert 0.22 < share < 0.28, (first, at, share)
    assert set(words[:, 1]) == W["eaters"] | W["foods"]
    assert set(words[:, 8]) == W["eater_words"] | W["food_words"]


def test_pronoun_sentences_are_seeded():
    a, b, c = (data.pronoun_sentences(50, seed=s) for s in (1, 1, 2))
    assert all(np.array_equal(a[k], b[k]) for k in ("tokens", "antecedent", "other", "target"))
    assert not np.array_equal(a["tokens"], c["tokens"])
    assert data.pronoun_sentences(5, seed=9)["vocab"] == a["vocab"]


def test_toy_language_is_seeded_and_its_entropy_rate_is_what_samples_show():
    X = data.toy_language(4000, length=40, seed=3)
    assert X.shape == (4000, 40) and X.dtype == np.int64 and X.min() >= 0 and X.max() < len(data.TOY_ALPHABET)
    assert np.array_equal(X, data.toy_language(4000, length=40, seed=3))
    assert not np.array_equal(X, data.toy_language(4000, length=40, seed=4))
    # the mean surprise of each token under the true table, given the two before it, estimates the
    # entropy rate; 156,000 tokens put it within a few hundredths
    V = len(data.TOY_ALPHABET)
    table = data._toy_table(0)
    surprise = -np.log(table[X[:, :-2] * V + X[:, 1:-1], X[:, 2:]])
    assert abs(surprise.mean() - data.toy_entropy_rate()) < 0.02
    # the two languages differ; the first letters follow the stationary distribution, so the
    # letters' frequencies are the same at the start and at the end of the sequences
    assert not np.array_equal(data._toy_table(0), data._toy_table(1))
    start = np.bincount(X[:, 0], minlength=V) / len(X)
    end = np.bincount(X[:, -1], minlength=V) / len(X)
    assert np.abs(start - end).max() < 0.03
    assert data.toy_text([0, 1, 15]) == "abp"


def test_toy_entropy_rate_is_exact_for_a_source_with_a_known_answer(monkeypatch):
    # rows that are uniform over all 16 letters: log(16) nats per token, whatever the context
    monkeypatch.setattr(data, "_toy_table", lambda language: np.full((256, 16), 1 / 16))
    assert abs(data.toy_entropy_rate() - np.log(16)) < 1e-12
