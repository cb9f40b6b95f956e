"""Chapter 7's language-model tools, written once for the page and its widgets: byte-pair
encoding, the sampling rules (temperature, top-k, top-p), generation with and without a KV cache
on ``dlcourse.transformer.TinyTransformer``, the loss of a language model and a power-law fit.

Conventions. BPE works on UTF-8 bytes: ids 0-255 are the bytes themselves and merge ``k`` makes
id ``256 + k``; text is first cut into words by ``split_words`` and no merge crosses a word's
edge. Logits are raw scores over the vocabulary on the last axis.
"""
import math
import re
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F

# A word is an optional space and the non-space characters after it; runs of other white space
# are words of their own (a run before a word leaves its last space to that word).
WORD = re.compile(r" ?\S+|\s+(?!\S)|\s+")


def split_words(text):
    """``"the cat  sat"`` -> ``["the", " cat", " ", " sat"]``: joined back, they are the text."""
    return WORD.findall(text)


def merge_pair(ids, pair, new_id):
    """``ids`` with every occurrence of ``pair``, left to right and without overlaps, replaced by
    ``new_id``."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def bpe_train(text, n_merges):
    """Learn up to ``n_merges`` merges from ``text``: each time, the pair of adjacent ids that
    occurs most often inside words (ties: the smallest pair) becomes a new id. Returns the list of
    merged pairs, in the order learnt (fewer when no word has two ids left)."""
    words = Counter(split_words(text))  # each distinct word once, with how often it occurs
    pieces = {word: list(word.encode("utf-8")) for word in words}
    merges = []
    for k in range(n_merges):
        counts = Counter()
        for word, ids in pieces.items():
            for pair in zip(ids, ids[1:]):
                counts[pair] += words[word]
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        merges.append(pair)
        pieces = {word: merge_pair(ids, pair, 256 + k) for word, ids in pieces.items()}
    return merges


def bpe_encode(text, merges):
    """Text -> ids: each word's bytes, with the merges applied in the order they were learnt."""
    ids = []
    for word in split_words(text):
        word_ids = list(word.encode("utf-8"))
        for k, pair in enumerate(merges):
            if len(word_ids) < 2:
                break
            word_ids = merge_pair(word_ids, pair, 256 + k)
        ids += word_ids
    return ids


def token_bytes(merges):
    """The bytes each id stands for: a list indexed by id, ``256 + len(merges)`` long."""
    table = [bytes([b]) for b in range(256)]
    for a, b in merges:
        table.append(table[a] + table[b])
    return table


def bpe_decode(ids, merges):
    """Ids -> text (bytes that are not valid UTF-8 become U+FFFD)."""
    table = token_bytes(merges)
    return b"".join(table[int(i)] for i in ids).decode("utf-8", errors="replace")


# --- next-token prediction -------------------------------------------------------------------

def lm_loss(model, tokens, skip=0):
    """Mean cross-entropy (nats per token) of predicting ``tokens[:, i]`` from the tokens before
    it, for positions ``i >= max(1, skip)``: ``tokens`` is an int64 ``(batch, n)`` tensor."""
    logits = model(tokens[:, :-1])[:, max(1, skip) - 1:]
    targets = tokens[:, max(1, skip):]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def perplexity(logits, targets):
    """exp(mean cross-entropy): the number of equally likely tokens the model is as unsure as."""
    logits = torch.as_tensor(logits)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), torch.as_tensor(targets).reshape(-1))
    return float(torch.exp(loss))


def sampling_probs(logits, temperature=1.0, top_k=None, top_p=None):
    """The distribution ``sample_next`` draws from, over the last axis: softmax(logits / T); then
    only the ``top_k`` most likely tokens kept (renormalised); then, of those, only the smallest
    set of most likely tokens whose probability reaches ``top_p`` (the token that crosses ``top_p``
    is kept), renormalised. Ties at the edge of top-k go to the smaller token id."""
    probs = torch.softmax(torch.as_tensor(logits, dtype=torch.float64) / temperature, dim=-1)
    order = torch.sort(probs, dim=-1, descending=True, stable=True).indices
    ranked = probs.gather(-1, order)
    if top_k is not None:
        ranked[..., top_k:] = 0
        ranked = ranked / ranked.sum(-1, keepdim=True)
    if top_p is not None:
        above = ranked.cumsum(-1) - ranked  # the probability of the tokens ranked above each one
        ranked = torch.where(above < top_p, ranked, torch.zeros_like(ranked))
        ranked = ranked / ranked.sum(-1, keepdim=True)
    return torch.zeros_like(probs).scatter(-1, order, ranked)


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """One token id per row of ``logits`` (``(..., V)`` -> ``(...)`` int64), drawn from
    ``sampling_probs``; ``temperature=0`` means the most likely token."""
    logits = torch.as_tensor(logits)
    if temperature == 0:
        return logits.argmax(-1)
    probs = sampling_probs(logits, temperature, top_k, top_p)
    flat = probs.reshape(-1, probs.shape[-1])
    drawn = torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])
    return drawn.to(logits.device)


