"""The few plots the chapters share. Each returns the matplotlib Figure it drew."""

import numpy as np


def _figure(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def grid_for(X, margin=0.5, steps=200):
    """A regular grid covering the points ``X`` (n, 2): returns ``(xx, yy, points)``."""
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps))
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def decision_boundary(predict, X, y, ax=None, title=None, steps=200, figsize=(4.5, 4)):
    """Colour the plane by ``predict(points) -> scores or labels`` and draw the data on top.

    ``predict`` gets an array of shape (m, 2) and returns m numbers: for a probability in [0, 1]
    the 0.5 contour is drawn as the boundary.
    """
    fig, ax = _figure(ax, figsize)
    xx, yy, points = grid_for(X, steps=steps)
    z = np.asarray(predict(points), dtype=float).reshape(xx.shape)
    ax.contourf(xx, yy, z, levels=20, cmap="RdBu_r", alpha=0.35)
    if z.min() < 0.5 < z.max():
        ax.contour(xx, yy, z, levels=[0.5], colors="k", linewidths=1.5)
    import matplotlib

    classes = np.unique(y)
    cmap, norm = matplotlib.colormaps["RdBu_r"], matplotlib.colors.Normalize(classes.min(), classes.max())
    for c in classes:  # one scatter per class, so the legend says which colour is which
        ax.scatter(X[y == c, 0], X[y == c, 1], color=cmap(norm(c)), edgecolors="k", s=18,
                   linewidths=0.5, label=f"class {c}")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return fig


def loss_curve(losses, ax=None, title="Training loss", xlabel="step", log=False, figsize=(5, 3)):
    """Plot a loss (or several, given as a dict name -> list) against the step."""
    fig, ax = _figure(ax, figsize)
    series = losses if isinstance(losses, dict) else {"loss": losses}
    for name, values in series.items():
        ax.plot(np.arange(len(values)), values, label=name)
    if len(series) > 1:
        ax.legend()
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def image_grid(images, labels=None, cols=10, cmap="gray_r", figsize=None, title=None):
    """Show images (n, h, w) in a grid, with an optional label above each."""
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=figsize or (cols * 0.9, rows * 1.0), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap=cmap)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
