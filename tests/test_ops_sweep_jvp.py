"""Every op x every example: its forward-mode (jvp) rule and its batching rule.

The jvp rule is checked two independent ways: against central finite differences of
forward along a random tangent u, and against the op's own backward by the dot-product
identity <v, J u> = <Jᵀ v, u> for random u and v, which holds to rounding (1e-10 in
float64) when the two rules are each other's transpose.  The batch rule is checked by
vmap(f)(X) against stacking f over the rows of X, with every input batched and with each
one alone, and vmap(jvp) against a loop of jvp.  At every boundary case with declared
gradients, the jvp along ones agrees with them.

Adding an op class is enough to have its rules tested here (the examples are those of
tests/test_ops_sweep.py)."""
import numpy as np
import pytest
from test_ops_sweep import BOUNDARY, CASES, assert_same_values, boundary_inputs, make_inputs

from minigrad import Tensor, func, grad
from minigrad.ops import ALL_OPS

BATCH = 3


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda op: op.__name__)
def test_every_op_has_a_jvp_rule_and_a_batch_rule(op):
    assert hasattr(op, "jvp"), (f"{op.__name__} has no jvp rule: add jvp(self, tangents, *inputs, out) next "
                                "to its backward (see docs/EXTENDING.md), so forward mode and this sweep can use it")
    assert hasattr(op, "batch"), (f"{op.__name__} has no batch rule: add batch(self, batched, *inputs, "
                                  "**params) (see docs/EXTENDING.md), so vmap can run it on a batch")


def split(op, example, inputs):
    """f of the tensor inputs only (the constants and settings held fixed), and those tensors."""
    tensors = [x for x in inputs if isinstance(x, Tensor)]

    def f(*xs):
        it = iter(xs)
        return op.apply(*[next(it) if isinstance(x, Tensor) else x for x in inputs], **example.params)

    return f, tensors


def random_like(tensors, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(x.shape) for x in tensors]


