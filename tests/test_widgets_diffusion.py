"""The widgets of chapter 8 (dlcourse/widgets/diffusion.py): every control changes the picture, the
static and live renderings work, and the pictures mean what the chapter says: the forward widget
shows ``q_sample`` with one fixed noise draw and the schedules' own alpha_bar, the reverse widget
scrubs along the very trajectory ``sample`` and ``ddim_sample`` follow, and the guidance widget's
accuracy and diversity are measured on the samples it shows. The models are small (a 2D denoiser
trained for 200 steps, an untrained digit denoiser, a judge trained for one epoch): the checks hold
for any weights."""
import itertools

import numpy as np
import pytest
import torch

import widget_checks as W
from dlcourse import data
from dlcourse import diffusion as D
from dlcourse.widgets import MAX_FRAMES, one_torch_thread
from dlcourse.widgets import diffusion as DW

FORWARD_CHANGES = {"t": (10, 70), "schedule": ("linear", "cosine")}
REVERSE_CHANGES = {"sampler": ("DDPM", "DDIM"), "progress": (0.3, 1.0)}  # steps: DDIM only, below
GUIDANCE_CHANGES = {"scale": (0.0, 4.0)}
N = 200  # points in the reverse widget's tests
PER_CLASS = 3


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


# The module's fixtures are set up before the autouse one above: each takes one thread itself.
@pytest.fixture(scope="module")
def points_model():
    with one_torch_thread(), torch.random.fork_rng(devices=[]):
        model, losses = D.train_points_model(data.swiss_roll(1000, seed=0)[0], steps=200)
    assert len(losses) == 200
    return model


@pytest.fixture(scope="module")
def digits_model():
    with one_torch_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = D.Denoiser(64, D.DIGITS_T, hidden=32, classes=10)
    return model.eval()


@pytest.fixture(scope="module")
def judge():
    with one_torch_thread(), torch.random.fork_rng(devices=[]):
        return D.digit_judge(epochs=1)


@pytest.fixture(scope="module")
def data_points():
    return data.swiss_roll(N, seed=1)[0]


@pytest.fixture(scope="module")
def reverse(points_model, data_points):
    return DW.reverse_widget(points_model, n=N, data_points=data_points)


@pytest.fixture(scope="module")
def guidance(digits_model, judge):
    return DW.guidance_widget(digits_model, judge, per_class=PER_CLASS)


# --- 1. The forward process --------------------------------------------------------------------


def test_forward_widget_controls_change_the_picture():
    widget = DW.forward_widget()
    W.check_controls(widget, FORWARD_CHANGES)
    W.check_each_control_changes_the_picture(widget, FORWARD_CHANGES)
    assert widget.render(t=40, schedule="cosine") == widget.render(t=40, schedule="cosine")
    W.check_live_reacts(widget, FORWARD_CHANGES)


def test_forward_widget_renders_statically_within_max_frames(cheap_frames):
    points, digit = DW.default_points(), DW.default_digit()

    def matches(frame, params):
        state = DW.forward_state(points, digit, params["t"], params["schedule"])
        return DW.forward_title(params["t"], params["schedule"], state) in frame

    data_ = W.check_static_rendering(DW.forward_widget(), matches)
    assert len(data_["frames"]) == len(DW.FORWARD_STEPS) * 2 <= MAX_FRAMES
    assert data_["labels"]["t"][0] == "0" and data_["labels"]["t"][-1] == "99"


def test_forward_defaults_are_the_pages_data():
    points, digit = DW.default_points(), DW.default_digit()
    assert np.array_equal(points, data.swiss_roll(1000, seed=0)[0])
    assert np.array_equal(digit, data.digits("test", flat=False)[0][0]) and digit.shape == (8, 8)


def test_schedules_are_the_libraries():
    linear, cosine = DW.schedule_alpha_bar("linear"), DW.schedule_alpha_bar("cosine")
    assert torch.equal(linear, D.alpha_bar_of(D.points_betas())) and len(linear) == 100
    assert torch.allclose(cosine[:-1], D.cosine_alpha_bar(100)[:-1])
    assert torch.equal(cosine, D.alpha_bar_of(D.betas_of(D.cosine_alpha_bar(100))))
    with pytest.raises(ValueError, match="linear, cosine"):
        DW.schedule_alpha_bar("quadratic")


