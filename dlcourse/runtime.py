"""Where code runs (CPU or GPU) and how to make it repeatable."""
import os
import random

import numpy as np

DEVICE_ENV = "DLCOURSE_DEVICE"


def device():
    """The torch device the course uses: ``cuda`` when a GPU is available, else ``cpu``.

    ``DLCOURSE_DEVICE=cpu`` or ``DLCOURSE_DEVICE=cuda`` forces one (the autograder sets it so
    the reference and the student's code run on the same device).
    """
    import torch

    forced = os.environ.get(DEVICE_ENV, "").strip().lower()
    if forced in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if forced not in ("cpu", "cuda"):
        raise ValueError(f"{DEVICE_ENV}={forced!r}: use 'cpu', 'cuda' or 'auto'.")
    if forced == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{DEVICE_ENV}=cuda but torch sees no GPU on this machine.")
    return torch.device(forced)


def seed_everything(seed):
    """Seed Python, numpy and torch (CPU and GPU) so a run can be repeated exactly."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # numpy-only chapters still get repeatable runs
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
