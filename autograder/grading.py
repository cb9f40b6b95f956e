"""``grade``: autograde a whole class, one student at a time per worker, each in a sandbox.

A trusted grader process (``autograder.grader``) runs the tests and decides the points, while
the student's code runs in a sandboxed kernel it starts, a new one for each student. Locally each
worker keeps its grader process for the whole class (``GraderServer``); on a cluster each job
starts its own. Each student's grading runs under a wall-clock limit; whatever happens, the
student gets exactly one row with a status that says what happened, and the rest of the class is
graded.
"""
import contextlib
import dataclasses
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import chapters, sandbox, similarity
from autograder.nbgrader_setup import CELL_TIMEOUT_S
from autograder.outcomes import Problem, Result, Status, write_csv, write_failures

TIME_LIMIT_S = 600       # per notebook, everything included
MEMORY_LIMIT_GB = 6.0    # the student's whole sandbox


@dataclass
class Limits:
    cell_timeout: int = CELL_TIMEOUT_S
    time_limit: float = TIME_LIMIT_S
    memory_gb: float = MEMORY_LIMIT_GB
    device: str = "auto"
    threads: int = 0         # CPU threads per notebook; 0: the cores shared out between the workers
    sandboxed: bool = True   # False only with the instructor's --no-sandbox


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


def job(student, notebook, slug, limits):
    """One student's grading as plain data: the notebook's text travels, never a path into the
    instructor's folders, so the job can run on another machine (``--cluster``)."""
    text = None if notebook is None else Path(notebook).read_bytes().decode("utf-8", errors="replace")
    return {"student_id": student, "slug": slug, "notebook": text, "limits": dataclasses.asdict(limits)}


