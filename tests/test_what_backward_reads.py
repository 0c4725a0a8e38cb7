"""What backward reads is what the engine checks (Function.reads).

An op's backward that reads a value changed in place since the op ran must refuse (an input
or the output); a value it does not read may change freely, and the gradient stays the one
at the values forward saw.  The sweep goes over every op in ALL_OPS, so a declaration that
says less than backward reads fails here."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import Tensor, no_grad
from minigrad.function import ALL_OPS, Function

IN_PLACE = "modified by an in-place operation"


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


# --- the reproducers ---------------------------------------------------------------

def test_exp_output_scaled_in_place_makes_backward_refuse():
    x = Tensor([0.0, 1.0], requires_grad=True)
    y = x.exp()
    with no_grad():
        y.mul_(2)  # backward reads out: it would give 2 exp(x)
    with pytest.raises(RuntimeError, match=r"Exp\.backward: its output \(shape \(2,\)\) was " + IN_PLACE):
        y.sum().backward()
    assert x.grad is None


def test_pruned_softmax_weights_make_backward_refuse():
    s = Tensor([[2.0, -3.0, 0.5], [0.0, 1.0, -6.0]], requires_grad=True)
    p = F.softmax(s)
    with no_grad():
        p[p.data < 1e-2] = 0  # prunes exp(-6) / (1 + e + exp(-6)) ≈ 0.0009 in the second row
    with pytest.raises(RuntimeError, match=r"Softmax\.backward: its output .*" + IN_PLACE):
        p[:, 0].sum().backward()


@pytest.mark.parametrize("make", [lambda x: x.sqrt(), lambda x: F.tanh(x), lambda x: F.sigmoid(x),
                                  lambda x: F.log_softmax(x), lambda x: 1.0 / x, lambda x: x ** 2.5],
                         ids=["sqrt", "tanh", "sigmoid", "log_softmax", "div", "pow"])
def test_outputs_that_backward_reads_are_checked(make):
    x = Tensor([0.5, 2.0], requires_grad=True)
    y = make(x)
    with no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="its output .*" + IN_PLACE):
        y.sum().backward()


X0 = np.array([0.5, -1.0])
P0 = np.exp(X0) / np.exp(X0).sum()  # softmax at the original x: [0.8176, 0.1824]
FALSE_ALARMS = {  # f, the gradient of f(x).sum() at X0, derived by hand
    "x + 1": (lambda x: x + 1, [1.0, 1.0]),
    "x.sum()": (lambda x: x.sum(), [1.0, 1.0]),
    "x.reshape": (lambda x: x.reshape(2, 1), [1.0, 1.0]),
    "x[0]": (lambda x: x[0], [1.0, 0.0]),
    "x.exp()": (lambda x: x.exp(), np.exp(X0)),
    "sigmoid": (F.sigmoid, sigmoid(X0) * (1 - sigmoid(X0))),
    "softmax[0]": (lambda x: F.softmax(x)[0], [P0[0] * P0[1], -P0[0] * P0[1]]),  # d p0 = p0 (e0 - p)
    "relu": (F.relu, [1.0, 0.0]),
}


@pytest.mark.parametrize("name", FALSE_ALARMS)
def test_a_leaf_backward_does_not_read_may_change_in_place(name):
    f, expected = FALSE_ALARMS[name]
    x = Tensor(X0, requires_grad=True)
    y = f(x)
    with no_grad():
        x.add_(3.0)  # the gradient is still the one at X0: backward reads only what forward kept
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12)


def test_an_input_backward_reads_is_still_checked():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([4.0, 8.0], requires_grad=True)
    y = a / b  # backward reads b and out, not a
    with no_grad():
        a.add_(1.0)
    y.sum().backward()
    np.testing.assert_allclose(a.grad.data, [0.25, 0.125])  # 1 / b
    np.testing.assert_allclose(b.grad.data, [-1 / 16, -2 / 64])  # -a / b² at the original a
    y = a / b
    with no_grad():
        b.add_(1.0)
    with pytest.raises(RuntimeError, match=r"Div\.backward: its input 1 .*" + IN_PLACE):
        y.sum().backward()


def test_reads_names_an_argument_of_backward():
    with pytest.raises(TypeError, match=r"_Typo\.reads names 'y', .*\['x', 'out'\]"):
        class _Typo(Function):
            reads = ("y",)

            def backward(self, grad, x, out):
                return grad


def test_reads_defaults_to_everything():
    class _Undeclared(Function):
        def backward(self, grad, x, out):
            return grad
    assert (_Undeclared.read_inputs, _Undeclared.reads_out) == (None, True)


# --- the sweep: every op, every declaration -----------------------------------------------

def build(op):
    """op on its first example: (output, the input tensors, a fixed upstream gradient)."""
    example = op.examples[0]
    rng = np.random.default_rng(7)
    low, high = example.domain
    inputs = [Tensor(rng.uniform(low, high, size=s), requires_grad=True) if isinstance(s, tuple) else s
              for s in example.shapes]
    out = op.apply(*inputs, **example.params)
    upstream = np.random.default_rng(8).standard_normal(out.shape)
    return out, inputs, upstream


def gradients(out, inputs, upstream):
    tensors = [x for x in inputs if isinstance(x, Tensor)]
    return minigrad.grad(out, tensors, upstream, retain_graph=True, allow_unused=True)


def assert_same_gradients(actual, expected, what):
    for a, e in zip(actual, expected):
        np.testing.assert_array_equal(None if a is None else a.data, None if e is None else e.data, err_msg=what)


def change_in_place(t):
    with no_grad():
        t.add_(0.75)


OPS = [op for op in ALL_OPS if op.examples]


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.__name__)
def test_output_changed_in_place(op):
    """Reads out: backward refuses.  Does not: backward gives the gradient forward's values give."""
    out, inputs, upstream = build(op)
    before = gradients(out, inputs, upstream)
    if not out.data.flags.writeable:  # a read-only view (broadcast_to): nothing can change it in place
        assert not op.reads_out
        return
    change_in_place(out)
    if op.reads_out:
        with pytest.raises(RuntimeError, match=f"{op.__name__}.backward: its output .*{IN_PLACE}"):
            gradients(out, inputs, upstream)
    else:
        assert_same_gradients(gradients(out, inputs, upstream), before,
                              f"{op.__name__} declares that backward does not read out, but it does")


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.__name__)
def test_inputs_changed_in_place(op):
    """Each tensor input in turn: refused if backward reads it, else the same gradients as before."""
    for i in range(len(op.examples[0].shapes)):
        out, inputs, upstream = build(op)
        if not isinstance(inputs[i], Tensor):
            continue
        before = gradients(out, inputs, upstream)
        change_in_place(inputs[i])
        if op.read_inputs is None or i in op.read_inputs:
            with pytest.raises(RuntimeError, match=f"{op.__name__}.backward: its input {i} .*{IN_PLACE}"):
                gradients(out, inputs, upstream)
        else:
            assert_same_gradients(gradients(out, inputs, upstream), before,
                                  f"{op.__name__} declares that backward does not read input {i}, but it does")
