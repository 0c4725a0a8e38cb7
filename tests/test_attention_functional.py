"""attention.functional: scaled dot-product attention, masks and the notes' self-attention.

Oracles: attention written out in plain NumPy below, finite differences (gradcheck),
the numbers printed in the lecture notes, and values worked out by hand.
"""
import math
import warnings

import numpy as np
import pytest

import minigrad.functional as F
from minigrad import Tensor, func, gradcheck, gradgradcheck
from attention import causal_mask, padding_mask, scaled_dot_product_attention, self_attention


def numpy_attention(q, k, v, allowed=None, scale=None):
    """The textbook formula, one query at a time: an oracle independent of the package."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    T, S = q.shape[-2], k.shape[-2]
    q, k, v = (np.broadcast_to(x, lead + x.shape[-2:]) for x in (q, k, v))
    allowed = np.ones((T, S), bool) if allowed is None else allowed
    allowed = np.broadcast_to(allowed, lead + (T, S))
    out, weights = np.zeros(lead + (T, v.shape[-1])), np.zeros(lead + (T, S))
    for idx in np.ndindex(*lead):
        for t in range(T):
            ok = allowed[idx][t]
            if not ok.any():
                continue
            scores = np.array([scale * np.dot(q[idx][t], k[idx][s]) for s in range(S)])
            e = np.where(ok, np.exp(scores - scores[ok].max()), 0.0)
            weights[idx][t] = e / e.sum()
            out[idx][t] = weights[idx][t] @ v[idx]
    return out, weights


def random(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


Q, K, V = random(2, 3, 4, seed=1), random(2, 5, 4, seed=2), random(2, 5, 3, seed=3)  # T=3 != S=5, Dv=3
MASK = random(2, 3, 5, seed=4) > -0.3  # some keys blocked per query
MASK[0, 1] = False  # one query that may attend to nothing


# ---- the lecture notes' numbers (§1.1.2) ------------------------------------------

V_NOTES = np.array([[0.2815, 0.0562], [0.5227, -0.2384], [-0.0499, 0.5263], [-0.0085, 0.7291]])
W_T_NOTES = np.array([[0.2535, 0.2702, 0.2177, 0.2060],
                      [0.2668, 0.3288, 0.1842, 0.1658],
                      [0.2371, 0.2031, 0.2834, 0.2910],
                      [0.2426, 0.1978, 0.3147, 0.3372]])
BANK, OF, RIVER = 0, 1, 3


def test_self_attention_reproduces_the_notes_table_and_vectors():
    Y, W = self_attention(Tensor(V_NOTES))
    np.testing.assert_allclose(W.T.data, W_T_NOTES, atol=1.5e-4)  # V is printed rounded, hence 1.5e-4
    np.testing.assert_allclose(Y[OF].data, [0.2361, 0.1879], atol=1e-4)
    np.testing.assert_allclose(Y[RIVER].data, [0.1273, 0.3711], atol=1e-4)


def test_self_attention_raises_cosine_of_bank_and_river_as_in_the_notes():
    V = Tensor(V_NOTES)
    Y, _ = self_attention(V)
    # The notes print 0.1842 from the unrounded V; the printed (rounded) V gives 0.1843.
    assert F.cosine_similarity(V[BANK], V[RIVER], axis=0).item() == pytest.approx(0.1842, abs=1.5e-4)
    assert F.cosine_similarity(Y[BANK], Y[RIVER], axis=0).item() == pytest.approx(0.9453, abs=1e-4)


def test_self_attention_einsum_form_equals_matmul_form():
    Y, W = self_attention(Tensor(V_NOTES))
    np.testing.assert_allclose(F.einsum("ij,jd->id", W, Tensor(V_NOTES)).data, Y.data, atol=1e-15)
    np.testing.assert_allclose(Y.data, numpy_attention(V_NOTES, V_NOTES, V_NOTES, scale=1.0)[0], atol=1e-15)


def test_self_attention_scale_multiplies_the_scores():
    _, W = self_attention(Tensor(V_NOTES), scale=0.5)
    np.testing.assert_allclose(W.data, numpy_attention(V_NOTES, V_NOTES, V_NOTES, scale=0.5)[1], atol=1e-15)


# ---- the d2l identical-keys example ----------------------------------------------

def test_identical_keys_with_valid_lengths_average_the_valid_values():
    # Every key is the same, so each valid key gets the same weight and the output is the
    # mean of the first `length` value rows of arange(40).reshape(10, 4):
    # rows 0-1 -> [2, 3, 4, 5]; rows 0-5 -> [10, 11, 12, 13].
    queries = random(2, 1, 2, seed=5)
    keys = np.ones((2, 10, 2))
    values = np.tile(np.arange(40.0).reshape(1, 10, 4), (2, 1, 1))
    out, weights = scaled_dot_product_attention(queries, keys, values, mask=padding_mask([2, 6], 10))
    np.testing.assert_allclose(out.data, [[[2, 3, 4, 5]], [[10, 11, 12, 13]]], atol=1e-12)
    np.testing.assert_array_equal(weights.data[0, 0], [0.5] * 2 + [0.0] * 8)


# ---- masks -----------------------------------------------------------------------

def test_causal_mask_by_hand():
    np.testing.assert_array_equal(causal_mask(3), [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
    np.testing.assert_array_equal(causal_mask(2, 4), [[1, 0, 0, 0], [1, 1, 0, 0]])
    assert causal_mask(3).dtype == bool


def test_padding_mask_by_hand():
    mask = padding_mask([1, 3], 4)
    assert mask.shape == (2, 1, 4) and mask.dtype == bool
    np.testing.assert_array_equal(mask[:, 0], [[1, 0, 0, 0], [1, 1, 1, 0]])


@pytest.mark.parametrize("lengths", [[1, 5], [[1, 2]], [1.0, 2.0], [-1, 2]])
def test_padding_mask_rejects_bad_lengths(lengths):
    with pytest.raises(ValueError, match="padding_mask"):
        padding_mask(lengths, 4)


# ---- forward against the NumPy oracle ----------------------------------------------

@pytest.mark.parametrize("mask", [None, MASK, MASK[0], padding_mask([2, 4], 5)], ids=["none", "full", "2d", "padding"])
def test_forward_matches_numpy(mask):
    out, weights = scaled_dot_product_attention(Q, K, V, mask=mask)
    expected_out, expected_weights = numpy_attention(Q, K, V, mask)
    np.testing.assert_allclose(out.data, expected_out, atol=1e-12)
    np.testing.assert_allclose(weights.data, expected_weights, atol=1e-12)


def test_forward_broadcasts_batch_dimensions_and_custom_scale():
    q, k, v = random(2, 1, 3, 4), random(3, 5, 4), random(5, 2)  # (B, H, T, Dh), (H, S, Dh), (S, Dv)
    out, weights = scaled_dot_product_attention(q, k, v, scale=0.3)
    assert out.shape == (2, 3, 3, 2) and weights.shape == (2, 3, 3, 5)
    np.testing.assert_allclose(out.data, numpy_attention(q, k, v, scale=0.3)[0], atol=1e-12)


def test_is_causal_equals_the_causal_mask_and_combines_with_a_mask():
    out, _ = scaled_dot_product_attention(Q, K, V, is_causal=True)
    np.testing.assert_allclose(out.data, numpy_attention(Q, K, V, causal_mask(3, 5))[0], atol=1e-12)
    out, _ = scaled_dot_product_attention(Q, K, V, mask=MASK, is_causal=True)
    np.testing.assert_allclose(out.data, numpy_attention(Q, K, V, MASK & causal_mask(3, 5))[0], atol=1e-12)


def test_float32_stays_float32():
    q, k, v = (Tensor(x.astype(np.float32), requires_grad=True) for x in (Q, K, V))
    out, weights = scaled_dot_product_attention(q, k, v, mask=MASK)
    assert out.dtype == weights.dtype == np.float32
    out.sum().backward()
    assert q.grad.dtype == k.grad.dtype == v.grad.dtype == np.float32


# ---- gradients ---------------------------------------------------------------------

@pytest.mark.parametrize("mask, is_causal", [(None, False), (MASK, False), (None, True), (MASK[1], True)],
                         ids=["plain", "mask", "causal", "mask+causal"])
def test_gradients_first_and_second_order(mask, is_causal):
    def out(q, k, v):
        return scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal)[0]

    def weights(q, k, v):
        return scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal)[1]

    small = [Q[..., :2], K[..., :2], V[..., :2]]  # (2, 3, 2), (2, 5, 2), (2, 5, 2): T != S
    assert gradcheck(out, small) and gradcheck(weights, small)
    assert gradgradcheck(out, small)


def test_self_attention_gradients_first_and_second_order():
    V = random(2, 3, 2, seed=7)
    assert gradcheck(lambda x: self_attention(x)[0], [V])
    assert gradgradcheck(lambda x: self_attention(x, scale=0.7)[0], [V])


# ---- invariants --------------------------------------------------------------------

def test_weight_rows_sum_to_one():
    _, weights = scaled_dot_product_attention(Q, K, V, mask=padding_mask([2, 4], 5))
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0, atol=1e-14)


def test_adding_a_constant_to_all_scores_changes_nothing():
    # An extra feature 1 on every query and c on every key adds c to every score, even a huge c.
    for c in (3.0, 1e4):
        q = np.concatenate([Q, np.ones(Q.shape[:-1] + (1,))], axis=-1)
        k = np.concatenate([K, np.full(K.shape[:-1] + (1,), c)], axis=-1)
        shifted, _ = scaled_dot_product_attention(q, k, V, mask=MASK, scale=0.5)
        plain, _ = scaled_dot_product_attention(Q, K, V, mask=MASK, scale=0.5)
        np.testing.assert_allclose(shifted.data, plain.data, atol=1e-9)


def test_masked_keys_get_exactly_zero_weight_and_zero_gradient():
    q, k, v = (Tensor(x, requires_grad=True) for x in (Q, K, V))
    mask = np.ones((3, 5), bool)
    mask[:, 2] = False  # key 2 blocked for every query
    k.data[..., 2, :] = 50.0  # a key that would otherwise win every softmax
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    assert np.all(weights.data[..., 2] == 0.0)
    (out * Tensor(random(*out.shape, seed=8))).sum().backward()
    assert np.all(k.grad.data[..., 2, :] == 0.0) and np.all(v.grad.data[..., 2, :] == 0.0)
    assert np.any(k.grad.data != 0.0) and np.any(v.grad.data != 0.0)


def test_a_query_that_may_attend_to_nothing_gives_zeros_not_nan():
    q, k, v = (Tensor(x, requires_grad=True) for x in (Q, K, V))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value" warning either
        out, weights = scaled_dot_product_attention(q, k, v, mask=MASK)
        (out * Tensor(random(*out.shape, seed=9))).sum().backward()
    assert np.all(weights.data[0, 1] == 0.0) and np.all(out.data[0, 1] == 0.0)
    assert np.all(q.grad.data[0, 1] == 0.0)
    for x in (q, k, v):
        assert np.all(np.isfinite(x.grad.data))
    assert np.all(np.isfinite(weights.data)) and weights.data[0, 0].sum() == pytest.approx(1.0)


def test_causal_outputs_do_not_depend_on_future_tokens():
    x = random(2, 6, 4, seed=10)
    later = x.copy()
    later[:, 4:] += random(2, 2, 4, seed=11)
    before, _ = scaled_dot_product_attention(x, x, x, is_causal=True)
    after, _ = scaled_dot_product_attention(later, later, later, is_causal=True)
    np.testing.assert_array_equal(before.data[:, :4], after.data[:, :4])  # exactly
    assert not np.allclose(before.data[:, 4:], after.data[:, 4:])


def test_self_attention_is_permutation_equivariant():
    x = random(6, 3, seed=12)
    perm = np.random.default_rng(13).permutation(6)
    out, weights = self_attention(Tensor(x))
    out_perm, weights_perm = self_attention(Tensor(x[perm]))
    np.testing.assert_allclose(out_perm.data, out.data[perm], atol=1e-14)
    np.testing.assert_allclose(weights_perm.data, weights.data[perm][:, perm], atol=1e-14)


# ---- dropout -------------------------------------------------------------------------

def test_dropout_zeroes_weights_and_rescales_the_rest():
    p = 0.4
    out, weights = scaled_dot_product_attention(Q, K, V, dropout_p=p, rng=np.random.default_rng(0))
    keep = np.random.default_rng(0).random(weights.shape) >= p  # the same draws
    expected = (numpy_attention(Q, K, V)[1] * keep / (1 - p)) @ V
    np.testing.assert_allclose(out.data, expected, atol=1e-12)
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0, atol=1e-14)  # weights before dropout


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_dropout_probability_outside_0_1_is_an_error(p):
    with pytest.raises(ValueError, match=rf"dropout: p .* must be in \[0, 1\), got {p}"):
        scaled_dot_product_attention(Q, K, V, dropout_p=p)


# ---- clear errors ----------------------------------------------------------------------

def test_query_key_width_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"same width Dh.*\(2, 3, 4\).*\(2, 5, 3\)"):
        scaled_dot_product_attention(Q, K[..., :3], V)


def test_key_value_length_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"same length S.*S=5.*S=4"):
        scaled_dot_product_attention(Q, K, V[:, :4])


def test_unbroadcastable_mask_names_both_shapes():
    with pytest.raises(ValueError, match=r"mask of shape \(3, 4\).*\(2, 3, 5\)"):
        scaled_dot_product_attention(Q, K, V, mask=np.ones((3, 4), bool))


def test_mask_that_would_enlarge_the_weights_is_an_error():
    # A (B, 1, 1, S) mask against single-head weights (B, T, S) would silently give (B, B, T, S).
    with pytest.raises(ValueError, match="does not broadcast"):
        scaled_dot_product_attention(Q, K, V, mask=padding_mask([2, 4], 5)[:, None])


def test_non_boolean_mask_is_an_error():
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(Q, K, V, mask=np.ones((3, 5)))


def test_one_dimensional_inputs_are_an_error():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        scaled_dot_product_attention(Q[0, 0], K, V)


def stacked(f, *batches, shared=()):
    """f over the examples of each batch (axis 0), the shared arguments the same for all: stacked."""
    return np.stack([f(*(Tensor(b[i]) for b in batches), *shared).data for i in range(len(batches[0]))])


def test_inside_vmap_attention_functions_read_one_examples_shape():
    values, queries = random(3, 4, 2, seed=32), random(3, 5, 2, seed=33)  # 3 examples
    for f in (lambda v, q: self_attention(v)[0],
              lambda v, q: scaled_dot_product_attention(q, v, v, is_causal=True,
                                                        mask=np.tri(5, 4, 1, bool))[1]):
        mapped = func.vmap(f)(Tensor(values), Tensor(queries))
        np.testing.assert_allclose(mapped.data, stacked(f, values, queries), rtol=1e-14)
