"""attention.reweighting (notes §1.1.1): Gaussian re-weighting and Nadaraya-Watson pooling.

Oracles: the normal density written out in NumPy, the kernel-regression formula computed
one query at a time, finite differences, and limits worked out by hand.
"""
import math

import numpy as np
import pytest

from minigrad import Tensor, gradcheck, gradgradcheck
from attention import causal_mask, gaussian_weights, kernel_smooth, nadaraya_watson, padding_mask


def normal_density(x, mean, sigma):
    return np.exp(-((x - mean) ** 2) / (2 * sigma ** 2)) / (sigma * math.sqrt(2 * math.pi))


def numpy_nadaraya_watson(queries, keys, values, width):
    out = []
    for q in queries:
        kernel = normal_density(keys, q, width)
        out.append(kernel @ values / kernel.sum())
    return np.array(out)


# ---- Gaussian re-weighting ---------------------------------------------------------

def test_gaussian_weights_rows_are_normalised_normal_densities():
    n, sigma = 7, 1.3
    W = gaussian_weights(n, sigma)
    assert isinstance(W, Tensor) and W.shape == (n, n)
    for i in range(n):
        density = normal_density(np.arange(n), i, sigma)
        np.testing.assert_allclose(W.data[i], density / density.sum(), atol=1e-15)
    np.testing.assert_allclose(W.data.sum(axis=1), 1.0, atol=1e-15)


def test_gaussian_weights_are_symmetric_in_the_interior_and_peak_on_the_diagonal():
    W = gaussian_weights(9, 0.8).data
    assert np.all(W.argmax(axis=1) == np.arange(9))
    np.testing.assert_allclose(W[4, 2:7], W[4, 2:7][::-1], atol=1e-15)


def test_gaussian_weights_gradient_with_respect_to_sigma():
    assert gradcheck(lambda s: gaussian_weights(5, s), [np.array(1.2)])
    assert gradgradcheck(lambda s: gaussian_weights(5, s), [np.array(1.2)])


def test_kernel_smooth_is_W_times_x_and_reduces_noise():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 2 * math.pi, 60)
    clean = np.sin(t)
    noisy = clean + 0.3 * rng.standard_normal(60)
    smooth = kernel_smooth(noisy, 2.0)
    np.testing.assert_allclose(smooth.data, gaussian_weights(60, 2.0).data @ noisy, atol=1e-14)
    assert np.mean((smooth.data - clean) ** 2) < 0.5 * np.mean((noisy - clean) ** 2)


def test_kernel_smooth_keeps_a_constant_series_and_handles_features():
    np.testing.assert_allclose(kernel_smooth(np.full(8, 3.0), 1.5).data, 3.0, atol=1e-14)
    x = np.random.default_rng(1).standard_normal((8, 2))
    np.testing.assert_allclose(kernel_smooth(x, 1.5).data[:, 1], kernel_smooth(x[:, 1], 1.5).data, atol=1e-14)


def test_kernel_smooth_gradients_with_respect_to_x_and_sigma():
    x = np.random.default_rng(2).standard_normal((5, 2))
    assert gradcheck(kernel_smooth, [x, np.array(0.9)])
    assert gradgradcheck(kernel_smooth, [x, np.array(0.9)])


def test_kernel_smooth_keeps_float32():
    assert kernel_smooth(np.ones(4, np.float32), 1.0).dtype == np.float32
    assert kernel_smooth(np.ones(4, np.float32), Tensor(np.float32(1.0))).dtype == np.float32


def test_kernel_smooth_averages_an_integer_series_in_float64():
    x = np.array([0, 3, 6, 3])
    expected = gaussian_weights(4, 1.5).data @ x.astype(float)  # the notes' y = W x in NumPy
    out = kernel_smooth(x, 1.5)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected, rtol=1e-14)


@pytest.mark.parametrize("sigma", [0.0, -1.0, np.array([1.0, 2.0])])
def test_sigma_must_be_one_positive_number(sigma):
    with pytest.raises(ValueError, match="gaussian_weights: sigma"):
        gaussian_weights(4, sigma)


def test_kernel_smooth_rejects_a_3d_series():
    with pytest.raises(ValueError, match=r"kernel_smooth.*\(2, 3, 4\)"):
        kernel_smooth(np.ones((2, 3, 4)), 1.0)


# ---- Nadaraya-Watson pooling -----------------------------------------------------------

KEYS = np.sort(np.random.default_rng(3).uniform(0, 5, 12))
VALUES = 2 * np.sin(KEYS) + KEYS ** 0.8
QUERIES = np.linspace(0, 5, 7)


