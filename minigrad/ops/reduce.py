"""Reductions along axes, and the fused, numerically stable softmax family."""
import functools
import math

import numpy as np

from minigrad.function import Boundary, Example, Function
from minigrad.ops.elementwise import as_float
from minigrad.transforms import axis_batch

_AXES = [Example((3, 4)), Example((3, 4), axis=0), Example((2, 3, 4), axis=(0, 2)),
         Example((2, 3, 4), axis=-1, keepdims=True), Example((3, 1), axis=-1), Example((0, 3), axis=1)]
inf, nan = np.inf, np.nan


def _keepdims_shape(shape, axis):
    """The shape a reduction over `axis` has with keepdims=True: its gradient's shape before broadcasting."""
    if axis is None:
        return (1,) * len(shape)
    axes = {a % len(shape) for a in ((axis,) if np.ndim(axis) == 0 else axis)}  # (an int, NumPy's too, or a tuple)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _reduced(t, kshape, out):
    """A tangent t (of the input's shape) summed over the axes a reduction to `kshape` removes, as out."""
    axes = tuple(i for i, (n, k) in enumerate(zip(t.shape, kshape)) if k == 1 and n != 1)
    return t.sum(axis=axes).reshape(out.shape)


def _count(shape, kshape):
    """How many elements a reduction from `shape` to `kshape` combines into each result (0 if none)."""
    return math.prod(n for n, k in zip(shape, kshape) if k == 1)


class Sum(Function):
    """x summed over `axis` (None: all).  Backward: d/dx = 1, the gradient broadcast back.

    Backward returns the gradient with the summed axes kept as size 1; the engine repeats
    it along them to x's shape (autograd.repeat_to_shape), as it sums broadcast gradients.
    """
    examples = _AXES
    reference = staticmethod(lambda x, axis=None, keepdims=False: np.add.reduce(x, axis=axis, keepdims=keepdims))
    boundary = [Boundary(np.zeros(0), expected=0.0, grads=[np.zeros(0)]), Boundary([inf, 1.0], expected=inf, grads=[[1.0, 1.0]])]
    reads = ()

    def forward(self, x, axis=None, keepdims=False):
        self.kshape = _keepdims_shape(x.shape, axis)
        return x.sum(axis=axis, keepdims=keepdims)

    def backward(self, grad, x, out):
        return grad.reshape(self.kshape)

    def jvp(self, tangents, x, out):
        """ṫ summed over the same axes."""
        return _reduced(tangents[0], self.kshape, out)

    batch = axis_batch


class Mean(Function):
    """Mean over `axis`.  Backward: d/dx = 1/N, N the number of elements averaged."""
    examples = _AXES
    reference = staticmethod(lambda x, axis=None, keepdims=False: np.add.reduce(x, axis=axis, keepdims=keepdims)
                             / np.add.reduce(np.ones_like(x), axis=axis, keepdims=keepdims))
    boundary = [Boundary(np.zeros((0, 3)), axis=0, expected=[nan, nan, nan], grads=[np.zeros((0, 3))])]  # NumPy's mean of nothing
    reads = ()

    def forward(self, x, axis=None, keepdims=False):
        self.kshape = _keepdims_shape(x.shape, axis)
        n = _count(x.shape, self.kshape)
        self.scale = 1.0 / n if n else 0.0  # (n = 0 only for an empty x, whose gradient is empty)
        return x.mean(axis=axis, keepdims=keepdims)  # over no elements: NaN, with NumPy's warning

    def backward(self, grad, x, out):
        return grad.reshape(self.kshape) * self.scale  # repeated to x's shape by the engine, as Sum's

    def jvp(self, tangents, x, out):
        """The mean of ṫ over the same axes."""
        return _reduced(tangents[0], self.kshape, out) * self.scale

    batch = axis_batch