@pytest.mark.parametrize("op, i, example", CASES, ids=[f"{op.__name__}-{i}" for op, i, _ in CASES])
class TestJvpSweep:
    def test_jvp_matches_finite_differences(self, op, i, example):
        f, xs = split(op, example, make_inputs(example))
        u = random_like(xs, seed=1)
        out, tangent = func.jvp(f, tuple(xs), tuple(map(Tensor, u)))
        eps = 1e-6
        plus = f(*[Tensor(x.data + eps * d) for x, d in zip(xs, u)]).data
        minus = f(*[Tensor(x.data - eps * d) for x, d in zip(xs, u)]).data
        numeric = (plus - minus) / (2 * eps)  # (difference first: a constant -1e9 fill cancels exactly)
        assert tangent.shape == out.shape
        np.testing.assert_allclose(tangent.data, numeric, rtol=1e-4, atol=1e-6,
                                   err_msg=f"{op.__name__}.jvp disagrees with finite differences of forward")

    def test_dot_product_identity_with_backward(self, op, i, example):
        f, xs = split(op, example, make_inputs(example))
        u = random_like(xs, seed=2)
        out, tangent = func.jvp(f, tuple(xs), tuple(map(Tensor, u)))
        v = np.random.default_rng(3).standard_normal(out.shape)
        out = f(*xs)
        out.backward(v)
        forward_terms = v * tangent.data                                              # v · (J u)
        reverse_terms = [x.grad.data * d for x, d in zip(xs, u) if x.grad is not None]  # (Jᵀ v) · u
        forward, reverse = forward_terms.sum(), sum(t.sum() for t in reverse_terms)
        scale = np.abs(forward_terms).sum() + sum(np.abs(t).sum() for t in reverse_terms)
        assert abs(forward - reverse) <= 1e-10 * scale, (
            f"{op.__name__}: <v, J u> = {forward!r} by its jvp but <Jᵀ v, u> = {reverse!r} by its backward: "
            "the two rules are not each other's transpose, so one of them is wrong")

    def test_jvp_rule_on_tensors_has_backward_as_its_transpose(self, op, i, example):
        """Run on Tensors (as under an outer jvp, or where reverse mode records), the rule gives the
        same tangent, and reverse mode through it, w.r.t. the tangents u, gives Jᵀ v: backward's."""
        f, xs = split(op, example, make_inputs(example))
        u = [Tensor(d, requires_grad=True) for d in random_like(xs, seed=7)]
        out, tangent = func.jvp(f, tuple(xs), tuple(u))  # (xs require grad: the rule runs on Tensors)
        _, plain = func.jvp(f, tuple(x.detach() for x in xs), tuple(Tensor(d.data) for d in u))
        np.testing.assert_allclose(tangent.data, plain.data, rtol=1e-12, atol=1e-14)
        v = np.random.default_rng(8).standard_normal(out.shape)
        through_jvp = grad((tangent * Tensor(v)).sum(), u, retain_graph=True, allow_unused=True)
        out.backward(v)
        for x, g in zip(xs, through_jvp):
            expected = np.zeros(x.shape) if x.grad is None else x.grad.data
            np.testing.assert_allclose(np.zeros(x.shape) if g is None else g.data, expected, rtol=1e-10, atol=1e-12,
                                       err_msg=f"{op.__name__}: reverse mode through jvp is not backward")

    def test_jvp_keeps_float32(self, op, i, example):
        f, xs = split(op, example, make_inputs(example, dtype=np.float32))
        out, tangent = func.jvp(f, tuple(xs), tuple(Tensor(d.astype(np.float32)) for d in random_like(xs, 4)))
        assert tangent.dtype == out.dtype

    def test_vmap_matches_a_loop(self, op, i, example):
        """With every input batched, and (several inputs) with each one batched alone."""
        f, xs = split(op, example, make_inputs(example))
        alone = [[k == j for k in range(len(xs))] for j in range(len(xs))] if len(xs) > 1 else []
        patterns = [[True] * len(xs)] + alone
        rng = np.random.default_rng(5)
        low, high = example.domain
        for pattern in patterns:
            args = [Tensor(rng.uniform(low, high, (BATCH,) + x.shape)) if batched else x
                    for x, batched in zip(xs, pattern)]
            mapped = func.vmap(f, in_axes=[0 if batched else None for batched in pattern])(*args)
            rows = [f(*[a[b] if batched else a for a, batched in zip(args, pattern)]).data
                    for b in range(BATCH)]
            assert mapped.shape == (BATCH,) + rows[0].shape, f"{op.__name__}: vmap's shape, {pattern}"
            np.testing.assert_allclose(mapped.data, np.stack(rows), rtol=1e-10, atol=1e-12,
                                       err_msg=f"{op.__name__}: vmap differs from a loop, batching {pattern}")

    def test_vmap_of_jvp_matches_a_loop(self, op, i, example):
        f, xs = split(op, example, make_inputs(example))
        rng = np.random.default_rng(6)
        low, high = example.domain
        primals = [Tensor(rng.uniform(low, high, (BATCH,) + x.shape)) for x in xs]
        tangents = [Tensor(rng.standard_normal((BATCH,) + x.shape)) for x in xs]
        n = len(xs)
        mapped = func.vmap(lambda *pt: func.jvp(f, pt[:n], pt[n:])[1])(*primals, *tangents)
        rows = [func.jvp(f, tuple(p[b] for p in primals), tuple(t[b] for t in tangents))[1].data
                for b in range(BATCH)]
        np.testing.assert_allclose(mapped.data, np.stack(rows), rtol=1e-10, atol=1e-12)


WITH_GRADS = [(op, i, case) for op, i, case in BOUNDARY if case.grads is not None]


@pytest.mark.parametrize("op, i, case", WITH_GRADS, ids=[f"{op.__name__}.{i}" for op, i, _ in WITH_GRADS])
def test_boundary_jvp_agrees_with_the_declared_gradients(op, i, case):
    """Along ones for one input, <upstream, J 1> is the sum of that input's declared gradient
    (a zero entry of J 1 counts 0 however large the upstream there: an inf stays out)."""
    inputs = boundary_inputs(case)
    f, xs = split(op, case, inputs)
    with np.errstate(all="ignore"):
        for k, (x, expected) in enumerate(zip(xs, case.grads)):
            if expected is None:
                continue
            def f_of_input_k(xk):  # the other inputs have no tangent (not a zero one: 0 * inf is NaN)
                return f(*[xk if j == k else y for j, y in enumerate(xs)])

            out, tangent = func.jvp(f_of_input_k, (x,), (Tensor(np.ones(x.shape)),))
            upstream = np.ones(out.shape) if case.upstream is None else np.asarray(case.upstream, float)
            along = np.where(tangent.data == 0, 0.0, upstream * tangent.data).sum()
            assert_same_values(along, np.sum(expected), f"{op.__name__} {case}: jvp along ones of input {k}")
