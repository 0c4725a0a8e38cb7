"""attention.layers: SelfAttention, MultiHeadAttention and the positional encodings.

Oracles: multi-head attention recomputed head by head in plain NumPy from the layer's
weights, finite differences (gradcheck / gradgradcheck, float64), trigonometric
identities, and invariances that hold for any weights.
"""
import math

import numpy as np
import pytest

import minigrad.functional as F
from minigrad import Tensor, func, gradcheck, gradgradcheck
from minigrad.nn import Module
from attention import (LearnedPositionalEmbedding, MultiHeadAttention, SelfAttention, SinusoidalPositionalEncoding,
                       causal_mask, padding_mask)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def numpy_softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def numpy_multihead(layer, x, context, allowed=None, value=None):
    """H single-head attentions on column slices of the weights, concatenated, then projected
    (keys from context, values from `value`, by default context too)."""
    value = context if value is None else value
    W = {name: getattr(layer, name).weight.data for name in ("q_proj", "k_proj", "v_proj", "out_proj")}
    b = {name: getattr(layer, name).bias.data for name in W}
    H, Dh = layer.n_heads, layer.d_head
    heads, all_weights = [], []
    for h in range(H):
        cols = slice(h * Dh, (h + 1) * Dh)
        q = x @ W["q_proj"][:, cols] + b["q_proj"][cols]          # (B, T, Dh)
        k = context @ W["k_proj"][:, cols] + b["k_proj"][cols]    # (B, S, Dh)
        v = value @ W["v_proj"][:, cols] + b["v_proj"][cols]      # (B, S, Dh)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(Dh)
        if allowed is not None:
            scores = np.where(allowed, scores, -np.inf)
        weights = numpy_softmax(scores)
        heads.append(weights @ v)
        all_weights.append(weights)
    out = np.concatenate(heads, axis=-1) @ W["out_proj"] + b["out_proj"]
    return out, np.stack(all_weights, axis=1)


def with_parameters(module, names, call):
    """fn(*inputs, *parameter_values) for gradcheck: puts the values into the module, then calls."""
    def set_value(name, value):
        *path, last = name.split(".")
        owner = module
        for part in path:
            owner = owner[int(part)] if part.isdigit() else getattr(owner, part)
        setattr(owner, last, value)

    def fn(*args):
        n_inputs = len(args) - len(names)
        for name, value in zip(names, args[n_inputs:]):
            set_value(name, value)
        return call(*args[:n_inputs])
    return fn


def parameter_values(module, names):
    params = dict(module.named_parameters())
    return [params[name].data for name in names]


B, T, S, D, H = 2, 3, 4, 6, 3
X, CONTEXT = randn(B, T, D, seed=1), randn(B, S, D, seed=2)
CROSS_MASK = randn(B, T, S, seed=3) > -0.5


# ---- MultiHeadAttention against NumPy ------------------------------------------------

@pytest.mark.parametrize("mask", [None, CROSS_MASK, causal_mask(T, S), padding_mask([2, 4], S)],
                         ids=["none", "3d", "2d", "padding"])
def test_multihead_equals_single_heads_on_sliced_weights_concatenated(mask):
    layer = MultiHeadAttention(D, H, rng=np.random.default_rng(0))
    out, weights = layer(Tensor(X), Tensor(CONTEXT), mask=mask)
    expected_out, expected_weights = numpy_multihead(layer, X, CONTEXT, mask)  # per head: (B, T, S)
    assert out.shape == (B, T, D) and weights.shape == (B, H, T, S)
    np.testing.assert_allclose(out.data, expected_out, atol=1e-12)
    np.testing.assert_allclose(weights.data, expected_weights, atol=1e-12)


def test_multihead_causal_self_attention_against_numpy():
    layer = MultiHeadAttention(D, H, rng=np.random.default_rng(1))
    out, _ = layer(Tensor(X), is_causal=True)
    np.testing.assert_allclose(out.data, numpy_multihead(layer, X, X, causal_mask(T))[0], atol=1e-12)


