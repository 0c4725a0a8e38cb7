"""Fused ops for neural networks: layer norm, GELU, dropout, cross-entropy and attention's weights.

Each could be composed from smaller ops; fused, each is one graph node with a short
analytic backward, and a stable forward.
"""
import math

import numpy as np

from minigrad.function import Boundary, Example, Function
from minigrad.ops.elementwise import as_float
from minigrad.ops.reduce import exp_normalised, exp_shift, row_dot, row_sum, sum_rows
from minigrad.tensor import unwrap
from minigrad.transforms import batched_everywhere, batched_masks, elementwise_batch, is_batched, sum_tangents


def _normalized(x, eps):
    """(x̂, r): x̂ = (x - mean) r, r = 1 / sqrt(var + eps), over the last axis; r is (..., 1).

    The variance is the mean of squared deviations (two passes), not E[x²] - E[x]²,
    which cancels catastrophically when |mean| is much larger than the spread.  Where
    the squares overflow (deviations beyond 1e154 in float64, 1e19 in float32), it is
    taken again on scaled rows, so the result is right instead of a plausible 0.
    Each full-size step writes into x̂, the one array made here (under create_graph, on
    Tensors, each rebinds to a new one).
    """
    size = x.shape[-1]
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow (inf - inf too) is caught just below
        mean = row_sum(x, -1) / size
        x_hat = x - mean
        var = row_dot(x_hat, x_hat, -1) / size  # (no full-size array of squares)
    if np.isfinite(unwrap(var)).all():
        rstd = 1.0 / np.sqrt(var + eps)
    else:  # an overflow (or an inf or NaN in x, which stays NaN)
        mean, rstd = _scaled_statistics(x, eps)
        x_hat = x - mean
    x_hat = x_hat * rstd  # (a new array: row_dot above read x_hat, which must not change under it)
    return x_hat, rstd


def _scaled_statistics(x, eps):
    """The mean and 1 / sqrt(var + eps), each (..., 1), computed on y = x / s, s = max(|x|, 1) per row, where nothing overflows:
    mean = s mean(y), and var = s² var(y), so 1 / sqrt(var + eps) = (1/s) / sqrt(var(y) + eps/s²)."""
    s = np.maximum(abs(x).max(axis=-1, keepdims=True), 1.0)
    y = x / s
    mean = y.mean(axis=-1, keepdims=True)
    centred = y - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return mean * s, 1.0 / s / np.sqrt(var + eps / s / s)  # (eps / s², without s² overflowing)


def _layer_norm_reference(x, weight, bias, eps=1e-5):
    out = (x - np.mean(x, axis=-1, keepdims=True)) / np.sqrt(np.var(x, axis=-1, keepdims=True) + eps)
    return out * (1.0 if weight is None else weight) + (0.0 if bias is None else bias)


