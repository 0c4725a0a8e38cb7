"""Aliases share the version check (issue 20 item 2): a view (`x[0:2]`, `x.reshape`, `x.T`),
`x.detach()`, a tensor around `x.data` and the base of a view all write the same memory, so a
change through any of them after an op saved a value its backward reads makes that backward
refuse; a change to memory the backward does not read leaves the gradient at forward's values."""
import gc
import weakref

import numpy as np
import pytest

from minigrad import Tensor, no_grad, optim, versions

IN_PLACE = "modified by an in-place operation"
X0 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])

ALIASES = {
    "detach": lambda x: x.detach(),
    "x[0:1]": lambda x: x[0:1],
    "x[:, 1]": lambda x: x[:, 1],
    "reshape": lambda x: x.reshape(3, 2),
    "T": lambda x: x.T,
    "around .data": lambda x: Tensor(x.data, copy=False),
}
CHANGES = {
    "+=": lambda a: a.__iadd__(1.0),
    "add_": lambda a: a.add_(1.0),
    "mul_": lambda a: a.mul_(3.0),
    "[0] = 5": lambda a: a.__setitem__(0, 5.0),
    "zero_": lambda a: a.zero_(),
}


@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("alias", ALIASES)
def test_a_saved_input_changed_through_an_alias_makes_backward_refuse(alias, change):
    x = Tensor(X0, requires_grad=True)
    y = (x * x).sum()  # Mul reads x: d/dx = 2 x at forward's x, which the change overwrites
    with no_grad():
        CHANGES[change](ALIASES[alias](x))
    assert not np.array_equal(x.data, X0)  # the change reached x's memory
    with pytest.raises(RuntimeError, match=r"Mul\.backward: its input 0 \(shape \(2, 3\)\) was " + IN_PLACE):
        y.backward()
    assert x.grad is None


def test_the_issues_reproducer_detach():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    with no_grad():
        x.detach().add_(1.0)  # backward would give 2 (x + 1) = [4, 6, 8] instead of [2, 4, 6]
    with pytest.raises(RuntimeError, match=r"Mul\.backward: its input 0 .*" + IN_PLACE):
        y.backward()


def test_changing_the_base_after_a_view_of_it_was_saved():
    w = Tensor([2.0], requires_grad=True)
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = w * x[0:1]  # Mul saved the view x[0:1]; its backward reads it for w's gradient
    with no_grad():
        x += 1.0
    with pytest.raises(RuntimeError, match=r"Mul\.backward: its input 1 \(shape \(1,\)\) was " + IN_PLACE):
        y.backward()


def test_changing_a_view_of_an_output_that_backward_reads():
    x = Tensor([0.0, 1.0], requires_grad=True)
    y = x.exp()  # Exp.backward reads its output
    with no_grad():
        y.reshape(2, 1).mul_(2.0)
    with pytest.raises(RuntimeError, match=r"Exp\.backward: its output \(shape \(2,\)\) was " + IN_PLACE):
        y.sum().backward()


def test_memory_backward_does_not_read_may_change():
    """Only memory shared with what backward reads counts: other elements of the same array may change."""
    w = Tensor([2.0], requires_grad=True)
    x = Tensor(X0, requires_grad=True)
    y = (w * x[0, 0:1]).sum() + (w * x[:, 2]).sum()  # reads x[0, 0] and the last column
    with no_grad():
        x[1, 0:2].add_(10.0)  # a temporary view, gone after this line: its bounds still tell
        x[:, 1] = -7.0  # between the read elements: same bounds as x[:, 2], other memory
    y.backward()
    np.testing.assert_array_equal(w.grad.data, [X0[0, 0] + X0[0, 2] + X0[1, 2]])  # d/dw by hand: 1 + 3 + 6
    np.testing.assert_array_equal(x.grad.data, [[2.0, 0.0, 2.0], [0.0, 0.0, 2.0]])


def test_a_change_before_the_op_ran_through_an_alias_is_fine():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        x.detach().mul_(3.0)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [6.0, 12.0])  # 2 x at x = [3, 6]


def test_records_stay_few_and_go_with_their_memory():
    w = Tensor(np.ones(4), requires_grad=True)
    regions = lambda: sum(len(entry[1]) for entry in versions._written.values())  # noqa: E731
    start = regions()
    for step in range(1000):  # a hand-written training loop: one region, changed again and again
        with no_grad():
            w -= 0.001 * np.ones(4)
    assert regions() == start + 1
    for i in range(4 * versions.MAX_REGIONS):  # many regions of one array merge into one
        with no_grad():
            w[i % 4:i % 4 + 1 + i // 4 % 2] = 0.0 if i else 1.0
    assert regions() <= start + versions.MAX_REGIONS
    memory = weakref.ref(w.data)
    del w
    gc.collect()
    assert memory() is None  # the records held nothing alive
    assert all(entry[0]() is not None for entry in versions._written.values())  # and went with the memory


def test_merged_records_still_refuse():
    x = Tensor(np.arange(1.0, 41.0), requires_grad=True)
    y = (x[39:] * x[39:]).sum()
    with no_grad():
        for i in reversed(range(40)):  # the read element first; 40 regions: more than MAX_REGIONS, so merged
            x[i] = x.data[i] + 1.0
    with pytest.raises(RuntimeError, match=r"Mul\.backward: its input 0 .*" + IN_PLACE):
        y.backward()


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1), lambda ps: optim.Adam(ps, lr=0.1)],
                         ids=["SGD", "Adam"])
def test_an_optimizer_step_before_backward_makes_it_refuse(make):
    """The optimizer writes each parameter's array in place, as PyTorch's does: a graph built
    before the step reads the old values (the classic 'step between forward and backward')."""
    w = Tensor([1.0, 2.0], requires_grad=True)
    opt = make([w])
    (w * w).sum().backward()
    loss = (w * w).sum()  # Mul reads w
    opt.step()
    with pytest.raises(RuntimeError, match=r"Mul\.backward: its input 0 .*" + IN_PLACE):
        loss.backward()
    w.grad = None
    (w * w).sum().backward()  # a graph built after the step is fine: 2 w at the new w
    np.testing.assert_allclose(w.grad.data, 2 * w.data)
