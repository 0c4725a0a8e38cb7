"""minigrad.optim against PyTorch's documented update formulas (re-derived by hand in plain
NumPy below), clipping, the schedule, and whole training runs: XOR, memory, reproducibility."""
import math
import tracemalloc

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import Tensor, nn, optim

# The loss for the formula tests: L(p) = sum(w (p - c)²), so dL/dp = 2 w (p - c) by hand.
W = np.array([0.5, 2.0, 1.0, 3.0])
C = np.array([1.0, -2.0, 0.5, 0.0])
P0 = np.array([0.3, 0.7, -1.2, 2.0])


def minigrad_run(make_optimizer, steps=5, dtype=np.float64):
    p = Tensor(P0.astype(dtype), requires_grad=True)
    opt = make_optimizer([p])
    for _ in range(steps):
        opt.zero_grad()
        ((p - C.astype(dtype)) ** 2 * W.astype(dtype)).sum().backward()
        opt.step()
    return p


def reference_sgd(lr, momentum=0.0, nesterov=False, weight_decay=0.0, steps=5):
    p, b = P0.copy(), None
    for _ in range(steps):
        g = 2 * W * (p - C) + weight_decay * p
        if momentum:
            b = g if b is None else momentum * b + g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


def reference_adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False, steps=5):
    p, m, v = P0.copy(), np.zeros(4), np.zeros(4)
    for t in range(1, steps + 1):
        g = 2 * W * (p - C)
        if decoupled:
            p = p - lr * weight_decay * p
        else:
            g = g + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g ** 2
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


@pytest.mark.parametrize("settings", [dict(lr=0.1), dict(lr=0.05, momentum=0.9),
                                      dict(lr=0.05, momentum=0.9, nesterov=True), dict(lr=0.1, weight_decay=0.1),
                                      dict(lr=0.05, momentum=0.5, weight_decay=0.01)],
                         ids=["plain", "momentum", "nesterov", "decay", "momentum+decay"])
def test_sgd_follows_the_documented_formula(settings):
    p = minigrad_run(lambda ps: optim.SGD(ps, **settings))
    np.testing.assert_allclose(p.data, reference_sgd(**settings), rtol=1e-12)
    assert not np.allclose(p.data, P0)


@pytest.mark.parametrize("settings", [dict(lr=0.1), dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
                                      dict(lr=0.1, weight_decay=0.1)], ids=["default", "betas", "decay"])
def test_adam_follows_the_documented_formula(settings):
    p = minigrad_run(lambda ps: optim.Adam(ps, **settings))
    np.testing.assert_allclose(p.data, reference_adam(**settings), rtol=1e-12)


@pytest.mark.parametrize("weight_decay", [1e-2, 0.5])
def test_adamw_decouples_weight_decay(weight_decay):
    p = minigrad_run(lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=weight_decay))
    np.testing.assert_allclose(p.data, reference_adam(0.1, weight_decay=weight_decay, decoupled=True), rtol=1e-12)
    coupled = reference_adam(0.1, weight_decay=weight_decay)
    assert not np.allclose(p.data, coupled)  # the two kinds of decay really differ


def test_adamw_default_weight_decay_is_1e2():
    p = minigrad_run(lambda ps: optim.AdamW(ps, lr=0.1))
    np.testing.assert_allclose(p.data, reference_adam(0.1, weight_decay=1e-2, decoupled=True), rtol=1e-12)


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
                                  lambda ps: optim.Adam(ps, weight_decay=0.1), lambda ps: optim.AdamW(ps)],
                         ids=["SGD", "Adam", "AdamW"])
def test_float32_parameters_stay_float32_and_in_place(make):
    p = Tensor(P0.astype(np.float32), requires_grad=True)
    array = p.data
    opt = make([p])
    for _ in range(3):
        opt.zero_grad()
        ((p - C.astype(np.float32)) ** 2).sum().backward()
        opt.step()
    assert p.data is array and p.dtype == np.float32
    assert not np.allclose(p.data, P0)


