"""attention.transformer: TransformerBlock, TransformerEncoder and TinyGPT.

Oracles: a pre-LayerNorm block (and TinyGPT, block by block) written out in plain NumPy from
the modules' weights, finite differences (float64), invariances (causality, permutation
equivariance without positions), and the argmax of the model's own next-token logits for
greedy generation.
"""
import math

import numpy as np
import pytest

import minigrad.functional as F
from minigrad import Tensor, gradcheck, gradgradcheck
from attention import TinyGPT, TransformerBlock, TransformerEncoder, TransformerStack, padding_mask


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def numpy_layer_norm(x, ln):
    mean, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + ln.eps) * ln.weight.data + ln.bias.data


def numpy_gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def numpy_causal_self_attention(x, attn):
    """Multi-head self-attention head by head, future keys excluded."""
    def project(name, cols):
        layer = getattr(attn, name)
        return x @ layer.weight.data[:, cols] + layer.bias.data[cols]

    T, Dh = x.shape[1], attn.d_head
    heads = []
    for h in range(attn.n_heads):
        cols = slice(h * Dh, (h + 1) * Dh)
        scores = project("q_proj", cols) @ project("k_proj", cols).transpose(0, 2, 1) / math.sqrt(Dh)
        scores = np.where(np.tril(np.ones((T, T), bool)), scores, -np.inf)
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        heads.append(e / e.sum(axis=-1, keepdims=True) @ project("v_proj", cols))
    return np.concatenate(heads, axis=-1) @ attn.out_proj.weight.data + attn.out_proj.bias.data


def numpy_block(x, block):
    fc1, fc2 = block.mlp[0], block.mlp[2]
    x = x + numpy_causal_self_attention(numpy_layer_norm(x, block.ln1), block.attn)
    hidden = numpy_gelu(numpy_layer_norm(x, block.ln2) @ fc1.weight.data + fc1.bias.data)
    return x + hidden @ fc2.weight.data + fc2.bias.data


# ---- TransformerBlock ---------------------------------------------------------------

def test_block_matches_the_pre_layernorm_formula_in_numpy():
    block = TransformerBlock(8, 2, 16, causal=True, rng=np.random.default_rng(0))
    x = randn(2, 5, 8, seed=1)
    np.testing.assert_allclose(block(Tensor(x)).data, numpy_block(x, block), atol=1e-12)
    assert block.attention_weights.shape == (2, 2, 5, 5) and block.attention_weights.grad_fn is None


def test_block_gradient_with_respect_to_its_input_first_and_second_order():
    block = TransformerBlock(4, 2, 8, causal=True, rng=np.random.default_rng(2))
    x = randn(1, 3, 4, seed=3)
    assert gradcheck(block, [x])
    assert gradgradcheck(block, [x])


def test_block_gradient_with_a_padding_mask_first_and_second_order():
    block = TransformerBlock(4, 2, 8, rng=np.random.default_rng(3))
    mask = padding_mask([1, 3], 3)  # sequence 0: every token sees token 0 only
    x = randn(2, 3, 4, seed=4)
    assert gradcheck(lambda x: block(x, mask=mask), [x])
    assert gradgradcheck(lambda x: block(x, mask=mask), [x])


def test_block_gradient_with_respect_to_every_parameter():
    block = TransformerBlock(4, 2, 6, activation="relu", rng=np.random.default_rng(4))
    x = Tensor(randn(1, 3, 4, seed=5))
    for param in block.parameters():
        assert gradcheck(as_function_of(block, param, lambda: block(x)), [param.data])


def as_function_of(module, param, call):
    """fn(value) = call() with `param` replaced inside `module` by the Tensor `value`."""
    owner, name = next((m, n) for m in module.modules() for n, v in vars(m).items() if v is param)

    def fn(value):
        setattr(owner, name, value)
        try:
            return call()
        finally:
            setattr(owner, name, param)
    return fn


def test_causal_block_ignores_future_tokens_exactly():
    block = TransformerBlock(8, 4, 16, causal=True, rng=np.random.default_rng(6))
    x = randn(1, 6, 8, seed=7)
    changed = x.copy()
    changed[:, 4:] += 1.0
    np.testing.assert_array_equal(block(Tensor(x)).data[:, :4], block(Tensor(changed)).data[:, :4])


def test_block_rejects_an_unknown_activation():
    with pytest.raises(ValueError, match="activation must be one of"):
        TransformerBlock(4, 2, 8, activation="swish")