def test_nadaraya_watson_matches_the_kernel_regression_formula():
    out, weights = nadaraya_watson(QUERIES, KEYS, VALUES, 0.7)
    assert out.shape == (7,) and weights.shape == (7, 12)
    np.testing.assert_allclose(out.data, numpy_nadaraya_watson(QUERIES, KEYS, VALUES, 0.7), atol=1e-12)
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0, atol=1e-14)


def test_nadaraya_watson_limits_of_the_width():
    narrow, _ = nadaraya_watson(KEYS, KEYS, VALUES, 1e-3)  # each key only sees itself
    np.testing.assert_allclose(narrow.data, VALUES, atol=1e-12)
    wide, _ = nadaraya_watson(QUERIES, KEYS, VALUES, 1e4)  # every key counts the same
    np.testing.assert_allclose(wide.data, VALUES.mean(), atol=1e-6)


def test_leave_one_out_excludes_each_query_own_key():
    out, weights = nadaraya_watson(KEYS, KEYS, VALUES, 1e-3, leave_one_out=True)
    assert np.all(np.diag(weights.data) == 0.0)
    # With a tiny width each point copies its nearest other neighbour instead of itself.
    distance = np.abs(KEYS[:, None] - KEYS[None, :]) + np.diag(np.full(12, np.inf))
    np.testing.assert_allclose(out.data, VALUES[distance.argmin(axis=1)], atol=1e-9)


def test_nadaraya_watson_batched_vector_values():
    rng = np.random.default_rng(4)
    q, k, v = rng.uniform(0, 3, (2, 4)), rng.uniform(0, 3, (2, 6)), rng.standard_normal((2, 6, 3))
    out, weights = nadaraya_watson(q, k, v, 0.5)
    assert out.shape == (2, 4, 3) and weights.shape == (2, 4, 6)
    for b in range(2):
        np.testing.assert_allclose(out.data[b], numpy_nadaraya_watson(q[b], k[b], v[b], 0.5), atol=1e-12)


def test_identical_keys_with_valid_lengths_average_the_valid_values():
    # The d2l example: equal keys give equal weights, so the output is the mean of the first
    # `length` rows of arange(40).reshape(10, 4): rows 0-1 -> [2, 3, 4, 5], rows 0-5 -> [10, 11, 12, 13].
    values = np.tile(np.arange(40.0).reshape(1, 10, 4), (2, 1, 1))
    out, _ = nadaraya_watson(np.array([[0.3], [-1.0]]), np.ones((2, 10)), values, 1.0,
                             mask=padding_mask([2, 6], 10))
    np.testing.assert_allclose(out.data, [[[2, 3, 4, 5]], [[10, 11, 12, 13]]], atol=1e-12)


def test_nadaraya_watson_gradients_including_the_width():
    q, k, v = QUERIES[:3], KEYS[:4], VALUES[:4]
    assert gradcheck(lambda *xs: nadaraya_watson(*xs)[0], [q, k, v, np.array(0.8)])
    assert gradgradcheck(lambda *xs: nadaraya_watson(*xs)[0], [q, k, v, np.array(0.8)])

    def earlier_others_only(k, v, w):  # point 0 has no earlier other point: its row is all zeros
        return nadaraya_watson(k, k, v, w, leave_one_out=True, mask=causal_mask(4))[0]

    assert earlier_others_only(k, v, 0.8).data[0] == 0.0
    assert gradcheck(earlier_others_only, [k, v, np.array(0.8)])
    assert gradgradcheck(earlier_others_only, [k, v, np.array(0.8)])


def test_the_width_can_be_learned():
    # One gradient step on the leave-one-out squared error must lower it (the gradient points downhill).
    width = Tensor(np.array(2.0), requires_grad=True)
    out, _ = nadaraya_watson(KEYS, KEYS, VALUES, width, leave_one_out=True)
    loss = ((out - VALUES) ** 2).mean()
    loss.backward()
    smaller, _ = nadaraya_watson(KEYS, KEYS, VALUES, 2.0 - 0.1 * width.grad.item(), leave_one_out=True)
    assert ((smaller.data - VALUES) ** 2).mean() < loss.item()


def test_nadaraya_watson_errors():
    with pytest.raises(ValueError, match="leave_one_out.*T=7 and S=12"):
        nadaraya_watson(QUERIES, KEYS, VALUES, 1.0, leave_one_out=True)
    with pytest.raises(ValueError, match=r"values must have the keys' shape \(12,\)"):
        nadaraya_watson(QUERIES, KEYS, VALUES[:5], 1.0)
    with pytest.raises(ValueError, match="width"):
        nadaraya_watson(QUERIES, KEYS, VALUES, 0.0)
    with pytest.raises(ValueError, match=r"mask of shape \(3,\)"):
        nadaraya_watson(QUERIES, KEYS, VALUES, 1.0, mask=np.ones(3, bool))
