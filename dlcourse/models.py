"""Models the course provides ready-made, for readers and for grading.

``DigitCNN`` is the course's CNN for the 8x8 digits: chapter 4's training part trains it with
the student's training loop, so that the loop's grade does not depend on the student's network. ``CharRNN`` is chapter 5's character-level recurrent language model."""
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
