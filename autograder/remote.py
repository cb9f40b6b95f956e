"""The grader's end of the wire: a student's sandboxed kernel, and proxies for what it defines.

``StudentKernel`` starts the kernel (in the sandbox), runs the student's cells in it and looks
up the names a test cell uses. A student's function or class comes back as a proxy: calling it
sends the arguments as data and gets the result back as data (or as another proxy), and the
call runs as if it had run here: the grader's global random states and grad mode go with it and
come back, warnings come back as warnings, arrays the student changed in place are changed here
too (so ``checks.call`` sees it), and refusals asked for by ``checks`` apply in the kernel.
"""
import importlib
import os
import signal
import subprocess
import sys
import threading
import time
import types
import warnings
from pathlib import Path

from autograder import sandbox
from autograder.sandboxed import wire

INTERRUPT_GRACE_S = 5   # after an interrupt, how long the kernel has to answer before it is killed
START_TIMEOUT_S = 120   # importing IPython in a cold sandbox can take a while on a busy machine


# Both end the test cell whatever it catches: a check's ``except Exception`` must not turn them
# into an ordinary failure (they change the student's status, and the kernel may be gone).
class KernelDied(BaseException):
    """The student's kernel ended (its code exited, crashed, or it ran out of memory)."""

    def __init__(self, reason, out_of_memory=False):
        super().__init__(reason)
        self.out_of_memory = out_of_memory


class CellTimeout(BaseException):
    """Student code ran past the cell's time limit and was interrupted."""


