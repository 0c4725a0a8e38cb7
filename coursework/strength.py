"""How strong the exercises on ops are: each op's backward, made wrong in three ways, must
fail the gradient checks that grade it (the sweep's finite differences on its examples).

    python -m coursework.strength      # a table: op, wrong backwards caught of 3
"""
import numpy as np

from minigrad import GradcheckError, gradcheck
from tests.test_ops_sweep import CASES, call, make_inputs

MUTANTS = {
    "times 1.5": lambda g: g * 1.5,
    "plus 0.1": lambda g: g + 0.1,
    "sign flipped": lambda g: -g,
}


def mutated(backward, change):
    """`backward` with `change` applied to its first gradient that is not None."""
    def wrong(self, *args, **kwargs):
        grads = backward(self, *args, **kwargs)
        if not isinstance(grads, tuple):
            return change(grads)
        first = next(i for i, g in enumerate(grads) if g is not None)
        return grads[:first] + (change(grads[first]),) + grads[first + 1:]
    return wrong


def caught(op, change):
    """True when some example of `op` fails gradcheck with the mutated backward."""
    original = op.__dict__.get("backward")
    op.backward = mutated(op.backward, change)
    try:
        for example_op, _, example in CASES:
            if example_op is op:
                try:
                    if not gradcheck(call(op, example), make_inputs(example)):
                        return True
                except GradcheckError:
                    return True
        return False
    finally:
        if original is None:
            del op.backward
        else:
            op.backward = original


def strength(ops):
    """(op name, names of the mutants its checks catch) for each op."""
    return [(op.__name__, [name for name, change in MUTANTS.items() if caught(op, change)]) for op in ops]


if __name__ == "__main__":
    from minigrad.ops import ALL_OPS
    np.seterr(all="ignore")
    for name, names in strength(ALL_OPS):
        print(f"{name:24s} {len(names)}/{len(MUTANTS)}")
