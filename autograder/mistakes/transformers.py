"""Chapter 6 (06-transformers): wrong answers students really write, and correct answers written
otherwise than the reference.

The order matters to the demo class (autograder/demo.py): one student makes the first and the
last mistakes, another the 3rd, 8th and 13th, and each student's must belong to different parts.
"""
from autograder.mistakes import Alternative, Mistake

_ATTENTION = '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / {scale}
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim={axis})
    return weights @ v, weights
'''

_LAYER_NORM = '''
def layer_norm(x, gamma, beta, eps=1e-5):
    mu = x.mean(dim={axis}, keepdim=True)
    var = {var}
    return gamma * (x - mu) / {spread} + beta
'''


def _layer_norm(axis="-1", var="((x - mu) ** 2).mean(dim=-1, keepdim=True)", spread="torch.sqrt(var + eps)"):
    return _LAYER_NORM.format(axis=axis, var=var, spread=spread)


_MHA = '''
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        batch, n, d_model = x.shape
        d_head = d_model // self.n_heads
        q, k, v = ({split} for t in (self.q_proj(x), self.k_proj(x), self.v_proj(x)))
        out, _ = scaled_dot_product_attention(q, k, v, mask)
        return {out}
'''

_BLOCK = '''
class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x, mask=None):
{body}'''

_REVERSER = '''
def train_reverser(device):
    class Reverser(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 32)
            self.pos = nn.Embedding(16, 32)
            self.block = TransformerBlock(32, 4, 64)
            self.norm = nn.LayerNorm(32)
            self.head = nn.Linear(32, 10)

        def forward(self, idx):
            x = self.embed(idx){positions}
            return self.head(self.norm(self.block(x)))

    model = Reverser().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(200):
        X, Y = (torch.as_tensor(a, device=device) for a in data.reversal(128, seed=step))
        loss = F.cross_entropy(model(X).reshape(-1, 10), Y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
{ret}'''

MISTAKES = [
    # Part 1: scaled_dot_product_attention
    Mistake("scaled_dot_product_attention", "test_scaled_dot_product_attention", "no 1/sqrt(d) scaling",
            _ATTENTION.format(scale="1.0", axis=-1), "the scores are not divided by sqrt(d)"),
    Mistake("scaled_dot_product_attention", "test_scaled_dot_product_attention", "scales by d, not sqrt(d)",
            _ATTENTION.format(scale="q.shape[-1]", axis=-1), "the scores are divided by d"),
    Mistake("scaled_dot_product_attention", "test_scaled_dot_product_attention", "softmax over the queries",
            _ATTENTION.format(scale="math.sqrt(q.shape[-1])", axis=-2), "the softmax runs over the wrong axis"),
    Mistake("scaled_dot_product_attention", "test_scaled_dot_product_attention", "the mask applied after softmax", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    if mask is not None:
        weights = weights * mask
    return weights @ v, weights
''', "the mask is applied after the softmax"),
    Mistake("scaled_dot_product_attention", "test_scaled_dot_product_attention", "the mask read the other way round",
            _ATTENTION.format(scale="math.sqrt(q.shape[-1])", axis=-1).replace("~mask", "mask"),
            "the mask is read the other way round"),
    Mistake("scaled_dot_product_attention", "test_scaled_dot_product_attention", "a softmax that overflows", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    e = torch.exp(scores)
    if mask is not None:
        e = e * mask
    weights = e / e.sum(dim=-1, keepdim=True)
    return weights @ v, weights
''', "exp overflowed for large scores"),
    # Part 2: causal_mask
    Mistake("causal_mask", "test_causal_mask", "a mask that lets a token see the next one", '''
def causal_mask(n, device=None):
    return torch.ones(n, n, dtype=torch.bool, device=device).triu()
''', "this mask lets a token see the tokens after it"),
    Mistake("causal_mask", "test_causal_mask", "the diagonal masked out", '''
def causal_mask(n, device=None):
    return torch.ones(n, n, dtype=torch.bool, device=device).tril(-1)
''', "the diagonal is False, so a position cannot see itself"),
    # Part 3: sinusoidal_positions
    Mistake("sinusoidal_positions", "test_sinusoidal_positions", "sines and cosines in two halves", '''
def sinusoidal_positions(n, d):
    angles = torch.arange(n)[:, None] / 10000 ** (torch.arange(0, d, 2) / d)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).float()
