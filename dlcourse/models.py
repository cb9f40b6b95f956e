"""Models the course provides ready-made, for readers and for grading.

``DigitCNN`` is the course's CNN for the 8x8 digits: when a student's own network fails its
part, the next part trains this one with the student's training code instead, so one mistake
does not cost two parts."""
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
