"""The engine: graph order, accumulation, freeing, no_grad, higher order, errors."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import GradcheckError, Tensor, gradcheck, gradgradcheck, no_grad
from minigrad.function import Function
from minigrad.ops import Softmax


def leaf(*shape, seed=0, dtype=np.float64):
    return Tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True)


def test_reused_tensor_and_diamond_accumulate():
    x = leaf(3)
    a = x * 2.0
    y = (a * a + a.exp() + x).sum()  # x reaches y along four paths
    y.backward()
    expected = 8 * x.data + 2 * np.exp(2 * x.data) + 1
    np.testing.assert_allclose(x.grad.data, expected)


def test_grad_accumulates_across_backward_calls_on_leaves():
    x = leaf(4)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 3)


def test_leaf_grads_do_not_share_memory():
    a, b = leaf(3), leaf(3, seed=1)
    (a + b).sum().backward()
    a.grad.data *= 0  # an in-place change (clipping, say) must not touch b.grad
    np.testing.assert_array_equal(b.grad.data, np.ones(3))


def test_long_chain_needs_no_recursion():
    x = leaf(2)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.ones(2))


def test_graph_is_freed_and_second_backward_raises():
    x = leaf(3)
    y = (x.exp() * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = leaf(3)
    y = (x.exp() * 2.0).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 4 * np.exp(x.data))


def test_backward_frees_saved_state():
    x = leaf(3)
    e = x.exp()
    y = e.sum()
    y.backward()
    assert y.grad_fn.inputs is None and e.grad_fn.inputs is None


def test_nonscalar_backward_needs_grad():
    x = leaf(2, 3)
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\)"):
        (x * 2.0).backward()
    y = x * 2.0
    with pytest.raises(ValueError, match="grad has shape"):
        y.backward(np.ones(3))
    y.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad.data, 2 * np.ones((2, 3)))


def test_backward_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0, 2.0]).sum().backward()


def test_no_grad_context_and_decorator():
    x = leaf(3)
    with no_grad():
        y = x * 2.0
    assert y.grad_fn is None and not y.requires_grad

    @no_grad()
    def double(t):
        return t * 2.0

    assert double(x).grad_fn is None
    assert (x * 2.0).grad_fn is not None  # switched back on afterwards
    with no_grad():
        with minigrad.enable_grad():
            assert (x * 2.0).requires_grad


def test_detach_cuts_the_graph():
    x = leaf(3)
    y = (x.detach() * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.data, x.data)  # only the non-detached factor counts


def test_retain_grad_on_interior_tensor():
    x = leaf(3)
    h = (x * 3.0).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.data, 2 * h.data)


def test_hessian_vector_product_by_double_backward():
    # f(x) = sum(x^3) -> grad 3x^2 -> Hessian diag(6x); Hv = 6 x v
    x = leaf(4)
    v = np.random.default_rng(1).standard_normal(4)
    (g,) = [minigrad.grad((x ** 3).sum(), x, create_graph=True)]
    hv = minigrad.grad((g * v).sum(), x)
    np.testing.assert_allclose(hv.data, 6 * x.data * v)


def test_grad_of_grad_of_softmax_cross_entropy_like_loss():
    x = leaf(2, 5)

    def loss(t):
        return -(F.log_softmax(t, axis=-1)[:, 0]).sum()

    assert gradgradcheck(loss, [x])


def test_third_derivative():
    x = leaf(3)
    g1 = minigrad.grad((x ** 4).sum(), x, create_graph=True)
    g2 = minigrad.grad(g1.sum(), x, create_graph=True)
    g3 = minigrad.grad(g2.sum(), x)
    np.testing.assert_allclose(g3.data, 24 * x.data)


def test_gradcheck_catches_zeroed_and_sign_flipped_softmax(monkeypatch):
    x = leaf(3, 4)
    original = Softmax.backward
    monkeypatch.setattr(Softmax, "backward", lambda self, grad, x, out: 0 * original(self, grad, x, out))
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(F.softmax, [x])
    monkeypatch.setattr(Softmax, "backward", lambda self, grad, x, out: -original(self, grad, x, out))
    with pytest.raises(GradcheckError, match=r"analytic .* vs numeric"):
        gradcheck(F.softmax, [x])
    monkeypatch.setattr(Softmax, "backward", original)
    assert gradcheck(F.softmax, [x])


def test_gradgradcheck_catches_a_backward_that_is_not_differentiable(monkeypatch):
    from minigrad.ops import Exp
    # Using the saved array instead of the output handed in hides exp's own dependence on x.
    monkeypatch.setattr(Exp, "backward", lambda self, grad, x, out: grad * np.exp(np.asarray(x)))
    x = leaf(3)
    assert gradcheck(F.exp, [x])
    with pytest.raises(GradcheckError, match="second order"):
        gradgradcheck(lambda t: F.exp(t) * t, [x])


def test_float32_survives_python_scalars_and_whole_chains():
    x = leaf(3, 4, dtype=np.float32)
    y = (F.softmax(x * 2.5 + 1, axis=-1) / 3 - 0.5) ** 2
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_requires_grad_on_integers_is_a_type_error():
    with pytest.raises(TypeError, match="int64"):
        Tensor(np.arange(3), requires_grad=True)
    assert Tensor(np.arange(3)).dtype == np.int64


def test_tensor_attributes_and_protocols():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and x.dtype == np.float64
    assert x.is_leaf and x.grad_fn is None
    y = x.T * 2
    assert not y.is_leaf and type(y.grad_fn).__name__ == "Mul"
    assert y.T.shape == (2, 3)
    np.testing.assert_array_equal(np.asarray(x), x.data)
    assert "grad_fn=Mul" in repr(y) and "requires_grad=True" in repr(x)
    assert Tensor(3.5).item() == 3.5
    assert isinstance(x > 2, Tensor) and not (x > 2).requires_grad
    assert (x > 2).data.tolist() == [[False, False, False], [True, True, True]]


def test_reflected_operators_with_scalars_and_arrays():
    x = leaf(3)
    a = np.array([1.0, 2.0, 3.0])
    y = (2.0 - x) + (a * x) + (1.0 / (x * x + 1.0)) + a @ x + 2.0 ** x
    assert isinstance(y, Tensor)
    assert gradcheck(lambda t: (2.0 - t) + (a * t) + (1.0 / (t * t + 1.0)) + a @ t + 2.0 ** t, [x])


def test_indexing_scatter_adds_repeated_indices():
    x = leaf(4)
    x[np.array([0, 0, 2])].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 0.0, 1.0, 0.0])
    y = leaf(3, 4)
    y[y.data > 0].sum().backward()
    np.testing.assert_array_equal(y.grad.data, (y.data > 0).astype(float))


def test_max_ties_share_the_gradient_evenly():
    x = Tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.data, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    z = Tensor([1.0, 1.0], requires_grad=True)
    F.maximum(z, Tensor([1.0, 0.0])).sum().backward()
    np.testing.assert_allclose(z.grad.data, [0.5, 1.0])


def test_relu_and_abs_subgradient_at_zero_is_zero():
    x = Tensor([0.0, 1.0, -1.0], requires_grad=True)
    (F.relu(x) + F.abs(x)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 2.0, -1.0])


def test_softmax_and_friends_are_stable_for_huge_logits():
    x = Tensor([[1000.0, 0.0, -1000.0], [-np.inf, 0.0, 0.0]], requires_grad=True)
    s = F.softmax(x)
    np.testing.assert_allclose(s.data, [[1, 0, 0], [0, 0.5, 0.5]])
    np.testing.assert_allclose(F.logsumexp(x).data, [1000.0, np.log(2)])
    ls = F.log_softmax(x)
    assert np.isfinite(ls.data[0, :2]).all()
    (s * np.arange(6.0).reshape(2, 3)).sum().backward()
    assert np.isfinite(x.grad.data).all()
    assert np.isfinite(F.sigmoid(Tensor([-1000.0, 1000.0])).data).all()


def test_cosine_similarity_of_zero_vector_is_zero_with_finite_gradient():
    a = Tensor(np.zeros(3), requires_grad=True)
    b = Tensor([1.0, 2.0, 2.0], requires_grad=True)
    c = F.cosine_similarity(a, b, axis=0)
    assert c.item() == 0.0
    c.backward()
    # Clamped norm: dcos/da = b / (eps |b|)
    np.testing.assert_allclose(a.grad.data, b.data / (1e-8 * 3.0))
    np.testing.assert_array_equal(b.grad.data, 0.0)


def test_cosine_eps_matches_pytorch_definition_by_hand():
    a, b = np.array([3.0, 4.0]), np.array([1e-9, 0.0])
    expected = (a @ b) / (5.0 * 1e-8)  # |b| = 1e-9 is clamped to eps = 1e-8
    np.testing.assert_allclose(F.cosine_similarity(Tensor(a), Tensor(b), axis=0).item(), expected)


def test_einsum_matches_matmul_forms():
    q, k = leaf(2, 3, 4), leaf(2, 5, 4, seed=1)
    a = F.einsum("bik,bjk->bij", q, k)
    b = q @ k.swapaxes(-1, -2)
    np.testing.assert_allclose(a.data, b.data)
    assert gradcheck(lambda x, y: F.einsum("bik,bjk->bij", x, y), [q, k])
    with pytest.raises(ValueError, match="ellipsis"):
        F.einsum("...ij->...ji", q)


def test_matmul_batch_folding_equals_plain_batched_products():
    x, w = leaf(3, 4, 5), leaf(5, 2, seed=1)
    (x @ w * np.arange(24.0).reshape(3, 4, 2)).sum().backward()
    g = np.arange(24.0).reshape(3, 4, 2)
    np.testing.assert_allclose(x.grad.data, np.einsum("btj,kj->btk", g, w.data))
    np.testing.assert_allclose(w.grad.data, np.einsum("btk,btj->kj", x.data, g))


@pytest.mark.parametrize("make, message", [
    (lambda: Tensor(np.ones((4, 2))) @ Tensor(np.ones((4, 2))),
     r"MatMul: cannot multiply shapes \(4, 2\) and \(4, 2\): the last dimension of the first \(2\) must equal "
     r"the second-to-last dimension of the second \(4\)"),
    (lambda: Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((5, 4, 2))), r"MatMul: batch dimensions .*\(2,\) vs \(5,\)"),
    (lambda: Tensor(np.ones((4, 2))) + Tensor(np.ones(3)), r"Add: .*shape \(4, 2\) float64, shape \(3,\) float64"),
    (lambda: Tensor(np.ones(6)).reshape(4, 2), r"Reshape: .*size 6 into shape \(4, ?2\)"),
    (lambda: Tensor(np.ones((2, 3))).sum(axis=2), r"Sum: .*axis 2"),
    (lambda: Tensor(np.ones((2, 3)))[5], r"GetItem: .*index 5 .*shape \(2, 3\)"),
    (lambda: F.einsum("ij,jk->ik", Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5)))),
     r"Einsum: axis 'j' has size 3 in operand 0 \('ij'\) but 4 in operand 1 \('jk'\).*shape \(2, 3\)"),
    (lambda: F.einsum("ijk->i", Tensor(np.ones((2, 3)))), r"Einsum: subscripts 'ijk' name 3 axes but operand 0 has shape \(2, 3\)"),
    (lambda: F.masked_fill(Tensor(np.ones(3)), np.array([1, 0, 1]), 0.0), r"masked_fill: mask must be boolean"),
    (lambda: F.cosine_similarity(Tensor(np.ones((2, 3))), Tensor(np.ones((2, 4)))), r"CosineSimilarity: .*\(2, 3\).*\(2, 4\)"),
])
def test_bad_input_names_the_op_and_shapes(make, message):
    with pytest.raises((ValueError, IndexError, TypeError), match=message) as caught:
        make()
    op = str(caught.value).split(":")[0]
    assert f"{op}: {op}:" not in str(caught.value)  # the op is named once, whoever raised


def test_einsum_broadcasts_size_one_axes_like_numpy():
    a, b = Tensor(np.arange(6.0).reshape(2, 3)), Tensor(np.arange(4.0).reshape(1, 4))
    np.testing.assert_allclose(F.einsum("ij,jk->ik", a, b).data, np.einsum("ij,jk->ik", a.data, b.data))


def test_softmax_of_integer_scores_gives_float64_weights_like_np_exp():
    weights = F.softmax(Tensor(np.array([1, 2, 3])))
    assert weights.dtype == np.float64
    np.testing.assert_allclose(weights.data, np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())


def test_numpy_functions_on_tensors_record_or_refuse():
    x = leaf(3)
    y = np.exp(x) * np.sin(1.0)
    assert isinstance(y, Tensor) and y.requires_grad
    with pytest.raises(TypeError, match="np.spacing"):  # (a function no one will map to an op)
        np.spacing(x)


def test_zero_dim_gradients_summed_from_several_users_stay_arrays():
    x = Tensor(2.0, requires_grad=True)
    (x * x + x * 3.0 + x * x).backward()  # three users: NumPy's 0-d products are scalars
    assert type(x.grad.data) is np.ndarray and x.grad.item() == 4 * 2.0 + 3.0


def test_grad_output_that_requires_grad_stays_in_the_graph():
    # Jacobian-vector product by double backward: g(v) = vᵀJ = 3x² v, so d(sum g)/dv = 3x².
    x = leaf(4)
    v = leaf(4, seed=1)
    g, = minigrad.grad(x ** 3, [x], grad_output=v, create_graph=True)
    dv, = minigrad.grad(g.sum(), [v])
    np.testing.assert_allclose(dv.data, 3 * x.data ** 2)


def test_rebinding_data_after_use_differentiates_at_forward_time_values_in_both_modes():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    x.data = np.array([10.0, 20.0])
    plain, = minigrad.grad(y, [x], retain_graph=True)
    recorded, = minigrad.grad(y, [x], create_graph=True)
    np.testing.assert_array_equal(plain.data, [2.0, 4.0])     # d/dx sum(x²) = 2x at x = (1, 2)
    np.testing.assert_array_equal(recorded.data, [2.0, 4.0])
    second, = minigrad.grad(recorded.sum(), [x])               # and the second derivative still reaches x
    np.testing.assert_array_equal(second.data, [2.0, 2.0])


def _failing_forward(self, x):
    return x.reshape(5)  # the student's own line: the traceback must still show it


def _failing_backward(self, grad, x, out):
    return grad.reshape(5)


@pytest.mark.parametrize("stage", ["forward", "backward"])
def test_errors_in_an_op_keep_the_line_that_failed(stage):
    import traceback

    from minigrad.ops import Function

    class _Student(Function):
        def forward(self, x):
            return x * 2

        def backward(self, grad, x, out):
            return grad * 2

    setattr(_Student, stage, _failing_forward if stage == "forward" else _failing_backward)
    x = leaf(2, 3)
    with pytest.raises(ValueError) as info:
        _Student.apply(x).sum().backward()
    assert f"_Student{'' if stage == 'forward' else '.backward'}: " in str(info.value)
    assert "shape (2, 3) float64" in str(info.value)
    cause = info.value.__cause__
    assert cause is not None
    lines = [frame.line for frame in traceback.extract_tb(cause.__traceback__)]
    assert any("the student's own line" in line or "grad.reshape(5)" in line for line in lines)


def test_hook_sees_each_op_newest_first_and_the_leaf_gradients():
    class Recorder:
        def __init__(self):
            self.ops, self.leaves = [], {}

        def op(self, fn, output, grad, handed):
            self.ops.append((fn.number, type(fn).__name__, [(raw.shape, fitted.shape) for _, raw, fitted in handed]))

        def leaf(self, tensor, grad):
            self.leaves[id(tensor)] = np.array(grad)

    a, b = leaf(2, 3), leaf(3, seed=1)
    recorder = Recorder()
    ((a * b).exp().sum() + (a * 2.0).sum()).backward(hook=recorder)
    numbers = [n for n, _, _ in recorder.ops]
    assert numbers == sorted(numbers, reverse=True) and len(numbers) == 6
    mul = next(h for _, name, h in recorder.ops if name == "Mul" and len(h) == 2)
    assert mul == [((2, 3), (2, 3)), ((2, 3), (3,))]  # b's gradient summed back over the broadcast axis
    np.testing.assert_array_equal(recorder.leaves[id(a)], a.grad.data)
    np.testing.assert_array_equal(recorder.leaves[id(b)], b.grad.data)


# ---- the engine brings every gradient to its input's shape, both ways ----------------------

class _RowTotal(Function):
    """x (n, m) -> its row sums (n, 1).  Backward returns grad (n, 1) as it is: the engine repeats it."""

    def forward(self, x):
        return x.sum(axis=1, keepdims=True)

    def backward(self, grad, x, out):
        return grad


@pytest.mark.parametrize("shape", [(3, 4), (80, 80)])  # a new array, and a broadcast view (> 4096)
def test_a_gradient_with_kept_axes_is_repeated_to_the_input_shape(shape):
    x = Tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)
    upstream = np.arange(shape[0], dtype=float).reshape(-1, 1)
    _RowTotal.apply(x).backward(upstream)
    np.testing.assert_array_equal(x.grad.data, np.repeat(upstream, shape[1], axis=1))  # d/dx_ij = g_i
    x.grad.zero_()  # the leaf's .grad is its own writable array, even when the sweep handed a view
    assert not x.grad.data.any()


def test_a_repeated_gradient_stays_in_the_graph_under_create_graph():
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    g, = minigrad.grad((_RowTotal.apply(x) ** 2).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.data, [[6.0, 6.0], [14.0, 14.0]])  # 2 * row sum, repeated
    g.sum().backward()  # d/dx_kl sum_ij 2 rowsum_i = 2 * 2 (each row sum appears in 2 entries)
    np.testing.assert_allclose(x.grad.data, np.full((2, 2), 4.0))


def test_a_gradient_that_fits_neither_way_names_the_op_and_both_shapes():
    class _Wrong(Function):
        def forward(self, x):
            return x.sum()

        def backward(self, grad, x, out):
            return np.ones(5)

    x = Tensor(np.ones((3, 4)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"_Wrong.backward returned a gradient of shape \(5,\) for an input of shape \(3, 4\)"):
        _Wrong.apply(x).backward()


# ---- the seams: grad mode, empty batches, shared gradients, wrong rules (each failed before) ----

def test_set_grad_enabled_works_as_a_plain_call():
    x = leaf(2)
    minigrad.set_grad_enabled(False)
    try:
        assert (x * 2.0).grad_fn is None and not minigrad.is_grad_enabled()
    finally:
        minigrad.set_grad_enabled(True)
    assert (x * 2.0).grad_fn is not None


def test_no_grad_on_a_generator_covers_what_it_yields():
    x = leaf(2)

    @no_grad()
    def doubles(n):
        for _ in range(n):
            yield x * 2.0

    made = list(doubles(2))
    assert all(y.grad_fn is None for y in made) and minigrad.is_grad_enabled()


def test_complex_tensors_are_refused():
    with pytest.raises(TypeError, match="complex"):
        Tensor(np.array([1 + 2j]), requires_grad=True)


def test_a_rule_returning_the_wrong_number_of_gradients_is_named():
    class _TwoForOne(Function):
        def forward(self, x):
            return x * 2

        def backward(self, grad, x, out):
            return grad, grad

    with pytest.raises(RuntimeError, match="_TwoForOne.backward returned 2 gradients for 1 inputs"):
        _TwoForOne.apply(leaf(3)).sum().backward()


def test_a_plain_function_as_hook_is_refused_clearly():
    with pytest.raises(TypeError, match="hook must be an object with methods op"):
        (leaf(2) * 2.0).sum().backward(hook=lambda *args: None)


@pytest.mark.parametrize("x_shape, w_shape", [((0, 3), (1, 3)), ((1, 0), (1, 1)), ((2, 0, 3), (1, 1, 3))])
def test_an_empty_batch_against_a_parameter_gives_zero_gradients(x_shape, w_shape):
    w = leaf(*w_shape)
    (Tensor(np.zeros(x_shape)) * w + w).sum().backward()
    np.testing.assert_array_equal(w.grad.data, np.zeros(w_shape))  # d/dw of a sum over nothing


def test_gradients_under_create_graph_are_tensors_of_their_own():
    x, z = leaf(3), leaf(3, seed=1)
    c = Tensor([1.0, 2.0, 3.0])
    ((x + z) * c).sum().backward(create_graph=True)
    assert x.grad is not z.grad
    x.grad.zero_()  # writable, and z's is untouched
    np.testing.assert_array_equal(z.grad.data, c.data)
    gx, gz = minigrad.grad(((x + z) * c).sum(), [x, z], create_graph=True)
    assert gx is not gz


def test_kept_intermediates_see_parameters_as_tensors():
    # d/dx <v, d/dx gelu(x).sum()> = v gelu''(x): a Parameter input must not reuse forward's kept tanh
    x = minigrad.nn.Parameter(np.array([0.3, -1.2, 2.0]))
    v = np.array([1.0, -2.0, 0.5])
    g, = minigrad.grad(F.gelu(x).sum(), [x], create_graph=True)
    (g * v).sum().backward()
    h = 1e-5
    def d_gelu(t):
        return 0.5 * (1 + np.tanh(np.sqrt(2 / np.pi) * (t + 0.044715 * t ** 3))) + 0.5 * t * (
            1 - np.tanh(np.sqrt(2 / np.pi) * (t + 0.044715 * t ** 3)) ** 2) * np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * t * t)
    second = (d_gelu(x.data + h) - d_gelu(x.data - h)) / (2 * h)  # finite differences of the hand-derived gelu'
    np.testing.assert_allclose(x.grad.data, v * second, rtol=1e-6)
