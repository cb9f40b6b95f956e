"""dlcourse.limits, the page's and widgets' tools of chapter 9, against the exercise notebook's
reference (written separately) and against the definitions."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F

from autograder import reference
from dlcourse import data, limits, models
from dlcourse.widgets import one_torch_thread


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def cnn():
    with one_torch_thread(), torch.random.fork_rng(devices=[]):
        return models.train_digit_cnn(epochs=2)


def test_the_splits_are_chapter_3s_and_disjoint():
    sizes = {split: len(data.digit_images(split)[1]) for split in data.DIGIT_SPLITS}
    assert sizes == {"fit": 1137, "val": 300, "test": 360}
    X_fit, X_val = data.digit_images("fit")[0], data.digit_images("val")[0]
    assert X_fit.shape[1:] == (1, 8, 8) and X_fit.dtype == torch.float32
    assert not (X_fit.flatten(1)[:, None] == X_val.flatten(1)[None]).all(-1).any()  # no image in both


def test_fgsm_matches_the_reference_and_leaves_the_model_alone(cnn):
    X, y = data.digit_images("test")
    before = copy.deepcopy(cnn.state_dict())
    model = copy.deepcopy(cnn).train()
    adv = limits.fgsm(model, X[:40], y[:40], 0.1)
    assert model.training and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert torch.equal(adv, reference("09-limits", "fgsm")(copy.deepcopy(cnn), X[:40], y[:40], 0.1))
    assert float((adv - X[:40]).abs().max()) <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert limits.accuracy_under_attack(cnn, X, y, 0.0) == limits.accuracy(cnn, X, y)
    assert limits.accuracy_under_attack(cnn, X, y, 0.2) < limits.accuracy(cnn, X, y)


def test_shifts_move_rotate_and_perturb_images():
    X = torch.zeros(1, 1, 8, 8)
    X[0, 0, 2, 3] = 1.0
    assert limits.shifted(X, dx=2, dy=-1)[0, 0, 1, 5] == 1.0 and limits.shifted(X, 2, -1).sum() == 1.0
    assert limits.shifted(X, dx=-8).sum() == 0  # moved out entirely
    assert torch.allclose(limits.rotated(X, 0.0), X, atol=1e-6)
    quarter = limits.rotated(torch.arange(64.0).reshape(1, 1, 8, 8), 90.0)
    assert torch.allclose(quarter, torch.rot90(torch.arange(64.0).reshape(8, 8), 1)[None, None], atol=1e-4)
    noisy = limits.noisy(torch.full((2, 1, 8, 8), 0.5), 0.1, seed=3)
    assert torch.equal(noisy, limits.noisy(torch.full((2, 1, 8, 8), 0.5), 0.1, seed=3))
    assert 0.05 < float(noisy.std()) < 0.15


def test_calibration_error_and_temperature_match_the_reference():
    g = torch.Generator().manual_seed(0)
    z = torch.randn((3000, 10), generator=g, dtype=torch.float64) * 1.5
    labels = torch.multinomial(z.softmax(1), 1, generator=g)[:, 0]
    logits = 3 * z
    probs = logits.softmax(1)
    probs[:50] = F.one_hot(labels[:50] + 1 - (labels[:50] == 9).long() * 2, 10).double()  # confidently wrong, c = 1
    ece = limits.expected_calibration_error(probs, labels)
    assert math.isclose(ece, reference("09-limits", "expected_calibration_error")(probs, labels), rel_tol=1e-9)
    confidence, accuracy, count = limits.reliability(probs, labels)
    assert count.sum() == 3000 and count[-1] >= 50
    used = count > 0
    assert math.isclose(float(((accuracy - confidence).abs()[used] * count[used]).sum() / 3000), ece, rel_tol=1e-12)
    T = limits.fit_temperature(logits, labels)
    assert math.isclose(T, reference("09-limits", "fit_temperature")(logits, labels), rel_tol=1e-3)
    assert 2.7 < T < 3.3  # the logits are three times too large
    scaled = limits.expected_calibration_error((logits / T).softmax(1), labels)
    assert scaled < limits.expected_calibration_error(logits.softmax(1), labels)


@pytest.mark.parametrize("bits, per_channel", [(8, False), (4, True), (2, True)])
def test_quantize_matches_the_reference(bits, per_channel):
    w = torch.randn((16, 8, 3, 3), generator=torch.Generator().manual_seed(bits)) ** 3
    w[5] = 0
    q, scale = limits.quantize(w, bits, per_channel)
    q_ref, scale_ref = reference("09-limits", "quantize")(w, bits, per_channel)
    assert torch.equal(q, q_ref) and torch.equal(scale, scale_ref)
    qmax = 2 ** (bits - 1) - 1
    assert int(q.abs().max()) == qmax and q.dtype == torch.int8
    error = (limits.dequantize(q, scale) - w).abs()
    assert bool((error <= scale / 2 + 1e-6).all())  # round to nearest: at most half a step


def test_quantized_copies_and_sizes(cnn):
    X, y = data.digit_images("test")
    assert limits.size_bytes(cnn) == 4 * sum(t.numel() for k, t in cnn.state_dict().items()
                                             if "num_batches" not in k)
    assert limits.size_bytes(cnn, 8) < limits.size_bytes(cnn) / 3.5
    assert limits.size_bytes(cnn, 4) < limits.size_bytes(cnn, 8)
    eight = limits.quantized_copy(cnn, 8)
    assert abs(limits.accuracy(eight, X, y) - limits.accuracy(cnn, X, y)) <= 0.01
    assert torch.equal(cnn.features[0].weight, copy.deepcopy(cnn).features[0].weight)  # the original is untouched
    weights = eight.features[4].weight
    assert len(torch.unique(weights[0])) <= 255


def test_distillation_loss_matches_the_reference():
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn((9, 10), generator=g), torch.randn((9, 10), generator=g) * 3
    y = torch.randint(0, 10, (9,), generator=g)
    for T, alpha in [(1.0, 0.5), (4.0, 0.9), (2.0, 0.0)]:
        assert torch.allclose(limits.distillation_loss(s, t, y, T, alpha),
                              reference("09-limits", "distillation_loss")(s, t, y, T, alpha), rtol=1e-5)
    assert float(limits.distillation_loss(t, t, y, 3.0, 1.0)) == pytest.approx(0.0, abs=1e-6)


def test_the_distilled_student_is_small_and_learns(cnn):
    student = limits.train_student(cnn, epochs=3)
    assert limits.count_parameters(student) <= limits.count_parameters(cnn) // 4
    X, y = data.digit_images("val")
    assert limits.accuracy(student, X, y) > 0.8