def test_forward_state_starts_at_the_data_and_ends_as_a_gaussian():
    points, digit = DW.default_points(), DW.default_digit()
    for schedule in DW.SCHEDULES:
        start = DW.forward_state(points, digit, 0, schedule)
        kept = np.sqrt(1 - start["alpha_bar"])  # the noise's scale at t = 0: 0.01 linear, 0.025 cosine
        assert kept < 0.03 and np.abs(start["points"] - points).max() < 5 * kept
        assert np.abs(start["digit"] - digit).max() < 0.03
        assert start["alpha_bar"] > 0.999 and start["snr"] > 1000
    end = DW.forward_state(points, digit, 99, "linear")
    assert end["alpha_bar"] == pytest.approx(float(D.alpha_bar_of(D.points_betas())[99]))
    assert end["alpha_bar"] < 1e-4 and end["snr"] < 1e-4
    assert np.allclose(end["points"].var(axis=0), 1, atol=0.12)
    assert np.allclose(end["points"].mean(axis=0), 0, atol=0.1)
    assert abs(np.corrcoef(end["points"][:, 0], points[:, 0])[0, 1]) < 0.1, "no trace of the data"


def test_forward_state_is_q_sample_with_one_noise_draw_for_every_t():
    points, digit = DW.default_points(), DW.default_digit()
    state = torch.get_rng_state().clone()
    noises = []
    for t, schedule in itertools.product((5, 30, 70), DW.SCHEDULES):
        s = DW.forward_state(points, digit, t, schedule, seed=3)
        ab = float(DW.schedule_alpha_bar(schedule)[t])
        assert s["alpha_bar"] == ab and s["snr"] == pytest.approx(ab / (1 - ab))
        noises.append((s["points"] - np.sqrt(ab) * points) / np.sqrt(1 - ab))
        # the digit: q_sample on the model's scale, mapped back with clipping
        d0 = D.digits_to_model(digit[None]).numpy()[0]
        digit_noise = (s["digit_model"] - np.sqrt(ab) * d0) / np.sqrt(1 - ab)
        assert np.allclose(s["digit"], np.clip((s["digit_model"] + 1) / 2, 0, 1).reshape(8, 8))
        noises.append(digit_noise)
    for points_noise, digit_noise in zip(noises[2::2], noises[3::2]):  # the same for every t and schedule
        assert np.allclose(points_noise, noises[0], atol=1e-9)
        assert np.allclose(digit_noise, noises[1], atol=1e-4)
    gen = torch.Generator().manual_seed(3)
    assert np.allclose(noises[0], torch.randn(points.shape, generator=gen, dtype=torch.float64).numpy())
    other = DW.forward_state(points, digit, 30, "linear", seed=4)["points"]
    assert not np.allclose(other, DW.forward_state(points, digit, 30, "linear", seed=3)["points"])
    assert torch.equal(torch.get_rng_state(), state), "the global random state is left alone"
    with pytest.raises(ValueError, match="between 0 and 99"):
        DW.forward_state(points, digit, 100, "linear")


def test_forward_figure_shows_the_state_and_marks_alpha_bar():
    points, digit = DW.default_points(), DW.default_digit()
    fig = DW.draw_forward(40, "cosine")
    state = DW.forward_state(points, digit, 40, "cosine")
    ax_p, ax_d, ax_s = fig.axes
    assert np.allclose(ax_p.collections[0].get_offsets(), state["points"])
    assert np.allclose(ax_d.images[0].get_array(), state["digit"])
    lines = {line.get_gid(): line for line in ax_s.lines}
    marker = lines["marker"]
    assert list(marker.get_xdata()) == [40]
    assert marker.get_ydata()[0] == pytest.approx(float(DW.schedule_alpha_bar("cosine")[40]))
    for name in DW.SCHEDULES:
        assert np.allclose(lines[f"alpha_bar {name}"].get_ydata(), DW.schedule_alpha_bar(name).numpy())
    title = fig.get_suptitle()
    assert title == DW.forward_title(40, "cosine", state)
    assert "t = 40" in title and f"alpha_bar = {state['alpha_bar']:.4g}" in title
    assert f"{state['snr']:.4g}" in title
    start = DW.forward_state(points, digit, 0, "linear")
    assert "alpha_bar = 0.9999," in DW.forward_title(0, "linear", start), "not rounded up to 1"


