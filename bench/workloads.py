"""Benchmark workloads and their implementations.

A workload is a fixed set of NumPy input arrays plus one function per
implementation.  Each implementation is built by a *factory* (run outside
the timed region: imports, constant masks, attribute look-ups) that returns
a zero-argument callable doing one full step -- forward and backward, from
the NumPy inputs to NumPy gradients of the loss with respect to every input
-- and returning ``(loss, grads)`` with ``grads`` a tuple in input order.

Implementations:

* ``numpy``     the hand-written baseline (``bench.numpy_baseline``)
* ``minigrad``  the engine under test (on T, the train step, shown for
  information: it has no target)
* ``minigrad[ops]`` attention assembled from minigrad primitives, shown for
  information: on W1 op by op as a student writes it (additive mask,
  ``F.softmax``), while ``scaled_dot_product_attention`` is what the W1
  targets are judged on; on W2 multi-head, while
  ``attention.MultiHeadAttention`` is what the W2 target is judged on
* ``floor bare``, ``floor checked`` (chain only) two minimal engines that
  show how cheap one op can be, without and with minigrad's checks
  (``bench.floor``), for information
* ``torch``, ``autograd``, ``mygrad``  optional peers, used only when
  importable

A factory raises :class:`Unavailable` when its implementation cannot run
here (peer not installed, module not written yet); any other exception is
reported as an error by the harness.
"""

import math

import numpy as np

from bench import floor
from bench import numpy_baseline as nb

COS_EPS = nb.COS_EPS

# The seed workload's input: the 2-D embeddings of "bank", "of", "the",
# "river" from the lecture notes (same values as demos/03_bank_of_the_river.py).
SEED_V = np.array([[0.2815, 0.0562],
                   [0.5227, -0.2384],
                   [-0.0499, 0.5263],
                   [-0.0085, 0.7291]], dtype=np.float64)

CHAIN_KS = (1, 16, 64)
W1_SIZES = ((1, 8, 16), (8, 64, 64), (8, 256, 64))
W1_DTYPES = (np.float64, np.float32)
W2_SIZE = (8, 128, 64)
W2_HEADS = 4
W2_DTYPE = np.float32
MEMORY_SIZE = (8, 256, 64)            # W1 shape used for the peak-memory figure
# T: one training step of demos/08_tiny_transformer_reverse.py (its model, batch and Adam)
TRAIN_SIZE = (64, 8)                  # (B, T)
TRAIN_MODEL = dict(vocab=10, d_model=32, n_heads=1, d_ff=64, max_len=8, n_classes=10)
TRAIN_ADAM = dict(lr=3e-3, betas=(0.9, 0.999), eps=1e-8)
TRAIN_DTYPE = np.float64              # the demo's (and the layers') default

PEERS = ("torch", "autograd", "mygrad")
FLOORS = ("floor bare", "floor checked")  # bench/floor.py: how cheap an op can be (chain only)


class Unavailable(Exception):
    """The implementation cannot run here; the message says why (shown as is)."""


class Workload:
    """One benchmark case: inputs, and a factory per implementation."""

    def __init__(self, key, kind, arrays, params, factories, dtype, info_only=()):
        self.key = key                  # label shown in the tables
        self.kind = kind                # 'w0', 'chain', 'w1', 'w2', 'train'
        self.arrays = arrays            # tuple of NumPy inputs
        self.params = params            # dict of non-array parameters
        self.factories = factories      # {impl name: factory(workload) -> callable}
        self.dtype = np.dtype(dtype)
        self.info_only = set(info_only)  # implementations with no target

    def __repr__(self):
        return f"Workload({self.key!r})"


# ---------------------------------------------------------------------------
# input generation
# ---------------------------------------------------------------------------

def _rng(*salt):
    return np.random.default_rng([20240613, *salt])


