"""Tensor, gradient mode and the backward pass: the ground floor of minigrad.

A Tensor wraps a NumPy array (`.data`).  Every operation on tensors that require
gradients records the op (`.grad_fn`) and its inputs, building a graph that
`backward()` walks from the output to the leaves, applying each op's backward rule.
"""
from heapq import heappop, heappush

import numpy as np


class _GradMode:
    enabled = True


class _SetGradMode:
    """Context manager and decorator that switches graph building on or off."""

    def __init__(self, enabled):
        self.enabled = enabled

    def __enter__(self):
        self.previous = _GradMode.enabled
        _GradMode.enabled = self.enabled

    def __exit__(self, *exc):
        _GradMode.enabled = self.previous

    def __call__(self, func):
        def wrapper(*args, **kwargs):
            with _SetGradMode(self.enabled):
                return func(*args, **kwargs)

        wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
        return wrapper


def no_grad():
    """Build no graph inside: `with no_grad(): ...` or `@no_grad()` on a function."""
    return _SetGradMode(False)


def enable_grad():
    """Build graphs again, e.g. inside a `no_grad()` block."""
    return _SetGradMode(True)


def is_grad_enabled():
    return _GradMode.enabled


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    Tensor(data, requires_grad=False, dtype=None).  Float data keeps its dtype
    (float32 stays float32); Python floats and lists become float64 like NumPy.
    """

    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "retains_grad", "__weakref__")

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        data = np.array(data, dtype=dtype)  # a copy, so later changes to `data` don't leak in
        if requires_grad and data.dtype.kind not in "fc":
            raise TypeError(
                f"Tensor: only floating-point tensors can require gradients, got dtype {data.dtype}; "
                "pass dtype=np.float64 (or float32) or float data")
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.grad_fn = None
        self.retains_grad = False

    @classmethod
    def _make(cls, data, requires_grad=False, grad_fn=None):
        """Wrap an ndarray without copying or checking: the engine's fast path."""
        t = object.__new__(cls)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t.grad_fn = grad_fn
        t.retains_grad = False
        return t

    # ---- array facts -------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)
    is_leaf = property(lambda self: self.grad_fn is None)

    def __len__(self):
        return len(self.data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        extra = f", shape={self.shape}" if self.ndim > 1 else ""
        extra += f", dtype={self.dtype}" if self.dtype != np.float64 else ""
        if self.grad_fn is not None:
            extra += f", grad_fn={type(self.grad_fn).__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def __bool__(self):
        return bool(self.data)

    __hash__ = object.__hash__  # tensors are graph nodes: hashed by identity, like PyTorch

    def item(self):
        return self.data.item()

    def numpy(self):
        return self.data

    def tolist(self):
        return self.data.tolist()

    def detach(self):
        """Same data, cut from the graph."""
        return Tensor._make(self.data)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.dtype.kind not in "fc":
            raise TypeError(f"requires_grad_: only floating-point tensors can require gradients, got {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self):
        """Keep `.grad` on this non-leaf tensor after backward()."""
        self.retains_grad = True
        return self

    def backward(self, grad=None, retain_graph=False, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`.

        grad: the upstream gradient, same shape as self; may be omitted for a
        one-element tensor.  create_graph=True records the backward pass itself,
        so the gradients can be differentiated again.
        """
        run_backward(self, grad, retain_graph=retain_graph or create_graph,
                     create_graph=create_graph, accumulate=True)

    # ---- operators (each is one op class in minigrad.ops) ------------------
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
    def __getitem__(self, index): return _ops.GetItem.apply(self, index=index)

    # Comparisons give boolean tensors that carry no gradient.
    def __lt__(self, other): return Tensor._make(self.data < unwrap(other))
    def __le__(self, other): return Tensor._make(self.data <= unwrap(other))
    def __gt__(self, other): return Tensor._make(self.data > unwrap(other))
    def __ge__(self, other): return Tensor._make(self.data >= unwrap(other))
    def __eq__(self, other): return Tensor._make(self.data == unwrap(other))
    def __ne__(self, other): return Tensor._make(self.data != unwrap(other))
    def __invert__(self): return Tensor._make(~self.data)

    # ---- methods mirroring NumPy -------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return _ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops.Mean.apply(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, keepdims=False, ddof=0):
        return _ops.Var.apply(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def max(self, axis=None, keepdims=False):
        return _ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _ops.Min.apply(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return _ops.Reshape.apply(self, shape=tuple(shape))

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        return _ops.Transpose.apply(self, axes=tuple(axes) if axes else None)

    def swapaxes(self, axis1, axis2):
        axes = list(range(self.ndim))
        axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
        return _ops.Transpose.apply(self, axes=tuple(axes))

    @property
    def T(self):
        return _ops.Transpose.apply(self, axes=None)

    def astype(self, dtype, copy=True):
        return _ops.Cast.apply(self, dtype=np.dtype(dtype))

    def exp(self): return _ops.Exp.apply(self)
    def log(self): return _ops.Log.apply(self)
    def sqrt(self): return _ops.Sqrt.apply(self)
    def tanh(self): return _ops.Tanh.apply(self)
    def abs(self): return _ops.Abs.apply(self)

    # ---- NumPy protocols ----------------------------------------------------
    # Backward rules are plain NumPy code.  With create_graph=True the engine hands
    # them Tensors instead of arrays, and these two hooks route the NumPy calls to
    # minigrad ops, so the backward pass is itself recorded and differentiable.
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        handler = _ops.UFUNCS.get(ufunc) if method == "__call__" and not kwargs else None
        if handler is None:
            raise TypeError(f"np.{ufunc.__name__} (method {method!r}, kwargs {sorted(kwargs)}) "
                            "is not supported on minigrad Tensors; use minigrad.functional")
        return handler(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        handler = _ops.ARRAY_FUNCTIONS.get(func)
        if handler is None:
            raise TypeError(f"np.{func.__name__} is not supported on minigrad Tensors; "
                            "use minigrad.functional or pass tensor.data")
        return handler(*args, **kwargs)


def unwrap(x):
    """The array inside a Tensor; anything else unchanged."""
    return x.data if isinstance(x, Tensor) else x


def as_tensor(x):
    """x itself if it is a Tensor, else a Tensor (no gradient) around it: lists, numbers, arrays."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _sum_to_shape(grad, shape):
    """Sum a broadcast gradient back down to `shape` (the one place broadcasting is undone)."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


_ONES = {}


def _ones_like(t):
    if t.ndim:
        return np.ones(t.shape, t.dtype)
    one = _ONES.get(t.dtype)
    if one is None:  # cached per dtype; read-only, as a backward rule must never write into `grad`
        one = _ONES[t.dtype] = np.ones((), t.dtype)
        one.flags.writeable = False
    return one


def run_backward(root, grad=None, retain_graph=False, create_graph=False, accumulate=True, wanted=None):
    """Reverse-mode sweep from `root`.

    Tensors are processed newest first (each op numbers itself when recorded, see
    Function.apply).  An op's output is always newer than its inputs, so when a tensor
    comes up, every op that used it has already passed its gradient back: its gradient
    is complete.  A heap keeps the waiting tensors in that order, without recursion, so
    a 100 000-op chain works.  accumulate: add into leaves' `.grad`.  wanted: tensors
    whose gradients to return as a list (for `minigrad.grad`).  Each op's saved inputs
    are released after use unless retain_graph, so memory falls as the sweep proceeds.
    """
    if not root.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no grad_fn "
                           "(was it computed under no_grad(), or from tensors without requires_grad=True?)")
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward: grad can be implicit only for a one-element output, but the "
                               f"output has shape {root.shape}; pass grad= of that shape (e.g. ones)")
        grad = _ones_like(root.data)
    else:
        grad = np.asarray(unwrap(grad), dtype=root.dtype)
        if grad.shape != root.shape:
            raise ValueError(f"backward: grad has shape {grad.shape} but the output has shape {root.shape}")
    if create_graph:
        grad = Tensor._make(grad)
    wanted_ids = {id(t) for t in wanted} if wanted is not None else ()
    results = {}
    grads = {id(root): grad}  # id(tensor) -> the sum of the gradients that reached it so far
    own_sums = set()          # ids whose sum in `grads` is a new array made here, safe to add into
    leaves, waiting = [], []  # waiting: a heap of (-op number, tensor)
    if root.grad_fn is None:
        leaves.append(root)
    else:
        waiting.append((-root.grad_fn.number, root))
    with _SetGradMode(create_graph):
        while waiting:
            t = heappop(waiting)[1]
            g = grads.pop(id(t))
            fn = t.grad_fn
            if fn.inputs is None:
                raise RuntimeError(
                    f"backward: the graph through {type(fn).__name__} was already freed by an earlier "
                    "backward(); pass retain_graph=True to the first backward() to go through it twice")
            if t.retains_grad and accumulate:
                t.grad = _accumulate(t.grad, g)
            if wanted_ids and id(t) in wanted_ids:
                results[id(t)] = g
            if create_graph:
                in_grads = fn.backward(g, *fn.inputs, t)
            else:
                in_grads = fn.backward(g, *fn.arrays, t.data)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            for x, array, need, gx in zip(fn.inputs, fn.arrays, fn.needs_grad, in_grads):
                if not need or gx is None:
                    continue
                if type(gx) is Tensor and not create_graph:  # a backward may call other ops' apply
                    gx = gx.data
                if gx.shape != array.shape:
                    gx = _sum_to_shape(gx, array.shape)
                    if gx.shape != array.shape:
                        raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape "
                                           f"{gx.shape} for an input of shape {array.shape}")
                if gx.dtype is not array.dtype and gx.dtype != array.dtype:
                    gx = gx.astype(array.dtype)
                key = id(x)
                previous = grads.get(key)
                if previous is None:  # the first gradient to reach x: schedule x
                    grads[key] = gx
                    if x.grad_fn is None:
                        leaves.append(x)
                    else:
                        heappush(waiting, (-x.grad_fn.number, x))
                elif key in own_sums:  # a sum this sweep made: add in place, no new array
                    previous += gx
                    grads[key] = previous  # (under create_graph a Tensor's += made a new one)
                else:  # gx and previous may be shared with other inputs: a new array for the sum
                    grads[key] = previous + gx
                    own_sums.add(key)
            if not retain_graph:
                fn.inputs = fn.arrays = None  # free the saved inputs: upstream memory can go now
    for x in leaves:
        g = grads.pop(id(x))
        if id(x) in wanted_ids:
            results[id(x)] = g
        if accumulate:
            x.grad = _accumulate(x.grad, g, copy=id(x) not in own_sums)
    if wanted is not None:
        return [results.get(id(t)) for t in wanted]


def _accumulate(current, g, copy=True):
    """current + g as a Tensor.  A first gradient is copied unless the sweep made it: the same
    array may have been handed to several inputs (x + y), or be a read-only view."""
    if not isinstance(g, Tensor):  # (NumPy returns scalars, not arrays, from 0-d arithmetic)
        g = Tensor._make(np.array(g) if copy or type(g) is not np.ndarray else g)
    return g if current is None else current + g


def grad(output, inputs, grad_output=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of `output` w.r.t. each of `inputs`, returned rather than stored in `.grad`.

    Like torch.autograd.grad.  With create_graph=True the results are Tensors with a
    graph, so they can be differentiated again (Hessian-vector products).
    """
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if retain_graph is None:
        retain_graph = create_graph
    results = run_backward(output, grad_output, retain_graph=retain_graph, create_graph=create_graph,
                           accumulate=False, wanted=inputs)
    out = []
    for t, g in zip(inputs, results):
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"grad: an input of shape {t.shape} is not used to compute the output; "
                                   "pass allow_unused=True to get None for it")
        elif not isinstance(g, Tensor):
            g = Tensor._make(g)
        out.append(g)
    return out[0] if single else out


# The one place the ground floor reaches up: Tensor's operators are op classes.
from minigrad import ops as _ops  # noqa: E402
