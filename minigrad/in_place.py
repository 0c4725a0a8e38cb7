"""In-place updates of a Tensor: `x += 1`, `x.add_(...)`, `x.zero_()`, `x[i] = v`.

Each changes the tensor object itself, as in NumPy and PyTorch: x keeps its identity, and its
array is written, so every view of it (and `detach()`) sees the change.
- Outside a graph (an optimizer step under no_grad), that is all.
- Inside a graph (`h += 1` with grad on), the change is also recorded, as PyTorch does: h's
  grad_fn becomes the op (Add for `+=` and `add_`; MaskedFill for `fill_`, `zero_`, `copy_`
  and `h[i] = v`), whose input is a fresh tensor holding h's node from before.  Ops recorded
  earlier that used h hand their gradients to that node (versions.nodes_when_recorded).
  If h is a view (h = x[0:2], x.reshape(...)), x changes too, and gets a node of its own:
  x from before with h's new values in their places (_rebase).  A leaf that requires grad,
  and a view of one, cannot be changed so.
Each change takes a number (grad_mode.next_number) and records the memory it wrote
(versions.record_change): a backward that reads a value from before the change, through
any alias of that memory, refuses to run (autograd.check_saved_inputs).
"""
import numpy as np

import minigrad  # the floors above, used at call time: minigrad.ops, minigrad.Tensor, minigrad.transforms
from minigrad.grad_mode import mode, next_number
from minigrad.versions import changed_in_place_at, mark_in_place, record_change, written_back


class InPlaceUpdates:
    """Tensor's base: the in-place operators and methods (see the module's docstring)."""
    __slots__ = ()

    def __iadd__(self, other): return self._in_place("+=", np.add, other, minigrad.ops.Add)
    def __isub__(self, other): return self._in_place("-=", np.subtract, other, minigrad.ops.Sub)
    def __imul__(self, other): return self._in_place("*=", np.multiply, other, minigrad.ops.Mul)
    def __itruediv__(self, other): return self._in_place("/=", np.true_divide, other, minigrad.ops.Div)
    def add_(self, other): return self._in_place("add_", np.add, other, minigrad.ops.Add)
    def sub_(self, other): return self._in_place("sub_", np.subtract, other, minigrad.ops.Sub)
    def mul_(self, other): return self._in_place("mul_", np.multiply, other, minigrad.ops.Mul)
    def div_(self, other): return self._in_place("div_", np.true_divide, other, minigrad.ops.Div)
    def fill_(self, value): return self._in_place("fill_", lambda a, v, out: np.copyto(out, v), value, _Fill)
    def zero_(self): return self.fill_(0)
    def copy_(self, other): return self.fill_(other)

    def __setitem__(self, index, value):
        index = minigrad.ops.plain_index(index)
        if (isinstance(value, minigrad.Tensor) and _is_part(value.data, self.data, index)
                and changed_in_place_at(self.grad_fn) == changed_in_place_at(value.grad_fn) != 0):
            written_back(value.data, changed_in_place_at(value.grad_fn))
            return  # x[i] = x[i], as `x[i] += v` ends: written, and recorded on x too (_rebase), already
        self._in_place("item assignment", lambda a, v, out: out.__setitem__(index, v), value, _Assign(index),
                       written=index)

    def _in_place(self, name, ufunc, other, op=None, written=None):
        """self.data changed by ufunc(data, other) in place, keeping this tensor's identity.
        written: the index of the part changed (item assignment), else all of it."""
        if (mode.grad_enabled and (self.requires_grad or getattr(other, "requires_grad", False))
                or minigrad.transforms.state.tangents and (_has_tangent(self) or _has_tangent(other))):
            if minigrad.transforms.state.batching:  # inside vmap, `h += x` makes a new batched tensor
                return _rebind(self, name, op, other, "inside vmap, a tensor in a graph")
            if self.grad_fn is None and not self.requires_grad and self.data.base is not None:
                # (a copy of its values: writing them back, as `c[0:2] *= w` does, must not change what Mul saved)
                return _rebind(minigrad.Tensor(self.data), name, op, other,
                               "a view made outside any graph (its base would not know)")
            return _change_in_graph(self, name, op, other)
        try:
            ufunc(self.data, np.asarray(other), out=self.data)
        except (TypeError, ValueError, IndexError) as err:
            raise type(err)(f"{name}: {err} (tensor shape {self.shape} {self.dtype}, "
                            f"value shape {np.shape(other)})") from err
        record_change(_part(self.data, written))  # ops that saved it (through any alias) refuse
        return self


def _part(array, index):
    """The part of array that `array[index] = v` writes: a view for a basic index, else all of array."""
    if index is None:
        return array
    part = array[index]
    return part if isinstance(part, np.ndarray) and np.may_share_memory(part, array) else array


