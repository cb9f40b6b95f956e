"""Chapter 9's tools (09-limits): attacks and shifted inputs, calibration, quantization and
distillation, all on the 8x8 digits and chapter 4's CNN.

The digits are split as in chapter 3 (``dlcourse.data.digit_images``): 1,137 training images to
fit on, 300 validation images to choose with (the temperature, the epochs) and the 360 test
images, touched only to report. The CNN is ``dlcourse.models.train_digit_cnn()``. Every training
here is seeded, so the page's numbers repeat. (The exercise notebook refuses this module's
functions in its tests: they are the book's versions of the exercises.)"""
import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcourse.data import digit_images as digits  # noqa: F401  (the page's names for the course's data and CNN)
from dlcourse.models import train_digit_cnn as train_cnn  # noqa: F401


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def train(model, X, y, epochs=10, lr=1e-2, batch=64, seed=0, loss_fn=None):
    """Adam on mini-batches of (X, y); ``loss_fn(logits, batch_indices)`` replaces cross-entropy
    (distillation passes one that also reads the teacher). Returns the model in eval mode."""
    generator = torch.Generator().manual_seed(seed)  # the batches' order
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for k in range(0, len(y), batch):
            idx = order[k:k + batch]
            logits = model(X[idx])
            loss = F.cross_entropy(logits, y[idx]) if loss_fn is None else loss_fn(logits, idx)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


@torch.no_grad()
def predict(model, X, batch=512):
    """Logits of an eval-mode model, computed in batches."""
    return torch.cat([model(X[k:k + batch]) for k in range(0, len(X), batch)])


def accuracy(model, X, y):
    return (predict(model, X).argmax(1) == y).float().mean().item()


# --------------------------------------------------------------------------------------------
# Brittleness
# --------------------------------------------------------------------------------------------

def fgsm(model, x, y, eps):
    """The fast gradient sign method (Goodfellow et al. 2015): one step of size ``eps`` along the
    sign of the loss's gradient with respect to the input, clamped to the pixel range [0, 1].
    The model is evaluated in eval mode (batch norm's running statistics, as when it is used) and
    left in the mode it was in; its parameters' gradients are not touched."""
    was_training = model.training
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    model.train(was_training)
    return (x + eps * grad.sign()).clamp(0.0, 1.0).detach()


def accuracy_under_attack(model, X, y, eps):
    """The share of (X, y) the model still classifies correctly after an FGSM attack of size eps."""
    return accuracy(model, fgsm(model, X, y, eps), y)


def shifted(X, dx=0, dy=0):
    """Images moved by whole pixels (right by dx, down by dy), the uncovered border left black."""
    out = torch.zeros_like(X)
    h, w = X.shape[-2:]
    src_y, dst_y = slice(max(0, -dy), h - max(0, dy)), slice(max(0, dy), h - max(0, -dy))
    src_x, dst_x = slice(max(0, -dx), w - max(0, dx)), slice(max(0, dx), w - max(0, -dx))
    out[..., dst_y, dst_x] = X[..., src_y, src_x]
    return out


def rotated(X, degrees):
    """Images rotated about their centre by ``degrees`` (counter-clockwise), bilinear, black fill."""
    theta = torch.tensor(np.deg2rad(degrees), dtype=X.dtype)
    c, s = torch.cos(theta), torch.sin(theta)
    matrix = torch.stack([torch.stack([c, -s, torch.zeros(())]),
                          torch.stack([s, c, torch.zeros(())])]).expand(len(X), 2, 3)
    grid = F.affine_grid(matrix, list(X.shape), align_corners=False)
    return F.grid_sample(X, grid, align_corners=False, padding_mode="zeros")


def noisy(X, sigma, seed=0):
    """Images with Gaussian pixel noise of standard deviation sigma, clamped to [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    return (X + sigma * torch.randn(X.shape, generator=generator)).clamp(0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------

def reliability(probs, labels, n_bins=10):
    """Per bin of confidence (the top probability), bins of equal width on [0, 1], the last one
    closed so a confidence of exactly 1 counts: (mean confidence, accuracy, count), each (n_bins,)
    float64; empty bins have count 0 and confidence and accuracy NaN."""
    probs = torch.as_tensor(probs, dtype=torch.float64)
    labels = torch.as_tensor(labels)
    confidence, predicted = probs.max(1)
    correct = (predicted == labels).double()
    bins = (confidence * n_bins).floor().long().clamp(0, n_bins - 1)
    count = torch.bincount(bins, minlength=n_bins).double()
    conf_sum = torch.bincount(bins, weights=confidence, minlength=n_bins)
    acc_sum = torch.bincount(bins, weights=correct, minlength=n_bins)
    return conf_sum / count, acc_sum / count, count


def expected_calibration_error(probs, labels, n_bins=10):
    """ECE: the gap |accuracy - confidence| of each bin, weighted by the bin's share of examples."""
    confidence, acc, count = reliability(probs, labels, n_bins)
    used = count > 0
    return float(((acc - confidence).abs()[used] * count[used]).sum() / count.sum())


