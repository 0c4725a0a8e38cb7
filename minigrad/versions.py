"""What each in-place change wrote, and what a backward checks after one.

An in-place change (in_place.py) records the memory it wrote under a number from
grad_mode.next_number.  A backward that runs after some change (the rare branch of
autograd.run_rule) asks of each array its op's backward reads (Function.reads):
was memory it shares written after the op ran?  Memory, not tensors: a view (`x[0:2]`,
`x.reshape(...)`, `x.T`), `x.detach()` and the base of a view all share it, so a change
through any of them is seen.  `x.data` is NumPy's own array: a change made with NumPy
(`x.data += 1`) is not seen, as PyTorch does not see one through its `.data`.

The records stay small: they are kept per array that owns the memory, held weakly (they
go when that memory does), one per region written (a later change of the same region
replaces the earlier), and past MAX_REGIONS regions of one array they merge into one.

An in-place change inside a graph (`h += 1` with grad on) gives h a new grad_fn, whose
input is a fresh tensor holding h's node from before (in_place.py).  An op recorded
earlier still has h among its inputs; `nodes_when_recorded` hands its gradient to the node
h was when that op ran.
"""
import functools
import weakref

import numpy as np
from numpy.lib.array_utils import byte_bounds

from minigrad.grad_mode import changes, next_number

MAX_REGIONS = 16
_written = {}  # id(array owning the memory) -> (weak reference to it, {where: _Region})
_written_back = {}  # id(a view's array) -> (weak reference to it, the change that wrote it back into its base)


class _Region:
    """A region of an array's memory that changes wrote: where (byte offset in its owner, shape,
    strides, dtype: None once merged), its byte bounds (from the owner's start), the latest change,
    and the latest made inside a graph, with weak references to the arrays whose nodes record it."""
    __slots__ = ("where", "low", "high", "number", "graph_number", "graph_arrays")

    def __init__(self, where, low, high):
        self.where, self.low, self.high = where, low, high
        self.number = self.graph_number = 0
        self.graph_arrays = ()


def record_change(array, number=None, in_graph=False, rebased=()):
    """Remember that an in-place change wrote `array`'s memory: change `number` (a new number if None;
    in_graph: an in-place op recorded in the graph; rebased: the arrays of the tensors it is a view
    of, whose nodes were given the change too)."""
    number = next_number() if number is None else number
    owner = _owner(array)
    key = id(owner)
    entry = _written.get(key)
    if entry is None or entry[0]() is not owner:  # (a dead owner's id may be taken again)
        entry = _written[key] = (weakref.ref(owner, functools.partial(_forget, key)), {})
    regions = entry[1]
    if owner is array and (array.flags.c_contiguous or array.flags.f_contiguous):  # (the usual case)
        where, low, high = (0, array.shape, array.strides, array.dtype), 0, array.nbytes
    else:
        start = _address(owner)
        low, high = (bound - start for bound in byte_bounds(array))
        where = (_address(array) - start, array.shape, array.strides, array.dtype)
    region = regions.get(where)
    if region is None:
        region = regions[where] = _Region(where, low, high)
    region.number = number  # (a later change of the same region outdates the earlier)
    if in_graph:
        region.graph_number = number
        region.graph_arrays = tuple(weakref.ref(a) for a in (array, *rebased))
    if len(regions) > MAX_REGIONS:
        _merge(regions)
    changes.last = max(changes.last, number)


def refuse_overwritten_reads(fn, out):
    """Raise if a value fn's backward reads (an input or the output, Function.reads) was changed
    in place since fn ran, or if `out` was changed inside a graph through a view or base of it."""
    name = type(fn).__name__
    for i, array in enumerate(fn.arrays):
        if (fn.read_inputs is None or i in fn.read_inputs) and overwritten(array, fn.number):
            raise RuntimeError(
                f"{name}.backward: its input {i} (shape {np.shape(array)}) was modified by an in-place operation "
                f"after {name} used it, and {name}.backward reads it, so its gradient would be wrong; change a "
                "copy instead, or compute the forward again after the change")
    regions = _regions_touching(out.data)
    if not regions:  # (most outputs: nothing written in their memory)
        return
    if fn.reads_out and overwritten(out.data, fn.number, regions):
        raise RuntimeError(
            f"{name}.backward: its output (shape {out.shape}) was modified by an in-place operation after {name} "
            f"computed it, and {name}.backward reads it, so its gradient would be wrong; change a copy instead "
            "(e.g. `y = y * 2`, or `F.masked_fill(y, mask, 0)` for `y[mask] = 0`)")
    if changed_in_graph_through_an_alias(out.data, fn.number, regions):
        raise RuntimeError(
            f"{name}.backward: its output (shape {out.shape}) shares memory with a tensor changed in place inside "
            f"the graph after {name} computed it (a view of it, or the tensor it is a view of), so its value is not "
            f"what the graph says; make the view after the change, or write `h = h + 1` instead of `h += 1`")


