"""Chapter 7 (07-llm): wrong answers students really write, and correct answers written otherwise
than the reference.

The order matters to the demo class (autograder/demo.py): one student makes the first and the
last mistakes, another the 3rd, 8th and 13th, and each student's must belong to different parts.
"""
from autograder.mistakes import Alternative, Mistake

_BPE_TRAIN = '''
def bpe_train(text, n_merges):
    words = {words}
    pieces = [list(w.encode("utf-8")) for w in words]
    merges = []
    for k in range(n_merges):
        counts = Counter()
        for ids in pieces:
            {count}
        {stop}
        pair = {choose}
        merges.append(pair)
        new_pieces = []
        for ids in pieces:
            out, i = [], 0
            while i < len(ids):
                if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
                    out.append(256 + k)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            new_pieces.append(out)
        pieces = new_pieces
    return merges
'''


def _bpe_train(words="split_words(text)", count="counts.update(zip(ids, ids[1:]))",
               stop="if not counts:\n            break", choose="min(counts, key=lambda p: (-counts[p], p))"):
    return _BPE_TRAIN.format(words=words, count=count, stop=stop, choose=choose)


_ENCODE_DECODE = '''
def bpe_encode(text, merges):
    ids = []
    for word in {words}:
        word_ids = list(word.encode("utf-8"))
        for k, pair in {order}:
            out, i = [], 0
            while i < len(word_ids):
                if i + 1 < len(word_ids) and (word_ids[i], word_ids[i + 1]) == tuple(pair):
                    out.append(256 + k)
                    i += 2
                else:
                    out.append(word_ids[i])
                    i += 1
            word_ids = out
        ids += word_ids
    return ids


def bpe_decode(ids, merges):
    table = [bytes([b]) for b in range(256)]
    for a, b in merges:
        table.append(table[a] + table[b])
    return {decode}
'''


def _encode_decode(words="split_words(text)", order="enumerate(merges)",
                   decode='b"".join(table[i] for i in ids).decode("utf-8", errors="replace")'):
    return _ENCODE_DECODE.format(words=words, order=order, decode=decode)


_PERPLEXITY = '''
def perplexity(logits, targets):
    V = logits.shape[-1]
    {losses}
    return {result}
'''


def _perplexity(losses="losses = -torch.log_softmax(logits.double(), dim=-1).reshape(-1, V).gather(1, "
                       "targets.reshape(-1, 1))",
                result="math.exp(float(losses.mean()))"):
    return _PERPLEXITY.format(losses=losses, result=result)


_SAMPLE = '''
def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    {probs}
    if top_k is not None:
        kth = torch.topk(probs, top_k, dim=-1).values[..., -1:]
        probs = torch.where(probs >= kth, probs, torch.zeros_like(probs))
        probs = probs / probs.sum(-1, keepdim=True)
    if top_p is not None:
        sorted_p, order = torch.sort(probs, dim=-1, descending=True)
        keep = {keep}
        probs = torch.zeros_like(probs).scatter(-1, order, torch.where(keep, sorted_p, torch.zeros_like(sorted_p)))
        probs = probs / probs.sum(-1, keepdim=True)
    drawn = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1{generator})
    return drawn.reshape(logits.shape[:-1])
'''


def _sample(probs="probs = torch.softmax(logits.double() / temperature, dim=-1)",
            keep="sorted_p.cumsum(-1) - sorted_p < top_p", generator=", generator=generator"):
    return _SAMPLE.format(probs=probs, keep=keep, generator=generator)


_GENERATE = '''
@torch.no_grad()
def generate(model, prompt_ids, n_new, use_cache=True):
    def forward_new(new_ids, start, cache):
        batch, m = new_ids.shape
        x = model.embed(new_ids) + model.position(torch.arange({positions}, device=new_ids.device))
        for i, block in enumerate(model.blocks):
            heads, d_model = block.attn.n_heads, x.shape[-1]
            h = block.norm1(x)
            q, k, v = (proj(h).reshape(batch, m, heads, d_model // heads).transpose(1, 2)
                       for proj in (block.attn.q_proj, block.attn.k_proj, block.attn.v_proj))
            if cache[i] is not None:
                k, v = {grow}
            cache[i] = (k, v)
            scores = q @ k.transpose(-2, -1) / math.sqrt(d_model // heads)
            mask = torch.ones(m, start + m, dtype=torch.bool, device=x.device).tril({diagonal})
            out = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
            x = x + block.attn.out_proj(out.transpose(1, 2).reshape(batch, m, d_model))
            x = x + block.ff(block.norm2(x))
        return model.head(model.norm(x[:, -1]))

    ids, cache, new = prompt_ids, [None] * len(model.blocks), prompt_ids
    for _ in range(n_new):
        if use_cache:
            last = {cached_step}
        else:
            last = model(ids)[:, -1]
        new = last.argmax(dim=-1, keepdim=True)
        ids = torch.cat([ids, new], dim=1)
    return ids
'''


