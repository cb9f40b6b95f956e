"""Chapter 1 (01-neuron): the page runs, the reference gets full marks, the release gets zero,
and each realistic mistake loses exactly its own part's points with the intended message."""
import csv
import html
import os

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import paths
from autograder.__main__ import main
from autograder.demo import demo_class
from autograder.mistakes import mistakes_for
from autograder.notebooks import graded_parts
from nbexec import run_test_cells

SLUG = "01-neuron"
SOLUTION = paths.notebook(paths.solutions_dir(), SLUG)
RELEASE = paths.notebook(paths.exercises_dir(), SLUG)
MISTAKES = mistakes_for(SLUG)
POINTS = dict(graded_parts(nbformat.read(SOLUTION, as_version=4)))


def test_the_chapter_has_five_to_eight_parts_worth_twenty_to_forty_points():
    assert 5 <= len(POINTS) <= 8 and 20 <= sum(POINTS.values()) <= 40


@pytest.mark.slow
def test_book_page_executes_in_a_kernel(repo):
    page = repo / "book" / "chapters" / f"{SLUG}.ipynb"
    nb = nbformat.read(page, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(page.parent)}}).execute()
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error" or out.get("name") == "stderr"]
    assert not errors, errors[:1]


def test_reference_solution_passes_every_test():
    outcome = run_test_cells(SOLUTION)
    assert set(outcome) == set(POINTS) and not any(outcome.values()), outcome


def test_released_notebook_fails_every_test_with_not_implemented():
    outcome = run_test_cells(RELEASE)
    assert set(outcome) == set(POINTS)
    assert all("is not implemented yet" in (msg or "") for msg in outcome.values()), outcome


def test_every_part_has_a_known_mistake():
    assert {m.test for m in MISTAKES} == set(POINTS)


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: f"{m.part}: {m.what}")
def test_mistake_loses_exactly_its_part_with_the_intended_message(mistake):
    outcome = run_test_cells(SOLUTION, replace={mistake.part: mistake.code})
    failed = {test: msg for test, msg in outcome.items() if msg}
    assert list(failed) == [mistake.test], failed
    assert mistake.message in failed[mistake.test]


@pytest.mark.slow
def test_demo_class_grades_through_nbgrader_to_the_expected_scores(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCOURSE_DEVICE", os.environ.get("DLCOURSE_DEVICE", "auto"))
    assert main(["demo", SLUG, "--out", str(tmp_path)]) == 0
    graded = tmp_path / SLUG / "graded"
    rows = {row["student_id"]: row for row in csv.DictReader(open(graded / "grades.csv"))}
    assert set(rows) == set(demo_class(SLUG))
    lost = {"ada-complete": set(), "ben-blank": set(POINTS),
            "cy-half-done": set(list(POINTS)[4:])}
    for student in ("dee-two-mistakes", "eli-three-mistakes"):
        notebook = nbformat.read(tmp_path / SLUG / "submissions" / student / f"{SLUG}.ipynb", as_version=4)
        used = [m for m in MISTAKES if any(c.source == m.code.strip() for c in notebook.cells)]
        assert len(used) >= 2
        lost[student] = {m.test for m in used}
        feedback = (graded / "feedback" / student / f"{SLUG}.html").read_text()
        for m in used:
            assert html.escape(m.message) in feedback or m.message in feedback, (student, m.message)
    for student, parts in lost.items():
        expected = {p: 0.0 if p in parts else POINTS[p] for p in POINTS}
        got = {p: float(rows[student][p]) for p in POINTS}
        assert got == expected, student
        assert float(rows[student]["score"]) == sum(expected.values())
        assert rows[student]["status"] == "graded"
