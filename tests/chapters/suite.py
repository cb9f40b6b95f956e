"""What every chapter's tests check, written once; tests/chapters/test_chapters.py runs them for
every released chapter.

A chapter's reference solution passes every test cell; its release fails
every test cell with "not implemented"; every known mistake fails exactly its own part with the
intended message; every other correct answer passes; a complete and a blank notebook graded end to
end (sandboxed kernel, trusted grader) get every point and none; and one demo class, mixed
(complete, blank, half done, with mistakes), gets exactly the expected points."""
import csv
import html

import nbformat

from autograder import chapters, paths
from autograder.__main__ import main
from autograder.demo import demo_class
from autograder.mistakes import mistakes_for
from autograder.submissions import reference_answers
from nbexec import run_test_cells


def points(slug):
    """``{test grade_id: points}`` of a chapter."""
    return chapters.points(slug)


def check_size(slug):
    parts = points(slug)
    assert 5 <= len(parts) <= 8 and 20 <= sum(parts.values()) <= 40, parts


def check_reference_passes(slug):
    outcome = run_test_cells(paths.notebook(paths.solutions_dir(), slug))
    assert set(outcome) == set(points(slug)) and not any(outcome.values()), outcome


def check_release_fails(slug):
    outcome = run_test_cells(paths.notebook(paths.exercises_dir(), slug))
    assert set(outcome) == set(points(slug))
    assert all("is not implemented yet" in (msg or "") for msg in outcome.values()), outcome


def check_every_part_has_a_mistake(slug):
    assert {m.test for m in mistakes_for(slug)} == set(points(slug))


def check_mistake(slug, mistake):
    outcome = run_test_cells(paths.notebook(paths.solutions_dir(), slug), replace={mistake.part: mistake.code})
    failed = {test: msg for test, msg in outcome.items() if msg}
    assert list(failed) == [mistake.test], failed
    assert mistake.message in failed[mistake.test]


def check_alternative(slug, alternative):
    outcome = run_test_cells(paths.notebook(paths.solutions_dir(), slug), replace={alternative.part: alternative.code})
    assert outcome and not any(outcome.values()), outcome


def check_demo_class(slug, out):
    """Grade the demo class through the CLI (sandboxed kernels) and compare every part's points."""
    assert main(["demo", slug, "--out", str(out)]) == 0
    graded = out / slug / "graded"
    rows = {row["student_id"]: row for row in csv.DictReader(open(graded / "grades.csv"))}
    assert set(rows) == set(demo_class(slug))
    parts, answers = points(slug), list(reference_answers(slug))
    half = set(answers[: len(answers) // 2])  # what the half-done student answered
    lost = {"ada-complete": set(), "ben-blank": set(parts),
            "cy-half-done": {t for t in parts if not _tested_parts(slug, t) <= half}}
    for student in ("dee-two-mistakes", "eli-three-mistakes"):
        notebook = nbformat.read(out / slug / "submissions" / student / f"{slug}.ipynb", as_version=4)
        used = [m for m in mistakes_for(slug) if any(c.source == m.code.strip() for c in notebook.cells)]
        assert len(used) >= 2
        lost[student] = {m.test for m in used}
        feedback = (graded / "feedback" / student / f"{slug}.html").read_text()
        for m in used:
            assert html.escape(m.message) in feedback or m.message in feedback, (student, m.message)
    for student, missing in lost.items():
        expected = {p: 0.0 if p in missing else parts[p] for p in parts}
        assert {p: float(rows[student][p]) for p in parts} == expected, student
        assert float(rows[student]["score"]) == sum(expected.values())
        assert rows[student]["status"] == "graded"


def check_complete_and_blank(slug, out):
    """Grade a complete and a blank notebook through the CLI (sandboxed kernels, trusted grader):
    the reference gets every point there too, and a blank notebook none, without an error."""
    from autograder.submissions import complete, make_submission, write

    folder = out / "submissions"
    write(complete(slug), folder / "ada-complete" / f"{slug}.ipynb")
    write(make_submission(slug), folder / "ben-blank" / f"{slug}.ipynb")
    assert main(["grade", str(folder), "--assignment", slug, "--out", str(out / "graded"), "--workers", "2"]) == 0
    rows = {row["student_id"]: row for row in csv.DictReader(open(out / "graded" / "grades.csv"))}
    parts = points(slug)
    assert {p: float(rows["ada-complete"][p]) for p in parts} == parts
    assert {p: float(rows["ben-blank"][p]) for p in parts} == {p: 0.0 for p in parts}
    assert {row["status"] for row in rows.values()} == {"graded"}
    assert (out / "graded" / "feedback" / "ada-complete" / f"{slug}.html").exists()


def _tested_parts(slug, test):
    """The solution cells a test cell depends on, read from the known mistakes it catches."""
    return {m.part for m in mistakes_for(slug) if m.test == test}
