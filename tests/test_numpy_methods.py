"""The NumPy array methods a NumPy user reaches for on a Tensor: flatten, ravel, squeeze,
copy (and np.squeeze, np.ravel, np.expand_dims on Tensors).  Each gives NumPy's answer on
the same array, carries the gradient back (checked against finite differences), and where
NumPy refuses (squeezing an axis that is not size 1) refuses too, naming the axis and shape.

Oracles: NumPy itself on the same arrays; minigrad.gradcheck (central differences)."""
import itertools

import numpy as np
import pytest

import minigrad
from minigrad import Tensor, gradcheck

X = np.random.default_rng(0).standard_normal((1, 2, 1, 3))


@pytest.mark.parametrize("name, call, numpy_call", [
    ("flatten", lambda t: t.flatten(), lambda x: x.flatten()),
    ("ravel", lambda t: t.ravel(), lambda x: x.ravel()),
    ("copy", lambda t: t.copy(), lambda x: x.copy()),
    ("squeeze", lambda t: t.squeeze(), lambda x: x.squeeze()),
    ("squeeze 0", lambda t: t.squeeze(0), lambda x: x.squeeze(0)),
    ("squeeze -2", lambda t: t.squeeze(-2), lambda x: x.squeeze(-2)),
    ("squeeze (0, 2)", lambda t: t.squeeze((0, 2)), lambda x: x.squeeze((0, 2))),
    ("np.squeeze", lambda t: np.squeeze(t, axis=2), lambda x: np.squeeze(x, axis=2)),
    ("np.ravel", np.ravel, np.ravel),
    ("np.expand_dims", lambda t: np.expand_dims(t, (0, -1)), lambda x: np.expand_dims(x, (0, -1))),
])
def test_numpys_answer_and_the_gradient(name, call, numpy_call):
    out = call(Tensor(X, requires_grad=True))
    assert out.shape == numpy_call(X).shape and out.dtype == X.dtype
    np.testing.assert_array_equal(out.data, numpy_call(X))
    assert gradcheck(call, [Tensor(X)])


def test_flatten_and_copy_make_new_arrays_and_ravel_shares_as_numpy():
    t = Tensor(X)
    flat, copied, raveled = t.flatten(), t.copy(), t.ravel()
    with minigrad.no_grad():
        t += 1.0
    np.testing.assert_array_equal(flat.data, X.ravel())
    np.testing.assert_array_equal(copied.data, X)
    assert np.shares_memory(raveled.data, t.data) == np.shares_memory(X.ravel(), X)


def test_copy_keeps_the_dtype_and_integers_carry_no_gradient():
    assert Tensor(X.astype(np.float32), requires_grad=True).copy().dtype == np.float32
    ints = Tensor(np.arange(6).reshape(2, 3))
    out = ints.copy()
    np.testing.assert_array_equal(out.data, np.arange(6).reshape(2, 3))
    assert out.dtype == ints.dtype and not out.requires_grad and not np.shares_memory(out.data, ints.data)


def test_a_copy_is_an_independent_node_of_the_graph():
    w = Tensor([1.0, -2.0], requires_grad=True)
    (w * w.copy()).sum().backward()  # d/dw sum(w * w) = 2w, through both paths
    np.testing.assert_array_equal(w.grad.data, [2.0, -4.0])


SHAPES = [(), (1,), (3,), (1, 1), (2, 1), (1, 2, 1, 3), (0, 1)]
AXES = [None, 0, 1, -1, -2, 3, -5, (0,), (0, 1), (1, 0), (0, -1), (0, 0), ()]


def numpys_outcome(numpy_call):
    """The shape NumPy gives, or the class of error it raises."""
    try:
        return numpy_call().shape
    except (ValueError, IndexError) as err:
        return type(err)


# Left out: NumPy's old allowance that a 0-d array squeezes a lone axis 0 or -1 it does not
# have; minigrad refuses that axis (test_bad_axes_are_clear_errors).
@pytest.mark.parametrize("shape, axis", [(shape, axis) for shape, axis in itertools.product(SHAPES, AXES)
                                         if not (shape == () and axis in (0, -1))])
def test_squeeze_and_expand_dims_agree_with_numpy_on_every_shape_and_axis(shape, axis):
    x, t = np.zeros(shape), Tensor(np.zeros(shape))
    for numpy_call, minigrad_call in [(lambda: x.squeeze(axis), lambda: t.squeeze(axis)),
                                      (lambda: np.squeeze(x, axis), lambda: np.squeeze(t, axis))] + (
            [] if axis is None else [(lambda: np.expand_dims(x, axis), lambda: np.expand_dims(t, axis))]):
        expected = numpys_outcome(numpy_call)
        if isinstance(expected, tuple):
            assert minigrad_call().shape == expected
        else:
            with pytest.raises(expected):
                minigrad_call()


def test_squeezing_an_axis_that_is_not_size_1_names_the_axis_and_the_shape():
    t = Tensor(X)
    with pytest.raises(ValueError):
        X.squeeze(1)  # NumPy refuses too
    with pytest.raises(ValueError, match=r"squeeze: cannot drop axis 1 of shape \(1, 2, 1, 3\): its size is 2, not 1"):
        t.squeeze(1)
    with pytest.raises(ValueError, match=r"axis 3 of shape \(1, 2, 1, 3\): its size is 3"):
        np.squeeze(t, axis=(0, -1))


@pytest.mark.parametrize("call, error, message", [
    (lambda t: t[0, 0, 0, 0].squeeze(0), np.exceptions.AxisError, r"squeeze: axis 0 is out of bounds for 0 axes"),
    (lambda t: t.squeeze(4), np.exceptions.AxisError, r"squeeze: axis 4 is out of bounds for 4 axes.*\(1, 2, 1, 3\)"),
    (lambda t: t.squeeze((0, -4)), ValueError, r"squeeze: axis \(0, -4\) names the same axis twice"),
    (lambda t: t.squeeze(0.0), TypeError, r"squeeze: axis must be an int or a tuple of ints, got 0.0"),
    (lambda t: np.expand_dims(t, 5), np.exceptions.AxisError, r"expand_dims: axis 5 is out of bounds for 5 axes"),
    (lambda t: np.ravel(t, order="F"), TypeError, r"np\.ravel on minigrad Tensors does not support order"),
])
def test_bad_axes_are_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(Tensor(X))
