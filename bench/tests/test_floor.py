"""The floor engines compute the chain's gradients (else their times would mean nothing)."""
import numpy as np
import pytest

from bench import floor
from bench import numpy_baseline as nb
from bench.workloads import Workload, chain_inputs


@pytest.mark.parametrize("backward", [floor.bare_backward, floor.checked_backward])
@pytest.mark.parametrize("k", [1, 5])
def test_floor_chain_matches_the_hand_derived_gradients(backward, k):
    x, w = chain_inputs(k)
    run = floor.chain_step(backward)(Workload("chain", "chain", (x, w), {"k": k}, {}, np.float64))
    loss, (gx, gw) = run()
    want_loss, (want_gx, want_gw) = nb.chain(x, w, k)
    np.testing.assert_allclose(loss, want_loss)
    np.testing.assert_allclose(gx, want_gx)  # hand: w**k
    np.testing.assert_allclose(gx, w ** k)
    np.testing.assert_allclose(gw, want_gw)


def test_checked_floor_refuses_a_freed_graph():
    x, w = chain_inputs(1)
    y = floor._Node(x, requires_grad=True) * floor._Node(w, requires_grad=True)
    loss = y.sum()
    floor.checked_backward(loss)
    with pytest.raises(RuntimeError):
        floor.checked_backward(loss)
