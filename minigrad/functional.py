"""Differentiable functions on Tensors (like torch.nn.functional).

Each is one op from minigrad.ops.  Every tensor input may be a Tensor, an ndarray, a
(nested) list or a number, as NumPy's functions take them; `array_like` is the one place
that converts them, called by `takes_array_likes` before the op sees them.
"""
import functools
import inspect
import numbers

import numpy as np

from minigrad import ops
from minigrad.axis_names import PYTORCH_NAMES, pytorch_names_error, takes_axis
from minigrad.tensor import Tensor, as_tensor, unwrap  # noqa: F401  (as_tensor: part of this API)
from minigrad import transforms as _transforms


def array_like(x, caller="array_like", name="x", beside=()):
    """x as an op takes it: a Tensor or an ndarray as it is, a list or a number as an array.

    A number gets the dtype NumPy gives it next to the dtypes `beside` (the call's other
    inputs): a float32 tensor and 0.5 stay float32, as in `x * 0.5`.  caller and name (the
    function and its parameter) go into the error for what is not an array.
    """
    if isinstance(x, (Tensor, np.ndarray)):
        return x
    if isinstance(x, numbers.Number):
        return np.asarray(x, dtype=np.result_type(x, *beside))
    try:
        array = np.asarray(x)
    except (TypeError, ValueError) as err:  # ragged lists, above all
        raise ValueError(f"{caller}: {name} must be a Tensor, an array, a list or a number; "
                         f"the {type(x).__name__} given is not an array ({err})") from err
    if array.dtype == object:
        raise TypeError(f"{caller}: {name} must be a Tensor, an array, a list or a number, "
                        f"got {type(x).__name__}")
    return array


def takes_array_likes(*names):
    """Decorator: the function's parameters `names` are tensor inputs, given in any form.

    Each goes through `array_like` before the function runs: arrays and lists first, then
    numbers, which take their dtype from them.  None (an optional input left out) stays None.
    A function with an `axis` also answers PyTorch's dim= with a hint (minigrad.axis_names).
    One wrapper does both, so a call costs one extra frame.
    """
    def decorate(fn):
        order = list(inspect.signature(fn).parameters)
        positions = {order.index(name): name for name in names}
        width = sorted(positions)[-1] + 1  # positions that may hold a tensor input (max here is F.max)
        by_name = frozenset(names)

        def converted(args, kwargs):
            slots = [(args, i, name) for i, name in positions.items() if i < len(args)]
            slots += [(kwargs, name, name) for name in names if name in kwargs]
            slots = [slot for slot in slots if slot[0][slot[1]] is not None]
            dtypes = []
            for box, key, name in sorted(slots, key=lambda slot: isinstance(slot[0][slot[1]], numbers.Number)):
                box[key] = array_like(box[key], fn.__name__, name, beside=dtypes)
                dtypes.append(box[key].dtype)
            return args, kwargs

        @functools.wraps(fn)
        def with_arrays(*args, **kwargs):
            # Tensors and arrays given by position, settings by keyword: the usual call goes straight through.
            for a in args[:width]:  # (a loop: a comprehension costs a frame more)
                if not isinstance(a, _READY):
                    args, kwargs = converted(list(args), kwargs)
                    break
            else:
                if kwargs and not by_name.isdisjoint(kwargs):
                    args, kwargs = converted(list(args), kwargs)
            try:
                return fn(*args, **kwargs)
            except TypeError as err:
                hint = _pytorch_names_hint(fn, kwargs)
                if hint is None:
                    raise
                raise hint from err
        return with_arrays
    return decorate


def _pytorch_names_hint(fn, kwargs):
    """The TypeError naming axis= if a call of fn used PyTorch's dim= (keepdim=), else None."""
    used = [name for name in PYTORCH_NAMES if name in kwargs]
    if not used or "axis" not in inspect.signature(fn).parameters:
        return None
    return pytorch_names_error(fn.__qualname__, used)


_READY = (Tensor, np.ndarray, type(None))


@takes_array_likes("x")
def exp(x):
    """e^x, elementwise."""
    return ops.Exp.apply(x)


@takes_array_likes("x")
def log(x):
    """Natural logarithm, elementwise."""
    return ops.Log.apply(x)


