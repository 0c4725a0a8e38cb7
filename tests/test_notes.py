"""The lecture notes' §1.1.2 "bank of the river" numbers, reproduced with minigrad ops.

The expected values are the ones printed in the notes (PyTorch output, 4 decimals).
V there is printed rounded to 4 decimals, so the first cosine comes out 0.1843 here
where the notes (with the unrounded V) show 0.1842.
"""
import numpy as np

import minigrad.functional as F
from minigrad import Tensor, gradcheck

V_PRINTED = np.array([[0.2815, 0.0562],
                      [0.5227, -0.2384],
                      [-0.0499, 0.5263],
                      [-0.0085, 0.7291]])
W_T_PRINTED = np.array([[0.2535, 0.2702, 0.2177, 0.2060],
                        [0.2668, 0.3288, 0.1842, 0.1658],
                        [0.2371, 0.2031, 0.2834, 0.2910],
                        [0.2426, 0.1978, 0.3147, 0.3372]])
BANK, OF, THE, RIVER = range(4)


def test_scores_of_bank_against_every_token():
    V = Tensor(V_PRINTED)
    np.testing.assert_allclose((V[BANK] @ V[BANK]).item(), 0.0824, atol=1e-4)
    np.testing.assert_allclose((V[BANK] @ V.T).data, [0.0824, 0.1338, 0.0155, 0.0386], atol=1e-4)
    np.testing.assert_allclose(F.softmax(V[BANK] @ V.T, axis=-1).data, [0.2535, 0.2668, 0.2371, 0.2426], atol=1e-4)


def test_softmax_of_V_over_tokens():
    printed = [[0.2675, 0.1885], [0.3404, 0.1404], [0.1920, 0.3016], [0.2001, 0.3694]]
    np.testing.assert_allclose(F.softmax(Tensor(V_PRINTED), axis=0).data, printed, atol=1e-4)


def test_attention_weights_table():
    V = Tensor(V_PRINTED)
    W = F.softmax(V @ V.T, axis=-1)
    np.testing.assert_allclose(W.T.data, W_T_PRINTED, atol=1.5e-4)
    np.testing.assert_allclose(W.data.sum(axis=1), 1.0, atol=1e-12)


def test_new_vectors_and_cosine_rise():
    V = Tensor(V_PRINTED)
    Y = F.softmax(V @ V.T, axis=-1) @ V
    np.testing.assert_allclose(Y[OF].data, [0.2361, 0.1879], atol=1e-4)
    np.testing.assert_allclose(Y[RIVER].data, [0.1273, 0.3711], atol=1e-4)
    np.testing.assert_allclose(F.cosine_similarity(V[BANK], V[RIVER], axis=0).item(), 0.1843, atol=1e-4)
    np.testing.assert_allclose(F.cosine_similarity(Y[BANK], Y[RIVER], axis=0).item(), 0.9453, atol=1e-4)


def test_row_by_row_form_of_the_notes_equals_matrix_and_einsum_forms():
    V = Tensor(V_PRINTED)
    W = F.softmax(V @ V.T, axis=-1)
    row_form = F.stack([(W[i].reshape(4, 1) * V).sum(axis=0) for i in range(4)])  # the notes' In [79]
    np.testing.assert_allclose(row_form.data, (W @ V).data, atol=1e-12)
    np.testing.assert_allclose(F.einsum("ij,jd->id", W, V).data, (W @ V).data, atol=1e-12)


def test_gradient_of_the_cosine_with_respect_to_V():
    def cosine_after_attention(V):
        Y = F.softmax(V @ V.T, axis=-1) @ V
        return F.cosine_similarity(Y[BANK], Y[RIVER], axis=0)

    assert gradcheck(cosine_after_attention, [Tensor(V_PRINTED)])
