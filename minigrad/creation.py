"""Making tensors: `minigrad.tensor`, `zeros`, `ones`, `full`, `arange`, `randn`, ...

Each takes `dtype=` and `requires_grad=` and follows NumPy's defaults: floats are
float64, `arange(5)` is int64 and `full(3, 7)` takes the dtype of 7.  Shapes may be
given as separate ints or as one tuple, `zeros(2, 3)` or `zeros((2, 3))`.  `rand` and
`randn` draw from the default generator that `minigrad.manual_seed(n)` seeds, or from
`rng=` (a np.random.Generator) when given.
"""
import operator

import numpy as np

from minigrad.random import generator
from minigrad.tensor import Tensor


def tensor(data, dtype=None, requires_grad=False):
    """A new leaf Tensor holding a copy of `data` (a list, number, array or Tensor), as torch.tensor."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape, dtype=None, requires_grad=False):
    """A Tensor of zeros, float64 unless dtype says otherwise."""
    return _leaf("zeros", np.zeros(_shape("zeros", shape), dtype=_dtype("zeros", dtype)), requires_grad)


def ones(*shape, dtype=None, requires_grad=False):
    """A Tensor of ones, float64 unless dtype says otherwise."""
    return _leaf("ones", np.ones(_shape("ones", shape), dtype=_dtype("ones", dtype)), requires_grad)


def full(shape, fill_value, dtype=None, requires_grad=False):
    """A Tensor of `shape` filled with `fill_value`, of its dtype unless dtype says otherwise."""
    data = np.full(_shape("full", (shape,)), fill_value, dtype=_dtype("full", dtype))
    return _leaf("full", data, requires_grad)


def zeros_like(x, dtype=None, requires_grad=False):
    """Zeros with the shape of `x` (a Tensor or array) and its dtype unless dtype says otherwise."""
    return _leaf("zeros_like", np.zeros_like(np.asarray(x), dtype=_dtype("zeros_like", dtype)), requires_grad)


def ones_like(x, dtype=None, requires_grad=False):
    """Ones with the shape of `x` (a Tensor or array) and its dtype unless dtype says otherwise."""
    return _leaf("ones_like", np.ones_like(np.asarray(x), dtype=_dtype("ones_like", dtype)), requires_grad)


def arange(start, stop=None, step=1, dtype=None, requires_grad=False):
    """start, start + step, ... up to but excluding stop, as np.arange; arange(n) is 0 .. n-1."""
    if step == 0:
        raise ValueError("arange: step must not be 0")
    data = np.arange(start, stop, step, dtype=_dtype("arange", dtype))
    return _leaf("arange", data, requires_grad)


def linspace(start, stop, num=50, dtype=None, requires_grad=False):
    """`num` evenly spaced numbers from start to stop, both included, as np.linspace."""
    if not isinstance(num, (int, np.integer)) or num < 0:
        raise TypeError(f"linspace: num (how many numbers) must be an int >= 0, got {num!r}")
    return _leaf("linspace", np.linspace(start, stop, num, dtype=_dtype("linspace", dtype)), requires_grad)


def rand(*shape, dtype=None, requires_grad=False, rng=None):
    """Uniform samples in [0, 1): float64 draws, cast to dtype (float32 gives the same numbers, rounded)."""
    draws = generator(rng, where="rand").random(_shape("rand", shape))
    return _leaf("rand", _cast("rand", draws, dtype), requires_grad)


def randn(*shape, dtype=None, requires_grad=False, rng=None):
    """Standard normal samples N(0, 1): float64 draws, cast to dtype (float32 gives the same numbers, rounded)."""
    draws = generator(rng, where="randn").standard_normal(_shape("randn", shape))
    return _leaf("randn", _cast("randn", draws, dtype), requires_grad)


def _shape(name, shape):
    """(2, 3) from shape=(2, 3) or shape=((2, 3),), checking every size is a whole number >= 0."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    try:
        shape = tuple(operator.index(n) for n in shape)
    except TypeError:
        raise TypeError(f"{name}: sizes must be ints, given as {name}(2, 3) or {name}((2, 3)); "
                        f"got {shape!r}") from None
    if any(n < 0 for n in shape):
        raise ValueError(f"{name}: sizes must be >= 0, got {shape}")
    return shape


def _dtype(name, dtype):
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name}: dtype must be a NumPy dtype such as np.float32 or 'float64', "
                        f"got {dtype!r}") from None


def _cast(name, draws, dtype):
    dtype = _dtype(name, dtype)
    if dtype is not None and dtype.kind != "f":
        raise TypeError(f"{name}: samples are floating point; dtype must be np.float32 or np.float64, got {dtype}")
    return draws if dtype is None else draws.astype(dtype)


def _leaf(name, data, requires_grad):
    if requires_grad and data.dtype.kind not in "fc":
        raise TypeError(f"{name}: only floating-point tensors can require gradients, got dtype {data.dtype}; "
                        "pass dtype=np.float64 (or float32)")
    return Tensor(data, requires_grad=requires_grad)
