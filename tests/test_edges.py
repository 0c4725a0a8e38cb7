"""Right answers at the edges: broadcasting along a reduced axis, casts, inf and NaN that a
mask must not touch, zero-size dimensions, degenerate reductions and small API corners.

Oracles: NumPy on the broadcast arrays, hand limits (written next to each case), and
finite differences (gradcheck)."""
import warnings

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import GradcheckError, Tensor, gradcheck, gradgradcheck

INF, NAN = np.inf, np.nan
# NumPy warns where these tests make it compute an infinity that is the right answer.
AN_INFINITY_ON_PURPOSE = pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning")


def grads_of(fn, *values):
    """fn(*tensors).sum().backward(); the values and each input's gradient."""
    xs = [Tensor(np.asarray(v, dtype=float), requires_grad=True) for v in values]
    out = fn(*xs)
    out.sum().backward()
    return out.data, [x.grad.data for x in xs]


# ---- 1. cosine similarity broadcasts first, then takes the norms -----------------------

def numpy_cosine(a, b, axis):
    a, b = np.broadcast_arrays(a, b)
    return np.sum(a * b, axis=axis) / (np.linalg.norm(a, axis=axis) * np.linalg.norm(b, axis=axis))


def test_cosine_broadcasting_along_the_reduced_axis():
    a, b = np.array([[1.0], [2.0]]), np.array([[1, 1, 1, 1], [1, -1, 1, 1.0]])
    out = F.cosine_similarity(Tensor(a), Tensor(b), axis=-1)
    np.testing.assert_allclose(out.data, [1.0, 0.5])
    assert gradcheck(lambda x, y: F.cosine_similarity(x, y, axis=-1), [Tensor(a), Tensor(b)])


def test_cosine_broadcasting_a_middle_reduced_axis():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 4, 3)), rng.standard_normal((4, 1))
    out = F.cosine_similarity(Tensor(a), Tensor(b), axis=1)
    np.testing.assert_allclose(out.data, numpy_cosine(a, b, 1))
    assert gradcheck(lambda x, y: F.cosine_similarity(x, y, axis=1), [Tensor(a), Tensor(b)])
    assert gradgradcheck(lambda x, y: F.cosine_similarity(x, y, axis=1), [Tensor(a), Tensor(b)])


# ---- 2. a cast to integers or booleans has no gradient --------------------------------

@pytest.mark.parametrize("dtype", [np.int64, np.int32, bool])
def test_cast_to_a_non_float_dtype_does_not_require_grad(dtype):
    x = Tensor([0.3, 1.7, 2.5], requires_grad=True)
    y = x.astype(dtype)
    assert y.dtype == np.dtype(dtype) and not y.requires_grad and y.grad_fn is None
    np.testing.assert_array_equal(y.data, np.array([0.3, 1.7, 2.5]).astype(dtype))


def test_cast_to_int_times_a_float_gives_no_truncated_gradient():
    x = Tensor([0.3, 1.7], requires_grad=True)
    loss = (x.astype(np.int64) * 0.4).sum() + (x * 1.0).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])  # only the float path counts


def test_astype_honours_copy():
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert x.astype(np.float64, copy=False) is x  # NumPy: no copy when nothing changes
    y = x.astype(np.float64)
    assert y is not x and not np.shares_memory(y.data, x.data)
    z = x.astype(np.float32, copy=False)
    assert z.dtype == np.float32 and z.requires_grad


# ---- 3. select, never multiply by a 0/1 mask -------------------------------------------

def test_relu_of_minus_inf_is_zero_and_of_negatives_is_plus_zero():
    out = F.relu(Tensor([-INF, -1.0, -0.0, 2.0, INF]))
    np.testing.assert_array_equal(out.data, [0.0, 0.0, 0.0, 2.0, INF])
    assert not np.signbit(out.data).any()


@AN_INFINITY_ON_PURPOSE  # sqrt's slope at 0 is inf, as it should be
def test_sqrt_of_relu_has_gradient_zero_where_relu_is_flat():
    _, (grad,) = grads_of(lambda x: F.sqrt(F.relu(x)), [-1.0, 0.0, 4.0])
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.25])  # d sqrt(x)/dx = 1 / (2 sqrt 4)


@AN_INFINITY_ON_PURPOSE  # sqrt's slope at 0 is inf
def test_where_backward_ignores_an_infinite_gradient_of_the_branch_not_taken():
    # sqrt at 0 has gradient inf; it reaches only the input that was selected there
    _, (ga, gb) = grads_of(lambda a, b: F.sqrt(F.where(np.array([True, False]), a, b)), [4.0, 1.0], [1.0, 0.0])
    np.testing.assert_array_equal(ga, [0.25, 0.0])
    np.testing.assert_array_equal(gb, [0.0, INF])


