"""Tensor: an array that remembers how it was computed.  The ground floor of minigrad.

A Tensor wraps a NumPy array (`.data`).  Every op on tensors that require gradients records
itself (`.grad_fn`, function.py), building the graph `backward()` walks (autograd.py).
Beside this file, each readable alone: in_place.py (x += 1, x.add_(...), x[i] = v),
numpy_protocol.py (np.exp(x) and friends on tensors), spellings.py (PyTorch's names, answered).
"""
import inspect

import numpy as np

import minigrad  # the floors above, at call time: minigrad.ops (the operators), minigrad.autograd (backward)
from minigrad.axis_names import takes_axis
from minigrad.in_place import InPlaceUpdates
from minigrad.printing import Printing
from minigrad.spellings import PyTorchSpellings, refuse_two_axis_transpose


class Tensor(InPlaceUpdates, Printing, PyTorchSpellings):
    """An n-dimensional array that remembers how it was computed.

    Tensor(data, requires_grad=False, dtype=None): a copy of `data`; float32 stays float32, Python
    floats and lists become float64 like NumPy.  Ops pass their fresh result with copy=False, grad_fn.
    """

    __slots__ = ("data", "requires_grad", "grad_fn", "retains_grad", "__dict__", "__weakref__")  # (quick to read)
    grad = None  # what backward() adds up for this tensor (leaves, and tensors that retain_grad)

    def __init__(self, data, requires_grad=False, dtype=None, grad_fn=None, copy=True):
        if copy:  # a copy, so later changes to `data` don't leak in (a Tensor gives its array: __array__)
            data = np.array(data, dtype=dtype)
            if data.dtype.kind == "c" or (requires_grad and data.dtype.kind != "f"):
                raise dtype_refused("Tensor", data.dtype)
        self.data, self.requires_grad, self.grad_fn = data, requires_grad, grad_fn
        self.retains_grad = False  # (a slot, set here: the sweep reads it for every tensor)

    # ---- array facts and Python protocols --------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)  # NumPy's element count, an int
    dtype = property(lambda self: self.data.dtype)
    is_leaf = property(lambda self: self.grad_fn is None)
    __hash__ = object.__hash__  # tensors are graph nodes: hashed by identity, like PyTorch

    def __len__(self): return len(self.data)
    def __iter__(self): return (self[i] for i in range(len(self)))

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    # ---- the graph ----------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False, create_graph=False, hook=None):
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`.

        grad: the upstream gradient, same shape as self; may be omitted for a
        one-element tensor.  create_graph=True records the backward pass itself,
        so the gradients can be differentiated again.  hook: an object told each step,
        `hook.op(fn, output, grad, handed)` per op and `hook.leaf(tensor, grad)` per leaf
        (minigrad.viz.BackwardTrace is one); a plain function is refused.
        """
        if hook is not None and not callable(getattr(hook, "op", None)):
            raise TypeError("backward: hook must be an object with methods op(fn, output, grad, handed) and "
                            f"leaf(tensor, grad), as minigrad.viz.BackwardTrace; got {hook!r}")
        minigrad.autograd.run_backward(self, grad, retain_graph or create_graph, create_graph, hook=hook)

    def detach(self):
        """Same data, cut from the graph."""
        return Tensor(self.data, copy=False)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.dtype.kind != "f":
            raise dtype_refused("requires_grad_", self.dtype)
        self.requires_grad = requires_grad
        return self

    def retain_grad(self):
        """Keep `.grad` on this non-leaf tensor after backward()."""
        self.retains_grad = True
        return self

    # ---- operators (each is one op class in minigrad.ops) ----------------------------
    def __add__(self, other): return minigrad.ops.Add.apply(self, other)
    def __radd__(self, other): return minigrad.ops.Add.apply(other, self)
    def __sub__(self, other): return minigrad.ops.Sub.apply(self, other)
    def __rsub__(self, other): return minigrad.ops.Sub.apply(other, self)
    def __mul__(self, other): return minigrad.ops.Mul.apply(self, other)
    def __rmul__(self, other): return minigrad.ops.Mul.apply(other, self)
    def __truediv__(self, other): return minigrad.ops.Div.apply(self, other)
    def __rtruediv__(self, other): return minigrad.ops.Div.apply(other, self)
    def __pow__(self, other): return minigrad.ops.Pow.apply(self, other)
    def __rpow__(self, other): return minigrad.ops.Pow.apply(other, self)
    def __matmul__(self, other): return minigrad.ops.MatMul.apply(self, other)
    def __rmatmul__(self, other): return minigrad.ops.MatMul.apply(other, self)
    def __neg__(self): return minigrad.ops.Neg.apply(self)
    def __abs__(self): return minigrad.ops.Abs.apply(self)
    def __getitem__(self, index): return minigrad.ops.GetItem.apply(self, index=index)

    # Comparisons give boolean tensors that carry no gradient.
    def __lt__(self, other): return _constant(self.data < unwrap(other))
    def __le__(self, other): return _constant(self.data <= unwrap(other))
    def __gt__(self, other): return _constant(self.data > unwrap(other))
    def __ge__(self, other): return _constant(self.data >= unwrap(other))
    def __eq__(self, other): return _constant(self.data == unwrap(other))
    def __ne__(self, other): return _constant(self.data != unwrap(other))
    def __invert__(self): return _constant(~self.data)

    # ---- methods mirroring NumPy ---------------------------------------------------------
    # (PyTorch's dim= and keepdim= get a hint naming axis= and keepdims=: see after the class.)
    def sum(self, axis=None, keepdims=False):
        return minigrad.ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return minigrad.ops.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return minigrad.ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return minigrad.ops.Min.apply(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, keepdims=False, ddof=0):
        return minigrad.ops.Var.apply(self, axis=axis, keepdims=keepdims, ddof=ddof)

    # Indices of the extreme elements: integers, so no gradient (like comparisons).
    def argmax(self, axis=None, keepdims=False): return _constant(self.data.argmax(axis, keepdims=keepdims))
    def argmin(self, axis=None, keepdims=False): return _constant(self.data.argmin(axis, keepdims=keepdims))

    def reshape(self, *shape):
        return minigrad.ops.Reshape.apply(self, shape=_one_tuple(shape))

    def copy(self): return self.astype(self.dtype, copy=True)  # a Cast op: a new array, gradient flows back
    def ravel(self): return self.reshape(-1)
    def flatten(self): return self.reshape(-1).copy()  # a copy, as NumPy's (ravel's result may share memory)
    def squeeze(self, axis=None): return self.reshape(minigrad.ops.squeezed_shape(self.shape, axis))

    def transpose(self, *axes):
        axes = _one_tuple(axes) or None
        if axes is not None and len(axes) == 2 and (self.ndim != 2 or axes[0] % 2 == 0):
            refuse_two_axis_transpose(axes, self.shape)  # PyTorch's swap, which NumPy reads otherwise
        return minigrad.ops.Transpose.apply(self, axes=axes)

    def permute(self, *axes):  # PyTorch's name for a transpose with every axis given
        return minigrad.ops.Transpose.apply(self, axes=_one_tuple(axes) or None)

    def swapaxes(self, axis1, axis2):
        axes = list(range(self.ndim))
        axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
        return minigrad.ops.Transpose.apply(self, axes=tuple(axes))

    T = property(lambda self: minigrad.ops.Transpose.apply(self, axes=None))
    mT = property(lambda self: self.swapaxes(-1, -2))  # the last two axes swapped (a batch of matrices)

    def astype(self, dtype, copy=True):
        """self as `dtype`.  To a float dtype the gradient flows back (cast to self's dtype); to
        integers or booleans there is none: the result does not require grad (as PyTorch)."""
        dtype = np.dtype(dtype)
        if dtype.kind not in "fc":
            return _constant(self.data.astype(dtype))
        if dtype == self.dtype and not copy:
            return self  # as NumPy: nothing to change, so no copy
        return minigrad.ops.Cast.apply(self, dtype=dtype)

    def exp(self): return minigrad.ops.Exp.apply(self)
    def log(self): return minigrad.ops.Log.apply(self)
    def sqrt(self): return minigrad.ops.Sqrt.apply(self)
    def tanh(self): return minigrad.ops.Tanh.apply(self)
    def abs(self): return minigrad.ops.Abs.apply(self)
    def relu(self): return minigrad.ops.Relu.apply(self)
    def sigmoid(self): return minigrad.ops.Sigmoid.apply(self)
    def softmax(self, axis=-1): return minigrad.ops.Softmax.apply(self, axis=axis)
    def log_softmax(self, axis=-1): return minigrad.ops.LogSoftmax.apply(self, axis=axis)

    # ---- NumPy's protocols: np.exp(x), np.sum(x) on tensors run minigrad's ops ----------------
    # (minigrad/numpy_protocol.py; this is how backward rules written in NumPy record a graph)
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return minigrad.numpy_protocol.call_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return minigrad.numpy_protocol.call_function(func, args, kwargs)


# Every method with an `axis` answers PyTorch's dim= (keepdim=) with a hint naming axis= (keepdims=).
for _name, _method in list(vars(Tensor).items()):
    if inspect.isfunction(_method) and "axis" in inspect.signature(_method).parameters:
        setattr(Tensor, _name, takes_axis(_method))
del _name, _method


def unwrap(x):
    """The array inside a Tensor; anything else unchanged."""
    return x.data if isinstance(x, Tensor) else x


def as_tensor(x):
    """x itself if it is a Tensor, else a Tensor (no gradient) around it: lists, numbers, arrays."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _one_tuple(args):
    """f(2, 3) and f((2, 3)) alike: the arguments as one tuple."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else tuple(args)


def dtype_refused(name, dtype):
    """The error for what minigrad cannot differentiate: complex data, and gradients of integers."""
    if dtype.kind == "c":
        return TypeError(f"{name}: complex tensors are not supported (got dtype {dtype}); "
                         "split them into real and imaginary parts")
    return TypeError(f"{name}: only floating-point tensors can require gradients, got dtype {dtype}; "
                     "pass dtype=np.float64 (or float32) or float data")


def _constant(result):
    """A NumPy result that carries no gradient (a comparison, an index) as a Tensor."""
    return Tensor(np.asarray(result), copy=False)
