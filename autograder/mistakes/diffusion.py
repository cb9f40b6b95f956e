"""Chapter 8 (08-diffusion): wrong answers students really write, and correct answers written
otherwise than the reference.

Each wrong answer is the reference's cell with one thing changed (templates below), so a test
that catches it catches that one slip (two of the training part's also train for fewer steps, to
keep the suite short: they fail either way). The order matters to the demo class (autograder/demo.py):
the first and last mistakes, and the 3rd, 8th and 13th, each belong to different parts.
"""
from autograder.mistakes import Alternative, Mistake

_SCHEDULES = '''
def linear_betas(T, beta_start=1e-4, beta_end=0.02):
    return {linear}


def cosine_alpha_bar(T, s=0.008):
    u = torch.arange(T + 1, dtype=torch.float64)
    f = {f}
    return {alpha_bar}
'''
_COSINE = "torch.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2"


def _schedules(linear="torch.linspace(beta_start, beta_end, T, dtype=torch.float64)", f=_COSINE,
               alpha_bar="f[1:] / f[0]"):
    return _SCHEDULES.format(linear=linear, f=f, alpha_bar=alpha_bar)


_Q_SAMPLE = '''
def q_sample(x0, t, noise, alpha_bar):
    a = {a}
    return {x_t}
'''


def _q_sample(a="alpha_bar[t].to(x0.dtype).reshape(-1, *[1] * (x0.dim() - 1))",
              x_t="a.sqrt() * x0 + (1 - a).sqrt() * noise"):
    return _Q_SAMPLE.format(a=a, x_t=x_t)


_LOSS = '''
def diffusion_loss(model, x0, t, noise, alpha_bar):
    x_t = q_sample(x0, t, noise, alpha_bar)
    return {loss}
'''


def _loss(loss="F.mse_loss(model(x_t, t), noise)"):
    return _LOSS.format(loss=loss)


_DDPM = '''
def ddpm_step(model, x_t, t, z, betas):
    alpha_bar = torch.cumprod(1 - betas, dim=0)
    beta, ab = float(betas[t]), float(alpha_bar[t])
    eps = model(x_t, {steps})
    mean = (x_t - {coef} * eps) / {divide}
    {last}
    variance = {variance}
    return mean + math.sqrt(variance) * z
'''


def _ddpm(steps="torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)",
          coef="beta / math.sqrt(1 - ab)", divide="math.sqrt(1 - beta)",
          last="if t == 0:\n        return mean", variance="(1 - float(alpha_bar[t - 1])) / (1 - ab) * beta"):
    return _DDPM.format(steps=steps, coef=coef, divide=divide, last=last, variance=variance)


_DDIM = '''
def ddim_step(model, x_t, t, t_prev, alpha_bar):
    ab = float(alpha_bar[t])
    ab_prev = {ab_prev}
    eps = model(x_t, torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device))
    x0 = {x0}
    return {x_prev}
'''


def _ddim(ab_prev="float(alpha_bar[t_prev]) if t_prev >= 0 else 1.0",
          x0="(x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)",
          x_prev="math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps"):
    return _DDIM.format(ab_prev=ab_prev, x0=x0, x_prev=x_prev)


_SAMPLE = '''
def sample(model, n, betas, generator):
    with torch.no_grad():
        x = {x}
        path = [x]
        for t in {times}:
            z = {z}
            x = ddpm_step(model, x, t, z, betas)
            path.append(x)
    return {out}
'''


def _sample(x="torch.randn((n, *model.data_shape), generator=generator).to(betas.device)",
            times="range(len(betas) - 1, -1, -1)",
            z="torch.randn(x.shape, generator=generator).to(betas.device) if t > 0 else torch.zeros_like(x)",
            out="x"):
    return _SAMPLE.format(x=x, times=times, z=z, out=out)


_TRAIN = '''
def train_2d_diffusion(device):
    T = 100
    alpha_bar = torch.cumprod(1 - torch.linspace(1e-4, 0.2, T, dtype=torch.float64), 0).float().to(device)
    X = torch.tensor(data.swiss_roll(20000, seed=int(torch.randint(0, 2**31, ())))[0], dtype=torch.float32,
                     device=device)
    model = Denoiser(2, T, hidden=128).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    steps = {steps}
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    model.train()
    for _ in range(steps):
        x0 = X[torch.randint(0, len(X), (256,), device=device)]
        t = torch.randint(0, T, (256,), device=device)
        noise = torch.randn_like(x0)
        a = alpha_bar[t][:, None]
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
        loss = {loss}
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()
'''


