"""Every op x every example it declares: gradients against finite differences (first and
second order), forward against the op's NumPy reference, float32 kept, no graph under no_grad.
Every op x every boundary case it declares: the exact value and gradient at 0, ±inf, NaN.
Every op x every example with integer inputs (signed and unsigned, small and over their whole
range): the reference on the same values in float64, and gradients beside an integer input.

The examples must include the kinds where mistakes hide: a size-0 dimension (every op), and
for an op working along an `axis`, an input of size 1 along that axis (broadcast there
against a larger input, if the op has several).

Adding an op class with `examples` is enough to have it tested here."""
import inspect

import numpy as np
import pytest

from minigrad import Tensor, gradcheck, gradgradcheck, no_grad
from minigrad.ops import ALL_OPS

CASES = [(op, i, ex) for op in ALL_OPS for i, ex in enumerate(op.examples)]
BOUNDARY = [(op, i, case) for op in ALL_OPS for i, case in enumerate(op.boundary)]


def make_inputs(example, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    low, high = example.domain
    return [Tensor(rng.uniform(low, high, size=s).astype(dtype), requires_grad=True) if isinstance(s, tuple) else s
            for s in example.shapes]


def call(op, example):
    return lambda *xs: op.apply(*xs, **example.params)


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda op: op.__name__)
def test_every_op_declares_examples_and_a_reference(op):
    assert op.examples, f"{op.__name__} has no examples: list some so the sweep can check its gradients"
    assert op.reference is not None, f"{op.__name__} has no NumPy reference formula for its forward"


def array_shapes(example):
    """The shapes of the example's array inputs, and of array settings that broadcast against them (masks)."""
    shapes = [s for s in example.shapes if isinstance(s, tuple)]
    return shapes + [v.shape for k, v in example.params.items() if isinstance(v, np.ndarray) and k in ("where", "mask")]


def works_along_an_axis(op):
    """An op is reduction-like when its forward takes `axis` for a fixed list of inputs
    (Concatenate and Stack take *xs: they join along an axis, they do not reduce it)."""
    parameters = inspect.signature(op.forward).parameters
    return "axis" in parameters and not any(p.kind is p.VAR_POSITIONAL for p in parameters.values())


def has_size_one_along_the_axis(op, example):
    """Some input has size 1 along the op's axis while the inputs' broadcast shape is larger
    there (or, with one input, is itself of size 1 there)."""
    axis = example.params.get("axis", inspect.signature(op.forward).parameters["axis"].default)
    shapes = array_shapes(example)
    full = np.broadcast_shapes(*shapes)
    axes = range(len(full)) if axis is None else np.atleast_1d(axis)
    for a in axes:
        sizes = [s[a] if -len(s) <= a < len(s) else 1 for s in shapes]
        if 1 in sizes and (len(shapes) == 1 or full[a] > 1):
            return True
    return False


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda op: op.__name__)
def test_every_op_declares_a_size_zero_example(op):
    assert any(0 in s for ex in op.examples for s in array_shapes(ex)), (
        f"{op.__name__} has no example with a size-0 dimension: add one, e.g. Example((0, 3))")


@pytest.mark.parametrize("op", [op for op in ALL_OPS if works_along_an_axis(op)], ids=lambda op: op.__name__)
def test_every_reduction_declares_size_one_along_its_axis(op):
    assert any(has_size_one_along_the_axis(op, ex) for ex in op.examples), (
        f"{op.__name__} works along an axis but no example has an input of size 1 there: add one that "
        "broadcasts along the reduced axis, e.g. Example((2, 1), (2, 4), axis=-1) (one input: Example((3, 1), axis=-1))")


def boundary_inputs(case):
    return [Tensor(np.asarray(x, dtype=np.float64), requires_grad=True) if isinstance(x, (list, np.ndarray))
            and np.asarray(x).dtype.kind == "f" else x for x in case.inputs]


def assert_same_values(actual, expected, what, signed_zeros=False):
    actual, expected = np.asarray(actual), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=0, err_msg=what)  # NaN matches NaN, inf inf
    zeros = expected == 0
    assert not signed_zeros or (np.signbit(actual[zeros]) == np.signbit(expected[zeros])).all(), (
        f"{what}: a zero has the wrong sign")


@pytest.mark.parametrize("op, i, case", BOUNDARY, ids=[f"{op.__name__}.{i}" for op, i, _ in BOUNDARY])
@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning",      # NumPy's own, on the
                            "ignore:Degrees of freedom <= 0:RuntimeWarning")  # empty cases it checks
def test_boundary_values_and_gradients(op, i, case):
    inputs = boundary_inputs(case)
    with np.errstate(all="ignore"):  # an exact inf at a boundary may come with NumPy's warning
        out = op.apply(*inputs, **case.params)
        if case.expected is not None:
            assert_same_values(out.data, case.expected, f"{op.__name__} {case}: value", signed_zeros=True)
        if case.grads is not None:
            upstream = np.ones(out.shape) if case.upstream is None else np.asarray(case.upstream, dtype=np.float64)
            out.backward(upstream)
            tensors = [x for x in inputs if isinstance(x, Tensor)]
            assert len(case.grads) == len(tensors), f"{op.__name__} {case}: one expected gradient per tensor input"
            for k, (x, expected) in enumerate(zip(tensors, case.grads)):
                if expected is not None:
                    assert_same_values(x.grad.data, expected, f"{op.__name__} {case}: gradient of tensor input {k}")