def _generate(positions="start, start + m", grow="torch.cat([cache[i][0], k], dim=2), torch.cat([cache[i][1], v], dim=2)",
              diagonal="start", cached_step="forward_new(new, ids.shape[1] - new.shape[1], cache)"):
    return _GENERATE.format(positions=positions, grow=grow, diagonal=diagonal, cached_step=cached_step)


_FIT = '''
def fit_power_law(sizes, losses):
    N, L = np.asarray(sizes, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    {body}
'''

_FIT_GRID = '''
def fit_power_law(sizes, losses):
    N, L = np.asarray(sizes, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    best = None
    for alpha in {grid}:
        A = np.stack([N ** -alpha, np.ones_like(N)], axis=1)
        (a, c), *_ = np.linalg.lstsq(A, L, rcond=None)
        err = ((A @ np.array([a, c]) - L) ** 2).sum()
        if best is None or err < best[0]:
            best = (err, a, {alpha}, c)
    return best[1:]
'''

_TRAIN = '''
def train_tiny_gpt(device):
    from dlcourse.transformer import TinyTransformer

    model = TinyTransformer(16, 64, d_model=32, n_heads=4, n_layers=1, causal={causal}).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    steps, batch = {steps}, 32
    X_all = torch.as_tensor(data.toy_language(steps * batch, 64, seed=int(torch.randint(0, 2**31, ()))), device=device)
    model.train()
    for step in range(steps):
        X = X_all[step * batch:(step + 1) * batch]
        loss = F.cross_entropy(model(X[:, :-1]).reshape(-1, 16), X[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
'''

