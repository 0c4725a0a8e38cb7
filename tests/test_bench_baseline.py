"""Checks of the hand-written NumPy baseline used by the benchmark (bench/).

The manually derived gradients are compared with central finite differences
of the baseline's own loss (float64, small sizes), and the losses are
compared with deliberately naive loop-based forward implementations written
independently here.  float32 inputs must give float32 results.
"""

import math
import sys
from pathlib import Path

import numpy as np
import pytest

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:  # make ``bench`` importable however pytest is run
    sys.path.insert(0, _ROOT)

from bench import numpy_baseline as nb  # noqa: E402


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


# ---------------------------------------------------------------------------
# harness plumbing
# ---------------------------------------------------------------------------

def test_cli_modules_do_not_import_numpy():
    # --threads only works if the thread variables are set before NumPy loads.
    import subprocess
    code = "import sys, bench, bench.run; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=_ROOT, capture_output=True,
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
