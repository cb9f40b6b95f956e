"""The student's kernel: runs inside the sandbox and answers the grader over the wire.

``python kernel.py IN_FD OUT_FD`` runs the student's cells, one ``run_cell`` request each, in an
IPython shell (magics and ``get_ipython()`` work as in Jupyter), and answers the grader's calls
of the names those cells define. It holds nothing of the grader's: no reference solution, no
checks, no scores. What it sends back is data; whatever it claims is only what a student's
function returned.
"""
import contextlib
import importlib
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refusals  # noqa: E402
import wire  # noqa: E402  (sibling files: the autograder package is not in the sandbox)


class Kernel(wire.Peer):
    side = "k"
    private_attributes = True  # the grader may read any attribute of the student's objects
    serves = wire.Peer.serves + ("run_cell", "lookup")

    def __init__(self, rfd, wfd):
        super().__init__(rfd, wfd)
        from IPython.core.interactiveshell import InteractiveShell

        self.shell = InteractiveShell.instance()
        self.namespace = self.shell.user_ns

        self.moved = {}  # grader id -> the course model lent to this call, rebuilt here
        self.calls = 0

    def resolve(self, ref):
        if ref.get("side") != self.side and isinstance(ref.get("moved"), dict):
            key = int(ref["id"])
            if key not in self.moved:
                spec = ref["moved"]
                if not str(spec["cls"]).startswith("dlcourse."):
                    raise wire.WireError("only the course's own models can move into the kernel")
                state = self.decode(spec["state"])
                model = resolve_path(spec["cls"])(**self.decode(spec.get("config") or {"$t": "dict", "v": []}))
                tensors = [t for t in state.values() if t.is_floating_point()]
                if tensors:  # the lent model's dtype and device, not the class's defaults
                    model.to(device=tensors[0].device, dtype=tensors[0].dtype)
                model.load_state_dict(state)
                model.train(bool(spec["training"]))
                self.moved[key] = model
            return self.moved[key]
        return super().resolve(ref)

    def serve(self, message):
        if not self.calls and message.get("op") == "call":
            self.moved = {}  # models lent to the previous call went back with its answer
        return super().serve(message)

    def export(self, obj):
        for key, model in self.moved.items():
            if model is obj:  # a lent model goes back as the grader's own object
                return {"$t": "ref", "side": "g", "id": key, **wire.describe(obj)}
        return super().export(obj)

    def op_run_cell(self, source):
        result = self.shell.run_cell(source, store_history=True)
        err = result.error_before_exec or result.error_in_exec
        return None if err is None else f"{type(err).__name__}: {err}"

    def op_lookup(self, names):
        """The student's objects called ``names`` (absent names are left out)."""
        return {n: self.namespace[n] for n in names if n in self.namespace and not n.startswith("_")}

    def op_call(self, target, args, kwargs, context=None):
        if context is None:
            return super().op_call(target, args, kwargs)
        return self.call_in_context(target, args, kwargs, context)

    def call_in_context(self, target, args, kwargs, context):
        """Call student code as if it ran in the grader: the grader's random states, grad mode,
        numpy error settings and refusals apply, and what changed comes back with the result."""
        self._local(target)
        self.calls += 1
        try:
            return self._call_in_context(target, args, kwargs, context)
        finally:
            self.calls -= 1

    def _call_in_context(self, target, args, kwargs, context):
        restore_rng(context.get("rng", {}))
        before = [snapshot(x) for x in wire.leaves((args, kwargs))]
        refused = []
        with contextlib.ExitStack() as stack:
            caught = stack.enter_context(warnings.catch_warnings(record=True))
            warnings.simplefilter("always")
            np = sys.modules.get("numpy")
            if np is not None and context.get("np_err"):
                stack.enter_context(np.errstate(**context["np_err"]))
            if "grad" in context and "torch" in sys.modules:
                stack.enter_context(sys.modules["torch"].set_grad_enabled(bool(context["grad"])))
            for rule in context.get("rules", []):
                stack.enter_context(apply_rule(rule, refused))
            try:
                value = target(*args, **kwargs)
            except BaseException as err:
                err.refused_ops = refused  # the grader's check must know, even when the call failed
                raise
        changed = {i: x for i, (x, b) in enumerate(zip(wire.leaves((args, kwargs)), before))
                   if b is not None and not same(x, b)}
        moved = {key: (dict(m.state_dict()), str(next(m.parameters(), torch_cpu()).device), m.training,
                       [p.requires_grad for p in m.parameters()])
                 for key, m in self.moved.items()}
        return {"value": value, "changed": changed, "rng": rng_state(context.get("rng", {})), "moved": moved,
                "warnings": [[w.category.__name__, str(w.message)] for w in caught], "refused": refused}


