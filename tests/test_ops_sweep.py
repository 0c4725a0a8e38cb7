"""Every op x every example it declares: gradients against finite differences (first and
second order), forward against the op's NumPy reference, float32 kept, no graph under no_grad.

Adding an op class with `examples` is enough to have it tested here."""
import numpy as np
import pytest

from minigrad import Tensor, gradcheck, gradgradcheck, no_grad
from minigrad.ops import ALL_OPS

CASES = [(op, i, ex) for op in ALL_OPS for i, ex in enumerate(op.examples)]


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