class StudentKernel(wire.Peer):
    side = "g"
    # What student code may do with a grader object lent to it (a callback, a data loader, a
    # random generator): call it, iterate over it, index it, and read public attributes of the
    # few kinds of objects listed in ``readable``; never arithmetic, never a class or a module.
    serves = ("call", "list", "len", "getitem", "getattr")

    def __init__(self, scratch, device="cpu", threads=1, memory_bytes=0, sandboxed=True, preload=None):
        self.scratch = Path(scratch)
        # torch's random state goes with a call only where the chapter uses torch: a grader that
        # imported torch for an earlier student must not make this kernel import it mid-call.
        self.shares_torch = preload is None or any(name.split(".")[0] == "torch" for name in preload)
        preload = preload or ()
        self.cgroup = sandbox.Cgroup.create(memory_bytes) if sandboxed else None
        if self.cgroup is not None:
            self.cgroup.record(Path(scratch).parent / "cgroup.json")
        address_space = memory_bytes if device == "cpu" else 0  # an address-space cap breaks CUDA
        env = {"PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]),
               "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
               "NBGRADER_EXECUTION": "autograde", "DLCOURSE_DEVICE": device, "LANG": "C.UTF-8",
               "DLCOURSE_PRELOAD": ",".join(preload),
               **{k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
        for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "CUDA_VISIBLE_DEVICES"):
            if key in os.environ:
                env[key] = os.environ[key]
        if not sandboxed:
            env = dict(os.environ, **env)
        to_kernel_r, to_kernel_w = os.pipe()
        from_kernel_r, from_kernel_w = os.pipe()
        cmd, cwd, popen_env = sandbox.kernel_command(scratch, env, device, (to_kernel_r, from_kernel_w), sandboxed)
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=popen_env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     pass_fds=(to_kernel_r, from_kernel_w),
                                     preexec_fn=sandbox.preexec(self.cgroup, address_space), start_new_session=True)
        os.close(to_kernel_r)
        os.close(from_kernel_w)
        super().__init__(from_kernel_r, to_kernel_w)
        self.output = bytearray()  # the last bytes the student's code printed, for diagnostics
        threading.Thread(target=self._drain, daemon=True).start()
        self.call_timeout = None  # while a test cell runs: the seconds each call into student code may take
        self.calling = 0          # calls into student code in progress (a callback may nest one in another)
        self._depth = 0
        self.dead, self.out_of_memory = None, False
        try:
            wire.read_message(self.rfd, time.monotonic() + START_TIMEOUT_S)
        except (wire.PeerGone, wire.Timeout, wire.WireError):
            self.close()
            raise KernelDied("the kernel did not start: " + self.output_tail()) from None

    def _drain(self):
        try:
            for chunk in iter(lambda: self.proc.stdout.read1(65536), b""):
                self.output = (self.output + chunk)[-8192:]
        except (OSError, ValueError):  # closed by close()
            pass

    def output_tail(self):
        return bytes(self.output).decode("utf-8", "replace").strip()[-600:]

    # --- requests, with the limits -------------------------------------------------------------
    def request(self, message):
        if self.dead:
            raise KernelDied(self.dead, self.out_of_memory)
        outermost = self.call_timeout is not None and not self.calling
        if outermost:  # a test cell's call into student code: its own time limit
            from autograder import checks
            self.deadline = time.monotonic() + max(self.call_timeout, checks.call_seconds())
        self.calling += 1
        try:
            return super().request(message)
        except wire.Timeout:
            return self._interrupt(message)
        except wire.OutOfTurn:
            self.kill("the kernel stopped: it broke the grading protocol (the code wrote to the grader's pipe itself)")
            raise KernelDied(self.dead) from None
        except (wire.PeerGone, OSError):
            raise self._died() from None
        finally:
            self.calling -= 1
            if outermost:
                self.deadline = None

    def _interrupt(self, message):
        """Past the deadline: interrupt the student's code (KeyboardInterrupt), as Jupyter does."""
        for pid in self._kernel_pids():
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                pass
        self.deadline = time.monotonic() + INTERRUPT_GRACE_S
        try:
            while True:
                incoming = wire.read_message(self.rfd, self.deadline)
                if "reply" in incoming:
                    break
                wire.write_message(self.wfd, {"reply": True, "error": {"type": "KeyboardInterrupt",
                                                                          "message": "interrupted"}})
        except (wire.Timeout, wire.PeerGone, wire.WireError, OSError):
            self.kill("a cell ran past the time limit and did not stop when interrupted")
        raise CellTimeout()

    def _kernel_pids(self):
        """The kernel's processes: bwrap's descendants (bwrap itself does not pass signals on)."""
        pids, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        todo += [int(c) for c in f.read().split()]
            except OSError:
                pass
            pids.append(pid)
        return pids[1:] if len(pids) > 1 else pids

    def _died(self):
        self.out_of_memory = self.cgroup is not None and self.cgroup.out_of_memory()
        reason = ("the kernel ran out of memory (the memory limit) and was stopped" if self.out_of_memory
                  else "the kernel stopped (the code exited or crashed)")
        self.kill(reason)
        return KernelDied(reason, self.out_of_memory)

    def kill(self, reason):
        self.dead = self.dead or reason
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        if self.cgroup is not None:
            self.cgroup.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def close(self):
        self.kill(self.dead or "closed")
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.proc.stdout.close()
        if self.cgroup is not None:
            self.cgroup.remove()

    def export(self, obj):
        """A course model lent to student code (``dlcourse.models``) moves into the kernel for
        the call, as its class and weights; its trained weights come back after it."""
        if isinstance(obj, (type, types.ModuleType)):
            raise wire.WireError(f"{getattr(obj, '__name__', 'this object')} cannot be lent to student code")
        ref = super().export(obj)
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(obj, torch.nn.Module) and type(obj).__module__.startswith("dlcourse."):
            ref["moved"] = {"cls": f"{type(obj).__module__}:{type(obj).__qualname__}",
                            "config": self.encode(dict(getattr(obj, "config", {}))),
                            "state": self.encode(dict(obj.state_dict())), "training": obj.training}
        return ref

    def op_getattr(self, target, name):
        if not isinstance(self._local(target), readable()):
            raise AttributeError(f"student code cannot read attributes of a {type(target).__name__} it was given")
        return super().op_getattr(target, name)

    def op_call(self, target, args, kwargs):
        if isinstance(self._local(target), type):
            raise wire.WireError("student code cannot make objects of the grader's classes")
        return super().op_call(target, args, kwargs)

    def error(self, info):
        _note_refused(info.get("refused", []))
        if info.get("type") == "KeyboardInterrupt":
            return CellTimeout()
        if info.get("type") == "MemoryError":
            info = dict(info, message=info.get("message") or "the memory limit was reached")
        return wire.make_error(info)

    # --- what test cells use -------------------------------------------------------------------
    def run_cell(self, source, deadline):
        """Run one of the student's cells; returns the error it raised as text, or None."""
        self.deadline = deadline
        return self.ask("run_cell", source)

    def lookup(self, names):
        return self.ask("lookup", sorted(names))

    def trusted_class(self, ref):
        """The torch/numpy class a remote object derives from, for isinstance."""
        name = ref.get("trusted")
        if not isinstance(name, str) or name.split(".")[0] not in wire.TRUSTED_MODULES or ":" not in name:
            return None
        module, qualname = name.split(":")
        if module.split(".")[0] not in sys.modules:
            return None  # never import a library just because the student's object claims it
        try:
            obj = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            return None
        return obj if isinstance(obj, type) else None

    def call(self, target, args, kwargs):
        """Call student code with the grader's state, then bring back what it changed."""
        from autograder import checks

        self._depth += 1
        try:
            shared = {k: v for k, v in rng_state().items() if self.shares_torch or k not in ("torch", "cuda")}
            context = {"rng": shared, "rules": checks.active_rules(), "np_err": _np_errstate()}
            if "torch" in sys.modules:
                context["grad"] = sys.modules["torch"].is_grad_enabled()
            answer = self.ask("call", target, list(args), dict(kwargs), context)
        finally:
            self._depth -= 1
            self.exported_before_return = dict(self.exported)
            if not self._depth:  # grader objects lent to the student's code are lent for one call
                self.forget_exports()
        restore_rng(answer["rng"])
        for category, text in answer["warnings"]:
            warnings.warn(text, _warning_class(category), stacklevel=2)
        for key, (state, device, training, requires_grad) in answer["moved"].items():
            model = self.exported_before_return[int(key)]  # as the student's code left it
            model.to(device).load_state_dict(state)
            model.train(training)
            for parameter, flag in zip(model.parameters(), requires_grad):
                parameter.requires_grad_(flag)
        _note_refused(answer["refused"])
        arrays = list(wire.leaves((list(args), dict(kwargs))))
        for index, new in answer["changed"].items():
            _write_back(arrays[int(index)] if int(index) < len(arrays) else None, new)
        return answer["value"]