@pytest.mark.parametrize("op, i, example", CASES, ids=[f"{op.__name__}-{i}" for op, i, _ in CASES])
class TestOpSweep:
    def test_gradient_matches_finite_differences(self, op, i, example):
        assert gradcheck(call(op, example), make_inputs(example))

    def test_second_derivatives_match_finite_differences(self, op, i, example):
        assert gradgradcheck(call(op, example), make_inputs(example))

    def test_forward_matches_numpy_reference(self, op, i, example):
        inputs = make_inputs(example)
        out = call(op, example)(*inputs)
        arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
        expected = op.reference(*arrays, **example.params)
        assert out.shape == np.shape(expected)
        np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)

    def test_float32_stays_float32(self, op, i, example):
        inputs = make_inputs(example, dtype=np.float32)
        out = call(op, example)(*inputs)
        assert out.dtype == example.params.get("dtype", np.float32)  # only a cast may change the dtype
        out.backward(np.ones_like(out.data))
        for x in inputs:
            if isinstance(x, Tensor):
                assert x.grad is not None and x.grad.dtype == np.float32

    def test_no_graph_under_no_grad(self, op, i, example):
        with no_grad():
            out = call(op, example)(*make_inputs(example))
        assert out.grad_fn is None and not out.requires_grad


def test_cast_gradient_returns_to_input_dtype():
    x = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, 2 * np.ones((2, 3)))


# ---- integer inputs: an op computing in floats reads them as floats ----------------------
# The rule (minigrad/ops/elementwise.py, `as_float`): an integer input of an op that computes in
# floats is converted first, to the float type NumPy gives it beside the op's float inputs, or
# float64 when all are integers (as PyTorch computes them in its default float).  Ops that keep
# integers (add, matmul, max, indexing, ...) follow NumPy's integer arithmetic.

INTEGER_DTYPES = [np.int64, np.int16, np.int8, np.uint8]


def integer_inputs(example, dtype, full_range, seed=0):
    """The example's array inputs as integers of `dtype` (constants: no gradient) inside its domain:
    small values, or with full_range the whole range of the dtype, where squares and negation
    overflow in the integer type."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    low, high = (info.min, info.max) if full_range else (int(np.ceil(example.domain[0])), int(example.domain[1]))
    low = max(low, 1 if example.domain[0] > 0 else info.min)  # (a positive domain: log, sqrt, a divisor)
    high = min(high, info.max)
    return [rng.integers(low, high, size=s, endpoint=True).astype(dtype) if isinstance(s, tuple) else s
            for s in example.shapes]


def assert_computed_as_numpy_would(op, example, inputs):
    """Float results: the reference on the inputs as float64, in float64.  Integer results: equal
    to the reference up to wrapping around the integer type (NumPy's integer arithmetic)."""
    out = call(op, example)(*inputs).data
    with np.errstate(all="ignore"):
        expected = np.asarray(op.reference(*[x.astype(np.float64) if isinstance(x, np.ndarray) else x
                                             for x in inputs], **example.params))
    what = f"{op.__name__} {example} on {[x.dtype if isinstance(x, np.ndarray) else x for x in inputs]}"
    assert out.shape == expected.shape, what
    if out.dtype.kind == "f":
        assert out.dtype == np.float64, f"{what}: computed in {out.dtype}, not float64"
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12, err_msg=what)
    else:
        assert out.dtype.kind in "iu", f"{what}: result of dtype {out.dtype}"
        wrapped = np.mod(out.astype(np.float64) - expected, 2.0 ** (8 * out.dtype.itemsize))
        assert np.all((wrapped == 0) | (wrapped == 2.0 ** (8 * out.dtype.itemsize))), f"{what}: {out}, {expected}"


@pytest.mark.parametrize("dtype", INTEGER_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op, i, example", CASES, ids=[f"{op.__name__}-{i}" for op, i, _ in CASES])
def test_integer_inputs(op, i, example, dtype):
    assert_computed_as_numpy_would(op, example, integer_inputs(example, dtype, full_range=False))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op, i, example", CASES, ids=[f"{op.__name__}-{i}" for op, i, _ in CASES])
def test_integer_inputs_over_their_whole_range(op, i, example, dtype):
    """Where an op computes in floats, large integers (200² overflows uint8, -200 wraps) must not
    reach integer arithmetic; where it keeps integers, NumPy's wrapping is the answer."""
    assert_computed_as_numpy_would(op, example, integer_inputs(example, dtype, full_range=True))


MIXED = [(op, i, ex, k) for op, i, ex in CASES for k, s in enumerate(ex.shapes)
         if isinstance(s, tuple) and sum(isinstance(t, tuple) for t in ex.shapes) > 1]


@pytest.mark.parametrize("op, i, example, k", MIXED, ids=[f"{op.__name__}-{i}-int{k}" for op, i, _, k in MIXED])
def test_gradients_beside_an_integer_input(op, i, example, k):
    """Input k integer (int8, its whole range), the others float: the float inputs' gradients, and the
    second derivatives (whose backward reads the integer input as a constant), against finite differences."""
    inputs = make_inputs(example)
    inputs[k] = integer_inputs(example, np.int8, full_range=True)[k]
    assert gradcheck(call(op, example), inputs)
    assert gradgradcheck(call(op, example), inputs)