@AN_INFINITY_ON_PURPOSE  # sqrt's slope at 0 is inf
def test_masked_fill_backward_ignores_an_infinite_gradient_where_filled():
    _, (g,) = grads_of(lambda x: F.sqrt(F.masked_fill(x, np.array([False, True]), 0.0)), [4.0, 9.0])
    np.testing.assert_array_equal(g, [0.25, 0.0])  # the filled entry does not depend on x


def test_dropout_of_inf_in_a_dropped_place_is_zero():
    x = Tensor([INF, 1.0], requires_grad=True)
    out = minigrad.ops.Dropout.apply(x, mask=np.array([False, True]), p=0.5)
    np.testing.assert_array_equal(out.data, [0.0, 2.0])


# ---- 4. powers at zero --------------------------------------------------------------

def test_power_zero_has_gradient_zero_at_zero():
    _, (g,) = grads_of(lambda x: x ** 0, [0.0, 2.0])
    np.testing.assert_array_equal(g, [0.0, 0.0])  # d/dx x^0 = d/dx 1 = 0


@AN_INFINITY_ON_PURPOSE  # 0 ** (b - 1) for b < 1 is inf
def test_zero_to_a_power_has_exponent_gradient_zero():
    # out ln a -> 0 as a -> 0 for a positive exponent: 0^w is flat in w
    _, (ga, gw) = grads_of(lambda a, w: a ** w, [0.0, 0.0], [2.0, 0.5])
    np.testing.assert_array_equal(gw, [0.0, 0.0])
    _, (gw,) = grads_of(lambda w: 0.0 ** w, [2.0, 0.5])
    np.testing.assert_array_equal(gw, [0.0, 0.0])


# ---- 5.-7. left-out entries are never read; infinities have limits ------------------

def test_softmax_where_does_not_read_left_out_entries():
    out = F.softmax(Tensor([1.0, 2.0, INF]), where=[True, True, False])
    e = np.exp([1.0, 2.0])
    np.testing.assert_allclose(out.data, [e[0] / e.sum(), e[1] / e.sum(), 0.0])
    out = F.softmax(Tensor([1.0, NAN, 2.0]), where=np.array([True, False, True]))
    np.testing.assert_allclose(out.data, [e[0] / e.sum(), 0.0, e[1] / e.sum()])


def test_cross_entropy_ignored_rows_with_inf_or_nan_logits_contribute_zero():
    logits = Tensor([[1.0, 2.0, 0.5], [NAN, INF, 0.0]], requires_grad=True)
    loss = F.cross_entropy(logits, np.array([1, -100]), ignore_index=-100)
    first = np.log(np.exp([1.0, 2.0, 0.5]).sum()) - 2.0
    np.testing.assert_allclose(loss.data, first)
    loss.backward()
    p = np.exp([1.0, 2.0, 0.5]) / np.exp([1.0, 2.0, 0.5]).sum()
    np.testing.assert_allclose(logits.grad.data, [p - [0, 1, 0], [0.0, 0.0, 0.0]])


@AN_INFINITY_ON_PURPOSE  # log(0) = -inf for all -inf
def test_logsumexp_with_plus_inf_is_inf():
    with np.errstate(all="ignore"):
        expected = np.log(np.sum(np.exp([INF, 0.0])))
    assert expected == INF
    assert F.logsumexp(Tensor([INF, 0.0])).item() == INF
    assert F.logsumexp(Tensor([-INF, -INF])).item() == -INF


# ---- 8. empty and degenerate reductions: NumPy's answer --------------------------------

def test_mean_and_var_over_an_empty_axis_give_numpys_nan():
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for fn, ref in ((lambda t: t.mean(axis=0), np.mean), (lambda t: t.var(axis=0), np.var)):
            out = fn(x)
            np.testing.assert_array_equal(out.data, ref(np.zeros((0, 3)), axis=0))
            out.backward(np.ones(3))
            assert x.grad.shape == (0, 3)
            x.grad = None


def test_mean_of_an_empty_batch_keeps_its_gradient():
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    x.mean(axis=1).sum().backward()
    assert x.grad.shape == (0, 3)


