"""``bench``: how fast a class is graded, against plain nbgrader on the same submissions.

One generated class (the demo class's kinds of students, repeated: complete, blank, half done,
with mistakes) is graded three ways, side by side on this machine: plain serial ``nbgrader
autograde`` in one course folder (no sandbox: every student's code in a kernel next to the
tests), then ``grade`` with 1 and with 2 workers (sandboxed). The notebook's own compute, the
floor no grader can go under, is the time its cells take in one warm process; the overhead per
submission is what grading one costs beyond it. Not a test: timings depend on the machine.
"""
import contextlib
import io
import shutil
import tempfile
import time
from pathlib import Path

from autograder import demo, paths, submissions


def make_class(slug, n, folder):
    """``n`` students cycling through the demo class's kinds; returns the folder."""
    kinds = list(demo.demo_class(slug).items())
    for i in range(n):
        kind, nb = kinds[i % len(kinds)]
        submissions.write(nb, Path(folder) / f"s{i:03d}-{kind}" / f"{slug}.ipynb")
    return Path(folder)


def plain_nbgrader(slug, folder, root):
    """Serial ``nbgrader autograde`` of every submission in ``folder``, in course folder ``root``;
    returns the seconds autograding took (the assignment's release into its gradebook is not
    counted)."""
    from nbgrader.apps import NbGraderAPI

    from autograder.nbgrader_setup import nbgrader_config

    root = Path(root)
    shutil.copytree(paths.solutions_dir() / slug, root / "solutions" / slug)
    api = NbGraderAPI(config=nbgrader_config(root, root / "gradebook.db"))
    if not api.generate_assignment(slug, force=True, create=True)["success"]:
        raise RuntimeError(f"nbgrader could not release {slug}")
    students = sorted(p.name for p in Path(folder).iterdir() if p.is_dir())
    for student in students:
        target = root / "submitted" / student / slug
        target.mkdir(parents=True)
        shutil.copy(Path(folder) / student / f"{slug}.ipynb", target / f"{slug}.ipynb")
    start = time.perf_counter()
    for student in students:
        result = api.autograde(slug, student, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"nbgrader could not autograde {student}:\n{result['log'][-2000:]}")
    return time.perf_counter() - start


def notebook_compute(slug, repeats=3):
    """Seconds the complete notebook's cells take in one warm IPython shell (imports and setup
    done once, before timing; displays rendered as when graded): what any grader must spend per
    submission."""
    import os

    from IPython.core.interactiveshell import InteractiveShell

    from autograder import chapters
    from autograder.notebooks import grade_id, is_solution, is_test, strip_solution_markers

    os.environ.setdefault("NBGRADER_EXECUTION", "autograde")
    tests = chapters.test_cells(slug)
    cells = []
    for cell in chapters.source(slug).cells:
        if cell.cell_type != "code" or "setup" in cell.metadata.get("tags", []):
            continue
        cells.append(tests.get(grade_id(cell), cell.source) if is_test(cell) else
                     strip_solution_markers(cell.source) if is_solution(cell) else cell.source)
    shell = InteractiveShell.instance()
    times = []
    with contextlib.redirect_stdout(io.StringIO()):  # the shell echoes each cell's last value
        for source in chapters.setup_cells(slug):
            shell.run_cell(source).raise_error()
        for _ in range(repeats):
            start = time.perf_counter()
            for source in cells:
                shell.run_cell(source).raise_error()
            times.append(time.perf_counter() - start)
    return min(times)


def bench(slug="01-neuron", n=30, workers=(1, 2), nbgrader=True, out=None):
    """Rows of (how, total seconds, seconds per submission) for one class of ``n``."""
    from autograder.grading import grade

    rows = []
    with tempfile.TemporaryDirectory(prefix="dlcourse-bench-") as tmp:
        tmp = Path(out or tmp)
        folder = make_class(slug, n, tmp / "class")
        if nbgrader:
            seconds = plain_nbgrader(slug, folder, tmp / "nbgrader")
            rows.append(("plain nbgrader autograde, serial, no sandbox", seconds))
        for w in workers:
            start = time.perf_counter()
            grade(folder, slug, tmp / f"graded-{w}", workers=w, progress=False)
            rows.append((f"python -m autograder grade --workers {w} (sandboxed)", time.perf_counter() - start))
    compute = notebook_compute(slug)
    return rows, compute


def table(slug, n, rows, compute):
    """The benchmark as a markdown table, with speed-ups against plain nbgrader and the overhead."""
    base = rows[0][1] if rows and rows[0][0].startswith("plain") else None
    lines = [f"{slug}, {n} submissions; the complete notebook's own compute: {compute:.2f} s",
             "", "| how | total (s) | per submission (s) | speed-up vs plain nbgrader |", "|---|---|---|---|"]
    for how, seconds in rows:
        speed = f"{base / seconds:.2f}x" if base else "-"
        lines.append(f"| {how} | {seconds:.1f} | {seconds / n:.2f} | {speed} |")
    serial = [s for how, s in rows if how.endswith("--workers 1 (sandboxed)")]
    if serial:
        lines += ["", f"overhead per submission (ours with 1 worker, less the notebook's compute): "
                      f"{serial[0] / n - compute:.2f} s"]
    return "\n".join(lines)


def projection(workers=2, per_chapter=4, students=1000):
    """Each released chapter's complete notebook graded ``per_chapter`` times with ``workers``
    workers; the steady time per student per worker (each worker's first student, which starts
    its grader process, left out) and what ``students`` students take on 1, 10 and 100 machines
    like this one. Returns the report's lines."""
    from autograder import chapters
    from autograder.grading import grade

    lines, total = ["| chapter | seconds per student per worker |", "|---|---|"], 0.0
    with tempfile.TemporaryDirectory(prefix="dlcourse-projection-") as tmp:
        for slug in chapters.released():
            for i in range(per_chapter):
                submissions.write(submissions.complete(slug), Path(tmp) / slug / f"s{i}" / f"{slug}.ipynb")
            results = grade(Path(tmp) / slug, slug, Path(tmp) / f"graded-{slug}", workers=workers, progress=False)
            steady = sorted(r.seconds for r in results)[: per_chapter - workers] or [r.seconds for r in results]
            seconds = sum(steady) / len(steady)
            total += seconds
            lines.append(f"| {slug} | {seconds:.1f} |")
    per_student = total / workers  # one machine runs ``workers`` students at a time
    lines += [f"| all | {total:.1f} |", "", f"one student's {len(chapters.released())} chapters: {per_student:.0f} s "
              f"on a machine like this one ({workers} workers)"]
    for machines in (1, 10, 100):
        hours = students * per_student / machines / 3600
        lines.append(f"{students:,} students on {machines} machine(s): {hours:.2f} h")
    return lines