MISTAKES = [
    # 0: dee's first (bpe_train)
    Mistake("bpe_train", "test_bpe_train", "pairs counted across the edges of words",
            _bpe_train(words="[text]"), "pairs are counted across the edges of words"),
    Mistake("bpe_train", "test_bpe_train", "ties go to the largest pair",
            _bpe_train(choose="max(counts, key=lambda p: (counts[p], p))"), "ties are broken otherwise"),
    # 2: eli's first (perplexity)
    Mistake("perplexity", "test_perplexity", "exp of the summed loss",
            _perplexity(result="math.exp(float(losses.sum()))"), "exponential of the summed loss"),
    Mistake("bpe_train", "test_bpe_train", "no early stop when nothing is left to merge",
            _bpe_train(stop=""), "stop early when no word has two ids left"),
    Mistake("bpe_encode_decode", "test_bpe_encode_decode", "merges applied in reverse order",
            _encode_decode(order="reversed(list(enumerate(merges)))"), "the merges are applied in the wrong order"),
    Mistake("bpe_encode_decode", "test_bpe_encode_decode", "each token decoded on its own",
            _encode_decode(decode='"".join(table[i].decode("utf-8", errors="replace") for i in ids)'),
            "a character whose bytes sit in two tokens came out broken"),
    Mistake("perplexity", "test_perplexity", "mean of per-position exponentials",
            _perplexity(result="float(torch.exp(losses).mean())"), "mean of each position's exp(loss)"),
    # 7: eli's second (sample_next)
    Mistake("sample_next", "test_sample_next", "temperature applied after the softmax",
            _sample(probs="probs = torch.softmax(logits.double(), dim=-1) / temperature\n"
                          "    probs = probs / probs.sum(-1, keepdim=True)"),
            "the temperature is applied after the softmax"),
    Mistake("perplexity", "test_perplexity", "log of a softmax computed without the maximum subtracted",
            _perplexity(losses="e = torch.exp(logits.double())\n"
                               "    losses = -torch.log(e / e.sum(-1, keepdim=True)).reshape(-1, V).gather(1, "
                               "targets.reshape(-1, 1))"),
            "so exp overflows"),
    Mistake("sample_next", "test_sample_next", "top-p drops the token that crosses the threshold",
            _sample(keep="sorted_p.cumsum(-1) < top_p"), "top-p drops the token that crosses the threshold"),
    Mistake("sample_next", "test_sample_next", "softmax without the maximum subtracted",
            _sample(probs="e = torch.exp(logits.double() / temperature)\n    probs = e / e.sum(-1, keepdim=True)"),
            "exp overflows unless the softmax is stable"),
    Mistake("sample_next", "test_sample_next", "the generator is not used",
            _sample(generator=""), "drew differently from two generators seeded alike"),
    # 12: eli's third (generate)
    Mistake("generate", "test_generate", "the cache keeps the keys but not the values",
            _generate(grow="torch.cat([cache[i][0], k], dim=2), v"), "append the new positions' k AND v to the cache"),
    Mistake("generate", "test_generate", "the cached path runs the whole sequence again",
            _generate(cached_step="forward_new(ids, 0, [None] * len(model.blocks))"),
            "don't run the whole sequence again"),
    Mistake("generate", "test_generate", "causal mask off by one in the prompt's pass (a position sees the next)",
            _generate(diagonal="start + 1"), "a one-token prompt comes out right: check the prompt's pass"),
    Mistake("generate", "test_generate", "every new token at position 0",
            _generate(positions="0, m"), "the new token's position"),
    Mistake("fit_power_law", "test_fit_power_law", "a straight line through log L and log N (no floor)",
            _FIT.format(body="slope, intercept = np.polyfit(np.log(N), np.log(L), 1)\n"
                             "    return float(np.exp(intercept)), float(-slope), 0.0"),
            "the floor c is part of the fit"),
    Mistake("fit_power_law", "test_fit_power_law", "the exponent returned with its sign",
            _FIT_GRID.format(grid="np.linspace(0.001, 3.0, 3000)", alpha="-alpha"),
            "return alpha itself, not the exponent -alpha"),
    Mistake("fit_power_law", "test_fit_power_law", "a coarse grid of exponents",
            _FIT_GRID.format(grid="np.linspace(0.1, 3.0, 30)", alpha="alpha"), "is larger than the best fit's"),
    Mistake("bpe_train", "test_bpe_train", "a run of one letter counted without overlaps (aaa holds one aa)",
            _bpe_train(count="i = 0\n"
                             "            while i < len(ids) - 1:\n"
                             "                counts[(ids[i], ids[i + 1])] += 1\n"
                             "                i += 2 if i + 2 < len(ids) and ids[i] == ids[i + 1] == ids[i + 2] else 1"),
            "merge 0 should be (97, 97)"),
    Mistake("bpe_encode_decode", "test_bpe_encode_decode", "the whole text encoded at once, words ignored",
            _encode_decode(words="[text]"), "merges are applied across the edges of words"),
    Mistake("perplexity", "test_perplexity", "the course's own version, imported under another name",
            "from dlcourse.llm import perplexity as course_perplexity\n\n\n"
            "def perplexity(logits, targets):\n    return course_perplexity(logits, targets)\n",
            "it calls the course's own version in dlcourse.llm"),
    Mistake("train_tiny_gpt", "test_train_tiny_gpt", "no causal mask: each position sees the next token",
            _TRAIN.format(causal="False", steps=600), "the trained model is not causal"),
    # last: dee's second (train_tiny_gpt)
    Mistake("train_tiny_gpt", "test_train_tiny_gpt", "too few steps: stuck at one token of context",
            _TRAIN.format(causal="True", steps=100), "the target is"),
]

