"""The one way a hidden test reaches the reference solution.

Hidden tests call ``reference(slug, name)`` and never open ``solutions/`` themselves, so where
the reference runs can change (for example out of the student's kernel) without touching a
notebook. Today it executes the solution notebook's setup and solution cells in a fresh
namespace of its own, once per process.
"""
import functools

import nbformat

from autograder import paths
from autograder.notebooks import is_setup, is_solution


@functools.lru_cache(maxsize=None)
def _namespace(slug):
    path = paths.notebook(paths.solutions_dir(), slug)
    if not path.exists():
        raise FileNotFoundError(f"no reference solution for {slug!r}: {path} is missing")
    nb = nbformat.read(path, as_version=4)
    namespace = {"__name__": f"reference_{slug.replace('-', '_')}"}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (is_setup(cell) or is_solution(cell)):
            exec(compile(cell.source, f"<reference {slug} cell {i}>", "exec"), namespace)
    return namespace


def reference(slug, name):
    """The reference solution's object called ``name`` (a function or class) in chapter ``slug``."""
    namespace = _namespace(slug)
    if name not in namespace:
        raise KeyError(f"the reference solution of {slug!r} defines no {name!r}")
    return namespace[name]