def run_job(job, work=None, slot=None):
    """Grade one job (in ``work``, else a temporary folder); returns plain data: the result and the
    notebook as parsed (for the feedback page). Never raises: a failure of the grading itself
    becomes that student's ``error`` row, and a student's failing code is a score, never an error
    of the job (so a cluster's retries only ever repeat a job whose worker was lost). ``slot``: a
    local worker's ``ServerSlot``, whose grader process grades student after student; without it,
    a grader process is started for this student alone."""
    limits, student, slug = Limits(**job["limits"]), job["student_id"], job["slug"]
    if not limits.threads:  # on a cluster's worker: the cores shared out between its grading threads
        limits = dataclasses.replace(limits, threads=max(1, (os.cpu_count() or 1) // _worker_threads()))
    if limits.device == "auto":  # on a cluster's worker: its own GPU, if it has one
        from dlcourse import device
        limits = dataclasses.replace(limits, device=device().type)
    if limits.sandboxed and not sandbox.available():
        return {"result": _error_result(student, slug, True, "this grading machine cannot sandbox students' code "
                                        "(install bubblewrap there)").to_dict(), "notebook": None}
    start = time.monotonic()
    with contextlib.ExitStack() as stack:
        if work is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dlcourse-grade-")))
        try:
            result, nb = _grade(student, job["notebook"], slug, Path(work), limits, slot)
        except Exception as err:  # noqa: BLE001 (one student's failure must not stop the class)
            result, nb = _error_result(student, slug, limits.sandboxed, f"grading failed ({type(err).__name__}: {err})"), None
    result.max_score = sum(p.points for p in chapters.parts(slug))
    result.seconds = round(time.monotonic() - start, 1)
    return {"result": result.to_dict(), "notebook": None if nb is None else nbformat.writes(nb)}


def _error_result(student, slug, sandboxed, why):
    result = Result(student, slug, parts={p.test: 0.0 for p in chapters.parts(slug)}, sandboxed=sandboxed)
    result.record([Problem(Status.ERROR, f"error: {why}; tell the instructor")])
    return result


def _worker_threads():
    try:
        from distributed import get_worker
        return max(1, get_worker().state.nthreads)
    except (ImportError, ValueError):
        return 1


def _grade(student, text, slug, work, limits, slot=None):
    result = Result(student, slug, parts={p.test: 0.0 for p in chapters.parts(slug)}, sandboxed=limits.sandboxed)
    if text is None:
        result.record([Problem(Status.MISSING, "missing: no notebook found in the student's folder")])
        return result, None
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 (not JSON, or not a notebook)
        first = (str(err).splitlines() or [""])[0][:200]
        result.record([Problem(Status.INVALID, f"invalid-notebook: the file is not a valid notebook: {first}")])
        return result, None
    root = work / "students" / student
    shutil.rmtree(root, ignore_errors=True)
    (root / "scratch").mkdir(parents=True)  # the only folder the student's code can write to
    nbformat.write(nb, root / "submitted.ipynb")
    spec = {"slug": slug, "student_id": student, "notebook": str(root / "submitted.ipynb"),
            "scratch": str(root / "scratch"), "device": limits.device, "threads": limits.threads,
            "memory_bytes": int(limits.memory_gb * 1024 ** 3), "cell_timeout": limits.cell_timeout,
            "sandboxed": limits.sandboxed}
    (root / "job.json").write_text(json.dumps(spec))  # what the grader process reads
    if slot is not None:
        try:
            slot.server(limits.threads).grade(root / "job.json", root / "result.json", limits.time_limit)
        except TimeoutError:
            result.record([Problem(Status.TIME_LIMIT, f"time-limit: grading took longer than "
                                                      f"{limits.time_limit:g} s and was stopped")])
            return result, nb
        finally:
            sandbox.Cgroup.remove_recorded(root / "cgroup.json")  # a kernel started for this student alone
        return Result.from_dict(json.loads((root / "result.json").read_text())), nb
    with open(root / "grader.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "autograder.grader", str(root / "job.json"),
                                 str(root / "result.json")], stdout=log, stderr=subprocess.STDOUT, cwd=root,
                                env=_threads_env(limits.threads), start_new_session=True)
        try:
            proc.wait(timeout=limits.time_limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            result.record([Problem(Status.TIME_LIMIT, f"time-limit: grading took longer than "
                                                      f"{limits.time_limit:g} s and was stopped")])
            return result, nb
        finally:
            sandbox.Cgroup.remove_recorded(root / "cgroup.json")  # what a killed grader left behind
    if proc.returncode != 0 or not (root / "result.json").exists():
        tail = (root / "grader.log").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the grader process stopped (exit {proc.returncode}): {tail[0][:300]}")
    return Result.from_dict(json.loads((root / "result.json").read_text())), nb


def _threads_env(threads):
    """The grader process and the student's kernel take turns, and each gets the worker's share of
    the cores: two torch processes that each use every core slow each other many times over."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    return env


def _write_feedback(out, slug, result, nb):
    from autograder import feedback

    target = out / "feedback" / result.student_id / f"{slug}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    code = feedback.student_cells(slug, nb) if nb is not None else []
    target.write_text(feedback.render(slug, result, chapters.parts(slug), code))


class GraderServer:
    """A grader process that grades student after student (``python -m autograder.grader
    --serve``): one interpreter start, one import of torch and the course, one load of the
    reference solutions per worker instead of per student, and each next student's sandboxed
    kernel started while the current one is graded. Jobs go in on its stdin; a line on a pipe of
    its own says each result is written (its stdout is the log: test cells may print)."""

    def __init__(self, folder, threads):
        self.folder, self.threads = Path(folder), threads
        self.folder.mkdir(parents=True)
        answers_r, answers_w = os.pipe()
        with open(self.folder / "grader.log", "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "autograder.grader", "--serve", str(answers_w)],
                                         stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                         pass_fds=(answers_w,), cwd=self.folder, env=_threads_env(threads),
                                         start_new_session=True)
        os.close(answers_w)
        self.answers = answers_r

    def alive(self):
        return self.proc.poll() is None

    def grade(self, job_path, result_path, timeout):
        """Grade one job; TimeoutError (the process is stopped) past ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        try:
            self.proc.stdin.write((json.dumps([str(job_path), str(result_path)]) + "\n").encode())
            self.proc.stdin.flush()
            line = b""
            while not line.endswith(b"\n"):
                ready, _, _ = select.select([self.answers], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    break
                chunk = os.read(self.answers, 4096)
                if not chunk:
                    raise BrokenPipeError
                line += chunk
        except OSError:  # the process is gone
            self.close()
            tail = (self.folder / "grader.log").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"the grader process stopped (exit {self.proc.returncode}): {tail[0][:300]}") from None
        if not line.endswith(b"\n"):
            self.close()
            raise TimeoutError(f"grading took longer than {timeout:g} s")

    def close(self):
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc.wait()
        for record in self.folder.rglob("cgroup.json"):  # what a stopped grader's kernels left behind
            sandbox.Cgroup.remove_recorded(record)
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        if self.answers is not None:  # once: a closed descriptor's number may be reused
            os.close(self.answers)
            self.answers = None


class ServerSlot:
    """A local worker's grader process: started for its first student, and again after one it had
    to stop (a student past the time limit) or one that stopped by itself."""

    def __init__(self, folder):
        self.folder, self.started, self.current = Path(folder), 0, None

    def server(self, threads):
        if self.current is None or not self.current.alive() or self.current.threads != threads:
            self.close()
            self.started += 1
            self.current = GraderServer(self.folder / f"grader-{self.started}", threads)
        return self.current

    def close(self):
        if self.current is not None:
            self.current.close()
            self.current = None


def local_answers(jobs, workers, work):
    """Run the jobs on this machine, ``workers`` at a time, each worker with its own grader
    process (``ServerSlot``); yields each answer as it is done."""
    run = uuid.uuid4().hex[:8]
    slots = queue.SimpleQueue()
    all_slots = [ServerSlot(Path(work) / "servers" / f"{run}-{i}") for i in range(max(1, workers))]
    for slot in all_slots:
        slots.put(slot)

    def graded(j):
        slot = slots.get()
        try:
            return run_job(j, work, slot)
        finally:
            slots.put(slot)

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for future in as_completed([pool.submit(graded, j) for j in jobs]):
                yield future.result()
    finally:
        for slot in all_slots:
            slot.close()


def cluster_answers(jobs, address):
    """Run the jobs on the Dask cluster at ``address``; yields each answer as it is done. A job
    whose worker is lost is run again on another worker (Dask does that); one that cannot be run
    at all becomes that student's error row, so every student still gets exactly one row."""
    from distributed import Client, as_completed as completed

    with Client(address) as client:
        futures = {client.submit(run_job, j, key=f"grade-{j['slug']}-{j['student_id']}", pure=False): j for j in jobs}
        for future in completed(futures):
            try:
                yield future.result()
            except Exception as err:  # noqa: BLE001 (e.g. every worker it was given died)
                j = futures[future]
                result = _error_result(j["student_id"], j["slug"], j["limits"]["sandboxed"],
                                       f"the cluster could not grade this notebook ({type(err).__name__}: {err})")
                yield {"result": result.to_dict(), "notebook": None}


def grade(submissions, slug, out, workers=1, limits=None, progress=True, cluster=None):
    """Grade every submission of ``slug``; write ``out/grades.csv``, ``out/failures.csv``,
    ``out/feedback/`` and ``out/similarity.csv`` (answers that look copied, for the instructor;
    never scored). Locally, ``workers`` students at a time; with ``cluster`` (a Dask scheduler's
    address), on that cluster's workers. Only this process writes files."""
    from tqdm.auto import tqdm

    limits = limits or Limits()
    if limits.sandboxed and not cluster and not sandbox.available():
        raise sandbox.SandboxUnavailable("cannot sandbox students' code here: install Debian's `bubblewrap` "
                                         "(apt-get install bubblewrap), or pass --no-sandbox to grade without "
                                         "one (grades.csv then says so)")
    if not limits.threads and not cluster:
        limits = dataclasses.replace(limits, threads=max(1, (os.cpu_count() or 1) // max(1, workers)))
    if limits.device == "auto" and not cluster:
        from dlcourse import device
        limits = dataclasses.replace(limits, device=device().type)
    out = Path(out)
    work = out / ".work"
    work.mkdir(parents=True, exist_ok=True)
    found = find_submissions(submissions, slug, work)
    jobs = [job(student, notebook, slug, limits) for student, notebook in found.items()]
    answers = cluster_answers(jobs, cluster) if cluster else local_answers(jobs, workers, work)
    results = []
    for answer in tqdm(answers, total=len(jobs), desc=f"grading {slug}", unit="student", disable=not progress):
        result = Result.from_dict(answer["result"])
        nb = None if answer["notebook"] is None else nbformat.reads(answer["notebook"], as_version=4)
        try:
            _write_feedback(out, slug, result, nb)
        except Exception as err:  # noqa: BLE001
            result.record([Problem(Status.ERROR, f"error: the feedback page could not be written ({err})")])
        results.append(result)
    results.sort(key=lambda r: r.student_id)
    write_csv(results, [p.test for p in chapters.parts(slug)], out / "grades.csv")
    write_failures(results, out / "failures.csv")
    similarity.write(similarity.report(slug, _readable(found)), out)
    return results


def _readable(found):
    """The submitted notebooks that can be read, for the similarity report."""
    notebooks = {}
    for student, path in found.items():
        try:
            notebooks[student] = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001 (missing or invalid: that student's row says so already)
            pass
    return notebooks


def summary_table(results):
    """A plain-text table of the class: one row per student."""
    rows = [("student", "score", "status", "time", "message")]
    rows += [(r.student_id, f"{r.score:g}/{r.max_score:g}", r.status, f"{r.seconds:.0f}s", r.message[:70])
             for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4]
                     for row in rows)