class Var(Function):
    """Variance over `axis`, divided by N - ddof.  Backward: d/dx = 2 (x - mean) / (N - ddof)."""
    examples = _AXES + [Example((3, 5), axis=1, ddof=1)]
    reference = staticmethod(lambda x, axis=None, keepdims=False, ddof=0: np.sum(
        (x - np.mean(x, axis=axis, keepdims=True)) ** 2, axis=axis, keepdims=keepdims)
        / (np.add.reduce(np.ones_like(x), axis=axis, keepdims=keepdims) - ddof))
    boundary = [Boundary([2.0], ddof=1, expected=nan, grads=[[nan]]),  # N - ddof = 0: NumPy's NaN, and 0/0
                Boundary([5.0, 5.0], expected=0.0, grads=[[0.0, 0.0]])]
    reads = ("x",)

    def forward(self, x, axis=None, keepdims=False, ddof=0):
        self.axis, self.kshape = axis, _keepdims_shape(x.shape, axis)
        n = _count(x.shape, self.kshape)
        self.scale = 2.0 / (n - ddof) if n > ddof else np.nan  # no variance with N <= ddof: NaN, as NumPy's value
        return np.var(x, axis=axis, keepdims=keepdims, ddof=ddof)

    def backward(self, grad, x, out):
        centred = x - x.mean(axis=self.axis, keepdims=True)
        return grad.reshape(self.kshape) * centred * self.scale

    def jvp(self, tangents, x, out):
        """2 sum((x - mean) ṫ) / (N - ddof) over the same axes."""
        centred = x - x.mean(axis=self.axis, keepdims=True)
        return _reduced(centred * tangents[0], self.kshape, out) * self.scale

    batch = axis_batch


class _Extremum(Function):
    """Backward, shared by max and min: the gradient goes to the extreme element; ties share it evenly
    (as torch.amax), so the gradient of a constant row is 1/n each."""
    examples = _AXES
    reads = ()  # the extreme positions kept by forward

    def forward(self, x, axis=None, keepdims=False):
        self.kshape = _keepdims_shape(x.shape, axis)
        out = self.reduce(x, axis=axis, keepdims=keepdims)
        self.hit = x == out.reshape(self.kshape)
        self.share = (1.0 / self.hit.sum(axis=axis, keepdims=True)).astype(x.dtype)  # 1 / ties, per row
        return out

    def backward(self, grad, x, out):
        # Selected, not multiplied by a 0/1 mask: an inf gradient reaches the extreme elements only.
        return np.where(self.hit, grad.reshape(self.kshape) * self.share, 0)

    def jvp(self, tangents, x, out):
        """ṫ at the extreme element (the mean over ties, the transpose of backward's even share)."""
        return _reduced(np.where(self.hit, tangents[0] * self.share, 0), self.kshape, out)

    batch = axis_batch


class Max(_Extremum):
    """Largest element over `axis`.  Backward: d/dx = 1 at the maximum (shared evenly among ties),
    else 0."""
    reduce = staticmethod(np.max)
    reference = staticmethod(lambda x, axis=None, keepdims=False: -np.min(-x, axis=axis, keepdims=keepdims))
    boundary = [Boundary([[-inf, -inf], [1.0, inf]], axis=-1, expected=[-inf, inf], grads=[[[0.5, 0.5], [0.0, 1.0]]]),
                Boundary([[1.0, 3.0]], axis=-1, upstream=[inf], grads=[[[0.0, inf]]])]


class Min(_Extremum):
    """Smallest element over `axis`.  Backward: d/dx = 1 at the minimum (shared evenly among ties),
    else 0."""
    reduce = staticmethod(np.min)
    reference = staticmethod(lambda x, axis=None, keepdims=False: -np.max(-x, axis=axis, keepdims=keepdims))
    boundary = [Boundary([[inf, inf], [-1.0, -inf]], axis=-1, expected=[inf, -inf], grads=[[[0.5, 0.5], [0.0, 1.0]]]),
                Boundary([[3.0, 1.0]], axis=-1, upstream=[inf], grads=[[[0.0, inf]]])]


def exp_shift(x, axis):
    """The shift m that keeps exp(x - m) from overflowing: x's max along axis (a size-1 axis),
    clamped to the finite floats.

    The clamp is the one rule for rows without a finite max.  An all -inf row (everything
    masked) or an empty one gets the lowest float, so -inf - m stays -inf (not -inf - -inf =
    NaN) and exp gives 0; a row holding +inf gets the highest, so inf - m stays inf.
    """
    lowest, highest = _finite_range(x.dtype)
    m = x.max(axis=axis, keepdims=True, initial=lowest)
    return np.minimum(m, highest, out=m)


