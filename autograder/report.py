"""``report``: how a class did, from a grades.csv: score distribution and per-part failure rates."""
from collections import Counter
from pathlib import Path

import numpy as np

from autograder import chapters
from autograder.outcomes import read_csv


def part_max(parts, slug):
    """Points of each part, from the source notebook (grades.csv holds only what was scored)."""
    points = chapters.points(slug)
    return {p: points.get(p, 0.0) for p in parts}


def summarise(rows, parts, maxima):
    """Per part: the share of students who did not get its full points."""
    n = max(len(rows), 1)
    return {p: sum(float(r[p]) < maxima[p] for r in rows) / n for p in parts}


def report(grades_csv, out_dir=None):
    """Write scores.png and parts.png next to grades.csv (or in out_dir) and return the text table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grades_csv = Path(grades_csv)
    out_dir = Path(out_dir or grades_csv.parent)
    rows, parts = read_csv(grades_csv)
    if not rows:
        return "no students in " + str(grades_csv)
    slug = rows[0]["assignment"]
    maxima = part_max(parts, slug)
    failure = summarise(rows, parts, maxima)
    scores = np.array([float(r["score"]) for r in rows])
    top = float(rows[0]["max_score"])

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(scores, bins=np.linspace(0, top, min(int(top), 20) + 1), color="#4477aa", edgecolor="white")
    ax.set(xlabel=f"score (out of {top:g})", ylabel="students", title=f"{slug}: score distribution")
    fig.tight_layout()
    fig.savefig(out_dir / "scores.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 0.45 * len(parts) + 1.2))
    ax.barh(parts[::-1], [100 * failure[p] for p in parts[::-1]], color="#cc6677")
    ax.set(xlabel="students without full points (%)", xlim=(0, 100), title=f"{slug}: where points were lost")
    fig.tight_layout()
    fig.savefig(out_dir / "parts.png", dpi=100)
    plt.close(fig)

    statuses = Counter(r["status"] for r in rows)
    lines = [f"{slug}: {len(rows)} students, mean {scores.mean():.1f}/{top:g}, median {np.median(scores):g}",
             "status: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())),
             "", f"{'part':<34}{'points':>7}{'not full':>10}"]
    lines += [f"{p:<34}{maxima[p]:>7g}{100 * failure[p]:>9.0f}%" for p in parts]
    lines += ["", f"plots: {out_dir / 'scores.png'}, {out_dir / 'parts.png'}"]
    return "\n".join(lines)