def test_one_head_is_single_head_self_attention_then_the_output_projection():
    rng = np.random.default_rng(2)
    multi, single = MultiHeadAttention(D, 1, rng=rng), SelfAttention(D, rng=rng)
    for name in ("q_proj", "k_proj", "v_proj"):
        getattr(single, name).weight.data[...] = getattr(multi, name).weight.data
        getattr(single, name).bias.data[...] = getattr(multi, name).bias.data
    out_multi, weights_multi = multi(Tensor(X), is_causal=True)
    out_single, weights_single = single(Tensor(X), is_causal=True)
    np.testing.assert_allclose(out_multi.data, multi.out_proj(out_single).data, atol=1e-12)
    np.testing.assert_allclose(weights_multi.data[:, 0], weights_single.data, atol=1e-14)


@pytest.mark.parametrize("lengths", [None, [1, T]], ids=["no mask", "padding mask"])
def test_self_attention_layer_against_numpy(lengths):
    layer = SelfAttention(D, rng=np.random.default_rng(3))
    q, k, v = (X @ getattr(layer, n).weight.data + getattr(layer, n).bias.data for n in ("q_proj", "k_proj", "v_proj"))
    allowed = None if lengths is None else padding_mask(lengths, T)  # (B, 1, T)
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(D)
    expected = numpy_softmax(scores if allowed is None else np.where(allowed, scores, -np.inf)) @ v
    out, weights = layer(Tensor(X), mask=allowed)
    np.testing.assert_allclose(out.data, expected, atol=1e-12)
    assert weights.shape == (B, T, T)


def test_layers_keep_float32():
    layer = MultiHeadAttention(D, H, dtype=np.float32, rng=np.random.default_rng(4))
    x = Tensor(X.astype(np.float32), requires_grad=True)
    out, weights = layer(x, is_causal=True)
    assert out.dtype == weights.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32 and layer.q_proj.weight.grad.dtype == np.float32


# ---- gradients --------------------------------------------------------------------------

MHA_PARAMS = ["q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias",
              "v_proj.weight", "v_proj.bias", "out_proj.weight", "out_proj.bias"]


@pytest.mark.parametrize("mask", [None, CROSS_MASK], ids=["no mask", "mask"])
def test_multihead_gradients_wrt_inputs_and_every_parameter(mask):
    layer = MultiHeadAttention(4, 2, rng=np.random.default_rng(5))
    x, context = X[:1, :, :4], CONTEXT[:1, :, :4]  # T=3 != S=4
    mask = None if mask is None else mask[:1]
    fn = with_parameters(layer, MHA_PARAMS, lambda x, c: layer(x, c, mask=mask)[0])
    assert gradcheck(fn, [x, context] + parameter_values(layer, MHA_PARAMS))


def test_multihead_second_order_gradients():
    layer = MultiHeadAttention(4, 2, rng=np.random.default_rng(6))
    names = ["q_proj.weight", "v_proj.bias"]
    fn = with_parameters(layer, names, lambda x, c: layer(x, c, mask=CROSS_MASK[:1, :2])[0])
    assert gradgradcheck(fn, [X[:1, :2, :4], CONTEXT[:1, :, :4]] + parameter_values(layer, names))
    assert gradgradcheck(lambda x: layer(x, is_causal=True)[1], [X[:1, :, :4]])


def test_self_attention_layer_gradients_first_and_second_order():
    layer = SelfAttention(3, rng=np.random.default_rng(7))
    names = ["q_proj.weight", "k_proj.bias", "v_proj.weight"]
    fn = with_parameters(layer, names, lambda x: layer(x, is_causal=True)[0])
    assert gradcheck(fn, [X[:1, :, :3]] + parameter_values(layer, names))
    assert gradgradcheck(lambda x: layer(x)[0], [X[:1, :, :3]])


# ---- invariants ---------------------------------------------------------------------------

def test_weight_rows_sum_to_one_and_padded_keys_get_zero_weight_and_gradient():
    layer = MultiHeadAttention(D, H, rng=np.random.default_rng(8))
    context = Tensor(CONTEXT, requires_grad=True)
    out, weights = layer(Tensor(X), context, mask=padding_mask([2, 4], S))
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0, atol=1e-14)
    assert np.all(weights.data[0, :, :, 2:] == 0.0)
    (out * Tensor(randn(*out.shape, seed=9))).sum().backward()
    assert np.all(context.grad.data[0, 2:] == 0.0) and np.all(context.grad.data[1] != 0.0)