def test_forward_widget_refuses_bad_data():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        DW.forward_widget(points=np.zeros((5, 3)))
    with pytest.raises(ValueError, match="8x8"):
        DW.forward_widget(digit=np.zeros((4, 4)))


# --- 2. The reverse process --------------------------------------------------------------------


def test_reverse_widget_controls_change_the_picture(reverse):
    W.check_controls(reverse, {**REVERSE_CHANGES, "steps": (10, 50)})
    W.check_each_control_changes_the_picture(reverse, REVERSE_CHANGES)
    ddim = [reverse.render(sampler="DDIM", steps=s, progress=0.5) for s in (10, 50)]
    assert ddim[0] != ddim[1], "the step count changes DDIM's picture"
    ddpm = [reverse.render(sampler="DDPM", steps=s, progress=0.5) for s in DW.DDIM_STEPS]
    assert len(set(ddpm)) == 1, "DDPM always takes its 100 steps: the step count does not apply"
    assert reverse.render(sampler="DDIM", steps=20, progress=0.7) == \
        reverse.render(sampler="DDIM", steps=20, progress=0.7)
    W.check_live_reacts(reverse, REVERSE_CHANGES)
    panel = reverse.live()
    output, (sampler, steps, _) = panel.children[-1], panel.children[1].children
    sampler.value = "DDIM"
    before = output.value
    steps.value = 100
    assert output.value != before


def test_reverse_paths_are_samples_trajectories(points_model):
    state = torch.get_rng_state().clone()
    ddpm = DW.reverse_path(points_model, "DDPM", 10, N, seed=2)
    assert ddpm.shape == (D.POINTS_T + 1, N, 2)
    expected = D.sample(points_model, N, D.points_betas(), torch.Generator().manual_seed(2))
    assert np.array_equal(ddpm[-1], expected.numpy())
    assert np.array_equal(ddpm[0], torch.randn((N, 2), generator=torch.Generator().manual_seed(2)).numpy())
    for steps in (10, 50):
        ddim = DW.reverse_path(points_model, "DDIM", steps, N, seed=2)
        assert ddim.shape == (steps + 1, N, 2)
        expected = D.ddim_sample(points_model, N, D.alpha_bar_of(D.points_betas()), steps,
                                 torch.Generator().manual_seed(2))
        assert np.array_equal(ddim[-1], expected.numpy())
        assert np.array_equal(ddim[0], ddpm[0]), "both start from the same draw of noise"
    assert not np.array_equal(DW.reverse_path(points_model, "DDPM", 10, N, seed=3)[-1], ddpm[-1])
    assert torch.equal(torch.get_rng_state(), state), "the global random state is left alone"
    with pytest.raises(ValueError, match="DDPM, DDIM"):
        DW.reverse_path(points_model, "Euler", 10, N)


def test_progress_picks_the_step():
    assert [DW.step_of(p, 10) for p in DW.PROGRESS] == list(range(11))
    assert DW.step_of(0.0, 100) == 0 and DW.step_of(0.5, 100) == 50 and DW.step_of(1.0, 100) == 100
    assert DW.step_of(0.5, 20) == 10 and DW.step_of(1.0, 20) == 20
    with pytest.raises(ValueError, match="between 0 and 1"):
        DW.step_of(1.5, 10)


def test_reverse_figure_shows_the_trajectory_over_the_data(points_model, data_points):
    path = DW.reverse_path(points_model, "DDIM", 20, N)
    for progress, k in ((0.0, 0), (0.4, 8), (1.0, 20)):
        fig = DW.draw_reverse(path, k, "DDIM", 20, data_points)
        ax = fig.axes[0]
        scatters = {c.get_gid(): c for c in ax.collections}
        assert np.allclose(scatters["samples"].get_offsets(), path[k])
        assert np.allclose(scatters["data"].get_offsets(), data_points)
        distance = D.sliced_wasserstein(path[k], data_points)
        assert ax.get_title() == DW.reverse_title("DDIM", 20, k, distance)
        assert f"step {k} of 20" in ax.get_title() and f"{distance:.3f}" in ax.get_title()
    title = DW.reverse_title("DDPM", 50, 100, 0.1234)
    assert "DDPM, always T = 100 steps" in title and "step 100 of 100" in title and "0.123" in title
    assert D.sliced_wasserstein(path[-1], data_points) < D.sliced_wasserstein(path[0], data_points)


