"""Hand-written NumPy forward passes with manually derived backward passes.

These functions are the speed baseline of the benchmark: every workload is
timed against the function here that computes the same loss and the same
gradients.  They are meant to be what a careful person would write by hand
with NumPy: no wasted work (intermediates needed by the backward pass are
kept, nothing is recomputed, temporaries the function itself created are
updated in place), but no unusual tricks either (no fused weight
concatenation, no closed-form shortcuts that change the computation).

Every workload function takes NumPy arrays and returns ``(loss, grads)``
where ``loss`` is a NumPy scalar of the input dtype and ``grads`` is a tuple
with the gradient of ``loss`` with respect to each array argument, in
argument order (for the transformer: each array of its ``params`` list; the
token ids and the positional table are constants).  float32 inputs stay float32 throughout: all constants are Python
floats, which NumPy never uses to upcast an array.

Notation used in the comments: ``gX`` is dL/dX, the gradient of the scalar
loss with respect to ``X``, and has the shape of ``X``.
"""

import math

import numpy as np

__all__ = [
    "causal_mask",
    "softmax",
    "w0_seed",
    "chain",
    "w1_attention",
    "w2_multihead",
    "TRANSFORMER_PARAMS",
    "sinusoidal_table",
    "tiny_transformer",
    "adam_init",
    "adam_step",
    "tiny_transformer_train_step",
]

COS_EPS = 1e-8
LN_EPS = 1e-5                          # minigrad.nn.LayerNorm's default
GELU_C = math.sqrt(2.0 / math.pi)      # GELU's tanh form, as minigrad.functional.gelu


def causal_mask(T):
    """Boolean (T, T) mask, True where key j lies in the future of query i (j > i)."""
    return np.triu(np.ones((T, T), dtype=bool), k=1)


def softmax(s, axis=-1):
    """Numerically stable softmax of ``s`` along ``axis`` (returns a new array)."""
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _softmax_inplace(s):
    """Softmax over the last axis, overwriting ``s`` (a temporary we own)."""
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return s


def _softmax_backward_inplace(gp, p):
    """Turn ``gp`` = dL/dp into dL/ds in place, where p = softmax(s, axis=-1).

    The softmax Jacobian is dp_i/ds_j = p_i (delta_ij - p_j), so
        gs_j = sum_i gp_i p_i (delta_ij - p_j) = p_j (gp_j - sum_i gp_i p_i).
    Entries with p_j == 0 (masked positions) get a zero gradient.
    """
    gp -= (gp * p).sum(axis=-1, keepdims=True)
    gp *= p
    return gp


# ---------------------------------------------------------------------------
# W0: the seed expression
# ---------------------------------------------------------------------------

def w0_seed(V, eps=COS_EPS):
    """Seed workload.

    Forward (V: (4, 2); any number of rows >= 4 and any width work)::

        S = V @ V.T                 # (4, 4)
        W = softmax(S, axis=-1)     # (4, 4)
        Y = W @ V                   # (4, 2)
        a, b = Y[0], Y[3]           # (2,), (2,)
        loss = a.b / (max(|a|, eps) * max(|b|, eps))

    Returns ``(loss, (gV,))`` with gV of shape (4, 2).  V is used three
    times (twice in S, once in Y) so gV is the sum of three contributions.
    """
    # ---- forward
    S = V @ V.T
    W = _softmax_inplace(S)                   # S is a fresh temporary
    Y = W @ V
    a = Y[0]
    b = Y[3]
    # The cosine itself is scalar arithmetic on two 2-vectors: plain Python
    # floats are both the clearest and the cheapest way to do it.
    dot = float(a @ b)
    na = math.sqrt(float(a @ a))
    nb = math.sqrt(float(b @ b))
    da = max(na, eps)
    db = max(nb, eps)
    inv_denom = 1.0 / (da * db)
    c = dot * inv_denom
    loss = V.dtype.type(c)

    # ---- backward
    # c = a.b / (da db) with da = max(|a|, eps):
    #   dc/da = b / (da db) - c / da * d(da)/da,  d(da)/da = a/|a| if |a| > eps else 0
    # so when |a| > eps (da == |a|): dc/da = b / (da db) - c a / |a|^2.
    ga = b * inv_denom
    if na > eps:
        ga -= (c / (na * na)) * a
    gb = a * inv_denom
    if nb > eps:
        gb -= (c / (nb * nb)) * b

    # Only rows 0 and 3 of Y reach the loss.
    gY = np.zeros_like(Y)
    gY[0] = ga
    gY[3] = gb
    # Y = W V:  gW = gY V^T,  gV gets W^T gY.
    gW = gY @ V.T
    # W = softmax(S):  gS = W * (gW - rowsum(gW * W)).
    gS = _softmax_backward_inplace(gW, W)
    # S = V V^T:  gV gets gS V + gS^T V = (gS + gS^T) V.
    gV = W.T @ gY + (gS + gS.T) @ V
    return loss, (gV,)