def chain_inputs(k, dtype=np.float64):
    rng = _rng(1, k)
    x = rng.standard_normal((4, 2))
    # |w| near 1 so that w**64 stays well scaled
    w = rng.uniform(0.9, 1.1, (4, 2)) * rng.choice([-1.0, 1.0], (4, 2))
    return x.astype(dtype), w.astype(dtype)


def w1_inputs(B, T, D, dtype=np.float64):
    rng = _rng(2, B, T, D)
    x = rng.standard_normal((B, T, D))
    Ws = [rng.standard_normal((D, D)) / math.sqrt(D) for _ in range(4)]
    return tuple(a.astype(dtype) for a in [x] + Ws)


def w2_inputs(B, T, D, dtype=np.float32):
    rng = _rng(3, B, T, D)
    x = rng.standard_normal((B, T, D))
    Ws = [rng.standard_normal((D, D)) / math.sqrt(D) for _ in range(4)]
    bs = [0.1 * rng.standard_normal(D) for _ in range(4)]
    return tuple(a.astype(dtype) for a in [x] + Ws + bs)


def train_inputs(B, T, vocab, d_model, d_ff, n_classes, dtype=np.float64):
    """Token ids (B, T) and the model's parameters, in nb.TRANSFORMER_PARAMS order."""
    rng = _rng(4, B, T, d_model)
    tokens = rng.integers(0, vocab, (B, T))
    D = d_model

    def linear(n_in, n_out):          # as minigrad.nn.Linear initialises them
        bound = 1.0 / math.sqrt(n_in)
        return [rng.uniform(-bound, bound, (n_in, n_out)), rng.uniform(-bound, bound, n_out)]

    def layer_norm():                 # off their start at 1 and 0, so that both matter
        return [1.0 + 0.1 * rng.standard_normal(D), 0.1 * rng.standard_normal(D)]

    params = [rng.standard_normal((vocab, D)), *layer_norm(),
              *linear(D, D), *linear(D, D), *linear(D, D), *linear(D, D), *layer_norm(),
              *linear(D, d_ff), *linear(d_ff, D), *layer_norm(), *linear(D, n_classes)]
    return (tokens, *(p.astype(dtype) for p in params))


def _dtype_tag(dtype):
    return {np.dtype(np.float64): "f64", np.dtype(np.float32): "f32"}[np.dtype(dtype)]


def w1_key(shape, dtype):
    return f"W1 ({','.join(map(str, shape))}) {_dtype_tag(dtype)}"


def chain_key(k):
    return f"chain k={k}"


W0_KEY = "W0 seed"
W2_KEY = f"W2 H={W2_HEADS} ({','.join(map(str, W2_SIZE))}) {_dtype_tag(W2_DTYPE)}"
TRAIN_KEY = (f"T train step (demo 08) ({TRAIN_SIZE[0]},{TRAIN_SIZE[1]},{TRAIN_MODEL['d_model']}) "
             f"{_dtype_tag(TRAIN_DTYPE)}")


# ---------------------------------------------------------------------------
# numpy baseline
# ---------------------------------------------------------------------------

def numpy_w0(wl):
    (V,) = wl.arrays
    return lambda: nb.w0_seed(V)


def numpy_chain(wl):
    x, w = wl.arrays
    k = wl.params["k"]
    return lambda: nb.chain(x, w, k)


def numpy_w1(wl):
    arrays = wl.arrays
    mask = nb.causal_mask(arrays[0].shape[1])
    return lambda: nb.w1_attention(*arrays, mask=mask)


def numpy_w2(wl):
    arrays = wl.arrays
    mask = nb.causal_mask(arrays[0].shape[1])
    H = wl.params["n_heads"]
    return lambda: nb.w2_multihead(*arrays, n_heads=H, mask=mask)


