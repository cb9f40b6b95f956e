"""dlcourse.diffusion, the page's and widgets' diffusion tools, against the exercise notebook's
reference solution (written separately) and against their definitions."""
import math

import torch

from autograder import reference
from dlcourse import data, diffusion
from dlcourse.models import Denoiser


def small_model(data_dim=3, T=30, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    model = Denoiser(data_dim, T, hidden=16, layers=2).to(dtype)
    with torch.no_grad():
        model.out.weight.mul_(5)
    return model


def test_schedules_agree_with_the_reference_and_their_definitions():
    assert torch.equal(diffusion.linear_betas(7, 1e-3, 0.3), reference("08-diffusion", "linear_betas")(7, 1e-3, 0.3))
    assert torch.allclose(diffusion.cosine_alpha_bar(50), reference("08-diffusion", "cosine_alpha_bar")(50))
    betas = diffusion.linear_betas(10, 0.1, 0.5)
    alpha_bar = diffusion.alpha_bar_of(betas)
    assert math.isclose(float(alpha_bar[2]), 0.9 * (1 - 0.1 - 0.4 / 9) * (1 - 0.1 - 0.8 / 9))
    assert torch.allclose(diffusion.alpha_bar_of(diffusion.betas_of(alpha_bar)), alpha_bar)
    cosine = diffusion.cosine_alpha_bar(1000)
    assert 0.9999 < float(cosine[0]) < 1 and float(cosine[-1]) < 1e-8
    assert float(diffusion.betas_of(cosine).max()) == 0.999  # the last step is capped
    assert torch.allclose(diffusion.snr(alpha_bar), alpha_bar / (1 - alpha_bar))


def test_forward_jump_loss_and_steps_agree_with_the_reference():
    g = torch.Generator().manual_seed(0)
    T, model = 30, small_model()
    betas = diffusion.linear_betas(T, 1e-3, 0.3)
    alpha_bar = diffusion.alpha_bar_of(betas)
    x0, noise = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 3, 10, 20, 29])
    assert torch.allclose(diffusion.q_sample(x0, t, noise, alpha_bar),
                          reference("08-diffusion", "q_sample")(x0, t, noise, alpha_bar))
    with torch.no_grad():
        assert math.isclose(float(diffusion.diffusion_loss(model, x0, t, noise, alpha_bar)),
                            float(reference("08-diffusion", "diffusion_loss")(model, x0, t, noise, alpha_bar)))
        for step in (29, 5, 0):
            assert torch.allclose(diffusion.ddpm_step(model, x0, step, noise, betas),
                                  reference("08-diffusion", "ddpm_step")(model, x0, step, noise, betas))
        for step, previous in ((29, 10), (3, -1)):
            assert torch.allclose(diffusion.ddim_step(model, x0, step, previous, alpha_bar),
                                  reference("08-diffusion", "ddim_step")(model, x0, step, previous, alpha_bar))


def test_q_sample_has_the_stated_mean_and_variance():
    alpha_bar = diffusion.alpha_bar_of(diffusion.points_betas())
    x0 = torch.full((200000, 1), 2.0, dtype=torch.float64)
    t = torch.full((200000,), 30)
    x_t = diffusion.q_sample(x0, t, torch.randn(200000, 1, generator=torch.Generator().manual_seed(1),
                                                 dtype=torch.float64), alpha_bar)
    assert abs(float(x_t.mean()) - 2 * math.sqrt(alpha_bar[30])) < 0.01
    assert abs(float(x_t.var()) - (1 - float(alpha_bar[30]))) < 0.01


def test_samplers_follow_the_generator_and_ddim_with_all_steps_is_deterministic():
    T = 20
    model = small_model(2, T, dtype=torch.float32)
    betas = diffusion.linear_betas(T, 1e-3, 0.3)
    a = diffusion.sample(model, 4, betas, torch.Generator().manual_seed(3))
    b = reference("08-diffusion", "sample")(model, 4, betas, torch.Generator().manual_seed(3))
    assert torch.allclose(a, b, atol=1e-5)
    path = diffusion.sample(model, 4, betas, torch.Generator().manual_seed(3), trajectory=True)
    assert len(path) == T + 1 and torch.equal(path[-1], a)
    alpha_bar = diffusion.alpha_bar_of(betas)
    assert diffusion.ddim_times(T, 4) == [(19, 13), (13, 6), (6, 0), (0, -1)]
    first = diffusion.ddim_sample(model, 4, alpha_bar, 5, torch.Generator().manual_seed(4))
    assert torch.equal(first, diffusion.ddim_sample(model, 4, alpha_bar, 5, torch.Generator().manual_seed(4)))


def test_guidance_mixes_the_conditional_and_unconditional_predictions():
    torch.manual_seed(0)
    model = Denoiser(4, 10, hidden=8, layers=1, classes=3)
    x, t, labels = torch.randn(3, 4), torch.tensor([1, 5, 9]), torch.tensor([0, 2, 1])
    with torch.no_grad():
        conditional, free = model(x, t, labels), model(x, t)
        assert torch.equal(diffusion.Guided(model, labels, 0)(x, t), conditional)
        assert torch.allclose(diffusion.Guided(model, labels, 2)(x, t), 3 * conditional - 2 * free)
        assert torch.equal(free, model(x, t, torch.full((3,), 3)))  # label 3 is "no label"


def test_sliced_wasserstein_and_nearest():
    a = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    assert diffusion.sliced_wasserstein(a, a) == 0
    # a shift by d moves every projection on direction angle theta by d cos(theta): the mean of |cos| is 2 / pi
    assert math.isclose(diffusion.sliced_wasserstein(a, a + torch.tensor([1.0, 0.0]), n_directions=1000), 2 / math.pi,
                        rel_tol=1e-3)
    index, distance = diffusion.nearest(a[:3] + 1e-3, a)
    assert index.tolist() == [0, 1, 2] and float(distance.max()) < 1e-2


def test_a_short_training_already_moves_the_samples_towards_the_roll():
    X = data.swiss_roll(5000, seed=0)[0]
    model, losses = diffusion.train_points_model(X, steps=400)
    assert sum(losses[-50:]) / 50 < sum(losses[:50]) / 50
    samples = diffusion.sample(model, 2000, diffusion.points_betas(), torch.Generator().manual_seed(0))
    noise = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    fresh = data.swiss_roll(2000, seed=1)[0]
    assert diffusion.sliced_wasserstein(samples, fresh) < diffusion.sliced_wasserstein(noise, fresh) / 2
