"""Diffusion models, built small: the tools of chapter 8's page and widgets.

Conventions (the exercise notebook states the same ones). There are ``T`` noising steps, indexed
``t = 0 .. T-1`` in code (step ``t`` in code is step ``t + 1`` in the papers). ``betas[t]`` is the
variance of the noise added at step ``t``; ``alpha_bar[t]`` is the product of ``1 - betas[s]`` for
``s <= t``, so that ``x_t = sqrt(alpha_bar[t]) x_0 + sqrt(1 - alpha_bar[t]) noise``. Schedules
are float64 tensors of shape ``(T,)``. A denoising model is called as ``model(x_t, t)`` with
``t`` an int64 tensor of shape ``(N,)`` and returns its prediction of the noise, shaped like
``x_t``; it has a ``data_shape`` attribute (``(2,)`` for points, ``(64,)`` for digits), which the
samplers read.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from dlcourse.models import Denoiser, time_features  # noqa: F401 (the page uses them from here)


# ---------------------------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------------------------

def linear_betas(T, beta_start=1e-4, beta_end=0.02):
    """Ho et al. (2020): variances rising linearly from beta_start to beta_end over T steps."""
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_alpha_bar(T, s=0.008):
    """Nichol and Dhariwal (2021): alpha_bar[t] = f(t + 1) / f(0), f(u) = cos((u/T + s)/(1 + s) pi/2)^2."""
    u = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2
    return f[1:] / f[0]


def alpha_bar_of(betas):
    return torch.cumprod(1 - betas, dim=0)


def betas_of(alpha_bar, max_beta=0.999):
    """The betas that give ``alpha_bar``, capped (the cosine schedule's last step would be 1)."""
    previous = torch.cat([alpha_bar.new_ones(1), alpha_bar[:-1]])
    return (1 - alpha_bar / previous).clamp(max=max_beta)


def snr(alpha_bar):
    """Signal-to-noise ratio of x_t: alpha_bar / (1 - alpha_bar)."""
    return alpha_bar / (1 - alpha_bar)


# ---------------------------------------------------------------------------------------------
# Forward process, loss, reverse steps, samplers
# ---------------------------------------------------------------------------------------------

def _at(values, t, x):
    """values[t] shaped (N, 1, ..., 1) to broadcast over x's other axes, in x's dtype and device."""
    return values.to(x.device)[t].to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))