@functools.lru_cache(maxsize=None)
def _finite_range(dtype):
    """The lowest and highest finite values of dtype (float64's for integers, which exp turns into float64)."""
    info = np.finfo(dtype if dtype.kind == "f" else np.float64)
    return info.min, info.max


def _need_an_axis(x):
    if x.ndim == 0:
        raise ValueError("the input is 0-d (one number), so there is no axis to normalise or sum over; "
                         "give it one, e.g. x.reshape(1)")


def row_dot(a, b, axis):
    """sum(a * b) along axis, kept as a size-1 axis.

    Along the last axis it is a batch of (1, n) @ (n, 1) products, which never
    allocates the full-size a * b: on big attention weights that temporary costs more
    than the arithmetic.  A b of shape (n,), the same for every row (a layer norm's
    weight), makes it one matrix-vector product.
    """
    if axis == -1 or axis == a.ndim - 1:
        if b.ndim == 1:
            return a @ b[:, None]
        return (a[..., None, :] @ b[..., :, None])[..., 0]
    return (a * b).sum(axis=axis, keepdims=True)


def row_sum(a, axis):
    """sum(a) along axis, kept as a size-1 axis.

    Along the last axis it is a product with a column of ones: one BLAS call, several
    times quicker than NumPy's sum over many short rows (attention weights, layer norm).
    """
    if axis == -1 or axis == a.ndim - 1:
        return a @ _ones(a.shape[-1], a.dtype)[:, None]
    return a.sum(axis=axis, keepdims=True)


@functools.lru_cache(maxsize=64)
def _ones(n, dtype):
    """A read-only vector of n ones, shared between calls (np.ones costs more than a small sum)."""
    ones = np.ones(n, dtype)
    ones.flags.writeable = False
    return ones


def sum_rows(a):
    """a (..., N) summed over every axis but the last -> (N,): a bias's gradient, as one
    product of the rows with a row of ones (quicker than sum over the leading axes)."""
    rows = a.reshape(math.prod(a.shape[:-1]), a.shape[-1])
    return _ones(rows.shape[0], a.dtype) @ rows


def exp_normalised(e, axis):
    """exp(e) / sum(exp(e)) along axis, written into e, an array of the caller's own that holds
    x - exp_shift(x, axis) (left-out entries -inf).

    A row that takes part sums to at least 1 (its largest entry gives exp(0) = 1); a row with
    nothing taking part sums to 0, and dividing it by 1 gives weights 0, not 0/0.
    """
    np.exp(e, out=e)
    total = row_sum(e, axis)
    np.maximum(total, 1, out=total)
    e /= total
    return e