def test_parameters_without_a_gradient_are_left_alone():
    used, unused = Tensor(P0, requires_grad=True), Tensor(P0, requires_grad=True)
    opt = optim.Adam([used, unused], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (used * used).sum().backward()
        opt.step()
    np.testing.assert_array_equal(unused.data, P0)
    assert opt.steps == [3, 0]  # no Adam step is counted for it either


def test_zero_grad_and_repeated_parameters():
    p = Tensor(P0, requires_grad=True)
    opt = optim.SGD([p, p], lr=1.0)  # listed twice, updated once
    (p * 1.0).sum().backward()
    opt.step()
    np.testing.assert_allclose(p.data, P0 - 1.0)
    opt.zero_grad()
    assert p.grad is None


def test_optimizer_arguments_are_checked():
    p = Tensor(P0, requires_grad=True)
    with pytest.raises(ValueError, match="SGD: got an empty list of parameters"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="Adam: parameter 1 is a ndarray"):
        optim.Adam([p, P0])
    with pytest.raises(ValueError, match="SGD: parameter 0 .* was computed by Mul"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        optim.SGD([p], lr=-1.0)
    with pytest.raises(ValueError, match=r"AdamW: betas must be in \[0, 1\)"):
        optim.AdamW([p], betas=(0.9, 1.0))


# ---- clipping and the schedule -------------------------------------------------------------

def test_clip_grad_norm_scales_all_gradients_together():
    a, b = Tensor(np.zeros(2), requires_grad=True), Tensor(np.zeros(1), requires_grad=True)
    a.grad, b.grad = Tensor(np.array([3.0, 4.0])), Tensor(np.array([12.0]))  # joint norm sqrt(9 + 16 + 144) = 13
    assert optim.clip_grad_norm_([a, b], max_norm=6.5) == pytest.approx(13.0)
    np.testing.assert_allclose(a.grad.data, [1.5, 2.0], rtol=1e-6)
    np.testing.assert_allclose(b.grad.data, [6.0], rtol=1e-6)
    assert optim.clip_grad_norm_([a, b], max_norm=100.0) == pytest.approx(6.5, rel=1e-6)
    np.testing.assert_allclose(b.grad.data, [6.0], rtol=1e-6)  # under the limit: unchanged


def test_clip_grad_norm_refuses_a_non_finite_norm():
    a = Tensor(np.zeros(2), requires_grad=True)
    a.grad = Tensor(np.array([np.inf, 1.0]))
    with pytest.raises(FloatingPointError, match="total gradient norm is inf"):
        optim.clip_grad_norm_([a], 1.0)


def test_warmup_cosine_schedule_values():
    opt = optim.SGD([Tensor(P0, requires_grad=True)], lr=1.0)
    schedule = optim.WarmupCosine(opt, warmup_steps=3, total_steps=7, min_lr=0.1)
    lrs = [opt.lr]
    for _ in range(8):
        schedule.step()
        lrs.append(opt.lr)
    # warm-up 1/4, 2/4, 3/4; then 0.1 + 0.9 (1 + cos(π k/4)) / 2 for k = 0..4; then held at 0.1.
    expected = [0.25, 0.5, 0.75, 1.0, 0.868198, 0.55, 0.231802, 0.1, 0.1]
    np.testing.assert_allclose(lrs, expected, atol=1e-6)
    with pytest.raises(ValueError, match="0 <= warmup_steps < total_steps"):
        optim.WarmupCosine(opt, warmup_steps=5, total_steps=5)


# ---- whole training runs -------------------------------------------------------------------

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0, 1, 1, 0])


def train_xor(steps, seed=0, dropout=0.0, keep_graphs=None):
    """Train a 2-8-2 MLP on XOR; returns the model and, if asked, the traced memory at steps 100 and `steps`."""
    minigrad.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Dropout(dropout), nn.Linear(8, 2))
    opt = optim.Adam(model.parameters(), lr=0.05)
    memory = {}
    for step in range(1, steps + 1):
        opt.zero_grad()
        loss = F.cross_entropy(model(XOR_X), XOR_Y)
        loss.backward()
        opt.step()
        if keep_graphs is not None:
            keep_graphs.append(model(XOR_X).sum())  # a deliberate leak: a live graph per step
        if step in (100, steps) and tracemalloc.is_tracing():
            memory[step] = tracemalloc.get_traced_memory()[0]
    return model.eval(), memory


