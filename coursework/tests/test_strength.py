"""Exercise strength: every op's grading checks fail on each wrong version that changes a value,
and pass on the right one (so a catch means the mutant, not a check that always fails); layers
and functions, a few chosen from every file and kind here (`python -m coursework strength` runs
them all), fail their grading tests on at least three; a grader without tests is reported weak."""
import numpy as np
import pytest

from coursework import generator, strength
from coursework.mutants import NUMBER_CHANGES, MaskIgnored, Mutant, mutated_value, square_transposed, wrong_callable
from coursework.parts import find_targets
from minigrad import Tensor
from minigrad.ops import ALL_OPS

ROOT = generator.PROJECT
# Quick to grade, and between them: nn.py's layers, an attention layer, a mask, the reweighting.
PARTS = ["ReLU.forward", "GELU.forward", "TransformerStack.forward", "padding_mask", "gaussian_weights",
         "nadaraya_watson"]


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda op: op.__name__)
def test_checks_pass_on_the_reference_op(op):
    unchanged = [("backward", "backward as is", strength.on_first_gradient, lambda g: g * 1.0),
                 ("forward", "forward as is", strength.on_output, lambda out: out * 1.0)]
    assert strength.op_strength(op, unchanged).named("caught") == [], f"{op.__name__}'s checks fail on the reference"


def test_every_wrong_op_that_changes_a_value_is_caught():
    rows = [strength.op_strength(op) for op in ALL_OPS]
    missed = {row.part: row.named("missed") for row in rows if row.named("missed")}
    assert not missed, f"wrong versions the sweep lets pass: {missed}"
    assert not [row.part for row in rows if row.weak]


def test_layers_and_functions_fail_their_grading_when_wrong(capsys):
    assert generator.main(["strength", *PARTS]) == 0
    lines = capsys.readouterr().out.splitlines()
    for part in PARTS:
        line = next(line for line in lines if line.split()[1:2] == [part])
        caught, _, of = line.split()[2:5]
        assert int(caught) == int(of) >= strength.MIN_CAUGHT, line
    assert lines[-1] == f"{len(PARTS)} of {len(PARTS)} parts fail their grading on at least 3 wrong versions"


def test_a_grader_without_tests_is_reported_weak():
    relu = next(t for t in find_targets(ROOT) if t.qualname == "ReLU.forward")
    row = strength.part_strength(relu, ["tests/test_ops_registry.py"], ROOT)  # no test there calls ReLU
    assert row.tests == 0 and row.weak and row.named("caught") == []
    assert "ReLU.forward" in strength.table([row]).splitlines()[1] and "TOO WEAK" in strength.table([row])


def test_a_change_that_alters_nothing_is_told_apart():
    symmetric, transpose = np.eye(3), Mutant("transposed", square_transposed)
    assert np.array_equal(transpose(symmetric), symmetric) and not transpose.changed
    assert transpose(np.ones(3)) is None and not transpose.changed  # 1-D: not applicable
    transpose(np.arange(4.0).reshape(2, 2))
    assert transpose.changed


def test_a_mutant_changes_what_a_part_leads_with():
    scale = Mutant("times 1.5", NUMBER_CHANGES["times 1.5"])
    out, weights = mutated_value((Tensor([1.0, 2.0]), np.array([0.5])), scale)
    np.testing.assert_array_equal(out.data, [1.5, 3.0])
    np.testing.assert_array_equal(weights, [0.5])  # the rest of a result is left alone
    assert mutated_value(["a", np.array([2.0])], scale)[1] == 3.0  # every array of a list
    drawn = []
    page = wrong_callable(lambda weights, path: drawn.append(weights) or path, scale, is_method=False)
    assert page(np.array([2.0]), "page.html") == "page.html" and drawn[-1] == 3.0  # no array out: the input


def test_a_part_that_takes_a_mask_is_also_run_without_it():
    def masked_sum(x, mask=None):
        return x.sum() if mask is None else x[mask].sum()
    ignored = MaskIgnored()
    wrong = ignored.wrap(masked_sum, is_method=False)
    x = np.arange(4.0)
    assert wrong(x) == 6.0 and not ignored.changed
    assert wrong(x, mask=np.ones(4, bool)) == 6.0 and not ignored.changed  # all True blocks nothing
    assert wrong(x, np.array([True, False, True, False])) == 6.0 and ignored.changed
