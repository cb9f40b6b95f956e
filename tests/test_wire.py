"""The wire between grader and kernel: values survive the trip, nothing decodes into code, and a
proxy behaves like the student's object for what tests do with it (and only for that)."""
import base64
import warnings

import numpy as np
import pytest
import torch

from autograder import checks
from autograder.remote import CellTimeout, KernelDied, StudentKernel
from autograder.sandboxed import wire


def roundtrip(value):
    exported = []
    data = wire.encode(value, lambda obj: exported.append(obj) or {"$t": "ref", "side": "k", "id": 1})
    return wire.decode(data, lambda ref: ("ref", exported[int(ref["id"]) - 1])), exported


@pytest.mark.parametrize("value", [
    None, True, 3, -2.5, float("inf"), "text", [1, [2.0, "x"]], (1, (2, 3)), {"a": 1, 2: (3,), (4, 5): None},
    np.float64(0.25), np.int64(-7), np.array(5.0), np.arange(6.0).reshape(2, 3)[:, ::2],
    np.array([[True, False]]), np.zeros((0, 3), dtype=np.float32), slice(1, None, 2), Ellipsis, b"\x00\xff",
    torch.tensor([[1.5, -2.0]]), torch.arange(4, dtype=torch.int64), torch.tensor(2.0, dtype=torch.bfloat16),
    torch.float16, torch.device("cpu"), np.dtype("int32"), torch.Size([2, 3]),
])
def test_plain_values_arrive_equal_with_their_type(value):
    back, exported = roundtrip(value)
    assert not exported
    if isinstance(value, torch.Size):
        assert back == tuple(value)
    elif isinstance(value, (np.ndarray, np.generic)):
        assert type(back) is type(value) and back.dtype == value.dtype and np.array_equal(back, value)
    elif isinstance(value, torch.Tensor):
        assert back.dtype == value.dtype and torch.equal(back, value)
    elif isinstance(value, float) and value != value:
        assert back != back
    else:
        assert back == value and type(back) is type(value)


def test_a_parameter_travels_with_its_gradient_and_a_graph_stays_where_it_lives():
    p = torch.nn.Parameter(torch.ones(2))
    (p * 3).sum().backward()
    back, _ = roundtrip(p)
    assert back.requires_grad and torch.equal(back.grad, torch.full((2,), 3.0))
    result, exported = roundtrip(p * 2)  # has a grad_fn: backward() must run where the graph is
    assert result[0] == "ref" and exported


def test_anything_else_is_a_reference_never_a_copy():
    class Liar:
        def __eq__(self, other):
            return True
    for value in [Liar(), object(), lambda x: x, np.array([Liar()], dtype=object), np.random.default_rng(0)]:
        back, exported = roundtrip(value)
        assert back[0] == "ref" and exported == [value]


@pytest.mark.parametrize("data", [
    {"$t": "nd", "dtype": "object", "shape": [1], "b": base64.b64encode(b"\0" * 8).decode()},
    {"$t": "nd", "dtype": "float64", "shape": [3], "b": base64.b64encode(b"\0" * 8).decode()},
    {"$t": "nd", "dtype": "V8", "shape": [1], "b": base64.b64encode(b"\0" * 8).decode()},
    {"$t": "tensor", "dtype": "qint8", "shape": [1], "b": "AA==", "device": "cpu"},
    {"$t": "pickle", "b": "gASVAAAAAAAAAAAu"},
    {"$t": "dict", "v": [[[1, 2], 3]]},
    {"no": "tag"},
])
def test_forged_values_are_refused(data):
    with pytest.raises(wire.WireError):
        wire.decode(data, lambda ref: None)


def test_deep_nesting_is_refused():
    deep = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(wire.WireError):
        wire.encode(deep, lambda obj: None)


