"""``grade``: autograde a whole class in parallel, one isolated worker process per student.

Each student gets a course directory of their own (their notebook, a copy of the assignment's
gradebook), so one broken submission can never touch another's result. Each worker runs under a
wall-clock limit and a memory limit; whatever happens to it, the student gets a row with a clear
status, and the rest of the class is graded.
"""
import csv
import dataclasses
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import paths
from autograder.nbgrader_setup import CELL_TIMEOUT_S
from autograder.notebooks import graded_parts
from autograder.release import generate

TIME_LIMIT_S = 600       # per notebook, everything included
MEMORY_LIMIT_GB = 6.0    # address space of the worker and the student's kernel


@dataclass
class Result:
    student_id: str
    assignment: str
    status: str                                   # graded, timeout, kernel-died, cells-deleted, ...
    score: float = 0.0
    max_score: float = 0.0
    parts: dict = field(default_factory=dict)     # test cell grade_id -> points
    message: str = ""
    messages: dict = field(default_factory=dict)  # test cell grade_id -> why it failed
    seconds: float = 0.0


@dataclass
class Limits:
    cell_timeout: int = CELL_TIMEOUT_S
    time_limit: float = TIME_LIMIT_S
    memory_gb: float = MEMORY_LIMIT_GB
    device: str = "auto"
    threads: int = 0  # CPU threads per notebook; 0: the cores shared out between the workers


