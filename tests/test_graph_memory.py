"""The graph keeps only what backward reads: a big intermediate that no backward reads (the input
of an op that does not read it, made by an op that does not read its output) is let go as soon as
the caller's own tensor goes, and every gradient stays what it was (hand derivations below)."""
import gc
import weakref

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import Tensor
from minigrad.function import RELEASE_BYTES

N = RELEASE_BYTES // 8 + 10  # float64 elements: just above the size the graph lets go of


def x_and_big():
    x = Tensor(np.linspace(-1.0, 1.0, N), requires_grad=True)
    return x, x * 3.0  # Mul does not read its output


def test_an_intermediate_no_backward_reads_is_freed_once_the_caller_drops_it():
    x, big = x_and_big()
    y = big + 1.0  # Add reads neither input
    array = weakref.ref(big.data)
    del big
    gc.collect()
    assert array() is None, "the graph kept an array that no backward reads"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full(N, 3.0))  # d(3x + 1)/dx


def test_masked_scores_are_freed_before_softmax_runs_backward():
    s = Tensor(np.random.default_rng(0).standard_normal((4, 64, 64)), requires_grad=True)
    scaled = s * 0.5
    masked = scaled + np.triu(np.full((64, 64), -1e9), 1)
    refs = [weakref.ref(scaled.data), weakref.ref(masked.data)]
    p = F.softmax(masked, axis=-1)
    del scaled, masked
    gc.collect()
    assert [r() is None for r in refs] == [True, True]
    upstream = np.random.default_rng(1).standard_normal(p.shape)
    (p * upstream).sum().backward()
    # d/ds of softmax(0.5 s + mask): 0.5 p (u - sum(u p)), by hand
    pv = p.data
    expected = 0.5 * pv * (upstream - (upstream * pv).sum(-1, keepdims=True))
    np.testing.assert_allclose(s.grad.data, expected, rtol=1e-12, atol=1e-15)


def test_the_callers_own_tensor_keeps_its_values_and_its_gradient():
    x, big = x_and_big()
    y = big + 1.0
    big.retain_grad()  # after an op that let the graph drop it
    np.testing.assert_array_equal(big.data, 3.0 * x.data)
    (y * 2.0).sum().backward()
    np.testing.assert_array_equal(big.grad.data, np.full(N, 2.0))
    np.testing.assert_array_equal(x.grad.data, np.full(N, 6.0))


@pytest.mark.parametrize("drop", [True, False])
def test_a_tensor_fed_to_ops_that_read_it_and_ops_that_do_not_is_one_node(drop):
    x, big = x_and_big()
    loss = (big + 1.0).sum() + (big * big).sum() + (big - 2.0).sum()  # Mul reads big; Add and Sub do not
    if drop:
        del big
        gc.collect()
    loss.backward()
    # d/dx of (3x + 1) + 9x² + (3x - 2), summed: 3 + 18x + 3
    np.testing.assert_allclose(x.grad.data, 6.0 + 18.0 * x.data, rtol=1e-12)


def test_grad_of_a_released_intermediate():
    x, big = x_and_big()
    loss = (big + 1.0).sum() * 2.0
    (g_big,) = minigrad.grad(loss, [big])
    np.testing.assert_array_equal(g_big.data, np.full(N, 2.0))


def test_second_derivatives_through_a_released_intermediate():
    x = Tensor(np.linspace(-1.0, 1.0, N), requires_grad=True)
    y = ((x * x) + 1.0).sum()  # Add releases x * x
    (g,) = minigrad.grad(y, [x], create_graph=True)  # 2x
    np.testing.assert_allclose(g.data, 2.0 * x.data)
    (g * Tensor(np.ones(N))).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full(N, 2.0))


def test_the_drawn_graph_has_one_node_per_tensor():
    from minigrad.viz import graph_nodes
    x, big = x_and_big()
    loss = (big + 1.0).sum() + (big * big).sum()
    order, _ = graph_nodes(loss)
    assert sum(t is big for t in order) == 1
    assert len(order) == 7  # x, big, big + 1, its sum, big * big, its sum, loss