# ---------------------------------------------------------------------------
# chain: k elementwise multiplies (per-op overhead probe)
# ---------------------------------------------------------------------------

def chain(x, w, k):
    """Chain of ``k`` elementwise multiplies.

    Forward (x, w: same shape, (4, 2) in the benchmark)::

        y = x
        repeat k times: y = y * w
        loss = y.sum()

    Returns ``(loss, (gx, gw))``.  The backward pass follows the graph op by
    op (it does not use the closed form ``x * w**k``): this workload exists to
    measure per-operation cost, so both sides perform the same k steps.
    """
    # ---- forward, keeping each multiply's left operand for the backward
    ys = []
    y = x
    for _ in range(k):
        ys.append(y)
        y = y * w
    loss = y.sum()

    # ---- backward
    # loss = sum(y_k)  =>  g = dL/dy_k = 1.
    # y_i = y_{i-1} * w  =>  gw += g * y_{i-1},  dL/dy_{i-1} = g * w.
    g = np.ones_like(y)
    gw = np.zeros_like(w)
    for y_prev in reversed(ys):
        gw += g * y_prev
        g = g * w
    return loss, (g, gw)


# ---------------------------------------------------------------------------
# W1: single-head causal self-attention
# ---------------------------------------------------------------------------

def w1_attention(x, Wq, Wk, Wv, Wo, mask=None):
    """Single-head causal self-attention with a sum-of-squares loss.

    Shapes: x (B, T, D); Wq, Wk, Wv, Wo (D, D); ``mask`` is an optional
    precomputed ``causal_mask(T)`` (bool (T, T), True = masked out)::

        q, k, v = x @ Wq, x @ Wk, x @ Wv            # (B, T, D)
        s = q @ k^T / sqrt(D)                       # (B, T, T)
        s[..., j > i] = -inf                        # causal mask
        p = softmax(s, axis=-1)                     # (B, T, T)
        a = p @ v                                   # (B, T, D)
        out = a @ Wo                                # (B, T, D)
        loss = sum(out ** 2)

    Returns ``(loss, (gx, gWq, gWk, gWv, gWo))``.
    """
    T, D = x.shape[1:]
    if mask is None:
        mask = causal_mask(T)
    scale = 1.0 / math.sqrt(D)                 # Python float: keeps float32

    # ---- forward
    q = x @ Wq
    k = x @ Wk
    v = x @ Wv
    s = q @ k.swapaxes(-1, -2)
    s *= scale
    np.copyto(s, -np.inf, where=mask)          # mask broadcasts over B
    p = _softmax_inplace(s)                    # masked weights are exactly 0
    a = p @ v
    out = a @ Wo
    loss = np.square(out).sum()

    # ---- backward
    x2 = x.reshape(-1, D)
    g_out = 2.0 * out                          # d(sum out^2)/d out
    # out = a Wo: gWo = sum_bt a^T g_out,  ga = g_out Wo^T.
    gWo = a.reshape(-1, D).T @ g_out.reshape(-1, D)
    ga = g_out @ Wo.T
    # a = p v: gp = ga v^T,  gv = p^T ga  (per batch).
    gp = ga @ v.swapaxes(-1, -2)
    gv = p.swapaxes(-1, -2) @ ga
    # p = softmax(s) (masked entries have p = 0 and so get gs = 0);
    # s = scale * q k^T: the scale is folded into gs once.
    gs = _softmax_backward_inplace(gp, p)
    gs *= scale
    # s = q k^T: gq = gs k,  gk = gs^T q.
    gq = gs @ k
    gk = gs.swapaxes(-1, -2) @ q
    # q = x Wq etc.: gWq = sum_bt x^T gq;  x feeds all three projections.
    gWq = x2.T @ gq.reshape(-1, D)
    gWk = x2.T @ gk.reshape(-1, D)
    gWv = x2.T @ gv.reshape(-1, D)
    gx = gq @ Wq.T
    gx += gk @ Wk.T
    gx += gv @ Wv.T
    return loss, (gx, gWq, gWk, gWv, gWo)


