"""Datasets for the course. Nothing is downloaded: every set is generated from a seed or ships
inside an installed package (scikit-learn's 8x8 digits) or in this repository (the book's own
prose, for the character-level models of chapter 5 on).

Every 2D generator returns ``(X, y)`` as numpy arrays: ``X`` of shape ``(n, 2)`` (float64) and
``y`` of shape ``(n,)`` (int64 class labels; for ``swiss_roll`` the float position along the
roll). ``to_torch`` moves any of them to a torch device.
"""
import json
import re
from pathlib import Path

import numpy as np

DIGITS_TEST_SIZE = 360  # 20% of scikit-learn's 1797 digits
DIGITS_SPLIT_SEED = 0


def _rng(seed):
    return np.random.default_rng(seed)


def _split(n, k):
    """Sizes of k classes that add up to n, as equal as possible."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def blobs(n=200, centers=2, spread=0.6, seed=0):
    """Gaussian blobs around ``centers`` points on a circle of radius 2 (linearly separable for 2)."""
    rng = _rng(seed)
    angles = 2 * np.pi * np.arange(centers) / centers
    means = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    y = np.concatenate([np.full(m, c) for c, m in enumerate(_split(n, centers))])
    X = means[y] + spread * rng.standard_normal((n, 2))
    return X, y.astype(np.int64)


def moons(n=200, noise=0.1, seed=0):
    """Two interleaving half circles."""
    rng = _rng(seed)
    n0, n1 = _split(n, 2)
    t0 = np.pi * rng.random(n0)
    t1 = np.pi * rng.random(n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    X = np.concatenate([upper, lower]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n0), np.ones(n1)]).astype(np.int64)
    return X, y


def circles(n=200, noise=0.05, factor=0.5, seed=0):
    """A small circle (class 1) inside a large one (class 0)."""
    rng = _rng(seed)
    n0, n1 = _split(n, 2)
    t = 2 * np.pi * rng.random(n)
    radius = np.concatenate([np.ones(n0), np.full(n1, factor)])
    X = radius[:, None] * np.stack([np.cos(t), np.sin(t)], axis=1)
    X += noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n0), np.ones(n1)]).astype(np.int64)
    return X, y


def spirals(n=300, classes=2, turns=1.5, noise=0.2, seed=0):
    """``classes`` interleaved spiral arms, each turning ``turns`` times around the origin."""
    rng = _rng(seed)
    Xs, ys = [], []
    for c, m in enumerate(_split(n, classes)):
        r = rng.random(m) * 0.9 + 0.1
        theta = 2 * np.pi * (turns * r + c / classes)
        arm = 4 * r[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
        Xs.append(arm + noise * rng.standard_normal((m, 2)))
        ys.append(np.full(m, c))
    return np.concatenate(Xs), np.concatenate(ys).astype(np.int64)


def xor(n=200, noise=0.15, seed=0):
    """Four clusters at (+-1, +-1); the label is 1 where exactly one coordinate is positive."""
    rng = _rng(seed)
    corners = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]], dtype=float)
    idx = np.concatenate([np.full(m, c) for c, m in enumerate(_split(n, 4))])
    X = corners[idx] + noise * rng.standard_normal((n, 2))
    y = np.array([0, 1, 1, 0])[idx].astype(np.int64)
    return X, y


def swiss_roll(n=1000, noise=0.05, seed=0):
    """A 2D swiss roll: points along a spiral sheet. ``y`` is the position along it, in [0, 1]."""
    rng = _rng(seed)
    t = rng.random(n)
    theta = 1.5 * np.pi * (1 + 2 * t)
    X = np.stack([theta * np.cos(theta), theta * np.sin(theta)], axis=1) / 5.0
    return X + noise * rng.standard_normal((n, 2)), t


def digits(split="train", flat=True):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, labels 0-9), scaled to [0, 1].

    The split is fixed: a stratified split with ``DIGITS_TEST_SIZE`` = 360 test images and seed
    ``DIGITS_SPLIT_SEED`` = 0, so ``split="train"`` is always the same 1,437 images.
    ``flat=True`` gives ``X`` of shape ``(n, 64)``, else ``(n, 8, 8)``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if split not in ("train", "test", "all"):
        raise ValueError(f"split={split!r}: use 'train', 'test' or 'all'.")
    bunch = load_digits()
    X = bunch.images.astype(np.float64) / 16.0
    y = bunch.target.astype(np.int64)
    if split != "all":
        parts = train_test_split(X, y, test_size=DIGITS_TEST_SIZE, stratify=y,
                                 random_state=DIGITS_SPLIT_SEED)
        X, y = (parts[0], parts[2]) if split == "train" else (parts[1], parts[3])
    return (X.reshape(len(X), -1) if flat else X), y


DIGIT_SPLITS = ("fit", "val", "test")


def digit_images(split):
    """The digits of one split as torch tensors: images ``(N, 1, 8, 8)`` float32 in [0, 1] and
    labels ``(N,)`` int64. ``fit`` (1,137 images) and ``val`` (300) are chapter 3's split of the
    training images, to train on and to choose with; ``test`` (360) is only for reporting."""
    import torch

    from dlcourse.widgets.generalisation import validation_split

    if split == "test":
        X, y = digits("test")
    elif split in ("fit", "val"):
        X_fit, y_fit, X_val, y_val = validation_split()
        X, y = (X_fit, y_fit) if split == "fit" else (X_val, y_val)
    else:
        raise ValueError(f"split={split!r}: use one of {', '.join(DIGIT_SPLITS)}.")
    return (torch.as_tensor(np.array(X), dtype=torch.float32).reshape(-1, 1, 8, 8),
            torch.as_tensor(np.array(y)))


def adding_problem(n, length=50, seed=0):
    """The adding problem (Hochreiter and Schmidhuber, 1997): a memory test for sequence models.

    Each of the ``n`` sequences has ``length`` steps of two features: a number drawn uniformly
    from [0, 1), and a marker that is 1 at exactly two steps (one in the first half, one in the
    second) and 0 elsewhere. The target is the sum of the two marked numbers. Predicting the
    mean, 1, scores a mean squared error of Var(u1 + u2) = 2/12, about 0.167.

    Returns ``X`` of shape ``(n, length, 2)`` (float64, batch first) and ``y`` of shape ``(n,)``.
    """
    if length < 2:
        raise ValueError(f"length={length}: the adding problem needs at least 2 steps.")
    rng = _rng(seed)
    values = rng.random((n, length))
    first = rng.integers(0, length // 2, size=n)
    second = rng.integers(length // 2, length, size=n)
    markers = np.zeros((n, length))
    markers[np.arange(n), first] = 1.0
    markers[np.arange(n), second] = 1.0
    return np.stack([values, markers], axis=-1), (values * markers).sum(axis=1)


def reversal(n, length=16, vocab_size=10, seed=0):
    """Sequence reversal, a task for sequence-to-sequence models (chapter 6): ``X`` holds ``n``
    sequences of ``length`` random tokens from ``0 .. vocab_size - 1`` (int64, shape ``(n, length)``)
    and ``Y`` the same sequences reversed, ``Y[:, i] = X[:, length - 1 - i]``."""
    X = _rng(seed).integers(0, vocab_size, size=(n, length))
    return X, X[:, ::-1].copy()


# The grammar of ``pronoun_sentences``: an eater, a food, and a last word that says which one "it" is.
PRONOUN_WORDS = {
    "eaters": ("cat", "dog", "fox", "owl", "bear", "goat"),
    "foods": ("cake", "soup", "bread", "apple", "cheese", "pie"),
    "eater_first_verbs": ("ate", "wanted", "smelled", "grabbed"),   # the cat ate the cake
    "food_first_verbs": ("tempted", "pleased", "attracted", "lured"),  # the cake tempted the cat
    "eater_words": ("hungry", "greedy", "starving"),   # "it was hungry": it is the eater
    "food_words": ("tasty", "fresh", "sweet"),          # "it was tasty": it is the food
}
PRONOUN_VOCAB = ["the", "because", "it", "was"] + [w for words in PRONOUN_WORDS.values() for w in words]
PRONOUN_POSITION = 6


def pronoun_sentences(n, seed=0):
    """Sentences in which "it" refers to one of two nouns, and a word after "it" says which.

    Every sentence has the same 9 words (positions 0 to 8)::

        the NOUN1 VERB the NOUN2 because it was WORD
        the cat   ate  the cake  because it was hungry    (it = cat, position 1)
        the cat   ate  the cake  because it was tasty     (it = cake, position 4)
        the soup  tempted the fox because it was starving  (it = fox, position 4)

    One noun is an eater ("cat", "dog", ...: ``PRONOUN_WORDS["eaters"]``), the other a food
    ("cake", "soup", ...). Half the sentences, at random, put the eater first, with an
    eater-first verb ("ate", "wanted", ...); the others put the food first, with a food-first
    verb ("tempted", "pleased", ...). The last word is, at random with equal odds, an eater word
    ("hungry", "greedy", "starving"), and then "it" is the eater, or a food word ("tasty",
    "fresh", "sweet"), and then "it" is the food. So the referent's position is 1 or 4 with equal
    odds whatever the other words: neither position alone nor the nouns alone answer; a model
    must read the last word, after "it", and find the noun of the class it names. Every choice
    (order, nouns, verb, last word) is uniform and independent of the others.

    Returns a dict: ``tokens`` int64 ``(n, 9)`` (indices into ``vocab``); ``vocab``, the list of
    words (``PRONOUN_VOCAB``, the same for every seed; index = token id); ``pronoun``, the
    position of "it" (6 in every sentence); ``antecedent`` int64 ``(n,)``, the position of the
    noun "it" refers to (1 or 4); ``other`` int64 ``(n,)``, the position of the other noun; and
    ``target`` int64 ``(n,)``, the token id of the referent,
    ``tokens[arange(n), antecedent]``.
    """
    rng = _rng(seed)
    W, index = PRONOUN_WORDS, {w: i for i, w in enumerate(PRONOUN_VOCAB)}

    def draw(words):
        return np.array([index[w] for w in words])[rng.integers(0, len(words), size=n)]

    eater_first = rng.random(n) < 0.5
    about_eater = rng.random(n) < 0.5
    eater, food = draw(W["eaters"]), draw(W["foods"])
    verb = np.where(eater_first, draw(W["eater_first_verbs"]), draw(W["food_first_verbs"]))
    last = np.where(about_eater, draw(W["eater_words"]), draw(W["food_words"]))
    first, second = np.where(eater_first, eater, food), np.where(eater_first, food, eater)
    the, because, it, was = (np.full(n, index[w]) for w in ("the", "because", "it", "was"))
    tokens = np.stack([the, first, verb, the, second, because, it, was, last], axis=1).astype(np.int64)
    eater_at = np.where(eater_first, 1, 4)
    antecedent = np.where(about_eater, eater_at, 5 - eater_at).astype(np.int64)
    return {"tokens": tokens, "vocab": list(PRONOUN_VOCAB), "pronoun": PRONOUN_POSITION,
            "antecedent": antecedent, "other": (5 - antecedent).astype(np.int64),
            "target": tokens[np.arange(n), antecedent]}


# Chapter 7's toy languages: Markov sources of order 2 over 16 letters, whose entropy rate (the
# loss floor of any model of the language) is known exactly. Each language is a fixed table drawn
# from its own seed; a sample is a set of sequences, each started from the stationary distribution.
TOY_ALPHABET = "abcdefghijklmnop"
TOY_ORDER = 2
_TOY_SEEDS = (7, 8)        # language 0 is the main one; language 1 is a second for fine-tuning
_TOY_CONCENTRATION = 0.25  # Dirichlet parameter of each row: small, so most rows favour a few letters


def _toy_table(language):
    """``(V**2, V)`` next-letter probabilities of a language, one row per context ``(a, b)`` at
    row ``a * V + b``."""
    if language not in (0, 1):
        raise ValueError(f"language is 0 or 1, not {language!r}")
    V = len(TOY_ALPHABET)
    return _rng(_TOY_SEEDS[language]).dirichlet(np.full(V, _TOY_CONCENTRATION), size=V ** TOY_ORDER)


def _toy_stationary(table):
    """The stationary distribution over contexts ``(a, b)``: the chain on pairs, iterated to its
    fixed point (it mixes in a few dozen steps; 500 leave no visible error)."""
    V = table.shape[1]
    pi = np.full(V * V, 1.0 / (V * V))
    for _ in range(500):
        # pair (a, b) moves to (b, c) with probability table[a*V + b, c]
        pi = (pi[:, None] * table).reshape(V, V, V).sum(axis=0).reshape(-1)
    return pi / pi.sum()


def toy_entropy_rate(language=0):
    """The language's entropy rate in nats per token: the expected surprise of the next letter
    given the two before it, averaged over the stationary distribution of contexts. No model of
    the language can have a lower expected loss per token once it has seen two letters."""
    table = _toy_table(language)
    pi = _toy_stationary(table)
    with np.errstate(divide="ignore", invalid="ignore"):
        surprise = np.where(table > 0, -np.log(table), 0.0)
    return float((pi * (table * surprise).sum(axis=1)).sum())


def toy_language(n, length=64, seed=0, language=0):
    """``n`` sequences of ``length`` tokens (ints 0-15, the letters of ``TOY_ALPHABET``) from a
    toy language: an ``(n, length)`` int64 array. The first two tokens of each sequence come from
    the stationary distribution, so every position is as typical as any other."""
    table = _toy_table(language)
    V = table.shape[1]
    rng = _rng(seed)
    out = np.empty((n, length), dtype=np.int64)
    pair = rng.choice(V * V, size=n, p=_toy_stationary(table))
    out[:, 0], out[:, 1] = pair // V, pair % V
    cumulative = table.cumsum(axis=1)
    for i in range(2, length):
        rows = cumulative[out[:, i - 2] * V + out[:, i - 1]]
        out[:, i] = np.minimum((rows < rng.random((n, 1)) * rows[:, -1:]).sum(axis=1), V - 1)
    return out


def toy_text(tokens):
    """Token ids of a toy language as letters: ``[0, 1, 2]`` -> ``"abc"``."""
    return "".join(TOY_ALPHABET[int(t)] for t in np.ravel(tokens))


BOOK_CHAPTERS = Path(__file__).resolve().parent.parent / "book" / "chapters"
PROSE_CHAPTERS = ("01-neuron", "02-layers", "03-backprop", "04-cnn")
COURSE_TEXT = Path(__file__).resolve().parent / "course_text.txt"  # course_text() of PROSE_CHAPTERS, frozen
_NOT_PROSE = [r"```.*?```", r"\$\$.*?\$\$", r"\$[^$]*\$", r"<[^>]+>", r"\{[a-z-]+\}`[^`]*`"]


def course_text(chapters=None):
    """The prose of the book's own chapters, as one string: a small real corpus for character
    and word models (chapter 5 on), from this repository, never downloaded.

    The markdown cells of each chapter's page, without code, math, HTML or headings' markup;
    lower case, letters, digits, spaces and common punctuation only, one space between words
    and one newline between paragraphs. By default, chapters 1 to 4 (``PROSE_CHAPTERS``) as they
    stood in December 2026, frozen in ``COURSE_TEXT``: revising those pages changes neither the
    corpus nor the numbers that chapters 5 and 7 report from models trained on it. With
    ``chapters``, the named pages as they are now.
    """
    if chapters is None:
        return COURSE_TEXT.read_text(encoding="utf-8")
    paragraphs = []
    for slug in chapters:
        path = BOOK_CHAPTERS / f"{slug}.ipynb"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: course_text reads the book's pages from a "
                                    "checkout of the course repository.")
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "markdown":
                paragraphs += _prose("".join(cell["source"])).split("\n\n")
    return "\n".join(p.strip() for p in paragraphs if len(p.split()) >= 5)


def _prose(markdown):
    text = markdown
    for pattern in _NOT_PROSE:
        text = re.sub(pattern, " ", text, flags=re.S)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)          # [words](link) -> words
    text = re.sub(r"^\s*(#+|[-*]|\d+\.)\s+", "", text, flags=re.M)  # headings, list marks
    text = text.lower().replace("`", "").replace("*", "").replace("_", " ")
    text = re.sub(r"[^a-z0-9.,;:!?'()\- \n]", " ", text)
    text = re.sub(r"\n\s*\n", "\n\n", text)
    return re.sub(r"[ \t]+|(?<!\n)\n(?!\n)", " ", text)


def to_torch(*arrays, device=None):
    """numpy arrays -> torch tensors on ``device`` (default: ``dlcourse.device()``).

    Floating arrays become float32, integer arrays int64. Returns one tensor for one array.
    """
    import torch

    from dlcourse.runtime import device as default_device

    dev = device if device is not None else default_device()
    out = []
    for a in arrays:
        a = np.asarray(a)
        dtype = torch.float32 if np.issubdtype(a.dtype, np.floating) else torch.int64
        out.append(torch.as_tensor(a, dtype=dtype, device=dev))
    return out[0] if len(out) == 1 else tuple(out)
