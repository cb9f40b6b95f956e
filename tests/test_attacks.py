"""The attack corpus (tests/attacks/corpus.py) graded in one batch with honest students.

Every attack must score 0 with a status and message that say why, the honest students must keep
30/30 (one of them graded after every attack), and each attack's own effect must be blocked: no
file changed or created outside the sandbox, no connection to the grading machine, no process
left behind.
"""
import hashlib
import os
import signal
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from attacks import corpus
from autograder import chapters, sandbox
from autograder.grading import Limits, grade
from autograder.outcomes import read_csv

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SLUG = corpus.SLUG
# The cell limit leaves room for x19 to touch 1.8 GB near the 2 GB cgroup limit: 1-2 s on a quiet
# machine, 5 s while another test run works the same two cores.
LIMITS = Limits(cell_timeout=15, time_limit=120, memory_gb=2)
BATCH_BUDGET_S = 300  # about 70 s here; a batch that hangs must fail, not stall
PROTECTED = [REPO / "autograder" / "checks.py", REPO / "solutions" / SLUG / f"{SLUG}.ipynb"]

def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Every attack and the honest students, graded together in one batch."""
    if not sandbox.available():
        pytest.skip("needs bubblewrap (the sandboxed grader)")
    tmp = tmp_path_factory.mktemp("attacks")
    (tmp / "host").mkdir()
    server = corpus.LoopbackServer(corpus.reference_answers_code())
    targets = corpus.Targets(root=REPO, out=tmp / "graded", host_dir=tmp / "host", port=server.port,
                             token=uuid.uuid4().hex)
    notebooks = corpus.build(targets)
    corpus.write_all(notebooks, tmp / "submissions")
    before = {path: _sha(path) for path in PROTECTED}
    try:
        start = time.monotonic()
        results = grade(tmp / "submissions", SLUG, targets.out, workers=2, limits=LIMITS, progress=False)
        elapsed = time.monotonic() - start
    finally:
        server.close()
    markers = (targets.process_marker(), f"sleep {targets.fork_sleep()}")
    left = _processes(markers)
    for _ in range(50):  # the sandbox is gone when grading returns; give the kernel a moment to reap
        if not left:
            break
        time.sleep(0.1)
        left = _processes(markers)
    yield SimpleNamespace(results={r.student_id: r for r in results}, elapsed=elapsed, targets=targets,
                          notebooks=notebooks, connections=list(server.connections), before=before,
                          after={path: _sha(path) for path in PROTECTED}, left=left)
    for pid, _ in left:  # an attack that got out: stop exactly its processes
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for path in targets.outside_writes().values():  # and remove what it wrote where nothing else lives
        if path.parent in (Path("/etc"), Path("/root"), Path("/tmp")) and path.exists():
            path.unlink()


def _processes(markers):
    return [p for m in markers for p in corpus.processes_with(m)]


def _report(batch, student, name):
    return corpus.scratch_report(batch.targets.out, student, name) or ""


# --- the batch ------------------------------------------------------------------------------

def test_the_batch_finishes_with_one_row_per_student(batch):
    print(f"\nattack batch: {len(batch.results)} students in {batch.elapsed:.0f} s")
    for student, score, status, message in corpus.summary(batch.results.values()):
        print(f"  {student:30s} {score:4g}  {status:13s} {message[:90]}")
    assert batch.elapsed < BATCH_BUDGET_S
    assert set(batch.results) == set(batch.notebooks)
    rows, parts = read_csv(batch.targets.out / "grades.csv")
    assert [r["student_id"] for r in rows] == sorted(batch.notebooks)
    assert len(parts) == 8 and all(r["max_score"] == "30" for r in rows)


@pytest.mark.parametrize("student", corpus.HONEST)
def test_honest_students_keep_full_marks(batch, student):
    r = batch.results[student]
    assert (r.status, r.score, r.max_score, r.messages) == ("graded", 30, 30, {})


def test_the_honest_student_graded_after_every_attack_keeps_full_marks(batch):
    assert max(batch.results) == "zz-honest"
    assert batch.results["zz-honest"].seconds > 0 and batch.results["zz-honest"].score == 30


# --- every attack scores nothing, and says why ----------------------------------------------

NOT_IMPLEMENTED = ("test_relu", "not implemented yet")
NOT_DEFINED = ("test_relu", "not defined")
WRONG_VALUES = ("test_relu", "values differ")
EXPECTED = {  # student: (status, (a part, text its failure message holds))
    "x01-fake-autograder-module": ("graded", WRONG_VALUES),
    "x02-edit-checks-file": ("graded", WRONG_VALUES),
    "x03-patch-numpy-torch": ("graded", WRONG_VALUES),
    "x04-patch-builtins": ("kernel-died", ("test_relu", "kernel stopped")),  # its own wire code broke
    "x05-input-transformer": ("graded", ("test_relu", "expected shape (1,), got shape (5,)")),
    "x06-custom-exception-handler": ("graded", NOT_IMPLEMENTED),
    "x07-edited-test-cells": ("graded", NOT_IMPLEMENTED),
    "x08-lying-object": ("graded", ("test_relu", "in the other process")),
    "x09-lying-array-subclass": ("graded", WRONG_VALUES),
    "x10-read-source-notebook": ("graded", NOT_DEFINED),  # its answers were to come from outside
    "x11-import-autograder": ("graded", NOT_DEFINED),  # its answers were to come from outside
    "x12-read-other-student": ("graded", NOT_DEFINED),  # its answers were to come from outside
    "x13-write-outside": ("graded", NOT_IMPLEMENTED),
    "x14-network": ("graded", NOT_DEFINED),  # its answers were to come from outside
    "x15-sys-exit": ("graded", ("test_relu", "SystemExit")),
    "x16-os-exit": ("kernel-died", ("test_relu", "not defined")),
    "x17-infinite-loop": ("timeout", NOT_IMPLEMENTED),  # interrupted; the kernel lives on
    "x18-stubborn-loop": ("timeout", ("test_relu", "not defined")),  # killed after the grace period
    "x19-memory-bomb": ("graded", ("test_relu", "MemoryError")),
    "x20-memory-children": ("memory-limit", ("test_relu", "not defined")),
    "x21-fork-bomb": ("timeout", ("test_relu", "not defined")),  # a failing fork loop ignores SIGINT: killed
    "x22-leftover-process": ("graded", NOT_IMPLEMENTED),
    "x23-output-flood": ("graded", NOT_IMPLEMENTED),
    "x24-pickle-payload": ("graded", ("test_relu", "in the other process")),
    "x25-forged-wire": ("kernel-died", ("test_relu", "grading protocol")),  # its forged answer ends it
    "x26-escape-lent-class": ("graded", ("test_relu", "expected an array")),
    "x27-low-precision-dtype": ("graded", ("test_tanh", "not implemented yet")),
}
STATUS_WORDS = {"timeout": "time limit", "kernel-died": "kernel stopped", "memory-limit": "memory"}


def test_every_attack_in_the_corpus_is_checked(batch):
    assert set(EXPECTED) | set(corpus.HONEST) == set(batch.notebooks)


@pytest.mark.parametrize("student", list(EXPECTED))
def test_attack_scores_nothing(batch, student):
    r = batch.results[student]
    assert r.score == 0 and r.max_score == 30, f"{student} scored {r.score}: {r.parts}"
    assert all(points == 0 for points in r.parts.values())


@pytest.mark.parametrize("student", list(EXPECTED))
def test_attack_gets_a_status_and_message_that_say_why(batch, student):
    status, (part, text) = EXPECTED[student]
    r = batch.results[student]
    assert r.status == status, (r.status, r.message)
    if status in STATUS_WORDS:
        assert STATUS_WORDS[status] in r.message
    assert text in r.messages[part], r.messages[part]


# --- and its own effect is blocked ----------------------------------------------------------

def test_checks_py_and_the_source_notebook_are_byte_identical(batch):
    assert batch.after == batch.before
    assert "every check passes" not in (REPO / "autograder" / "checks.py").read_text()
    report = _report(batch, "x02-edit-checks-file", "edit-checks.txt")
    assert "appended" not in report and "No such file" in report


def test_edited_test_cells_and_points_are_ignored(batch):
    r = batch.results["x07-edited-test-cells"]
    assert set(r.parts) == set(chapters.points(SLUG)) and r.max_score == 30  # no test_bonus, no 100 points


def test_no_source_reference_or_other_student_is_readable(batch):
    assert "No such file" in _report(batch, "x10-read-source-notebook", "read-source.txt")
    assert _report(batch, "x11-import-autograder", "import.txt").count("ModuleNotFoundError") == 2
    other = _report(batch, "x12-read-other-student", "read-other.txt")
    assert str(batch.targets.copy_of_victim()) in other and "No such file" in other


def test_nothing_is_written_outside_the_sandbox(batch):
    token = batch.targets.token
    for what, path in batch.targets.outside_writes().items():
        if path.exists():
            assert token not in path.read_text(errors="replace"), f"x13 wrote to {what}: {path}"
    assert not list(batch.targets.host_dir.glob("x13-*"))


def test_no_connection_reaches_the_grading_machine(batch):
    assert batch.connections == []
    report = _report(batch, "x14-network", "network.txt")
    assert "Connection refused" in report or "unreachable" in report
    assert "connected" not in report


def test_no_process_outlives_the_kernel(batch):
    assert batch.left == []
    assert _report(batch, "x22-leftover-process", "leftover.txt") == "started"  # it did start them


def test_the_fork_bomb_is_stopped_by_the_process_limit(batch):
    report = _report(batch, "x21-fork-bomb", "fork-bomb.txt")
    started = int(report.split()[0])
    assert 0 < started <= sandbox.MAX_PROCESSES and "fork failed" in report, report


def test_the_memory_bomb_only_fails_its_own_allocations(batch):
    assert "bytearray: MemoryError" in _report(batch, "x19-memory-bomb", "memory.txt")


def test_the_output_flood_leaves_a_normal_row(batch):
    rows, _ = read_csv(batch.targets.out / "grades.csv")
    row = next(r for r in rows if r["student_id"] == "x23-output-flood")
    assert row["status"] == "graded" and row["score"] == "0"
    assert (batch.targets.out / "feedback" / "x23-output-flood" / f"{SLUG}.html").stat().st_size < 100_000


def test_no_pickle_is_ever_loaded(batch):
    assert not batch.targets.marker("x24-pickle").exists()
    assert not batch.targets.marker("x25-pickle").exists()


def test_forged_wire_messages_reach_no_grader_object(batch):
    report = _report(batch, "x25-forged-wire", "forged-wire.txt")
    assert report.count("no longer available") == 2
    for op in ("isinstance", "lookup", "binop"):  # the grader serves only calls and reads of lent objects
        assert f"unknown request '{op}'" in report


def test_a_lent_grader_class_writes_nothing_outside_the_sandbox(batch):
    assert not batch.targets.marker("x26-escape").exists()
    page = batch.targets.out / "feedback" / corpus.VICTIM / f"{SLUG}.html"
    assert batch.targets.token not in page.read_text(errors="replace")