# --- what travels with a call ---------------------------------------------------------------

def torch_cpu():
    import torch
    return torch.zeros(0)


def snapshot(x):
    np, torch = sys.modules.get("numpy"), sys.modules.get("torch")
    if np is not None and isinstance(x, np.ndarray):
        return x.copy()
    if torch is not None and isinstance(x, torch.Tensor):  # its flags too: x.requires_grad_() changes x
        return ("tensor", x.detach().clone(), x.requires_grad, x.grad is None)
    if torch is not None and isinstance(x, torch.Generator):
        return x.get_state()
    return None


def same(x, before):
    np = sys.modules["numpy"]
    if isinstance(before, tuple) and before[:1] == ("tensor",):
        _, before, requires_grad, no_grad = before
        if x.requires_grad != requires_grad or (x.grad is None) != no_grad:
            return False
    if hasattr(x, "get_state") and hasattr(x, "manual_seed"):  # a torch generator: compare states
        x = x.get_state()
    if hasattr(x, "detach"):
        x, before = x.detach().cpu().numpy(), before.cpu().numpy()
    return x.shape == before.shape and np.array_equal(x, before, equal_nan=True)


def rng_state(wanted):
    """The global random states the grader asked to share, as they are now."""
    state = {}
    if "numpy" in wanted:
        state["numpy"] = sys.modules["numpy"].random.get_state()
    if "python" in wanted:
        import random
        state["python"] = random.getstate()
    if "torch" in wanted:
        import torch
        state["torch"] = torch.get_rng_state()
        if "cuda" in wanted and torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state):
    if "numpy" in state:
        import numpy as np
        np.random.set_state(tuple(state["numpy"]))
    if "python" in state:
        import random
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "torch" in state:
        import torch
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def apply_rule(rule, refused):
    """A refusal the grader's checks asked for (checks.forbidden, checks.call_without_ops)."""
    if rule["kind"] == "attributes":
        saved = []

        def refuse(*args, **kwargs):
            raise AssertionError(rule["message"])
        for owner_path, name in rule["targets"]:
            owner = resolve_path(owner_path)
            saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, refuse)
        try:
            yield
        finally:
            for owner, name, original in saved:
                setattr(owner, name, original)
    elif rule["kind"] == "ops":
        import re

        from torch.utils._python_dispatch import TorchDispatchMode
        pattern = re.compile(rule["pattern"])

        class Refuse(TorchDispatchMode):
            def __torch_dispatch__(self, op, types, args=(), kwargs=None):
                name = op.overloadpacket.__name__
                if pattern.search(name):
                    refused.append(name)
                    raise RuntimeError(f"torch's {name} is not allowed here")
                return op(*args, **(kwargs or {}))
        with Refuse():
            yield
    elif rule["kind"] == "op_budget":
        from torch.utils._python_dispatch import TorchDispatchMode
        limit = int(rule["limit"])

        class Count(TorchDispatchMode):
            count = 0

            def __torch_dispatch__(self, op, types, args=(), kwargs=None):
                self.count += 1
                if self.count > limit:
                    refused.append("op-budget")  # checks.OVER_BUDGET
                    raise RuntimeError(f"more than {limit} torch operations")
                return op(*args, **(kwargs or {}))
        with Count():
            yield
    elif rule["kind"] == "module":
        with refusals.refuse_module(str(rule["module"]), rule["message"], refused):
            yield
    elif rule["kind"] == "functions":
        with refusals.refuse_paths([str(p) for p in rule["paths"]], rule["message"], refused):
            yield
    else:
        raise wire.WireError(f"unknown rule {rule['kind']!r}")


def resolve_path(path):
    module, _, attr = path.partition(":")
    obj = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def preload():
    """Import the chapter's libraries before the student's first cell (``DLCOURSE_PRELOAD``, names
    separated by commas): a kernel started ahead of its student is then ready when they come, and
    their own imports find the modules loaded. Only sys.modules changes: no name is defined."""
    for name in filter(None, os.environ.pop("DLCOURSE_PRELOAD", "").split(",")):
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def main(argv):
    rfd, wfd = int(argv[0]), int(argv[1])
    preload()
    kernel = Kernel(rfd, wfd)
    wire.write_message(wfd, {"ready": True, "pid": os.getpid()})
    while True:
        try:
            message = wire.read_message(rfd)
        except wire.PeerGone:
            return
        wire.write_message(wfd, kernel.serve(message))


if __name__ == "__main__":
    main(sys.argv[1:])
