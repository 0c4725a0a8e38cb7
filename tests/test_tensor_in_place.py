"""In-place changes, the version check, and the Python habits a student brings from
PyTorch or micrograd: each either works as there, or fails with an error that says what to do."""
import numpy as np
import pytest

import minigrad
from minigrad import Tensor


def quadratic_loss(w):
    return ((w * 3.0 - 1.0) ** 2).sum()  # minimum at w = 1/3; gradient 6 (3w - 1)


def test_update_under_no_grad_keeps_the_leaf():
    w = Tensor([1.0, 2.0], requires_grad=True)
    before = id(w)
    quadratic_loss(w).backward()
    with minigrad.no_grad():
        w -= 0.01 * w.grad
    assert id(w) == before and w.requires_grad and w.is_leaf
    np.testing.assert_allclose(w.data, [1.0, 2.0] - 0.01 * 6 * (3 * np.array([1.0, 2.0]) - 1))


def test_hand_written_training_loop_converges():
    w = Tensor([1.0, 2.0], requires_grad=True)
    losses = []
    for _ in range(30):
        loss = quadratic_loss(w)
        losses.append(loss.item())
        loss.backward()
        with minigrad.no_grad():
            w -= 0.05 * w.grad
        w.grad = None
    np.testing.assert_allclose(w.data, [1 / 3, 1 / 3], atol=1e-6)
    assert losses[-1] < 1e-9 < losses[0]


def test_every_in_place_method_under_no_grad():
    t = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    with minigrad.no_grad():
        t += 1
        t *= 2
        t /= 4
        t.sub_(0.5).add_(1.0).mul_(2.0)
        np.testing.assert_allclose(t.data, ((np.array([1.0, 2.0, 3.0]) + 1) * 2 / 4 - 0.5 + 1) * 2)
        t[1] = 7.0
        assert t.data[1] == 7.0
        t.copy_(Tensor([4.0, 5.0, 6.0]))
        np.testing.assert_array_equal(t.data, [4.0, 5.0, 6.0])
        t.fill_(2.0)
        np.testing.assert_array_equal(t.data, [2.0, 2.0, 2.0])
        t.zero_()
    np.testing.assert_array_equal(t.data, [0.0, 0.0, 0.0])
    assert t.requires_grad and t.is_leaf


def test_in_place_on_a_leaf_that_requires_grad_is_refused_while_recording():
    w = Tensor([1.0, 2.0], requires_grad=True)
    for change in (lambda: w.__isub__(1.0), lambda: w.add_(1.0), lambda: w.__setitem__(0, 5.0)):
        with pytest.raises(RuntimeError, match="leaf that requires grad.*no_grad"):
            change()
    np.testing.assert_array_equal(w.data, [1.0, 2.0])


def test_augmented_assignment_inside_a_graph_is_recorded():
    x = Tensor([1.0, -2.0, 0.5], requires_grad=True)
    y = x * 2.0
    node = y
    y *= x          # y itself changes, as in NumPy and PyTorch: now 2 x², recorded in the graph
    y += 1.0
    assert y is node
    np.testing.assert_array_equal(y.data, 2 * x.data ** 2 + 1)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 4 * x.data)  # d/dx (2x² + 1) by hand


def test_explicit_in_place_methods_inside_a_graph_are_recorded():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    assert y.add_(1.0).mul_(x) is y  # (2x + 1) x, as PyTorch records add_ and mul_
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 4 * x.data + 1)  # d/dx (2x² + x) by hand
    z = x * 2.0
    assert z.zero_() is z and z.grad_fn is not None
    (z + x).sum().backward()  # after zero_, z no longer depends on x: x.grad grows by 1
    np.testing.assert_allclose(x.grad.data, 4 * x.data + 2)


def test_changing_a_saved_input_in_place_makes_backward_refuse():
    a = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    y = (a * c).sum()
    c += 1.0  # c does not require grad: allowed, but Mul saved it for a's gradient
    with pytest.raises(RuntimeError, match=r"Mul\.backward: its input 1 .*modified by an in-place operation"):
        y.backward()


def test_changes_before_the_op_ran_are_fine():
    a = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    c += 1.0
    (a * c).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [4.0, 5.0])