def q_sample(x0, t, noise, alpha_bar):
    """x_t from x_0 in one jump: sqrt(alpha_bar[t]) x0 + sqrt(1 - alpha_bar[t]) noise."""
    ab = _at(alpha_bar, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def diffusion_loss(model, x0, t, noise, alpha_bar):
    """The mean squared error between the noise and the model's prediction of it from (x_t, t)."""
    return F.mse_loss(model(q_sample(x0, t, noise, alpha_bar), t), noise)


def _steps(t, x):
    return torch.full((x.shape[0],), int(t), dtype=torch.int64, device=x.device)


def ddpm_step(model, x_t, t, z, betas):
    """One step of the reverse process, x_t -> x_{t-1}, with the posterior variance (none at t = 0)."""
    alpha_bar = alpha_bar_of(betas)
    beta, ab = float(betas[t]), float(alpha_bar[t])
    eps = model(x_t, _steps(t, x_t))
    mean = (x_t - beta / math.sqrt(1 - ab) * eps) / math.sqrt(1 - beta)
    if t == 0:
        return mean
    variance = beta * (1 - float(alpha_bar[t - 1])) / (1 - ab)
    return mean + math.sqrt(variance) * z


def ddim_step(model, x_t, t, t_prev, alpha_bar):
    """One deterministic DDIM step (eta = 0) from step t to step t_prev (-1: to x_0)."""
    ab = float(alpha_bar[t])
    ab_prev = float(alpha_bar[t_prev]) if t_prev >= 0 else 1.0
    eps = model(x_t, _steps(t, x_t))
    x0 = (x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
    return math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps


def _noise(shape, generator, device):
    return torch.randn(shape, generator=generator).to(device)


@torch.no_grad()
def sample(model, n, betas, generator=None, trajectory=False):
    """DDPM sampling: x_T ~ N(0, I), then T reverse steps. Noise is drawn on the CPU from
    ``generator`` (x_T first, then one z per step for t = T-1 .. 1) and moved to betas' device.
    With ``trajectory=True``, returns every x from x_T to x_0 (a list of T + 1 tensors)."""
    x = _noise((n, *model.data_shape), generator, betas.device)
    path = [x]
    for t in range(len(betas) - 1, -1, -1):
        z = _noise(x.shape, generator, betas.device) if t > 0 else torch.zeros_like(x)
        x = ddpm_step(model, x, t, z, betas)
        path.append(x)
    return path if trajectory else x


def ddim_times(T, steps):
    """``steps`` step indices from T-1 down to 0, evenly spaced, each followed by the next (-1 at the end)."""
    times = torch.linspace(T - 1, 0, steps).round().long().tolist()
    return list(zip(times, times[1:] + [-1]))


@torch.no_grad()
def ddim_sample(model, n, alpha_bar, steps, generator=None, trajectory=False):
    """DDIM sampling with ``steps`` model calls: one draw of x_T, then deterministic steps."""
    x = _noise((n, *model.data_shape), generator, alpha_bar.device)
    path = [x]
    for t, t_prev in ddim_times(len(alpha_bar), steps):
        x = ddim_step(model, x, t, t_prev, alpha_bar)
        path.append(x)
    return path if trajectory else x


# ---------------------------------------------------------------------------------------------
# Guidance and training (the denoising network is dlcourse.models.Denoiser)
# ---------------------------------------------------------------------------------------------

class Guided(nn.Module):
    """A class-conditional denoiser with its label fixed and classifier-free guidance of scale w:
    eps = (1 + w) eps(x, t, y) - w eps(x, t, no label). w = 0 is the plain conditional model."""

    def __init__(self, model, labels, w):
        super().__init__()
        self.model, self.labels, self.w = model, labels, float(w)
        self.data_shape = model.data_shape

    def forward(self, x, t):
        y = self.labels.to(x.device)
        conditional = self.model(x, t, y)
        if self.w == 0:
            return conditional
        return (1 + self.w) * conditional - self.w * self.model(x, t)


def train_denoiser(model, X, alpha_bar, steps, batch=256, lr=2e-3, labels=None, drop_label=0.1, seed=0,
                   progress=None):
    """Train ``model`` to predict the noise (Adam, a cosine-decayed learning rate); returns the
    loss of every step. With ``labels``, each label is replaced by "no label" with probability
    ``drop_label`` so that the same model learns the unconditional prediction too."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    T, losses = len(alpha_bar), []
    for _ in (progress(range(steps)) if progress else range(steps)):
        i = torch.randint(0, len(X), (batch,), generator=generator)
        t = torch.randint(0, T, (batch,), generator=generator)
        noise = torch.randn((batch, *X.shape[1:]), generator=generator)
        x_t = q_sample(X[i], t, noise, alpha_bar)
        if labels is None:
            prediction = model(x_t, t)
        else:
            y = labels[i].clone()
            y[torch.rand(batch, generator=generator) < drop_label] = model.classes
            prediction = model(x_t, t, y)
        loss = F.mse_loss(prediction, noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


# ---------------------------------------------------------------------------------------------
# Judging samples
# ---------------------------------------------------------------------------------------------

def sliced_wasserstein(a, b, n_directions=64):
    """Mean over evenly spread directions of the 1D Wasserstein-1 distance between the projected
    point sets ``a`` and ``b`` (two (n, 2) arrays of the same n): 0 for equal sets."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    angles = torch.arange(n_directions, dtype=torch.float64) * math.pi / n_directions
    directions = torch.stack([angles.cos(), angles.sin()])
    pa, pb = (a @ directions).sort(dim=0).values, (b @ directions).sort(dim=0).values
    return float((pa - pb).abs().mean())


def nearest(samples, images):
    """For each sample, the index of the nearest image (Euclidean) and its distance."""
    distances = torch.cdist(torch.as_tensor(samples, dtype=torch.float64).flatten(1),
                            torch.as_tensor(images, dtype=torch.float64).flatten(1))
    d, i = distances.min(dim=1)
    return i, d


# ---------------------------------------------------------------------------------------------
# The page's two models and its judge
# ---------------------------------------------------------------------------------------------

POINTS_T, DIGITS_T = 100, 200


def points_betas():
    """The 2D model's schedule: 100 steps, betas from 1e-4 to 0.2 (alpha_bar at the end: 2e-5)."""
    return linear_betas(POINTS_T, 1e-4, 0.2)


def digits_betas():
    """The digit model's schedule: 200 steps, betas from 1e-4 to 0.1."""
    return linear_betas(DIGITS_T, 1e-4, 0.1)


def digits_to_model(X):
    """Pixels in [0, 1], any shape (N, ...) -> the model's (N, 64) in [-1, 1]."""
    return torch.as_tensor(X, dtype=torch.float32).reshape(len(X), 64) * 2 - 1


def model_to_digits(x):
    """The model's (N, 64) -> images (N, 8, 8) in [0, 1] (clipped)."""
    return ((x.detach().cpu().float() + 1) / 2).clamp(0, 1).reshape(-1, 8, 8)


def train_points_model(X, steps=3000, seed=0, progress=None):
    """The page's 2D denoiser, trained on the points ``X`` (N, 2); returns (model, losses)."""
    torch.manual_seed(seed)
    model = Denoiser(2, POINTS_T, hidden=128)
    losses = train_denoiser(model, torch.as_tensor(X, dtype=torch.float32), alpha_bar_of(points_betas()), steps,
                            lr=3e-3, seed=seed, progress=progress)
    return model.eval(), losses


def train_digits_model(X, labels, steps=6000, seed=0, progress=None):
    """The page's class-conditional digit denoiser (labels 0-9, 10 = none); returns (model, losses)."""
    torch.manual_seed(seed)
    model = Denoiser(64, DIGITS_T, hidden=256, classes=10)
    losses = train_denoiser(model, digits_to_model(X), alpha_bar_of(digits_betas()), steps, batch=128,
                            labels=torch.as_tensor(labels), seed=seed, progress=progress)
    return model.eval(), losses


def digit_judge(seed=0, epochs=10):
    """Chapter 4's CNN (``dlcourse.models.DigitCNN``) trained on the training digits (Adam, 10
    epochs of batches of 64): the judge that reads generated digits. About 99% on the test split."""
    from dlcourse import data
    from dlcourse.models import DigitCNN

    X, y = data.digits("train", flat=False)
    X, y = torch.as_tensor(X, dtype=torch.float32)[:, None], torch.as_tensor(y)
    torch.manual_seed(seed)
    model = DigitCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(epochs):
        order = torch.randperm(len(y))
        for k in range(0, len(y), 64):
            batch = order[k:k + 64]
            loss = F.cross_entropy(model(X[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


@torch.no_grad()
def judged(judge, images):
    """The judge's class for each image (N, 8, 8) in [0, 1]."""
    return judge(torch.as_tensor(images, dtype=torch.float32).reshape(-1, 1, 8, 8)).argmax(1)