def numpy_train(wl):
    """Each step restarts from the initial parameters (copied into the arrays that
    Adam updates in place), so every call returns the same loss and gradients; the
    Adam moments carry over, as they do not affect what is returned."""
    tokens, *initial = wl.arrays
    targets = tokens[:, ::-1]
    pe = nb.sinusoidal_table(wl.params["max_len"], initial[0].shape[1])
    params = [a.copy() for a in initial]
    adam = nb.adam_init(params)
    H = wl.params["n_heads"]
    lr, betas, eps = (wl.params[k] for k in ("lr", "betas", "eps"))

    def run():
        for p, a in zip(params, initial):
            np.copyto(p, a)
        return nb.tiny_transformer_train_step(tokens, targets, pe, params, H, adam, lr, betas, eps)

    return run


# ---------------------------------------------------------------------------
# minigrad
# ---------------------------------------------------------------------------

def _minigrad():
    # Imported lazily so that the harness still runs (and reports the
    # problem) while the engine is missing or broken.
    import minigrad.functional as F
    from minigrad import Tensor
    return Tensor, F


def minigrad_w0(wl):
    Tensor, F = _minigrad()
    (V,) = wl.arrays

    def run():
        v = Tensor(V, requires_grad=True)
        W = F.softmax(v @ v.T, axis=-1)
        Y = W @ v
        loss = F.cosine_similarity(Y[0], Y[3], axis=-1, eps=COS_EPS)
        loss.backward()
        return loss.data, (v.grad.data,)

    return run


def minigrad_chain(wl):
    Tensor, _ = _minigrad()
    x, w = wl.arrays
    k = wl.params["k"]

    def run():
        xt = Tensor(x, requires_grad=True)
        wt = Tensor(w, requires_grad=True)
        y = xt
        for _ in range(k):
            y = y * wt
        loss = y.sum()
        loss.backward()
        return loss.data, (xt.grad.data, wt.grad.data)

    return run


def minigrad_w1(wl):
    """Single-head causal attention through ``attention.scaled_dot_product_attention``."""
    from attention import scaled_dot_product_attention
    return _minigrad_w1_step(wl, lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True)[0])


def minigrad_w1_ops(wl):
    """W1 op by op, as a student writes it (information only)::

        s = (q @ k.swapaxes(-1, -2)) * scale + additive_mask    # (B, T, T)
        out = (F.softmax(s, axis=-1) @ v) @ Wo                  # (B, T, D)

    ``additive_mask`` is (T, T): 0 where key j <= query i, -1e9 above the diagonal.
    """
    _, F = _minigrad()
    T, D = wl.arrays[0].shape[1:]
    additive_mask = np.where(nb.causal_mask(T), -1e9, 0.0).astype(wl.dtype)
    scale = 1.0 / math.sqrt(D)
    return _minigrad_w1_step(wl, lambda q, k, v: F.softmax((q @ k.swapaxes(-1, -2)) * scale + additive_mask,
                                                           axis=-1) @ v)


def _minigrad_w1_step(wl, attend):
    """One W1 step: project x to q, k, v, attend(q, k, v) -> (B, T, D), project with Wo, loss sum(out²)."""
    Tensor, _ = _minigrad()
    arrays = wl.arrays

    def run():
        ts = [Tensor(a, requires_grad=True) for a in arrays]
        x, Wq, Wk, Wv, Wo = ts
        out = attend(x @ Wq, x @ Wk, x @ Wv) @ Wo
        loss = (out ** 2).sum()
        loss.backward()
        return loss.data, tuple(t.grad.data for t in ts)

    return run


def minigrad_w2_ops(wl):
    """Multi-head attention written with minigrad primitives (information only)."""
    Tensor, F = _minigrad()
    from attention import scaled_dot_product_attention
    arrays = wl.arrays
    B, T, D = arrays[0].shape
    H = wl.params["n_heads"]
    Dh = D // H

    def split(t):
        return t.reshape(B, T, H, Dh).transpose(0, 2, 1, 3)

    def run():
        ts = [Tensor(a, requires_grad=True) for a in arrays]
        x, Wq, Wk, Wv, Wo, bq, bk, bv, bo = ts
        q = split(x @ Wq + bq)
        k = split(x @ Wk + bk)
        v = split(x @ Wv + bv)
        a, _ = scaled_dot_product_attention(q, k, v, is_causal=True)
        m = a.transpose(0, 2, 1, 3).reshape(B, T, D)
        out = m @ Wo + bo
        loss = (out ** 2).sum()
        loss.backward()
        return loss.data, tuple(t.grad.data for t in ts)

    return run


