"""The course-wide gradebook (a row per student, a column per chapter, and the LMS import files)
and the course-wide report."""
import csv

import pytest

from autograder import chapters
from autograder.__main__ import main
from autograder.outcomes import Result, write_csv, write_failures


def graded_folder(root, slug, rows, max_score):
    """A grade run's --out folder: grades.csv (the chapter's first part scored, the others full),
    failures.csv and a feedback page per student with a notebook."""
    folder = root / slug
    folder.mkdir(parents=True)
    parts = chapters.points(slug)
    first, rest = next(iter(parts)), sum(list(parts.values())[1:])
    results = []
    for student, score, status in rows:
        failed = {} if score == max_score else {first: f"it returned {score}, expected {max_score}: a slip"}
        results.append(Result(student, slug, status=status, score=score, max_score=max_score,
                              parts={**parts, first: max(0, score - rest)}, messages=failed))
        if status != "missing":
            page = folder / "feedback" / student / f"{slug}.html"
            page.parent.mkdir(parents=True)
            page.write_text("feedback")
    write_csv(results, list(parts), folder / "grades.csv")
    write_failures(results, folder / "failures.csv")
    return folder


def test_gradebook_has_a_row_per_student_and_a_column_per_chapter(tmp_path):
    a = graded_folder(tmp_path, "02-layers", [("ann", 20, "graded"), ("bob", 0, "missing")], 30)
    b = graded_folder(tmp_path, "01-neuron", [("ann", 30, "graded"), ("bob", 12.5, "time-limit"),
                                              ("cat", 7, "graded")], 30)
    out = tmp_path / "book"
    assert main(["gradebook", str(a), str(b), "--out", str(out)]) == 0
    rows = list(csv.reader(open(out / "gradebook.csv")))
    assert rows == [["student_id", "01-neuron", "02-layers", "total", "max_total"],
                    ["ann", "30", "20", "50", "60"], ["bob", "12.5", "", "12.5", "60"], ["cat", "7", "", "7", "60"]]
    canvas = list(csv.reader(open(out / "canvas.csv")))
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[1] == ["Points Possible", "", "", "", "", "30", "30"]
    assert canvas[3] == ["", "", "bob", "bob", "", "12.5", "0"]
    assert list(csv.reader(open(out / "moodle.csv")))[1] == ["ann", "30", "20"]
    page = (out / "students" / "ann.html").read_text()
    assert "50 / 60" in page and 'href="../../01-neuron/feedback/ann/01-neuron.html"' in page
    assert "no notebook" in (out / "students" / "bob.html").read_text()


def test_gradebook_refuses_two_folders_of_one_chapter(tmp_path):
    a = graded_folder(tmp_path / "x", "01-neuron", [("ann", 1, "graded")], 30)
    b = graded_folder(tmp_path / "y", "01-neuron", [("ann", 2, "graded")], 30)
    with pytest.raises(ValueError, match="one per chapter"):
        main(["gradebook", str(a), str(b), "--out", str(tmp_path / "out")])


def test_course_report_ranks_the_parts_most_failed_with_their_common_message(tmp_path, capsys):
    a = graded_folder(tmp_path, "02-layers", [("ann", 20, "graded"), ("bob", 10, "graded")], 30)
    b = graded_folder(tmp_path, "01-neuron", [("ann", 30, "graded"), ("bob", 12.5, "graded")], 30)
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "report")]) == 0
    text = capsys.readouterr().out
    first = {slug: next(iter(chapters.points(slug))) for slug in ("01-neuron", "02-layers")}
    assert text.index(f"100%  02-layers {first['02-layers']}") < text.index(f"50%  01-neuron {first['01-neuron']}")
    assert "2 x: it returned 20, expected 30: a slip" in text  # numbers differ, the message is counted once
    assert (tmp_path / "report" / "scores.png").stat().st_size > 1000