# --- generation --------------------------------------------------------------------------------

@torch.no_grad()
def generate(model, prompt_ids, n_new, use_cache=True, temperature=0.0, top_k=None, top_p=None, generator=None):
    """Extend each row of ``prompt_ids`` (int64 ``(batch, n)``) by ``n_new`` tokens from a causal
    ``TinyTransformer``: greedy when ``temperature=0``. With ``use_cache`` each step runs the
    model on the newest token only, reading the keys and values of earlier positions from a
    cache; without it, each step runs the model on the whole text so far. Returns ``(batch, n +
    n_new)``."""
    model.eval()
    ids, cache, new = prompt_ids, [None] * len(model.blocks), prompt_ids
    for _ in range(n_new):
        if use_cache:
            logits = _cached_forward(model, new, ids.shape[1] - new.shape[1], cache)
        else:
            logits = model(ids)
        nxt = sample_next(logits[:, -1], temperature, top_k, top_p, generator)[:, None]
        ids = torch.cat([ids, nxt], dim=1)
        new = nxt
    return ids


def _cached_forward(model, new, start, cache):
    """The model on the tokens ``new`` at positions ``start, start + 1, ...``, attending to the
    cached keys and values of positions before ``start``; ``cache`` (one ``(k, v)`` per block,
    or None) grows by the new positions."""
    batch, n = new.shape
    x = model.embed(new) + model.position(torch.arange(start, start + n, device=new.device))
    for i, block in enumerate(model.blocks):
        attn = block.attn
        d_model, heads = x.shape[-1], attn.n_heads

        def split(t):  # (batch, n, d_model) -> (batch, heads, n, d_head)
            return t.reshape(batch, n, heads, d_model // heads).transpose(1, 2)

        h = block.norm1(x)
        q, k, v = split(attn.q_proj(h)), split(attn.k_proj(h)), split(attn.v_proj(h))
        if cache[i] is not None:
            k, v = torch.cat([cache[i][0], k], dim=2), torch.cat([cache[i][1], v], dim=2)
        cache[i] = (k, v)
        # new position start + j may look at every cached position and at new ones up to itself
        mask = torch.ones(n, start + n, dtype=torch.bool, device=x.device).tril(start)
        scores = (q @ k.transpose(-2, -1) / math.sqrt(d_model // heads)).masked_fill(~mask, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v
        x = x + attn.out_proj(out.transpose(1, 2).reshape(batch, n, d_model))
        x = x + block.ff(block.norm2(x))
    return model.head(model.norm(x))


# --- scaling -----------------------------------------------------------------------------------

def fit_power_law(sizes, losses):
    """``(a, alpha, c)`` minimising the squared error of ``L = a N^-alpha + c``. For a fixed alpha
    the best ``a`` and ``c`` are a linear least-squares fit, so only alpha is searched: on a grid,
    then refined by golden-section search around the best grid point."""
    N, L = np.asarray(sizes, dtype=np.float64), np.asarray(losses, dtype=np.float64)

    def linear_fit(alpha):
        A = np.stack([N ** -alpha, np.ones_like(N)], axis=1)
        (a, c), *_ = np.linalg.lstsq(A, L, rcond=None)
        return float(((A @ [a, c] - L) ** 2).sum()), a, c

    grid = np.linspace(0.01, 3.0, 300)
    best = int(np.argmin([linear_fit(al)[0] for al in grid]))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        m1, m2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if linear_fit(m1)[0] < linear_fit(m2)[0]:
            hi = m2
        else:
            lo = m1
    alpha = (lo + hi) / 2
    _, a, c = linear_fit(alpha)
    return float(a), float(alpha), float(c)