# ---- TransformerEncoder ---------------------------------------------------------------

def small_encoder(positional="sinusoidal", **kwargs):
    return TransformerEncoder(vocab_size=11, d_model=8, n_heads=2, n_layers=2, d_ff=16, max_len=10, n_classes=3,
                              positional=positional, rng=np.random.default_rng(8), **kwargs)


TOKENS = np.random.default_rng(9).integers(0, 11, (2, 7))


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", None])
def test_encoder_gives_logits_per_position_and_exposes_attention_weights(positional):
    model = small_encoder(positional)
    logits = model(TOKENS)
    assert logits.shape == (2, 7, 3)
    assert len(model.attention_weights) == 2
    for w in model.attention_weights:
        assert w.shape == (2, 2, 7, 7)
        np.testing.assert_allclose(w.data.sum(axis=-1), 1.0, atol=1e-12)


def test_encoder_without_positions_is_permutation_equivariant_and_with_them_is_not():
    perm = np.array([3, 0, 6, 1, 5, 2, 4])
    blind = small_encoder(None)
    np.testing.assert_allclose(blind(TOKENS[:, perm]).data, blind(TOKENS).data[:, perm], atol=1e-12)
    aware = small_encoder("sinusoidal")
    assert not np.allclose(aware(TOKENS[:, perm]).data, aware(TOKENS).data[:, perm])


def test_encoder_padding_mask_hides_padded_tokens():
    model = small_encoder()
    mask = padding_mask([4, 7], 7)
    other = TOKENS.copy()
    other[0, 4:] = (other[0, 4:] + 1) % 11  # change only the padding of sequence 0
    before, after = model(TOKENS, mask=mask).data, model(other, mask=mask).data
    np.testing.assert_allclose(after[0, :4], before[0, :4], atol=1e-12)
    np.testing.assert_array_equal(after[1], before[1])


def test_encoder_gradient_with_respect_to_the_embeddings():
    model = TransformerEncoder(vocab_size=5, d_model=4, n_heads=2, n_layers=1, d_ff=6, max_len=4, n_classes=2,
                               positional="learned", rng=np.random.default_rng(10))
    tokens = np.array([[1, 3, 0]])
    for param in (model.embed.weight, model.position.weight):
        assert gradcheck(as_function_of(model, param, lambda: model(tokens)), [param.data])


def test_gpt_second_order_gradient_with_respect_to_the_positions():
    model = TinyGPT(vocab_size=4, d_model=4, n_heads=2, n_layers=1, d_ff=4, max_len=3, rng=np.random.default_rng(13))
    tokens = np.array([[1, 3]])
    param = model.position.weight
    assert gradgradcheck(as_function_of(model, param, lambda: model(tokens)), [param.data])


def test_encoder_errors():
    with pytest.raises(ValueError, match="positional must be one of"):
        small_encoder("rotary")
    with pytest.raises(ValueError, match="T=11 but the model was built for max_len=10"):
        small_encoder()(np.zeros((1, 11), int))
    with pytest.raises(ValueError, match=r"tokens must be integer ids of shape \(B, T\)"):
        small_encoder()(np.zeros(5, int))


# ---- how the models are configured ------------------------------------------------------

def test_models_take_their_sizes_by_name_only():
    with pytest.raises(TypeError, match="positional argument"):
        TransformerEncoder(11, 8, 2, 2, 16, 10, 3)
    with pytest.raises(TypeError, match="positional argument"):
        TinyGPT(7, 8, 2, 2, 16, 6)
    with pytest.raises(TypeError, match="positional argument"):
        TransformerBlock(8, 2, 16, 0.1)  # the options after the sizes are keywords too


def test_a_decoder_is_not_an_encoder_but_both_are_transformer_stacks():
    assert not issubclass(TinyGPT, TransformerEncoder)
    assert issubclass(TinyGPT, TransformerStack) and issubclass(TransformerEncoder, TransformerStack)
    assert all(not b.causal for b in small_encoder().blocks) and all(b.causal for b in tiny_gpt().blocks)


def test_mlp_width_defaults_to_four_times_the_model_width_and_names_stay_stable():
    model = TinyGPT(vocab_size=5, d_model=6, n_heads=2, n_layers=1, max_len=4, rng=np.random.default_rng(0))
    shapes = {name: value.shape for name, value in model.state_dict().items()}
    assert shapes["blocks.0.mlp.0.weight"] == (6, 24) and shapes["blocks.0.mlp.2.weight"] == (24, 6)
    assert shapes["embed.weight"] == (5, 6) and shapes["position.weight"] == (4, 6)
    assert shapes["head.weight"] == (6, 5) and "ln_final.weight" in shapes