def test_data_minus_equals_with_a_tensor_grad():
    w = Tensor([1.0, 2.0], requires_grad=True)
    quadratic_loss(w).backward()
    w.data -= 0.1 * w.grad
    np.testing.assert_allclose(w.data, np.array([1.0, 2.0]) - 0.1 * 6 * (3 * np.array([1.0, 2.0]) - 1))
    w.grad.zero_()
    np.testing.assert_array_equal(w.grad.data, [0.0, 0.0])


def test_in_place_errors_name_the_shapes():
    t = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\+=.*\(2, 3\).*\(4,\)"):
        t += np.ones(4)


def test_python_number_protocols():
    assert float(Tensor([2.5])) == 2.5 and int(Tensor(3.0)) == 3
    np.testing.assert_array_equal(abs(Tensor([-1.0, 2.0])).data, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"one-element.*\(2,\)"):
        float(Tensor([1.0, 2.0]))


def test_method_twins_match_numpy():
    x = np.array([[0.5, -1.0, 2.0], [3.0, 0.0, -0.5]])
    t = Tensor(x)
    np.testing.assert_array_equal(t.relu().data, np.maximum(x, 0))
    np.testing.assert_allclose(t.sigmoid().data, 1 / (1 + np.exp(-x)))
    e = np.exp(x - x.max(axis=0))
    np.testing.assert_allclose(t.softmax(axis=0).data, e / e.sum(axis=0))
    np.testing.assert_allclose(t.log_softmax().data, x - np.log(np.exp(x).sum(axis=-1, keepdims=True)))
    np.testing.assert_array_equal(t.argmax(axis=1).data, x.argmax(axis=1))
    assert t.argmin().item() == x.argmin() and not t.argmax().requires_grad
    np.testing.assert_array_equal(t.permute(1, 0).data, x.T)


@pytest.mark.parametrize("call, hint", [
    (lambda t: t.sum(dim=0), "axis="), (lambda t: t.mean(dim=1, keepdim=True), "axis="),
    (lambda t: t.view(6), "reshape"), (lambda t: t.float(), "astype"), (lambda t: t.dim(), "ndim"),
    (lambda t: t.clone(), r"copy\(\)"), (lambda t: t.to(np.float32), r"astype\(dtype\)"),
    (lambda t: t.to("cuda"), "CPU only"), (lambda t: t.expand(4, 2, 3), r"np\.broadcast_to\(x, shape\)"),
    (lambda t: t.numel(), r"the \.size property"),
])
def test_pytorch_spellings_get_a_hint(call, hint):
    with pytest.raises(TypeError, match=f"minigrad follows NumPy.*{hint}"):
        call(Tensor(np.ones((2, 3))))


def test_size_stays_numpys_element_count_an_int():
    t, x = Tensor(np.ones((2, 3))), np.ones((2, 3))
    assert t.size == x.size == 6 and type(t.size) is type(x.size) is int and hash(t.size) == hash(6)
    assert t.size * 2 == 12 and type(t.size * 2) is int and t.size // 4 == 1
    assert list(range(t.size)) == list(range(6)) and [0] * t.size == [0] * 6
    assert np.zeros(t.size).shape == (6,) and x.reshape(t.size).shape == (6,)
    assert f"{t.size}" == repr(t.size) == str(t.size) == "6"


def test_dividing_by_size_keeps_float32():
    x = Tensor(np.arange(4, dtype=np.float32))
    mean = x.sum() / x.size  # as NumPy: a Python int does not promote float32
    assert mean.dtype == (x.data.sum() / x.data.size).dtype == np.float32


@pytest.mark.parametrize("shape, axes", [((2, 3), (0, 1)), ((2, 3), (-2, -1)), ((4, 2, 3), (-2, -1)), ((4, 2, 3), (1, 2))])
def test_a_pytorch_style_two_axis_transpose_gets_a_hint(shape, axes):
    # q @ k.transpose(-2, -1) would silently be q @ k on 2-D: NumPy reads (0, 1) as the identity
    with pytest.raises(ValueError, match=r"swapaxes.*\.T.*\.mT"):
        Tensor(np.ones(shape)).transpose(*axes)


def test_mT_swaps_the_last_two_axes_and_a_real_transpose_still_works():
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(Tensor(x).mT.data, np.swapaxes(x, -1, -2))
    np.testing.assert_array_equal(Tensor(x[0]).transpose(1, 0).data, x[0].T)
    np.testing.assert_array_equal(Tensor(x).transpose(2, 0, 1).data, x.transpose(2, 0, 1))
    np.testing.assert_array_equal(Tensor(x[0]).permute(0, 1).data, x[0])