class LayerNorm(Function):
    """Normalise the last axis to mean 0, variance 1, then scale and shift:
    x (..., D), weight (D,) or None, bias (D,) or None -> (..., D).

    Backward, with x̂ the normalised x, r = 1/sqrt(var + eps) and ĝ = g * weight:
      dL/dx = r (ĝ - mean(ĝ) - x̂ mean(ĝ x̂)),  dL/dweight = g x̂,  dL/dbias = g
    (the two means, over the last axis, are the gradient's parts along the directions
    the normalisation removed: a shift, and a rescaling of x̂).  Backward reads x and
    weight (and x̂ and r, which forward kept), not bias or out.
    """
    examples = [Example((3, 4), (4,), (4,)), Example((2, 3, 5), (5,), (5,), eps=1e-3),
                Example((3, 4), None, None), Example((4, 6), (6,), None, domain=(-0.5, 3.0)),
                Example((0, 4), (4,), (4,)), Example((3, 1), (1,), (1,))]
    boundary = [Boundary([[2.0, 2.0, 2.0]], None, None, expected=[[0.0, 0.0, 0.0]], grads=[[[0.0, 0.0, 0.0]]])]
    reference = staticmethod(_layer_norm_reference)
    reads = ("x", "weight")

    def forward(self, x, weight, bias, eps=1e-5):
        self.eps = eps
        x, weight, bias = as_float(x, weight, bias)
        x_hat, _ = self.keep(_normalized, x, eps)  # kept: backward needs x̂ and r, not x
        # One new array, of the shape and type the three inputs make together; every step writes into it.
        given = [a for a in (x, weight, bias) if a is not None]
        out = np.empty(np.broadcast_shapes(*(a.shape for a in given)), np.result_type(*given))
        if weight is None:
            np.copyto(out, x_hat)
        else:
            np.multiply(x_hat, weight, out=out)
        if bias is not None:
            out += bias
        return out

    def backward(self, grad, x, weight, bias, out):
        x_hat, rstd = self.kept(_normalized, x, self.eps)
        grad_x = grad_weight = grad_bias = None
        # g x̂ serves both: its rows summed are dL/dweight, each row dotted with weight is sum(ĝ x̂).
        grad_x_hat = grad * x_hat if self.needs_grad[0] or self.needs_grad[1] else None
        if self.needs_grad[0]:  # r (ĝ - mean(ĝ) - x̂ mean(ĝ x̂)), each step into the one array grad_x
            size = x.shape[-1]
            g = grad if weight is None else grad * weight
            dots = row_sum(grad_x_hat, -1) if weight is None else row_dot(grad_x_hat, weight, -1)  # Σ ĝ x̂
            grad_x = x_hat * (dots / -size)
            grad_x += g
            grad_x -= row_sum(g, -1) / size
            grad_x *= rstd
        # A weight and bias of shape (D,) get their gradients summed over the rows here, in one
        # product each; any other shape (inside vmap) is summed back by the engine.
        if self.needs_grad[1]:
            grad_weight = sum_rows(grad_x_hat) if weight.ndim == 1 else grad_x_hat
        if self.needs_grad[2]:
            grad_bias = sum_rows(grad) if bias.ndim == 1 else grad
        return grad_x, grad_weight, grad_bias

    def jvp(self, tangents, x, weight, bias, out):
        """ẋ̂ weight + x̂ ṫweight + ṫbias, with ẋ̂ = r (ṫx - mean(ṫx) - x̂ mean(x̂ ṫx)) (as in backward)."""
        tx, tweight, tbias = tangents
        x_hat, rstd = self.kept(_normalized, x, self.eps)
        t_hat = None
        if tx is not None:
            t_hat = rstd * (tx - tx.mean(axis=-1, keepdims=True)
                            - x_hat * (x_hat * tx).mean(axis=-1, keepdims=True))
            t_hat = t_hat if weight is None else t_hat * weight
        return sum_tangents(t_hat, None if tweight is None else x_hat * tweight, tbias)

    batch = elementwise_batch  # along the last axis, which the batch axis in front leaves in place


_GELU_C = math.sqrt(2.0 / math.pi)


def _gelu_held_back(x):
    """u = 1 - s = 0.5 (1 - tanh(c (x + 0.044715 x³))): the share of x that GELU's gate s holds
    back, so that gelu(x) = x s = x - x u.

    Each step writes into the one array it made (on Tensors, under create_graph, each step
    is recorded in place): no full-size temporaries beyond it.
    """
    z = x * x
    z *= _GELU_C * 0.044715
    z += _GELU_C
    z *= x                                   # c (x + 0.044715 x³)
    u = np.tanh(z)
    u *= -0.5
    u += 0.5
    return u


def _gelu_slope(x, u, out):
    """d gelu / dx = s + x s u (2c + 6c 0.044715 x²), with u = 1 - s = _gelu_held_back(x) and
    out = x s (0.5 (1 - tanh²) = 2 s u).  Written as 1 + u (out (2c + ...) - 1): x s is out
    already, and each step then writes into the one array made here."""
    slope = x * x
    slope *= 6.0 * _GELU_C * 0.044715
    slope += 2.0 * _GELU_C
    slope *= out
    slope -= 1.0
    slope *= u
    slope += 1.0
    return slope


