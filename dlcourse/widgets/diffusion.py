"""Widgets of chapter 8 (08-diffusion): noise added step by step, noise taken away step by step,
and classifier-free guidance.

- ``forward_widget(points=None, digit=None, seed=0)``: the forward process ``q_sample`` at step
  ``t`` of a 100-step schedule, linear (``points_betas()``) or cosine, on a 2D swiss roll and on
  one 8x8 digit, with ``alpha_bar`` of both schedules over ``t`` and a marker at the chosen step.
  One noise draw serves every ``t``, so the same points drift towards the Gaussian.
- ``reverse_widget(model, n=1000, seed=0, data_points=None)``: the reverse process of the page's
  2D denoiser, DDPM (its T = 100 steps) or DDIM (10 to 100 steps), scrubbed from pure noise to
  the end, over the true data in grey, with the sliced Wasserstein distance to it.
- ``guidance_widget(model, judge, scales=..., per_class=6, seed=0)``: digits of every class drawn
  by the page's class-conditional denoiser with classifier-free guidance of scale ``w``
  (``Guided``), sampled by DDPM with the 200 steps of ``digits_betas()`` and the same seeded
  noise for every ``w``; the share chapter 4's CNN reads as the intended digit and how different
  the samples of one class are.

Each widget is a pure function of its controls wrapped in a ``Widget`` and draws a matplotlib
Figure (``draw_forward``, ``draw_reverse``, ``draw_guidance``). The numbers they show come from
``forward_state``, ``reverse_path`` and ``guidance_table``, which the tests check; the maths is
``dlcourse.diffusion``'s. Every random draw uses its own seeded ``torch.Generator``, so a frame is
the same each time it is drawn and the global random state is left alone. The only state is each
widget's cache of its sampling runs (trajectories, guided samples), which are deterministic.
"""
import numpy as np

from dlcourse.widgets import MAX_FRAMES, Choice, Slider, Widget, new_figure, one_torch_thread

ORANGE, BLUE, GREY, LIGHT = "#e66101", "#2166ac", "#999999", "#cccccc"
BOX = (-4.0, 4.0)  # the 2D panels' axes: the data (radius < 3) and a standard Gaussian both fit


def _fmt(value):
    """A number for a title: 4 significant digits (alpha_bar at t = 0 is 0.9999, not 1)."""
    return f"{value:.4g}"


# ---------------------------------------------------------------------------------------------
# 1. The forward process
# ---------------------------------------------------------------------------------------------

SCHEDULES = ("linear", "cosine")
FORWARD_T = 100  # both schedules: the 2D model's T
FORWARD_STEPS = (0, 5, 10, 20, 30, 40, 50, 60, 70, 85, 99)  # the static book's values of t


def schedule_alpha_bar(schedule):
    """alpha_bar (float64, shape (100,)) of the widget's two schedules: "linear" is
    ``points_betas()`` (betas 1e-4 to 0.2), "cosine" ``betas_of(cosine_alpha_bar(100))``."""
    from dlcourse import diffusion as D

    if schedule == "linear":
        betas = D.points_betas()
    elif schedule == "cosine":
        betas = D.betas_of(D.cosine_alpha_bar(FORWARD_T))
    else:
        raise ValueError(f"schedule={schedule!r}: use one of {', '.join(SCHEDULES)}.")
    return D.alpha_bar_of(betas)


def default_points():
    """The page's swiss roll: ``data.swiss_roll(1000, seed=0)``'s points, (1000, 2)."""
    from dlcourse import data

    return data.swiss_roll(1000, seed=0)[0]


def default_digit():
    """The first test digit, (8, 8) in [0, 1]."""
    from dlcourse import data

    return data.digits("test", flat=False)[0][0]