def test_mlp_learns_xor_from_a_fixed_seed():
    model, _ = train_xor(300)
    logits = model(XOR_X).data
    np.testing.assert_array_equal(logits.argmax(axis=-1), XOR_Y)
    assert F.cross_entropy(logits, XOR_Y).item() < 0.01


def test_same_seed_gives_the_same_training_run_even_with_dropout():
    a, _ = train_xor(50, seed=3, dropout=0.2)
    b, _ = train_xor(50, seed=3, dropout=0.2)
    c, _ = train_xor(50, seed=4, dropout=0.2)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=name)
    assert not np.allclose(a[0].weight.data, c[0].weight.data)


def test_a_thousand_steps_do_not_grow_memory():
    margin = 32 * 1024  # bytes; a kept graph per step costs far more over 900 steps
    tracemalloc.start()
    try:
        _, memory = train_xor(1000)
        _, leaky = train_xor(200, keep_graphs=[])
    finally:
        tracemalloc.stop()
    assert memory[1000] - memory[100] < margin, f"memory grew by {memory[1000] - memory[100]} bytes"
    assert leaky[200] - leaky[100] > margin  # the check itself can see a leak


def test_training_a_small_language_model_step_by_step_lowers_the_loss():
    """Embedding -> LayerNorm -> GELU MLP -> logits, AdamW + clipping + schedule: the loss on a
    fixed next-token table must fall from about log(8) to near 0."""
    minigrad.manual_seed(0)
    vocab, ids = 8, np.arange(8)
    targets = (ids * 3 + 1) % vocab  # a fixed permutation to memorise
    model = nn.Sequential(nn.Embedding(vocab, 16), nn.LayerNorm(16), nn.Linear(16, 32), nn.GELU(),
                          nn.Linear(32, vocab))
    opt = optim.AdamW(model.parameters(), lr=0.02)
    schedule = optim.WarmupCosine(opt, warmup_steps=10, total_steps=150)
    first = None
    for _ in range(150):
        opt.zero_grad()
        loss = F.cross_entropy(model(ids), targets)
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        first = loss.item() if first is None else first
    assert abs(first - math.log(vocab)) < 1.0
    assert loss.item() < 0.05
    np.testing.assert_array_equal(model(ids).data.argmax(-1), targets)


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1), lambda ps: optim.Adam(ps, lr=0.1),
                                  lambda ps: optim.AdamW(ps, lr=0.1)], ids=["SGD", "Adam", "AdamW"])
def test_a_frozen_parameter_is_skipped_as_in_pytorch(make):
    from minigrad import nn
    model = nn.Linear(3, 2, rng=np.random.default_rng(0))
    model.bias.requires_grad_(False)
    weight0, bias0 = model.weight.data.copy(), model.bias.data.copy()
    opt = make(model.parameters())  # raised a TypeError before
    x = np.random.default_rng(1).standard_normal((4, 3))
    opt.zero_grad()
    model(x).sum().backward()
    assert model.bias.grad is None
    opt.step()
    np.testing.assert_array_equal(model.bias.data, bias0)
    g = x.sum(axis=0)[:, None] * np.ones((1, 2))  # d sum(x W + b) / dW, by hand
    if isinstance(opt, optim.Adam):  # first Adam step: m̂ = g, v̂ = g², so the step is lr g / (|g| + eps)
        expected = weight0 * (1 - 0.1 * opt.weight_decay if opt.decoupled else 1) - 0.1 * g / (np.abs(g) + 1e-8)
    else:
        expected = weight0 - 0.1 * g
    np.testing.assert_allclose(model.weight.data, expected, rtol=1e-12)
    model.bias.requires_grad_(True)  # unfrozen: trained again
    opt.zero_grad()
    model(x).sum().backward()
    opt.step()
    assert not np.allclose(model.bias.data, bias0)