STUDENT = '''
import numpy as np
import torch
from torch import nn

def relu(x):
    return np.maximum(x, 0)

def shift_in_place(x):
    x -= 1
    return x

def noisy(x):
    return np.exp(x)

def draw():
    return np.random.rand(), torch.rand(1)

def apply(f, x):
    return f(x) + 1

def loops():
    while True:
        pass

def takes(seconds):
    import time
    time.sleep(seconds)
    return seconds

class Liar:
    def __eq__(self, other):
        return True
    def __bool__(self):
        return True

def liar():
    return Liar()

def conv(x, w):
    return torch.nn.functional.conv2d(x, w)

def conv_quietly(x, w):
    try:
        return torch.nn.functional.conv2d(x, w)
    except RuntimeError:
        return torch.zeros(1)

def pixel_loop(x):
    out = torch.zeros_like(x)
    for i in range(x.shape[-1]):
        out[..., i] = x[..., i] * 2
    return out

def uses_autograd():
    t = torch.ones(2, requires_grad=True)
    (t * 2).sum().backward()
    return t.grad

def course_bpe(text):
    from dlcourse.llm import bpe_train as mine
    return mine(text, 1)

def draw_with(g):
    return torch.rand(3, generator=g)

def lent_model(model, idx):
    return type(model).__name__, model.config, str(next(model.parameters()).dtype), model(idx)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 1)
    def forward(self, x):
        return self.layer(x)
'''


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = StudentKernel(tmp_path_factory.mktemp("scratch"), memory_bytes=2 << 30)
    assert k.run_cell(STUDENT, None) is None
    yield k
    k.close()


def names(kernel, *wanted):
    found = kernel.lookup(wanted)
    return [found[n] for n in wanted]


def test_calls_return_data_and_in_place_changes_come_back(kernel):
    relu, shift = names(kernel, "relu", "shift_in_place")
    assert np.array_equal(relu(np.array([-1.0, 2.0])), [0.0, 2.0]) and relu.__name__ == "relu"
    x = np.array([1.0, 2.0])
    with pytest.raises(AssertionError, match="changed its input array in place"):
        checks.call(shift, x)


def test_warnings_random_state_and_callbacks_travel_with_a_call(kernel):
    noisy, draw, apply = names(kernel, "noisy", "draw", "apply")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        noisy(np.array([1000.0]))
    assert any("overflow" in str(w.message) for w in caught)
    np.random.seed(3)
    torch.manual_seed(3)
    first = draw()
    np.random.seed(3)
    torch.manual_seed(3)
    assert draw() == first  # the kernel drew from the grader's random state
    assert np.random.rand() != first[0]  # ... and the grader's state moved on with it
    assert np.array_equal(apply(lambda v: v * 10, np.array([1.0])), [11.0])


def test_a_random_generator_travels_by_state_and_comes_back_advanced(kernel):
    (draw_with,) = names(kernel, "draw_with")
    g = torch.Generator().manual_seed(5)
    first, second = checks.call(draw_with, g), checks.call(draw_with, g)
    expected = torch.Generator().manual_seed(5)
    assert torch.equal(first, torch.rand(3, generator=expected)) and torch.equal(second, torch.rand(3, generator=expected))
    assert torch.equal(g.get_state(), expected.get_state())


def test_a_lent_course_model_is_rebuilt_in_the_kernel_with_its_config_and_dtype(kernel):
    from dlcourse.transformer import TinyTransformer

    (lent_model,) = names(kernel, "lent_model")
    model = TinyTransformer(11, 9, d_model=8, n_heads=2, n_layers=1, causal=True).double().eval()
    idx = torch.randint(0, 11, (2, 5))
    name, config, dtype, out = lent_model(model, idx)
    assert name == "TinyTransformer" and config == model.config and dtype == "torch.float64"
    with torch.no_grad():
        assert torch.equal(out.detach(), model(idx))


def test_a_remote_module_passes_isinstance_and_keeps_its_identity(kernel):
    (Net,) = names(kernel, "Net")
    model = Net()
    assert isinstance(model, torch.nn.Module) and type(model).__name__ == "Net"
    assert model.eval() is model and not model.training
    assert sum(p.numel() for p in model.parameters()) == 3
    model.train()
    out = model(torch.ones(4, 2))
    out.square().mean().backward()  # runs in the kernel, where the graph is
    assert model.layer.weight.grad is not None
    with torch.no_grad():
        assert isinstance(model(torch.ones(4, 2)), torch.Tensor)  # no graph: plain data


def test_an_object_that_claims_to_equal_anything_claims_it_only_in_its_kernel(kernel):
    (liar,) = names(kernel, "liar")
    fake = liar()
    assert fake != 0 and not fake == [1.0] and checks.to_numpy(fake) is None
    with pytest.raises(AssertionError):
        checks.assert_close(fake, [1.0])
    with pytest.raises(TypeError):
        float(fake)