def forward_state(points, digit, t, schedule="linear", seed=0):
    """The forward process at step ``t`` (0 .. 99) of ``schedule``: ``x_t = sqrt(alpha_bar[t]) x_0
    + sqrt(1 - alpha_bar[t]) noise`` (``diffusion.q_sample``) for the 2D ``points`` (N, 2) and the
    ``digit`` (8, 8) in [0, 1], taken to the model's [-1, 1] by ``digits_to_model``.

    The noise is one draw from a ``torch.Generator`` seeded with ``seed`` (the points' noise,
    then the digit's), the same for every ``t`` and schedule. Returns a dict: ``points``, x_t of
    the points (float64 numpy (N, 2)); ``digit_model``, x_t of the digit on the model's scale
    (numpy (64,)); ``digit``, that mapped back to an (8, 8) image in [0, 1] by
    ``model_to_digits`` (clipped); ``alpha_bar`` and ``snr``, alpha_bar[t] and the
    signal-to-noise ratio alpha_bar[t] / (1 - alpha_bar[t]) as floats.
    """
    import torch

    from dlcourse import diffusion as D

    alpha_bar = schedule_alpha_bar(schedule)
    t = int(t)
    if not 0 <= t < len(alpha_bar):
        raise ValueError(f"t={t}: choose a step between 0 and {len(alpha_bar) - 1}.")
    x0 = torch.as_tensor(np.asarray(points, dtype=np.float64))
    d0 = D.digits_to_model(np.asarray(digit, dtype=np.float32).reshape(1, 64))
    with one_torch_thread():
        gen = torch.Generator().manual_seed(int(seed))
        noise = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
        digit_noise = torch.randn(d0.shape, generator=gen)
        x_t = D.q_sample(x0, torch.full((len(x0),), t), noise, alpha_bar)
        d_t = D.q_sample(d0, torch.full((1,), t), digit_noise, alpha_bar)
    ab = float(alpha_bar[t])
    return {"points": x_t.numpy(), "digit_model": d_t[0].numpy(), "digit": D.model_to_digits(d_t)[0].numpy(),
            "alpha_bar": ab, "snr": float(D.snr(alpha_bar)[t])}


def forward_title(t, schedule, state):
    return (f"{schedule} schedule, t = {t}: alpha_bar = {_fmt(state['alpha_bar'])}, "
            f"signal-to-noise ratio alpha_bar / (1 - alpha_bar) = {_fmt(state['snr'])}")