def _is_part(value, array, index):
    """Whether `value` is exactly the view array[index] (the same memory, element for element)."""
    if value.base is None or not np.may_share_memory(value, array):
        return False
    part = array[index]
    layout = lambda a: (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype)  # noqa: E731
    return isinstance(part, np.ndarray) and layout(part) == layout(value)


def _change_in_graph(x, name, op, other):
    """x changed in place by op(x, other), recorded: x's node from before becomes the op's input."""
    bases = _refuse_in_graph(x, name, op, other)  # the tensors x is a view of, with where x sits in each
    number = next_number()  # older than the op: ops recorded before it that read x's old value must refuse
    before = _node_before(x, op.read_inputs is None or 0 in op.read_inputs)
    befores = [_node_before(base, False) for base, _ in bases]  # (before x's change reaches their memory)
    levels = minigrad.transforms.state.tangents  # inside jvp: `before` has x's tangent, and x takes the op's
    for level in levels:
        if x in level.tangents:
            level.tangents[before] = level.tangents[x]
    result = op.apply(before, before if other is x else other)  # (x *= x: both are x from before)
    if result.shape != x.shape:
        raise ValueError(f"{name}: the result has shape {result.shape}, but the tensor changed in place has shape "
                         f"{x.shape}; broadcasting cannot grow a tensor in place (write `y = y {name[0]} x`)")
    for level in levels:
        if result in level.tangents:
            level.tangents[x] = level.tangents.pop(result)
    fn = result.grad_fn  # (None in forward mode alone)
    try:
        np.copyto(x.data, result.data, casting="same_kind")  # into x's own array: its views see the change
    except TypeError as err:
        raise TypeError(f"{name}: the result ({result.dtype}) cannot be written into a {x.dtype} tensor in "
                        "place; make a new tensor instead") from err
    rebased = [base.data for base, _ in bases]  # arrays whose nodes now say what their memory holds
    if isinstance(op, _Assign) and isinstance(other, minigrad.Tensor) and _is_part(other.data, x.data, op.index):
        rebased.append(other.data)  # (x[i] = x[i] after x[i] was changed: the value's node is the change)
        written_back(other.data, number)
    record_change(x.data, number, in_graph=fn is not None, rebased=rebased)
    if fn is not None:
        mark_in_place(fn, number, before)
        x.grad_fn, x.requires_grad = fn, True
    view = x
    for (base, positions), base_before in zip(bases, befores):  # as PyTorch: the bases see the change too
        _rebase(base, base_before, view, positions, number)
        view = base
    return x


def _node_before(x, op_reads_it):
    """A fresh tensor holding x's node until now.  It keeps a copy of x's old value where a backward
    reads it: the op that made x, if it reads its output (Exp, Tanh), or the op about to be recorded."""
    keep_old = x.grad_fn is not None and x.grad_fn.reads_out or op_reads_it
    return minigrad.Tensor(x.data.copy() if keep_old else x.data, x.requires_grad, None, x.grad_fn, False)


def _rebase(base, before, view, positions, number):
    """base, whose memory the in-place change of `view` wrote, gets a node of its own for the change:
    base from before, with view's new values at `positions` (view's elements' flat positions in base)."""
    index = np.unravel_index(positions, base.shape)
    placed = minigrad.ops.ScatterAdd.apply(view, index=index, shape=base.shape)
    mask = np.zeros(base.shape, dtype=bool)
    mask[index] = True
    fn = minigrad.ops.MaskedFill.apply(before, placed, mask=mask).grad_fn  # (base holds these values already)
    mark_in_place(fn, number, before)
    base.grad_fn, base.requires_grad = fn, True


def _rebind(x, name, op, other, what):
    """`x += y` as `x = x + y`, a new tensor, where x itself cannot take the change into the graph:
    inside vmap (the batch rules make new tensors), or a view of a tensor outside any graph (as
    `c[0:2] += w` begins; its item assignment then records the change on c).  The explicit
    methods, which could not rebind x, are refused."""
    if name.endswith("="):
        return op.apply(x, other)
    raise RuntimeError(f"{name}: {what} cannot be changed in place by a value that requires grad; write "
                       "`y = y + x` (or `y += x`, which makes a new tensor there)")


class _Fill:
    """fill_ and copy_ in a graph, as an op for _change_in_graph: every element becomes value, whose
    gradient is the sum of grad; the old value gets none."""
    read_inputs = frozenset()  # (what the op's backward reads of the old value: nothing)

    @staticmethod
    def apply(before, value):
        return minigrad.ops.MaskedFill.apply(before, value, mask=np.array(True))  # (True broadcasts to all)


