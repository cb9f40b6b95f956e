"""The one way a hidden test reaches the reference solution.

Hidden tests call ``reference(slug, name)`` and never open ``solutions/`` themselves, so where
the reference runs can change (for example out of the student's kernel) without touching a
notebook. It executes the solution notebook's setup and solution cells in a fresh namespace
of its own, once per process: in grading, that is the trusted grader process, never the
student's kernel.
"""
import functools

from autograder import chapters


@functools.lru_cache(maxsize=None)
def _namespace(slug):
    namespace = {"__name__": f"reference_{slug.replace('-', '_')}"}
    for i, source in enumerate(chapters.setup_cells(slug) + chapters.solution_cells(slug)):
        exec(compile(source, f"<reference {slug} cell {i}>", "exec"), namespace)
    return namespace


def reference(slug, name):
    """The reference solution's object called ``name`` (a function or class) in chapter ``slug``."""
    namespace = _namespace(slug)
    if name not in namespace:
        raise KeyError(f"the reference solution of {slug!r} defines no {name!r}")
    return namespace[name]
