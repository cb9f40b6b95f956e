"""Run a notebook's graded cells in this process, one namespace, recording which test cells fail.

Only the cells grading depends on run (setup, solution and test cells; not widgets or demos).
Much faster than a kernel; used to check that each known mistake fails exactly its own test
cell. End-to-end grading (sandboxed kernel, trusted grader) is tested separately.

With a replaced solution cell, only the test cells its change can reach run (``affected``): the
test cells that read a name the changed cell defines, directly or through other solution cells,
and the test cells that define what those need. Every other test cell reads nothing the change
touched, so it passes as it does for the reference (which ``check_reference_passes`` proves)."""
import ast

import nbformat

from autograder.notebooks import grade_id, is_setup, is_solution, is_test


def run_test_cells(path, replace=None):
    """Execute the graded cells of ``path`` (solution cells replaced by ``replace[grade_id]``).
    Returns ``{test grade_id: None if it passed, else the error message}`` for the test cells
    that ran: all of them without ``replace``, those the replacement can affect with it."""
    nb = nbformat.read(path, as_version=4)
    replace = replace or {}
    cells = [(c, replace.get(grade_id(c), c.source) if is_solution(c) else c.source) for c in nb.cells
             if c.cell_type == "code" and (is_setup(c) or is_solution(c) or is_test(c))]
    run = affected(cells, replace) if replace else {id(c) for c, _ in cells}
    namespace, outcome = {"__name__": "__main__"}, {}
    for cell, source in cells:
        if id(cell) not in run:
            continue
        try:
            exec(compile(source, f"<cell {grade_id(cell)}>", "exec"), namespace)
            failure = None
        except Exception as err:  # a failing check, or a broken cell
            failure = f"{type(err).__name__}: {err}"
        if is_test(cell):
            outcome[grade_id(cell)] = failure
    return outcome


def affected(cells, replace):
    """``id``s of the cells to run when the solution cells in ``replace`` change: every setup and
    solution cell, and the slice of test cells that can see the change."""
    changed = set()
    for cell, source in cells:  # names the change reaches, through the solution cells in order
        if is_solution(cell) and (grade_id(cell) in replace or names(source)[1] & changed):
            changed |= names(source)[0]
    run, needed = set(), set()
    for cell, source in reversed(cells):  # test cells that read a changed name, and what they need
        defines, reads = names(source)
        if not is_test(cell) or reads & changed or defines & needed:
            run.add(id(cell))
            needed |= reads if is_test(cell) else set()
    return run


def names(source):
    """``(defined, read)``: the global names a cell assigns or defines, and those it reads. A
    function's or class's own locals are not globals: only their names count as defined."""
    tree = ast.parse(source)
    defined = set()
    for node in _module_level(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return defined, read


def _module_level(tree):
    """Every node of ``tree`` outside function, lambda and class bodies (their names included)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)) or node is tree:
            stack.extend(ast.iter_child_nodes(node))
