"""Grading a class: broken submissions get a clear status and never cost another student a grade."""
import csv
import json
import shutil
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import submissions
from autograder.__main__ import main
from autograder.grading import Limits, grade

SLUG = "01-neuron"
pytestmark = pytest.mark.slow


def _answers(**overrides):
    answers = {part: submissions.REFERENCE for part in submissions.reference_answers(SLUG)}
    answers.update(overrides)
    return answers


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A class where all but two students broke something."""
    folder = tmp_path_factory.mktemp("class")
    write = lambda student, nb: submissions.write(nb, folder / student / f"{SLUG}.ipynb")  # noqa: E731
    write("a-complete", submissions.complete(SLUG))
    write("b-blank", submissions.make_submission(SLUG))
    write("c-loops", submissions.make_submission(SLUG, _answers(relu="def relu(x):\n    while True:\n        pass")))
    write("d-exits", submissions.make_submission(SLUG, _answers(tanh="import os\nos._exit(1)")))
    write("e-deleted", submissions.make_submission(SLUG, _answers(), drop_tests=["test_softmax"]))
    write("f-memory", submissions.make_submission(SLUG, _answers(relu="big = np.ones((40000, 40000))")))
    write("i-calls-reference", submissions.make_submission(SLUG, _answers(
        relu='from autograder import reference\nrelu = reference("01-neuron", "relu")')))
    (folder / "g-notjson").mkdir()
    (folder / "g-notjson" / f"{SLUG}.ipynb").write_text("{ not json")
    (folder / "h-nothing").mkdir()
    return folder


def graded(folder, out):
    results = grade(folder, SLUG, out, workers=2, limits=Limits(cell_timeout=5, time_limit=120, memory_gb=3),
                    progress=False)
    return {r.student_id: r for r in results}


@pytest.fixture(scope="module")
def results(batch, tmp_path_factory):
    out = tmp_path_factory.mktemp("graded")
    return graded(batch, out), out


def test_good_submissions_are_graded_correctly_beside_broken_ones(results):
    r, _ = results
    assert (r["a-complete"].status, r["a-complete"].score, r["a-complete"].max_score) == ("graded", 30, 30)
    assert (r["b-blank"].status, r["b-blank"].score) == ("graded", 0)
    assert "not implemented yet" in r["b-blank"].messages["test_relu"]


def test_infinite_loop_is_interrupted_and_the_rest_graded(results):
    r = results[0]["c-loops"]
    assert r.status == "timeout" and "time limit" in r.message
    assert r.parts["test_relu"] == 0 and r.score == 28


def test_kernel_exit_is_reported_and_earlier_parts_keep_their_points(results):
    r = results[0]["d-exits"]
    assert r.status == "kernel-died" and "kernel stopped" in r.message
    assert r.score == 5 and r.parts["test_relu"] == 2 and r.parts["test_sigmoid"] == 3  # graded before the exit


def test_deleted_test_cell_scores_zero_for_that_part_only(results):
    r = results[0]["e-deleted"]
    assert r.status == "cells-deleted" and "test_softmax" in r.message
    assert r.parts["test_softmax"] == 0 and r.score == 26


def test_memory_hog_fails_only_its_own_part(results):
    r = results[0]["f-memory"]
    # the 12 GB allocation fails inside the kernel (3 GB limit), which survives: relu is just undefined
    assert r.status == "graded" and r.parts["test_relu"] == 0 and r.score == 28
    assert r.messages["test_relu"] == "NameError: name 'relu' is not defined"


def test_invalid_and_missing_notebooks_get_a_row(results):
    r = results[0]
    assert r["g-notjson"].status == "invalid-notebook" and "not a valid notebook" in r["g-notjson"].message
    assert r["h-nothing"].status == "missing"


def test_code_that_imports_the_reference_finds_no_autograder_in_its_sandbox(results):
    r = results[0]["i-calls-reference"]
    assert r.status == "graded" and r.parts["test_relu"] == 0 and r.score == 28
    assert r.messages["test_relu"] == "NameError: name 'relu' is not defined"


def test_csv_and_feedback_for_every_student(results, batch):
    r, out = results
    rows = list(csv.DictReader(open(out / "grades.csv")))
    assert [row["student_id"] for row in rows] == sorted(p.name for p in batch.iterdir())
    assert list(rows[0])[:5] == ["student_id", "assignment", "score", "max_score", "test_relu"]
    complete = next(row for row in rows if row["student_id"] == "a-complete")
    assert complete["score"] == "30" and complete["test_logistic_regression_fit"] == "6"
    for student in r:
        page = (out / "feedback" / student / f"{SLUG}.html").read_text()
        assert SLUG in page
    blank = (out / "feedback" / "b-blank" / f"{SLUG}.html").read_text()
    assert "Part 1: ReLU (2 points)" in blank and "relu is not implemented yet" in blank
    assert "BEGIN HIDDEN TESTS" not in blank and "reference(" not in blank
    assert (out / "similarity.csv").read_text().startswith("part,student_a,student_b,similarity")


def test_regrading_gives_the_same_grades(results, batch):
    _, out = results
    before = (out / "grades.csv").read_text()
    graded(batch, out)
    assert (out / "grades.csv").read_text() == before


def test_lms_zip_with_flat_files_is_accepted(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"zoe_1234_5678_{SLUG}.ipynb", nbformat.writes(submissions.complete(SLUG)))
    r = graded(archive, tmp_path / "out")
    assert list(r) == ["zoe"] and r["zoe"].score == 30


def test_cli_grade_and_report(batch, tmp_path, capsys):
    folder = tmp_path / "two"
    for student in ("a-complete", "b-blank"):
        shutil.copytree(batch / student, folder / student)
    assert main(["grade", str(folder), "--assignment", SLUG, "--out", str(tmp_path / "g"), "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "a-complete" in printed and "30/30" in printed and "grades.csv" in printed
    main(["report", str(tmp_path / "g")])
    printed = capsys.readouterr().out
    assert "2 students, mean 15.0/30" in printed and "test_relu" in printed
    assert (tmp_path / "g" / "scores.png").stat().st_size > 1000
    assert (tmp_path / "g" / "parts.png").stat().st_size > 1000


def test_grading_refuses_without_a_sandbox_unless_told(batch, tmp_path, monkeypatch, capsys):
    from autograder import sandbox

    folder = tmp_path / "one"
    shutil.copytree(batch / "a-complete", folder / "a-complete")
    monkeypatch.setattr(sandbox, "available", lambda: False)
    assert main(["grade", str(folder), "--assignment", SLUG, "--out", str(tmp_path / "g")]) == 2
    assert "bubblewrap" in capsys.readouterr().err and not (tmp_path / "g" / "grades.csv").exists()
    assert main(["grade", str(folder), "--assignment", SLUG, "--out", str(tmp_path / "g"), "--no-sandbox"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "g" / "grades.csv")))
    assert rows[0]["sandboxed"] == "no" and rows[0]["score"] == "30"
    assert "WITHOUT a sandbox" in capsys.readouterr().out


def test_the_notebook_named_after_the_assignment_is_the_one_graded(tmp_path):
    from autograder.grading import find_submissions

    (tmp_path / "amy").mkdir()
    for name in ("00-scratch.ipynb", f"{SLUG}.ipynb", "notes.ipynb"):
        (tmp_path / "amy" / name).write_text("{}")
    (tmp_path / "bo").mkdir()
    (tmp_path / "bo" / f"my-{SLUG}-final.ipynb").write_text("{}")
    (tmp_path / "cy").mkdir()
    found = find_submissions(tmp_path, SLUG, tmp_path / "work")
    assert found == {"amy": tmp_path / "amy" / f"{SLUG}.ipynb", "bo": tmp_path / "bo" / f"my-{SLUG}-final.ipynb",
                     "cy": None}


def test_a_failure_of_the_grader_itself_is_that_students_error_row(batch, tmp_path, monkeypatch):
    from autograder import grading

    real = grading._grade

    def flaky(student, *args):
        if student == "b-blank":
            raise RuntimeError("disk full")
        return real(student, *args)
    monkeypatch.setattr(grading, "_grade", flaky)
    folder = tmp_path / "two"
    for student in ("a-complete", "b-blank"):
        shutil.copytree(batch / student, folder / student)
    r = graded(folder, tmp_path / "out")
    assert r["a-complete"].score == 30 and r["b-blank"].status == "error" and "disk full" in r["b-blank"].message
    assert len(list(csv.DictReader(open(tmp_path / "out" / "grades.csv")))) == 2


def test_a_notebook_past_its_time_limit_is_stopped_and_leaves_nothing_running(tmp_path):
    nb = submissions.make_submission(SLUG, _answers(relu="import time\ntime.sleep(600)"))
    submissions.write(nb, tmp_path / "class" / "slow" / f"{SLUG}.ipynb")
    out = tmp_path / "out"
    results = grade(tmp_path / "class", SLUG, out, limits=Limits(cell_timeout=300, time_limit=15), progress=False)
    assert results[0].status == "time-limit" and "longer than 15 s" in results[0].message
    for recorded in (out / ".work").rglob("cgroup.json"):  # each sandbox's cgroup, with whatever ran in it, is gone
        assert not any(Path(d).exists() for d in json.loads(recorded.read_text()).values())
    deadline = time.monotonic() + 10
    while _processes_mentioning(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)  # a killed process may take a moment to go
    assert not _processes_mentioning(tmp_path), "a grader or kernel of this class is still running"


def _processes_mentioning(path):
    """Processes whose command line names ``path`` (a kernel's sandbox binds its scratch folder)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(path).encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:
            pass
    return found


def test_each_kernel_serves_one_student(tmp_path):
    """A worker grades its students one after the other with a kernel started for each: what one
    student's code leaves in its kernel (a module's attribute, a file at home) is not there for
    the next."""
    relu = submissions.reference_answers(SLUG)["relu"]
    leaker = ('import numpy, pathlib\nnumpy.LEFT_BEHIND = "a"\n'
              '(pathlib.Path.home() / "left-behind.txt").write_text("a")\n' + relu)
    observer = ('import numpy, pathlib\n(pathlib.Path.home() / "seen.txt").write_text('
                'repr((getattr(numpy, "LEFT_BEHIND", None), (pathlib.Path.home() / "left-behind.txt").exists())))\n'
                + relu)
    for student, code in [("a-leaker", leaker), ("b-observer", observer), ("c-observer", observer)]:
        submissions.write(submissions.make_submission(SLUG, _answers(relu=code)),
                          tmp_path / "class" / student / f"{SLUG}.ipynb")
    out = tmp_path / "out"
    results = grade(tmp_path / "class", SLUG, out, workers=1, progress=False)
    assert [r.score for r in results] == [30, 30, 30]
    for student in ("b-observer", "c-observer"):
        assert (out / ".work" / "students" / student / "scratch" / "seen.txt").read_text() == "(None, False)"
    assert (out / ".work" / "students" / "a-leaker" / "scratch" / "left-behind.txt").read_text() == "a"