def minigrad_w2_module(wl):
    """W2 through ``attention.MultiHeadAttention`` (the subject of the W2 target).

    Uses ``MultiHeadAttention(d_model, n_heads, dtype=...)``, whose q_proj,
    k_proj, v_proj and out_proj are ``minigrad.nn.Linear`` layers
    (``x @ weight + bias``, weight (in, out)), called as
    ``forward(x, is_causal=True) -> (out, weights)``.  Each step puts fresh
    leaf tensors made from the NumPy inputs into the four layers, so that, as
    for every implementation, a step starts from NumPy arrays.
    """
    Tensor, _ = _minigrad()
    try:
        from attention import MultiHeadAttention
    except ImportError as exc:
        raise Unavailable(f"pending ({exc})") from None
    x_np, *params = wl.arrays
    D = x_np.shape[-1]
    mha = MultiHeadAttention(D, wl.params["n_heads"], dtype=wl.dtype)
    layers = (mha.q_proj, mha.k_proj, mha.v_proj, mha.out_proj)
    weights, biases = params[:4], params[4:]

    def run():
        x = Tensor(x_np, requires_grad=True)
        ws = [Tensor(a, requires_grad=True) for a in weights]
        bs = [Tensor(a, requires_grad=True) for a in biases]
        for layer, w, b in zip(layers, ws, bs):
            layer.weight, layer.bias = w, b
        out, _ = mha(x, is_causal=True)
        loss = (out ** 2).sum()
        loss.backward()
        return loss.data, (x.grad.data, *(t.grad.data for t in ws + bs))

    return run


def minigrad_train(wl):
    """Demo 08's loop body: model, cross-entropy, zero_grad, backward, Adam step.

    The model and the optimizer are built once; each step first writes the
    initial parameters into the model (as for the baseline), and returns the
    gradients taken before the update.
    """
    _, F = _minigrad()
    from attention import TransformerEncoder
    from minigrad.optim import Adam
    tokens, *initial = wl.arrays
    targets = tokens[:, ::-1]
    P = wl.params
    model = TransformerEncoder(vocab_size=P["vocab"], d_model=P["d_model"], n_heads=P["n_heads"], n_layers=1,
                               d_ff=P["d_ff"], max_len=P["max_len"], n_classes=P["n_classes"],
                               positional="sinusoidal", dtype=wl.dtype, rng=np.random.default_rng(0))
    named = model.named_parameters()
    layout = [(n, p.shape) for n, p in named]
    expected = list(zip(nb.TRANSFORMER_PARAMS, (a.shape for a in initial)))
    if layout != expected:
        raise RuntimeError(f"TransformerEncoder parameters {layout} do not match the baseline's {expected}")
    params = [p for _, p in named]
    opt = Adam(params, lr=P["lr"], betas=P["betas"], eps=P["eps"])

    def run():
        for p, a in zip(params, initial):
            p.data[...] = a
        loss = F.cross_entropy(model(tokens), targets)
        opt.zero_grad()
        loss.backward()
        grads = tuple(p.grad.data for p in params)
        opt.step()
        return loss.data, grads

    return run


# ---------------------------------------------------------------------------
# PyTorch (eager)
# ---------------------------------------------------------------------------

def _torch(wl):
    try:
        import torch
    except ImportError:
        raise Unavailable("not installed") from None
    threads = wl.params.get("threads")
    if threads:
        torch.set_num_threads(threads)
    return torch


def torch_w0(wl):
    torch = _torch(wl)
    (V,) = wl.arrays

    def run():
        v = torch.from_numpy(V).requires_grad_()
        W = torch.softmax(v @ v.T, dim=-1)
        Y = W @ v
        a, b = Y[0], Y[3]
        loss = (a * b).sum() / (a.norm().clamp_min(COS_EPS) * b.norm().clamp_min(COS_EPS))
        loss.backward()
        return loss.detach().numpy(), (v.grad.numpy(),)

    return run