def test_reverse_widget_renders_statically_and_samples_each_trajectory_once(
        cheap_frames, monkeypatch, points_model, data_points):
    calls = []
    real = DW.reverse_path

    def counted(*args):
        calls.append(args[1:3])
        return real(*args)

    monkeypatch.setattr(DW, "reverse_path", counted)
    widget = DW.reverse_widget(points_model, n=N, data_points=data_points)
    paths = {}

    def matches(frame, params):
        sampler, steps = params["sampler"], params["steps"]
        key = (sampler, steps if sampler == "DDIM" else None)
        if key not in paths:
            paths[key] = real(points_model, sampler, steps, N)
        path = paths[key]
        k = DW.step_of(params["progress"], len(path) - 1)
        distance = D.sliced_wasserstein(path[k], data_points)
        return DW.reverse_title(sampler, steps, k, distance) in frame

    data_ = W.check_static_rendering(widget, matches)
    assert len(data_["frames"]) == 2 * len(DW.DDIM_STEPS) * len(DW.PROGRESS) <= MAX_FRAMES
    assert sorted(calls, key=str) == sorted([("DDPM", 10)] + [("DDIM", s) for s in DW.DDIM_STEPS], key=str)


def test_reverse_widget_default_data_and_refusals(points_model, digits_model):
    widget = DW.reverse_widget(points_model, n=N)
    mine = DW.reverse_widget(points_model, n=N, data_points=data.swiss_roll(N, seed=1)[0])
    assert widget.render(progress=1.0) == mine.render(progress=1.0)
    with pytest.raises(ValueError, match="data_shape"):
        DW.reverse_widget(digits_model)
    with pytest.raises(ValueError, match=r"as many as the samples"):
        DW.reverse_widget(points_model, n=N, data_points=np.zeros((N + 1, 2)))


# --- 3. Classifier-free guidance ---------------------------------------------------------------


def test_guidance_widget_controls_change_the_picture(guidance):
    W.check_controls(guidance, GUIDANCE_CHANGES)
    W.check_each_control_changes_the_picture(guidance, GUIDANCE_CHANGES)
    assert guidance.render(scale=2.0) == guidance.render(scale=2.0)
    W.check_live_reacts(guidance, GUIDANCE_CHANGES)
    assert guidance.controls["scale"].static_values == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0]


def test_guidance_renders_statically_within_max_frames(cheap_frames, digits_model, judge):
    def matches(frame, params):
        table = DW.guidance_table(digits_model, judge, params["scale"], PER_CLASS)
        return DW.guidance_title(params["scale"], table).replace("\n", " | ") in frame.replace("\n", " | ")

    widget = DW.guidance_widget(digits_model, judge, per_class=PER_CLASS)
    data_ = W.check_static_rendering(widget, matches)
    assert len(data_["frames"]) == len(DW.GUIDANCE_SCALES) <= MAX_FRAMES
    assert data_["labels"]["scale"] == ["0", "0.5", "1", "2", "4", "8"]


