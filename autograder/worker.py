"""Grade one student's notebook in a course directory of its own; run as a separate process.

``python -m autograder.worker ROOT SLUG STUDENT CELL_TIMEOUT`` runs nbgrader's autograde and
generate_feedback in ROOT (prepared by ``autograder.grading``) and writes ROOT/result.json with
the score of every test cell. The parent process applies the time and memory limits.
"""
import json
import sys
from pathlib import Path

import nbformat

from autograder.nbgrader_setup import COURSE_ID, nbgrader_config
from autograder.notebooks import grade_id, is_setup, is_test


def grade(root, slug, student, cell_timeout):
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    db = root / "gradebook.db"
    api = NbGraderAPI(config=nbgrader_config(root, db, cell_timeout))
    graded = api.autograde(slug, student, force=True, create=True)
    result = {"autograde_ok": graded["success"], "log": ((graded.get("log") or "") + (graded.get("error") or ""))[-6000:],
              "parts": {}, "problems": []}
    if not graded["success"]:
        return result
    with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
        submission = gb.find_submission_notebook(slug, slug, student)
        result["parts"] = {g.name: [g.score, g.max_score] for g in submission.grades}
    result["problems"] = _problems(root / "autograded" / student / slug / f"{slug}.ipynb", result["parts"])
    feedback = api.generate_feedback(slug, student, force=True)
    result["feedback_ok"] = feedback["success"]
    return result


def _problems(path, parts):
    """What went wrong beyond failed tests: timed-out cells, a dead kernel, deleted test cells,
    student code that reaches into the autograder (where the reference solution lives), and the
    message of every failed test."""
    nb = nbformat.read(path, as_version=4)
    problems, present, messages = [], set(), {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            text = " ".join([out.get("ename", ""), out.get("evalue", "")] + out.get("traceback", [])[-1:])
            if "CellTimeoutError" in text or "Timeout" in out.get("ename", ""):
                problems.append("timeout: a cell ran past the time limit and was interrupted")
            if "DeadKernel" in text or "Kernel died" in text:
                problems.append("kernel-died: the kernel stopped (the code exited or crashed)")
            if is_test(cell):
                messages[grade_id(cell)] = f"{out.get('ename')}: {out.get('evalue', '')}"[:600]
        if is_test(cell):
            present.add(grade_id(cell))
        elif not is_setup(cell) and "autograder" in cell.source:
            problems.append("flagged: the student's own code uses the autograder package (where the "
                            "reference solution is reachable): check this submission by hand")
    missing = [p for p in parts if p not in present and parts[p][1] > 0 and p.startswith("test")]
    if missing:
        problems.append("cells-deleted: test cells missing from the submission: " + ", ".join(missing))
    return {"list": sorted(set(problems)), "messages": messages}


def main(argv):
    root, slug, student, cell_timeout = Path(argv[0]), argv[1], argv[2], int(argv[3])
    result = grade(root, slug, student, cell_timeout)
    (root / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