def torch_chain(wl):
    torch = _torch(wl)
    x, w = wl.arrays
    k = wl.params["k"]

    def run():
        xt = torch.from_numpy(x).requires_grad_()
        wt = torch.from_numpy(w).requires_grad_()
        y = xt
        for _ in range(k):
            y = y * wt
        loss = y.sum()
        loss.backward()
        return loss.detach().numpy(), (xt.grad.numpy(), wt.grad.numpy())

    return run


def _torch_attention(torch, x, Wq, Wk, Wv, bq, bk, bv, mask, scale, H):
    B, T, D = x.shape
    Dh = D // H

    def proj(W, b):
        y = x @ W
        if b is not None:
            y = y + b
        return y.reshape(B, T, H, Dh).transpose(1, 2) if H > 1 else y

    q, k, v = proj(Wq, bq), proj(Wk, bk), proj(Wv, bv)
    s = (q @ k.transpose(-1, -2)) * scale
    s = s.masked_fill(mask, float("-inf"))
    p = torch.softmax(s, dim=-1)
    a = p @ v
    return a.transpose(1, 2).reshape(B, T, D) if H > 1 else a


def torch_w1(wl):
    torch = _torch(wl)
    arrays = wl.arrays
    T, D = arrays[0].shape[1:]
    mask = torch.from_numpy(nb.causal_mask(T))
    scale = 1.0 / math.sqrt(D)

    def run():
        ts = [torch.from_numpy(a).requires_grad_() for a in arrays]
        x, Wq, Wk, Wv, Wo = ts
        out = _torch_attention(torch, x, Wq, Wk, Wv, None, None, None, mask, scale, 1) @ Wo
        loss = out.pow(2).sum()
        loss.backward()
        return loss.detach().numpy(), tuple(t.grad.numpy() for t in ts)

    return run


