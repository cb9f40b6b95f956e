"""Grade one student's notebook: the trusted side. Run as ``python -m autograder.grader JOB OUT``.

The student's cells run in their sandboxed kernel, in notebook order, as Run All would. Each test
cell runs here instead, taken from the source notebook (the student's copy of a test cell is
never run), with the chapter's setup cells run here first; the names a test cell uses that the
student's code defines are proxies to the kernel. A part's points are given when its test cell
runs to the end here. Nothing the kernel sends can change a score but through the values its
functions return.
"""
import ast
import builtins
import functools
import json
import os
import shutil
import sys
import threading
import time
import types
from pathlib import Path

import nbformat

from autograder import chapters
from autograder.notebooks import grade_id, is_test
from autograder.outcomes import Problem, Result, Status
from autograder.remote import CellTimeout, KernelDied, StudentKernel
from autograder.sandboxed import wire

BUILTIN_NAMES = frozenset(dir(builtins))


def grade_notebook(slug, nb, scratch, device="cpu", threads=1, memory_bytes=0, cell_timeout=120,
                   sandboxed=True, student_id="student", kernel=None):
    """Run ``nb`` (a NotebookNode) in a sandboxed kernel and grade it; returns a Result. ``kernel``:
    one already started for this student (``WarmKernels``), else a new one is started here."""
    parts = chapters.parts(slug)
    tests = chapters.test_cells(slug)
    result = Result(student_id, slug, max_score=sum(p.points for p in parts),
                    parts={p.test: 0.0 for p in parts}, sandboxed=sandboxed)
    problems = []
    os.environ["DLCOURSE_DEVICE"] = device  # the setup cells pick the device the kernel uses
    namespace = {"__name__": "__main__"}
    for source in chapters.setup_cells(slug):
        exec(compile(source, f"<setup of {slug}>", "exec"), namespace)
    if kernel is None:
        kernel = StudentKernel(scratch, device=device, threads=threads, memory_bytes=memory_bytes,
                               sandboxed=sandboxed, preload=preloaded_modules(slug))
    proxied, done = {}, set()
    try:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if is_test(cell):
                test = grade_id(cell)
                if test in tests and test not in done:
                    done.add(test)
                    message = run_test(kernel, namespace, proxied, test, tests[test], cell_timeout, problems)
                    if message is None:
                        result.parts[test] = next(p.points for p in parts if p.test == test)
                    else:
                        result.messages[test] = message
                continue
            run_student_cell(kernel, cell.source, cell_timeout, problems)
    finally:
        kernel.close()
    missing = [p.test for p in parts if p.test not in done and p.points > 0]
    if missing:
        problems.append(Problem(Status.CELLS_DELETED, "test cells missing from the submission: " + ", ".join(missing)))
        result.messages.update({t: "this test cell was deleted from the notebook, so it was not run" for t in missing})
    result.score = round(sum(result.parts.values()), 6)
    result.record(problems)
    return result


def run_student_cell(kernel, source, cell_timeout, problems):
    if kernel.dead or not source.strip():
        return
    try:
        kernel.run_cell(source, time.monotonic() + cell_timeout)
    except CellTimeout:
        problems.append(Problem(Status.TIMEOUT, "timeout: a cell ran past the time limit and was interrupted"))
    except KernelDied as died:
        problems.append(died_problem(died))


def died_problem(died):
    status = Status.MEMORY_LIMIT if died.out_of_memory else Status.KERNEL_DIED
    return Problem(status, f"{status.value}: {died}; the tests after that point could not run your code")


def run_test(kernel, namespace, proxied, test, source, cell_timeout, problems):
    """Run one test cell here; None if it passed, else the message the student sees."""
    code = compile(source, f"<test {test}>", "exec")
    try:
        # Each call into the student's code gets the cell's time limit; the grader's own work
        # (a reference trained to time the budget, say) does not count against it. The notebook's
        # time limit bounds the whole.
        kernel.call_timeout = cell_timeout
        bring_in_student_names(kernel, namespace, proxied, used_names(code))
        exec(code, namespace)
        return None
    except CellTimeout:
        problems.append(Problem(Status.TIMEOUT, "timeout: a cell ran past the time limit and was interrupted"))
        return f"a call of your code ran past the time limit of {cell_timeout} s and was interrupted"
    except KernelDied as died:
        problems.append(died_problem(died))
        return f"{died}, so this test could not run"
    except wire.WireError as err:
        return f"your code sent back something that is not a plain value: {err}"
    except AssertionError as err:  # a failed check: its message is written for the student
        return str(err)[:2000] or "a check failed"
    except Exception as err:  # an error in the student's code, outside any check
        return f"{type(err).__name__}: {err}"[:2000]
    finally:
        kernel.call_timeout = None