def test_guidance_table_is_guided_ddpm_judged_against_the_labels(digits_model, judge):
    state = torch.get_rng_state().clone()
    table = DW.guidance_table(digits_model, judge, 2.0, PER_CLASS, seed=1)
    labels = np.repeat(np.arange(10), PER_CLASS)
    assert np.array_equal(table["labels"], labels)
    x = D.sample(D.Guided(digits_model, torch.as_tensor(labels), 2.0), len(labels), D.digits_betas(),
                 torch.Generator().manual_seed(1))
    images = D.model_to_digits(x).numpy()
    assert table["images"].shape == (10 * PER_CLASS, 8, 8) and np.array_equal(table["images"], images)
    assert images.min() >= 0 and images.max() <= 1
    predicted = D.judged(judge, images).numpy()
    assert np.array_equal(table["predicted"], predicted)
    assert table["accuracy"] == pytest.approx(np.mean(predicted == labels))
    distances = [np.linalg.norm(images[i].ravel().astype(np.float64) - images[j].ravel())
                 for c in range(10)
                 for i, j in itertools.combinations(range(c * PER_CLASS, (c + 1) * PER_CLASS), 2)]
    assert table["diversity"] == pytest.approx(np.mean(distances), rel=1e-5)
    assert torch.equal(torch.get_rng_state(), state), "the global random state is left alone"
    again = DW.guidance_table(digits_model, judge, 2.0, PER_CLASS, seed=1)
    assert np.array_equal(again["images"], table["images"])
    plain = DW.guidance_table(digits_model, judge, 0.0, PER_CLASS, seed=1)
    assert not np.array_equal(plain["images"], table["images"])
    conditional = D.sample(D.Guided(digits_model, torch.as_tensor(labels), 0.0), len(labels),
                           D.digits_betas(), torch.Generator().manual_seed(1))
    assert np.array_equal(plain["images"], D.model_to_digits(conditional).numpy())


def test_accuracy_counts_what_the_judge_reads(digits_model):
    class Always(torch.nn.Module):
        """A judge that reads every image as ``digit``."""

        def __init__(self, digit):
            super().__init__()
            self.digit = digit

        def forward(self, x):
            return torch.nn.functional.one_hot(torch.full((len(x),), self.digit), 10).float()

    for digit in (0, 7):
        table = DW.guidance_table(digits_model, Always(digit), 1.0, PER_CLASS)
        assert table["accuracy"] == pytest.approx(0.1) and set(table["predicted"]) == {digit}
        fig = DW.draw_guidance(1.0, table, PER_CLASS)
        ax = fig.axes[0]
        assert sum(p.get_gid() == "misread" for p in ax.patches) == 9 * PER_CLASS
        assert sorted(t.get_text() for t in ax.texts).count(f"{PER_CLASS}/{PER_CLASS}") == 1
        assert "10% as the intended digit" in fig.get_suptitle()


def test_guidance_figure_is_the_mosaic_of_the_samples(digits_model, judge):
    table = DW.guidance_table(digits_model, judge, 1.0, PER_CLASS)
    fig = DW.draw_guidance(1.0, table, PER_CLASS)
    ax = fig.axes[0]
    shown = np.asarray(ax.images[0].get_array().filled(np.nan))
    assert shown.shape == (10 * 9 - 1, PER_CLASS * 9 - 1)
    for i, image in enumerate(table["images"]):
        r, c = divmod(i, PER_CLASS)
        assert np.array_equal(shown[r * 9:r * 9 + 8, c * 9:c * 9 + 8], image)
    assert np.isnan(shown[8]).all() and np.isnan(shown[:, 8]).all(), "a gap between the samples"
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(c) for c in range(10)]
    misread = int((table["predicted"] != table["labels"]).sum())
    assert sum(p.get_gid() == "misread" for p in ax.patches) == misread
    title = fig.get_suptitle()
    assert title == DW.guidance_title(1.0, table)
    assert "guidance scale w = 1" in title and f"diversity {table['diversity']:.2f}" in title


def test_guidance_widget_refusals(points_model, digits_model, judge):
    with pytest.raises(ValueError, match="class-conditional"):
        DW.guidance_widget(points_model, judge)
    with pytest.raises(ValueError, match="at least 2"):
        DW.guidance_widget(digits_model, judge, per_class=1)
    with pytest.raises(ValueError, match="0 or positive"):
        DW.guidance_widget(digits_model, judge, scales=(1, -1))


# --- All three ---------------------------------------------------------------------------------


def test_frames_stay_small_and_leave_no_pyplot_figures_or_threads_behind(reverse, guidance):
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    threads = torch.get_num_threads()
    for widget in (DW.forward_widget(), reverse, guidance):
        html = widget.render()
        assert len(html) < 30_000, f"a frame of {widget.title} takes {len(html)} characters"
    assert set(plt.get_fignums()) == before
    assert torch.get_num_threads() == threads