@takes_array_likes("x")
def sqrt(x):
    """Square root, elementwise."""
    return ops.Sqrt.apply(x)


@takes_array_likes("x")
def tanh(x):
    """Hyperbolic tangent, elementwise."""
    return ops.Tanh.apply(x)


@takes_array_likes("x")
def abs(x):
    """|x|, elementwise; gradient 0 at 0."""
    return ops.Abs.apply(x)


@takes_array_likes("x")
def sigmoid(x):
    """1 / (1 + e^-x), stable for large |x|."""
    return ops.Sigmoid.apply(x)


@takes_array_likes("x")
def relu(x):
    """max(x, 0); gradient 0 at 0."""
    return ops.Relu.apply(x)


@takes_array_likes("x")
def softmax(x, axis=-1, where=None):
    """exp(x) / sum(exp(x)) along axis, shifted by the max so large logits don't overflow.

    where: optional boolean mask broadcastable to x; entries where it is False are left
    out (weight exactly 0, gradient exactly 0), and a row with none left gets all zeros.
    """
    if where is not None:
        where = _mask(where)
        if where.dtype != bool:
            raise TypeError(f"softmax: where must be boolean (True = take part), got dtype {where.dtype}")
    return ops.Softmax.apply(x, axis=axis, where=where)


@takes_array_likes("q", "k")
def attention_weights(q, k, scale=1.0, where=None):
    """softmax(q kᵀ · scale) over the keys as one op: q (..., T, Dh), k (..., S, Dh) -> (..., T, S).

    Attention's weights.  where: optional boolean mask broadcastable to (..., T, S), True =
    query t may attend to key s; as in softmax, the others get weight exactly 0 and
    gradient exactly 0, and a query with none left gets all zeros.
    """
    if where is not None:
        where = _mask(where)
        if where.dtype != bool:
            raise TypeError(f"attention_weights: where must be boolean (True = may attend), got dtype {where.dtype}")
    return ops.AttentionWeights.apply(q, k, scale=float(scale), where=where)


@takes_array_likes("x")
def log_softmax(x, axis=-1):
    """log(softmax(x)) along axis, computed as x - logsumexp(x) (stable)."""
    return ops.LogSoftmax.apply(x, axis=axis)


@takes_array_likes("x")
def logsumexp(x, axis=-1, keepdims=False):
    """log(sum(exp(x))) along axis, stable."""
    return ops.LogSumExp.apply(x, axis=axis, keepdims=keepdims)


@takes_array_likes("a", "b")
def cosine_similarity(a, b, axis=-1, eps=1e-8):
    """a·b / (max(|a|, eps) max(|b|, eps)) along axis, broadcasting a against b (as PyTorch)."""
    return ops.CosineSimilarity.apply(a, b, axis=axis, eps=eps)


@takes_array_likes("a", "b")
def matmul(a, b):
    """a @ b with NumPy's matmul rules: (..., T, K) @ (..., K, S) -> (..., T, S)."""
    return ops.MatMul.apply(a, b)


@takes_array_likes("x", "weight", "bias")
def affine(x, weight, bias=None):
    """x @ weight + bias as one op: x (..., K), weight (K, N), bias (N,) or None -> (..., N).

    What nn.Linear computes (weight (in, out), as written on the board: PyTorch's
    F.linear takes its transpose).  One op instead of matmul and add: the bias is added
    into the product's own array, and its gradient is a sum over the rows.
    """
    return ops.Affine.apply(x, weight, bias)


def einsum(subscripts, *operands):
    """np.einsum for Tensors, e.g. einsum('bik,bjk->bij', q, k); ellipsis is not supported."""
    return ops.Einsum.apply(*(array_like(x, "einsum", "operands") for x in operands), subscripts=subscripts)


@takes_axis
def concatenate(tensors, axis=0):
    """Join tensors along an existing axis."""
    return ops.Concatenate.apply(*(array_like(x, "concatenate", "tensors") for x in tensors), axis=axis)


@takes_axis
def stack(tensors, axis=0):
    """Join tensors of one shape along a new axis."""
    return ops.Stack.apply(*(array_like(x, "stack", "tensors") for x in tensors), axis=axis)