# ---- TinyGPT ----------------------------------------------------------------------------

def tiny_gpt(**kwargs):
    return TinyGPT(vocab_size=7, d_model=8, n_heads=2, n_layers=2, d_ff=16, max_len=6,
                   rng=np.random.default_rng(11), **kwargs)


def test_gpt_logits_match_the_stack_written_out_in_numpy():
    model = tiny_gpt()
    ids = np.array([[1, 2, 3, 4, 5], [6, 0, 6, 0, 2]])
    x = model.embed.weight.data[ids] + model.position.weight.data[:5]  # learned positions
    for block in model.blocks:
        x = numpy_block(x, block)
    expected = numpy_layer_norm(x, model.ln_final) @ model.head.weight.data + model.head.bias.data
    np.testing.assert_allclose(model(ids).data, expected, atol=1e-12)


def test_gpt_logits_depend_only_on_earlier_tokens():
    model = tiny_gpt()
    idx = np.array([[1, 2, 3, 4, 5]])
    changed = idx.copy()
    changed[0, 3:] = [6, 0]
    before, after = model(idx).data, model(changed).data
    assert before.shape == (1, 5, 7)
    np.testing.assert_array_equal(before[:, :3], after[:, :3])


def test_greedy_generation_is_deterministic_and_follows_the_argmax():
    model = tiny_gpt()
    idx = np.array([[1, 2], [3, 4]])
    out = model.generate(idx, 9, greedy=True)  # 2 + 9 > max_len: the context is cropped
    assert out.shape == (2, 11) and out.dtype.kind == "i"
    np.testing.assert_array_equal(out[:, :2], idx)
    np.testing.assert_array_equal(model.generate(idx, 9, greedy=True), out)
    for t in range(2, 11):  # every new token is the argmax of the logits at the position before it
        context = out[:, max(0, t - 6):t]
        np.testing.assert_array_equal(out[:, t], model(context).data[:, -1].argmax(axis=-1))


def test_sampling_is_reproducible_with_a_seeded_generator_and_uses_the_temperature():
    model = tiny_gpt()
    idx = np.array([[0]])
    a = model.generate(idx, 20, rng=np.random.default_rng(0))
    b = model.generate(idx, 20, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    assert np.all((0 <= a) & (a < 7))
    cold = model.generate(idx, 20, temperature=1e-6, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(cold, model.generate(idx, 20, greedy=True))  # T -> 0 is greedy


def test_generate_restores_training_mode_and_builds_no_graph():
    model = tiny_gpt(dropout=0.1)
    model.generate(np.array([[1]]), 3, greedy=True)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    model.generate(np.array([[1]]), 3, greedy=True)
    assert not model.training


def test_generate_errors():
    with pytest.raises(ValueError, match="temperature must be positive"):
        tiny_gpt().generate(np.array([[1]]), 2, temperature=0.0)
    with pytest.raises(ValueError, match=r"idx must be integer token ids of shape \(B, T\)"):
        tiny_gpt().generate(np.array([1.0, 2.0]), 2)


def test_gpt_learns_to_continue_a_sequence():
    # A few plain gradient steps on one repeating sequence must make greedy generation repeat it.
    model = TinyGPT(vocab_size=5, d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=8, rng=np.random.default_rng(12))
    data = np.array([[0, 1, 2, 3, 4, 0, 1, 2]])
    losses = []
    for _ in range(60):
        logits = model(data)
        loss = F.cross_entropy(logits[:, :-1], data[:, 1:])
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.1 * p.grad.data
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    np.testing.assert_array_equal(model.generate(data[:, :3], 5, greedy=True), data)


def test_encoder_takes_pytorchs_key_padding_mask():
    model = small_encoder()
    padding = np.array([[False] * 4 + [True] * 3, [False] * 7])  # PyTorch's src_key_padding_mask: True = padding
    out = model(TOKENS, key_padding_mask=padding).data
    np.testing.assert_array_equal(out, model(TOKENS, mask=padding_mask([4, 7], 7)).data)
    other = TOKENS.copy()
    other[0, 4:] = (other[0, 4:] + 1) % 11  # change only the padding of sequence 0
    np.testing.assert_allclose(model(other, key_padding_mask=padding).data[0, :4], out[0, :4], atol=1e-12)