def _note_refused(ops):
    """Operations the kernel refused: the check that asked for the refusal reports them."""
    from autograder import checks
    for rule in checks.active_rules(objects=True):
        rule.used.extend(str(op) for op in ops)


def readable():
    """The kinds of grader objects whose public attributes student code may read: what the
    statements hand to student functions (a data loader and its dataset, a random generator)."""
    import numpy as np
    kinds = [np.random.Generator]
    if "torch" in sys.modules:
        from torch.utils.data import DataLoader, Dataset
        kinds += [DataLoader, Dataset]
    return tuple(kinds)



def rng_state():
    """The grader's global random states, to lend to student code for the length of a call."""
    import random

    import numpy as np
    state = {"numpy": np.random.get_state(), "python": random.getstate()}
    torch = sys.modules.get("torch")
    if torch is not None:
        state["torch"] = torch.get_rng_state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state):
    import random

    import numpy as np
    if "numpy" in state:
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((str(kind), np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(gauss)))
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    torch = sys.modules.get("torch")
    if torch is not None and "torch" in state:
        torch.set_rng_state(state["torch"].to("cpu", torch.uint8))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.to("cpu", torch.uint8) for s in state["cuda"]])


def _np_errstate():
    import numpy as np
    return np.geterr()


def _warning_class(name):
    import builtins
    cls = getattr(builtins, str(name), None)
    return cls if isinstance(cls, type) and issubclass(cls, Warning) else UserWarning


def _write_back(original, new):
    """Student code changed an array argument in place: change ours the same way."""
    import numpy as np
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(original, torch.Generator) and isinstance(new, torch.Generator):
        original.set_state(new.get_state())
        return
    if isinstance(original, np.ndarray) and not isinstance(new, wire.Remote):
        new = np.asarray(new.detach().cpu().numpy() if hasattr(new, "detach") else new)
        if new.shape == original.shape:
            original[...] = new
        else:  # it cannot be made to fit: make sure the change is still seen
            original[...] = np.nan if original.dtype.kind in "fc" else original.max(initial=0) + 1
    elif hasattr(original, "detach") and hasattr(new, "detach"):
        with __import__("torch").no_grad():
            if new.shape == original.shape:
                original.copy_(new.to(original.device, original.dtype))
            else:
                original.fill_(float("nan"))
        if original.is_leaf and original.requires_grad != new.requires_grad:  # x.requires_grad_() is a change too
            original.requires_grad_(new.requires_grad)
        if original.is_leaf and new.grad is not None and original.grad is None:
            original.grad = new.grad.detach().to(original.device, original.dtype)
