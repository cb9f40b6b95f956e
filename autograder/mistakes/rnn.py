"""Chapter 5 (05-rnn): wrong answers students really write.

The order matters to the demo class (autograder/demo.py): one student makes the first and the
last mistakes, another the 3rd, 8th and 13th, and each student's must belong to different parts.
"""
from autograder.mistakes import Alternative, Mistake

_FORWARD = '''
def rnn_forward(X, h0, Wx, Wh, b):
    n, T, _ = X.shape
    states = []
    h = h0
    for t in range({steps}):
        h = rnn_cell({x}, {h}, Wx, Wh, b)
        states.append(h)
    return np.stack(states, axis={axis}), h
'''

_LSTM = '''
def lstm_cell(x, h, c, W, U, b):
    i, f, g, o = (x @ W + h @ U + b).chunk(4, dim=1)
    c_new = torch.sigmoid(f) * {old} + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * {squashed}, c_new
'''

_CLIP = '''
def clip_grad_norm(grads, max_norm):
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    scale = {scale}
    clipped = [g * scale for g in grads]
    return clipped, {returned}
'''

_BACKWARD = '''
def rnn_backward(dH, X, h0, Wx, Wh, H):
    T = X.shape[1]
    dX, dWx, dWh = np.zeros_like(X), np.zeros_like(Wx), np.zeros_like(Wh)
    db = np.zeros(Wh.shape[0])
    dh = np.zeros_like(h0)
    for t in reversed(range(T)):
        da = {da}
        h_prev = {h_prev}
        dX[:, t] = da @ Wx.T
        dWx += X[:, t].T @ da
        dWh += h_prev.T @ da
        db += da.sum(axis=0)
        {carry}
    return dX, dh, dWx, dWh, db
'''


def _backward(da="(dh + dH[:, t]) * (1 - H[:, t] ** 2)", h_prev="H[:, t - 1] if t > 0 else h0",
              carry="dh = da @ Wh.T"):
    return _BACKWARD.format(da=da, h_prev=h_prev, carry=carry)


_ADDER = '''
def train_adding(device):
    class Adder(nn.Module):
        def __init__(self, hidden=32):
            super().__init__()
            self.rnn = nn.{cell}(2, hidden, batch_first=True)
            self.head = nn.Linear(hidden, 1)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[:, -1]).squeeze(-1)

    model = Adder().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    X_all, y_all = data.to_torch(*data.adding_problem(64 * 1000, length=50, seed=12345), device=device)
    model.train()
    for step in range(1000):
        X, y = X_all[64 * step:64 * (step + 1)], y_all[64 * step:64 * (step + 1)]
        loss = ((model(X) - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
{ret}'''


MISTAKES = [
    # Part 1: rnn_cell
    Mistake("rnn_cell", "test_rnn_cell", "forgets the tanh", '''
def rnn_cell(x, h, Wx, Wh, b):
    return x @ Wx + h @ Wh + b
''', "tanh is missing"),
    Mistake("rnn_cell", "test_rnn_cell", "transposes Wh", '''
def rnn_cell(x, h, Wx, Wh, b):
    return np.tanh(x @ Wx + h @ Wh.T + b)
''', "you used Wh transposed"),
    Mistake("rnn_cell", "test_rnn_cell", "forgets the bias", '''
def rnn_cell(x, h, Wx, Wh, b):
    return np.tanh(x @ Wx + h @ Wh)
''', "the bias is missing"),
    # Part 2: rnn_forward
    Mistake("rnn_forward", "test_rnn_forward", "resets the hidden state at every step",
            _FORWARD.format(steps="T", x="X[:, t]", h="h0", axis=1), "every step starts again from h0"),
    Mistake("rnn_forward", "test_rnn_forward", "swaps the batch and time axes",
            _FORWARD.format(steps="T", x="X[t]", h="h", axis=1), "rnn_forward(X of shape (2, 5, 3)"),
    Mistake("rnn_forward", "test_rnn_forward", "stacks the states time first",
            _FORWARD.format(steps="T", x="X[:, t]", h="h", axis=0), "H has shape (5, 2, 4), time first"),
    # Part 3: lstm_cell
    Mistake("lstm_cell", "test_lstm_cell", "gates in the order i, f, o, g", '''
def lstm_cell(x, h, c, W, U, b):
    i, f, o, g = (x @ W + h @ U + b).chunk(4, dim=1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new
''', "the gates are in the wrong order: torch's order is input, forget, candidate (g), output; z[:, 2k:3k]"),
    Mistake("lstm_cell", "test_lstm_cell", "applies the forget gate to h instead of c",
            _LSTM.format(old="h", squashed="torch.tanh(c_new)"), "the forget gate multiplies the old cell state c"),
    Mistake("lstm_cell", "test_lstm_cell", "no tanh on the cell state before the output gate",
            _LSTM.format(old="c", squashed="c_new"), "the output gate multiplies tanh(c_new)"),
    Mistake("lstm_cell", "test_lstm_cell", "takes h and c in each other's place", '''
def lstm_cell(x, c, h, W, U, b):
    i, f, g, o = (x @ W + h @ U + b).chunk(4, dim=1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new
''', "h and c are swapped"),
    # Part 4: clip_grad_norm
    Mistake("clip_grad_norm", "test_clip_grad_norm", "clips each tensor by its own norm", '''
def clip_grad_norm(grads, max_norm):
    clipped = []
    for g in grads:
        norm = torch.sqrt((g ** 2).sum())
        clipped.append(g * min(1.0, max_norm / (float(norm) + 1e-6)))
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    return clipped, total
''', "each tensor was clipped by its own norm"),
    Mistake("clip_grad_norm", "test_clip_grad_norm", "returns the norm after clipping",
            _CLIP.format(scale="torch.clamp(max_norm / (norm + 1e-6), max=1.0)",
                         returned="torch.sqrt(sum((g ** 2).sum() for g in clipped))"),
            "that is the norm after clipping"),
    Mistake("clip_grad_norm", "test_clip_grad_norm", "scales small gradients up to max_norm",
            _CLIP.format(scale="max_norm / norm", returned="norm"), "the gradients were scaled up to max_norm"),
    # Part 5: rnn_backward
    Mistake("rnn_backward", "test_rnn_backward", "BPTT that stops after one step",
            _backward(da="dH[:, t] * (1 - H[:, t] ** 2)"), "these are the gradients of each step alone"),
    Mistake("rnn_backward", "test_rnn_backward", "forgets tanh's derivative",
            _backward(da="dh + dH[:, t]"), "dX from rnn_backward"),
    Mistake("rnn_backward", "test_rnn_backward", "uses h_t instead of h_{t-1} for dWh",
            _backward(h_prev="H[:, t]"), "dWh from rnn_backward"),
    # Part 6: train_adding
    Mistake("train_adding", "test_train_adding", "a plain RNN instead of an LSTM",
            _ADDER.format(cell="RNN", ret="    return model\n"), "the mean squared error on 2,000 fresh sequences"),
    Mistake("train_adding", "test_train_adding", "forgets to return the model",
            _ADDER.format(cell="LSTM", ret="    model.eval()\n"), "train_adding(device) returned None"),
]