# ---------------------------------------------------------------------------
# W2: multi-head causal self-attention with biases
# ---------------------------------------------------------------------------

def w2_multihead(x, Wq, Wk, Wv, Wo, bq, bk, bv, bo, n_heads, mask=None):
    """Multi-head causal self-attention with biases, sum-of-squares loss.

    Shapes: x (B, T, D); W* (D, D); b* (D,); H = n_heads divides D and
    Dh = D // H; ``mask`` is an optional precomputed ``causal_mask(T)``::

        q = split(x @ Wq + bq)            # (B, H, T, Dh), same for k, v
        s = q @ k^T / sqrt(Dh)            # (B, H, T, T), causal mask -> -inf
        p = softmax(s, axis=-1)
        m = merge(p @ v)                  # (B, T, D)
        out = m @ Wo + bo                 # (B, T, D)
        loss = sum(out ** 2)

    where split reshapes (B, T, D) -> (B, T, H, Dh) and moves H before T,
    and merge is its inverse.

    Returns ``(loss, (gx, gWq, gWk, gWv, gWo, gbq, gbk, gbv, gbo))``.
    """
    B, T, D = x.shape
    H = n_heads
    if D % H:
        raise ValueError(f"D={D} is not divisible by n_heads={H}")
    Dh = D // H
    if mask is None:
        mask = causal_mask(T)
    scale = 1.0 / math.sqrt(Dh)

    def split(t):                      # (B, T, D) -> (B, H, T, Dh), a view
        return t.reshape(B, T, H, Dh).transpose(0, 2, 1, 3)

    def merge(t):                      # (B, H, T, Dh) -> (B*T, D), a copy
        return t.transpose(0, 2, 1, 3).reshape(B * T, D)

    # ---- forward
    q = split(x @ Wq + bq)
    k = split(x @ Wk + bk)
    v = split(x @ Wv + bv)
    s = q @ k.swapaxes(-1, -2)
    s *= scale
    np.copyto(s, -np.inf, where=mask)          # broadcasts over B and H
    p = _softmax_inplace(s)
    m = merge(p @ v)                           # (B*T, D)
    out = m @ Wo + bo
    loss = np.square(out).sum()

    # ---- backward
    x2 = x.reshape(-1, D)
    g_out = 2.0 * out                          # (B*T, D)
    # out = m Wo + bo
    gWo = m.T @ g_out
    gbo = g_out.sum(axis=0)
    ga = split((g_out @ Wo.T).reshape(B, T, D))
    # a = p v (per batch and head)
    gp = ga @ v.swapaxes(-1, -2)
    gv = merge(p.swapaxes(-1, -2) @ ga)
    # p = softmax(s), s = scale * q k^T
    gs = _softmax_backward_inplace(gp, p)
    gs *= scale
    gq = merge(gs @ k)
    gk = merge(gs.swapaxes(-1, -2) @ q)
    # q = x Wq + bq etc. (gq, gk, gv are now (B*T, D))
    gWq = x2.T @ gq
    gWk = x2.T @ gk
    gWv = x2.T @ gv
    gbq = gq.sum(axis=0)
    gbk = gk.sum(axis=0)
    gbv = gv.sum(axis=0)
    gx = gq @ Wq.T
    gx += gk @ Wk.T
    gx += gv @ Wv.T
    return loss, (gx.reshape(B, T, D), gWq, gWk, gWv, gWo, gbq, gbk, gbv, gbo)


