"""bench/gpt_numpy.py's hand-written train step is TinyGPT's: from the same weights and batch it
gives minigrad's loss, every gradient (TinyGPT + F.cross_entropy + backward) and AdamW's update,
in float64 to 1e-10.  Two independent implementations agreeing is what keeps the baseline honest."""
import numpy as np
import pytest

import minigrad.functional as F
from attention import TinyGPT
from bench.gpt_numpy import GPTTrainStep
from minigrad.optim import AdamW

V, T = 11, 8


@pytest.fixture
def model_and_batch():
    model = TinyGPT(vocab_size=V, d_model=16, n_heads=2, n_layers=2, max_len=T + 2,
                    rng=np.random.default_rng(0))
    for p in model.parameters():   # layer norms away from 1 and 0, so their gradients are tested too
        p.data += 0.1 * np.random.default_rng(p.size).standard_normal(p.shape)
    batch = np.random.default_rng(1).integers(0, V, (3, T + 1))
    return model, batch


def minigrad_loss(model, batch):
    return F.cross_entropy(model(batch[:, :-1]), batch[:, 1:])


def test_the_hand_written_loss_and_gradients_are_minigrads(model_and_batch):
    model, batch = model_and_batch
    step = GPTTrainStep({name: p.data for name, p in model.named_parameters()}, n_heads=2)
    loss = minigrad_loss(model, batch)
    loss.backward()
    assert step.loss_and_grads(batch) == pytest.approx(loss.item(), rel=1e-12)
    scale = max(np.abs(p.grad.data).max() for p in model.parameters())
    names = [name for name, _ in model.named_parameters()]
    assert sorted(step.grads) == sorted(names)
    for name, p in model.named_parameters():
        # the key bias's gradient is 0 in exact arithmetic (softmax ignores a shift): rounding only
        np.testing.assert_allclose(step.grads[name], p.grad.data, rtol=1e-10, atol=1e-13 * scale,
                                   err_msg=name)
    assert np.abs(step.grads["blocks.0.attn.k_proj.bias"]).max() < 1e-13 * scale
    assert np.abs(step.grads["position.weight"][T:]).max() == 0      # positions past T are never read


def test_two_adamw_steps_move_the_weights_as_minigrads_adamw(model_and_batch):
    model, batch = model_and_batch
    step = GPTTrainStep({name: p.data for name, p in model.named_parameters()}, n_heads=2, lr=1e-2,
                        weight_decay=0.1)
    opt = AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    initial = {name: p.data.copy() for name, p in model.named_parameters()}
    for _ in range(2):                                     # the second step's bias corrections differ
        loss = minigrad_loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert step(batch) == pytest.approx(loss.item(), rel=1e-12)
    for name, p in model.named_parameters():
        # The key biases' gradients are rounding noise (0 in exact arithmetic); Adam divides them by
        # sqrt(v) + eps, eps = 1e-8, so each implementation's own noise moves them by up to ~lr 1e-9.
        noise = 1e-10 if name.endswith("k_proj.bias") else 1e-12
        np.testing.assert_allclose(step.params[name], p.data, rtol=1e-10, atol=noise, err_msg=name)
        if not name.endswith("k_proj.bias"):
            assert np.abs(p.data - initial[name]).max() > 1e-3, name         # the steps moved it


def test_the_step_owns_its_weights_and_keeps_float32(model_and_batch):
    model, batch = model_and_batch
    weights = {name: p.data.astype(np.float32) for name, p in model.named_parameters()}
    before = {name: w.copy() for name, w in weights.items()}
    step = GPTTrainStep(weights, n_heads=2, lr=1e-2)
    loss = step(batch)
    assert loss == pytest.approx(minigrad_loss(model, batch).item(), rel=1e-5)      # float64's, to float32's
    assert all(np.array_equal(weights[name], before[name]) for name in weights)     # the caller's: untouched
    assert all(step.params[name].dtype == step.grads[name].dtype == np.float32 for name in weights)
    assert not np.array_equal(step.params["head.weight"], before["head.weight"])


@pytest.mark.parametrize("far", [0.0, 30.0, 200.0, 2000.0])
def test_causal_softmax_shifts_by_the_diagonal_and_falls_back_to_the_max_where_exp_overflows(far):
    """The shift is the diagonal score; keys `far` above it overflow float32's exp past 88
    (and float64's past 709), where the max must take over: the weights stay softmax's."""
    from bench.gpt_numpy import _causal_softmax
    rng = np.random.default_rng(2)
    q, k = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((2, 3, 5, 4))
    k[1, 2, 1] = q[1, 2, 3] * far / (q[1, 2, 3] @ q[1, 2, 3])       # query 3 scores key 1 at `far`
    scores = q @ k.swapaxes(-1, -2)
    scores[..., ~np.tri(5, dtype=bool)] = -np.inf
    expected = np.exp(scores - scores.max(axis=-1, keepdims=True))
    expected /= expected.sum(axis=-1, keepdims=True)
    for dtype, tolerance in ((np.float64, 1e-12), (np.float32, 1e-5)):
        weights = _causal_softmax(q.astype(dtype), k.astype(dtype))
        assert weights.dtype == dtype
        np.testing.assert_allclose(weights, expected, rtol=tolerance, atol=tolerance)
        assert np.all(weights[..., ~np.tri(5, dtype=bool)] == 0)
