"""autograder.checks: every helper must fail on a wrong answer, with a message that helps."""
import numpy as np
import pytest
import torch

from autograder import checks


def test_tolerances_come_from_one_table_and_gpu_float32_is_looser():
    assert checks.tolerance("float64") == checks.TOLERANCES[("float64", "cpu")]
    assert checks.tolerance(torch.float32, "cuda:0") > checks.tolerance(torch.float32, "cpu")
    assert checks.tolerance("int64") == checks.tolerance("float64")


def test_assert_close_accepts_equal_values_and_lists():
    checks.assert_close(np.array([1.0, 2.0]), [1.0, 2.0 + 1e-12])
    checks.assert_close(torch.tensor([0.5]), np.array([0.5]))


def test_assert_close_reports_shape_mismatch():
    with pytest.raises(AssertionError, match=r"f\(x\): expected shape \(3,\), got shape \(3, 1\)"):
        checks.assert_close(np.zeros((3, 1)), np.zeros(3), what="f(x)")


def test_assert_close_reports_values_and_hint():
    with pytest.raises(AssertionError) as err:
        checks.assert_close(np.array([1.0, 5.0]), np.array([1.0, 2.0]), what="g(x)", hint="look at the bias")
    text = str(err.value)
    assert "1 of 2 values differ" in text and "at index (1,) expected 2, got 5" in text
    assert text.endswith("Hint: look at the bias")


def test_assert_close_points_out_nan():
    with pytest.raises(AssertionError, match="nan or inf"):
        checks.assert_close(np.array([np.nan]), np.array([1.0]))


def test_assert_close_catches_a_missing_return():
    with pytest.raises(AssertionError, match="forget a `return`"):
        checks.assert_close(None, np.zeros(2))


def test_float32_results_get_the_float32_tolerance():
    checks.assert_close(np.float32(1.0) + np.float32(1e-6), 1.0)  # fine in float32
    with pytest.raises(AssertionError):
        checks.assert_close(1.0 + 1e-6, 1.0)  # not in float64


def test_assert_equal_on_shapes_and_arrays():
    checks.assert_equal((2,), (2,))
    with pytest.raises(AssertionError, match=r"expected \(2,\), got \(3,\)"):
        checks.assert_equal((3,), (2,), what="shape")
    with pytest.raises(AssertionError, match="expected an array of shape"):
        checks.assert_equal(np.array([1, 2]), np.array([1, 3]))


def test_assert_equal_with_an_integer_wants_an_integer():
    checks.assert_equal(26, 26)
    checks.assert_equal(np.int64(26), 26)
    checks.assert_equal(26, np.int64(26))
    with pytest.raises(AssertionError, match=r"count: expected the integer 26, got a float 26\.0"):
        checks.assert_equal(26.0, 26, what="count")
    with pytest.raises(AssertionError, match=r"expected the integer 26, got an array of shape \(1,\)"):
        checks.assert_equal(np.array([26]), 26)
    with pytest.raises(AssertionError, match=r"expected the integer 26, got a numpy float64"):
        checks.assert_equal(np.float64(26), 26)
    with pytest.raises(AssertionError, match="expected the integer 1, got a bool"):
        checks.assert_equal(True, 1)
    with pytest.raises(AssertionError, match="forget a `return`"):
        checks.assert_equal(None, 26)
    checks.assert_equal(2.5, 2.5)  # other scalars: plain equality, as before


def test_call_turns_not_implemented_into_a_clear_message():
    def relu(x):
        raise NotImplementedError()

    with pytest.raises(checks.NotImplementedYet, match="relu is not implemented yet"):
        checks.call(relu, np.zeros(2))


def test_call_names_the_failing_call():
    def f(x):
        return x @ np.ones(5)

    with pytest.raises(AssertionError, match=r"f\(\[0\., 0\.\]\) raised ValueError"):
        checks.call(f, np.zeros(2))


def test_call_silences_warnings(recwarn):
    checks.call(lambda x: np.exp(x), np.array([1000.0]))
    assert len(recwarn) == 0


def test_call_without_warnings_fails_on_overflow():
    with pytest.raises(AssertionError, match="overflow encountered in exp.*\nHint: stable"):
        checks.call_without_warnings(lambda x: 1 / (1 + np.exp(-x)), np.array([-1000.0]), hint="stable")
    checks.call_without_warnings(lambda x: np.exp(-np.abs(x)), np.array([-1000.0]))  # underflow is fine