class Softmax(Function):
    """exp(x) / sum(exp(x)) along axis; entries where `where` is False are left out (weight 0).

    where: optional boolean, broadcastable to x (True = take part).  A row with nothing
    taking part, or all -inf, gets weights 0 rather than 0/0 = NaN.
    Backward: with s = out, dL/dx = s * (g - sum(g * s)), the Jacobian diag(s) - s sᵀ applied
    to g; left-out entries have s = 0, so their gradient is exactly 0.  Backward reads out only.
    """
    examples = [Example((3, 4)), Example((2, 3, 4), axis=1), Example((5,), axis=0),
                Example((2, 3, 4), where=np.tri(3, 4, dtype=bool)),
                Example((2, 4), where=np.array([[True, False, True, True], [False] * 4])),
                Example((2, 3, 4), where=np.array([[True], [False], [True]])), Example((3, 1)), Example((0, 4))]
    boundary = [Boundary([1.0, 2.0, inf], where=np.array([True, True, False]), expected=[1 / (1 + np.e), np.e / (1 + np.e), 0.0]),
                Boundary([1.0, nan, 2.0], where=np.array([True, False, True]), expected=[1 / (1 + np.e), 0.0, np.e / (1 + np.e)]),
                Boundary([[1.0, 2.0]], where=np.array([False, False]), expected=[[0.0, 0.0]], grads=[[[0.0, 0.0]]]),
                Boundary([-inf, -inf], expected=[0.0, 0.0]),
                Boundary([-inf, 0.0], expected=[0.0, 1.0], upstream=[3.0, 1.0], grads=[[0.0, 0.0]])]
    reads = ("out",)

    @staticmethod
    def reference(x, axis=-1, where=True):
        e = np.exp(x) * where
        total = np.sum(e, axis=axis, keepdims=True)
        return e / np.where(total == 0, 1.0, total)

    def forward(self, x, axis=-1, where=None):
        _need_an_axis(x)
        self.axis = axis
        x = as_float(x)
        if where is not None:
            # Left out entries become -inf without being read: an inf or NaN there must not leak into the row.
            taking_part = np.empty(x.shape, x.dtype)  # (filled, then copied into: quicker than copy and fill)
            taking_part.fill(-np.inf)
            np.copyto(taking_part, x, where=where)
            x = taking_part
        m = exp_shift(x, axis)  # the largest entry becomes 0
        # From here on every step writes into one new array: no other big temporaries.
        return exp_normalised(np.subtract(x, m, out=None if where is None else x), axis)

    def backward(self, grad, x, out):
        g = grad - row_dot(grad, out, self.axis)
        g *= out
        return g

    def jvp(self, tangents, x, out):
        """s (ṫ - sum(s ṫ)) with s = out: diag(s) - s sᵀ applied to ṫ (left-out entries: s = 0)."""
        return out * (tangents[0] - row_dot(tangents[0], out, self.axis))

    batch = axis_batch


class LogSoftmax(Function):
    """x - logsumexp(x) along axis.  Backward: g - softmax(x) * sum(g), with softmax(x) = exp(out):
    it reads out only."""
    examples = [Example((3, 4)), Example((2, 3, 4), axis=0), Example((3, 1)), Example((0, 4))]
    boundary = [Boundary([-inf, 0.0], expected=[-inf, 0.0], grads=[[1.0, -1.0]])]  # d/dx_i sum = 1 - 2 s_i
    reference = staticmethod(lambda x, axis=-1: np.log(np.exp(x) / np.sum(np.exp(x), axis=axis, keepdims=True)))
    reads = ("out",)

    def forward(self, x, axis=-1):
        _need_an_axis(x)
        self.axis = axis
        x = as_float(x)
        shifted = x - exp_shift(x, axis)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))

    def backward(self, grad, x, out):
        return grad - np.exp(out) * grad.sum(axis=self.axis, keepdims=True)

    def jvp(self, tangents, x, out):
        """ṫ - sum(softmax(x) ṫ) along axis."""
        t = tangents[0]
        return t - np.sum(np.exp(out) * t, axis=self.axis, keepdims=True)

    batch = axis_batch


class LogSumExp(Function):
    """log(sum(exp(x))) along axis, computed without overflow.  Backward: d/dx = exp(x - out) = softmax(x);
    backward reads x and out."""
    examples = [Example((3, 4)), Example((2, 3, 4), axis=(0, 2)), Example((3, 4), axis=0, keepdims=True),
                Example((3, 1)), Example((0, 4))]
    boundary = [Boundary([inf, 0.0], expected=inf), Boundary([-inf, -inf], expected=-inf),  # as NumPy's log(sum(exp))
                Boundary([-inf, 0.0], expected=0.0, grads=[[0.0, 1.0]]), Boundary(np.zeros((2, 0)), expected=[-inf, -inf])]
    reference = staticmethod(lambda x, axis=-1, keepdims=False: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)))
    reads = ("x", "out")

    def forward(self, x, axis=-1, keepdims=False):
        if axis is not None:
            _need_an_axis(x)
        self.kshape = _keepdims_shape(x.shape, axis)
        x = as_float(x)
        m = exp_shift(x, axis)
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
        return out if keepdims else np.squeeze(out, axis=axis)

    def backward(self, grad, x, out):
        return grad.reshape(self.kshape) * np.exp(x - out.reshape(self.kshape))

    def jvp(self, tangents, x, out):
        """sum(softmax(x) ṫ) over the same axes."""
        return _reduced(np.exp(x - out.reshape(self.kshape)) * tangents[0], self.kshape, out)

    batch = axis_batch