# Correct answers written otherwise than the reference: each must pass every test.
ALTERNATIVES = [
    Alternative("rnn_cell", "one sequence at a time, with np.dot", '''
def rnn_cell(x, h, Wx, Wh, b):
    rows = [np.tanh(np.dot(x[i], Wx) + np.dot(h[i], Wh) + b) for i in range(len(x))]
    return np.array(rows)
'''),
    Alternative("rnn_forward", "the step written inline, H filled in place, h_last read from H", '''
def rnn_forward(X, h0, Wx, Wh, b):
    n, T, d = X.shape
    H = np.empty((n, T, Wh.shape[1]))
    for t in range(T):
        previous = h0 if t == 0 else H[:, t - 1]
        H[:, t] = np.tanh(np.einsum("nd,dk->nk", X[:, t], Wx) + previous @ Wh + b)
    return H, H[:, -1].copy()
'''),
    Alternative("lstm_cell", "F.linear and explicit slices, returned as a list", '''
def lstm_cell(x, h, c, W, U, b):
    k = h.shape[1]
    z = torch.nn.functional.linear(x, W.T) + torch.nn.functional.linear(h, U.T, b)
    i, f = torch.sigmoid(z[:, :k]), torch.sigmoid(z[:, k:2 * k])
    g, o = torch.tanh(z[:, 2 * k:3 * k]), torch.sigmoid(z[:, 3 * k:])
    c = f * c + i * g
    return [o * torch.tanh(c), c]
'''),
    Alternative("clip_grad_norm", "a Python float norm, no epsilon, copies when unclipped", '''
def clip_grad_norm(grads, max_norm):
    norm = sum(float(torch.sum(g * g)) for g in grads) ** 0.5
    if norm > max_norm:
        return [g * (max_norm / norm) for g in grads], norm
    return [g.clone() for g in grads], norm
'''),
    Alternative("rnn_backward", "da stored per step, weight gradients summed with einsum after the loop", '''
def rnn_backward(dH, X, h0, Wx, Wh, H):
    n, T, d = X.shape
    da = np.zeros_like(H)
    carried = np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        da[:, t] = (dH[:, t] + carried) * (1.0 - np.square(H[:, t]))
        carried = da[:, t] @ Wh.T
    H_prev = np.concatenate([h0[:, None, :], H[:, :-1]], axis=1)
    dWx = np.einsum("ntd,ntk->dk", X, da)
    dWh = np.einsum("ntj,ntk->jk", H_prev, da)
    return da @ Wx.T, carried, dWx, dWh, da.sum(axis=(0, 1))
'''),
    Alternative("train_adding", "a GRU predicting (N, 1), fresh sequences every step", '''
def train_adding(device):
    class GRUAdder(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(2, 32, batch_first=True)
            self.out = nn.Linear(32, 1)

        def forward(self, x):
            _, h = self.gru(x)
            return self.out(h[-1])

    model = GRUAdder().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(1000):
        X, y = data.to_torch(*data.adding_problem(64, length=50, seed=step), device=device)
        loss = ((model(X).squeeze(1) - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model
'''),
]