def _train(steps="3000", loss="F.mse_loss(model(x_t, t), noise)"):
    return _TRAIN.format(steps=steps, loss=loss)


MISTAKES = [
    Mistake("schedules", "test_schedules", "cosine schedule read at t instead of t + 1",
            _schedules(alpha_bar="f[:-1] / f[0]"), "alpha_bar[0] is 1 here"),
    Mistake("q_sample", "test_q_sample", "no square roots on the coefficients",
            _q_sample(x_t="a * x0 + (1 - a) * noise"), "scale x0 and the noise by their square roots"),
    Mistake("diffusion_loss", "test_diffusion_loss", "the prediction compared with x0",
            _loss("F.mse_loss(model(x_t, t), x0)"), "the model predicts the noise"),
    Mistake("ddpm_step", "test_ddpm_step", "variance beta_t where the posterior variance is asked",
            _ddpm(variance="beta"), "the posterior variance"),
    Mistake("ddim_step", "test_ddim_step", "fresh noise left in the DDIM step",
            _ddim(x_prev="math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps + 0.1 * torch.randn_like(x_t)"),
            "two calls with the same inputs give different results"),
    Mistake("sample", "test_sample", "loop stops before t = 0",
            _sample(times="range(len(betas) - 1, 0, -1)"), "stops before t = 0"),
    Mistake("train_2d_diffusion", "test_train_2d_diffusion", "far too short a training",
            _train(steps="150"), "sliced Wasserstein distance"),
    Mistake("schedules", "test_schedules", "betas in float32",
            _schedules(linear="torch.linspace(beta_start, beta_end, T)"), "return float64"),
    Mistake("q_sample", "test_q_sample", "alpha_bar[t] broadcast along the last axis",
            _q_sample(a="alpha_bar[t].to(x0.dtype)"), "must match the size of tensor"),
    Mistake("diffusion_loss", "test_diffusion_loss", "the model given t / T",
            _loss("F.mse_loss(model(x_t, t / len(alpha_bar)), noise)"), "the model is given t / T"),
    Mistake("ddpm_step", "test_ddpm_step", "noise added at the last step",
            _ddpm(last=""), "noise is added at the last step"),
    Mistake("ddim_step", "test_ddim_step", "alpha_bar[-1] read at the final step",
            _ddim(ab_prev="float(alpha_bar[t_prev])"), "alpha_bar[-1] is read"),
    Mistake("sample", "test_sample", "noise drawn at the last step too",
            _sample(z="torch.randn(x.shape, generator=generator).to(betas.device)"), "expected 20"),
    Mistake("schedules", "test_schedules", "cosine schedule not divided by f(0)",
            _schedules(alpha_bar="f[1:]"), "not divided by f(0)"),
    Mistake("schedules", "test_schedules", "cosine not squared",
            _schedules(f="torch.cos((u / T + s) / (1 + s) * math.pi / 2)"), "not squared"),
    Mistake("schedules", "test_schedules", "betas made with arange-like steps (end left out)",
            _schedules(linear="torch.linspace(beta_start, beta_end, T + 1, dtype=torch.float64)[:-1]"),
            "both included"),
    Mistake("schedules", "test_schedules", "a numpy schedule",
            _schedules(linear="np.linspace(beta_start, beta_end, T)"), "return a torch tensor"),
    Mistake("q_sample", "test_q_sample", "a float64 result for float32 data",
            _q_sample(a="alpha_bar[t].reshape(-1, *[1] * (x0.dim() - 1))"), "convert alpha_bar[t] to x0.dtype"),
    Mistake("q_sample", "test_q_sample", "the schedule read at t - 1",
            _q_sample(a="alpha_bar[(t - 1).clamp(min=0)].to(x0.dtype).reshape(-1, *[1] * (x0.dim() - 1))"),
            "read at t - 1"),
    Mistake("q_sample", "test_q_sample", "reshape(-1, 1): right for points, wrong for images",
            _q_sample(a="alpha_bar[t].to(x0.dtype).reshape(-1, 1)"), "raised RuntimeError"),
    Mistake("diffusion_loss", "test_diffusion_loss", "summed instead of averaged",
            _loss("((model(x_t, t) - noise) ** 2).sum()"), "sum of the squared errors"),
    Mistake("diffusion_loss", "test_diffusion_loss", "a Python float returned",
            _loss("F.mse_loss(model(x_t, t), noise).item()"), "return the loss as a tensor"),
    Mistake("diffusion_loss", "test_diffusion_loss", "the model given x0",
            _loss("F.mse_loss(model(x0, t), noise)"), "the model is given x0"),
    Mistake("ddpm_step", "test_ddpm_step", "alpha_t where alpha_bar_t belongs",
            _ddpm(coef="beta / math.sqrt(1 - (1 - beta))"), "this one step's alpha"),
    Mistake("ddpm_step", "test_ddpm_step", "divided by sqrt(alpha_bar_t)",
            _ddpm(divide="math.sqrt(ab)"), "divided by sqrt(alpha_bar[t])"),
    Mistake("ddpm_step", "test_ddpm_step", "the model told step t + 1",
            _ddpm(steps="torch.full((x_t.shape[0],), t + 1, dtype=torch.long, device=x_t.device)"), "told step t + 1"),
    Mistake("ddim_step", "test_ddim_step", "x0 prediction clipped",
            _ddim(x0="((x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)).clamp(-1, 1)"), "clipped"),
    Mistake("ddim_step", "test_ddim_step", "alpha_bar at t and t_prev swapped",
            _ddim(x0="(x_t - math.sqrt(1 - ab_prev) * eps) / math.sqrt(ab_prev)",
             x_prev="math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps"), "swapped"),
    Mistake("sample", "test_sample", "x_T drawn without the generator",
            _sample(x="torch.randn((n, *model.data_shape)).to(betas.device)"),
            "never use torch.randn without the generator"),
    Mistake("sample", "test_sample", "the loop runs t upwards",
            _sample(times="range(len(betas))"), "runs t upwards"),
    Mistake("sample", "test_sample", "the whole trajectory returned",
            _sample(out="path"), "returned a list"),
    Mistake("train_2d_diffusion", "test_train_2d_diffusion", "trained to predict x0 but sampled as a noise predictor",
            _train(steps="1000", loss="F.mse_loss(model(x_t, t), x0)"), "sliced Wasserstein distance"),
    Mistake("train_2d_diffusion", "test_train_2d_diffusion", "trained on t / T, sampled with t",
            _train(steps="1000", loss="F.mse_loss(model(x_t, t / T), noise)"), "sliced Wasserstein distance"),
    Mistake("train_2d_diffusion", "test_train_2d_diffusion", "the course's own training called",
            '''
def train_2d_diffusion(device):
    from dlcourse.diffusion import train_points_model
    return train_points_model(data.swiss_roll(20000, seed=0)[0])[0].to(device)
''', "the course's own training"),
    Mistake("schedules", "test_schedules", "betas computed in float32, converted at the end",
            _schedules(linear="torch.linspace(beta_start, beta_end, T).double()"), "float32's precision"),
    Mistake("schedules", "test_schedules", "the cosine schedule computed in float32",
            _schedules(f="torch.cos((u.float() / T + s) / (1 + s) * math.pi / 2).double() ** 2"),
            "float32's precision"),
    Mistake("schedules", "test_schedules", "alpha_bar capped through betas clipped at 0.999",
            _schedules(alpha_bar="torch.cumprod(1 - (1 - f[1:] / f[:-1]).clamp(max=0.999), 0)"), "no clipping"),
    Mistake("diffusion_loss", "test_diffusion_loss", "the loss computed under torch.no_grad",
            _LOSS.replace("    x_t = q_sample(x0, t, noise, alpha_bar)\n    return {loss}",
                          "    with torch.no_grad():\n        x_t = q_sample(x0, t, noise, alpha_bar)\n"
                          "        return F.mse_loss(model(x_t, t), noise)"), "with no gradient"),
    Mistake("diffusion_loss", "test_diffusion_loss", "the mean taken as if x0 were (N, D)",
            _loss("((model(x_t, t) - noise) ** 2).sum() / (x0.shape[0] * x0.shape[1])"), "x0 (3, 1, 2, 2)"),
    Mistake("sample", "test_sample", "the loop's length read from the model, not from betas",
            _sample(times="range(model.T - 1, -1, -1)"), "raised IndexError"),
    Mistake("schedules", "test_schedules", "the course's own schedules imported",
            "from dlcourse.diffusion import linear_betas, cosine_alpha_bar\n", "the course's own version"),
]

