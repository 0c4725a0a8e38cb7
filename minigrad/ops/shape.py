"""Ops that move elements around without arithmetic: reshape, transpose, indexing,
joining and broadcasting.  Each backward moves the gradient back the same way."""
import operator

import numpy as np

from minigrad.function import Example, Function
from minigrad.tensor import Tensor
from minigrad.transforms import (align, batch_size, batched_everywhere, batched_index, holds_batched,
                                 is_batched)


class Reshape(Function):
    """x with a new shape (same elements, C order).  Backward: reshape the gradient back."""
    examples = [Example((3, 4), shape=(2, 6)), Example((2, 3, 4), shape=(-1, 4)), Example((6,), shape=(1, 2, 3)),
                Example((0, 3), shape=(3, 0))]
    reference = staticmethod(lambda x, shape: np.array(x.ravel()).reshape(shape))
    reads = ()

    def forward(self, x, shape):
        return np.reshape(x, shape)

    def backward(self, grad, x, out):
        return grad.reshape(x.shape)

    def jvp(self, tangents, x, out):
        """ṫ reshaped the same way."""
        return tangents[0].reshape(out.shape)

    def batch(self, batched, x, shape):
        """Each example reshaped: the batch axis stays in front."""
        return Reshape.apply(x, shape=x.data.shape[:1] + ((shape,) if np.ndim(shape) == 0 else tuple(shape)))


class Transpose(Function):
    """x with its axes permuted (None: reversed).  Backward: the inverse permutation."""
    examples = [Example((3, 4), axes=None), Example((2, 3, 4), axes=(1, 2, 0)), Example((2, 3, 4), axes=(0, 2, 1)),
                Example((2, 3, 4), axes=(-1, 0, -2)), Example((0, 3, 2), axes=(2, 0, 1))]
    reference = staticmethod(lambda x, axes: np.einsum(
        "abc->" + "".join("abc"[i] for i in axes), x) if axes else np.array(x.T))
    reads = ()

    def forward(self, x, axes=None):
        self.axes = axes
        return x.transpose(axes)

    def backward(self, grad, x, out):
        if self.axes is None:
            return grad.transpose()
        n = len(self.axes)  # axis i went to position axes.index(i): read the positions back in order
        return grad.transpose(sorted(range(n), key=lambda position: self.axes[position] % n))

    def jvp(self, tangents, x, out):
        """ṫ with the same permutation."""
        return np.transpose(tangents[0], self.axes)

    def batch(self, batched, x, axes=None):
        """Each example's axes permuted: the batch axis stays in front."""
        n = x.data.ndim - 1
        example_axes = range(n)[::-1] if axes is None else axes
        return Transpose.apply(x, axes=(0,) + tuple(a % n + 1 for a in example_axes))


def plain_index(index):
    """The index as arrays of its own: Tensors inside it (also inside its tuples and lists) become
    arrays, as indices carry no gradient, and arrays are copied, so that the caller changing
    theirs later cannot change the gradient (an index is small beside what it picks)."""
    if isinstance(index, (tuple, list)):
        return type(index)(plain_index(i) for i in index)
    if isinstance(index, Tensor):
        index = index.data
    return index.copy() if isinstance(index, np.ndarray) else index


def _is_basic(index):
    """True for ints, slices, None and Ellipsis only: such an index never picks an element twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice, type(None), type(Ellipsis))) for i in parts)


class GetItem(Function):
    """x[index]: basic slicing or integer/boolean arrays.  Backward: scatter-add the gradient
    into zeros of x's shape (added, not assigned, so an element picked twice gets both)."""
    examples = [Example((4, 5), index=(slice(1, 3), 2)), Example((4, 5), index=np.array([0, 2, 2, 3])),
                Example((4, 3), index=np.array([[-1, 3], [0, -1]])),  # rows picked twice, as -1 and as 3
                Example((3, 4), index=np.arange(12).reshape(3, 4) % 2 == 0),
                Example((2, 3, 4), index=(Ellipsis, None, slice(None, None, -2))), Example((0, 5), index=(slice(None), 2))]
    reference = staticmethod(lambda x, index: np.take(x.ravel(), np.arange(x.size).reshape(x.shape)[index]))
    reads = ()  # the index kept by forward (a copy: plain_index)

    def forward(self, x, index):
        self.index = plain_index(index)
        return x[self.index]

    def backward(self, grad, x, out):
        return ScatterAdd.apply(grad, index=self.index, shape=x.shape)  # an op, so it has a backward too

    def jvp(self, tangents, x, out):
        """ṫ[index]."""
        return tangents[0][self.index]

    def batch(self, batched, x, index):
        """Each example indexed: a full slice for the batch axis goes in front of the index."""
        if not holds_batched(index):
            return GetItem.apply(x, index=batched_index(index, "GetItem"))
        if not batched[0] and is_batched(index):  # a batch of integer indices into one x: in front already
            return GetItem.apply(x, index=index)
        raise NotImplementedError("vmap cannot batch GetItem with a batch of indices into a batch, or inside "
                                  "a tuple index; index one tensor with one integer tensor, or outside vmap")


