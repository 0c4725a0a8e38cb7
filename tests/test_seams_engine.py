"""The engine at its seams: what backward reads is what forward saw, gradients are the
caller's own, grad mode behaves as in PyTorch.  Each expected value is derived by hand,
by NumPy or by finite differences, never by the code under test."""
import numpy as np
import pytest

import minigrad.functional as F
from minigrad import Tensor


# ---- masks and indices are copied when the op is recorded ----------------------------------
def test_where_mask_changed_after_the_call_does_not_change_the_gradient():
    x = Tensor([1.0, 1.0, 1.0], requires_grad=True)
    mask, out = np.zeros(3, bool), 0
    for i in range(3):  # mask i has True at 0..i, so x[j] is picked by 3 - j of the wheres
        mask[i] = True
        out = out + F.where(mask, x, 0.0).sum()
    out.backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 2.0, 1.0])


def test_masked_fill_mask_changed_after_the_call_does_not_change_the_gradient():
    x = Tensor([1.0, 1.0, 1.0], requires_grad=True)
    mask, out = np.zeros(3, bool), 0
    for i in range(3):  # x[j] survives the fills where mask is False: j of them
        mask[i] = True
        out = out + F.masked_fill(x, mask, 0.0).sum()
    out.backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 2.0])


def test_index_changed_after_the_call_does_not_change_the_gradient():
    for make_index in (np.array, Tensor):
        x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
        index = make_index([0, 0])
        y = x[index].sum()  # picks x[0] twice: d/dx = [2, 0, 0]
        (index.data if isinstance(index, Tensor) else index)[:] = 2
        mask = np.array([True, False, True])
        z = x[mask].sum()  # d/dx = [1, 0, 1]
        mask[:] = False
        (y + z).backward()
        np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 1.0])


# ---- PyTorch's dim= on Tensor methods ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "argmax", "argmin", "sum", "mean", "max", "min", "var",
                                  "squeeze"])
def test_tensor_methods_with_an_axis_answer_dim_with_the_hint(name):
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    with pytest.raises(TypeError, match=rf"^Tensor\.{name}\(\) got dim=: minigrad follows NumPy, so write axis= "):
        getattr(x, name)(dim=1)
    with pytest.raises(TypeError, match="write axis= and keepdims= where PyTorch writes dim= and keepdim="):
        getattr(x, name)(dim=1, keepdim=True)


def test_tensor_methods_with_an_axis_still_compute_numpys_answer():
    x0 = np.array([[0.5, -1.0, 2.0], [3.0, 0.0, -2.0]])
    x = Tensor(x0)
    e = np.exp(x0 - x0.max(axis=1, keepdims=True))
    np.testing.assert_allclose(x.softmax(axis=1).data, e / e.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(x.argmax(axis=1).data, x0.argmax(axis=1))
    np.testing.assert_array_equal(x.sum(axis=0, keepdims=True).data, x0.sum(axis=0, keepdims=True))
    np.testing.assert_allclose(x.var(axis=1, ddof=1).data, x0.var(axis=1, ddof=1))


# ---- grad mode is per thread, as PyTorch's ------------------------------------------------------
def test_another_threads_no_grad_does_not_stop_this_threads_graph():
    import threading
    from minigrad import no_grad
    inside, release, seen = threading.Event(), threading.Event(), {}

    def other():
        with no_grad():
            seen["other"] = (Tensor([1.0], requires_grad=True) * 2).requires_grad
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(5)
    try:
        y = Tensor([3.0], requires_grad=True) * 2  # recorded here while the other thread is in no_grad
    finally:
        release.set()
        thread.join()
    assert seen["other"] is False and y.requires_grad and y.grad_fn is not None