def test_causal_layer_ignores_future_tokens_exactly():
    layer = MultiHeadAttention(D, H, rng=np.random.default_rng(10))
    x = randn(B, 5, D, seed=11)
    changed = x.copy()
    changed[:, 3:] = randn(B, 2, D, seed=12)
    before, _ = layer(Tensor(x), is_causal=True)
    after, _ = layer(Tensor(changed), is_causal=True)
    np.testing.assert_array_equal(before.data[:, :3], after.data[:, :3])
    assert not np.allclose(before.data[:, 3:], after.data[:, 3:])


def test_self_attention_without_positions_is_permutation_equivariant():
    layer = MultiHeadAttention(D, H, rng=np.random.default_rng(13))
    perm = np.array([2, 0, 1])
    out, weights = layer(Tensor(X))
    out_perm, weights_perm = layer(Tensor(X[:, perm]))
    np.testing.assert_allclose(out_perm.data, out.data[:, perm], atol=1e-12)
    np.testing.assert_allclose(weights_perm.data, weights.data[:, :, perm][:, :, :, perm], atol=1e-14)


def test_attention_dropout_only_while_training():
    layer = MultiHeadAttention(D, H, dropout=0.5, rng=np.random.default_rng(14))
    plain = MultiHeadAttention(D, H, rng=np.random.default_rng(14))  # same weights, no dropout
    expected, _ = plain(Tensor(X))
    noisy, weights = layer(Tensor(X))
    assert not np.allclose(noisy.data, expected.data)
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0, atol=1e-14)
    layer.eval()
    np.testing.assert_array_equal(layer(Tensor(X))[0].data, expected.data)


# ---- errors -----------------------------------------------------------------------------------

def test_bad_settings_fail_when_the_layer_is_built():
    with pytest.raises(ValueError, match=r"dropout: p .* must be in \[0, 1\), got 1.5"):
        MultiHeadAttention(4, 2, dropout=1.5)
    with pytest.raises(TypeError, match="LearnedPositionalEmbedding: dtype must be a floating-point type"):
        LearnedPositionalEmbedding(3, 4, dtype=np.int64)


def test_d_model_not_divisible_by_heads_is_a_clear_error():
    with pytest.raises(ValueError, match="d_model=6 is not divisible by n_heads=4"):
        MultiHeadAttention(6, 4)


def test_wrong_input_shapes_are_clear_errors():
    layer = MultiHeadAttention(D, H)
    name = r"MultiHeadAttention\(d_model=6, n_heads=3, dropout=0.0\)"
    with pytest.raises(ValueError, match=name + r": query has shape \(2, 3, 5\), expected \(\.\.\., 6\)"):
        layer(Tensor(X[..., :5]))
    with pytest.raises(ValueError, match=name + r": query must be a batch of sequences of shape \(B, T, 6\), got \(3, 6\)"):
        layer(Tensor(X[0]))
    with pytest.raises(ValueError, match=name + ": key has batch size 1 but the query has 2"):
        layer(Tensor(X), Tensor(CONTEXT[:1]))
    with pytest.raises(ValueError, match=name + ": keys and values must come in pairs, .* key has length 4 and the value 3"):
        layer(Tensor(X), Tensor(CONTEXT), Tensor(X))
    with pytest.raises(ValueError, match=name + r": mask of shape \(2, 3, 3\) does not broadcast .* \(2, 3, 4\)"):
        layer(Tensor(X), Tensor(CONTEXT), mask=np.ones((B, T, T), bool))
    with pytest.raises(ValueError, match=name + r": mask of shape \(3, 3\) does not broadcast .* \(2, 3, 3, 4\)"):
        layer(Tensor(X), Tensor(CONTEXT), mask=np.ones((T, T), bool))


# ---- positional encodings --------------------------------------------------------------------

PE = SinusoidalPositionalEncoding(8, 50).pe


def test_sinusoidal_values_by_hand():
    np.testing.assert_allclose(PE[:, 0], np.sin(np.arange(50)), atol=1e-15)  # ω_0 = 1
    np.testing.assert_allclose(PE[:, 1], np.cos(np.arange(50)), atol=1e-15)
    np.testing.assert_allclose(PE[7, 4], math.sin(7 / 10000 ** (4 / 8)), atol=1e-15)
    np.testing.assert_allclose(PE[7, 7], math.cos(7 / 10000 ** (6 / 8)), atol=1e-15)
    assert PE.min() >= -1.0 and PE.max() <= 1.0


