"""The machinery under minigrad.func: forward mode and batching, as the engine runs each op.

Forward mode.  Inside `func.jvp` a `TangentLevel` holds a tangent for each tensor that has
one (of the tensor's shape).  After an op's forward, Function.apply calls `push_tangents`:
the op's `jvp` rule turns its inputs' tangents into its output's.  No backward pass runs.
The rule runs on arrays, unless something may differentiate the tangent itself: an outer
jvp (jvp inside jvp: forward over forward) or reverse mode (an input requires grad).  Then
it runs on Tensors, as backward does under create_graph, so its own ops are recorded and
carry the outer tangents.

Batching.  Inside `func.vmap` a `BatchLevel` is active, and tensors that carry the batch
hold it as their axis 0 (they are `Batched`: their `.shape` is one example's while user
code runs, the whole array's while the engine works).  Before an op runs, Function.apply
calls `apply_batched`: if an input is batched, the op's `batch` rule runs the op once on
the whole batch, usually by shifting its axis or index settings by one.

An op's two rules, next to forward and backward (see docs/EXTENDING.md):

    def jvp(self, tangents, *inputs, out):   one tangent (an array, or None for an input
                                             without one) per input -> the output's tangent
    def batch(self, batched, *inputs, **params):  which inputs hold a batch axis at 0 ->
                                             the op run on the batch (a Tensor, batch at 0)
"""
import functools
import inspect

import numpy as np

from minigrad.grad_mode import mode as engine
from minigrad.tensor import Tensor, unwrap


class TransformState:
    """What Function.apply reads on every op: the forward-mode levels (a tuple, outermost first;
    empty outside jvp) and the batching level (or None)."""
    __slots__ = ("tangents", "batching")

    def __init__(self):
        self.tangents, self.batching = (), None


state = TransformState()


class TangentLevel:
    """One jvp call: the tangent of each tensor that has one, of its (whole) shape."""

    def __init__(self):
        self.tangents = {}  # Tensor (hashed by identity) -> tangent: an array, or a Tensor with its own history


class BatchLevel:
    """One vmap call: the batch size, and the tensors made Batched (restored when it ends)."""

    def __init__(self, size):
        self.size, self.made = size, []


