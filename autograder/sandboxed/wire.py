"""The wire between the trusted grader and the student's sandboxed kernel: plain data only.

Both processes run this file (the kernel imports it by path, without the autograder package).
Messages are length-prefixed JSON. Numbers, strings, None, lists, tuples, dicts, slices, numpy
arrays and scalars, torch tensors, dtypes, devices and random generators (their state) travel as values; decoding them builds
arrays from bytes and never runs code (no pickle). Anything else stays where it lives and travels
as a *reference*: the other side gets a ``Remote`` whose calls, attribute reads, iteration and
arithmetic are sent back as requests. Either side may make requests while it waits for a reply
(the kernel calls a grader function passed to student code, say), so ``Peer.request`` serves
the other side's requests until its own reply comes.
"""
import base64
import json
import math
import operator
import os
import select
import struct
import sys
import time
import traceback

MAX_MESSAGE = 256 * 1024 ** 2   # bytes: a bigger message is refused, not read
MAX_DEPTH = 64                  # nesting of lists and dicts in one value
NUMERIC = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "float16", "float32", "float64", "complex64", "complex128"}
TORCH_DTYPES = NUMERIC - {"uint16", "uint32", "uint64"} | {"bfloat16"}
TRUSTED_MODULES = ("builtins", "numpy", "torch", "collections")
BINARY = {name: getattr(operator, name) for name in
          ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul")}
UNARY = {"neg": operator.neg, "pos": operator.pos, "abs": operator.abs}


class WireError(Exception):
    """A message that is not what the protocol allows."""


class OutOfTurn(WireError):
    """An answer to a request that was not asked (something wrote to the wire itself)."""


class PeerGone(Exception):
    """The other side closed the wire (the kernel died, or the grader went away)."""


class Timeout(Exception):
    """No reply before the deadline."""


class RemoteError(Exception):
    """An exception raised on the other side; ``remote_type`` names its class there and
    ``frames`` the functions it passed through, innermost last."""
    remote_type = "Exception"
    frames = ()


# --- values ---------------------------------------------------------------------------------

def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _unb64(text):
    return base64.b64decode(text.encode("ascii"), validate=True)


def encode(obj, export, depth=0):
    """``obj`` as JSON-able data; ``export(obj)`` makes a reference for anything that is not data."""
    if depth > MAX_DEPTH:
        raise WireError("a value nested too deeply to send")
    if obj is None or isinstance(obj, (bool, str)) or type(obj) in (int, float):
        return obj
    if issubclass(type(obj), Remote):
        return {k: v for k, v in object.__getattribute__(obj, "_ref").items()}  # back to where it lives
    if isinstance(obj, int) and type(obj).__module__ == "builtins":
        return int(obj)
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(obj, np.ndarray) and obj.dtype.name in NUMERIC:
            a = np.array(obj, order="C", copy=True)  # (ascontiguousarray makes a 0-d array 1-d)
            return {"$t": "nd", "dtype": a.dtype.name, "shape": list(a.shape), "b": _b64(a.tobytes())}
        if isinstance(obj, np.generic) and obj.dtype.name in NUMERIC:
            return {"$t": "np", "v": encode(np.asarray(obj), export, depth + 1)}
        if isinstance(obj, np.dtype):
            return {"$t": "npdtype", "v": obj.name}
        if isinstance(obj, np.random.Generator):
            return export(obj)
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(obj, torch.Tensor) and obj.grad_fn is not None:
            return export(obj)  # its autograd graph lives here: backward() must run here too
        if isinstance(obj, torch.Tensor) and str(obj.dtype)[6:] in TORCH_DTYPES and obj.layout == torch.strided:
            return _encode_tensor(obj, torch, export, depth)
        if isinstance(obj, torch.device):
            return {"$t": "device", "v": str(obj)}
        if isinstance(obj, torch.dtype):
            return {"$t": "dtype", "v": str(obj)[6:]}
        if isinstance(obj, torch.Size):
            return {"$t": "tuple", "v": [int(n) for n in obj]}
        if isinstance(obj, torch.Generator):  # its state travels; a changed state comes back
            return {"$t": "tgen", "device": str(obj.device), "state": _encode_tensor(obj.get_state(), torch, export, depth)}
    if isinstance(obj, float) and type(obj).__module__ == "builtins":
        return float(obj)
    if type(obj) in (list, tuple) or (isinstance(obj, tuple) and hasattr(obj, "_fields")):
        items = [encode(o, export, depth + 1) for o in obj]
        return items if type(obj) is list else {"$t": "tuple", "v": items}
    if isinstance(obj, dict) and type(obj).__module__ in ("builtins", "collections"):
        return {"$t": "dict", "v": [[encode(k, export, depth + 1), encode(v, export, depth + 1)]
                                    for k, v in obj.items()]}
    if type(obj) is slice:
        return {"$t": "slice", "v": [encode(x, export, depth + 1) for x in (obj.start, obj.stop, obj.step)]}
    if obj is Ellipsis:
        return {"$t": "ellipsis"}
    if type(obj) is bytes:
        return {"$t": "bytes", "b": _b64(obj)}
    return export(obj)


def _encode_tensor(t, torch, export, depth):
    d = t.detach()
    name = str(d.dtype)[6:]
    raw = d.cpu().contiguous()
    if name == "bfloat16":
        raw = raw.view(torch.int16)
    out = {"$t": "tensor", "dtype": name, "shape": list(d.shape), "device": str(d.device),
           "b": _b64(raw.numpy().tobytes()), "rg": bool(t.requires_grad)}
    if t.requires_grad and t.grad is not None:  # a parameter travels with its gradient
        out["grad"] = encode(t.grad, export, depth + 1)
    return out


def decode(data, resolve, depth=0):
    """The value that ``encode`` sent; ``resolve(ref)`` turns a reference into an object."""
    if depth > MAX_DEPTH:
        raise WireError("a value nested too deeply")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(x, resolve, depth + 1) for x in data]
    if not isinstance(data, dict):
        raise WireError(f"unexpected {type(data).__name__} on the wire")
    tag = data.get("$t")
    if tag == "tuple":
        return tuple(decode(x, resolve, depth + 1) for x in data["v"])
    if tag == "dict":
        return {_hashable(decode(k, resolve, depth + 1)): decode(v, resolve, depth + 1) for k, v in data["v"]}
    if tag == "nd":
        return _array(data)
    if tag == "np":
        return _array(data["v"])[()]
    if tag == "npdtype":
        import numpy as np
        if data["v"] not in NUMERIC:
            raise WireError(f"dtype {data['v']!r} is not allowed")
        return np.dtype(data["v"])
    if tag == "tensor":
        return _tensor(data, resolve, depth)
    if tag == "device":
        import torch
        return torch.device(str(data["v"]))
    if tag == "dtype":
        import torch
        if data["v"] not in TORCH_DTYPES:
            raise WireError(f"dtype {data['v']!r} is not allowed")
        return getattr(torch, data["v"])
    if tag == "slice":
        return slice(*(decode(x, resolve, depth + 1) for x in data["v"]))
    if tag == "ellipsis":
        return Ellipsis
    if tag == "bytes":
        return _unb64(data["b"])
    if tag == "tgen":
        import torch
        state = decode(data["state"], resolve, depth + 1)
        if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8:
            raise WireError("a random generator's state is a uint8 tensor")
        g = torch.Generator(str(data["device"]) if torch.cuda.is_available() else "cpu")
        g.set_state(state.cpu())
        return g
    if tag == "ref":
        return resolve(data)
    raise WireError(f"unknown value tag {tag!r}")