@takes_array_likes("a", "b")
def where(cond, a, b):
    """a where cond is True, else b; cond is boolean and carries no gradient."""
    return ops.Where.apply(a, b, cond=_mask(cond))  # (Where reads cond as boolean)


@takes_array_likes("x", "value")
def masked_fill(x, mask, value):
    """x with `value` where the boolean `mask` is True (mask broadcasts against x).  value may be a
    number or a tensor (broadcasting against x); a tensor value gets its gradient."""
    mask = _mask(mask)
    if mask.dtype != bool:
        raise TypeError(f"masked_fill: mask must be boolean (True = fill), got dtype {mask.dtype}")
    return ops.MaskedFill.apply(x, value, mask=mask)


def _mask(mask):
    """A mask setting as its op takes it: an array, or inside vmap a mask made from batched data
    as the Batched tensor it is, so the op's batch rule lines each example's mask up with its data."""
    return mask if _transforms.is_batched(mask) else np.asarray(unwrap(mask))


@takes_array_likes("x")
def broadcast_to(x, shape):
    """x repeated to `shape` by broadcasting rules."""
    return ops.BroadcastTo.apply(x, shape=tuple(shape))


@takes_array_likes("a", "b")
def maximum(a, b):
    """Elementwise max; ties split the gradient in half."""
    return ops.Maximum.apply(a, b)


@takes_array_likes("a", "b")
def minimum(a, b):
    """Elementwise min; ties split the gradient in half."""
    return ops.Minimum.apply(a, b)


@takes_array_likes("x")
def sum(x, axis=None, keepdims=False):
    """Sum over axis (None: all)."""
    return ops.Sum.apply(x, axis=axis, keepdims=keepdims)


@takes_array_likes("x")
def mean(x, axis=None, keepdims=False):
    """Mean over axis (None: all)."""
    return ops.Mean.apply(x, axis=axis, keepdims=keepdims)


@takes_array_likes("x")
def var(x, axis=None, keepdims=False, ddof=0):
    """Variance over axis (None: all), dividing by N - ddof (NumPy's ddof: 0, PyTorch's default: 1)."""
    return ops.Var.apply(x, axis=axis, keepdims=keepdims, ddof=ddof)


@takes_array_likes("x")
def max(x, axis=None, keepdims=False):
    """Largest element over axis (None: all); its gradient goes to the largest (ties share it)."""
    return ops.Max.apply(x, axis=axis, keepdims=keepdims)


@takes_array_likes("x")
def min(x, axis=None, keepdims=False):
    """Smallest element over axis (None: all); its gradient goes to the smallest (ties share it)."""
    return ops.Min.apply(x, axis=axis, keepdims=keepdims)


@takes_array_likes("x")
def argmax(x, axis=None, keepdims=False):
    """Index of the largest element over axis (None: of the flattened x); no gradient."""
    return as_tensor(x).argmax(axis=axis, keepdims=keepdims)


@takes_array_likes("x")
def argmin(x, axis=None, keepdims=False):
    """Index of the smallest element over axis (None: of the flattened x); no gradient."""
    return as_tensor(x).argmin(axis=axis, keepdims=keepdims)


@takes_array_likes("x")
def reshape(x, shape):
    return ops.Reshape.apply(x, shape=tuple(shape))


@takes_array_likes("x")
def transpose(x, axes=None):
    return ops.Transpose.apply(x, axes=axes)


# ---- neural-network functions: normalisation, activation, dropout, losses ----------------
# Used by minigrad.nn; the fused ops live in minigrad/ops/nn.py.
from minigrad import random as _random  # noqa: E402  (the default generator for dropout)


def _shape(x):
    """x's shape as its user sees it: inside vmap, one example's."""
    return x.shape if isinstance(x, Tensor) else np.shape(x)


@takes_array_likes("x", "weight", "bias")
def layer_norm(x, weight=None, bias=None, eps=1e-5):
    """Normalise x (..., D) over its last axis to mean 0, variance 1, then * weight (D,) + bias (D,)."""
    d = _shape(x)[-1:]
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and _shape(p) != d:
            raise ValueError(f"layer_norm: {name} has shape {_shape(p)} but x has shape {_shape(x)}; "
                             f"expected {name} of shape {d} (the size of x's last axis)")
    return ops.LayerNorm.apply(x, weight, bias, eps=eps)