def _scatter_add(values, index, shape):
    full = np.zeros(shape, dtype=values.dtype)
    if _is_basic(index):
        full[index] = values
    elif (isinstance(index, np.ndarray) and index.dtype.kind in "iu" and index.size
          and values.shape == index.shape + tuple(shape[1:])):
        _add_rows(full, index, values)
    else:
        np.add.at(full, index, values)
    return full


def _add_rows(full, index, values):
    """np.add.at(full, index, values) for one integer array picking rows (an embedding's
    gradient): the rows are sorted by target and each run summed at once (add.reduceat),
    several times quicker than add.at's element-by-element loop."""
    n = full.shape[0]
    targets = index.ravel()
    if targets.min() < -n or targets.max() >= n:
        raise IndexError(f"index {targets[(targets < -n) | (targets >= n)][0]} is out of bounds for axis 0 "
                         f"with size {n}")
    targets = np.where(targets < 0, targets + n, targets)  # -1 and n - 1 are the same row
    rows = values.reshape(targets.shape + values.shape[index.ndim:])  # (N, ...)
    order = np.argsort(targets, kind="stable")
    targets = targets[order]
    starts = np.flatnonzero(np.concatenate(([True], targets[1:] != targets[:-1])))  # where each run begins
    full[targets[starts]] = np.add.reduceat(rows[order], starts, axis=0)


class ScatterAdd(Function):
    """zeros(shape) with x added at [index] (the backward of indexing).  Backward: grad[index]."""
    examples = [Example((3,), index=np.array([0, 2, 0]), shape=(4,)), Example((2,), index=(slice(1, 3), 0), shape=(4, 2)),
                Example((0,), index=np.zeros(0, dtype=int), shape=(4,))]
    reference = staticmethod(lambda x, index, shape: np.bincount(np.arange(np.prod(shape)).reshape(shape)[index].ravel(),
                                                                 x.ravel(), int(np.prod(shape))).reshape(shape))
    reads = ()

    def forward(self, x, index, shape):
        self.index = index
        return _scatter_add(x, index, shape)

    def backward(self, grad, x, out):
        return grad[self.index]

    def jvp(self, tangents, x, out):
        """ṫ added into zeros at [index]."""
        return ScatterAdd.apply(tangents[0], index=self.index, shape=out.shape)

    def batch(self, batched, x, index, shape):
        """Each example scattered: a full slice for the batch axis goes in front of the index."""
        index = batched_index(index, "ScatterAdd")
        return ScatterAdd.apply(x, index=index, shape=x.data.shape[:1] + tuple(shape))


class Concatenate(Function):
    """Inputs joined along an existing axis.  Backward: each input gets its slice of the gradient."""
    examples = [Example((2, 3), (4, 3), axis=0), Example((2, 3), (2, 1), (2, 2), axis=-1), Example((2, 0), (2, 3), axis=-1)]
    reference = staticmethod(lambda *xs, axis=0: np.block([list(xs)]) if axis in (-1, 1) else np.vstack(xs))
    reads = ()

    def forward(self, *xs, axis=0):
        self.axis = axis % xs[0].ndim
        self.ends = np.cumsum([x.shape[self.axis] for x in xs]).tolist()
        return np.concatenate(xs, axis=axis)

    def backward(self, grad, *xs_and_out):
        lead = (slice(None),) * self.axis
        starts = [0] + self.ends[:-1]
        return tuple(grad[lead + (slice(a, b),)] for a, b in zip(starts, self.ends))

    def jvp(self, tangents, *xs_and_out):
        """The inputs' tangents joined the same way (zeros for an input without one)."""
        out = xs_and_out[-1]
        return np.concatenate([np.zeros(x.shape, out.dtype) if t is None else t
                               for t, x in zip(tangents, xs_and_out)], axis=self.axis)

    def batch(self, batched, *xs, axis=0):
        """Every input given the batch axis; joined along the same axis of each example."""
        n = next(x.data.ndim - 1 for x, b in zip(xs, batched) if b)
        return Concatenate.apply(*batched_everywhere(xs, batched, batch_size(xs, batched)), axis=axis % n + 1)