class Batched(Tensor):
    """A tensor holding a batch of examples along axis 0.  While user code runs inside vmap it
    shows one example's shape; the engine, running with batching switched off, sees the whole."""
    __slots__ = ()
    shape = property(lambda self: self.data.shape[1:] if state.batching else self.data.shape)
    ndim = property(lambda self: self.data.ndim - 1 if state.batching else self.data.ndim)
    size = property(lambda self: int(np.prod(self.shape)))

    def __len__(self):
        return self.shape[0] if self.shape else len(self.data)

    # Comparisons give boolean tensors without a gradient (as Tensor's); inside vmap they hold the batch too.
    def __lt__(self, other): return _compared(np.less, self, other)
    def __le__(self, other): return _compared(np.less_equal, self, other)
    def __gt__(self, other): return _compared(np.greater, self, other)
    def __ge__(self, other): return _compared(np.greater_equal, self, other)
    def __eq__(self, other): return _compared(np.equal, self, other)
    def __ne__(self, other): return _compared(np.not_equal, self, other)
    __hash__ = Tensor.__hash__

    def __invert__(self):
        return _compared(np.invert, self)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc in _NO_GRADIENT and method == "__call__" and not kwargs:  # np.sign(x), np.isnan(x), ...
            return _compared(ufunc, *inputs)
        return super().__array_ufunc__(ufunc, method, *inputs, **kwargs)

    # The indices of the extreme elements of each example (integers, no gradient).
    def argmax(self, axis=None, keepdims=False): return _arg(np.argmax, self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return _arg(np.argmin, self, axis, keepdims)


# NumPy functions without a gradient on tensors (comparisons, sign, tests): computed on the data.
_NO_GRADIENT = (np.sign, np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
                np.logical_not, np.logical_and, np.logical_or, np.isfinite, np.isnan, np.isinf)


def _compared(ufunc, *operands):
    """ufunc (a comparison, a test) on tensors, one of them Batched: outside vmap on the whole
    arrays; inside, on the batch lined up as elementwise ops line it up, the result Batched."""
    level = state.batching
    if level is None:
        return Tensor(np.asarray(ufunc(*map(unwrap, operands))), copy=False)
    batched = [is_batched(v) for v in operands]
    ndim = max(logical_ndim(v, b) for v, b in zip(operands, batched))
    arrays = [_lined_up(unwrap(v), b, ndim) for v, b in zip(operands, batched)]
    return mark_batched(Tensor(np.asarray(ufunc(*arrays)), copy=False), level)


def _arg(find, x, axis, keepdims):
    """argmax/argmin of a Batched x: of each example inside vmap (a flat index for axis=None)."""
    if state.batching is None:
        return Tensor(np.asarray(find(x.data, axis, keepdims=keepdims)), copy=False)
    if axis is None:
        found = find(x.data.reshape(len(x.data), -1), 1)  # (B,): flat indices into each example
        found = found.reshape(found.shape + (1,) * (x.data.ndim - 1)) if keepdims else found
    else:
        found = find(x.data, shifted_axis(axis, x.data.ndim - 1), keepdims=keepdims)
    return mark_batched(Tensor(np.asarray(found), copy=False), state.batching)


def _lined_up(array, batched, ndim):
    """A batched array as (B, 1, ..., 1, *example shape) with `ndim` example axes (see align)."""
    array = np.asarray(array)
    if not batched or array.ndim - 1 >= ndim:
        return array
    return array.reshape(array.shape[:1] + (1,) * (ndim - array.ndim + 1) + array.shape[1:])


def is_batched(x):
    return type(x) is Batched


def mark_batched(t, level):
    """t (a Tensor whose axis 0 is the batch) becomes Batched until the level ends."""
    if type(t) is not Batched:
        t.__class__ = Batched
        level.made.append(t)
    return t


def batched_array(array):
    """Inside vmap: a Batched tensor around an array whose axis 0 is the batch."""
    return mark_batched(Tensor(array, copy=False), state.batching)


class switched:
    """Within: the transform state has these values (`with switched(batching=None): ...`)."""

    def __init__(self, **values):
        self.values = values

    def __enter__(self):
        self.previous = {name: getattr(state, name) for name in self.values}
        for name, value in self.values.items():
            setattr(state, name, value)

    def __exit__(self, *exc):
        for name, value in self.previous.items():
            setattr(state, name, value)


# ---- forward mode ------------------------------------------------------------------------

def push_tangents(fn, inputs, arrays, out):
    """Give `out` its tangent at each jvp level from fn's inputs' tangents through fn.jvp."""
    levels = state.tangents
    for depth, level in enumerate(levels):
        tangents = tuple(level.tangents.get(x) if isinstance(x, Tensor) else None for x in inputs)
        if all(t is None for t in tangents) or out.dtype.kind not in "fc":
            continue
        rule = getattr(fn, "jvp", None)
        if rule is None:
            raise NotImplementedError(
                f"{type(fn).__name__} has no jvp rule, so forward mode cannot go through it: add "
                f"jvp(self, tangents, *inputs, out) to {type(fn).__name__} (see docs/EXTENDING.md)")
        try:
            if depth or _recorded(out, tangents):  # the tangent may be differentiated: on Tensors
                with switched(tangents=levels[:depth]):  # (the outer levels follow the rule's own ops)
                    tangent = _fitted_tensor(rule(tuple(map(_as_tensor, tangents)), *inputs, out), out, fn)
            else:
                tangent = fitted_tangent(rule(tuple(map(unwrap, tangents)), *arrays, out.data), out.data, fn)
        except Exception as err:  # name the op and the inputs, and keep the line of the rule that failed
            from minigrad.function import op_error
            raise op_error(fn, "jvp", err, arrays) from err
        level.tangents[out] = tangent


def _recorded(out, tangents):
    """Whether reverse mode records here: then the tangent gets a graph too."""
    return engine.grad_enabled and (out.requires_grad or any(getattr(t, "requires_grad", False) for t in tangents))


def _as_tensor(t):
    return t if t is None or isinstance(t, Tensor) else Tensor(t, copy=False)


def _fitted_tensor(tangent, out, fn):
    """As fitted_tangent, for a tangent computed on Tensors (broadcast and cast by ops)."""
    from minigrad.ops import BroadcastTo
    tangent = _as_tensor(tangent if isinstance(tangent, Tensor) else np.asarray(tangent))
    if tangent.shape != out.shape:
        fitted_tangent(np.empty(tangent.shape), out.data, fn)  # (the error for shapes that do not fit)
        tangent = BroadcastTo.apply(tangent, shape=out.shape)
    return tangent if tangent.dtype == out.dtype else tangent.astype(out.dtype)


def fitted_tangent(tangent, out, fn):
    """The tangent as an array of out's shape and dtype (a rule may return a broadcastable one)."""
    tangent = np.asarray(tangent)
    if tangent.shape != out.shape:
        try:
            tangent = np.broadcast_to(tangent, out.shape)
        except ValueError:
            raise RuntimeError(f"{type(fn).__name__}.jvp returned a tangent of shape {tangent.shape} "
                               f"for an output of shape {out.shape}") from None
    return tangent.astype(out.dtype, copy=False)


def sum_tangents(*terms):
    """The sum of the terms that are not None (a tangent rule's terms, one per input with a tangent)."""
    total = None
    for term in terms:
        if term is not None:
            total = term if total is None else total + term
    return total


# ---- batching ----------------------------------------------------------------------------

def apply_batched(cls, inputs, params):
    """Run op `cls` inside vmap: as it is if no input is batched, else through its batch rule."""
    level = state.batching
    batched = tuple(type(x) is Batched for x in inputs)
    with switched(batching=None):  # the rule, and the ops it calls, work on whole arrays
        if True not in batched and not any(map(holds_batched, params.values())):
            return cls.apply(*inputs, **params)
        rule = getattr(cls, "batch", None)
        if rule is None:
            raise NotImplementedError(
                f"vmap cannot batch {cls.__name__}: it has no batch rule; add batch(self, batched, *inputs, "
                f"**params) to {cls.__name__} (see docs/EXTENDING.md), or call it outside vmap")
        out = rule(cls(), batched, *inputs, **params)
    return mark_batched(out, level)


def holds_batched(value):
    if isinstance(value, (tuple, list)):
        return any(map(holds_batched, value))
    return type(value) is Batched


def logical_ndim(x, batched):
    """The number of axes of one example of x."""
    return np.ndim(x.data if isinstance(x, Tensor) else x) - batched


def align(inputs, batched, ndim):
    """Batched inputs reshaped to (B, 1, ..., 1, *example shape) with `ndim` example axes, so
    that each lines up with the unbatched ones under NumPy's broadcasting (from the right)."""
    from minigrad.ops import Reshape
    aligned = []
    for x, b in zip(inputs, batched):
        if b and x.data.ndim - 1 < ndim:
            missing = ndim - (x.data.ndim - 1)
            x = Reshape.apply(x, shape=x.data.shape[:1] + (1,) * missing + x.data.shape[1:])
        aligned.append(x)
    return aligned


def elementwise_batch(fn, batched, *inputs, **params):
    """The batch rule of elementwise ops: the batch axis goes in front of the broadcast shape.
    A mask setting counts as an input: one that holds the batch (a Batched tensor) is lined up too."""
    masks = batched_masks(params)
    ndim = max([logical_ndim(x, b) for x, b in zip(inputs, batched) if x is not None]
               + [logical_ndim(params[name], name in masks)
                  for name in MASKS if params.get(name) is not None])
    params.update({name: _lined_up(m.data, True, ndim) for name, m in masks.items()})
    return type(fn).apply(*align(inputs, batched, ndim), **params)


MASKS = ("cond", "mask", "where")  # the settings of ops (Where, MaskedFill, Dropout, Softmax) that are masks


def batched_masks(params):
    """{name: mask} for the mask settings that hold the batch.  F.where, F.softmax, F.masked_fill
    and F.dropout pass a mask made from batched data as the Batched tensor it is; any other mask
    is one example's, and broadcasts against each example from the right."""
    return {name: params[name] for name in MASKS if type(params.get(name)) is Batched}


def shifted_axis(axis, ndim):
    """An axis setting of one example (None, an int, a tuple; negatives from the end) as the same
    axes of a batch (axis 0 added in front); None (all axes) becomes every axis but the batch's."""
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, (tuple, list)):
        return tuple(shifted_axis(a, ndim) for a in axis)
    return axis + 1 if axis >= 0 else axis


