"""Models the course provides ready-made, for readers and for grading.

``DigitCNN`` is the course's CNN for the 8x8 digits: chapter 4's training part trains it with
the student's training loop, so that the loop's grade does not depend on the student's network;
``train_digit_cnn`` trains it the course's way (chapter 9's teacher).
``CharRNN`` is chapter 5's character-level recurrent language model. ``Denoiser`` is chapter 8's
noise-predicting network: (x_t, t[, label]) -> noise."""
import math

import torch
import torch.nn.functional as F
from torch import nn


class DigitCNN(nn.Module):
    """Two conv-batchnorm-ReLU-pool stages and a linear layer: (N, 1, 8, 8) -> (N, 10) logits."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(64 * 2 * 2, 10)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def train_digit_cnn(seed=0, epochs=10):
    """A ``DigitCNN`` trained on the ``fit`` digits (``data.digit_images``): Adam (learning rate
    0.01), batches of 64, seeded. About 99% on the test digits in a few seconds on a CPU; chapter
    9 attacks, calibrates, quantizes and distils it. Returned in eval mode, on the CPU."""
    from dlcourse import data

    X, y = data.digit_images("fit")
    torch.manual_seed(seed)  # the initial weights
    model = DigitCNN()
    generator = torch.Generator().manual_seed(seed)  # the batches' order
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for k in range(0, len(y), 64):
            idx = order[k:k + 64]
            loss = F.cross_entropy(model(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


class CharRNN(nn.Module):
    """A character-level language model: embedding, one recurrent layer (``nn.RNN`` with tanh, or
    ``nn.LSTM``/``nn.GRU`` with ``cell="lstm"``/``"gru"``), and a linear read-out to one score per
    character of the vocabulary.

    ``model(idx, h=None)`` takes int64 character indices of shape ``(N, T)`` and returns the
    logits of the next character at every step, ``(N, T, vocab_size)``, and the last hidden
    state, to pass back in as ``h`` to continue the same text (generation, truncated BPTT)."""

    CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

    def __init__(self, vocab_size, hidden=128, embedding=32, cell="rnn"):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding)
        self.rnn = self.CELLS[cell](embedding, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, idx, h=None):
        states, h = self.rnn(self.embed(idx), h)
        return self.head(states), h


def time_features(t, T, dim, dtype=torch.float32):
    """Sinusoidal features of the steps ``t`` (N,) (as chapter 6's positions), from t / T so that
    any number of steps T reads alike: (N, dim)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device, dtype=dtype) / half)
    angles = (t.to(dtype) / T * 1000.0)[:, None] * frequencies[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class Denoiser(nn.Module):
    """An MLP that predicts the noise in x_t from (x_t, t), and from a class label when
    ``classes`` > 0 (label ``classes`` is the "no label" of classifier-free guidance)."""

    def __init__(self, data_dim, T, hidden=128, layers=3, time_dim=32, classes=0):
        super().__init__()
        self.config = dict(data_dim=data_dim, T=T, hidden=hidden, layers=layers, time_dim=time_dim, classes=classes)
        self.data_shape, self.T, self.time_dim, self.classes = (data_dim,), T, time_dim, classes
        self.label = nn.Embedding(classes + 1, time_dim) if classes else None
        sizes = [data_dim + time_dim] + [hidden] * layers
        self.body = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.time = nn.ModuleList(nn.Linear(time_dim, hidden) for _ in range(layers))
        self.out = nn.Linear(hidden, data_dim)

    def forward(self, x, t, y=None):
        """x (N, ...) with data_dim values per example (flattened here), t (N,) -> noise shaped like x."""
        emb = time_features(t, self.T, self.time_dim, x.dtype)
        if self.label is not None:
            y = torch.full_like(t, self.classes) if y is None else y
            emb = emb + self.label(y)
        h = torch.cat([x.flatten(1), emb], dim=1)
        for layer, time in zip(self.body, self.time):
            h = F.silu(layer(h) + time(emb))
        return self.out(h).reshape(x.shape)
