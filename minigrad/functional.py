"""Differentiable functions on Tensors (like torch.nn.functional).

Each is one op from minigrad.ops; arguments may be Tensors, arrays or numbers.
"""
import numpy as np

from minigrad import ops
from minigrad.tensor import Tensor, _data


def exp(x):
    """e^x, elementwise."""
    return ops.Exp.apply(x)


def log(x):
    """Natural logarithm, elementwise."""
    return ops.Log.apply(x)


def sqrt(x):
    """Square root, elementwise."""
    return ops.Sqrt.apply(x)


def tanh(x):
    """Hyperbolic tangent, elementwise."""
    return ops.Tanh.apply(x)


def abs(x):
    """|x|, elementwise; gradient 0 at 0."""
    return ops.Abs.apply(x)


def sigmoid(x):
    """1 / (1 + e^-x), stable for large |x|."""
    return ops.Sigmoid.apply(x)


def relu(x):
    """max(x, 0); gradient 0 at 0."""
    return ops.Relu.apply(x)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along axis, shifted by the max so large logits don't overflow."""
    return ops.Softmax.apply(x, axis=axis)


def log_softmax(x, axis=-1):
    """log(softmax(x)) along axis, computed as x - logsumexp(x) (stable)."""
    return ops.LogSoftmax.apply(x, axis=axis)


def logsumexp(x, axis=-1, keepdims=False):
    """log(sum(exp(x))) along axis, stable."""
    return ops.LogSumExp.apply(x, axis=axis, keepdims=keepdims)


def cosine_similarity(a, b, axis=-1, eps=1e-8):
    """a·b / (max(|a|, eps) max(|b|, eps)) along axis, broadcasting a against b (as PyTorch)."""
    return ops.CosineSimilarity.apply(a, b, axis=axis, eps=eps)


def matmul(a, b):
    """a @ b with NumPy's matmul rules: (..., T, K) @ (..., K, S) -> (..., T, S)."""
    return ops.MatMul.apply(a, b)


def einsum(subscripts, *operands):
    """np.einsum for Tensors, e.g. einsum('bik,bjk->bij', q, k); ellipsis is not supported."""
    return ops.Einsum.apply(*operands, subscripts=subscripts)


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis."""
    return ops.Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    """Join tensors of one shape along a new axis."""
    return ops.Stack.apply(*tensors, axis=axis)


def where(cond, a, b):
    """a where cond is True, else b; cond is boolean and carries no gradient."""
    return ops.Where.apply(a, b, cond=np.asarray(_data(cond), dtype=bool))


def masked_fill(x, mask, value):
    """x with `value` where the boolean `mask` is True (mask broadcasts against x)."""
    mask = np.asarray(_data(mask))
    if mask.dtype != bool:
        raise TypeError(f"masked_fill: mask must be boolean (True = fill), got dtype {mask.dtype}")
    return ops.MaskedFill.apply(x, mask=mask, value=value)


def broadcast_to(x, shape):
    """x repeated to `shape` by broadcasting rules."""
    return ops.BroadcastTo.apply(x, shape=tuple(shape))


def maximum(a, b):
    """Elementwise max; ties split the gradient in half."""
    return ops.Maximum.apply(a, b)


def minimum(a, b):
    """Elementwise min; ties split the gradient in half."""
    return ops.Minimum.apply(a, b)


def sum(x, axis=None, keepdims=False):
    """Sum over axis (None: all)."""
    return ops.Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """Mean over axis (None: all)."""
    return ops.Mean.apply(x, axis=axis, keepdims=keepdims)


def reshape(x, shape):
    return ops.Reshape.apply(x, shape=tuple(shape))


def transpose(x, axes=None):
    return ops.Transpose.apply(x, axes=axes)


def as_tensor(x):
    """x itself if it is a Tensor, else a Tensor (no gradient) around it."""
    return x if isinstance(x, Tensor) else Tensor(x)
