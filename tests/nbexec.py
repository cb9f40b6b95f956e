"""Run a notebook's graded cells in this process, one namespace, recording which test cells fail.

Only the cells grading depends on run (setup, solution and test cells; not widgets or demos).
Much faster than a kernel; used to check that each known mistake fails exactly its own test
cell. End-to-end grading (sandboxed kernel, trusted grader) is tested separately.

With a replaced solution cell, only the test cells its change can reach run (``affected``): the
test cells that read a name the changed cell defines, directly or through other solution cells,
and the test cells that define what those need. Every other test cell reads nothing the change
touched, so it passes as it does for the reference (which ``check_reference_passes`` proves)."""
import ast
import symtable

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
    for cell, source in cells:  # names the change reaches, in order: solution cells, and test helpers
        if is_solution(cell) and (grade_id(cell) in replace or names(source)[1] & changed):
            changed |= names(source)[0]
        elif is_test(cell):
            changed |= helpers_reading(source, changed)
    run, needed = set(), set()
    for cell, source in reversed(cells):  # test cells that read a changed name, and what they need
        defines, reads = names(source)
        if not is_test(cell) or reads & changed or defines & needed:
            run.add(id(cell))
            needed |= reads - defines if is_test(cell) else set()  # what it does not define itself
    return run


def helpers_reading(source, changed):
    """The functions and classes a test cell defines that read a changed name, directly or
    through one another (a later test cell calling them sees the change too)."""
    scopes = {t.get_name(): _global_reads(t) for t in symtable.symtable(source, "<cell>", "exec").get_children()}
    found = set()
    while True:
        more = {name for name, reads in scopes.items() if reads & (changed | found)} - found
        if not more:
            return found
        found |= more


def names(source):
    """``(defined, read)``: the global names a cell assigns or defines, and those it reads. A
    function's or class's own locals and parameters are not globals."""
    tree = ast.parse(source)
    defined = set()
    for node in _module_level(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return defined, _global_reads(symtable.symtable(source, "<cell>", "exec"))


def _global_reads(table):
    """The global names a cell's code reads, in its own body and in its functions' and classes'
    (their locals and parameters are not globals)."""
    found = {s.get_name() for s in table.get_symbols()
             if s.is_referenced() and (table.get_type() == "module" or s.is_global())}
    for child in table.get_children():
        found |= _global_reads(child)
    return found


def _module_level(tree):
    """Every node of ``tree`` outside function, lambda and class bodies (their names included)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)) or node is tree:
            stack.extend(ast.iter_child_nodes(node))