def test_compare_accepts_a_different_correct_implementation():
    loop = lambda x: np.array([max(v, 0.0) for v in x])  # noqa: E731
    checks.compare(loop, lambda x: np.maximum(x, 0), [(np.array([-1.0, 2.0]),), (np.zeros(3),)])


def test_compare_catches_in_place_changes():
    def inplace(x):
        x[x < 0] = 0
        return x

    with pytest.raises(AssertionError, match="changed its input array in place"):
        checks.compare(inplace, lambda x: np.maximum(x, 0), [(np.array([-1.0, 2.0]),)])


def test_compare_checks_tuples_element_by_element_and_kwargs():
    ref = lambda z, axis=-1: (z.sum(axis=axis), z.max(axis=axis))  # noqa: E731
    wrong = lambda z, axis=-1: (z.sum(), z.max(axis=axis))  # noqa: E731
    checks.compare(ref, ref, [dict(z=np.ones((2, 3)), axis=0)])
    with pytest.raises(AssertionError, match="returned value 1: expected shape"):
        checks.compare(wrong, ref, [dict(z=np.ones((2, 3)), axis=0)])
    with pytest.raises(AssertionError, match="expected a tuple of 2 values"):
        checks.compare(lambda z, axis=-1: z, ref, [(np.ones(2),)])


def test_compare_wants_a_numpy_array_where_the_reference_returns_one():
    ref = lambda x: np.maximum(x, 0)  # noqa: E731
    as_list = lambda x: [max(v, 0.0) for v in x]  # noqa: E731
    as_tensor = lambda x: torch.relu(torch.as_tensor(x))  # noqa: E731
    with pytest.raises(AssertionError, match="returned a list: return a numpy array"):
        checks.compare(as_list, ref, [(np.array([-1.0, 2.0]),)])
    with pytest.raises(AssertionError, match="returned a Tensor: return a numpy array"):
        checks.compare(as_tensor, ref, [(np.array([-1.0, 2.0]),)])
    # scalars may come back as any number: float, numpy float, 0-d array
    checks.compare(lambda x: float(x.sum()), lambda x: x.sum(), [(np.ones(2),)])
    checks.compare(lambda x: np.array(x.sum()), lambda x: float(x.sum()), [(np.ones(2),)])


def test_compare_wants_numpy_arrays_inside_a_returned_tuple():
    ref = lambda x: (float(x.sum()), 2 * x)  # noqa: E731
    checks.compare(lambda x: (np.float32(x.sum()), x + x), ref, [(np.ones(2),)])
    with pytest.raises(AssertionError, match="returned value 2 returned a list: return a numpy array"):
        checks.compare(lambda x: (float(x.sum()), (2 * x).tolist()), ref, [(np.ones(2),)])
    with pytest.raises(AssertionError, match="returned value 2 returned a Tensor: return a numpy array"):
        checks.compare(lambda x: (float(x.sum()), torch.as_tensor(2 * x)), ref, [(np.ones(2),)])


def test_expect_raises_its_message():
    checks.expect(True, "unused")
    with pytest.raises(AssertionError, match="^only 90%$"):
        checks.expect(False, "only 90%")


def test_rng_is_seeded():
    assert checks.rng(3).random() == checks.rng(3).random()


def test_call_swallows_stderr_so_nbgrader_does_not_zero_the_cell(capfd):
    import sys

    def noisy(x):
        print("progress 10%", file=sys.stderr)  # what a progress bar does
        return x

    checks.call(noisy, np.zeros(1))
    checks.call_without_warnings(noisy, np.zeros(1))
    assert capfd.readouterr().err == ""


def test_call_catches_in_place_changes_in_visible_tests_too():
    def clip(p):
        np.clip(p, 0.1, 0.9, out=p)
        return p

    with pytest.raises(AssertionError, match="changed its input array in place.*build a new array"):
        checks.call(clip, np.array([0.0, 1.0]))


def test_unfinished_helper_is_blamed_not_the_caller():
    def sigmoid(x):
        raise NotImplementedError()

    def tanh(x):
        return 2 * sigmoid(2 * x) - 1

    with pytest.raises(checks.NotImplementedYet, match=r"tanh\(.*\) calls sigmoid, which is not implemented yet"):
        checks.call(tanh, np.zeros(2))