def batched_everywhere(inputs, batched, size):
    """Every input with the batch axis: an unbatched one is repeated along a new axis 0 (a view)."""
    from minigrad.ops import BroadcastTo
    return [x if b else BroadcastTo.apply(x, shape=(size,) + np.shape(x.data if isinstance(x, Tensor) else x))
            for x, b in zip(inputs, batched)]


def batch_size(inputs, batched):
    return next(x.data.shape[0] for x, b in zip(inputs, batched) if b)


def axis_shifted(fn, x, params):
    """An axis-taking op's settings for a batch: its `axis` (given, or forward's default) shifted
    past the batch axis of x."""
    params = dict(params)
    axis = params.get("axis", _default_axis(type(fn)))
    params["axis"] = shifted_axis(axis, x.data.ndim - 1)
    return params


@functools.lru_cache(maxsize=None)
def _default_axis(cls):
    return inspect.signature(cls.forward).parameters["axis"].default


def axis_batch(fn, batched, x, **params):
    """The batch rule of an op along an axis (a reduction, softmax): the same axes of each example.
    A mask (softmax's where) that holds the batch is lined up with x, which gets the batch if it lacks it."""
    masks = batched_masks(params)
    if masks and not batched[0]:
        x, = batched_everywhere([x], [False], masks[next(iter(masks))].data.shape[0])
    params.update({name: _lined_up(m.data, True, x.data.ndim - 1) for name, m in masks.items()})
    return type(fn).apply(x, **axis_shifted(fn, x, params))


def batched_index(index, op_name):
    """An index of one example as the same index of a batch: a full slice for the batch axis in front.
    Index arrays apart from each other (x[i, :, j]) would move NumPy's result axes: refused by name."""
    parts = index if isinstance(index, tuple) else (index,)
    advanced = [k for k, part in enumerate(parts) if isinstance(part, (list, np.ndarray, Tensor))]
    if advanced and advanced[-1] - advanced[0] + 1 != len(advanced):
        raise NotImplementedError(f"vmap cannot batch {op_name} with index arrays apart from each other "
                                  f"(positions {advanced} of the index): NumPy would move their axes "
                                  "to the front")
    return (slice(None),) + parts
