"""NumPy's protocols on tensors: `np.exp(x)`, `np.sum(x)`, `np.where(c, x, y)` run minigrad's ops.

Backward rules are plain NumPy code.  With create_graph=True the engine hands them Tensors
instead of arrays; Tensor.__array_ufunc__ and __array_function__ send those NumPy calls
here, to the op each table names, so the backward pass is itself recorded and differentiable.
A NumPy function or argument minigrad does not implement is refused by name.
"""
import functools
import inspect

import numpy as np

from minigrad.ops import (Abs, Add, BroadcastTo, Concatenate, Div, Einsum, Exp, Log, MatMul, Maximum, Minimum, Mul,
                          Neg, Pow, Reshape, Sqrt, Stack, Sub, Sum, Tanh, Transpose, Where, expanded_shape,
                          squeezed_shape)
from minigrad.tensor import Tensor, unwrap
from minigrad.transforms import is_batched


def call_ufunc(ufunc, method, inputs, kwargs):
    """np.<ufunc>(*inputs, **kwargs) with a Tensor among the inputs."""
    out = kwargs.get("out", ())
    if method == "__call__" and list(kwargs) == ["out"] and all(type(o) is np.ndarray for o in out):
        return ufunc(*map(unwrap, inputs), **kwargs)  # into a plain array, e.g. `w.data -= lr * w.grad`
    handler = UFUNCS.get(ufunc) if method == "__call__" and not kwargs else None
    if handler is None:
        raise TypeError(f"np.{ufunc.__name__} (method {method!r}, kwargs {sorted(kwargs)}) is not supported on "
                        "minigrad Tensors: a backward rule under create_graph=True may call only the NumPy "
                        "functions mapped to ops (docs/EXTENDING.md, 'The NumPy tables'); elsewhere pass "
                        "tensor.data for NumPy's own")
    return handler(*inputs)


def call_function(func, args, kwargs):
    """np.<func>(*args, **kwargs) with a Tensor among the arguments."""
    return array_function(func, args, kwargs)(*args, **kwargs)


def _constant(ufunc):
    """A NumPy function whose result has no gradient (comparisons, sign): computed on the data."""
    return lambda *args: Tensor(np.asarray(ufunc(*[unwrap(a) for a in args])), copy=False)


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