def draw_forward(t=30, schedule="linear", points=None, digit=None, seed=0):
    """Three panels: the noised 2D cloud x_t, the noised digit x_t as an image, and alpha_bar
    over t for both schedules with the chosen (t, alpha_bar[t]) marked."""
    points = default_points() if points is None else points
    digit = default_digit() if digit is None else digit
    state = forward_state(points, digit, t, schedule, seed)

    fig = new_figure(11, 3.7)
    gs = fig.add_gridspec(1, 3, width_ratios=[1, 1, 1.35], wspace=0.3,
                          left=0.04, right=0.98, bottom=0.14, top=0.8)
    ax_p, ax_d, ax_s = (fig.add_subplot(gs[i]) for i in range(3))

    ax_p.scatter(*state["points"].T, s=3, color=BLUE, alpha=0.5, linewidths=0, gid="points")
    ax_p.set_xlim(*BOX)
    ax_p.set_ylim(*BOX)
    ax_p.set_aspect("equal")
    ax_p.tick_params(labelsize=7)
    ax_p.set_title(f"{len(points)} points of a swiss roll at step t", fontsize=10)

    ax_d.imshow(state["digit"], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax_d.set_xticks([])
    ax_d.set_yticks([])
    ax_d.set_title("a digit at step t (clipped to [0, 1])", fontsize=10)

    steps = np.arange(FORWARD_T)
    for name in SCHEDULES:
        chosen = name == schedule
        ax_s.plot(steps, schedule_alpha_bar(name).numpy(), color=ORANGE if chosen else GREY,
                  lw=2 if chosen else 1.2, label=name, gid=f"alpha_bar {name}")
    ax_s.plot([int(t)], [state["alpha_bar"]], "o", color="black", ms=6, gid="marker",
              label=f"t = {int(t)}: alpha_bar = {_fmt(state['alpha_bar'])}")
    ax_s.axvline(int(t), color="black", lw=0.6, ls=":")
    ax_s.set_xlim(0, FORWARD_T - 1)
    ax_s.set_ylim(-0.03, 1.03)
    ax_s.set_xlabel("step t", fontsize=9)
    ax_s.set_ylabel("alpha_bar[t]", fontsize=9)
    ax_s.tick_params(labelsize=8)
    ax_s.legend(fontsize=8, loc="upper right")
    ax_s.set_title("the two schedules", fontsize=10)
    fig.suptitle(forward_title(int(t), schedule, state), fontsize=11)
    return fig


def forward_widget(points=None, digit=None, seed=0):
    """Step t and schedule -> the 2D points and a digit noised to step t (see ``forward_state``).
    Without arguments: the page's swiss roll and the first test digit."""
    points = default_points() if points is None else np.asarray(points, dtype=np.float64)
    digit = default_digit() if digit is None else np.asarray(digit, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(f"points has shape {points.shape}: give (N, 2) points.")
    if digit.size != 64:
        raise ValueError(f"digit has shape {digit.shape}: give one 8x8 image in [0, 1].")

    def draw(t, schedule):
        return draw_forward(t, schedule, points, digit, seed)

    return Widget(
        draw,
        {
            "t": Slider("step t", 0, FORWARD_T - 1, 1, 30, static=FORWARD_STEPS),
            "schedule": Choice("schedule", SCHEDULES, "linear"),
        },
        title="The forward process: adding noise",
        caption="x_t = sqrt(alpha_bar[t]) x_0 + sqrt(1 - alpha_bar[t]) noise, with one fixed draw "
                "of noise for every t, so you watch the same points and pixels drift. alpha_bar[t] "
                "is the share of the data's variance left at step t: near 1 at the start, near 0 "
                "at the end, where x_t is (almost) a standard Gaussian and holds no trace of the "
                "data. The linear schedule (betas from 1e-4 to 0.2) destroys the signal early; "
                "the cosine schedule keeps more of it for longer and spends more steps at "
                "moderate noise.",
    )


# ---------------------------------------------------------------------------------------------
# 2. The reverse process on 2D points
# ---------------------------------------------------------------------------------------------

SAMPLERS = ("DDPM", "DDIM")
DDIM_STEPS = (10, 20, 50, 100)
PROGRESS = tuple(round(k / 10, 1) for k in range(11))  # the static book's values of progress


def reverse_path(model, sampler="DDPM", steps=100, n=1000, seed=0):
    """The whole reverse trajectory of ``n`` points, from pure noise to the samples, as a float32
    numpy array (K + 1, n, 2): ``diffusion.sample(..., trajectory=True)`` with ``points_betas()``
    (K = T = 100 steps, ``steps`` is ignored) for "DDPM", ``ddim_sample(..., steps,
    trajectory=True)`` with its alpha_bar (K = ``steps``) for "DDIM"; noise from a
    ``torch.Generator`` seeded with ``seed``."""
    import torch

    from dlcourse import diffusion as D

    with one_torch_thread():
        gen = torch.Generator().manual_seed(int(seed))
        if sampler == "DDPM":
            path = D.sample(model, int(n), D.points_betas(), gen, trajectory=True)
        elif sampler == "DDIM":
            path = D.ddim_sample(model, int(n), D.alpha_bar_of(D.points_betas()), int(steps), gen,
                                 trajectory=True)
        else:
            raise ValueError(f"sampler={sampler!r}: use one of {', '.join(SAMPLERS)}.")
        return torch.stack(path).numpy()


def step_of(progress, n_steps):
    """How many of ``n_steps`` denoising steps are done at ``progress`` (0: pure noise, 1: all)."""
    if not 0 <= progress <= 1:
        raise ValueError(f"progress={progress}: choose a fraction between 0 and 1.")
    return int(round(float(progress) * n_steps))


def reverse_title(sampler, steps, k, distance):
    """The step reached and the distance to the data; DDPM always takes its T = 100 steps."""
    from dlcourse.diffusion import POINTS_T

    if sampler == "DDPM":
        how, total = f"DDPM, always T = {POINTS_T} steps (the step count is DDIM's)", POINTS_T
    else:
        how, total = f"DDIM, {steps} steps", steps
    return f"{how}: step {k} of {total}\nsliced Wasserstein distance to the data: {distance:.3f}"


def draw_reverse(path, k, sampler, steps, data_points):
    """The samples after ``k`` steps of the trajectory ``path`` (orange) over the true data (grey)."""
    from dlcourse import diffusion as D

    x = path[k]
    with one_torch_thread():
        distance = D.sliced_wasserstein(x, data_points)
    fig = new_figure(5.0, 5.0)
    ax = fig.add_subplot()
    ax.scatter(*np.asarray(data_points).T, s=3, color=LIGHT, linewidths=0, gid="data",
               label="the data")
    ax.scatter(*x.T, s=3, color=ORANGE, alpha=0.6, linewidths=0, gid="samples",
               label=f"{len(x)} samples")
    ax.set_xlim(*BOX)
    ax.set_ylim(*BOX)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    ax.legend(loc="upper right", fontsize=8, markerscale=3)
    ax.set_title(reverse_title(sampler, steps, k, distance), fontsize=9)
    return fig


def reverse_widget(model, n=1000, seed=0, data_points=None):
    """Sampler, step count and progress -> ``n`` samples of the 2D ``model`` (``data_shape ==
    (2,)``) part of the way from pure noise to the end (see ``reverse_path``), over
    ``data_points`` (default: ``data.swiss_roll(n, seed=1)``, a fresh draw of the data, of the
    same size as the samples, as the sliced Wasserstein distance needs). Each trajectory is
    computed once, the first time it is shown."""
    from dlcourse import data

    if tuple(getattr(model, "data_shape", ())) != (2,):
        raise ValueError("model must be a 2D denoiser (data_shape == (2,)), as train_points_model's.")
    data_points = (data.swiss_roll(int(n), seed=1)[0] if data_points is None
                   else np.asarray(data_points, dtype=np.float64))
    if data_points.shape != (int(n), 2):
        raise ValueError(f"data_points has shape {data_points.shape}: give (n, 2) = ({n}, 2) points, "
                         "as many as the samples.")
    paths = {}

    def draw(sampler, steps, progress):
        key = (sampler, None if sampler == "DDPM" else int(steps))
        if key not in paths:
            paths[key] = reverse_path(model, sampler, steps, n, seed)
        path = paths[key]
        return draw_reverse(path, step_of(progress, len(path) - 1), sampler, int(steps), data_points)

    return Widget(
        draw,
        {
            "sampler": Choice("sampler", SAMPLERS, "DDPM"),
            "steps": Choice("DDIM steps", DDIM_STEPS, 20),
            "progress": Slider("progress", 0.0, 1.0, 0.05, 1.0, static=PROGRESS),
        },
        title="The reverse process: from noise to data",
        caption="Slide from pure noise (progress 0) to the end (progress 1). DDPM takes all "
                "T = 100 small steps of the training schedule and adds fresh noise at each; the "
                "step count applies to DDIM only, which takes fewer, larger steps with no "
                "noise after the first draw. The grey points are a fresh draw of the data; the "
                "sliced Wasserstein distance (the mean, over 64 directions, of how far the "
                "projected samples must move to match the projected data) says how close the "
                "samples are to it.",
    )


# ---------------------------------------------------------------------------------------------
# 3. Classifier-free guidance on digits
# ---------------------------------------------------------------------------------------------

GUIDANCE_SCALES = (0, 0.5, 1, 2, 4, 8)
# Sampled by DDPM with all 200 steps of digits_betas(): on the page's model it reads better than
# DDIM with 50 steps (judge accuracy at w = 0, 1, 2: 88%, 100%, 100% against 74%, 96%, 98%, 20
# samples a class) for about 0.1 s more per scale.


def guidance_table(model, judge, scale, per_class=6, seed=0):
    """``per_class`` digits of each class 0-9 from the class-conditional ``model`` with
    classifier-free guidance of scale ``scale`` (``Guided(model, labels, scale)``), sampled by
    DDPM, ``diffusion.sample`` with the 200 steps of ``digits_betas()``, with noise drawn by a
    ``torch.Generator`` seeded with ``seed`` (the same noise, x_T and every step's, for every
    scale). Returns a dict: ``images`` (N, 8, 8) in [0, 1] (``model_to_digits``), class by
    class; ``labels`` (N,), the intended classes; ``predicted`` (N,), ``judged(judge, images)``;
    ``accuracy``, the share with ``predicted == labels``; ``diversity``, the mean over the classes
    of the mean Euclidean distance between two samples of the class (pixels in [0, 1]).
    """
    import torch

    from dlcourse import diffusion as D

    per_class = int(per_class)
    if per_class < 2:
        raise ValueError(f"per_class={per_class}: the diversity needs at least 2 samples of a class.")
    labels = torch.arange(10).repeat_interleave(per_class)
    with one_torch_thread():
        gen = torch.Generator().manual_seed(int(seed))
        x = D.sample(D.Guided(model, labels, float(scale)), len(labels), D.digits_betas(), gen)
        images = D.model_to_digits(x)
        predicted = D.judged(judge, images)
        flat = images.reshape(10, per_class, 64).double()
        diversity = float(torch.stack([torch.pdist(group).mean() for group in flat]).mean())
    labels, predicted = labels.numpy(), predicted.numpy()
    return {"images": images.numpy(), "labels": labels, "predicted": predicted,
            "accuracy": float((predicted == labels).mean()), "diversity": diversity}


def guidance_title(scale, table):
    return (f"guidance scale w = {scale:g}\nthe judge reads {table['accuracy']:.0%} as the intended "
            f"digit; diversity {table['diversity']:.2f}")


def mosaic(images, per_class, gap=1):
    """The images (10 * per_class, 8, 8), class by class, as one array with a row per class and
    NaN in the ``gap`` pixels between them."""
    rows, cols = 10, int(per_class)
    out = np.full((rows * (8 + gap) - gap, cols * (8 + gap) - gap), np.nan)
    for i, image in enumerate(np.asarray(images)):
        r, c = divmod(i, cols)
        out[r * (8 + gap):r * (8 + gap) + 8, c * (8 + gap):c * (8 + gap) + 8] = image
    return out


def draw_guidance(scale, table, per_class):
    """The samples as a grid, a row per intended class; a sample the judge reads as another
    digit is framed in orange, and each row ends with how many the judge got."""
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    cmap = colormaps["gray_r"].with_extremes(bad="white")  # the gaps (NaN) between the samples
    fig = new_figure(1.0 + 0.52 * per_class, 6.4)
    ax = fig.add_subplot()
    ax.imshow(mosaic(table["images"], per_class), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    for i, (label, guess) in enumerate(zip(table["labels"], table["predicted"])):
        if guess != label:
            r, c = divmod(i, per_class)
            ax.add_patch(Rectangle((c * 9 - 0.5, r * 9 - 0.5), 8, 8, fill=False, edgecolor=ORANGE,
                                   lw=1.6, gid="misread"))
    right = per_class * 9 - 0.5
    for c in range(10):
        right_ones = int((table["predicted"][table["labels"] == c] == c).sum())
        ax.text(right + 0.5, c * 9 + 3.5, f"{right_ones}/{per_class}", va="center", fontsize=8,
                color=GREY)
    ax.set_yticks([c * 9 + 3.5 for c in range(10)], [str(c) for c in range(10)], fontsize=9)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_ylabel("intended digit (the label given)", fontsize=9)
    ax.set_xlabel("orange frame: the judge reads another digit", fontsize=8)
    fig.suptitle(guidance_title(scale, table), fontsize=9.5)
    return fig


def guidance_widget(model, judge, scales=GUIDANCE_SCALES, per_class=6, seed=0):
    """Guidance scale -> ``per_class`` samples of each digit from the class-conditional ``model``
    (a ``Denoiser`` with ``classes=10``), judged by ``judge`` (chapter 4's CNN, ``digit_judge``):
    see ``guidance_table``. Each scale is sampled once, the first time it is shown."""
    scales = list(dict.fromkeys(float(w) for w in scales))
    if getattr(model, "classes", 0) != 10 or tuple(model.data_shape) != (64,):
        raise ValueError("model must be a class-conditional digit denoiser (64 pixels, classes=10), "
                         "as train_digits_model's.")
    if not scales or len(scales) > MAX_FRAMES or any(w < 0 for w in scales):
        raise ValueError(f"scales {scales}: give 1 to {MAX_FRAMES} scales, each 0 or positive.")
    if int(per_class) < 2:
        raise ValueError(f"per_class={per_class}: the diversity needs at least 2 samples of a class.")
    tables = {}

    def draw(scale):
        if scale not in tables:
            tables[scale] = guidance_table(model, judge, scale, per_class, seed)
        return draw_guidance(scale, tables[scale], int(per_class))

    return Widget(
        draw,
        {"scale": Choice("guidance scale w", {f"{w:g}": w for w in scales}, scales[0])},
        title="Classifier-free guidance",
        caption="Each row asks the model for one digit. The guided prediction of the noise is "
                "(1 + w) eps(x, t, label) - w eps(x, t, no label): w = 0 is the plain "
                "class-conditional model, a larger w pushes each sample further towards what "
                "makes it this digit rather than any digit. Every w starts from the same noise "
                "and draws the same noise at each of DDPM's 200 steps, so you compare like with "
                "like. The judge is chapter 4's CNN; the diversity is the mean distance between "
                "two samples of the same row (pixels in [0, 1]). A little guidance makes the "
                "digits more recognisable and more alike; a lot pushes the pixels to pure black "
                "or white, and the samples leave the look of real digits (the distance then also "
                "counts those artefacts).",
    )