def test_refusals_asked_for_by_checks_apply_in_the_kernel(kernel):
    conv, conv_quietly, uses_autograd = names(kernel, "conv", "conv_quietly", "uses_autograd")
    x, w = torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)
    for student in (conv, conv_quietly):
        with pytest.raises(AssertionError, match="build it yourself"):
            checks.call_without_ops(r"conv", "build it yourself", student, x, w)
    assert torch.equal(checks.call(conv, x, w), torch.full((1, 1, 2, 2), 4.0))  # allowed elsewhere
    (pixel_loop,) = names(kernel, "pixel_loop")
    with pytest.raises(AssertionError, match="vectorise it"):
        checks.call_without_ops(r"conv", "no conv", pixel_loop, torch.ones(1, 50), max_ops=40, too_many="vectorise it")
    assert torch.equal(checks.call_without_ops(r"conv", "no conv", pixel_loop, torch.ones(1, 5), max_ops=40,
                                               too_many="vectorise it"), torch.full((1, 5), 2.0))
    with pytest.raises(AssertionError, match="no autograd here"):
        with checks.forbidden([(torch.Tensor, "backward")], "no autograd here"):
            checks.call(uses_autograd)
    assert torch.equal(uses_autograd(), torch.full((2,), 2.0))
    (course_bpe,) = names(kernel, "course_bpe")
    with pytest.raises(AssertionError, match="your own BPE"):
        with checks.forbidden_module("dlcourse.llm", "your own BPE"):
            checks.call(course_bpe, "ab ab")
    assert course_bpe("ab ab") == [(97, 98)]


def test_a_runaway_call_is_interrupted_and_the_kernel_keeps_going(kernel):
    loops, relu = names(kernel, "loops", "relu")
    kernel.deadline = __import__("time").monotonic() + 1
    with pytest.raises(CellTimeout):
        loops()
    kernel.deadline = None
    assert np.array_equal(relu(np.array([-3.0])), [0.0])


def test_in_a_test_cell_each_call_gets_the_time_limit_and_the_graders_own_work_does_not_count(kernel):
    import time

    loops, relu = names(kernel, "loops", "relu")
    kernel.call_timeout = 1.0
    try:
        time.sleep(1.5)  # the grader's own work, e.g. timing a reference training
        for _ in range(3):
            assert np.array_equal(relu(np.array([-3.0])), [0.0])
            time.sleep(0.4)
        start = time.monotonic()
        with pytest.raises(CellTimeout):
            loops()
        assert time.monotonic() - start < 1.0 + 5  # the limit, then the grace to stop
    finally:
        kernel.call_timeout = None
    assert kernel.deadline is None and np.array_equal(relu(np.array([-3.0])), [0.0])


def test_a_test_cell_can_give_a_training_call_more_time_than_the_cell_limit(kernel):
    (takes,) = names(kernel, "takes")
    kernel.call_timeout = 1.0
    try:
        with checks.allow_seconds(5):  # a training budget the test scaled up on a busy machine
            assert takes(1.5) == 1.5
        with pytest.raises(CellTimeout):
            takes(1.5)
    finally:
        kernel.call_timeout = None


def test_a_kernel_that_exits_is_reported_dead(tmp_path):
    k = StudentKernel(tmp_path)
    try:
        with pytest.raises(KernelDied):
            k.run_cell("import os\nos._exit(3)", None)
        with pytest.raises(KernelDied):
            k.lookup(["relu"])
    finally:
        k.close()


def test_a_chapter_without_torch_never_makes_its_kernel_import_torch(tmp_path):
    """The grader has torch loaded (here, always); a kernel for a numpy-only chapter is not sent
    torch's random state, so student code never imports torch by way of a call (which could fail
    on its own, say, with the memory of a student who used all of it)."""
    k = StudentKernel(tmp_path, preload=("numpy",))
    try:
        assert k.run_cell("import sys\ndef torch_loaded():\n    return 'torch' in sys.modules", None) is None
        (torch_loaded,) = names(k, "torch_loaded")
        assert torch_loaded() is False
    finally:
        k.close()
