"""TinyGPT's training step written by hand in NumPy: the floor minigrad's train step is measured against.

One AdamW step of attention.TinyGPT (learned positions, pre-LayerNorm blocks of causal multi-head
attention and a GELU MLP, a final LayerNorm and an untied linear head) on the mean cross-entropy of
next-token prediction, with no autograd engine: each forward keeps what its backward needs, each
backward is the derivation written out.  It is what a careful person would write with NumPy:

* every matrix product goes to BLAS on (rows, features) matrices, N = B T rows at a time;
* the sums over the short last axis (softmax, layer norm) are products with a column of ones,
  as minigrad's ops do, and temporaries are updated in place where that saves a pass;
* the query, key and value projections are one product with the three weights side by side,
  and attention's 1/sqrt(Dh) is folded into the query's weights (D² multiplies, not B T D);
* the causal softmax is shifted by each row's diagonal score, not its max (see _causal_softmax);
* the parameters, their gradients and Adam's moments each live in one flat array (the arrays by
  name are views of it), so AdamW is a dozen passes over all parameters at once.

grad_x is dL/dx, the gradient of the loss with respect to x, with x's shape.  The dtype of
the parameters (float32 or float64) is kept throughout.  bench/tests/test_gpt_numpy.py checks the
loss, every gradient and the update against minigrad's TinyGPT, F.cross_entropy and AdamW.
"""
import math

import numpy as np

GELU_C = math.sqrt(2.0 / math.pi)   # GELU's tanh approximation, as GPT-2 and minigrad.functional.gelu
GELU_K = 0.044715


