"""Run a notebook's graded cells in this process, one namespace, recording which test cells fail.

Only the cells grading depends on run (setup, solution and test cells; not widgets or demos).
Much faster than a kernel; used to check that each known mistake fails exactly its own test
cell. End-to-end grading through nbgrader is tested separately."""
import nbformat

from autograder.notebooks import grade_id, is_setup, is_solution, is_test


def run_test_cells(path, replace=None):
    """Execute the graded cells of ``path`` (solution cells replaced by ``replace[grade_id]``).
    Returns ``{test grade_id: None if it passed, else the error message}``."""
    nb = nbformat.read(path, as_version=4)
    namespace, outcome = {"__name__": "__main__"}, {}
    for cell in nb.cells:
        if cell.cell_type != "code" or not (is_setup(cell) or is_solution(cell) or is_test(cell)):
            continue
        source = (replace or {}).get(grade_id(cell), cell.source) if is_solution(cell) else cell.source
        try:
            exec(compile(source, f"<cell {grade_id(cell)}>", "exec"), namespace)
            failure = None
        except Exception as err:  # a failing check, or a broken cell
            failure = f"{type(err).__name__}: {err}"
        if is_test(cell):
            outcome[grade_id(cell)] = failure
    return outcome
