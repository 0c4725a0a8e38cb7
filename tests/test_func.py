"""minigrad.func against independent oracles: hand-derived Jacobians and Hessians of small
closed forms, finite differences, jacfwd against jacrev, vmap against a loop; and the
errors for bad input.  (Every op's jvp and batch rules are swept in test_ops_sweep_jvp.py.)"""
import numpy as np
import pytest

import minigrad.functional as F
from minigrad import Tensor, autograd, func, gradcheck
from minigrad.function import Function

rng = np.random.default_rng(0)
A = rng.standard_normal((5, 4))
M = rng.standard_normal((4, 4))  # not symmetric: the Hessian of ½ xᵀMx is (M + Mᵀ)/2
x0 = rng.standard_normal(4)


def linear(x):
    return Tensor(A) @ x


def quadratic(x):
    return 0.5 * x @ (Tensor(M) @ x)


def attention_like(v):
    """softmax(V Vᵀ) V, the notes' re-weighting with the values as queries and keys: (4, 2) -> (4, 2)."""
    return F.softmax(v @ v.T, axis=-1) @ v


def smooth(x):
    return (F.tanh(Tensor(A) @ x) ** 2).sum() + F.logsumexp(x * x, axis=-1)


def numeric_jacobian(f, x, eps=1e-6):
    columns = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = eps
        e = e.reshape(x.shape)
        columns.append((f(Tensor(x + e)).data - f(Tensor(x - e)).data) / (2 * eps))
    return np.stack(columns, axis=-1).reshape(np.shape(f(Tensor(x)).data) + x.shape)


# ---- closed forms ------------------------------------------------------------------------------

def test_jvp_of_a_linear_map_is_the_matrix_times_the_tangent():
    u = rng.standard_normal(4)
    out, tangent = func.jvp(linear, (Tensor(x0),), (Tensor(u),))
    np.testing.assert_allclose(out.data, A @ x0, rtol=1e-14)
    np.testing.assert_allclose(tangent.data, A @ u, rtol=1e-14)


@pytest.mark.parametrize("jacobian", [func.jacfwd, func.jacrev])
def test_jacobian_of_a_linear_map_is_the_matrix(jacobian):
    np.testing.assert_allclose(jacobian(linear)(Tensor(x0)).data, A, rtol=1e-14)


def test_gradient_and_hessian_of_a_quadratic_form():
    np.testing.assert_allclose(func.grad(quadratic)(Tensor(x0)).data, 0.5 * (M + M.T) @ x0, rtol=1e-12)
    H = func.hessian(quadratic)(Tensor(x0))
    np.testing.assert_allclose(H.data, 0.5 * (M + M.T), rtol=1e-12, atol=1e-14)


def test_hvp_is_the_hessian_times_the_vector_and_returns_the_value():
    v = rng.standard_normal(4)
    value, product = func.hvp(quadratic, (Tensor(x0),), (Tensor(v),))
    np.testing.assert_allclose(value.data, 0.5 * x0 @ M @ x0, rtol=1e-12)
    np.testing.assert_allclose(product.data, 0.5 * (M + M.T) @ v, rtol=1e-12)


@pytest.mark.parametrize("jacobian", [func.jacfwd, func.jacrev])
def test_softmax_jacobian_is_diag_p_minus_p_p_transposed(jacobian):
    z = rng.standard_normal(5)
    p = np.exp(z) / np.exp(z).sum()
    expected = np.diag(p) - np.outer(p, p)
    np.testing.assert_allclose(jacobian(F.softmax)(Tensor(z)).data, expected, rtol=1e-12, atol=1e-15)


