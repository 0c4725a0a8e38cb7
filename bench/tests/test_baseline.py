"""Checks of the hand-written NumPy baseline used by the benchmark (bench/).

The manually derived gradients are compared with central finite differences
of the baseline's own loss (float64, small sizes), and the losses are
compared with deliberately naive loop-based forward implementations written
independently here.  float32 inputs must give float32 results.
"""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import numpy_baseline as nb


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def numeric_grads(loss_fn, arrays, h=1e-6):
    """Element-wise central differences of ``loss_fn(*arrays)`` (float64)."""
    grads = []
    for i, arr in enumerate(arrays):
        g = np.zeros_like(arr)
        flat = arr.reshape(-1)          # view: perturb in place
        gflat = g.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + h
            lp = float(loss_fn(*arrays))
            flat[j] = orig - h
            lm = float(loss_fn(*arrays))
            flat[j] = orig
            gflat[j] = (lp - lm) / (2 * h)
        grads.append(g)
    return grads


def directional_fd(loss_fn, arrays, directions, h=1e-6):
    """Central difference of ``loss_fn`` along the joint direction ``directions``."""
    plus = [a + h * d for a, d in zip(arrays, directions)]
    minus = [a - h * d for a, d in zip(arrays, directions)]
    return (float(loss_fn(*plus)) - float(loss_fn(*minus))) / (2 * h)


def assert_grads_close(analytic, numeric, rtol=1e-5, atol=1e-7):
    assert len(analytic) == len(numeric)
    for i, (ga, gn) in enumerate(zip(analytic, numeric)):
        assert ga.shape == gn.shape, f"grad {i}: shape {ga.shape} != {gn.shape}"
        scale = max(1.0, float(np.abs(gn).max()))
        np.testing.assert_allclose(ga, gn, rtol=rtol, atol=atol * scale,
                                   err_msg=f"gradient #{i}")


def w1_inputs(rng, B, T, D, dtype=np.float64):
    x = rng.standard_normal((B, T, D))
    Ws = [rng.standard_normal((D, D)) / math.sqrt(D) for _ in range(4)]
    return [a.astype(dtype) for a in [x] + Ws]


def w2_inputs(rng, B, T, D, dtype=np.float64):
    arrays = w1_inputs(rng, B, T, D, np.float64)
    biases = [0.5 * rng.standard_normal(D) for _ in range(4)]
    return [a.astype(dtype) for a in arrays + biases]


# Naive, loop-based forward passes (independent of the vectorised code).

def naive_softmax_row(row):
    m = max(row)
    e = [math.exp(r - m) for r in row]
    s = sum(e)
    return [v / s for v in e]


def naive_w0(V):
    V = np.asarray(V, dtype=np.float64)
    n = V.shape[0]
    S = [[float(V[i] @ V[j]) for j in range(n)] for i in range(n)]
    W = [naive_softmax_row(r) for r in S]
    Y = np.array([sum(W[i][j] * V[j] for j in range(n)) for i in range(n)])
    a, b = Y[0], Y[3]
    return float(a @ b) / (max(np.linalg.norm(a), 1e-8) * max(np.linalg.norm(b), 1e-8))


def naive_attention_out(x, Wq, Wk, Wv, scale):
    """Per-sequence, per-query loop: query i attends to keys 0..i only."""
    B, T, _ = x.shape
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    a = np.zeros((B, T, Wv.shape[1]))
    for bi in range(B):
        for i in range(T):
            scores = [float(q[bi, i] @ k[bi, j]) * scale for j in range(i + 1)]
            w = naive_softmax_row(scores)
            a[bi, i] = sum(w[j] * v[bi, j] for j in range(i + 1))
    return a


def naive_w1(x, Wq, Wk, Wv, Wo):
    a = naive_attention_out(x, Wq, Wk, Wv, 1.0 / math.sqrt(x.shape[-1]))
    return float(((a @ Wo) ** 2).sum())


def naive_w2(x, Wq, Wk, Wv, Wo, bq, bk, bv, bo, H):
    B, T, D = x.shape
    Dh = D // H
    heads = []
    for h in range(H):
        cols = slice(h * Dh, (h + 1) * Dh)
        # x @ W[:, cols] + b[cols] == (x, 1) @ (W[:, cols]; b[cols])
        xa = np.concatenate([x, np.ones((B, T, 1))], axis=-1)
        Wqh = np.vstack([Wq[:, cols], bq[cols]])
        Wkh = np.vstack([Wk[:, cols], bk[cols]])
        Wvh = np.vstack([Wv[:, cols], bv[cols]])
        heads.append(naive_attention_out(xa, Wqh, Wkh, Wvh, 1.0 / math.sqrt(Dh)))
    m = np.concatenate(heads, axis=-1)
    return float(((m @ Wo + bo) ** 2).sum())