class Stack(Function):
    """Inputs of one shape joined along a new axis.  Backward: input i gets index i of the gradient."""
    examples = [Example((2, 3), (2, 3), axis=0), Example((3,), (3,), (3,), axis=-1), Example((0, 3), (0, 3), axis=0)]
    reference = staticmethod(lambda *xs, axis=0: np.moveaxis(np.array(xs), 0, axis))
    reads = ()

    def forward(self, *xs, axis=0):
        self.axis = axis % (xs[0].ndim + 1)
        return np.stack(xs, axis=axis)

    def backward(self, grad, *xs_and_out):
        lead = (slice(None),) * self.axis
        return tuple(grad[lead + (i,)] for i in range(len(xs_and_out) - 1))

    def jvp(self, tangents, *xs_and_out):
        """The inputs' tangents stacked the same way (zeros for an input without one)."""
        out = xs_and_out[-1]
        return np.stack([np.zeros(x.shape, out.dtype) if t is None else t
                         for t, x in zip(tangents, xs_and_out)], axis=self.axis)

    def batch(self, batched, *xs, axis=0):
        """Every input given the batch axis; stacked along the same axis of each example."""
        n = next(x.data.ndim - 1 for x, b in zip(xs, batched) if b)
        return Stack.apply(*batched_everywhere(xs, batched, batch_size(xs, batched)), axis=axis % (n + 1) + 1)


class BroadcastTo(Function):
    """x repeated to `shape` by NumPy's broadcasting rules.  Backward: the engine sums the gradient back."""
    examples = [Example((3, 1), shape=(2, 3, 4)), Example((4,), shape=(3, 4)), Example((0, 1), shape=(2, 0, 3))]
    reference = staticmethod(lambda x, shape: x + np.zeros(shape))
    reads = ()

    def forward(self, x, shape):
        return np.broadcast_to(x, shape)

    def backward(self, grad, x, out):
        return grad

    def jvp(self, tangents, x, out):
        """ṫ broadcast the same way."""
        return np.broadcast_to(tangents[0], out.shape)

    def batch(self, batched, x, shape):
        """Each example broadcast to `shape`: the batch axis stays in front."""
        x, = align([x], batched, len(shape))
        return BroadcastTo.apply(x, shape=x.data.shape[:1] + tuple(shape))


# The shapes of squeeze and expand_dims, which are reshapes (Tensor.squeeze, np.squeeze, np.expand_dims).
def squeezed_shape(shape, axis=None):
    """`shape` without its size-1 axes (axis=None), or without the axes `axis` names (an int or a
    tuple, negatives from the end), each of which must be size 1, as NumPy's squeeze."""
    if axis is None:
        return tuple(n for n in shape if n != 1)
    axes = _axes("squeeze", axis, len(shape), shape)
    for a in axes:
        if shape[a] != 1:
            raise ValueError(f"squeeze: cannot drop axis {a} of shape {shape}: its size is {shape[a]}, not 1")
    return tuple(n for a, n in enumerate(shape) if a not in axes)


def expanded_shape(shape, axis):
    """`shape` with a size-1 axis at each position `axis` names (an int or a tuple), positions
    in the result, as NumPy's expand_dims: (2, 3) with axis (0, -1) gives (1, 2, 3, 1)."""
    ndim = len(shape) + (len(axis) if isinstance(axis, (tuple, list)) else 1)
    axes, rest = _axes("expand_dims", axis, ndim, shape), iter(shape)
    return tuple(1 if a in axes else next(rest) for a in range(ndim))


def _axes(name, axis, ndim, shape):
    """axis (an int or a tuple of ints) as a tuple of axes in range(ndim); an error names any bad one."""
    try:
        axes = tuple(map(operator.index, axis)) if isinstance(axis, (tuple, list)) else (operator.index(axis),)
    except TypeError as err:
        raise TypeError(f"{name}: axis must be an int or a tuple of ints, got {axis!r}") from err
    for a in axes:
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(f"{name}: axis {a} is out of bounds for {ndim} axes (input shape {shape})")
    if len({a % ndim for a in axes}) != len(axes):
        raise ValueError(f"{name}: axis {axis} names the same axis twice (input shape {shape})")
    return tuple(a % ndim for a in axes)