def test_sinusoidal_dot_products_depend_only_on_the_distance():
    gram = PE @ PE.T
    for i in range(50):
        for j in range(50):
            assert gram[i, j] == pytest.approx(gram[0, abs(i - j)], abs=1e-12)


def test_sinusoidal_shift_by_k_is_a_fixed_rotation_of_each_frequency_pair():
    # sin(a + b) = sin a cos b + cos a sin b, cos(a + b) = cos a cos b - sin a sin b:
    # so (sin, cos) at p + k is (sin, cos) at p rotated by the angle of position k.
    for k in (1, 5, 13):
        for pair in range(4):
            s_k, c_k = PE[k, 2 * pair], PE[k, 2 * pair + 1]
            rotation = np.array([[c_k, s_k], [-s_k, c_k]])
            at_p = PE[: 50 - k, 2 * pair: 2 * pair + 2]          # (positions, 2)
            np.testing.assert_allclose(at_p @ rotation.T, PE[k:, 2 * pair: 2 * pair + 2], atol=1e-12)


def test_sinusoidal_layer_adds_the_table_and_handles_odd_widths():
    layer = SinusoidalPositionalEncoding(5, 10)
    x = randn(2, 4, 5)
    np.testing.assert_allclose(layer(Tensor(x)).data, x + layer.pe[:4], atol=1e-15)
    np.testing.assert_allclose(layer.pe[:, 4], np.sin(np.arange(10) / 10000 ** (4 / 5)), atol=1e-15)
    assert layer(Tensor(x.astype(np.float32))).dtype == np.float32
    assert layer.parameters() == []
    assert gradcheck(layer, [x[:1]]) and gradgradcheck(layer, [x[:1]])


def test_learned_positions_add_one_trainable_vector_per_position():
    layer = LearnedPositionalEmbedding(6, 4, rng=np.random.default_rng(15))
    x = randn(2, 3, 4)
    out = layer(Tensor(x))
    np.testing.assert_allclose(out.data, x + layer.weight.data[:3], atol=1e-15)
    (out * Tensor(randn(2, 3, 4, seed=16))).sum().backward()
    assert np.all(layer.weight.grad.data[3:] == 0.0) and np.all(layer.weight.grad.data[:3] != 0.0)
    fn = with_parameters(layer, ["weight"], layer)
    assert gradcheck(fn, [x[:1], layer.weight.data]) and gradgradcheck(fn, [x[:1], layer.weight.data])


@pytest.mark.parametrize("layer", [SinusoidalPositionalEncoding(4, 3), LearnedPositionalEmbedding(3, 4)],
                         ids=["sinusoidal", "learned"])
def test_sequence_longer_than_the_table_is_a_clear_error(layer):
    with pytest.raises(ValueError, match=r"T=5 but positions exist only up to max_len=3"):
        layer(Tensor(randn(1, 5, 4)))


def test_all_layers_are_modules():
    for layer in (SelfAttention(4), MultiHeadAttention(4, 2), LearnedPositionalEmbedding(3, 4)):
        assert isinstance(layer, Module) and layer.parameters()


# ---- PyTorch's call: (query, key, value), mask keyword-only, key_padding_mask ---------------

VALUE = randn(B, S, D, seed=20)
PADDING = np.array([[False, False, True, True], [False, False, False, False]])  # (B, S): True = padding (PyTorch)


def test_query_key_value_as_pytorch_calls_it_against_numpy():
    layer = MultiHeadAttention(D, H, rng=np.random.default_rng(21))
    out, weights = layer(Tensor(X), Tensor(CONTEXT), Tensor(VALUE))  # keys and values from different tensors
    expected_out, expected_weights = numpy_multihead(layer, X, CONTEXT, value=VALUE)
    np.testing.assert_allclose(out.data, expected_out, atol=1e-12)
    np.testing.assert_allclose(weights.data, expected_weights, atol=1e-12)
    fn = with_parameters(layer, ["v_proj.weight"], lambda q, k, v: layer(q, k, v)[0])
    assert gradcheck(fn, [X[:1, :2], CONTEXT[:1], VALUE[:1]] + parameter_values(layer, ["v_proj.weight"]))


def test_mask_is_keyword_only():
    layer = MultiHeadAttention(D, H, rng=np.random.default_rng(22))
    with pytest.raises(TypeError, match="positional"):
        layer(Tensor(X), Tensor(CONTEXT), Tensor(VALUE), np.ones((T, S), bool))


