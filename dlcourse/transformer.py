"""The course's transformer, written once: chapter 6 builds it, chapter 7 trains it as a language model.

Shapes: a batch of sequences of vectors ``x`` is ``(batch, n, d_model)``; attention's queries, keys
and values may carry any leading dimensions, ``(..., n, d)``. A mask is a boolean tensor that
broadcasts to the scores ``(..., n_queries, n_keys)``: True where a query may look at a key.

Parameter names are fixed, so that weights can be loaded into another implementation with the
same names (the exercise notebook's tests do): ``MultiHeadAttention`` has ``q_proj``, ``k_proj``,
``v_proj`` and ``out_proj`` (each ``nn.Linear(d_model, d_model)``); ``TransformerBlock`` has
``norm1``, ``attn``, ``norm2`` and ``ff`` (``nn.Sequential(Linear(d_model, d_ff), GELU(),
Linear(d_ff, d_model))``).
"""
import math

import torch
from torch import nn


def attention(q, k, v, mask=None):
    """Scaled dot-product attention: ``(softmax(q k^T / sqrt(d) with masked scores at -inf) v,
    weights)``. ``q`` is ``(..., n_q, d)``, ``k`` ``(..., n_k, d)``, ``v`` ``(..., n_k, d_v)``."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def causal_mask(n, device=None):
    """``(n, n)`` booleans, True on and below the diagonal: position i may look at positions <= i."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def sinusoidal_positions(n, d):
    """Vaswani et al. (2017)'s positional encodings, ``(n, d)`` float32, d even:
    ``P[p, 2i] = sin(p / 10000^(2i/d))`` and ``P[p, 2i+1] = cos(p / 10000^(2i/d))``."""
    position = torch.arange(n, dtype=torch.float64)[:, None]
    frequency = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    P = torch.zeros(n, d, dtype=torch.float64)
    P[:, 0::2] = torch.sin(position * frequency)
    P[:, 1::2] = torch.cos(position * frequency)
    return P.float()


class MultiHeadAttention(nn.Module):
    """``n_heads`` attentions side by side, each on its own ``d_model / n_heads`` slice of the
    projected queries, keys and values; their outputs concatenated and projected back.
    ``forward(x, mask=None)`` maps ``(batch, n, d_model)`` to the same shape and keeps the last
    attention weights, ``(batch, n_heads, n, n)``, in ``self.weights`` (for pictures)."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not a multiple of n_heads={n_heads}")
        self.n_heads = n_heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d_model, d_model) for _ in range(4))
        self.weights = None

    def forward(self, x, mask=None):
        batch, n, d_model = x.shape

        def heads(t):  # (batch, n, d_model) -> (batch, n_heads, n, d_head)
            return t.reshape(batch, n, self.n_heads, d_model // self.n_heads).transpose(1, 2)

        out, weights = attention(heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x)), mask)
        self.weights = weights.detach()  # for pictures only: keeping the graph would hold its memory
        return self.out_proj(out.transpose(1, 2).reshape(batch, n, d_model))


class TransformerBlock(nn.Module):
    """A pre-norm block: ``x + attn(norm1(x))``, then ``x + ff(norm2(x))``. The residual stream
    ``x`` itself is never normalised; each sub-layer reads a normalised copy and adds to it."""

    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x, mask=None):
        x = x + self.attn(self.norm1(x), mask)
        return x + self.ff(self.norm2(x))


class TinyTransformer(nn.Module):
    """Tokens in, one score per vocabulary entry at every position out: token embeddings plus
    learned position embeddings, ``n_layers`` blocks, a final layer norm and a linear read-out.
    ``causal=True`` makes it a decoder (position i sees positions <= i): a language model."""

    def __init__(self, vocab_size, max_len, d_model=64, n_heads=4, n_layers=2, d_ff=None, causal=False):
        super().__init__()
        # the constructor's arguments, so that a copy can be built elsewhere (the grader lends
        # models to student code this way: class, config and weights)
        self.config = dict(vocab_size=vocab_size, max_len=max_len, d_model=d_model, n_heads=n_heads,
                           n_layers=n_layers, d_ff=d_ff, causal=causal)
        self.causal = causal
        self.embed = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList(TransformerBlock(d_model, n_heads, d_ff or 4 * d_model)
                                    for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, idx, mask=None):
        """``idx`` int64 ``(batch, n)`` -> logits ``(batch, n, vocab_size)``. ``mask``, if given,
        is combined with the causal mask of a decoder."""
        n = idx.shape[1]
        x = self.embed(idx) + self.position(torch.arange(n, device=idx.device))
        if self.causal:
            causal = causal_mask(n, idx.device)
            mask = causal if mask is None else mask & causal
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.norm(x))

    def attention_weights(self):
        """The last forward pass's attention weights, one ``(batch, n_heads, n, n)`` per layer."""
        return [block.attn.weights for block in self.blocks]
