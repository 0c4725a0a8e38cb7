"""Numbers at the seams around the ops: integer inputs, float32 kept, a learnable attention
scale, and layer norm at the edge of the float range.

Oracles: NumPy on the same values in float64, finite differences, and layer norm's
invariance under scaling (LN(c x) = LN(x) once eps is negligible, so d LN/dx at c x is
(1/c) times the derivative at x).
"""
import numpy as np
import pytest

import minigrad.functional as F
from minigrad import Tensor, gradcheck
from attention import kernel_smooth, nadaraya_watson, scaled_dot_product_attention, self_attention


def softmax_reference(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---- integers: read as floats by every op that computes in floats -----------------------

def test_sigmoid_of_unsigned_integers_does_not_wrap_around():
    out = F.sigmoid(np.array([250, 10, 3], np.uint8))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, 1 / (1 + np.exp(-np.array([250.0, 10.0, 3.0]))), rtol=1e-12)
    np.testing.assert_allclose(out.data, [1.0, 0.99995, 0.9526], atol=5e-5)  # the values


@pytest.mark.parametrize("a", [np.array([200, 100, 50], np.uint8), np.array([300, -200, 100], np.int16),
                               np.array([3, 1, 2]), np.array([-7, 0, 2], np.int8)], ids=lambda a: a.dtype.name)
def test_cosine_similarity_of_integers_is_computed_in_floats(a):
    b = np.array([1.0, 2.0, 3.0])
    af = a.astype(np.float64)
    np.testing.assert_allclose(F.cosine_similarity(a, b).data, af @ b / np.linalg.norm(af) / np.linalg.norm(b),
                               rtol=1e-12)
    c = np.array([3, 1, 2])  # integer with integer
    np.testing.assert_allclose(F.cosine_similarity(a, c).data, af @ c / np.linalg.norm(af) / np.linalg.norm(c),
                               rtol=1e-12)


def test_an_integer_beside_float32_joins_float32_as_in_numpy():
    b = np.array([1.0, 2.0, 3.0], np.float32)
    assert F.cosine_similarity(np.array([200, 100, 50], np.uint8), b).dtype == np.float32  # uint8 + float32
    assert F.cosine_similarity(np.array([200, 100, 50], np.int64), b).dtype == np.float64  # int64 + float32


def test_integer_logits_work_in_the_softmax_family():
    logits = np.array([[1, 2, 3], [120, -5, 0]])
    x = logits.astype(np.float64)
    log_softmax = np.log(softmax_reference(x))
    np.testing.assert_allclose(F.log_softmax(logits).data, log_softmax, rtol=1e-12)
    np.testing.assert_allclose(F.logsumexp(logits).data, np.log(np.exp(x - 120).sum(axis=-1)) + 120, rtol=1e-12)
    np.testing.assert_allclose(F.softmax(logits.astype(np.uint8)).data,
                               softmax_reference(logits.astype(np.uint8).astype(np.float64)), rtol=1e-12)
    loss = F.cross_entropy(logits, np.array([2, 0]), reduction="none")
    np.testing.assert_allclose(loss.data, -log_softmax[[0, 1], [2, 0]], rtol=1e-12)


# ---- float32 stays float32: a Python number never promotes -------------------------------

def test_mse_loss_of_float32_is_float32():
    pred, target = np.array([1.0, 2.0, 4.0], np.float32), np.array([0.5, 2.0, 3.0], np.float32)
    loss = F.mse_loss(Tensor(pred), Tensor(target))
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.item(), np.mean((pred - target) ** 2), rtol=1e-6)


def test_attention_on_float32_with_python_number_settings_is_float32():
    points = np.array([0.0, 0.5, 1.5, 2.0], np.float32)
    out, weights = nadaraya_watson(points, points, points, width=0.5)
    assert out.dtype == weights.dtype == np.float32
    assert kernel_smooth(points, 0.7).dtype == np.float32
    q = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    for scale in (None, 0.3):
        assert all(t.dtype == np.float32 for t in scaled_dot_product_attention(q, q, q, scale=scale))
        assert all(t.dtype == np.float32 for t in self_attention(q, scale=scale))


# ---- a learnable temperature stays in the graph -------------------------------------------

QKV = [np.random.default_rng(2).standard_normal(shape) for shape in ((2, 3, 4), (2, 5, 4), (2, 5, 3))]


def test_a_tensor_scale_gets_its_gradient_in_scaled_dot_product_attention():
    q, k, v = QKV
    tau = Tensor(0.7, requires_grad=True)
    out, _ = scaled_dot_product_attention(q, k, v, scale=tau)
    out.sum().backward()
    assert tau.grad is not None
    scores = q @ k.swapaxes(-1, -2)  # NumPy: d/dtau sum(softmax(tau s) v), by central differences
    f = lambda t: (softmax_reference(t * scores) @ v).sum()  # noqa: E731
    np.testing.assert_allclose(tau.grad.item(), (f(0.7 + 1e-6) - f(0.7 - 1e-6)) / 2e-6, rtol=1e-6)
    assert gradcheck(lambda tau, q, k, v: scaled_dot_product_attention(q, k, v, scale=tau)[0],
                     [Tensor(0.7), *QKV])


def test_a_tensor_scale_gets_its_gradient_in_self_attention():
    V = QKV[0]
    assert gradcheck(lambda tau, V: self_attention(V, scale=tau)[0], [Tensor([0.4]), V])
    with pytest.raises(ValueError, match="scale must be one number"):
        self_attention(V, scale=Tensor([0.4, 0.5]))


# ---- layer norm at the edge of the float range ----------------------------------------------

@pytest.mark.parametrize("c, dtype", [(1e308, np.float64), (3e38, np.float32), (1e200, np.float64)])
def test_layer_norm_where_the_squares_overflow(c, dtype):
    unit = np.array([1.0, -1.0, 0.0])
    x = Tensor((c * unit).astype(dtype), requires_grad=True)
    out = F.layer_norm(x)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.data, unit / unit.std(), rtol=1e-6)  # ≈ [1.22, -1.22, 0], never zeros
    upstream = np.array([0.3, -1.0, 2.0])
    (out * Tensor(upstream.astype(dtype))).sum().backward()
    # By scaling: LN(c u) = LN(u) with eps negligible at c u, so dLN/dx at c u = (1/c) dLN/du at u;
    # dLN/du by central differences of NumPy's layer norm without eps.
    f = lambda u: np.sum((u - u.mean()) / u.std() * upstream)  # noqa: E731
    step = 1e-6 * np.eye(3)
    numeric = np.array([(f(unit + h) - f(unit - h)) / 2e-6 for h in step]) / c
    np.testing.assert_allclose(x.grad.data, numeric, rtol=1e-5, atol=1e-5 * np.abs(numeric).max())


def test_layer_norm_overflow_in_one_row_leaves_the_others_as_they_were():
    x = np.array([[1e308, -1e308, 0.0], [1.0, 2.0, 4.0], [5.0, 5.0, 5.0]])
    out = F.layer_norm(x).data
    np.testing.assert_allclose(out[0], [1.224744871, -1.224744871, 0.0], rtol=1e-8)
    row = x[1]
    np.testing.assert_allclose(out[1], (row - row.mean()) / np.sqrt(row.var() + 1e-5), rtol=1e-12)
    np.testing.assert_array_equal(out[2], 0.0)
    assert np.isnan(F.layer_norm(np.array([np.inf, 1.0, 0.0])).data).all()  # no value to give: NaN, not zeros