def test_call_adds_the_hint_to_an_error():
    with pytest.raises(AssertionError, match=r"raised ValueError.*\nHint: is W transposed\?"):
        checks.call(lambda X, W: X @ W.T, np.ones((2, 3)), np.ones((3, 2)), hint="is W transposed?")


def test_messages_summarise_lists_of_arrays():
    layers = [(np.ones((30, 30)), np.ones(30)), (np.ones((30, 1)), np.ones(1))]
    with pytest.raises(AssertionError) as err:
        checks.compare(lambda X, p: X, lambda X, p: X + 1, [(np.zeros((2, 3)), layers)])
    assert "<list of 2 items>" in str(err.value) and len(str(err.value)) < 400


def test_forbidden_blocks_autograd_inside_and_restores_it_after():
    def uses_autograd():
        x = torch.ones(2, requires_grad=True)
        (x * x).sum().backward()
        return x.grad

    with checks.forbidden([(torch.Tensor, "backward")], "write your own backward code"):
        with pytest.raises(AssertionError, match="raised AssertionError: write your own backward code"):
            checks.call(uses_autograd, what="train()")
    assert torch.equal(uses_autograd(), torch.tensor([2.0, 2.0]))


def test_forbidden_module_refuses_the_course_version_by_any_name_and_restores_it_after():
    from dlcourse import llm
    from dlcourse.llm import bpe_train as renamed
    from dlcourse.transformer import MultiHeadAttention

    def quietly():
        try:
            return llm.generate(None, None, 0)  # a decorated function: the function it wraps is refused
        except AssertionError:
            return "swallowed"

    with pytest.raises(AssertionError, match="raised AssertionError: write it yourself"):
        with checks.forbidden_module("dlcourse.llm", "write it yourself"):
            checks.call(renamed, "ab ab", 1, what="bpe_train(...)")
    with pytest.raises(AssertionError, match="write it yourself"):
        with checks.forbidden_module("dlcourse.llm", "write it yourself"):
            assert checks.call(quietly) == "swallowed"
    assert renamed("ab ab", 1) == [(97, 98)] and not hasattr(llm, "__refusal__")
    with pytest.raises(AssertionError, match="your own attention"):  # methods of its classes too
        with checks.forbidden_module("dlcourse.transformer", "your own attention"):
            MultiHeadAttention(4, 2)(torch.ones(1, 3, 4))
    assert MultiHeadAttention(4, 2)(torch.ones(1, 3, 4)).shape == (1, 3, 4)


def test_forbidden_functions_refuses_library_versions_by_any_name():
    from scipy.signal import correlate2d as c2d
    from sklearn.neural_network import MLPClassifier

    x, k = np.ones((4, 4)), np.ones((2, 2))
    with pytest.raises(AssertionError, match="raised AssertionError: your own loops"):
        with checks.forbidden_functions(["scipy.signal:correlate2d", "no.such.module:f"], "your own loops"):
            checks.call(lambda: c2d(x, k, mode="valid"))
    with pytest.raises(AssertionError, match="your own backward"):  # a decorated method
        with checks.forbidden_functions(["sklearn.neural_network:MLPClassifier.fit"], "your own backward"):
            MLPClassifier(max_iter=1).fit(np.zeros((4, 2)), [0, 1, 0, 1])
    assert c2d(x, k, mode="valid").shape == (3, 3)


def test_numerical_gradient_tolerance_passes_central_and_fails_one_sided_differences():
    f, x, eps = (lambda v: np.sum(v ** 3)), np.array([0.5, 1.0, -2.0]), 1e-5
    e = np.eye(3) * eps
    central = np.array([(f(x + e[k]) - f(x - e[k])) / (2 * eps) for k in range(3)])
    one_sided = np.array([(f(x + e[k]) - f(x)) / eps for k in range(3)])
    checks.assert_close(central, 3 * x ** 2, **checks.NUMERICAL_GRADIENT)
    with pytest.raises(AssertionError):
        checks.assert_close(one_sided, 3 * x ** 2, **checks.NUMERICAL_GRADIENT)


