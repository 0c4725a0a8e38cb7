"""Every op of minigrad, one class each (forward and backward side by side).

The tables at the bottom let NumPy functions called on Tensors run these ops, which is
how backward rules written in plain NumPy become differentiable under create_graph=True.
"""
import numpy as np

from minigrad.function import ALL_OPS, Boundary, Example, Function
from minigrad.ops.elementwise import (Abs, Add, Cast, Div, Exp, Log, MaskedFill, Maximum, Minimum, Mul, Neg, Pow,
                                      Relu, Sigmoid, Sqrt, Sub, Tanh, Where)
from minigrad.ops.linalg import CosineSimilarity, Einsum, MatMul
from minigrad.ops.nn import CrossEntropy, Dropout, Gelu, LayerNorm
from minigrad.ops.reduce import LogSoftmax, LogSumExp, Max, Mean, Min, Softmax, Sum, Var
from minigrad.ops.shape import BroadcastTo, Concatenate, GetItem, Reshape, ScatterAdd, Stack, Transpose
from minigrad.tensor import Tensor, unwrap, wrap


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


def _sum(x, axis=None, dtype=None, out=None, keepdims=False, **unused):
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def _where(cond, a, b):
    return Where.apply(a, b, cond=unwrap(cond))


ARRAY_FUNCTIONS = {
    np.sum: _sum,
    np.broadcast_to: lambda x, shape, subok=False: BroadcastTo.apply(x, shape=tuple(shape)),
    np.einsum: lambda subscripts, *operands, **unused: Einsum.apply(*operands, subscripts=subscripts),
    np.reshape: lambda x, shape, *unused, **_: Reshape.apply(x, shape=shape),
    np.transpose: lambda x, axes=None: Transpose.apply(x, axes=axes),
    np.concatenate: lambda xs, axis=0, **unused: Concatenate.apply(*xs, axis=axis),
    np.stack: lambda xs, axis=0, **unused: Stack.apply(*xs, axis=axis),
    np.where: _where,
    np.shape: lambda x: x.shape,
    np.ndim: lambda x: x.ndim,
}

__all__ = [cls.__name__ for cls in ALL_OPS] + ["ALL_OPS", "Boundary", "Example", "Function", "UFUNCS", "ARRAY_FUNCTIONS"]