def overwritten(array, since, regions=None):
    """Whether a change after op number `since` wrote memory that `array` shares.
    (regions: _regions_touching(array), if already known.)"""
    regions = _regions_touching(array) if regions is None else regions
    return any(region.number > since and _shares(owner, region, array) for owner, region in regions)


def changed_in_graph_through_an_alias(array, since, regions):
    """Whether an in-place op recorded in a graph after op number `since` wrote memory of `array`
    through another array (a view of it, or its base): the graph of `array` does not know of it.
    (Not after `array` was written back into its base, as `x[i] += v` ends: see written_back.)"""
    back = _written_back.get(id(array))
    until = back[1] if back is not None and back[0]() is array else float("inf")
    for owner, region in regions:
        if since < region.graph_number < until and not any(ref() is array for ref in region.graph_arrays):
            if _shares(owner, region, array):
                return True
    return False


def written_back(array, number):
    """Remember that change `number` wrote `array` (a view) back into its base, as `x[i] += v` ends
    with x[i] = (the view just changed): its node was used there, so later changes of the base,
    recorded on the base's node, do not make it stale (no later op uses that temporary)."""
    key = id(array)
    _written_back[key] = (weakref.ref(array, functools.partial(_forget_written_back, key)), number)


def _forget_written_back(key, ref):
    entry = _written_back.get(key)
    if entry is not None and entry[0] is ref:
        del _written_back[key]


def nodes_when_recorded(fn, inputs=None):
    """fn's inputs (or `inputs`, in their place), each as the node it was when fn ran: an input
    changed in place inside a graph since then has a new grad_fn, which keeps the node from
    before (mark_in_place)."""
    inputs = tuple(fn.inputs if inputs is None else inputs)
    for i, x in enumerate(inputs):
        changed = x
        while changed_in_place_at(getattr(changed, "grad_fn", None)) > fn.number:
            changed = changed.grad_fn.__dict__["in_place"][1]  # the node before that change
        if changed is not x:
            inputs = inputs[:i] + (changed,) + inputs[i + 1:]
    return inputs


def mark_in_place(fn, number, before):
    """Mark fn as the op of in-place change `number`, whose input `before` is the node changed.
    (Kept here, not only in fn.inputs, which the sweep drops once fn has run.)"""
    fn.__dict__["in_place"] = (number, before)


def changed_in_place_at(fn):
    """The number of the in-place change fn made (mark_in_place), or 0 for any other op (or None)."""
    in_place = None if fn is None else fn.__dict__.get("in_place")
    return 0 if in_place is None else in_place[0]


def _owner(array):
    """The array that owns `array`'s memory (a view's base)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def _address(array):
    return array.__array_interface__["data"][0]


def _regions_touching(array):
    """(owner, region) for each recorded region of array's memory whose byte bounds meet array's."""
    if not isinstance(array, np.ndarray):  # a constant input (a number)
        return []
    owner = array if array.base is None else _owner(array)
    entry = _written.get(id(owner))
    if entry is None or entry[0]() is not owner:
        return []
    start = _address(owner)
    low, high = (bound - start for bound in byte_bounds(array))
    return [(owner, region) for region in entry[1].values() if region.low < high and low < region.high]


def _shares(owner, region, array):
    """Whether the region shares array's memory: exactly (np.shares_memory on the region rebuilt over
    its owner's memory), or, for merged regions, by their bounds (already known to meet)."""
    if region.where is None:
        return True
    offset, shape, strides, dtype = region.where
    try:
        written = np.ndarray(shape, dtype, buffer=owner, offset=offset, strides=strides)
    except (TypeError, ValueError):  # memory that does not export a buffer: its bounds say enough
        return True
    return np.shares_memory(written, array)


def _merge(regions):
    """Many regions of one array (x[i] = v in a loop) become one: their bounds, their latest numbers."""
    merged = _Region(None, min(r.low for r in regions.values()), max(r.high for r in regions.values()))
    merged.number = max(r.number for r in regions.values())
    merged.graph_number = max(r.graph_number for r in regions.values())
    regions.clear()
    regions[None] = merged


def _forget(key, ref):
    """The owner of some recorded memory is gone: so are its records."""
    entry = _written.get(key)
    if entry is not None and entry[0] is ref:
        del _written[key]
