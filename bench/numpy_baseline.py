"""Hand-written NumPy forward passes with manually derived backward passes.

These functions are the speed baseline of the benchmark: every workload is
timed against the function here that computes the same loss and the same
gradients.  They are meant to be what a careful person would write by hand
with NumPy: no wasted work (intermediates needed by the backward pass are
kept, nothing is recomputed, temporaries the function itself created are
updated in place), but no unusual tricks either (no fused weight
concatenation, no closed-form shortcuts that change the computation).

Every function takes NumPy arrays and returns ``(loss, grads)`` where
``loss`` is a NumPy scalar of the input dtype and ``grads`` is a tuple with
the gradient of ``loss`` with respect to each array argument, in argument
order.  float32 inputs stay float32 throughout: all constants are Python
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
]

COS_EPS = 1e-8


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