class Gelu(Function):
    """0.5 x (1 + tanh(c (x + 0.044715 x³))), c = sqrt(2/π): GELU's tanh approximation (as GPT-2).

    Backward: d/dx = s + x s (1 - s) 2c (1 + 3 * 0.044715 x²), with s = 0.5 (1 + tanh(...)) the
    gate; forward kept u = 1 - s (out = x s).  It reads x and out.
    """
    examples = [Example((3, 4), domain=(-4.0, 4.0)), Example((0, 3)), Example(())]
    boundary = [Boundary([0.0], expected=[0.0], grads=[[0.5]])]
    # 0.5 (1 + tanh z) = 1 / (1 + exp(-2z)): the same function written another way.
    reference = staticmethod(lambda x: x / (1.0 + np.exp(-2.0 * _GELU_C * (x + 0.044715 * x ** 3))))
    reads = ("x", "out")

    def forward(self, x):
        x = as_float(x)
        u = self.keep(_gelu_held_back, x)         # kept: tanh is the costly part
        out = np.multiply(x, u, out=np.empty_like(u))
        return np.subtract(x, out, out=out)      # x - x u = x s

    def backward(self, grad, x, out):
        x = as_float(x)
        slope = _gelu_slope(x, self.kept(_gelu_held_back, x), out)
        slope *= grad
        return slope

    def jvp(self, tangents, x, out):
        """ṫ times backward's derivative."""
        x = as_float(x)
        return tangents[0] * _gelu_slope(x, self.kept(_gelu_held_back, x), out)

    batch = elementwise_batch


class Dropout(Function):
    """x * mask / (1 - p), mask boolean (True = keep): kept elements are scaled up so the
    expectation is unchanged.  Backward: d/dx = mask / (1 - p).

    The mask is a setting, not drawn here: F.dropout draws it, and tests can fix it.
    """
    examples = [Example((3, 4), mask=np.arange(12).reshape(3, 4) % 3 != 0, p=0.25),
                Example((2, 3, 4), mask=np.array([True, False, True, True]), p=0.5),
                Example((0, 4), mask=np.array([True, False, True, True]), p=0.5)]
    boundary = [Boundary([np.inf, 1.0], mask=np.array([False, True]), p=0.5, expected=[0.0, 2.0],
                         upstream=[np.inf, 1.0], grads=[[0.0, 2.0]])]
    reference = staticmethod(lambda x, mask, p: np.where(mask, x / (1 - p), 0.0))
    reads = ()  # the mask kept by forward

    def forward(self, x, mask, p):
        self.mask, self.scale = mask, 1.0 / (1.0 - p)
        return np.where(mask, x * self.scale, 0)  # selected, not x * mask: a dropped inf is 0, not NaN

    def backward(self, grad, x, out):
        return np.where(self.mask, grad * self.scale, 0)

    def jvp(self, tangents, x, out):
        """ṫ mask / (1 - p)."""
        return np.where(self.mask, tangents[0] * self.scale, 0)

    batch = elementwise_batch


def _cross_entropy_reference(logits, targets, ignore_index=None):
    probs = np.exp(logits) / np.sum(np.exp(logits), axis=-1, keepdims=True)
    keep = np.ones(targets.shape, bool) if ignore_index is None else targets != ignore_index
    picked = np.take_along_axis(probs, np.where(keep, targets, 0)[..., None], axis=-1)[..., 0]
    return np.where(keep, -np.log(picked), 0.0)


def _exp_shifted(logits, shift, in_place=False):
    """exp(logits - shift): shifted by the row's max, so nothing overflows.  in_place: exp written
    into the difference (forward's arrays; a Tensor takes no out=)."""
    e = logits - shift
    return np.exp(e, out=e) if in_place else np.exp(e)


def _one_hot(targets, classes, dtype):
    """(..., classes) zeros with a 1 at each row's target: set by flat position, not by comparing
    every class with every target."""
    hot = np.zeros(targets.shape + (classes,), dtype)
    hot.reshape(-1)[np.arange(targets.size) * classes + targets.reshape(-1)] = 1
    return hot