class _Assign:
    """x[index] = value in a graph, as an op for _change_in_graph: value placed at index (ScatterAdd,
    so its gradient is grad[index]), the old value kept elsewhere (MaskedFill)."""
    read_inputs = frozenset()

    def __init__(self, index):
        self.index = index

    def apply(self, before, value):
        try:
            chosen = np.arange(before.size).reshape(before.shape)[self.index]  # the elements x[index] names
        except IndexError as err:
            raise IndexError(f"item assignment: {err} (tensor shape {before.shape})") from err
        if np.unique(chosen).size != chosen.size:
            raise ValueError(f"item assignment: the index names an element more than once (shape {before.shape}); "
                             "inside a graph each element may be assigned once")
        if not isinstance(value, minigrad.Tensor):
            value = np.asarray(value)
        if value.shape != chosen.shape:  # (only then: a broadcast is a view of value's memory)
            value = np.broadcast_to(value, chosen.shape)
        placed = minigrad.ops.ScatterAdd.apply(value, index=self.index, shape=before.shape)
        mask = np.zeros(before.shape, dtype=bool)
        mask.flat[chosen.ravel()] = True
        return minigrad.ops.MaskedFill.apply(before, placed, mask=mask)


def _has_tangent(t):
    """Whether t carries a tangent (inside func.jvp)."""
    levels = minigrad.transforms.state.tangents
    return isinstance(t, minigrad.Tensor) and any(t in level.tangents for level in levels)


def _refuse_in_graph(x, name, op, other):
    """Refuse an in-place change, inside a graph, that the graph could not follow; else return the
    tensors x is a view of (nearest first), each with the flat positions of the view's elements in it."""
    value = getattr(other, "data", None)
    if (other is not x and isinstance(value, np.ndarray) and _overlap(value, x.data)
            and not (isinstance(op, _Assign) and _is_part(value, x.data, op.index))):  # (x[i] = x[i] is fine)
        raise RuntimeError(f"{name}: the value (shape {value.shape}) is a view of the tensor changed in place "
                           f"(shape {x.shape}), and the change would overwrite it while the graph still needs "
                           f"it; write `y = y {name[0]} v` instead")
    what, bases, view = None, [], x
    if x.requires_grad and x.grad_fn is None:
        what = f"a leaf that requires grad (shape {x.shape})"
    elif not x.data.flags.writeable:
        what = f"a read-only tensor (a broadcast view, shape {x.shape})"
    while what is None and (base := _viewed_base(view)) is not None:
        positions = _positions_in(view.data, base.data)
        if base.requires_grad and base.grad_fn is None:
            what = f"a view (shape {x.shape}) of a leaf that requires grad (shape {base.shape})"
        elif positions is None or minigrad.transforms.state.tangents:
            what = f"a view (shape {x.shape}) of a tensor of shape {base.shape}, which the graph cannot follow here,"
        bases.append((base, positions))
        view = base
    if what is None:
        return bases
    instead = {"item assignment": "`y = F.where(mask, value, y)` or `y = F.masked_fill(y, mask, value)`",
               "fill_": "`y = minigrad.full(y.shape, value)` or `y = x.copy()`"}.get(name, "`y = y + x`")
    raise RuntimeError(
        f"{name}: cannot change {what} in place while gradients are recorded.  Update parameters under "
        f"`with minigrad.no_grad():`, or write {instead} to make a new tensor")


def _viewed_base(x):
    """The tensor whose memory x's array views (an input of the op that made it: Reshape, GetItem,
    Transpose...), looking through in-place changes of x; None if x has memory of its own."""
    node = x
    while changed_in_place_at(node.grad_fn):
        node = node.grad_fn.__dict__["in_place"][1]
    fn = node.grad_fn
    if fn is None or fn.inputs is None:
        return None
    for base, array in zip(fn.inputs, fn.arrays):
        if isinstance(base, minigrad.Tensor) and base.data is array and _overlap(x.data, array):
            return base
    return None


def _positions_in(view, base):
    """The flat position in `base` of each element of `view`, an array of base's memory: base's
    positions are written into a scratch array laid out as the memory, and read back through view's
    layout.  None where strides are off the element grid (a view of another dtype)."""
    owner, size = base, base.itemsize
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    start = owner.__array_interface__["data"][0]
    offsets = [a.__array_interface__["data"][0] - start for a in (base, view)]
    if (view.itemsize != size or not (owner.flags.c_contiguous or owner.flags.f_contiguous)
            or any(n % size for n in offsets + list(base.strides) + list(view.strides))):
        return None
    slots = np.full(owner.nbytes // size, -1)  # one per element of memory

    def laid_out(a, offset):  # a's layout over the scratch array
        return np.lib.stride_tricks.as_strided(slots[offset // size:], a.shape,
                                               [n // size * slots.itemsize for n in a.strides])

    laid_out(base, offsets[0])[...] = np.arange(base.size).reshape(base.shape)
    positions = laid_out(view, offsets[1]).copy()
    return None if (positions < 0).any() else positions


def _overlap(a, b):
    """Whether arrays a and b share memory (the bounds first: quick, and enough for most pairs)."""
    return np.may_share_memory(a, b) and np.shares_memory(a, b)