def _hashable(key):
    try:
        hash(key)
    except TypeError:
        raise WireError("a dict key that cannot be hashed") from None
    return key


def _array(data):
    import numpy as np
    dtype = data["dtype"]
    if dtype not in NUMERIC:
        raise WireError(f"dtype {dtype!r} is not allowed")
    shape = tuple(int(n) for n in data["shape"])
    raw = _unb64(data["b"])
    if any(n < 0 for n in shape) or math.prod(shape) * np.dtype(dtype).itemsize != len(raw):
        raise WireError("an array whose bytes do not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _tensor(data, resolve, depth):
    import torch
    dtype = data["dtype"]
    if dtype not in TORCH_DTYPES:
        raise WireError(f"dtype {dtype!r} is not allowed")
    stored = "int16" if dtype == "bfloat16" else dtype
    t = torch.from_numpy(_array({"dtype": stored, "shape": data["shape"], "b": data["b"]}))
    if dtype == "bfloat16":
        t = t.view(torch.bfloat16)
    device = torch.device(str(data["device"]))
    if device.type != "cpu" and not torch.cuda.is_available():
        device = torch.device("cpu")
    t = t.to(device)
    if data.get("rg") and t.is_floating_point():
        t.requires_grad_(True)
        if "grad" in data:
            t.grad = decode(data["grad"], resolve, depth + 1)
    return t


def leaves(obj):
    """The values inside nested lists, tuples and dicts, in one fixed order: the grader and the
    kernel both use it to name the array arguments a call changed in place."""
    if isinstance(obj, (tuple, list)):
        for o in obj:
            yield from leaves(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from leaves(o)
    else:
        yield obj


# --- messages -------------------------------------------------------------------------------

def write_message(fd, message):
    body = json.dumps(message, allow_nan=True, separators=(",", ":")).encode("utf-8")
    payload = struct.pack(">Q", len(body)) + body
    view = memoryview(payload)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_message(fd, deadline=None):
    size = struct.unpack(">Q", _read_exact(fd, 8, deadline))[0]
    if size > MAX_MESSAGE:
        raise WireError(f"a message of {size} bytes is over the limit")
    try:
        return json.loads(_read_exact(fd, size, deadline))
    except (ValueError, RecursionError) as err:
        raise WireError(f"a message that is not valid JSON: {err}") from None


def _read_exact(fd, n, deadline):
    chunks, left = [], n
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise Timeout()
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise PeerGone()
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# --- the two ends ---------------------------------------------------------------------------

class Remote:
    """An object that lives on the other side. Calls, attribute reads, iteration, indexing and
    arithmetic are forwarded; comparisons, truth and conversions are not (an object that claims
    to equal anything claims it only where it lives)."""
    __slots__ = ("_peer", "_ref", "__weakref__")

    def __init__(self, peer, ref):
        object.__setattr__(self, "_peer", peer)
        object.__setattr__(self, "_ref", ref)

    @property
    def __class__(self):  # isinstance(model, nn.Module) holds for a remote torch module
        return self._peer.trusted_class(self._ref) or type(self)

    def __call__(self, *args, **kwargs):
        return self._peer.call(self, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__") and name not in ("__name__", "__qualname__"):
            raise AttributeError(name)
        return self._peer.ask("getattr", self, name)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot set {name!r} on an object of the other process")

    def __iter__(self):
        return iter(self._peer.ask("list", self))

    def __len__(self):
        return self._peer.ask("len", self)

    def __getitem__(self, key):
        return self._peer.ask("getitem", self, key)

    def __instancecheck__(self, obj):
        return self._peer.ask("isinstance", obj, self) if isinstance(obj, Remote) else False

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        return f"<{self._ref.get('type', 'object')} in the other process>"


def _binary(name, reflected=False):
    def method(self, other):
        a, b = (other, self) if reflected else (self, other)
        return self._peer.ask("binop", name, a, b)
    return method


for _name in BINARY:
    setattr(Remote, f"__{_name}__", _binary(_name))
    setattr(Remote, f"__r{_name}__", _binary(_name, reflected=True))
for _name in UNARY:
    setattr(Remote, f"__{_name}__", lambda self, _n=_name: self._peer.ask("unop", _n, self))


class Peer:
    """One end of the wire: its objects the other side holds references to, the other side's
    objects it holds as ``Remote``, and the request loop."""
    side = "?"
    private_attributes = False  # may the other side read attributes whose names start with _?

    def __init__(self, rfd, wfd):
        self.rfd, self.wfd = rfd, wfd
        self.exported, self._ids = {}, {}
        self.remotes = {}
        self.deadline = None
        self._asked = 0  # numbers our requests, so an answer out of turn is seen as one

    # references
    def export(self, obj):
        key = id(obj)
        if key not in self._ids:
            self._ids[key] = len(self.exported) + 1
            self.exported[self._ids[key]] = obj
        return {"$t": "ref", "side": self.side, "id": self._ids[key], **describe(obj)}

    def forget_exports(self):
        self.exported.clear()
        self._ids.clear()

    def resolve(self, ref):
        if ref.get("side") == self.side:  # one of ours, coming back
            try:
                return self.exported[int(ref["id"])]
            except KeyError:
                raise WireError("a reference to an object that is no longer available") from None
        key = int(ref["id"])
        if key not in self.remotes:
            self.remotes[key] = _remote_type(str(ref.get("type", "object")))(self, ref)
        return self.remotes[key]

    def trusted_class(self, ref):
        return None

    def encode(self, value):
        return encode(value, self.export)

    def decode(self, data):
        return decode(data, self.resolve)

    # requests
    def ask(self, op, *args):
        reply = self.request({"op": op, "args": self.encode(list(args))})
        return self.decode(reply["value"])

    def call(self, target, args, kwargs):
        return self.ask("call", target, list(args), kwargs)

    def request(self, message):
        self._asked += 1
        number = self._asked
        write_message(self.wfd, dict(message, n=number))
        while True:
            incoming = read_message(self.rfd, self.deadline)
            if "reply" in incoming:
                if incoming.get("n") != number:
                    raise OutOfTurn("an answer to a question that was not asked")
                if "error" in incoming:
                    raise self.error(incoming["error"])
                return incoming
            write_message(self.wfd, self.serve(incoming))

    def error(self, info):
        return make_error(info)

    # serving the other side
    serves = ("call", "getattr", "list", "len", "getitem", "isinstance", "binop", "unop")

    def serve(self, message):
        answer = {"reply": True, "n": message.get("n")}
        try:
            op = message.get("op")
            if op not in self.serves:
                raise WireError(f"unknown request {op!r}")
            args = self.decode(message.get("args", []))
            return dict(answer, value=self.encode(getattr(self, "op_" + op)(*args)))
        except BaseException as err:  # every failure, SystemExit included, is an answer
            if isinstance(err, KeyboardInterrupt) and self.side == "g":
                raise
            return dict(answer, error=describe_error(err))

    def _local(self, target):
        if issubclass(type(target), Remote) or id(target) not in self._ids:
            raise WireError("that object does not live here")
        return target

    def op_call(self, target, args, kwargs):
        return self._local(target)(*args, **kwargs)

    def op_getattr(self, target, name):
        if name.startswith("_") and not self.private_attributes and name not in ("__name__", "__qualname__"):
            raise AttributeError(f"{name!r} is not readable from the other process")
        return getattr(self._local(target), name)

    def op_list(self, target):
        return list(self._local(target))

    def op_len(self, target):
        return len(self._local(target))

    def op_getitem(self, target, key):
        return self._local(target)[key]

    def op_isinstance(self, obj, cls):
        return isinstance(obj, self._local(cls))

    def op_binop(self, name, a, b):
        return BINARY[name](a, b)

    def op_unop(self, name, a):
        return UNARY[name](a)


def describe(obj):
    """What the other side may know of an object: its type's name, and the nearest class of a
    trusted library in its ancestry (so isinstance works for torch modules, say)."""
    cls = type(obj)
    trusted = next((c for c in cls.__mro__ if c.__module__.split(".")[0] in TRUSTED_MODULES
                    and c is not object), None)
    return {"type": getattr(cls, "__name__", "object"),
            "trusted": f"{trusted.__module__}:{trusted.__qualname__}" if trusted else None}


_REMOTE_TYPES = {}


def _remote_type(name):
    """A Remote subclass named after the remote object's type, so messages that print
    ``type(x).__name__`` name the student's class."""
    if not name.isidentifier():
        name = "object"
    if name not in _REMOTE_TYPES:
        _REMOTE_TYPES[name] = type(name, (Remote,), {"__slots__": ()})
    return _REMOTE_TYPES[name]


def describe_error(err):
    frames = [f.name for f in traceback.extract_tb(err.__traceback__)]
    return {"type": type(err).__name__, "message": str(err)[:4000], "frames": frames[-20:],
            "refused": [str(op) for op in getattr(err, "refused_ops", [])]}


ERROR_TYPES = {cls.__name__: cls for cls in (
    AssertionError, AttributeError, IndexError, KeyError, NameError, NotImplementedError, RuntimeError,
    TypeError, ValueError, ZeroDivisionError, OverflowError, FloatingPointError, ArithmeticError,
    LookupError, RecursionError, MemoryError, StopIteration, ImportError, ModuleNotFoundError)}


def make_error(info):
    """An exception like the one raised on the other side: a builtin type keeps its type (a
    student's NotImplementedError stays one); any other becomes a RemoteError."""
    name, message = str(info.get("type", "Exception")), str(info.get("message", ""))
    base = ERROR_TYPES.get(name)
    cls = type(name, (base, RemoteError), {}) if base else type(name, (RemoteError,), {})
    err = cls(message) if name != "KeyError" else cls(message.strip("'\""))
    err.remote_type = name
    err.frames = tuple(str(f) for f in info.get("frames", []))[-20:]
    return err