class CrossEntropy(Function):
    """-log softmax(logits)[target], one loss per row: logits (..., C), targets (...) integer
    class indices -> (...).  Rows whose target is ignore_index give 0.

    Backward: dL/dlogits = g (softmax(logits) - onehot(target)), zero on ignored rows.
    Backward reads logits (and what forward kept: the shift, the targets and exp(logits - shift)).
    """
    examples = [Example((4, 5), targets=np.array([0, 3, 1, 4])),
                Example((2, 3, 4), targets=np.array([[0, 1, 3], [2, -100, 0]]), ignore_index=-100),
                Example((3,), targets=np.array(2)), Example((0, 5), targets=np.zeros(0, dtype=int)),
                Example((3, 1), targets=np.zeros(3, dtype=int))]
    # An ignored row is never read: NaN and inf there give loss 0 and gradient 0.
    boundary = [Boundary([[1.0, 2.0], [np.nan, np.inf]], targets=np.array([1, -100]), ignore_index=-100,
                         expected=[np.log1p(np.exp(-1.0)), 0.0],
                         grads=[[[1 / (1 + np.e), -1 / (1 + np.e)], [0.0, 0.0]]])]  # softmax - onehot
    reference = staticmethod(_cross_entropy_reference)
    reads = ("logits",)

    def forward(self, logits, targets, ignore_index=None):
        self.counted = np.ones(targets.shape, bool) if ignore_index is None else targets != ignore_index
        self.ignoring = not self.counted.all()
        self.targets = np.where(self.counted, targets, 0)  # ignored rows pick class 0, then count 0
        logits = self._kept_rows(as_float(logits))
        self.shift = exp_shift(logits, -1)                                  # (..., 1)
        e = self.keep(_exp_shifted, logits, self.shift, value=_exp_shifted(logits, self.shift, in_place=True))
        log_sum = np.log(row_sum(e, -1))[..., 0]                            # (...)
        picked = np.take_along_axis(logits, self.targets[..., None], axis=-1) - self.shift
        return np.where(self.counted, log_sum - picked[..., 0], 0)

    def backward(self, grad, logits, out):
        e = self.kept(_exp_shifted, self._kept_rows(logits), self.shift)
        probs = e / row_sum(e, -1)  # each step from here into this one array
        probs -= _one_hot(self.targets, logits.shape[-1], probs.dtype)  # (..., C)
        probs *= np.where(self.counted, grad, 0).reshape(grad.shape + (1,))  # (..., 1)
        return probs

    def _kept_rows(self, logits):
        """logits with the ignored rows read as 0: an inf or NaN there must not reach the loss."""
        return np.where(self.counted[..., None], logits, 0) if self.ignoring else logits

    def jvp(self, tangents, logits, out):
        """sum((softmax(logits) - onehot(target)) ṫ) over the classes; 0 on ignored rows."""
        e = self.kept(_exp_shifted, self._kept_rows(logits), self.shift)
        probs = e / row_sum(e, -1)
        onehot = _one_hot(self.targets, logits.shape[-1], probs.dtype)  # (..., C)
        return np.where(self.counted, ((probs - onehot) * self._kept_rows(tangents[0])).sum(axis=-1), 0)

    def batch(self, batched, logits, targets, **params):
        """Logits and targets both given the batch axis (the one without it repeated along it)."""
        targets_batched = is_batched(targets)
        if not batched[0]:
            logits, = batched_everywhere([logits], [False], targets.data.shape[0])
        elif not targets_batched:
            targets = np.broadcast_to(unwrap(targets), logits.data.shape[:-1])
        return CrossEntropy.apply(logits, targets=unwrap(targets), **params)


def _attention_weights_reference(q, k, scale=1.0, where=True):
    scores = np.where(where, scale * np.einsum("...td,...sd->...ts", q, k), -np.inf)
    top = np.max(scores, axis=-1, keepdims=True, initial=-np.inf)  # (integer inputs make huge scores)
    e = np.exp(scores - np.where(np.isfinite(top), top, 0.0))
    total = np.sum(e, axis=-1, keepdims=True)
    return e / np.where(total == 0, 1.0, total)


_E = np.e


def _check_fits(where, shape, q, k):
    """A clear error unless the mask `where` broadcasts to the weights' shape without enlarging it."""
    try:
        fits = np.broadcast_shapes(where.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"AttentionWeights: where of shape {where.shape} does not broadcast to the weights' "
                         f"shape {shape} (..., T, S) of q {q.shape} and k {k.shape}")