''', "the sines fill the first half of the columns"),
    Mistake("sinusoidal_positions", "test_sinusoidal_positions", "the exponent doubled: 2 * (2i) / d", '''
def sinusoidal_positions(n, d):
    i2 = torch.arange(0, d, 2, dtype=torch.float64)
    angles = torch.arange(n, dtype=torch.float64)[:, None] / 10000 ** (2 * i2 / d)
    P = torch.zeros(n, d)
    P[:, 0::2], P[:, 1::2] = torch.sin(angles), torch.cos(angles)
    return P
''', "the frequencies are off: the exponent is 2i/d where i counts the pairs"),
    # Part 4: layer_norm
    Mistake("layer_norm", "test_layer_norm", "normalises over the batch axis",
            _layer_norm(axis="0", var="((x - mu) ** 2).mean(dim=0, keepdim=True)"),
            "the mean and variance are taken over the batch axis"),
    Mistake("layer_norm", "test_layer_norm", "the unbiased variance (torch.var's default)",
            _layer_norm(var="x.var(dim=-1, keepdim=True)"), "the variance divides by D - 1"),
    Mistake("layer_norm", "test_layer_norm", "eps added outside the square root",
            _layer_norm(spread="(torch.sqrt(var) + eps)"), "eps is added outside the square root"),
    Mistake("layer_norm", "test_layer_norm", "forgets eps", _layer_norm(spread="torch.sqrt(var)"), "eps is missing"),
    # Part 5: MultiHeadAttention
    Mistake("MultiHeadAttention", "test_MultiHeadAttention", "heads split along the wrong dimension",
            _MHA.format(split="t.reshape(batch, self.n_heads, n, d_head)",
                        out="self.out_proj(out.reshape(batch, n, d_model))"),
            "the heads are split along the wrong dimension"),
    Mistake("MultiHeadAttention", "test_MultiHeadAttention", "no output projection",
            _MHA.format(split="t.reshape(batch, n, self.n_heads, d_head).transpose(1, 2)",
                        out="out.transpose(1, 2).reshape(batch, n, d_model)"),
            "out_proj is never applied"),
    Mistake("MultiHeadAttention", "test_MultiHeadAttention", "merges the heads without transposing back",
            _MHA.format(split="t.reshape(batch, n, self.n_heads, d_head).transpose(1, 2)",
                        out="self.out_proj(out.reshape(batch, n, d_model))"),
            "the heads are merged without transposing back"),
    Mistake("MultiHeadAttention", "test_MultiHeadAttention", "scales each head by sqrt(d_model)",
            _MHA.format(split="t.reshape(batch, n, self.n_heads, d_head).transpose(1, 2)",
                        out="self.out_proj(out.transpose(1, 2).reshape(batch, n, d_model))").replace(
                "out, _ = scaled_dot_product_attention(q, k, v, mask)",
                "out, _ = scaled_dot_product_attention(q * (d_head / d_model) ** 0.5, k, v, mask)"),
            "the scores are divided by sqrt(d_model)"),
    # Part 6: TransformerBlock
    Mistake("TransformerBlock", "test_TransformerBlock", "the residual added before the norm (post-norm)",
            _BLOCK.format(body="        x = self.norm1(x + self.attn(x, mask))\n        return self.norm2(x + self.ff(x))\n"),
            "this is a post-norm block"),
    Mistake("TransformerBlock", "test_TransformerBlock", "the feed-forward reads the stream before attention",
            _BLOCK.format(body="        h = x + self.attn(self.norm1(x), mask)\n        return h + self.ff(self.norm2(x))\n"),
            "TransformerBlock(8, 2, 32)(x (2, 5, 8), float32 on cpu, mask=None): "),
    Mistake("TransformerBlock", "test_TransformerBlock", "norm1 used for both sub-layers",
            _BLOCK.format(body="        x = x + self.attn(self.norm1(x), mask)\n        return x + self.ff(self.norm1(x))\n"),
            "norm1 is used for both sub-layers"),
    # Part 7: train_reverser
    Mistake("causal_mask", "test_causal_mask", "the course's own mask, imported under another name",
            "from dlcourse.transformer import causal_mask as course_mask\n\n\n"
            "def causal_mask(n, device=None):\n    return course_mask(n, device)\n",
            "it calls the course's own version in dlcourse.transformer"),
    Mistake("train_reverser", "test_train_reverser", "no position embeddings",
            _REVERSER.format(positions="", ret="    return model\n"), "what a model with no position information gets"),
    Mistake("train_reverser", "test_train_reverser", "returns probabilities at evaluation",
            _REVERSER.format(positions=" + self.pos(torch.arange(16, device=idx.device))",
                             ret="    return model\n").replace(
                "return self.head(self.norm(self.block(x)))",
                "logits = self.head(self.norm(self.block(x)))\n"
                "            return logits if self.training else torch.softmax(logits, dim=-1)"),
            "the trained model returns probabilities"),
    Mistake("train_reverser", "test_train_reverser", "forgets to return the model",
            _REVERSER.format(positions=" + self.pos(torch.arange(16, device=idx.device))", ret="    model.eval()\n"),
            "train_reverser(device) returned None"),
]

ALTERNATIVES = [
    Alternative("scaled_dot_product_attention", "einsum, an additive mask, exp over a stable shift", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = torch.einsum("...qd,...kd->...qk", q, k) * q.shape[-1] ** -0.5
    if mask is not None:
        scores = scores + torch.where(mask, 0.0, float("-inf")).to(scores.dtype)
    e = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
    weights = e / e.sum(dim=-1, keepdim=True)
    return torch.matmul(weights, v), weights
'''),
    Alternative("causal_mask", "a comparison of indices", '''
def causal_mask(n, device=None):
    i = torch.arange(n, device=device)
    return i[None, :] <= i[:, None]
'''),
    Alternative("sinusoidal_positions", "loops over positions and pairs, in numpy", '''
def sinusoidal_positions(n, d):
    P = np.zeros((n, d), dtype=np.float32)
    for p in range(n):
        for i in range(d // 2):
            angle = p / 10000 ** (2 * i / d)
            P[p, 2 * i], P[p, 2 * i + 1] = np.sin(angle), np.cos(angle)
    return torch.from_numpy(P)
'''),
    Alternative("layer_norm", "torch.var_mean and rsqrt", '''
def layer_norm(x, gamma, beta, eps=1e-5):
    var, mean = torch.var_mean(x, dim=-1, keepdim=True, unbiased=False)
    return (x - mean) * torch.rsqrt(var + eps) * gamma + beta
'''),
    Alternative("MultiHeadAttention", "a loop over heads, each on its slice of features", '''
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h = n_heads
        self.q_proj, self.k_proj = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.v_proj, self.out_proj = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        size = x.shape[-1] // self.h
        outs = []
        for head in range(self.h):
            part = slice(head * size, (head + 1) * size)
            out, _ = scaled_dot_product_attention(q[..., part], k[..., part], v[..., part], mask)
            outs.append(out)
        return self.out_proj(torch.cat(outs, dim=-1))
'''),
    Alternative("TransformerBlock", "the sub-layers named in forward's own words", '''
class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x, mask=None):
        attended = self.attn(self.norm1(x), mask=mask)
        stream = attended + x
        return stream + self.ff(self.norm2(stream))
'''),
    Alternative("train_reverser", "torch's nn.TransformerEncoderLayer and sinusoidal positions", '''
def train_reverser(device):
    class Reverser(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 32)
            self.register_buffer("positions", sinusoidal_positions(16, 32))
            self.encoder = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
            self.head = nn.Linear(32, 10)

        def forward(self, idx):
            return self.head(self.encoder(self.embed(idx) + self.positions))

    model = Reverser().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(300):
        X, Y = (torch.as_tensor(a, device=device) for a in data.reversal(128, seed=1000 + step))
        loss = F.cross_entropy(model(X).reshape(-1, 10), Y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model
'''),
]