@takes_array_likes("x")
def gelu(x):
    """GELU, x Φ(x), in its tanh approximation 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))), as GPT-2
    (the exact form needs erf, which NumPy lacks; the two differ by less than 1e-3)."""
    return ops.Gelu.apply(x)


@takes_array_likes("x")
def dropout(x, p=0.5, training=True, rng=None):
    """Zero each element with probability p and scale the rest by 1 / (1 - p), so the expected
    output is x.  Identity when not training.  rng: a np.random.Generator (default: minigrad's)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p is the probability of zeroing an element and must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return as_tensor(x)
    keep = _random.generator(rng, "dropout").random(np.shape(unwrap(x))) >= p  # True with probability 1 - p
    if _transforms.is_batched(x):  # inside vmap: a mask per example, the numbers a loop would draw
        keep = _transforms.batched_array(keep)
    return ops.Dropout.apply(x, mask=keep, p=p)


_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss, reduction, count, where):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    empty = (count.data == 0).any() if _transforms.is_batched(count) else count == 0  # (vmap: per example)
    if empty:
        raise ValueError(f"{where}: reduction='mean' over no elements (every target ignored?) is undefined; "
                         "use reduction='sum' for such a batch")
    return loss.sum() / count


@takes_array_likes("logits")
def cross_entropy(logits, targets, ignore_index=None, reduction="mean"):
    """-log softmax(logits)[target], computed stably through log-sum-exp.

    logits (..., C) unnormalised scores; targets (...) integer class indices in [0, C).
    Targets equal to ignore_index contribute nothing; reduction='mean' averages over
    the others (as PyTorch), 'sum' adds, 'none' returns the per-row losses (...).
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    shape, targets_shape = _shape(logits), _shape(targets)  # (inside vmap: one example's)
    batched_targets = _transforms.is_batched(targets)  # then kept a tensor, for the op's batch rule
    targets = np.asarray(unwrap(targets))
    if len(shape) == 0:
        raise ValueError("cross_entropy: logits must have at least one axis (the classes), got a scalar")
    if targets.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype {targets.dtype} "
                        f"(shape {targets.shape})")
    if targets_shape != shape[:-1]:
        raise ValueError(f"cross_entropy: targets have shape {targets_shape} but logits have shape {shape}; "
                         f"expected targets of shape {shape[:-1]} (one class index per row of logits)")
    keep = np.ones(targets.shape, bool) if ignore_index is None else targets != ignore_index
    bad = keep & ((targets < 0) | (targets >= shape[-1]))
    if bad.any():
        raise IndexError(f"cross_entropy: target {targets[bad].flat[0]} is out of range for {shape[-1]} classes "
                         f"(logits shape {shape}); targets must be in [0, {shape[-1]})"
                         + ("" if ignore_index is None else f" or equal ignore_index={ignore_index}"))
    if batched_targets:
        targets, keep = _transforms.batched_array(targets), _transforms.batched_array(keep)
    loss = ops.CrossEntropy.apply(logits, targets=targets, ignore_index=ignore_index)  # (...)
    return _reduce(loss, reduction, _count(keep), "cross_entropy")


def _count(keep):
    """The number of True in a boolean mask: an int, or inside vmap for a batched mask each example's."""
    if not _transforms.is_batched(keep):
        return int(keep.sum())
    return _transforms.batched_array(keep.data.reshape(len(keep.data), -1).sum(axis=1))  # (B,)


@takes_array_likes("pred", "target")
def mse_loss(pred, target, reduction="mean"):
    """(pred - target)², averaged ('mean'), summed ('sum') or kept ('none').  Shapes must match:
    broadcasting (say (B, 1) against (B,)) would silently compare every pair."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"mse_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if _shape(pred) != _shape(target):
        raise ValueError(f"mse_loss: pred has shape {_shape(pred)} but target has shape {_shape(target)}; "
                         "they must match exactly")
    diff = as_tensor(pred) - target
    return _reduce(diff * diff, reduction, int(diff.size), "mse_loss")  # (a plain int: float32 stays float32)