class AttentionWeights(Function):
    """softmax(q kᵀ · scale) over the keys: q (..., T, Dh), k (..., S, Dh) -> (..., T, S).

    where: optional boolean, broadcastable to (..., T, S), True = query t may attend to key s;
    the others are left out as in Softmax (weight exactly 0, gradient exactly 0; a query with
    nothing to attend to gets weights 0).  Attention's scores and their softmax as one op: the
    scores are made in the array that becomes the weights, so the biggest array of attention
    is made once, and q is scaled (T·Dh multiplies) rather than the scores (T·S).
    Backward, with w = out and softmax's rule dS = w (g - sum(g w)) over the keys:
      dL/dq = scale dS k,  dL/dk = scale dSᵀ q.   It reads q, k and out.
    """
    examples = [Example((3, 4), (5, 4)), Example((2, 3, 4), (2, 5, 4), scale=0.5),
                Example((2, 3, 4), (2, 5, 4), where=np.tri(3, 5, dtype=bool)),
                Example((2, 3, 4), (2, 5, 4), where=np.array([[[True] * 4 + [False]], [[False] * 5]])),
                Example((2, 3, 4), (2, 5, 4), where=np.array([[True], [False], [True]])),
                Example((2, 1, 3, 4), (3, 5, 4), scale=0.5), Example((3, 1), (1, 1)),
                Example((2, 0, 4), (2, 5, 4)), Example((3, 4), (0, 4)), Example((3, 0), (5, 0))]
    # A blocked key is never read, however large its score; a query with nothing allowed gets zeros.
    boundary = [Boundary([[1.0]], [[0.0], [1e300], [1.0]], where=np.array([[True, False, True]]),
                         expected=[[1 / (1 + _E), 0.0, _E / (1 + _E)]], upstream=[[3.0, 5.0, 1.0]],
                         grads=[[[-2 * _E / (1 + _E) ** 2]],  # by hand: dS = (2 w0 w2, 0, -2 w0 w2)
                                [[2 * _E / (1 + _E) ** 2], [0.0], [-2 * _E / (1 + _E) ** 2]]]),
                Boundary([[1.0, 2.0]], [[1.0, 0.0], [0.5, 3.0]], where=np.array([[False, False]]),
                         expected=[[0.0, 0.0]], grads=[[[0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])]
    reference = staticmethod(_attention_weights_reference)
    reads = ("q", "k", "out")

    def forward(self, q, k, scale=1.0, where=None):
        if q.ndim < 2 or k.ndim < 2 or q.shape[-1] != k.shape[-1]:
            raise ValueError(f"AttentionWeights: q (..., T, Dh) and k (..., S, Dh) need at least 2 dimensions and "
                             f"the same width Dh, got q {q.shape} and k {k.shape}")
        q, k = as_float(q, k)
        self.scale = scale
        weights = (q * scale if scale != 1.0 else q) @ k.swapaxes(-1, -2)  # (..., T, S): the scores, ours
        if where is not None:
            _check_fits(where, weights.shape, q, k)
            np.copyto(weights, -np.inf, where=~where)  # left out without being read: an inf or NaN stays out
        weights -= exp_shift(weights, -1)
        return exp_normalised(weights, -1)                                  # (..., T, S)

    def backward(self, grad, q, k, out):
        q, k = as_float(q, k)
        scores_grad = grad - row_dot(grad, out, -1)                         # (..., T, S), then in place
        scores_grad *= out
        grad_q = grad_k = None
        if self.needs_grad[0]:
            grad_q = scores_grad @ k                                        # (..., T, Dh)
            grad_q *= self.scale
        if self.needs_grad[1]:
            grad_k = scores_grad.swapaxes(-1, -2) @ q                       # (..., S, Dh)
            grad_k *= self.scale
        return grad_q, grad_k

    def jvp(self, tangents, q, k, out):
        """w (ṡ - sum(ṡ w)) over the keys, with ṡ = scale (q̇ kᵀ + q k̇ᵀ): softmax's rule after the product's."""
        tq, tk = tangents
        q, k = as_float(q, k)
        scores = sum_tangents(None if tq is None else tq @ k.swapaxes(-1, -2),
                              None if tk is None else q @ tk.swapaxes(-1, -2)) * self.scale
        return out * (scores - row_dot(scores, out, -1))

    def batch(self, batched, q, k, **params):
        """q and k lined up with the batch axis in front of their broadcast batch shape; a mask that
        holds the batch too (q given the batch if neither has it)."""
        masks = batched_masks(params)
        if masks and not any(batched):
            q, = batched_everywhere([q], [False], masks["where"].data.shape[0])
            batched = (True, False)
        return elementwise_batch(self, batched, q, k, **params)