def test_jacfwd_equals_jacrev_and_finite_differences_on_attention():
    v = rng.standard_normal((4, 2))
    forward, reverse = func.jacfwd(attention_like)(Tensor(v)), func.jacrev(attention_like)(Tensor(v))
    assert forward.shape == reverse.shape == (4, 2, 4, 2)
    np.testing.assert_allclose(forward.data, reverse.data, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(forward.data, numeric_jacobian(attention_like, v), rtol=1e-6, atol=1e-8)


def test_hessian_is_symmetric_and_the_finite_difference_of_grad():
    H = func.hessian(smooth)(Tensor(x0)).data
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(H, numeric_jacobian(func.grad(smooth), x0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(func.jacrev(func.jacrev(smooth))(Tensor(x0)).data, H, rtol=1e-12, atol=1e-14)


def test_grad_of_grad_on_scalars():
    f = lambda x: x ** 3 * F.exp(x)  # noqa: E731
    second = func.grad(func.grad(f))(Tensor(0.7))
    np.testing.assert_allclose(second.data, (6 * 0.7 + 6 * 0.7 ** 2 + 0.7 ** 3) * np.exp(0.7), rtol=1e-12)


def test_value_and_grad_with_several_argnums():
    w, b, x = rng.standard_normal(3), 0.3, rng.standard_normal(3)

    def loss(w, b, x):
        return ((w * x).sum() + b) ** 2

    value, (grad_w, grad_b) = func.value_and_grad(loss, argnums=(0, 1))(Tensor(w), Tensor(b), Tensor(x))
    r = w @ x + b
    np.testing.assert_allclose(value.data, r ** 2)
    np.testing.assert_allclose(grad_w.data, 2 * r * x, rtol=1e-12)
    np.testing.assert_allclose(grad_b.data, 2 * r, rtol=1e-12)
    np.testing.assert_allclose(func.grad(loss, argnums=-1)(Tensor(w), Tensor(b), Tensor(x)).data, 2 * r * w)


def test_vjp_gives_the_transposed_jacobian_times_the_cotangent():
    v = rng.standard_normal(5)
    out, vjp_fn = func.vjp(linear, Tensor(x0))
    np.testing.assert_allclose(vjp_fn(Tensor(v))[0].data, A.T @ v, rtol=1e-13)
    np.testing.assert_allclose(vjp_fn(Tensor(2 * v))[0].data, 2 * A.T @ v, rtol=1e-13)  # callable again


def test_jvp_runs_no_backward_pass(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a backward pass ran inside jvp")

    monkeypatch.setattr(autograd, "run_backward", refuse)
    x = Tensor(rng.standard_normal(4), requires_grad=True)
    _, tangent = func.jvp(smooth, (x,), (Tensor(np.ones(4)),))
    assert np.isfinite(tangent.data).all()


def test_jvp_with_several_primals_and_outputs_matches_finite_differences():
    a, b, u, w = (rng.standard_normal((3, 4)) for _ in range(4))

    def f(a, b):
        return F.layer_norm(a * b), F.cosine_similarity(a, b)

    out, tangents = func.jvp(f, (Tensor(a), Tensor(b)), (Tensor(u), Tensor(w)))
    eps = 1e-6
    for k in range(2):
        numeric = (f(Tensor(a + eps * u), Tensor(b + eps * w))[k].data
                   - f(Tensor(a - eps * u), Tensor(b - eps * w))[k].data) / (2 * eps)
        np.testing.assert_allclose(tangents[k].data, numeric, rtol=1e-5, atol=1e-7)


# ---- vmap ----------------------------------------------------------------------------------------

def test_vmap_equals_a_loop_with_in_axes_and_out_axes():
    X, W = rng.standard_normal((4, 6, 3)), rng.standard_normal((3, 5))  # batch along X's axis 1

    def f(x, w):
        return F.softmax(x @ w, axis=0).sum(axis=-1)

    mapped = func.vmap(f, in_axes=(1, None), out_axes=-1)(Tensor(X), Tensor(W))
    loop = np.stack([f(Tensor(X[:, i]), Tensor(W)).data for i in range(6)], axis=-1)
    assert mapped.shape == (4, 6)
    np.testing.assert_allclose(mapped.data, loop, rtol=1e-12)


def test_inside_vmap_a_tensor_shows_one_examples_shape():
    seen = []
    func.vmap(lambda x: seen.append((x.shape, x.ndim, len(x))) or x.sum())(Tensor(np.ones((7, 2, 3))))
    assert seen == [((2, 3), 2, 2)]


def test_vmap_of_grad_gives_per_example_gradients_of_shared_weights():
    X, y, W = rng.standard_normal((8, 5, 3)), rng.standard_normal((8, 5)), rng.standard_normal((3,))

    def loss(w, x, target):
        return ((F.tanh(x @ w) - target) ** 2).mean()

    per_example = func.vmap(func.grad(loss), in_axes=(None, 0, 0))(Tensor(W), Tensor(X), Tensor(y))
    loop = np.stack([func.grad(loss)(Tensor(W), Tensor(X[i]), Tensor(y[i])).data for i in range(8)])
    assert per_example.shape == (8, 3)
    np.testing.assert_allclose(per_example.data, loop, rtol=1e-12)
    whole = Tensor(W, requires_grad=True)
    sum(loss(whole, Tensor(X[i]), Tensor(y[i])) for i in range(8)).backward()  # another route to their sum
    np.testing.assert_allclose(per_example.data.sum(axis=0), whole.grad.data, rtol=1e-12)


def test_vmap_of_hessian_equals_a_loop():
    X = rng.standard_normal((3, 4))
    mapped = func.vmap(func.hessian(smooth))(Tensor(X))
    loop = np.stack([func.hessian(smooth)(Tensor(x)).data for x in X])
    np.testing.assert_allclose(mapped.data, loop, rtol=1e-12, atol=1e-14)


def test_vmap_of_an_unbatched_output_repeats_it():
    out = func.vmap(lambda x, c: c * 2, in_axes=(0, None))(Tensor(np.ones((3, 2))), Tensor([1.0, 2.0]))
    np.testing.assert_array_equal(out.data, [[2.0, 4.0]] * 3)


# ---- bad input -------------------------------------------------------------------------------------

def test_non_tensor_outputs_are_refused_by_name():
    with pytest.raises(TypeError, match="jvp: f must return a Tensor or a tuple of Tensors, got float"):
        func.jvp(lambda x: 1.0, (Tensor(x0),), (Tensor(x0),))
    with pytest.raises(TypeError, match="vjp: f must return one Tensor, got tuple"):
        func.vjp(lambda x: (x, x), Tensor(x0))
    with pytest.raises(TypeError, match="vmap: f must return .* got ndarray"):
        func.vmap(lambda x: x.data)(Tensor(np.ones((2, 3))))


def test_shape_mismatched_tangents_name_both_shapes():
    with pytest.raises(ValueError, match=r"jvp: tangent 0 has shape \(3,\) but primal 0 has shape \(4,\)"):
        func.jvp(linear, (Tensor(x0),), (Tensor(np.ones(3)),))
    with pytest.raises(ValueError, match="jvp: 1 primals but 2 tangents"):
        func.jvp(linear, (Tensor(x0),), (Tensor(x0), Tensor(x0)))
    with pytest.raises(TypeError, match=r"jvp: primals must be a tuple of Tensors.*\(p,\)"):
        func.jvp(linear, Tensor(x0), (Tensor(x0),))
    _, vjp_fn = func.vjp(linear, Tensor(x0))
    with pytest.raises(ValueError, match=r"vjp: the cotangent has shape \(4,\) but f's output has shape \(5"):
        vjp_fn(Tensor(x0))


def test_argnums_out_of_range():
    with pytest.raises(ValueError, match="grad: argnums 2 is out of range for a function called with 2 pos"):
        func.grad(lambda a, b: (a * b).sum(), argnums=2)(Tensor(x0), Tensor(x0))
    with pytest.raises(ValueError, match=r"jacrev: argnums \(0, 3\) is out of range"):
        func.jacrev(lambda a: a, argnums=(0, 3))(Tensor(x0))


def test_grad_needs_one_number():
    with pytest.raises(ValueError, match=r"grad: f must return one number .* shape \(5,\); use jacrev"):
        func.grad(linear)(Tensor(x0))


def test_in_axes_that_do_not_fit():
    X = Tensor(np.ones((3, 4)))
    with pytest.raises(ValueError, match="vmap: in_axes has 1 entries but the function was called with 2"):
        func.vmap(lambda a, b: a, in_axes=(0,))(X, X)
    with pytest.raises(ValueError, match=r"vmap: in_axes\[0\] = 2 does not fit argument 0 of shape \(3, 4\)"):
        func.vmap(lambda a: a, in_axes=2)(X)
    with pytest.raises(ValueError, match="argument 0 has 3 along axis 0, argument 1 has 4 along axis 1"):
        func.vmap(lambda a, b: a, in_axes=(0, 1))(X, X)
    with pytest.raises(ValueError, match="vmap: in_axes batches no argument"):
        func.vmap(lambda a: a, in_axes=None)(X)


def test_forward_over_forward_and_jvp_inside_jvp():
    H = func.hessian(smooth)(Tensor(x0)).data
    np.testing.assert_allclose(func.jacfwd(func.jacfwd(smooth))(Tensor(x0)).data, H, rtol=1e-12, atol=1e-14)
    u, w = rng.standard_normal(4), rng.standard_normal(4)

    def directional(x):  # x -> <grad smooth(x), u>, by forward mode
        return func.jvp(smooth, (x,), (Tensor(u),))[1]

    _, second = func.jvp(directional, (Tensor(x0),), (Tensor(w),))
    np.testing.assert_allclose(second.data, w @ H @ u, rtol=1e-12)


def test_vmap_inside_vmap_is_refused_not_silently_wrong():
    with pytest.raises(NotImplementedError, match="vmap inside vmap"):
        func.vmap(func.vmap(lambda x: x * 2))(Tensor(np.ones((2, 3, 4))))


class _Doubled(Function):  # (a _name: not registered among the ops the sweeps check)
    def forward(self, x):
        return 2 * x

    def backward(self, grad, x, out):
        return 2 * grad


def test_an_op_without_rules_is_named():
    with pytest.raises(NotImplementedError, match=r"_Doubled has no jvp rule.*add jvp\(self, tangents"):
        func.jvp(_Doubled.apply, (Tensor(x0),), (Tensor(x0),))
    with pytest.raises(NotImplementedError, match=r"vmap cannot batch _Doubled.*add batch\(self, batched"):
        func.vmap(_Doubled.apply)(Tensor(np.ones((2, 3))))


def test_gradchecks_diagnosis_says_when_backward_and_jvp_disagree():
    class _HalfBackward(_Doubled):  # a backward off by a factor, a correct jvp
        def backward(self, grad, x, out):
            return grad

        def jvp(self, tangents, x, out):
            return 2 * tangents[0]

    with pytest.raises(AssertionError, match=r"dot-product identity fails: .* so the backward rule is wrong"):
        gradcheck(_HalfBackward.apply, [Tensor(x0)])


def test_reverse_mode_over_forward_mode():
    def directional(x):  # x -> <grad smooth(x), 1>, by forward mode
        return func.jvp(smooth, (x,), (Tensor(np.ones(4)),))[1]

    H = func.hessian(smooth)(Tensor(x0)).data
    np.testing.assert_allclose(func.grad(directional)(Tensor(x0)).data, H.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(func.jacrev(func.jacfwd(smooth))(Tensor(x0)).data, H, rtol=1e-12, atol=1e-14)


def test_vmap_of_a_lookup_with_a_batch_of_integer_indices():
    table, ids = rng.standard_normal((10, 3)), rng.integers(0, 10, (5, 4))  # 5 sequences of 4 token ids
    mapped = func.vmap(lambda i, w: (w[i] ** 2).sum(axis=-1), in_axes=(0, None))(Tensor(ids), Tensor(table))
    np.testing.assert_allclose(mapped.data, (table[ids] ** 2).sum(axis=-1), rtol=1e-14)


def test_vmap_with_several_outputs_and_their_own_out_axes():
    X = rng.standard_normal((3, 4, 2))
    total, doubled = func.vmap(lambda x: (x.sum(), x * 2), out_axes=(0, 2))(Tensor(X))
    np.testing.assert_allclose(total.data, X.sum(axis=(1, 2)))
    np.testing.assert_allclose(doubled.data, np.moveaxis(X * 2, 0, 2))


def test_an_index_vmap_cannot_batch_is_refused_by_name():
    x = Tensor(np.ones((3, 4, 5, 6)))
    with pytest.raises(NotImplementedError, match=r"vmap cannot batch GetItem with index arrays apart"):
        func.vmap(lambda x: x[[0, 1], :, [1, 2]])(x)


def test_inside_vmap_a_comparison_holds_the_batch():
    X = rng.standard_normal((4, 3))
    relu_like = func.vmap(lambda x: (x > 0) * x + (0.5 >= x) * 0.0)(Tensor(X))
    np.testing.assert_array_equal(relu_like.data, (X > 0) * X)
    w = Tensor(rng.standard_normal(3))
    np.testing.assert_array_equal(func.vmap(lambda x: ~(w < x) * 1.0)(Tensor(X)).data, ~(w.data < X) * 1.0)


def loop(f, *batches, shared=()):
    """f over the examples of each batch (axis 0), the shared arguments the same for all: stacked."""
    return np.stack([f(*(Tensor(b[i]) for b in batches), *shared).data for i in range(len(batches[0]))])


MASKED = {  # a mask made from the batched data itself, or from a second batched argument m
    "where": lambda x, m: F.where(m, x, 2 * x),
    "np.where": lambda x, m: np.where(x > 0.5, x, -x),
    "softmax where": lambda x, m: F.softmax(x, where=m),
    "masked_fill": lambda x, m: F.masked_fill(x, x < m * 1.0, -3.0),
    "masked_fill of a tensor": lambda x, m: F.masked_fill(x.sum() * 0 + 1.0, m, x),
    "where of shared values": lambda x, m: F.where(m, Tensor(np.arange(3.0)), Tensor(-np.ones(3))),
}


@pytest.mark.parametrize("name", MASKED)
def test_inside_vmap_a_mask_made_from_batched_data_is_each_examples(name):
    X, M = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)) > 0
    mapped = func.vmap(MASKED[name])(Tensor(X), Tensor(M))
    np.testing.assert_allclose(mapped.data, loop(MASKED[name], X, M), rtol=1e-14)


def test_inside_vmap_a_mask_of_each_examples_gradients():
    X, M = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 3)) > 0
    loss = lambda x, m: (F.softmax(F.masked_fill(x, ~m, 0.0) * x, where=m) ** 2).sum()  # noqa: E731
    mapped = func.vmap(func.grad(loss))(Tensor(X), Tensor(M))
    np.testing.assert_allclose(mapped.data, loop(func.grad(loss), X, M), rtol=1e-13)


def test_inside_vmap_a_shared_mask_broadcasts_against_each_example():
    X = rng.standard_normal((4, 3))
    shared = rng.standard_normal((2, 3)) > 0  # more axes than an example of x: (2, 3) per example
    for f in (lambda x: F.where(shared, x, 0 * x), lambda x: F.masked_fill(x, Tensor(shared), 1.0),
              lambda x: F.softmax(x * 1.0 + np.zeros((2, 3)), where=shared[0])):
        np.testing.assert_allclose(func.vmap(f)(Tensor(X)).data, loop(f, X), rtol=1e-14)


def test_inside_vmap_dropout_draws_each_examples_mask_as_a_loop_would():
    X = rng.standard_normal((5, 2, 3)) + 3.0  # (no zeros: a zero out means dropped)
    f = lambda x: F.dropout(x, 0.5, rng=np.random.default_rng(7))  # noqa: E731
    generator = np.random.default_rng(7)
    by_loop = np.stack([F.dropout(Tensor(x), 0.5, rng=generator).data for x in X])
    np.testing.assert_array_equal(func.vmap(f)(Tensor(X)).data, by_loop)
    assert 0 < (by_loop == 0).mean() < 1


@pytest.mark.parametrize("ignore_index", [None, -1])
def test_vmap_of_grad_of_cross_entropy_with_batched_targets_equals_a_loop(ignore_index):
    X, W = rng.standard_normal((6, 5, 4)), rng.standard_normal((4, 3))  # 6 examples of 5 rows, 3 classes
    y = rng.integers(0, 3, (6, 5))
    if ignore_index is not None:
        y[0, :3] = y[2, 1:] = ignore_index  # examples with different numbers of rows counted

    def loss(w, x, targets):
        return F.cross_entropy(x @ w, targets, ignore_index=ignore_index)

    values = func.vmap(loss, in_axes=(None, 0, 0))(Tensor(W), Tensor(X), Tensor(y))
    grads = func.vmap(func.grad(loss), in_axes=(None, 0, 0))(Tensor(W), Tensor(X), Tensor(y))
    np.testing.assert_allclose(values.data, loop(lambda x, t: loss(Tensor(W), x, t), X, y), rtol=1e-14)
    expected = loop(lambda x, t: func.grad(loss)(Tensor(W), x, t), X, y)
    np.testing.assert_allclose(grads.data, expected, rtol=1e-13)
    logits = X @ W
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)  # NumPy's own: the loss of example 1
    np.testing.assert_allclose(values.data[1], -np.log(probs[1, np.arange(5), y[1]]).mean(), rtol=1e-13)


def test_inside_vmap_mean_losses_average_over_one_example():
    P, Q = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
    mapped = func.vmap(F.mse_loss)(Tensor(P), Tensor(Q))
    np.testing.assert_allclose(mapped.data, ((P - Q) ** 2).mean(axis=(1, 2)), rtol=1e-14)
    with pytest.raises(ValueError, match=r"targets have shape \(3,\) but logits have shape \(2, 5"):
        func.vmap(F.cross_entropy)(Tensor(np.ones((4, 2, 5))), Tensor(np.zeros((4, 3), int)))


def test_inside_vmap_numpy_tests_and_argmax_are_per_example():
    X = rng.standard_normal((4, 2, 3))
    signs = func.vmap(lambda x: np.sign(x) * x)(Tensor(X))
    np.testing.assert_array_equal(signs.data, np.abs(X))
    for axis in (None, 0, -1):
        found = func.vmap(lambda x: x.argmax(axis=axis) * 1.0)(Tensor(X))
        np.testing.assert_array_equal(found.data, [x.argmax(axis=axis) for x in X])