ALTERNATIVES = [
    Alternative("schedules", "numpy, then a tensor; the cosine by a loop", '''
def linear_betas(T, beta_start=1e-4, beta_end=0.02):
    return torch.from_numpy(np.linspace(beta_start, beta_end, T))


def cosine_alpha_bar(T, s=0.008):
    f = lambda u: math.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2
    return torch.tensor([f(t + 1) / f(0) for t in range(T)], dtype=torch.float64)
'''),
    Alternative("q_sample", "unsqueeze until the shapes match, torch.sqrt", '''
def q_sample(x0, t, noise, alpha_bar):
    a = alpha_bar[t].to(x0.dtype)
    while a.dim() < x0.dim():
        a = a.unsqueeze(-1)
    return torch.sqrt(a) * x0 + torch.sqrt(1 - a) * noise
'''),
    Alternative("diffusion_loss", "the squared error by hand", '''
def diffusion_loss(model, x0, t, noise, alpha_bar):
    prediction = model(q_sample(x0, t, noise, alpha_bar), t)
    return ((prediction - noise) ** 2).mean()
'''),
    Alternative("ddpm_step", "tensors throughout; the variance zero at t = 0 through alpha_bar_prev = 1", '''
def ddpm_step(model, x_t, t, z, betas):
    alphas = 1 - betas
    alpha_bar = torch.cumprod(alphas, 0)
    ab_prev = alpha_bar[t - 1] if t > 0 else torch.ones((), dtype=betas.dtype, device=betas.device)
    steps = torch.ones(len(x_t), dtype=torch.long, device=x_t.device) * t
    eps = model(x_t, steps)
    mean = (x_t - (1 - alphas[t]) / torch.sqrt(1 - alpha_bar[t]) * eps) / torch.sqrt(alphas[t])
    sigma = torch.sqrt((1 - ab_prev) / (1 - alpha_bar[t]) * betas[t])
    return (mean + sigma * z).to(x_t.dtype)
'''),
    Alternative("ddim_step", "one expression, no x0 variable", '''
def ddim_step(model, x_t, t, t_prev, alpha_bar):
    ab = alpha_bar[t].item()
    ab_prev = alpha_bar[t_prev].item() if t_prev >= 0 else 1.0
    eps = model(x_t, torch.full((len(x_t),), t, device=x_t.device, dtype=torch.int64))
    return math.sqrt(ab_prev / ab) * (x_t - math.sqrt(1 - ab) * eps) + math.sqrt(1 - ab_prev) * eps
'''),
    Alternative("sample", "a while loop, no torch.no_grad", '''
def sample(model, n, betas, generator):
    x = torch.randn((n,) + tuple(model.data_shape), generator=generator).to(betas.device)
    t = len(betas) - 1
    while t >= 0:
        z = torch.zeros_like(x)
        if t > 0:
            z = torch.randn(x.shape, generator=generator).to(betas.device)
        x = ddpm_step(model, x, t, z, betas).detach()
        t -= 1
    return x
'''),
    Alternative("train_2d_diffusion", "an own MLP that reads t / 100 inside, trained and sampled alike", '''
class PointDenoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(),
                                 nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 2))

    def forward(self, x, t):
        return self.net(torch.cat([x, (t.to(x.dtype) / 100)[:, None]], dim=1))


def train_2d_diffusion(device):
    alpha_bar = torch.cumprod(1 - torch.linspace(1e-4, 0.2, 100, dtype=torch.float64), 0).float().to(device)
    model = PointDenoiser().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 5000)
    X = torch.tensor(data.swiss_roll(30000, seed=7)[0], dtype=torch.float32, device=device)
    for step in range(5000):
        x0 = X[torch.randint(0, len(X), (256,), device=device)]
        t = torch.randint(0, 100, (256,), device=device)
        noise = torch.randn_like(x0)
        a = alpha_bar[t].unsqueeze(1)
        loss = ((model(a.sqrt() * x0 + (1 - a).sqrt() * noise, t) - noise) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        decay.step()
    return model
'''),
]