@pytest.mark.parametrize("mask", [None, CROSS_MASK], ids=["alone", "with a mask"])
def test_key_padding_mask_takes_pytorchs_convention(mask):
    layer = MultiHeadAttention(D, H, rng=np.random.default_rng(23))
    out, weights = layer(Tensor(X), Tensor(CONTEXT), mask=mask, key_padding_mask=PADDING)
    allowed = ~PADDING[:, None, :] if mask is None else mask & ~PADDING[:, None, :]  # (B, T|1, S)
    expected_out, expected_weights = numpy_multihead(layer, X, CONTEXT, allowed)
    np.testing.assert_allclose(out.data, expected_out, atol=1e-12)
    np.testing.assert_allclose(weights.data, expected_weights, atol=1e-12)
    assert np.all(weights.data[0, :, :, 2:] == 0.0)  # the padding gets nothing
    same, _ = layer(Tensor(X), Tensor(CONTEXT), mask=padding_mask([2, 4], S) if mask is None else allowed)
    np.testing.assert_array_equal(out.data, same.data)


def test_a_pytorch_padding_mask_passed_as_mask_is_not_taken_silently():
    layer = MultiHeadAttention(D, H, rng=np.random.default_rng(24))
    with pytest.raises(ValueError, match=r"mask of shape \(2, 4\) does not broadcast .*pass it as key_padding_mask="):
        layer(Tensor(X), Tensor(CONTEXT), mask=PADDING)
    with pytest.raises(TypeError, match=r"key_padding_mask must be boolean \(True = padding, as PyTorch\)"):
        layer(Tensor(X), Tensor(CONTEXT), key_padding_mask=PADDING.astype(float))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(B, S\) = \(2, 4\)"):
        layer(Tensor(X), Tensor(CONTEXT), key_padding_mask=PADDING[:, None])


def stacked(f, *batches, shared=()):
    """f over the examples of each batch (axis 0), the shared arguments the same for all: stacked."""
    return np.stack([f(*(Tensor(b[i]) for b in batches), *shared).data for i in range(len(batches[0]))])


def test_vmap_of_grad_through_multi_head_attention_equals_a_loop():
    """Per-example gradients of a small attention classifier: each example, a sequence (T, D),
    goes through the layer as a batch of one, as outside vmap."""
    rng = np.random.default_rng(31)
    mha = MultiHeadAttention(4, 2, rng=np.random.default_rng(1))
    X, head, y = rng.standard_normal((3, 5, 4)), rng.standard_normal((4, 3)), rng.integers(0, 3, (3, 5))

    def loss(head, x, targets):
        out, _ = mha(x[None], is_causal=True, key_padding_mask=np.array([[False] * 4 + [True]]))  # (1, T, D)
        return F.cross_entropy(out[0] @ head, targets)

    per_example = func.vmap(func.grad(loss, argnums=(0, 1)), in_axes=(None, 0, 0))
    mapped = per_example(Tensor(head), Tensor(X), Tensor(y))
    for k in range(2):
        expected = stacked(lambda x, t: func.grad(loss, argnums=(0, 1))(Tensor(head), x, t)[k], X, y)
        np.testing.assert_allclose(mapped[k].data, expected, rtol=1e-12)
    assert mapped[0].shape == (3, 4, 3) and np.abs(mapped[0].data).max() > 0


def test_inside_vmap_each_examples_own_masks_are_applied():
    """A key_padding_mask and a mask per example, batched along with the sequences."""
    rng = np.random.default_rng(34)
    mha = MultiHeadAttention(4, 2, rng=np.random.default_rng(2))
    X = rng.standard_normal((3, 5, 4))
    padding = np.array([[False] * 5, [False] * 3 + [True] * 2, [False] + [True] * 4])  # (3, S)
    allowed = rng.standard_normal((3, 5, 5)) > -0.5  # (3, T, S)

    def attend(x, pad, mask):
        return mha(x[None], mask=mask[None], key_padding_mask=pad[None], is_causal=True)[1]  # (1, H, T, S)

    mapped = func.vmap(attend)(Tensor(X), Tensor(padding), Tensor(allowed))
    np.testing.assert_allclose(mapped.data, stacked(attend, X, padding, allowed), rtol=1e-14)
    assert np.all(mapped.data[2, 0, :, :, 1:] == 0)  # example 2 sees its first key only