def test_var_of_one_element_with_ddof_1_is_nan_as_numpy():
    x = Tensor([2.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = x.var(ddof=1)
        assert np.isnan(out.item()) and np.isnan(np.var([2.0], ddof=1))
        out.backward()
    assert np.isnan(x.grad.data).all()  # 0 / 0, as PyTorch


def test_layer_norm_of_an_empty_batch_under_create_graph():
    x = Tensor(np.zeros((0, 4)), requires_grad=True)
    w = Tensor(np.ones(4), requires_grad=True)
    g, = minigrad.grad(F.layer_norm(x, w).sum(), [x], create_graph=True)
    assert g.shape == (0, 4)


@AN_INFINITY_ON_PURPOSE  # log of an empty sum, 0
def test_log_softmax_and_softmax_over_an_empty_axis_are_empty():
    x = Tensor(np.zeros((3, 0)), requires_grad=True)
    for fn in (F.log_softmax, F.softmax):
        out = fn(x, axis=-1)
        assert out.shape == (3, 0)
        out.sum().backward()
        assert x.grad.shape == (3, 0)
        x.grad = None


# ---- 9.-11. zero-size matmul, broadcast einsum letters, masked_fill's value ----------

def test_matmul_with_a_zero_size_dimension():
    a, b = Tensor(np.ones((2, 3, 4)), requires_grad=True), Tensor(np.ones((4, 0)), requires_grad=True)
    (a @ b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, np.zeros((2, 3, 4)))
    assert b.grad.shape == (4, 0)
    assert gradgradcheck(lambda x, y: x @ y, [Tensor(np.ones((2, 4, 0))), Tensor(np.ones(0))])
    assert gradgradcheck(lambda x, y: x @ y, [Tensor(np.ones((2, 3, 0))), Tensor(np.ones((0, 2)))])


@pytest.mark.parametrize("subscripts, shapes", [("ij,jk->ik", [(3, 1), (4, 2)]), ("i,i->", [(1,), (4,)]),
                                                ("ij,ij->i", [(3, 4), (1, 4)])])
def test_einsum_backward_when_a_summed_letter_broadcasts(subscripts, shapes):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    out = F.einsum(subscripts, *[Tensor(a) for a in arrays])
    np.testing.assert_allclose(out.data, np.einsum(subscripts, *arrays))
    assert gradcheck(lambda *xs: F.einsum(subscripts, *xs), [Tensor(a) for a in arrays])
    assert gradgradcheck(lambda *xs: F.einsum(subscripts, *xs), [Tensor(a) for a in arrays])


def test_masked_fill_passes_the_gradient_to_a_tensor_value():
    mask = np.array([[True, False], [True, True]])
    out, (gx, gv) = grads_of(lambda x, v: F.masked_fill(x, mask, v) * 3.0, [[1.0, 2.0], [3.0, 4.0]], 5.0)
    np.testing.assert_array_equal(out, [[15.0, 6.0], [15.0, 15.0]])
    np.testing.assert_array_equal(gx, [[0.0, 3.0], [0.0, 0.0]])
    assert gv == 9.0  # three filled places, each times 3
    assert gradcheck(lambda x, v: F.masked_fill(x, mask, v), [Tensor(np.ones((2, 2))), Tensor(np.ones(2))])


# ---- 14. small API edges -------------------------------------------------------------

def test_sum_with_a_numpy_integer_axis():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    out = x.sum(axis=np.int64(0))
    np.testing.assert_array_equal(out.data, [3.0, 5.0, 7.0])
    out.backward(np.ones(3))
    np.testing.assert_array_equal(x.grad.data, np.ones((2, 3)))
    np.testing.assert_array_equal(x.mean(axis=(np.int64(0), 1)).data, 2.5)


def test_softmax_of_a_0d_tensor_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Softmax: .*0-d"):
        F.softmax(Tensor(2.0))
    with pytest.raises(ValueError, match=r"LogSoftmax: .*0-d"):
        F.log_softmax(Tensor(2.0))
    with pytest.raises(ValueError, match=r"LogSumExp: .*0-d"):
        F.logsumexp(2.0)


def test_an_index_list_of_tensors():
    x = Tensor(np.arange(5.0), requires_grad=True)
    out = x[[Tensor(0), Tensor(3), Tensor(3)]]
    np.testing.assert_array_equal(out.data, [0.0, 3.0, 3.0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 0.0, 0.0, 2.0, 0.0])


# ---- gradcheck's message where the true gradient is 0 -------------------------------

def test_gradcheck_reports_the_absolute_error_where_the_true_gradient_is_zero():
    class _Wrong(minigrad.ops.Relu):  # gradient 1 everywhere, also where relu is flat
        def backward(self, grad, x, out):
            return grad

    with pytest.raises(GradcheckError) as err:
        gradcheck(_Wrong.apply, [Tensor([-1.0, -2.0])])
    message = str(err.value)
    assert "numeric 0" in message and "abs error" in message and "rel error" not in message
