"""Exercise strength: every op's grading checks fail on three wrong backwards, and pass on
the right one (so a catch means the mutant, not a check that always fails)."""
import numpy as np
import pytest

from coursework.strength import MUTANTS, caught, strength
from minigrad.ops import ALL_OPS


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda op: op.__name__)
def test_checks_pass_on_the_reference_backward(op):
    assert not caught(op, lambda g: g), f"{op.__name__}'s checks fail on its own backward"


def test_every_wrong_backward_is_caught():
    with np.errstate(all="ignore"):
        missed = [(name, sorted(set(MUTANTS) - set(names))) for name, names in strength(ALL_OPS)
                  if len(names) < len(MUTANTS)]
    assert not missed, f"wrong backwards the checks let pass: {missed}"