def fit_temperature(logits, labels):
    """The temperature T > 0 that minimises the cross-entropy of softmax(logits / T) on (logits,
    labels), found by a golden-section search on log T (the loss is smooth and has one minimum
    there in practice). Fit it on validation logits, never on the test set."""
    logits = torch.as_tensor(logits, dtype=torch.float64)
    labels = torch.as_tensor(labels)

    def nll(log_t):
        return F.cross_entropy(logits / np.exp(log_t), labels).item()

    lo, hi = np.log(0.01), np.log(100.0)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))


# --------------------------------------------------------------------------------------------
# Smaller models: quantization and distillation
# --------------------------------------------------------------------------------------------

def quantize(w, bits, per_channel=False):
    """Symmetric quantization to signed integers in [-(2^(bits-1) - 1), 2^(bits-1) - 1]: the
    scale maps the largest magnitude (of the tensor, or of each output channel, dim 0) to the
    largest integer; values are rounded to the nearest integer. Returns (q int8, scale float32,
    a scalar or shaped (C, 1, ..., 1) to broadcast). An all-zero tensor or channel gets scale 1."""
    if not 2 <= bits <= 8:
        raise ValueError(f"bits={bits}: use 2 to 8 (the integers are stored as int8).")
    qmax = 2 ** (bits - 1) - 1
    if per_channel:
        peak = w.detach().abs().reshape(len(w), -1).amax(1).reshape(-1, *[1] * (w.dim() - 1))
    else:
        peak = w.detach().abs().max()
    scale = torch.where(peak > 0, peak / qmax, torch.ones_like(peak)).float()
    q = torch.round(w.detach() / scale).clamp(-qmax, qmax).to(torch.int8)
    return q, scale


def dequantize(q, scale):
    return q.float() * scale


def quantized_copy(model, bits, per_channel=True):
    """A copy of the model whose convolution and linear weights went through quantize and
    dequantize (biases and batch norm stay float32): the accuracy a ``bits``-bit model would have."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                layer.weight.copy_(dequantize(*quantize(layer.weight, bits, per_channel)))
    return model


def size_bytes(model, bits=32, per_channel=True):
    """Bytes to store the model with conv and linear weights at ``bits`` bits (plus one float32
    scale per tensor or per output channel); everything else (biases, batch norm) stays float32."""
    total = 0.0
    for layer in model.modules():
        own = list(layer.named_parameters(recurse=False)) + list(layer.named_buffers(recurse=False))
        for name, tensor in own:
            if name == "num_batches_tracked":
                continue
            if bits < 32 and name == "weight" and isinstance(layer, (nn.Conv2d, nn.Linear)):
                total += tensor.numel() * bits / 8 + 4 * (len(tensor) if per_channel else 1)
            else:
                total += tensor.numel() * 4
    return int(np.ceil(total))


class SmallCNN(nn.Module):
    """A student about a tenth of ``DigitCNN``'s size: two narrow conv-ReLU-pool stages and a
    linear read-out, (N, 1, 8, 8) -> (N, 10) logits."""

    def __init__(self, width=8):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(2 * width * 4, 10)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def distillation_loss(student_logits, teacher_logits, labels, T, alpha):
    """Hinton et al. (2015): alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)),
    averaged over the batch, plus (1 - alpha) * cross-entropy with the true labels. The T^2 keeps
    the soft term's gradients the same size whatever T is."""
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                    reduction="batchmean", log_target=True)
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)


def train_student(teacher=None, T=4.0, alpha=0.9, epochs=30, seed=0, width=8):
    """A ``SmallCNN`` trained on the ``fit`` images, on the teacher's softened outputs when a
    teacher is given (``distillation_loss``), else on the labels alone (the baseline)."""
    X, y = digits("fit")
    torch.manual_seed(seed)
    student = SmallCNN(width)
    if teacher is None:
        return train(student, X, y, epochs=epochs, seed=seed)
    teacher_logits = predict(teacher.eval(), X)
    return train(student, X, y, epochs=epochs, seed=seed,
                 loss_fn=lambda logits, idx: distillation_loss(logits, teacher_logits[idx], y[idx], T, alpha))