@pytest.mark.parametrize("route", [
    lambda x, w: torch.nn.functional.conv2d(x, w),
    lambda x, w: torch.conv2d(x, w),
    lambda x, w: torch.ops.aten.convolution(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1),
], ids=["F.conv2d", "torch.conv2d", "aten.convolution"])
def test_call_without_ops_refuses_every_route_to_a_forbidden_op(route):
    x, w = torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3)
    with pytest.raises(AssertionError, match=r"conv\(\.\.\.\): build it yourself"):
        checks.call_without_ops(r"conv", "build it yourself", route, x, w, what="conv(...)")


def test_call_without_ops_sees_a_refusal_the_student_code_swallowed():
    def sneaky(x):
        try:
            return torch.nn.functional.max_pool2d(x, 2)
        except Exception:
            return x[:, :, ::2, ::2]

    with pytest.raises(AssertionError, match=r"pool\(\.\.\.\): write your own"):
        checks.call_without_ops(r"max_pool", "write your own", sneaky, torch.ones(1, 1, 4, 4), what="pool(...)")


def test_call_without_ops_lets_other_ops_through_and_returns_their_result():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    got = checks.call_without_ops(r"conv|max_pool", "no", lambda t: t.unfold(2, 2, 2).unfold(3, 2, 2).amax((-2, -1)), x)
    assert torch.equal(got, torch.nn.functional.max_pool2d(x, 2))


def test_call_without_ops_counts_operations_against_a_budget():
    def loop(t):
        return torch.stack([t[:, i] * 2 for i in range(t.shape[1])], dim=1)

    with pytest.raises(AssertionError, match=r"double\(\.\.\.\): vectorise it"):
        checks.call_without_ops(r"conv", "no", loop, torch.ones(2, 40), what="double(...)", max_ops=30,
                                too_many="vectorise it")
    assert torch.equal(checks.call_without_ops(r"conv", "no", lambda t: t * 2, torch.ones(2, 40), max_ops=30,
                                               too_many="vectorise it"), torch.full((2, 40), 2.0))
    # a forbidden op still gets its own message when both rules are in force
    with pytest.raises(AssertionError, match="build it yourself"):
        checks.call_without_ops(r"conv", "build it yourself", lambda x, w: torch.conv2d(x, w), torch.ones(1, 1, 4, 4),
                                torch.ones(1, 1, 3, 3), max_ops=30, too_many="vectorise it")


def test_call_refuses_a_function_that_changes_a_tensor_in_place():
    def relu_in_place(t):
        t[t < 0] = 0
        return t

    with pytest.raises(AssertionError, match="changed its input array in place"):
        checks.call(relu_in_place, torch.tensor([-1.0, 2.0]), what="relu(x)")
    assert torch.equal(checks.call(torch.relu, torch.tensor([-1.0, 2.0])), torch.tensor([0.0, 2.0]))


def test_the_tolerance_comes_from_where_the_values_were_computed():
    class OnGpu(torch.Tensor):  # stands for a cuda tensor: the GPU tolerance applies whatever `device` says
        @property
        def device(self):
            return torch.device("cuda:0")
    answer = torch.tensor([1.0 + 1e-3]).as_subclass(OnGpu)
    checks.assert_close(answer, torch.tensor([1.0]))
    with pytest.raises(AssertionError):
        checks.assert_close(torch.tensor([1.0 + 1e-3]), torch.tensor([1.0]))


def test_a_low_precision_answer_does_not_earn_a_looser_tolerance():
    one_percent_off = torch.tensor([1.01, 2.02], dtype=torch.bfloat16)
    with pytest.raises(AssertionError, match="values differ"):
        checks.assert_close(one_percent_off, np.array([1.0, 2.0]))
    checks.assert_close(np.float32([1.0, 2.0]) * (1 + 1e-6), np.array([1.0, 2.0]))  # float32 is fine
    checks.assert_close(one_percent_off, torch.tensor([1.0, 2.0], dtype=torch.bfloat16))  # asked for bf16


def test_objects_that_only_look_like_arrays_are_not_compared():
    class Duck:
        dtype = "float64"

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return np.array([1.0])
    assert checks.to_numpy(Duck()) is None
    with pytest.raises(AssertionError, match="expected an array"):
        checks.assert_close(Duck(), [1.0])
