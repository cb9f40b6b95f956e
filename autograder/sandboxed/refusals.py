"""Refusing the course's own implementation of what a part asks the student to write.

The course library (``dlcourse``) holds working versions of many exercises, for the book's pages:
``dlcourse.llm.bpe_train``, ``dlcourse.transformer.attention``... A student who imports one
(under any name) must not pass the part with it. While a ``refuse_module`` block is active,
every function and method defined in that module raises the refusal instead of running: their
code objects are swapped, so every reference to them, aliases included, is caught.

Both the grader (``autograder.checks``) and the sandboxed kernel use this file; the kernel
imports it by path, without the autograder package.
"""
import contextlib
import importlib
import inspect

_SOURCE = '''
def refused(*args, **kwargs):
    __refused_calls__.append(True)
    raise AssertionError(__refusal__)
'''


def _refusing_code():
    namespace = {}
    exec(compile(_SOURCE, "<refused>", "exec"), namespace)
    return namespace["refused"].__code__


def _functions(module):
    """The plain functions a module defines, its classes' methods included, unwrapped from
    decorators (a wrapper calls the function it wraps, which is what gets swapped)."""
    found = []
    for value in vars(module).values():
        members = vars(value).values() if inspect.isclass(value) and value.__module__ == module.__name__ else [value]
        for f in members:
            f = inspect.unwrap(f) if callable(f) else f
            if inspect.isfunction(f) and f.__module__ == module.__name__ and not f.__code__.co_freevars:
                found.append(f)
    return list({id(f): f for f in found}.values())


@contextlib.contextmanager
def refuse_module(name, message, used):
    """Make every function of the course module ``name`` raise ``message`` (an AssertionError)
    for the length of the block; each refused call appends to ``used``."""
    if not name.startswith("dlcourse."):
        raise ValueError(f"only the course's own modules can be refused, not {name!r}")
    module = importlib.import_module(name)
    functions = _functions(module)
    saved = [(f, f.__code__) for f in functions]
    calls = []
    module.__refusal__, module.__refused_calls__ = message, calls
    code = _refusing_code()
    for f in functions:
        f.__code__ = code
    try:
        yield
    finally:
        for f, original in saved:
            f.__code__ = original
        del module.__refusal__, module.__refused_calls__
        used.extend(name for _ in calls)