# ---------------------------------------------------------------------------
# W0
# ---------------------------------------------------------------------------

def test_w0_forward_matches_naive():
    rng = np.random.default_rng(0)
    V = rng.standard_normal((4, 2))
    loss, _ = nb.w0_seed(V)
    assert math.isclose(float(loss), naive_w0(V), rel_tol=1e-12, abs_tol=1e-14)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_w0_grad_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((4, 2))
    _, grads = nb.w0_seed(V)
    num = numeric_grads(lambda V: nb.w0_seed(V)[0], [V])
    assert_grads_close(grads, num)


def test_w0_tiny_norm_uses_eps_branch():
    # Make Y[0] (and everything) tiny so that max(|a|, eps) == eps.
    V = np.full((4, 2), 1e-10)
    V[1, 0] = -1e-10
    loss, (gV,) = nb.w0_seed(V)
    num = numeric_grads(lambda V: nb.w0_seed(V)[0], [V], h=1e-12)
    assert_grads_close((gV,), num, rtol=1e-4, atol=1e-6)
    assert math.isclose(float(loss), naive_w0(V), rel_tol=1e-9)


# ---------------------------------------------------------------------------
# chain
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("k", [0, 1, 3, 7])
def test_chain_grads(k):
    rng = np.random.default_rng(10 + k)
    x = rng.standard_normal((4, 2))
    w = rng.uniform(0.5, 1.5, (4, 2)) * rng.choice([-1.0, 1.0], (4, 2))
    loss, grads = nb.chain(x, w, k)
    assert math.isclose(float(loss), float((x * w ** k).sum()), rel_tol=1e-12)
    num = numeric_grads(lambda x, w: nb.chain(x, w, k)[0], [x, w])
    assert_grads_close(grads, num)
    # closed form as a second, exact oracle
    np.testing.assert_allclose(grads[0], w ** k, rtol=1e-12)
    np.testing.assert_allclose(grads[1], k * x * w ** max(k - 1, 0) if k else 0 * w,
                               rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------
# W1
# ---------------------------------------------------------------------------

def test_w1_forward_matches_naive():
    rng = np.random.default_rng(3)
    arrays = w1_inputs(rng, 2, 5, 4)
    loss, _ = nb.w1_attention(*arrays)
    assert math.isclose(float(loss), naive_w1(*arrays), rel_tol=1e-12)


def test_w1_grads_elementwise():
    rng = np.random.default_rng(4)
    arrays = w1_inputs(rng, 2, 3, 4)
    _, grads = nb.w1_attention(*arrays)
    num = numeric_grads(lambda *a: nb.w1_attention(*a)[0], arrays)
    assert_grads_close(grads, num)


def test_w1_grads_directional_larger():
    rng = np.random.default_rng(5)
    arrays = w1_inputs(rng, 3, 7, 6)
    mask = nb.causal_mask(7)
    _, grads = nb.w1_attention(*arrays, mask=mask)
    dirs = [rng.standard_normal(a.shape) for a in arrays]
    analytic = sum(float((g * d).sum()) for g, d in zip(grads, dirs))
    numeric = directional_fd(lambda *a: nb.w1_attention(*a, mask=mask)[0], arrays, dirs)
    assert math.isclose(analytic, numeric, rel_tol=1e-6, abs_tol=1e-6)


# ---------------------------------------------------------------------------
# W2
# ---------------------------------------------------------------------------

def test_w2_forward_matches_naive():
    rng = np.random.default_rng(7)
    arrays = w2_inputs(rng, 2, 5, 8)
    loss, _ = nb.w2_multihead(*arrays, n_heads=2)
    assert math.isclose(float(loss), naive_w2(*arrays, H=2), rel_tol=1e-12)


def test_w2_grads_elementwise():
    rng = np.random.default_rng(8)
    arrays = w2_inputs(rng, 2, 3, 4)
    _, grads = nb.w2_multihead(*arrays, n_heads=2)
    num = numeric_grads(lambda *a: nb.w2_multihead(*a, n_heads=2)[0], arrays)
    assert_grads_close(grads, num)


def test_w2_one_head_equals_w1_plus_zero_bias():
    rng = np.random.default_rng(9)
    arrays = w1_inputs(rng, 2, 4, 6)
    zeros = [np.zeros(6) for _ in range(4)]
    l1, g1 = nb.w1_attention(*arrays)
    l2, g2 = nb.w2_multihead(*arrays, *zeros, n_heads=1)
    assert math.isclose(float(l1), float(l2), rel_tol=1e-12)
    for a, b in zip(g1, g2[:5]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_w2_rejects_bad_head_count():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        nb.w2_multihead(*w2_inputs(rng, 1, 2, 6), n_heads=4)


# ---------------------------------------------------------------------------
# T: one training step of demo 08's tiny transformer
# ---------------------------------------------------------------------------

# Small sizes: B=2, T=4, D=8, H=2, F=16, vocab 5, classes 5.  Token 1 appears
# four times and token 3 twice (the embedding gradient must add every
# occurrence); token 4 never appears (its embedding gradient is exactly 0).
T_TOKENS = np.array([[1, 3, 1, 0], [3, 1, 2, 1]])
T_HEADS = 2


def transformer_params(rng, D=8, F=16, vocab=5, classes=5, dtype=np.float64):
    """Random parameters in nb.TRANSFORMER_PARAMS order (LayerNorms off 1 and 0)."""
    def linear(n_in, n_out):
        return [rng.standard_normal((n_in, n_out)) / math.sqrt(n_in), 0.3 * rng.standard_normal(n_out)]

    def norm():
        return [1.0 + 0.3 * rng.standard_normal(D), 0.3 * rng.standard_normal(D)]

    params = [rng.standard_normal((vocab, D)), *norm(), *linear(D, D), *linear(D, D),
              *linear(D, D), *linear(D, D), *norm(), *linear(D, F), *linear(F, D), *norm(),
              *linear(D, classes)]
    return [p.astype(dtype) for p in params]


def naive_pe(p, D):
    """Row p of the sinusoidal table, one entry at a time (column 2i and 2i+1 share w_i)."""
    return np.array([(math.sin if j % 2 == 0 else math.cos)(p * 10000.0 ** (-2 * (j // 2) / D))
                     for j in range(D)])


def naive_transformer_loss(tokens, targets, params, H):
    """Demo 08's model written token by token, head by head, with Python loops."""
    (E, ln1_w, ln1_b, Wq, bq, Wk, bk, Wv, bv, Wo, bo,
     ln2_w, ln2_b, W1, b1, W2, b2, lnf_w, lnf_b, Wh, bh) = params
    B, T = tokens.shape
    D = E.shape[1]
    Dh = D // H

    def layer_norm(x, w, b):
        return (x - x.mean()) / math.sqrt(x.var() + 1e-5) * w + b

    def gelu(x):  # 0.5 (1 + tanh z) == 1 / (1 + exp(-2z))
        return x / (1.0 + np.exp(-2.0 * math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))

    total = 0.0
    for bi in range(B):
        x = [E[tokens[bi, i]] + naive_pe(i, D) for i in range(T)]
        h = [layer_norm(xi, ln1_w, ln1_b) for xi in x]
        q = [hi @ Wq + bq for hi in h]
        k = [hi @ Wk + bk for hi in h]
        v = [hi @ Wv + bv for hi in h]
        for i in range(T):
            heads = []
            for hh in range(H):
                c = slice(hh * Dh, (hh + 1) * Dh)
                w = naive_softmax_row([float(q[i][c] @ k[j][c]) / math.sqrt(Dh) for j in range(T)])
                heads.append(sum(w[j] * v[j][c] for j in range(T)))
            x1 = x[i] + np.concatenate(heads) @ Wo + bo
            x2 = x1 + gelu(layer_norm(x1, ln2_w, ln2_b) @ W1 + b1) @ W2 + b2
            logits = layer_norm(x2, lnf_w, lnf_b) @ Wh + bh
            total -= math.log(naive_softmax_row(list(logits))[targets[bi, i]])
    return total / (B * T)


def test_sinusoidal_table_matches_formula():
    for D in (8, 5):                       # an odd width ends with a sine
        pe = nb.sinusoidal_table(6, D)
        np.testing.assert_allclose(pe, [naive_pe(p, D) for p in range(6)], rtol=1e-13, atol=1e-15)


def test_transformer_forward_matches_naive():
    rng = np.random.default_rng(20)
    params = transformer_params(rng)
    targets = T_TOKENS[:, ::-1]
    loss, _ = nb.tiny_transformer(T_TOKENS, targets, nb.sinusoidal_table(4, 8), params, T_HEADS)
    assert math.isclose(float(loss), naive_transformer_loss(T_TOKENS, targets, params, T_HEADS),
                        rel_tol=1e-12)


def test_transformer_grads_elementwise():
    rng = np.random.default_rng(21)
    params = transformer_params(rng)
    targets = T_TOKENS[:, ::-1]
    pe = nb.sinusoidal_table(4, 8)
    _, grads = nb.tiny_transformer(T_TOKENS, targets, pe, params, T_HEADS)
    num = numeric_grads(lambda *p: nb.tiny_transformer(T_TOKENS, targets, pe, p, T_HEADS)[0],
                        params)
    assert_grads_close(grads, num)
    gE = grads[0]
    assert np.all(gE[4] == 0.0)            # token 4 is not in the batch
    assert np.abs(gE[1]).max() > 1e-3      # token 1 is, four times


def test_transformer_train_step_is_adam():
    rng = np.random.default_rng(22)
    params = transformer_params(rng)
    targets = T_TOKENS[:, ::-1]
    pe = nb.sinusoidal_table(4, 8)
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-3

    def grads_at(ps):
        return nb.tiny_transformer(T_TOKENS, targets, pe, ps, T_HEADS)[1]

    p0 = [p.copy() for p in params]
    state = nb.adam_init(params)
    step = [nb.tiny_transformer_train_step(T_TOKENS, targets, pe, params, T_HEADS, state,
                                           lr=lr, betas=(b1, b2), eps=eps) for _ in range(2)]
    # step 1 returns the gradients at p0 and moves to p1; step 2 the ones at p1
    g1, g2 = step[0][1], step[1][1]
    for a, b in zip(g1, grads_at(p0)):
        np.testing.assert_array_equal(a, b)
    p1 = []
    for p, g in zip(p0, g1):
        m, v = (1 - b1) * g, (1 - b2) * g ** 2
        p1.append(p - lr * (m / (1 - b1)) / (np.sqrt(v / (1 - b2)) + eps))
    for a, b in zip(g2, grads_at(p1)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    for p, q, ga, gb in zip(params, p1, g1, g2):
        m = b1 * (1 - b1) * ga + (1 - b1) * gb
        v = b2 * (1 - b2) * ga ** 2 + (1 - b2) * gb ** 2
        expected = q - lr * (m / (1 - b1 ** 2)) / (np.sqrt(v / (1 - b2 ** 2)) + eps)
        np.testing.assert_allclose(p, expected, rtol=1e-12, atol=1e-15)


def test_transformer_rejects_bad_sizes():
    rng = np.random.default_rng(23)
    params = transformer_params(rng)
    pe = nb.sinusoidal_table(4, 8)
    with pytest.raises(ValueError, match="n_heads=3"):
        nb.tiny_transformer(T_TOKENS, T_TOKENS, pe, params, 3)
    with pytest.raises(ValueError, match="21 parameter arrays"):
        nb.tiny_transformer(T_TOKENS, T_TOKENS, pe, params[:-1], 2)


# ---------------------------------------------------------------------------
# dtype preservation
# ---------------------------------------------------------------------------

def _check_float32(loss32, grads32, loss64, grads64):
    assert np.asarray(loss32).dtype == np.float32
    assert math.isclose(float(loss32), float(loss64), rel_tol=1e-4, abs_tol=1e-5)
    for g32, g64 in zip(grads32, grads64):
        assert g32.dtype == np.float32
        scale = max(1.0, float(np.abs(g64).max()))
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4 * scale)


def test_float32_preserved_w0():
    rng = np.random.default_rng(11)
    V = rng.standard_normal((4, 2))
    _check_float32(*nb.w0_seed(V.astype(np.float32)), *nb.w0_seed(V))


def test_float32_preserved_chain():
    rng = np.random.default_rng(12)
    x, w = rng.standard_normal((2, 4, 2))
    _check_float32(*nb.chain(x.astype(np.float32), w.astype(np.float32), 5),
                   *nb.chain(x, w, 5))


def test_float32_preserved_w1():
    rng = np.random.default_rng(13)
    arrays = w1_inputs(rng, 2, 6, 8)
    _check_float32(*nb.w1_attention(*[a.astype(np.float32) for a in arrays]),
                   *nb.w1_attention(*arrays))


def test_float32_preserved_w2():
    rng = np.random.default_rng(14)
    arrays = w2_inputs(rng, 2, 6, 8)
    _check_float32(*nb.w2_multihead(*[a.astype(np.float32) for a in arrays], n_heads=4),
                   *nb.w2_multihead(*arrays, n_heads=4))


def test_float32_preserved_transformer():
    rng = np.random.default_rng(24)
    params = transformer_params(rng)
    pe = nb.sinusoidal_table(4, 8)                      # float64: the function casts it
    args = (T_TOKENS, T_TOKENS[:, ::-1], pe)
    _check_float32(*nb.tiny_transformer(*args, [p.astype(np.float32) for p in params], T_HEADS),
                   *nb.tiny_transformer(*args, params, T_HEADS))


# ---------------------------------------------------------------------------
# harness plumbing
# ---------------------------------------------------------------------------

def test_cli_modules_do_not_import_numpy():
    # --threads only works if the thread variables are set before NumPy loads.
    code = "import sys, bench, bench.run; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


def test_compare_flags_wrong_gradients():
    from bench import harness
    rng = np.random.default_rng(15)
    arrays = w1_inputs(rng, 1, 3, 4)
    ref = nb.w1_attention(*arrays)
    assert harness.compare(ref, ref, np.float64, check_dtype=True) == ""
    bad = [g.copy() for g in ref[1]]
    bad[2][0, 0] *= 1.01
    assert "grad #2" in harness.compare((ref[0], bad), ref, np.float64, check_dtype=True)
    f32 = (np.float32(ref[0]), tuple(g.astype(np.float32) for g in ref[1]))
    assert "float32" in harness.compare(f32, ref, np.float64, check_dtype=True)


def test_harness_smoke_run():
    from bench import harness
    cfg = harness.Config(quick=True, rounds=1, warmup=0, batch_seconds=1e-4, peers=False,
                         memory=False, only=["chain k=1"])
    report = harness.run(cfg, log=lambda msg: None)
    assert "| chain k=1 | numpy |" in report
    assert "| chain k=1 | minigrad |" in report     # timed, or its error reported
    assert "## Targets (minigrad)" in report


def test_prepare_marks_mismatch_and_errors():
    from bench import harness
    from bench import workloads as W

    def wrong(wl):
        x, w = wl.arrays
        return lambda: (np.sum(x * w), (w, 2 * x))        # gw should be x

    def broken(wl):
        raise RuntimeError("boom")

    def missing(wl):
        raise W.Unavailable("not installed")

    wl = W.Workload("chain k=1", "chain", W.chain_inputs(1), {"k": 1},
                    {"numpy": W.numpy_chain, "minigrad": wrong, "torch": wrong,
                     "autograd": broken, "mygrad": missing}, np.float64)
    res = harness.prepare(wl, log=lambda msg: None)
    assert res["numpy"].status == "ok"
    assert res["minigrad"].status == "mismatch" and res["minigrad"].fn is not None
    assert res["torch"].status == "mismatch" and res["torch"].fn is None   # peers: not timed
    assert res["autograd"].status == "error" and "boom" in res["autograd"].detail
    assert res["mygrad"].status == "unavailable"


def test_train_workload_minigrad_matches_baseline_on_every_call():
    # The harness checks the first call only; every call must return the same,
    # although each one also takes an Adam step.
    from bench import harness
    from bench import workloads as W
    wl = W.Workload(W.TRAIN_KEY, "train",
                    W.train_inputs(4, 8, 10, 16, 32, 10), dict(W.TRAIN_MODEL, d_model=16,
                                                              d_ff=32, **W.TRAIN_ADAM),
                    {"numpy": W.numpy_train, "minigrad": W.minigrad_train}, np.float64)
    res = harness.prepare(wl, log=lambda msg: None)
    assert res["numpy"].status == "ok"
    assert res["minigrad"].status == "ok", res["minigrad"].detail
    first = res["numpy"].fn()
    for name in ("numpy", "minigrad"):
        assert harness.compare(res[name].fn(), first, np.float64, check_dtype=True) == ""


def test_w1_op_by_op_matches_baseline_in_both_dtypes():
    # The student's form (additive mask, F.softmax) must give the baseline's loss and
    # gradients, and keep float32 as float32, or its timing and memory rows mean nothing.
    from bench import harness
    from bench import workloads as W
    for dtype in W.W1_DTYPES:
        shape = (2, 8, 16)
        wl = W.Workload(W.w1_key(shape, dtype), "w1", W.w1_inputs(*shape, dtype), {"shape": shape},
                        {"numpy": W.numpy_w1, "minigrad[ops]": W.minigrad_w1_ops}, dtype)
        res = harness.prepare(wl, log=lambda msg: None)
        assert res["minigrad[ops]"].status == "ok", res["minigrad[ops]"].detail
    w1 = [wl for wl in W.build_workloads(peers=False) if wl.kind == "w1"]
    assert all("minigrad[ops]" in wl.factories and "minigrad[ops]" in wl.info_only for wl in w1)
