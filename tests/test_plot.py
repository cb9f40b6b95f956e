import numpy as np

from dlcourse import data, plot


def test_decision_boundary_draws_regions_boundary_and_points():
    X, y = data.blobs(n=50)
    fig = plot.decision_boundary(lambda P: 1 / (1 + np.exp(-P[:, 0])), X, y, title="t", steps=50)
    ax = fig.axes[0]
    assert ax.get_title() == "t" and ax.get_xlabel() == "$x_1$"
    assert len(ax.collections) >= 4  # filled regions, the 0.5 contour, one scatter per class
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class 0", "class 1"]


def test_decision_boundary_skips_the_contour_when_no_point_crosses_one_half():
    X, y = data.blobs(n=20)
    with_line = plot.decision_boundary(lambda P: P[:, 0] > 0, X, y, steps=30).axes[0]
    without = plot.decision_boundary(lambda P: np.zeros(len(P)), X, y, steps=30).axes[0]
    assert len(without.collections) < len(with_line.collections)


def test_loss_curve_plots_each_series():
    fig = plot.loss_curve({"train": [3, 2, 1], "test": [3, 2.5, 2]}, log=True)
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"
    assert list(ax.lines[0].get_ydata()) == [3, 2, 1]


def test_image_grid_shows_every_image_with_its_label():
    images, labels = data.digits("test", flat=False)
    fig = plot.image_grid(images[:12], labels[:12], cols=5)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 12 and shown[3].get_title() == str(labels[3])
