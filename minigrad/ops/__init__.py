"""Every op of minigrad, one class each (forward and backward side by side).

The tables at the bottom let NumPy functions called on Tensors run these ops, which is
how backward rules written in plain NumPy become differentiable under create_graph=True.
"""
import functools
import inspect

import numpy as np

from minigrad.function import ALL_OPS, Boundary, Example, Function
from minigrad.ops.elementwise import (Abs, Add, Cast, Div, Exp, Log, MaskedFill, Maximum, Minimum, Mul, Neg, Pow,
                                      Relu, Sigmoid, Sqrt, Sub, Tanh, Where)
from minigrad.ops.linalg import CosineSimilarity, Einsum, MatMul
from minigrad.ops.nn import CrossEntropy, Dropout, Gelu, LayerNorm
from minigrad.ops.reduce import LogSoftmax, LogSumExp, Max, Mean, Min, Softmax, Sum, Var
from minigrad.ops.shape import (BroadcastTo, Concatenate, GetItem, Reshape, ScatterAdd, Stack, Transpose, expanded_shape,
                                plain_index, squeezed_shape)
from minigrad.tensor import Tensor, unwrap, wrap
from minigrad.transforms import is_batched


def _constant(ufunc):
    """A NumPy function whose result has no gradient (comparisons, sign): computed on the data."""
    return lambda *args: wrap(np.asarray(ufunc(*[unwrap(a) for a in args])))


UFUNCS = {
    np.add: Add.apply, np.subtract: Sub.apply, np.multiply: Mul.apply, np.true_divide: Div.apply,
    np.power: Pow.apply, np.negative: Neg.apply, np.exp: Exp.apply, np.log: Log.apply, np.sqrt: Sqrt.apply,
    np.tanh: Tanh.apply, np.absolute: Abs.apply, np.maximum: Maximum.apply, np.minimum: Minimum.apply,
    np.matmul: MatMul.apply,
}
UFUNCS.update({f: _constant(f) for f in (
    np.sign, np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.logical_not, np.logical_and, np.logical_or, np.isfinite, np.isnan, np.isinf)})


# Each takes exactly the NumPy parameters minigrad implements, by NumPy's names; a call
# with any other (out=, order=, dtype=, where=, ...) is refused by name (see array_function).
def _sum(a, axis=None, *, keepdims=False):  # (NumPy's third positional is dtype)
    return Sum.apply(a, axis=axis, keepdims=keepdims)


def _broadcast_to(array, shape):
    return BroadcastTo.apply(array, shape=tuple(shape))


def _einsum(subscripts, *operands, optimize=False):  # (optimize picks the contraction order: the same answer)
    return Einsum.apply(*operands, subscripts=subscripts)


def _reshape(a, shape):
    return Reshape.apply(a, shape=shape)


def _ravel(a):  # (NumPy's order= is refused: minigrad reads elements in C order only)
    return Reshape.apply(a, shape=(-1,))


def _squeeze(a, axis=None):
    return Reshape.apply(a, shape=squeezed_shape(a.shape, axis))


def _expand_dims(a, axis):
    return Reshape.apply(a, shape=expanded_shape(a.shape, axis))


def _transpose(a, axes=None):
    return Transpose.apply(a, axes=axes)


def _concatenate(arrays, axis=0):
    return Concatenate.apply(*arrays, axis=axis)


def _stack(arrays, axis=0):
    return Stack.apply(*arrays, axis=axis)


def _where(condition, x, y):
    return Where.apply(x, y, cond=condition if is_batched(condition) else unwrap(condition))


ARRAY_FUNCTIONS = {
    np.sum: _sum, np.broadcast_to: _broadcast_to, np.einsum: _einsum, np.reshape: _reshape, np.ravel: _ravel,
    np.squeeze: _squeeze, np.expand_dims: _expand_dims,
    np.transpose: _transpose, np.concatenate: _concatenate, np.stack: _stack, np.where: _where,
    np.shape: lambda a: a.shape, np.ndim: lambda a: a.ndim,
}


def array_function(func, args, kwargs):
    """The handler of the NumPy function `func` called on Tensors with these arguments; a
    TypeError naming what minigrad does not implement (the function, or some arguments)."""
    handler = ARRAY_FUNCTIONS.get(func)
    if handler is None:
        raise TypeError(f"np.{func.__name__} is not supported on minigrad Tensors; "
                        "use minigrad.functional, or pass tensor.data for NumPy's own")
    names, max_positional = _parameters(handler)
    refused = sorted(set(kwargs) - names)
    if max_positional is not None and len(args) > max_positional:
        refused.insert(0, f"{len(args) - max_positional} more positional argument(s)")
    if refused:
        raise TypeError(f"np.{func.__name__} on minigrad Tensors does not support {', '.join(refused)}: minigrad "
                        f"takes np.{func.__name__}{inspect.signature(handler)}; pass tensor.data for NumPy's own")
    return handler


@functools.lru_cache(maxsize=None)
def _parameters(handler):
    parameters = inspect.signature(handler).parameters.values()
    names = {p.name for p in parameters if p.kind is not p.VAR_POSITIONAL}
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return names, None
    return names, sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters)


__all__ = [cls.__name__ for cls in ALL_OPS] + ["ALL_OPS", "Boundary", "Example", "Function", "UFUNCS", "ARRAY_FUNCTIONS", "array_function", "plain_index",
           "squeezed_shape", "expanded_shape"]