def find_submissions(source, slug, work):
    """``{student_id: notebook path}`` from a folder of ``<student_id>/<slug>.ipynb`` or an LMS
    zip. In a zip, files may sit in ``<student_id>/`` folders or flat, named as LMSs export them
    (``<student_id>_<anything>.ipynb``: the id is the text before the first underscore). Where a
    student has several notebooks, the one named after the assignment wins."""
    source = Path(source)
    if source.suffix == ".zip":
        unpacked = work / "unzipped"
        shutil.rmtree(unpacked, ignore_errors=True)
        with zipfile.ZipFile(source) as zf:
            zf.extractall(unpacked)
        source = unpacked
    candidates = {folder.name: [] for folder in sorted(source.iterdir()) if folder.is_dir()}
    for nb in sorted(source.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in nb.parts or nb.name.startswith("."):
            continue
        student = nb.relative_to(source).parts[0] if nb.parent != source else nb.stem.split("_")[0]
        candidates.setdefault(student, []).append(nb)
    # a student folder without a notebook stays, as None: that student gets a "missing" row
    return {student: _pick(found, slug) for student, found in candidates.items()}


def _pick(notebooks, slug):
    for matches in (lambda nb: nb.name == f"{slug}.ipynb", lambda nb: slug in nb.name, lambda nb: True):
        chosen = [nb for nb in notebooks if matches(nb)]
        if chosen:
            return chosen[0]
    return None


def prepare_gradebook(slug, work):
    """A gradebook holding ``slug``'s test cells and points, built once per grading run."""
    template = work / "template"
    shutil.rmtree(template, ignore_errors=True)
    template.mkdir(parents=True)
    (template / "solutions").symlink_to(paths.solutions_dir())
    generate(slug, template, template / "gradebook.db")
    return template / "gradebook.db"


def grade_one(student, notebook, slug, gradebook, work, out, limits):
    """Grade one student; never raises. Writes the feedback page and returns a Result."""
    start = time.monotonic()
    result = Result(student, slug, "graded")
    result.parts = {name: 0.0 for name, _ in _parts(slug)}
    result.max_score = sum(points for _, points in _parts(slug))
    root = work / "students" / student
    shutil.rmtree(root, ignore_errors=True)
    problem = _check_notebook(notebook)
    if problem:
        result.status, result.message = problem
    else:
        target = root / "submitted" / student / slug / f"{slug}.ipynb"
        target.parent.mkdir(parents=True)
        shutil.copyfile(notebook, target)
        (root / "solutions").symlink_to(paths.solutions_dir())
        shutil.copyfile(gradebook, root / "gradebook.db")
        _run_worker(root, slug, student, limits, result)
    _write_feedback(root, slug, student, out, result)
    result.seconds = round(time.monotonic() - start, 1)
    return result


def _check_notebook(notebook):
    if notebook is None:
        return "missing", "no notebook found in the student's folder"
    try:
        nbformat.validate(nbformat.read(notebook, as_version=4))
    except Exception as err:  # not JSON, or not a notebook
        return "invalid-notebook", f"the file is not a valid notebook: {str(err).splitlines()[0][:200]}"
    return None


def _run_worker(root, slug, student, limits, result):
    # Two kernels that each spin up every core's worth of OpenMP threads slow each other down
    # many times over: each notebook gets its share of the cores.
    threads = str(limits.threads)
    env = dict(os.environ, DLCOURSE_DEVICE=limits.device, PYTHONUNBUFFERED="1",
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", threads),
               MKL_NUM_THREADS=os.environ.get("MKL_NUM_THREADS", threads))
    log = root / "worker.log"
    cmd = [sys.executable, "-m", "autograder.worker", str(root), slug, student, str(limits.cell_timeout)]
    with open(log, "w") as logfile:
        proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, env=env, cwd=root,
                                start_new_session=True, preexec_fn=_memory_limit(limits.memory_gb))
        try:
            proc.wait(timeout=limits.time_limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            result.status = "time-limit"
            result.message = f"grading took longer than {limits.time_limit:g} s and was stopped"
            return
        finally:
            _kill_group(proc.pid)  # a kernel left behind by a crash
    summary = root / "result.json"
    if proc.returncode != 0 or not summary.exists():
        tail = log.read_text(errors="replace")[-600:]
        memory = "MemoryError" in tail or proc.returncode in (-signal.SIGKILL, -signal.SIGSEGV)
        result.status = "memory-limit" if memory else "error"
        result.message = (f"grading stopped (exit {proc.returncode}); last output: {tail.strip()[-300:]}")
        return
    data = json.loads(summary.read_text())
    if not data["autograde_ok"]:
        if "DeadKernelError" in data["log"]:
            result.status = "kernel-died"
            result.message = ("the kernel stopped while running the notebook (the code exited or crashed), "
                              "so no test could be scored")
        else:
            result.status = "error"
            result.message = "nbgrader could not grade this notebook: " + _last_line(data["log"])
        return
    for name, (score, _max) in data["parts"].items():
        if name in result.parts:
            result.parts[name] = float(score or 0.0)
    result.score = round(sum(result.parts.values()), 6)
    result.messages = data["problems"]["messages"]
    problems = data["problems"]["list"]
    if problems:
        result.status = problems[0].split(":")[0]
        result.message = "; ".join(problems)


def _memory_limit(gb):
    def apply():
        limit = int(gb * 1024 ** 3)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply if gb else None


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _last_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no details"


def _parts(slug, _cache={}):
    if slug not in _cache:
        _cache[slug] = graded_parts(nbformat.read(paths.notebook(paths.solutions_dir(), slug), as_version=4))
    return _cache[slug]


def _write_feedback(root, slug, student, out, result):
    target = out / "feedback" / student / f"{slug}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    made = root / "feedback" / student / slug / f"{slug}.html"
    if made.exists():
        shutil.copyfile(made, target)
    else:
        target.write_text(f"<html><body><h1>{slug}: not graded</h1><p>Status: {result.status}</p>"
                          f"<p>{result.message}</p></body></html>")


def grade(submissions, slug, out, workers=1, limits=None, progress=True):
    """Grade every submission of ``slug``; write ``out/grades.csv`` and ``out/feedback/``."""
    from tqdm.auto import tqdm

    limits = limits or Limits()
    if not limits.threads:
        limits = dataclasses.replace(limits, threads=max(1, (os.cpu_count() or 1) // max(1, workers)))
    out = Path(out)
    work = out / ".work"
    work.mkdir(parents=True, exist_ok=True)
    found = find_submissions(submissions, slug, work)
    gradebook = prepare_gradebook(slug, work)
    results = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(grade_one, s, nb, slug, gradebook, work, out, limits) for s, nb in found.items()]
        for future in tqdm(as_completed(futures), total=len(futures), desc=f"grading {slug}",
                           unit="student", disable=not progress):
            results.append(future.result())
    results.sort(key=lambda r: r.student_id)
    write_csv(results, slug, out / "grades.csv")
    return results


def write_csv(results, slug, path):
    names = [name for name, _ in _parts(slug)]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", "assignment", "score", "max_score", *names, "status", "message"])
        for r in results:
            writer.writerow([r.student_id, r.assignment, f"{r.score:g}", f"{r.max_score:g}",
                             *(f"{r.parts.get(n, 0.0):g}" for n in names), r.status, r.message])


def summary_table(results):
    """A plain-text table of the class: one row per student."""
    rows = [("student", "score", "status", "time", "message")]
    rows += [(r.student_id, f"{r.score:g}/{r.max_score:g}", r.status, f"{r.seconds:.0f}s", r.message[:70])
             for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4]
                     for row in rows)