class GPTTrainStep:
    """step = GPTTrainStep(params, n_heads, lr=...); loss = step(batch).

    params: {name: array} as TinyGPT.named_parameters() gives them (copied: the step owns its
    weights): embed.weight (V, D), position.weight (max_len, D), per block l
    blocks.l.{ln1,ln2}.{weight,bias} (D,), blocks.l.attn.{q,k,v,out}_proj.weight (D, D) and .bias (D,),
    blocks.l.mlp.0.weight (D, 4D), .bias (4D,), blocks.l.mlp.2.weight (4D, D), .bias (D,),
    ln_final.{weight,bias} (D,), head.weight (D, V), head.bias (V,).
    batch: token ids (B, T + 1); the model reads batch[:, :-1] and predicts batch[:, 1:].
    AdamW as minigrad.optim.AdamW (and torch.optim.AdamW): p <- p (1 - lr wd), then Adam.
    `.params` and `.grads` hold the current weights and the last step's gradients, by name.
    """

    def __init__(self, params, n_heads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 ln_eps=1e-5):
        arrays = {name: np.asarray(p) for name, p in params.items()}
        self.dtype = next(iter(arrays.values())).dtype
        self.flat = np.concatenate([a.ravel() for a in arrays.values()]).astype(self.dtype)
        self.flat_grad = np.zeros_like(self.flat)
        self.params, self.grads = _views(self.flat, arrays), _views(self.flat_grad, arrays)
        self.m, self.v = np.zeros_like(self.flat), np.zeros_like(self.flat)  # Adam's moments
        self.n_heads, self.n_layers = n_heads, sum(name.endswith("ln1.weight") for name in arrays)
        self.lr, self.betas, self.eps, self.weight_decay, self.ln_eps = lr, betas, eps, weight_decay, ln_eps
        self.steps = 0

    def __call__(self, batch):
        """One AdamW step on batch (B, T + 1); returns the loss before it (a float)."""
        loss = self.loss_and_grads(batch)
        self.adamw()
        return loss

    # ---- forward and backward ------------------------------------------------------------

    def loss_and_grads(self, batch):
        """Mean cross-entropy of batch (B, T + 1) and its gradients, written into self.grads."""
        p, g = self.params, self.grads
        batch = np.asarray(batch)
        tokens, targets = batch[:, :-1], batch[:, 1:].reshape(-1)
        B, T = tokens.shape
        x = p["embed.weight"][tokens] + p["position.weight"][:T]             # (B, T, D)
        x = x.reshape(B * T, -1)                                             # (N, D): the residual stream
        saved = []
        for layer in range(self.n_layers):
            x, kept = self._block_forward(x, f"blocks.{layer}.", B, T)
            saved.append(kept)
        h, final = self._layer_norm(x, "ln_final.")
        logits = _affine(h, p["head.weight"], p["head.bias"])                # (N, V)
        loss, grad = _cross_entropy(logits, targets)                          # (N, V): g logits
        _affine_backward(grad, h, "head.", p, g, grad_x=False)
        grad_x = self._layer_norm_backward(grad @ p["head.weight"].T, final, "ln_final.")
        for layer in reversed(range(self.n_layers)):
            self._block_backward(grad_x, saved[layer], f"blocks.{layer}.", B, T)  # adds into grad_x
        self._embedding_backward(grad_x.reshape(B, T, -1), tokens)
        return loss

    def _block_forward(self, x, name, B, T):
        """x + attention(ln1(x)), then + mlp(ln2(.)): x (N, D) updated in place and returned."""
        p = self.params
        h1, ln1 = self._layer_norm(x, name + "ln1.")
        weights, qkv, merged = self._attention_forward(h1, name, B, T)
        x += _affine(merged, p[name + "attn.out_proj.weight"], p[name + "attn.out_proj.bias"])
        h2, ln2 = self._layer_norm(x, name + "ln2.")
        a = _affine(h2, p[name + "mlp.0.weight"], p[name + "mlp.0.bias"])  # (N, 4D)
        act, held_back = _gelu(a)                                            # (N, 4D) each
        x += _affine(act, p[name + "mlp.2.weight"], p[name + "mlp.2.bias"])
        return x, (h1, ln1, weights, qkv, merged, h2, ln2, a, held_back, act)

    def _block_backward(self, grad_x, kept, name, B, T):
        """The block's backward: grad_x (N, D), the gradient of its output, gets its input's."""
        p, g = self.params, self.grads
        h1, ln1, weights, qkv, merged, h2, ln2, a, held_back, act = kept
        grad_a = _gelu_backward(grad_x @ p[name + "mlp.2.weight"].T, a, held_back, act)  # (N, 4D)
        _affine_backward(grad_x, act, name + "mlp.2.", p, g, grad_x=False)
        _affine_backward(grad_a, h2, name + "mlp.0.", p, g, grad_x=False)
        grad_x += self._layer_norm_backward(grad_a @ p[name + "mlp.0.weight"].T, ln2, name + "ln2.")
        _affine_backward(grad_x, merged, name + "attn.out_proj.", p, g, grad_x=False)
        grad_merged = grad_x @ p[name + "attn.out_proj.weight"].T                # (N, D)
        grad_h1 = self._attention_backward(grad_merged, h1, weights, qkv, name, B, T)
        grad_x += self._layer_norm_backward(grad_h1, ln1, name + "ln1.")

    def _attention_forward(self, h, name, B, T):
        """Causal multi-head attention's inside, h (N, D) -> (weights (B, H, T, T), qkv (N, 3D),
        merged heads (N, D)); the output projection is the caller's."""
        H = self.n_heads
        D = h.shape[1]
        Dh = D // H
        qkv = _affine(h, *self._qkv_weights(name + "attn.", "weight", "bias"))  # (N, 3D)
        q, k, v = _heads(qkv, B, T, H)                                       # (B, H, T, Dh) each
        merged = np.empty((B, T, H, Dh), h.dtype)                            # heads side by side
        weights = _attend(q, k, v, out=merged.transpose(0, 2, 1, 3))          # (B, H, T, T)
        return weights, qkv, merged.reshape(B * T, D)

    def _attention_backward(self, grad_merged, h, weights, qkv, name, B, T):
        """g merged heads (N, D) -> g h (N, D); the q, k, v projections' gradients into self.grads."""
        g, H = self.grads, self.n_heads
        D = h.shape[1]
        q, k, v = _heads(qkv, B, T, H)
        grad_qkv = np.empty_like(qkv)                                        # (N, 3D)
        grad_q, grad_k, grad_v = _heads(grad_qkv, B, T, H)                   # views of it
        grad_out = grad_merged.reshape(B, T, H, D // H).transpose(0, 2, 1, 3)  # (B, H, T, Dh)
        _attend_backward(grad_out, weights, q, k, v, out=(grad_q, grad_k, grad_v))
        scale = 1.0 / math.sqrt(D // H)
        attn = name + "attn."
        for i, part in enumerate("qkv"):
            grad_part = grad_qkv[:, i * D:(i + 1) * D]
            np.matmul(h.T, grad_part, out=g[attn + f"{part}_proj.weight"])
            np.dot(_ones(len(h), h.dtype), grad_part, out=g[attn + f"{part}_proj.bias"])
        g[attn + "q_proj.weight"] *= scale                                   # q = scale (h Wq + bq)
        g[attn + "q_proj.bias"] *= scale
        (w_qkv,) = self._qkv_weights(attn, "weight")
        return grad_qkv @ w_qkv.T                                            # (N, D)

    def _qkv_weights(self, attn, *kinds):
        """The q, k and v projections' weights (D, 3D) (and biases (3D,)) side by side, q's
        multiplied by 1/sqrt(Dh), so one product makes q (already scaled), k and v."""
        p = self.params
        scale = 1.0 / math.sqrt(len(p[attn + "q_proj.bias"]) // self.n_heads)
        return [np.concatenate([p[attn + "q_proj." + kind] * scale, p[attn + "k_proj." + kind],
                                p[attn + "v_proj." + kind]], axis=-1) for kind in kinds]

    def _layer_norm(self, x, name):
        """(x - mean) / sqrt(var + eps) * weight + bias over each row of x (N, D);
        returns (out, (x̂, r)) with x̂ the normalised rows and r = 1 / sqrt(var + eps) (N, 1)."""
        D = x.shape[1]
        x_hat = x - _row_sum(x) / D
        r = _row_sum(x_hat * x_hat) / D
        r += self.ln_eps
        np.sqrt(r, out=r)
        np.divide(1.0, r, out=r)
        x_hat *= r
        out = x_hat * self.params[name + "weight"]
        out += self.params[name + "bias"]
        return out, (x_hat, r)

    def _layer_norm_backward(self, grad, kept, name):
        """g out (N, D) -> g x: r (ĝ - mean(ĝ) - x̂ mean(ĝ x̂)) with ĝ = g weight; the weight's
        and bias's gradients (g x̂ and g, summed over the rows) into self.grads."""
        x_hat, r = kept
        weight, g = self.params[name + "weight"], self.grads
        D = grad.shape[1]
        ones = _ones(len(grad), grad.dtype)
        grad_x_hat = grad * x_hat                                            # serves the weight and Σ ĝ x̂
        np.dot(ones, grad_x_hat, out=g[name + "weight"])
        np.dot(ones, grad, out=g[name + "bias"])
        dots = grad_x_hat @ weight[:, None]                                  # (N, 1): Σ ĝ x̂
        grad_x = grad * weight                                               # ĝ, then in place
        grad_x -= _row_sum(grad_x) / D
        np.multiply(x_hat, dots / D, out=grad_x_hat)
        grad_x -= grad_x_hat
        grad_x *= r
        return grad_x

    def _embedding_backward(self, grad, tokens):
        """g x (B, T, D): the positions get its sum over the batch, each token's row the sum of
        its rows (as one product with the one-hot matrix of the tokens: one BLAS call, where
        np.add.at is several times slower)."""
        B, T, D = grad.shape
        g = self.grads
        np.dot(_ones(B, grad.dtype), grad.reshape(B, T * D), out=g["position.weight"][:T].reshape(T * D))
        g["position.weight"][T:] = 0
        one_hot = np.zeros((len(g["embed.weight"]), B * T), grad.dtype)     # (V, N)
        one_hot[tokens.reshape(-1), np.arange(B * T)] = 1
        np.matmul(one_hot, grad.reshape(B * T, D), out=g["embed.weight"])

    # ---- the update ------------------------------------------------------------------------

    def adamw(self):
        """p <- p (1 - lr wd); m <- β1 m + (1 - β1) g; v <- β2 v + (1 - β2) g²;
        p <- p - lr m̂ / (sqrt(v̂) + eps), m̂ = m / (1 - β1^t), v̂ = v / (1 - β2^t): all
        parameters at once, the bias corrections as two numbers."""
        beta1, beta2 = self.betas
        self.steps += 1
        t, g, m, v = self.steps, self.flat_grad, self.m, self.v
        self.flat *= 1.0 - self.lr * self.weight_decay
        m *= beta1
        change = g * (1.0 - beta1)
        m += change
        v *= beta2
        np.multiply(g, g, out=change)
        change *= 1.0 - beta2
        v += change
        np.sqrt(v, out=change)
        change *= 1.0 / math.sqrt(1.0 - beta2 ** t)
        change += self.eps
        np.divide(m, change, out=change)
        change *= self.lr / (1.0 - beta1 ** t)
        self.flat -= change


# ---- the pieces ---------------------------------------------------------------------------

def _views(flat, arrays):
    """{name: a view of flat with the shape of arrays[name]}, laid out in the order given."""
    views, start = {}, 0
    for name, a in arrays.items():
        views[name] = flat[start:start + a.size].reshape(a.shape)
        start += a.size
    return views


def _affine(x, weight, bias):
    """x (N, K) @ weight (K, M) + bias (M,), the bias added into the product's array."""
    out = x @ weight
    out += bias
    return out


def _affine_backward(grad, x, name, params, grads, grad_x=True):
    """g weight = xᵀ g and g bias = the column sums of g (N, M), into grads; g x = g weightᵀ if asked."""
    np.matmul(x.T, grad, out=grads[name + "weight"])
    np.dot(_ones(len(grad), grad.dtype), grad, out=grads[name + "bias"])
    return grad @ params[name + "weight"].T if grad_x else None


def _heads(qkv, B, T, H):
    """qkv (N, 3D) as three views (B, H, T, Dh): q, k, v split into heads (BLAS reads them strided)."""
    D = qkv.shape[1] // 3
    return qkv.reshape(B, T, 3, H, D // H).transpose(2, 0, 3, 1, 4)


def _attend(q, k, v, out):
    """Causal attention's core, q, k, v (B, H, T, Dh), q already scaled: softmax(q kᵀ) v written
    into out (B, H, T, Dh); returns the weights (B, H, T, T), kept for backward."""
    weights = _causal_softmax(q, k)
    np.matmul(weights, v, out=out)
    return weights


def _attend_backward(grad_out, weights, q, k, v, out):
    """g out (B, H, T, Dh) -> g q, g k, g v written into out = (grad_q, grad_k, grad_v)."""
    grad_q, grad_k, grad_v = out
    np.matmul(weights.swapaxes(-1, -2), grad_out, out=grad_v)
    grad_scores = grad_out @ v.swapaxes(-1, -2)                              # (B, H, T, T): g weights
    # softmax: g scores = w (g w - sum over the keys of g w * w)
    grad_scores -= _row_sum(grad_scores * weights)
    grad_scores *= weights
    np.matmul(grad_scores, k, out=grad_q)                                    # g of the scaled q
    np.matmul(grad_scores.swapaxes(-1, -2), q, out=grad_k)


def _gelu(a):
    """(gelu(a), u): GELU's tanh approximation a s, s = 0.5 (1 + tanh(c (a + k a³))) its gate,
    and u = 1 - s, the share it holds back (kept for backward), a (N, 4D); gelu(a) = a - a u."""
    u = a * a
    u *= GELU_C * GELU_K
    u += GELU_C
    u *= a                                                                   # c (a + k a³)
    np.tanh(u, out=u)
    u *= -0.5
    u += 0.5
    act = a * u
    np.subtract(a, act, out=act)
    return act, u


def _gelu_backward(grad, a, u, act):
    """g a = g (s + a s u (2c + 6ck a²)), as s' = 0.5 (1 - tanh²) c (1 + 3k a²) = 2 s u c (...);
    written 1 + u (act (2c + 6ck a²) - 1) with act = a s, so one array (N, 4D) does it all.
    grad is updated in place and returned."""
    slope = a * a
    slope *= 6.0 * GELU_C * GELU_K
    slope += 2.0 * GELU_C
    slope *= act
    slope -= 1.0
    slope *= u
    slope += 1.0
    grad *= slope
    return grad


def _cross_entropy(logits, targets):
    """(mean of -log softmax(logits)[target], g logits (N, V) = (softmax - onehot) / N), the
    gradient made in logits' own array."""
    N = len(logits)
    rows = np.arange(N)
    logits -= logits.max(axis=1, keepdims=True)
    picked = logits[rows, targets]
    np.exp(logits, out=logits)
    total = _row_sum(logits)                                                 # (N, 1)
    loss = float(np.mean(np.log(total[:, 0]) - picked))
    logits /= total
    logits[rows, targets] -= 1.0
    logits *= 1.0 / N
    return loss, logits


def _causal_softmax(q, k):
    """softmax(q kᵀ) over the keys, q and k (..., T, Dh) -> weights (..., T, T), key s > query t
    left out (weight exactly 0).  The shift that keeps exp from overflowing is each row's
    diagonal score (a key every query sees) rather than its max: NumPy's max over rows of 64
    costs as much as three passes.  Scores up to 88 above the diagonal (float32's exp limit) are
    exact; much lower ones underflow to weights that are 0 to the float's precision anyway; a row
    that overflows (its sum is inf) has the whole softmax redone with the max as the shift."""
    scores = q @ k.swapaxes(-1, -2)                                          # (..., T, T)
    future = _future(scores.shape[-1], scores.dtype)                         # -inf where s > t
    scores -= np.diagonal(scores, axis1=-2, axis2=-1)[..., None].copy()
    scores += future
    with np.errstate(over="ignore"):                                         # an overflow is caught below
        np.exp(scores, out=scores)
        total = _row_sum(scores)                                             # (..., T, 1), each >= 1
    if not np.isfinite(total).all():                                         # rare: redo with the max
        np.matmul(q, k.swapaxes(-1, -2), out=scores)
        scores += future
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        total = _row_sum(scores)
    scores /= total
    return scores


def _row_sum(a):
    """Sums over a's last axis, kept as a size-1 axis: one product with a column of ones."""
    return a @ _ones(a.shape[-1], a.dtype)[:, None]


_ONES, _FUTURES = {}, {}


def _ones(n, dtype):
    key = (n, np.dtype(dtype))
    if key not in _ONES:
        _ONES[key] = np.ones(n, dtype)
    return _ONES[key]


def _future(T, dtype):
    """(T, T): 0 where query t may see key s (s <= t), -inf where s is in its future."""
    key = (T, np.dtype(dtype))
    if key not in _FUTURES:
        _FUTURES[key] = np.where(np.tri(T, dtype=bool), 0.0, -np.inf).astype(dtype)
    return _FUTURES[key]