ALTERNATIVES = [
    Alternative("bpe_train", "every word occurrence kept, ties by sorting", '''
def bpe_train(text, n_merges):
    pieces = [list(w.encode("utf-8")) for w in split_words(text)]
    merges = []
    for k in range(n_merges):
        counts = {}
        for ids in pieces:
            for a, b in zip(ids, ids[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            return merges
        pair = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0][0]
        merges.append(pair)
        for j, ids in enumerate(pieces):
            out = []
            for t in ids:
                if out and out[-1] == pair[0] and t == pair[1]:  # a merged id never equals pair[0]
                    out[-1] = 256 + k
                else:
                    out.append(t)
            pieces[j] = out
    return merges
'''),
    Alternative("bpe_encode_decode", "the lowest-ranked pair merged first, recursive decoding", '''
def bpe_encode(text, merges):
    rank = {tuple(pair): k for k, pair in enumerate(merges)}
    ids = []
    for word in split_words(text):
        w = list(word.encode("utf-8"))
        while len(w) > 1:
            pairs = [(rank.get((a, b), len(merges)), (a, b)) for a, b in zip(w, w[1:])]
            best, pair = min(pairs)
            if best == len(merges):
                break
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == pair:
                    out.append(256 + best)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            w = out
        ids.extend(w)
    return ids


def bpe_decode(ids, merges):
    def expand(i):
        return bytes([i]) if i < 256 else expand(merges[i - 256][0]) + expand(merges[i - 256][1])
    return b"".join(expand(int(i)) for i in ids).decode("utf-8", errors="replace")
'''),
    Alternative("perplexity", "bits: 2 to the mean loss in bits, in numpy", '''
def perplexity(logits, targets):
    z = logits.detach().double().cpu().numpy().reshape(-1, logits.shape[-1])
    t = targets.cpu().numpy().reshape(-1)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    bits = -log_p[np.arange(len(t)), t] / np.log(2)
    return 2.0 ** bits.mean()
'''),
    Alternative("sample_next", "inverse CDF with the generator's uniform numbers, a loop for top-p", '''
def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    V = logits.shape[-1]
    rows = torch.softmax(logits.reshape(-1, V).double() / temperature, dim=-1)
    out = torch.empty(rows.shape[0], dtype=torch.int64, device=logits.device)
    u = torch.rand(rows.shape[0], generator=generator, device=logits.device, dtype=torch.float64)
    for r in range(rows.shape[0]):
        order = torch.argsort(rows[r], descending=True)
        p = rows[r][order]
        if top_k is not None:
            p = torch.cat([p[:top_k], torch.zeros_like(p[top_k:])])
            p = p / p.sum()
        if top_p is not None:
            total, n_keep = 0.0, 0
            while n_keep < V and total < top_p:
                total += float(p[n_keep])
                n_keep += 1
            p = torch.cat([p[:n_keep], torch.zeros_like(p[n_keep:])])
            p = p / p.sum()
        c = torch.cumsum(p, 0)
        j = min(int(torch.searchsorted(c, u[r] * c[-1], right=True)), V - 1)
        while p[j] == 0:
            j -= 1
        out[r] = order[j]
    return out.reshape(logits.shape[:-1])
'''),
    Alternative("generate", "the prompt fed one token at a time, a list of keys per layer", '''
@torch.no_grad()
def generate(model, prompt_ids, n_new, use_cache=True):
    if not use_cache:
        ids = prompt_ids
        for _ in range(n_new):
            ids = torch.cat([ids, model(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
        return ids
    keys = [[] for _ in model.blocks]
    values = [[] for _ in model.blocks]

    def step(token, position):
        x = model.embed(token) + model.position.weight[position]
        for i, block in enumerate(model.blocks):
            a = block.attn
            h = block.norm1(x)
            b, _, d = h.shape
            H = a.n_heads
            keys[i].append(a.k_proj(h).view(b, 1, H, d // H).transpose(1, 2))
            values[i].append(a.v_proj(h).view(b, 1, H, d // H).transpose(1, 2))
            q = a.q_proj(h).view(b, 1, H, d // H).transpose(1, 2)
            K, V = torch.cat(keys[i], dim=2), torch.cat(values[i], dim=2)
            w = torch.softmax(q @ K.transpose(-1, -2) / (d // H) ** 0.5, dim=-1)
            x = x + a.out_proj((w @ V).transpose(1, 2).reshape(b, 1, d))
            x = x + block.ff(block.norm2(x))
        return model.head(model.norm(x))[:, -1]

    ids = prompt_ids
    for p in range(prompt_ids.shape[1]):
        last = step(prompt_ids[:, p:p + 1], p)
    for _ in range(n_new):
        nxt = last.argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
        if ids.shape[1] - prompt_ids.shape[1] < n_new:
            last = step(nxt, ids.shape[1] - 1)
    return ids
'''),
    Alternative("fit_power_law", "scipy's bounded scalar minimisation of the exponent", '''
def fit_power_law(sizes, losses):
    from scipy.optimize import minimize_scalar

    N, L = np.asarray(sizes, dtype=np.float64), np.asarray(losses, dtype=np.float64)

    def linear(alpha):
        x = N ** -alpha
        a, c = np.polyfit(x, L, 1)
        return ((a * x + c - L) ** 2).sum(), a, c

    grid = np.geomspace(0.005, 3.0, 400)
    start = grid[np.argmin([linear(al)[0] for al in grid])]
    best = minimize_scalar(lambda al: linear(al)[0], bounds=(start / 1.05, start * 1.05), method="bounded",
                           options={"xatol": 1e-10})
    _, a, c = linear(best.x)
    return a, best.x, c
'''),
]
