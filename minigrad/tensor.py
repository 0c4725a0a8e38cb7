"""Tensor: an array that remembers how it was computed.  The ground floor of minigrad.

A Tensor wraps a NumPy array (`.data`).  Every op on tensors that require gradients
records itself (`.grad_fn`) with its inputs, building the graph that `backward()`
walks from the output back to the leaves (minigrad/autograd.py).
"""
import numpy as np

from minigrad.spellings import ElementCount, PyTorchSpellings


class Tensor(PyTorchSpellings):
    """An n-dimensional array that remembers how it was computed.

    Tensor(data, requires_grad=False, dtype=None).  Float data keeps its dtype
    (float32 stays float32); Python floats and lists become float64 like NumPy.
    PyTorch's spellings (view, clone, ...) get a hint from the base class (minigrad/spellings.py).
    """

    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "retains_grad", "_version", "__weakref__")

    def __init__(self, data, requires_grad=False, dtype=None):
        data = np.array(unwrap(data), dtype=dtype)  # a copy, so later changes to `data` don't leak in
        if requires_grad and data.dtype.kind not in "fc":
            raise TypeError(
                f"Tensor: only floating-point tensors can require gradients, got dtype {data.dtype}; "
                "pass dtype=np.float64 (or float32) or float data")
        self.data = data
        self.grad = self.grad_fn = None
        self.requires_grad = bool(requires_grad)
        self.retains_grad = False
        self._version = 0  # the number (autograd.next_number) of this tensor's last in-place change

    # ---- array facts and Python protocols --------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: ElementCount(self.data.size))  # an int; x.size() gets PyTorch's hint
    dtype = property(lambda self: self.data.dtype)
    is_leaf = property(lambda self: self.grad_fn is None)
    __hash__ = object.__hash__  # tensors are graph nodes: hashed by identity, like PyTorch

    def __len__(self): return len(self.data)
    def __iter__(self): return (self[i] for i in range(len(self)))
    def __bool__(self): return bool(self.data)
    def __float__(self): return float(self.item())
    def __int__(self): return int(self.item())

    def __format__(self, spec):
        """f"{loss:.3f}": a one-element tensor formats like its number; no spec gives repr."""
        if not spec:
            return str(self)
        if self.data.size != 1:
            raise TypeError(f"format: only a one-element tensor formats like a number (spec {spec!r}); this one "
                            f"has shape {self.shape}: format its elements, e.g. np.array2string(x.data, precision=3)")
        return format(self.data.item(), spec)
    def __array__(self, dtype=None, copy=None): return self.data if dtype is None else self.data.astype(dtype, copy=False)
    def numpy(self): return self.data
    def tolist(self): return self.data.tolist()

    def item(self):
        if self.size != 1:
            raise ValueError(f"item: only a one-element tensor has one value; this one has shape {self.shape}")
        return self.data.item()

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        extra = f", shape={self.shape}" if self.ndim > 1 else ""
        extra += f", dtype={self.dtype}" if self.dtype != np.float64 else ""
        if self.grad_fn is not None:
            extra += f", grad_fn={type(self.grad_fn).__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    # ---- the graph ----------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False, create_graph=False, hook=None):
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`.

        grad: the upstream gradient, same shape as self; may be omitted for a
        one-element tensor.  create_graph=True records the backward pass itself,
        so the gradients can be differentiated again.
        """
        _autograd.run_backward(self, grad, retain_graph=retain_graph or create_graph,
                               create_graph=create_graph, hook=hook)

    def detach(self):
        """Same data, cut from the graph."""
        return wrap(self.data)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.dtype.kind not in "fc":
            raise TypeError(f"requires_grad_: only floating-point tensors can require gradients, got {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self):
        """Keep `.grad` on this non-leaf tensor after backward()."""
        self.retains_grad = True
        return self

    # ---- operators (each is one op class in minigrad.ops) ----------------------------
    def __add__(self, other): return _ops.Add.apply(self, other)
    def __radd__(self, other): return _ops.Add.apply(other, self)
    def __sub__(self, other): return _ops.Sub.apply(self, other)
    def __rsub__(self, other): return _ops.Sub.apply(other, self)
    def __mul__(self, other): return _ops.Mul.apply(self, other)
    def __rmul__(self, other): return _ops.Mul.apply(other, self)
    def __truediv__(self, other): return _ops.Div.apply(self, other)
    def __rtruediv__(self, other): return _ops.Div.apply(other, self)
    def __pow__(self, other): return _ops.Pow.apply(self, other)
    def __rpow__(self, other): return _ops.Pow.apply(other, self)
    def __matmul__(self, other): return _ops.MatMul.apply(self, other)
    def __rmatmul__(self, other): return _ops.MatMul.apply(other, self)
    def __neg__(self): return _ops.Neg.apply(self)
    def __abs__(self): return _ops.Abs.apply(self)
    def __getitem__(self, index): return _ops.GetItem.apply(self, index=index)

    # Comparisons give boolean tensors that carry no gradient.
    def __lt__(self, other): return wrap(self.data < unwrap(other))
    def __le__(self, other): return wrap(self.data <= unwrap(other))
    def __gt__(self, other): return wrap(self.data > unwrap(other))
    def __ge__(self, other): return wrap(self.data >= unwrap(other))
    def __eq__(self, other): return wrap(self.data == unwrap(other))
    def __ne__(self, other): return wrap(self.data != unwrap(other))
    def __invert__(self): return wrap(~self.data)

    # ---- in place: updates outside the graph (an optimizer step under no_grad) -------------
    # Inside a graph, `y += x` makes a new tensor and rebinds y (recorded, like y = y + x).
    def __iadd__(self, other): return self._in_place("+=", np.add, other, _ops.Add)
    def __isub__(self, other): return self._in_place("-=", np.subtract, other, _ops.Sub)
    def __imul__(self, other): return self._in_place("*=", np.multiply, other, _ops.Mul)
    def __itruediv__(self, other): return self._in_place("/=", np.true_divide, other, _ops.Div)
    def add_(self, other): return self._in_place("add_", np.add, other)
    def sub_(self, other): return self._in_place("sub_", np.subtract, other)
    def mul_(self, other): return self._in_place("mul_", np.multiply, other)
    def div_(self, other): return self._in_place("div_", np.true_divide, other)
    def fill_(self, value): return self._in_place("fill_", lambda a, v, out: np.copyto(out, v), value)
    def zero_(self): return self.fill_(0)
    def copy_(self, other): return self.fill_(other)

    def __setitem__(self, index, value):
        self._in_place("item assignment", lambda a, v, out: out.__setitem__(_ops.plain_index(index), v), value)

    def _in_place(self, name, ufunc, other, op=None):
        """self.data changed by ufunc(data, other) in place, keeping this tensor's identity."""
        if _autograd.state.grad_enabled and (self.requires_grad or getattr(other, "requires_grad", False)):
            if op is not None and not (self.requires_grad and self.grad_fn is None):
                return op.apply(self, other)
            what = "a leaf that requires grad" if self.requires_grad and self.grad_fn is None else "a tensor in a graph"
            instead = ("`y = F.where(mask, value, y)` or `y = F.masked_fill(y, mask, value)` to make a new tensor"
                       if name == "item assignment" else "`y = y + x` to make a new tensor")
            raise RuntimeError(
                f"{name}: cannot change {what} (shape {self.shape}) in place while gradients are recorded: the "
                f"graph would not see the change.  Update parameters under `with minigrad.no_grad():`, or write "
                f"{instead}")
        try:
            ufunc(self.data, unwrap(other), out=self.data)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{name}: {err} (tensor shape {self.shape} {self.dtype}, "
                            f"value shape {np.shape(unwrap(other))})") from err
        self._version = _autograd.state.last_change = _autograd.next_number()  # ops that saved self must refuse
        return self

    # ---- methods mirroring NumPy ---------------------------------------------------------
    def sum(self, axis=None, keepdims=False, **pytorch_style): return self._reduce(_ops.Sum, axis, keepdims, pytorch_style)
    def mean(self, axis=None, keepdims=False, **pytorch_style): return self._reduce(_ops.Mean, axis, keepdims, pytorch_style)
    def max(self, axis=None, keepdims=False, **pytorch_style): return self._reduce(_ops.Max, axis, keepdims, pytorch_style)
    def min(self, axis=None, keepdims=False, **pytorch_style): return self._reduce(_ops.Min, axis, keepdims, pytorch_style)

    def var(self, axis=None, keepdims=False, ddof=0, **pytorch_style):
        return self._reduce(_ops.Var, axis, keepdims, pytorch_style, ddof=ddof)

    def _reduce(self, op, axis, keepdims, pytorch_style, **params):
        if pytorch_style:
            raise TypeError(f"{op.__name__.lower()}() got {', '.join(map(repr, pytorch_style))}: minigrad follows "
                            "NumPy, so write axis= (and keepdims=) where PyTorch writes dim= (and keepdim=)")
        return op.apply(self, axis=axis, keepdims=keepdims, **params)

    # Indices of the extreme elements: integers, so no gradient (like comparisons).
    def argmax(self, axis=None, keepdims=False): return wrap(np.asarray(self.data.argmax(axis, keepdims=keepdims)))
    def argmin(self, axis=None, keepdims=False): return wrap(np.asarray(self.data.argmin(axis, keepdims=keepdims)))

    def reshape(self, *shape):
        return _ops.Reshape.apply(self, shape=_one_tuple(shape))

    def copy(self): return self.astype(self.dtype, copy=True)  # a Cast op: a new array, the gradient flows back
    def ravel(self): return self.reshape(-1)
    def flatten(self): return self.reshape(-1).copy()  # a copy, as NumPy's (ravel's result may share memory)
    def squeeze(self, axis=None): return self.reshape(_ops.squeezed_shape(self.shape, axis))

    def transpose(self, *axes):
        return _ops.Transpose.apply(self, axes=_one_tuple(axes) or None)

    permute = transpose  # PyTorch's name for a transpose with every axis given

    def swapaxes(self, axis1, axis2):
        axes = list(range(self.ndim))
        axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
        return _ops.Transpose.apply(self, axes=tuple(axes))

    T = property(lambda self: _ops.Transpose.apply(self, axes=None))

    def astype(self, dtype, copy=True):
        """self as `dtype`.  To a float dtype the gradient flows back (cast to self's dtype); to
        integers or booleans there is none: the result does not require grad (as PyTorch)."""
        dtype = np.dtype(dtype)
        if dtype.kind not in "fc":
            return wrap(self.data.astype(dtype))
        if dtype == self.dtype and not copy:
            return self  # as NumPy: nothing to change, so no copy
        return _ops.Cast.apply(self, dtype=dtype)

    def exp(self): return _ops.Exp.apply(self)
    def log(self): return _ops.Log.apply(self)
    def sqrt(self): return _ops.Sqrt.apply(self)
    def tanh(self): return _ops.Tanh.apply(self)
    def abs(self): return _ops.Abs.apply(self)
    def relu(self): return _ops.Relu.apply(self)
    def sigmoid(self): return _ops.Sigmoid.apply(self)
    def softmax(self, axis=-1): return _ops.Softmax.apply(self, axis=axis)
    def log_softmax(self, axis=-1): return _ops.LogSoftmax.apply(self, axis=axis)

    # ---- NumPy protocols -----------------------------------------------------------------
    # Backward rules are plain NumPy code.  With create_graph=True the engine hands
    # them Tensors instead of arrays, and these two hooks route the NumPy calls to
    # minigrad ops, so the backward pass is itself recorded and differentiable.
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out", ())
        if method == "__call__" and list(kwargs) == ["out"] and all(type(o) is np.ndarray for o in out):
            return ufunc(*map(unwrap, inputs), **kwargs)  # into a plain array, e.g. `w.data -= lr * w.grad`
        handler = _ops.UFUNCS.get(ufunc) if method == "__call__" and not kwargs else None
        if handler is None:
            raise TypeError(f"np.{ufunc.__name__} (method {method!r}, kwargs {sorted(kwargs)}) is not supported on "
                            "minigrad Tensors: a backward rule under create_graph=True may call only the NumPy "
                            "functions mapped to ops (docs/EXTENDING.md, 'The NumPy tables'); elsewhere pass "
                            "tensor.data for NumPy's own")
        return handler(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        handler = _ops.array_function(func, args, kwargs)  # a clear TypeError if minigrad lacks it
        return handler(*args, **kwargs)


def wrap(data, requires_grad=False, grad_fn=None):
    """A Tensor around the ndarray `data`, without copying or checking: the engine's fast path."""
    t = object.__new__(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = requires_grad
    t.grad_fn = grad_fn
    t.retains_grad = False
    t._version = 0
    return t


def unwrap(x):
    """The array inside a Tensor; anything else unchanged."""
    return x.data if isinstance(x, Tensor) else x


def as_tensor(x):
    """x itself if it is a Tensor, else a Tensor (no gradient) around it: lists, numbers, arrays."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _one_tuple(args):
    """f(2, 3) and f((2, 3)) alike: the arguments as one tuple."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else tuple(args)


# The one place the ground floor reaches up: the sweep, and Tensor's operators as op classes.
from minigrad import autograd as _autograd  # noqa: E402
from minigrad import ops as _ops  # noqa: E402