def used_names(code):
    """Every global name a test cell's code (and the functions it defines) reads."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= used_names(const)
    return names


def bring_in_student_names(kernel, namespace, proxied, names):
    """Put the student's objects that a test cell uses into the grader's namespace as proxies
    (``proxied``: name -> what was put there). Names the trusted code defined (setup cells,
    earlier test cells) and builtins are never replaced, so a student's ``len`` or ``np`` is not
    the one the tests use."""
    for name, value in list(proxied.items()):
        if namespace.get(name) is not value:
            del proxied[name]  # trusted code assigned it since
    wanted = {n for n in names if n not in BUILTIN_NAMES and (n not in namespace or n in proxied)}
    if not wanted or kernel.dead:
        return
    found = kernel.lookup(wanted)
    for name in wanted:
        if name in found:
            namespace[name] = proxied[name] = found[name]
        elif name in proxied:
            del namespace[name], proxied[name]


@functools.lru_cache(maxsize=None)
def preloaded_modules(slug):
    """The modules the chapter's notebook imports (outside its test cells): its kernels load them
    before the student's first cell (see ``sandboxed/kernel.py``)."""
    names = []
    for cell in chapters.source(slug).cells:
        if cell.cell_type != "code" or is_test(cell):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # a cell with IPython magics
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return tuple(dict.fromkeys(names))


def grade_job(job, kernel=None):
    """Grade the job a ``job.json`` describes (see ``grading._grade``); returns a Result."""
    nb = nbformat.read(job["notebook"], as_version=4)
    try:
        return grade_notebook(job["slug"], nb, Path(job["scratch"]), device=job["device"], threads=job["threads"],
                              memory_bytes=job["memory_bytes"], cell_timeout=job["cell_timeout"],
                              sandboxed=job["sandboxed"], student_id=job["student_id"], kernel=kernel)
    except KernelDied as died:
        result = Result(job["student_id"], job["slug"], sandboxed=job["sandboxed"])
        result.record([Problem(Status.ERROR, f"error: {died}")])
        return result


class WarmKernels:
    """The next student's kernel, started while this student is graded: a new sandboxed kernel
    with the chapter's libraries loaded, used for one student only and then closed."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.count = 0
        self.key = self.kernel = self.ready = self.done = None

    @staticmethod
    def key_of(job):
        return tuple(job[k] for k in ("slug", "device", "threads", "memory_bytes", "sandboxed"))

    def start(self, job):
        """Start a kernel for the next job like ``job`` (same chapter and limits), in the background."""
        self.count += 1
        scratch = self.folder / f"kernel-{self.count}" / "scratch"
        scratch.mkdir(parents=True)
        self.key, self.kernel = self.key_of(job), None
        self.ready, self.done = threading.Event(), threading.Event()

        def run(ready, done):
            try:
                self.kernel = StudentKernel(scratch, device=job["device"], threads=job["threads"],
                                            memory_bytes=job["memory_bytes"], sandboxed=job["sandboxed"],
                                            preload=preloaded_modules(job["slug"]))
            except KernelDied:
                self.kernel = None  # grade_notebook starts one itself, and reports why it fails
            ready.set()
            # The sandbox ends a kernel when the thread that started it ends (bwrap's
            # --die-with-parent follows the thread): this one waits until the kernel's student is graded.
            done.wait()

        threading.Thread(target=run, args=(self.ready, self.done), daemon=True).start()

    def take(self, job):
        """``(kernel, done)``: the warm kernel if it suits ``job``, else None; set ``done`` once the
        kernel is closed."""
        if self.ready is None:
            return None, threading.Event()
        self.ready.wait()
        kernel, done, self.ready = self.kernel, self.done, None
        if kernel is not None and (self.key != self.key_of(job) or kernel.proc.poll() is not None):
            kernel.close()  # made for other limits, or gone while it waited: the student gets a new one
            kernel = None
        return kernel, done


def serve(answer_fd):
    """Grade job after job: each line on stdin names a ``job.json`` and where its result goes; a
    line on ``answer_fd`` says it is written. One interpreter with the course's imports and the
    reference solutions loaded serves a whole class; each student still gets a kernel of their
    own (started while the student before is graded), and the test cells' namespace is made
    again from the setup cells for each."""
    answers = os.fdopen(answer_fd, "w", buffering=1)
    warm = WarmKernels(Path.cwd() / "kernels")
    for line in sys.stdin:
        job_path, result_path = json.loads(line)
        job = json.loads(Path(job_path).read_text())
        kernel, done = warm.take(job)
        warm.start(job)  # the next student's, while this one is graded
        student_scratch = Path(job["scratch"])
        if kernel is not None:
            job = dict(job, scratch=str(kernel.scratch))
        try:
            result = grade_job(job, kernel)
        finally:
            done.set()
        if kernel is not None:  # what the student's code wrote goes where a cold kernel's would be
            shutil.rmtree(student_scratch, ignore_errors=True)
            shutil.move(kernel.scratch, student_scratch)
            shutil.rmtree(kernel.scratch.parent, ignore_errors=True)
        Path(result_path).write_text(json.dumps(result.to_dict()))
        answers.write(json.dumps(job["student_id"]) + "\n")


def main(argv):
    if argv[:1] == ["--serve"]:
        return serve(int(argv[1]))
    Path(argv[1]).write_text(json.dumps(grade_job(json.loads(Path(argv[0]).read_text())).to_dict()))


if __name__ == "__main__":
    main(sys.argv[1:])