def torch_w2(wl):
    torch = _torch(wl)
    arrays = wl.arrays
    T, D = arrays[0].shape[1:]
    H = wl.params["n_heads"]
    mask = torch.from_numpy(nb.causal_mask(T))
    scale = 1.0 / math.sqrt(D // H)

    def run():
        ts = [torch.from_numpy(a).requires_grad_() for a in arrays]
        x, Wq, Wk, Wv, Wo, bq, bk, bv, bo = ts
        m = _torch_attention(torch, x, Wq, Wk, Wv, bq, bk, bv, mask, scale, H)
        out = m @ Wo + bo
        loss = out.pow(2).sum()
        loss.backward()
        return loss.detach().numpy(), tuple(t.grad.numpy() for t in ts)

    return run


def torch_train(wl):
    """The same step with torch.nn.functional and torch.optim.Adam (same formula)."""
    torch = _torch(wl)
    fn = torch.nn.functional
    tokens_np, *initial = wl.arrays
    tokens = torch.from_numpy(tokens_np)
    targets = torch.from_numpy(tokens_np[:, ::-1].reshape(-1))
    B, T = tokens_np.shape
    D, H = wl.params["d_model"], wl.params["n_heads"]
    Dh = D // H
    pe = torch.from_numpy(nb.sinusoidal_table(T, D).astype(wl.dtype))
    ts = [torch.from_numpy(a.copy()).requires_grad_() for a in initial]
    P = wl.params
    opt = torch.optim.Adam(ts, lr=P["lr"], betas=P["betas"], eps=P["eps"])

    def split(t):
        return t.reshape(B, T, H, Dh).transpose(1, 2)

    def run():
        with torch.no_grad():
            for t, a in zip(ts, initial):
                t.copy_(torch.from_numpy(a))
        (E, ln1_w, ln1_b, Wq, bq, Wk, bk, Wv, bv, Wo, bo,
         ln2_w, ln2_b, W1, b1, W2, b2, lnf_w, lnf_b, Wh, bh) = ts
        x = E[tokens] + pe
        h = fn.layer_norm(x, (D,), ln1_w, ln1_b)
        p = torch.softmax(split(h @ Wq + bq) @ split(h @ Wk + bk).transpose(-1, -2)
                          / math.sqrt(Dh), dim=-1)
        x = x + (p @ split(h @ Wv + bv)).transpose(1, 2).reshape(B, T, D) @ Wo + bo
        u = fn.layer_norm(x, (D,), ln2_w, ln2_b) @ W1 + b1
        x = x + fn.gelu(u, approximate="tanh") @ W2 + b2
        logits = fn.layer_norm(x, (D,), lnf_w, lnf_b) @ Wh + bh
        loss = fn.cross_entropy(logits.reshape(B * T, -1), targets)
        opt.zero_grad()
        loss.backward()
        grads = tuple(t.grad.numpy() for t in ts)
        opt.step()
        return loss.detach().numpy(), grads

    return run


# ---------------------------------------------------------------------------
# HIPS autograd
# ---------------------------------------------------------------------------

def _autograd():
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        raise Unavailable("not installed") from None
    return autograd, anp


def _anp_softmax(anp, s):
    e = anp.exp(s - anp.max(s, axis=-1, keepdims=True))
    return e / anp.sum(e, axis=-1, keepdims=True)


def autograd_w0(wl):
    autograd, anp = _autograd()
    (V,) = wl.arrays

    def f(V):
        W = _anp_softmax(anp, anp.dot(V, V.T))
        Y = anp.dot(W, V)
        a, b = Y[0], Y[3]
        na = anp.sqrt(anp.sum(a * a))
        nb_ = anp.sqrt(anp.sum(b * b))
        return anp.sum(a * b) / (anp.maximum(na, COS_EPS) * anp.maximum(nb_, COS_EPS))

    vg = autograd.value_and_grad(f)

    def run():
        loss, g = vg(V)
        return loss, (g,)

    return run


def autograd_chain(wl):
    autograd, anp = _autograd()
    x, w = wl.arrays
    k = wl.params["k"]

    def f(x, w):
        y = x
        for _ in range(k):
            y = y * w
        return anp.sum(y)

    vg = autograd.value_and_grad(f, argnum=(0, 1))
    return lambda: vg(x, w)


def autograd_w1(wl):
    autograd, anp = _autograd()
    arrays = wl.arrays
    T, D = arrays[0].shape[1:]
    mask = nb.causal_mask(T)
    scale = 1.0 / math.sqrt(D)

    def f(x, Wq, Wk, Wv, Wo):
        q = anp.matmul(x, Wq)
        k = anp.matmul(x, Wk)
        v = anp.matmul(x, Wv)
        s = anp.matmul(q, anp.swapaxes(k, -1, -2)) * scale
        s = anp.where(mask, -np.inf, s)
        out = anp.matmul(anp.matmul(_anp_softmax(anp, s), v), Wo)
        return anp.sum(out ** 2)

    vg = autograd.value_and_grad(f, argnum=(0, 1, 2, 3, 4))
    return lambda: vg(*arrays)


# ---------------------------------------------------------------------------
# MyGrad
# ---------------------------------------------------------------------------

def _mygrad():
    try:
        import mygrad
    except ImportError:
        raise Unavailable("not installed") from None
    return mygrad


def _mg_softmax(mg, s):
    e = mg.exp(s - mg.max(s, axis=-1, keepdims=True))
    return e / mg.sum(e, axis=-1, keepdims=True)


def mygrad_w0(wl):
    mg = _mygrad()
    (V,) = wl.arrays

    def run():
        v = mg.tensor(V)
        W = _mg_softmax(mg, mg.matmul(v, v.T))
        Y = mg.matmul(W, v)
        a, b = Y[0], Y[3]
        na = mg.sqrt(mg.sum(a * a))
        nb_ = mg.sqrt(mg.sum(b * b))
        loss = mg.sum(a * b) / (mg.maximum(na, COS_EPS) * mg.maximum(nb_, COS_EPS))
        loss.backward()
        return loss.data, (v.grad,)

    return run


def mygrad_chain(wl):
    mg = _mygrad()
    x, w = wl.arrays
    k = wl.params["k"]

    def run():
        xt = mg.tensor(x)
        wt = mg.tensor(w)
        y = xt
        for _ in range(k):
            y = y * wt
        loss = mg.sum(y)
        loss.backward()
        return loss.data, (xt.grad, wt.grad)

    return run


def mygrad_w1(wl):
    mg = _mygrad()
    arrays = wl.arrays
    T, D = arrays[0].shape[1:]
    mask = nb.causal_mask(T)
    scale = 1.0 / math.sqrt(D)

    def run():
        ts = [mg.tensor(a) for a in arrays]
        x, Wq, Wk, Wv, Wo = ts
        q = mg.matmul(x, Wq)
        k = mg.matmul(x, Wk)
        v = mg.matmul(x, Wv)
        s = mg.matmul(q, mg.swapaxes(k, -1, -2)) * scale
        s = mg.where(mask, -np.inf, s)
        out = mg.matmul(mg.matmul(_mg_softmax(mg, s), v), Wo)
        loss = mg.sum(out ** 2)
        loss.backward()
        return loss.data, tuple(t.grad for t in ts)

    return run


# ---------------------------------------------------------------------------
# the workload list
# ---------------------------------------------------------------------------

def build_workloads(threads=1, peers=True):
    """All benchmark workloads, in report order."""
    common = {"threads": threads}

    def impls(**named):
        return {name: f for name, f in named.items()
                if f is not None and (peers or name not in PEERS)}

    wls = [Workload(W0_KEY, "w0", (SEED_V.copy(),), dict(common),
                    impls(numpy=numpy_w0, minigrad=minigrad_w0, torch=torch_w0,
                          autograd=autograd_w0, mygrad=mygrad_w0), np.float64)]
    for k in CHAIN_KS:
        wls.append(Workload(chain_key(k), "chain", chain_inputs(k), dict(common, k=k),
                            impls(numpy=numpy_chain, minigrad=minigrad_chain,
                                  **{"floor bare": floor.chain_step(floor.bare_backward),
                                     "floor checked": floor.chain_step(floor.checked_backward)},
                                  torch=torch_chain, autograd=autograd_chain,
                                  mygrad=mygrad_chain), np.float64, info_only=FLOORS))
    for shape in W1_SIZES:
        for dtype in W1_DTYPES:
            wls.append(Workload(w1_key(shape, dtype), "w1", w1_inputs(*shape, dtype),
                                dict(common, shape=shape),
                                impls(numpy=numpy_w1, minigrad=minigrad_w1,
                                      **{"minigrad[ops]": minigrad_w1_ops}, torch=torch_w1,
                                      autograd=autograd_w1, mygrad=mygrad_w1),
                                dtype, info_only=("minigrad[ops]",)))
    wls.append(Workload(W2_KEY, "w2", w2_inputs(*W2_SIZE, W2_DTYPE),
                        dict(common, shape=W2_SIZE, n_heads=W2_HEADS),
                        impls(numpy=numpy_w2, minigrad=minigrad_w2_module,
                              **{"minigrad[ops]": minigrad_w2_ops}, torch=torch_w2),
                        W2_DTYPE, info_only=("minigrad[ops]",)))
    m = TRAIN_MODEL
    wls.append(Workload(TRAIN_KEY, "train",
                        train_inputs(*TRAIN_SIZE, m["vocab"], m["d_model"], m["d_ff"],
                                     m["n_classes"], TRAIN_DTYPE),
                        dict(common, **TRAIN_MODEL, **TRAIN_ADAM),
                        impls(numpy=numpy_train, minigrad=minigrad_train, torch=torch_train),
                        TRAIN_DTYPE, info_only=("minigrad",)))
    return wls
