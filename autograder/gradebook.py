"""``gradebook``: one table for a whole course, from the graded folders of its chapters.

Each graded folder is the ``--out`` of a ``grade`` run (its grades.csv names the chapter). The
gradebook has a row per student and a column per chapter, plus the total; a student with no
notebook for a chapter scores 0 there (their cell says so in the CSV: empty). Written as

- ``gradebook.csv``: student_id, one column per chapter, total, max_total;
- ``canvas.csv``: Canvas's gradebook import (Student, ID, SIS User ID, SIS Login ID, Section, then
  one column per chapter, and a "Points Possible" row); the student id goes in SIS User ID and SIS
  Login ID, so ids must be the ones Canvas knows;
- ``moodle.csv``: for Moodle's "Import grades, CSV file": a Username column (map it to the user
  field the ids come from) and one column per chapter;
- ``students/<id>.html``: each student's scores, linking their feedback page of every chapter.
"""
import csv
import html
import os
from pathlib import Path

from autograder.outcomes import read_csv


def collect(graded_dirs):
    """``(slugs, maxima, scores, feedback)`` of the graded folders: the chapters in order, each
    one's maximum, ``{student: {slug: score}}`` and ``{(student, slug): feedback page}``."""
    slugs, maxima, scores, feedback = [], {}, {}, {}
    for folder in map(Path, graded_dirs):
        grades = folder / "grades.csv"
        if not grades.is_file():
            raise FileNotFoundError(f"{grades} is missing: pass the --out folders of `grade` runs")
        rows, _ = read_csv(grades)
        if not rows:
            continue
        slug = rows[0]["assignment"]
        if slug in maxima:
            raise ValueError(f"two graded folders for {slug}: pass one per chapter")
        slugs.append(slug)
        maxima[slug] = float(rows[0]["max_score"])
        for row in rows:
            student = row["student_id"]
            if row["status"] != "missing":
                scores.setdefault(student, {})[slug] = float(row["score"])
            else:
                scores.setdefault(student, {})
            page = folder / "feedback" / student / f"{slug}.html"
            if page.is_file():
                feedback[(student, slug)] = page
    slugs.sort()
    return slugs, maxima, scores, feedback


def write(graded_dirs, out):
    """Write the gradebook files into ``out``; returns their paths."""
    slugs, maxima, scores, feedback = collect(graded_dirs)
    out = Path(out)
    (out / "students").mkdir(parents=True, exist_ok=True)
    students = sorted(scores)
    top = sum(maxima.values())

    def total(student):
        return sum(scores[student].values())

    paths = [out / "gradebook.csv", out / "canvas.csv", out / "moodle.csv"]
    with open(paths[0], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", *slugs, "total", "max_total"])
        for s in students:
            w.writerow([s, *(_number(scores[s].get(slug)) for slug in slugs), _number(total(s)), _number(top)])
    with open(paths[1], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *slugs])
        w.writerow(["Points Possible", "", "", "", "", *(_number(maxima[slug]) for slug in slugs)])
        for s in students:
            w.writerow(["", "", s, s, "", *(_number(scores[s].get(slug, 0.0)) for slug in slugs)])
    with open(paths[2], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Username", *slugs])
        for s in students:
            w.writerow([s, *(_number(scores[s].get(slug, 0.0)) for slug in slugs)])
    for s in students:
        page = out / "students" / f"{_safe(s)}.html"
        page.write_text(_student_page(s, slugs, maxima, scores[s], feedback, page.parent))
        paths.append(page)
    return paths


def _student_page(student, slugs, maxima, scores, feedback, folder):
    rows = []
    for slug in slugs:
        got = scores.get(slug)
        score = "no notebook" if got is None else f"{got:g} / {maxima[slug]:g}"
        page = feedback.get((student, slug))
        link = f'<a href="{html.escape(os.path.relpath(page, folder))}">feedback</a>' if page else ""
        rows.append(f"<tr><td>{html.escape(slug)}</td><td>{score}</td><td>{link}</td></tr>")
    total = sum(scores.values())
    return (f"<!doctype html><meta charset='utf-8'><title>{html.escape(student)}: grades</title>"
            f"<h1>{html.escape(student)}</h1><table><tr><th>chapter</th><th>score</th><th></th></tr>"
            + "".join(rows) + f"<tr><th>total</th><th>{total:g} / {sum(maxima.values()):g}</th><th></th></tr>"
            "</table>\n")


def _number(x):
    return "" if x is None else f"{x:g}"


def _safe(student):
    """A file name for a student id (ids come from folder names, but keep the page inside ``students/``)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in student).lstrip(".") or "_"
