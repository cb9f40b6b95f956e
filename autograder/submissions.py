"""Make submissions the way students would: the released notebook with some cells answered."""
import nbformat

from autograder import chapters, paths
from autograder.notebooks import grade_id, is_solution, is_test, strip_solution_markers

REFERENCE = "reference"  # in answers: take this part's code from the reference solution


def reference_answers(slug):
    """``{solution grade_id: the reference's code}`` as a student would have typed it."""
    return {grade_id(c): strip_solution_markers(c.source) for c in chapters.source(slug).cells if is_solution(c)}


def make_submission(slug, answers=None, drop_tests=()):
    """The released notebook of ``slug`` with the solution cells in ``answers`` (grade_id -> code,
    or REFERENCE) filled in, and the test cells in ``drop_tests`` deleted."""
    nb = nbformat.read(paths.notebook(paths.exercises_dir(), slug), as_version=4)
    reference = reference_answers(slug)
    for cell in nb.cells:
        code = (answers or {}).get(grade_id(cell)) if is_solution(cell) else None
        if code is not None:
            cell.source = reference[grade_id(cell)] if code == REFERENCE else code
    nb.cells = [c for c in nb.cells if not (is_test(c) and grade_id(c) in drop_tests)]
    return nb


def complete(slug):
    return make_submission(slug, {part: REFERENCE for part in reference_answers(slug)})


def with_mistakes(slug, mistakes):
    """Everything right except the given mistakes (``autograder.mistakes.Mistake``)."""
    answers = {part: REFERENCE for part in reference_answers(slug)}
    answers.update({m.part: m.code.strip() for m in mistakes})
    return make_submission(slug, answers)


def write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
