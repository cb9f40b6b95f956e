"""``report``: how a class did, from a grades.csv: score distribution and per-part failure rates;
and for several chapters at once, the course-wide picture (``course_report``)."""
import re
from collections import Counter
from pathlib import Path

import numpy as np

from autograder import chapters
from autograder.outcomes import read_csv, read_failures


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
    failures = read_failures(grades_csv.parent / "failures.csv")
    for p in parts:
        lines.append(f"{p:<34}{maxima[p]:>7g}{100 * failure[p]:>9.0f}%")
        lines += [f"    {n} x: {message[:160]}" for message, n in common_messages(failures, p)]
    lines += ["", f"plots: {out_dir / 'scores.png'}, {out_dir / 'parts.png'}"]
    return "\n".join(lines)


def common_messages(failures, part, top=1):
    """The most common failure messages of a part, counted with their numbers blanked out (the
    same mistake gives different numbers on different students' code): ``[(example, count)]``."""
    groups = Counter()
    example = {}
    for row in failures:
        if row["part"] == part:
            key = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", row["message"])
            groups[key] += 1
            example.setdefault(key, row["message"])
    return [(example[key], n) for key, n in groups.most_common(top)]


def course_report(folders, out_dir):
    """Several chapters' graded folders at once: scores.png (each chapter's score distribution)
    in ``out_dir``, and the text: each chapter's mean, then the parts most failed across the
    course, each with its most common failure message."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chapters_seen, lines, failed = [], [], []
    for folder in map(Path, folders):
        rows, parts = read_csv(folder / "grades.csv")
        if not rows:
            continue
        slug, top = rows[0]["assignment"], float(rows[0]["max_score"])
        scores = [100 * float(r["score"]) / top for r in rows]
        chapters_seen.append((slug, scores))
        lines.append(f"{slug:<18}{len(rows):>9}{np.mean(scores):>9.0f}%{np.median(scores):>9.0f}%")
        maxima = part_max(parts, slug)
        failures = read_failures(folder / "failures.csv")
        for part, rate in summarise(rows, parts, maxima).items():
            failed.append((rate, slug, part, common_messages(failures, part)))
    fig, ax = plt.subplots(figsize=(1.2 * len(chapters_seen) + 2, 3.5))
    ax.boxplot([s for _, s in chapters_seen], showmeans=True)
    ax.set_xticks(range(1, len(chapters_seen) + 1), [slug for slug, _ in chapters_seen], rotation=30)
    ax.set(ylabel="score (% of the chapter's points)", ylim=(-5, 105), title="scores per chapter")
    fig.tight_layout()
    fig.savefig(out_dir / "scores.png", dpi=100)
    plt.close(fig)
    text = [f"{'chapter':<18}{'students':>9}{'mean':>10}{'median':>10}", *lines, "",
            "parts most failed (share of students without full points), with the most common message:"]
    for rate, slug, part, messages in sorted(failed, key=lambda f: -f[0])[:10]:
        if rate == 0:
            break
        text.append(f"{100 * rate:>4.0f}%  {slug} {part}")
        text += [f"       {n} x: {message[:160]}" for message, n in messages]
    text += ["", f"plot: {out_dir / 'scores.png'}"]
    return "\n".join(text)