# ---------------------------------------------------------------------------
# T: one training step of demo 08's tiny transformer
# ---------------------------------------------------------------------------

# The parameters of attention.TransformerEncoder with one block, in the order of
# model.named_parameters(); tiny_transformer takes and returns arrays in this order.
TRANSFORMER_PARAMS = (
    "embed.weight",                                            # (V, D)
    "blocks.0.ln1.weight", "blocks.0.ln1.bias",                # (D,)
    "blocks.0.attn.q_proj.weight", "blocks.0.attn.q_proj.bias",  # (D, D), (D,)
    "blocks.0.attn.k_proj.weight", "blocks.0.attn.k_proj.bias",
    "blocks.0.attn.v_proj.weight", "blocks.0.attn.v_proj.bias",
    "blocks.0.attn.out_proj.weight", "blocks.0.attn.out_proj.bias",
    "blocks.0.ln2.weight", "blocks.0.ln2.bias",                # (D,)
    "blocks.0.mlp.0.weight", "blocks.0.mlp.0.bias",            # (D, F), (F,)
    "blocks.0.mlp.2.weight", "blocks.0.mlp.2.bias",            # (F, D), (D,)
    "ln_final.weight", "ln_final.bias",                        # (D,)
    "head.weight", "head.bias",                                # (D, C), (C,)
)


