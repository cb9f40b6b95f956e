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


def _resolve(path):
    """``"package.module:Class.method"`` -> the object (the function itself, unwrapped)."""
    module, _, qualname = path.partition(":")
    obj = importlib.import_module(module)
    for part in filter(None, qualname.split(".")):
        obj = getattr(obj, part)
    return inspect.unwrap(obj)


@contextlib.contextmanager
def refuse(functions, message, used):
    """Make each Python function in ``functions`` raise ``message`` (an AssertionError) for the
    length of the block; each refused call is logged in ``used``."""
    functions = [f for f in functions if inspect.isfunction(f) and not f.__code__.co_freevars]
    saved = [(f, f.__code__) for f in functions]
    modules, calls = {}, []
    for f in functions:  # the refusing code reads its message and log from the function's globals
        modules[id(f.__globals__)] = f.__globals__
    for g in modules.values():
        g["__refusal__"], g["__refused_calls__"] = message, calls
    code = _refusing_code()
    for f in functions:
        f.__code__ = code
    try:
        yield
    finally:
        for f, original in saved:
            f.__code__ = original
        for g in modules.values():
            g.pop("__refusal__", None)
            g.pop("__refused_calls__", None)
        used.extend("a refused function" for _ in calls)


def refuse_module(name, message, used):
    """``refuse`` every function and method of the course module ``name``."""
    if not name.startswith("dlcourse."):
        raise ValueError(f"only the course's own modules can be refused whole, not {name!r}")
    return refuse(_functions(importlib.import_module(name)), message, used)


def refuse_paths(paths, message, used):
    """``refuse`` the functions named ``"module:qualified.name"`` (a library's own version of an
    exercise: ``"scipy.signal:correlate2d"``, ``"sklearn.neural_network:MLPClassifier.fit"``);
    a library that is not installed has nothing to refuse."""
    functions = []
    for path in paths:
        try:
            functions.append(_resolve(path))
        except (ImportError, AttributeError):
            pass
    return refuse(functions, message, used)
