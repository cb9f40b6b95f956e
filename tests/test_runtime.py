import numpy as np
import pytest
import torch

import dlcourse


def test_device_defaults_to_what_torch_sees(monkeypatch):
    monkeypatch.delenv("DLCOURSE_DEVICE", raising=False)
    assert dlcourse.device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_device_can_be_forced_to_cpu(monkeypatch):
    monkeypatch.setenv("DLCOURSE_DEVICE", "cpu")
    assert dlcourse.device() == torch.device("cpu")


def test_device_rejects_unknown_names(monkeypatch):
    monkeypatch.setenv("DLCOURSE_DEVICE", "tpu")
    with pytest.raises(ValueError, match="use 'cpu', 'cuda' or 'auto'"):
        dlcourse.device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_forcing_cuda_without_gpu_says_so(monkeypatch):
    monkeypatch.setenv("DLCOURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="no GPU"):
        dlcourse.device()


def test_seed_everything_repeats_numpy_and_torch():
    dlcourse.seed_everything(7)
    a = (np.random.rand(3), torch.rand(3))
    dlcourse.seed_everything(7)
    b = (np.random.rand(3), torch.rand(3))
    dlcourse.seed_everything(8)
    c = np.random.rand(3)
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not np.array_equal(a[0], c)
