"""Shared test set-up: a non-interactive matplotlib and a repository path."""
import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo():
    return REPO


@pytest.fixture
def cheap_frames(monkeypatch):
    """Replace a widget frame's PNG encoding (most of the time a frame takes) by the figure's
    titles, so a whole static grid draws quickly: every grid point still runs the real drawing
    code, and each frame still says which settings it was drawn for."""
    from dlcourse import widgets
    from widget_checks import figure_summary

    monkeypatch.setattr(widgets, "to_html", lambda fig: "<pre>" + figure_summary(fig) + "</pre>")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
