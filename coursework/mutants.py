"""Wrong implementations made from right ones, to see whether the tests that grade a part notice.

A mutant is a change to a value: an output a forward pass returns, or a gradient a backward
returns.  Each change gives the changed value, or None where it does not apply (a 1-D value
cannot be transposed).  A mutant also notes whether it ever changed a value: one that never
did (transposing a symmetric matrix) is the right implementation again, not a miss."""
import functools
import inspect

import numpy as np

from minigrad.tensor import Tensor, unwrap


def transposed(value):
    return value.swapaxes(-1, -2) if len(value.shape) >= 2 else None


def square_transposed(value):
    """The transpose where it keeps the shape: the slip a shape check cannot see."""
    return transposed(value) if len(value.shape) >= 2 and value.shape[-1] == value.shape[-2] else None


NUMBER_CHANGES = {
    "times 1.5": lambda v: v * 1.5,
    "plus 0.1": lambda v: v + 0.1,
    "sign flipped": lambda v: -v,
    "transposed": transposed,
}
MASK_CHANGES = {
    "inverted": lambda m: ~m,
    "transposed": transposed,
    "shifted by one": lambda m: np.roll(m, 1, axis=-1) if np.ndim(m) else None,
}


class Mutant:
    """One named change; `changed` turns True once it has made a value differ."""

    def __init__(self, name, change):
        self.name, self.change, self.changed = name, change, False

    def __call__(self, value):
        """The changed value, or None where the change does not apply."""
        new = self.change(value)
        if new is not None and not self.changed:
            old, now = unwrap(value), unwrap(new)
            self.changed = np.shape(old) != np.shape(now) or not np.array_equal(old, now, equal_nan=True)
        return new

    def wrap(self, original, is_method):
        """`original` with this change applied to what it returns (see wrong_callable)."""
        return wrong_callable(original, self, is_method)


class MaskIgnored(Mutant):
    """A part that takes `mask` run as if none were given: the mask not passed on."""

    def __init__(self):
        super().__init__("mask ignored", None)

    def wrap(self, original, is_method):
        signature = inspect.signature(original)

        @functools.wraps(original)
        def wrong(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            mask = bound.arguments.get("mask")
            if mask is not None:
                self.changed = self.changed or not np.all(unwrap(mask))  # an all-True mask blocks nothing
                bound.arguments["mask"] = None
            return original(*bound.args, **bound.kwargs)
        return wrong


def is_array(value):
    return isinstance(value, Tensor | np.ndarray) and value.dtype.kind in "fcb"


def first_array(value):
    """The array a part's result leads with: itself, a tuple's first item, a list's first array."""
    if is_array(value):
        return value
    if isinstance(value, tuple | list) and value:
        return first_array(value[0])
    return None


def mutated_value(value, mutant):
    """`value` with `mutant` applied to its leading array (every array of a list), or None."""
    if is_array(value):
        return mutant(value)
    if isinstance(value, list):
        changed = [mutated_value(v, mutant) for v in value]
        return None if all(c is None for c in changed) else [v if c is None else c for v, c in zip(value, changed)]
    if isinstance(value, tuple) and value:
        first = mutated_value(value[0], mutant)
        return None if first is None else (first,) + value[1:]
    return None


def mutants_for(sample, part):
    """The mutants that fit `part` whose result looks like `sample`: masks get the boolean
    changes, and a part that takes a mask is also run without it."""
    array = first_array(sample)
    changes = MASK_CHANGES if array is not None and array.dtype == bool else NUMBER_CHANGES
    takes_a_mask = "mask" in inspect.signature(part).parameters
    return [Mutant(name, change) for name, change in changes.items()] + ([MaskIgnored()] if takes_a_mask else [])


def wrong_callable(original, mutant, is_method):
    """`original` with `mutant` applied to what it returns; when its result holds no array (a
    path, None), to the first argument that does (the weights a page is drawn from)."""
    @functools.wraps(original)
    def wrong(*args, **kwargs):
        out = original(*args, **kwargs)
        new = mutated_value(out, mutant)
        if new is not None or first_array(out) is not None:
            return out if new is None else new
        skip = 1 if is_method else 0
        for i, arg in enumerate(args[skip:], skip):
            changed = mutated_value(arg, mutant)
            if changed is not None:
                return original(*args[:i], changed, *args[i + 1:], **kwargs)
        return out
    return wrong