def sinusoidal_table(max_len, D):
    """The (max_len, D) float64 table PE[p, 2i] = sin(p w_i), PE[p, 2i+1] = cos(p w_i),
    w_i = 10000^(-2i / D) (attention.SinusoidalPositionalEncoding's)."""
    angles = np.arange(max_len)[:, None] * 10000.0 ** (-np.arange(0, D, 2) / D)
    pe = np.empty((max_len, D))
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles[:, :D // 2])    # an odd D has one sine more
    return pe


def _layer_norm(x, weight, bias):
    """LayerNorm over the last axis of x (N, D); returns (out, x_hat, rstd).

    x_hat = (x - mean) * rstd with rstd = 1 / sqrt(var + eps) (N, 1), var the
    biased variance (mean of squared deviations), and out = x_hat * weight + bias.
    """
    x_hat = x - x.mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(np.square(x_hat).mean(axis=-1, keepdims=True) + LN_EPS)
    x_hat *= rstd
    return x_hat * weight + bias, x_hat, rstd


def _layer_norm_backward(g, x_hat, rstd, weight):
    """(gx, gweight, gbias) for out = _layer_norm(x, weight, bias)[0], g = dL/dout (N, D).

    With gh = g * weight, the gradient through x_hat = (x - mean) rstd is
        gx = rstd (gh - mean(gh) - x_hat mean(gh x_hat))      (means over D):
    the two means remove the parts of gh along the directions the normalisation
    discards (a shift of x, and a rescaling of x_hat).
    """
    gweight = (g * x_hat).sum(axis=0)
    gbias = g.sum(axis=0)
    gh = g * weight
    gx = gh - gh.mean(axis=-1, keepdims=True)
    gx -= x_hat * (gh * x_hat).mean(axis=-1, keepdims=True)
    gx *= rstd
    return gx, gweight, gbias


def tiny_transformer(tokens, targets, pe, params, n_heads):
    """Loss and gradients of demo 08's model: a one-block pre-LN transformer encoder.

    tokens, targets: integer (B, T); pe: positional table (>= T, D), a constant;
    params: the arrays named in TRANSFORMER_PARAMS, in that order; H = n_heads
    divides D, Dh = D // H.  With N = B*T rows and LN(x) = LayerNorm over D::

        x0 = embed[tokens] + pe[:T]                # (B, T, D), viewed as (N, D)
        h1 = LN1(x0)
        q, k, v = split(h1 Wq + bq), ...           # (B, H, T, Dh)
        p = softmax(q kᵀ / sqrt(Dh))               # (B, H, T, T), no mask
        x1 = x0 + merge(p v) Wo + bo               # (N, D)
        u = LN2(x1) W1 + b1                        # (N, F)
        x2 = x1 + gelu(u) W2 + b2                  # (N, D)
        logits = LN_final(x2) Wh + bh              # (N, C)
        loss = mean_n (logsumexp(logits_n) - logits_n[targets_n])

    gelu(u) = 0.5 u (1 + tanh(c (u + 0.044715 u³))), c = sqrt(2/pi).
    Returns ``(loss, grads)``, grads the gradients of every array of params in
    order (none for tokens, targets, pe).
    """
    if len(params) != len(TRANSFORMER_PARAMS):
        raise ValueError(f"tiny_transformer: expected {len(TRANSFORMER_PARAMS)} parameter arrays "
                         f"(TRANSFORMER_PARAMS), got {len(params)}")
    (E, ln1_w, ln1_b, Wq, bq, Wk, bk, Wv, bv, Wo, bo,
     ln2_w, ln2_b, W1, b1, W2, b2, lnf_w, lnf_b, Wh, bh) = params
    B, T = tokens.shape
    N, D = B * T, E.shape[1]
    H = n_heads
    if D % H:
        raise ValueError(f"tiny_transformer: D={D} is not divisible by n_heads={H}")
    Dh = D // H
    scale = 1.0 / math.sqrt(Dh)

    def split(t):                      # (N, D) -> (B, H, T, Dh), a view
        return t.reshape(B, T, H, Dh).transpose(0, 2, 1, 3)

    def merge(t):                      # (B, H, T, Dh) -> (N, D), a copy
        return t.transpose(0, 2, 1, 3).reshape(N, D)

    # ---- forward
    x0 = (E[tokens] + pe[:T].astype(E.dtype, copy=False)).reshape(N, D)
    h1, x_hat1, rstd1 = _layer_norm(x0, ln1_w, ln1_b)
    q = split(h1 @ Wq + bq)                    # (B, H, T, Dh)
    k = split(h1 @ Wk + bk)
    v = split(h1 @ Wv + bv)
    s = q @ k.swapaxes(-1, -2)                 # (B, H, T, T)
    s *= scale
    p = _softmax_inplace(s)
    m = merge(p @ v)                           # (N, D)
    x1 = x0 + (m @ Wo + bo)
    h2, x_hat2, rstd2 = _layer_norm(x1, ln2_w, ln2_b)
    u = h2 @ W1 + b1                           # (N, F)
    t = np.tanh(GELU_C * (u + 0.044715 * u * u * u))
    z = 0.5 * u * (1.0 + t)
    x2 = x1 + (z @ W2 + b2)                    # (N, D)
    h3, x_hat3, rstd3 = _layer_norm(x2, lnf_w, lnf_b)
    logits = h3 @ Wh + bh                      # (N, C)
    # cross-entropy through the shifted logits, so that exp cannot overflow
    rows, cols = np.arange(N), targets.reshape(N)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    sum_e = e.sum(axis=-1, keepdims=True)      # (N, 1)
    loss = (np.log(sum_e[:, 0]) - shifted[rows, cols]).mean()

    # ---- backward
    # loss = mean_n (logsumexp(l_n) - l_n[y_n]):  gl = (softmax(l) - onehot(y)) / N.
    gl = e
    gl /= sum_e
    gl[rows, cols] -= 1.0
    gl *= 1.0 / N
    # logits = h3 Wh + bh
    gWh = h3.T @ gl
    gbh = gl.sum(axis=0)
    gx2, glnf_w, glnf_b = _layer_norm_backward(gl @ Wh.T, x_hat3, rstd3, lnf_w)
    # x2 = x1 + z W2 + b2: the residual hands gx2 to x1 unchanged (added below).
    gW2 = z.T @ gx2
    gb2 = gx2.sum(axis=0)
    gu = gx2 @ W2.T                            # (N, F), dL/dz for now
    # z = gelu(u):  dz/du = 0.5 (1 + t) + 0.5 u (1 - t²) c (1 + 3 * 0.044715 u²)
    gu *= 0.5 * (1.0 + t) + (0.5 * GELU_C) * u * (1.0 - t * t) * (1.0 + 3 * 0.044715 * u * u)
    # u = h2 W1 + b1
    gW1 = h2.T @ gu
    gb1 = gu.sum(axis=0)
    gx1, gln2_w, gln2_b = _layer_norm_backward(gu @ W1.T, x_hat2, rstd2, ln2_w)
    gx1 += gx2                                 # residual
    # x1 = x0 + m Wo + bo
    gWo = m.T @ gx1
    gbo = gx1.sum(axis=0)
    ga = split(gx1 @ Wo.T)                     # (B, H, T, Dh)
    # a = p v (per batch and head)
    gp = ga @ v.swapaxes(-1, -2)               # (B, H, T, T)
    gv = merge(p.swapaxes(-1, -2) @ ga)        # (N, D)
    # p = softmax(s), s = scale * q kᵀ
    gs = _softmax_backward_inplace(gp, p)
    gs *= scale
    gq = merge(gs @ k)                         # (N, D)
    gk = merge(gs.swapaxes(-1, -2) @ q)
    # q = h1 Wq + bq etc.; h1 feeds all three projections
    gWq = h1.T @ gq
    gWk = h1.T @ gk
    gWv = h1.T @ gv
    gbq = gq.sum(axis=0)
    gbk = gk.sum(axis=0)
    gbv = gv.sum(axis=0)
    gh1 = gq @ Wq.T
    gh1 += gk @ Wk.T
    gh1 += gv @ Wv.T
    gx0, gln1_w, gln1_b = _layer_norm_backward(gh1, x_hat1, rstd1, ln1_w)
    gx0 += gx1                                 # residual
    # x0 = embed[tokens] + pe: row i of embed gets the sum of gx0 over the
    # positions holding token i (np.add.at adds once per repeat; += would not).
    gE = np.zeros_like(E)
    np.add.at(gE, tokens.reshape(N), gx0)
    return loss, (gE, gln1_w, gln1_b, gWq, gbq, gWk, gbk, gWv, gbv, gWo, gbo,
                  gln2_w, gln2_b, gW1, gb1, gW2, gb2, glnf_w, glnf_b, gWh, gbh)


def adam_init(params):
    """Adam's state for ``params``: the step count and zero first and second moments."""
    return {"t": 0, "m": [np.zeros_like(p) for p in params],
            "v": [np.zeros_like(p) for p in params]}


def adam_step(params, grads, state, lr=3e-3, betas=(0.9, 0.999), eps=1e-8):
    """One Adam update of ``params`` in place, minigrad.optim.Adam's formula; at step t::

        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g²
        p = p - lr m̂ / (sqrt(v̂) + eps),   m̂ = m / (1 - b1^t),  v̂ = v / (1 - b2^t)
    """
    beta1, beta2 = betas
    state["t"] += 1
    t = state["t"]
    for p, g, m, v in zip(params, grads, state["m"], state["v"]):
        m *= beta1
        m += (1.0 - beta1) * g
        v *= beta2
        v += (1.0 - beta2) * (g * g)
        m_hat = m / (1.0 - beta1 ** t)
        v_hat = v / (1.0 - beta2 ** t)
        p -= lr * m_hat / (np.sqrt(v_hat) + eps)


def tiny_transformer_train_step(tokens, targets, pe, params, n_heads, adam,
                                lr=3e-3, betas=(0.9, 0.999), eps=1e-8):
    """One training step of demo 08: ``tiny_transformer`` then ``adam_step``.

    ``params`` are updated in place and ``adam`` (from ``adam_init``) carries
    the moments; returns ``(loss, grads)`` of the parameters before the update.
    """
    loss, grads = tiny_transformer(tokens, targets, pe, params, n_heads)
    adam_step(params, grads, adam, lr, betas, eps)
    return loss, grads
