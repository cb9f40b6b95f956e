"""The sandbox a student's kernel runs in, and the limits around it. Sandboxing lives here only.

On Linux the kernel runs under bubblewrap: no network, a read-only system holding only what
Python and the course library need (the interpreter, the virtual environment, ``dlcourse/``),
one writable scratch folder, its own process tree that dies with it, as an unprivileged user.
``solutions/``, ``autograder/``, the gradebook and other students' folders are not mounted at
all. Memory and processes are bounded by a cgroup for the whole sandbox when the machine lets
us make one (it counts every process and leaves CUDA working); on the CPU an address-space limit
on the kernel also makes one oversized allocation fail with MemoryError instead of a kill.
"""
import json
import os
import resource
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path

from autograder import paths

KERNEL_DIR = Path(__file__).resolve().parent / "sandboxed"
INSIDE_KERNEL_DIR = "/opt/dlcourse-kernel"
HOME = "/home/student"
MAX_PROCESSES = 256
SYSTEM_DIRS = ["/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc/alternatives", "/etc/fonts",
               "/etc/ld.so.cache", "/etc/localtime", "/etc/ssl/certs"]


class SandboxUnavailable(RuntimeError):
    pass


def bwrap():
    return shutil.which("bwrap")


def available():
    """Whether kernels can be sandboxed here (Linux with bubblewrap)."""
    return sys.platform.startswith("linux") and bwrap() is not None


def kernel_command(scratch, env, device, fds, sandboxed=True):
    """``(command, cwd, env)`` that start a student's kernel, its wire on the file descriptors ``fds``."""
    wire = [str(fd) for fd in fds]
    if not sandboxed:
        return [sys.executable, str(KERNEL_DIR / "kernel.py"), *wire], str(scratch), env
    if not available():
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: install Debian's `bubblewrap`, or grade "
                                 "with --no-sandbox (student code then runs unconfined)")
    cmd = [bwrap(), "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL",
           "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for d in SYSTEM_DIRS:
        cmd += ["--ro-bind-try", d, d]
    for d in sorted({sys.base_prefix, sys.prefix, os.path.dirname(sys.executable)}):
        cmd += ["--ro-bind", d, d]
    library = paths.course_root() / "dlcourse"  # the editable install puts the course root on sys.path
    cmd += ["--ro-bind", str(library), str(library), "--ro-bind", str(KERNEL_DIR), INSIDE_KERNEL_DIR,
            "--bind", str(scratch), HOME, "--chdir", HOME]
    if device != "cpu":  # the GPU's device files and driver details
        for dev in sorted(Path("/dev").glob("nvidia*")):
            cmd += ["--dev-bind", str(dev), str(dev)]
        cmd += ["--ro-bind-try", "/sys", "/sys", "--ro-bind-try", "/proc/driver/nvidia", "/proc/driver/nvidia"]
    cmd += ["--clearenv"]
    for key, value in sorted(dict(env, HOME=HOME, MPLCONFIGDIR="/tmp/matplotlib").items()):
        cmd += ["--setenv", key, value]
    return cmd + [sys.executable, f"{INSIDE_KERNEL_DIR}/kernel.py", *wire], str(scratch), None


# --- limits ---------------------------------------------------------------------------------

class Cgroup:
    """A cgroup (v1 memory + pids controllers, or v2) holding one student's sandbox."""

    def __init__(self, dirs):
        self.dirs = dirs  # {"memory": path, "pids": path} (v1) or {"unified": path} (v2)

    @classmethod
    def create(cls, memory_bytes, max_processes=MAX_PROCESSES):
        """A new cgroup with these limits, or None where this machine does not let us make one."""
        name = f"dlcourse-{uuid.uuid4().hex[:12]}"
        own = _own_cgroups()
        try:
            if "memory" in own and "pids" in own:
                dirs = {c: Path("/sys/fs/cgroup", c, own[c].lstrip("/"), name) for c in ("memory", "pids")}
                for d in dirs.values():
                    d.mkdir()
                if memory_bytes:
                    (dirs["memory"] / "memory.limit_in_bytes").write_text(str(int(memory_bytes)))
                (dirs["pids"] / "pids.max").write_text(str(max_processes))
                return cls(dirs)
            if "" in own:
                d = Path("/sys/fs/cgroup", own[""].lstrip("/"), name)
                d.mkdir()
                if memory_bytes:
                    (d / "memory.max").write_text(str(int(memory_bytes)))
                    (d / "memory.swap.max").write_text("0")
                (d / "pids.max").write_text(str(max_processes))
                return cls({"unified": d})
        except OSError:
            return None
        return None

    def record(self, path):
        """Note where this cgroup is, so the driver can clean up after a grader it had to kill."""
        Path(path).write_text(json.dumps({k: str(v) for k, v in self.dirs.items()}))

    @classmethod
    def remove_recorded(cls, path):
        """Kill what is left in the cgroup noted at ``path`` and remove it (nothing if none)."""
        try:
            dirs = {k: Path(v) for k, v in json.loads(Path(path).read_text()).items()}
        except (OSError, ValueError):
            return
        if all(d.name.startswith("dlcourse-") and str(d).startswith("/sys/fs/cgroup/") for d in dirs.values()):
            cls(dirs).remove()

    def procs_files(self):
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def enter(self):
        """Put the calling process in the cgroup (run in the child before it execs)."""
        for f in self.procs_files():
            f.write_text(str(os.getpid()))

    def out_of_memory(self):
        """Whether the kernel killed a process of this cgroup for going over its memory limit."""
        try:
            if "memory" in self.dirs:
                fields = (self.dirs["memory"] / "memory.oom_control").read_text().split()
                counts = dict(zip(fields[::2], fields[1::2]))
                if "oom_kill" in counts:
                    return int(counts["oom_kill"]) > 0
                return int((self.dirs["memory"] / "memory.failcnt").read_text()) > 0  # older kernels
            fields = (self.dirs["unified"] / "memory.events").read_text().split()
            return int(dict(zip(fields[::2], fields[1::2])).get("oom_kill", 0)) > 0
        except (OSError, ValueError):
            return False

    def kill(self):
        for f in self.procs_files():
            try:
                for pid in f.read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass

    def remove(self):
        self.kill()
        for d in self.dirs.values():
            for _ in range(50):  # the kernel may need a moment to let its killed processes go
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def _own_cgroups():
    """``{controller: path}`` of this process's cgroups, writable ones only ("" is cgroup v2)."""
    found = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            base = Path("/sys/fs/cgroup", c) if c else Path("/sys/fs/cgroup")
            if os.access(base / path.lstrip("/"), os.W_OK):
                found[c] = path
    return found


def preexec(cgroup, address_space_bytes):
    """What the kernel's process does before it starts: join the cgroup, cap its address space."""
    def apply():
        if cgroup is not None:
            cgroup.enter()
        if address_space_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (address_space_bytes, address_space_bytes))
    return apply
