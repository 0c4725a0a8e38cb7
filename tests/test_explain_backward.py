"""minigrad.viz.explain_backward and BackwardTrace: the trace the engine records during a real
backward(), and the page's data drawn from it.  The page itself is checked in a real browser
in tests/test_pages.py."""
import json
import re

import numpy as np
import pytest

from minigrad import Tensor
from minigrad.viz import BackwardTrace, explain_backward, graph_nodes


def broadcast_and_fan_out(seed=0):
    """loss = Σ_ij (x_i b_j)² + 3 Σ_j b_j: x (3, 1) and b (4,) are broadcast, h = x b is used twice
    by one op, and b by two ops.  By hand: dloss/dx_i = 2 x_i Σ_j b_j², dloss/db_j = 2 b_j Σ_i x_i² + 3."""
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((3, 1)), requires_grad=True)
    b = Tensor(rng.standard_normal(4), requires_grad=True)
    h = x * b                                                   # (3, 4)
    loss = (h * h + b).sum()
    by_hand = {"x": 2 * x.data * (b.data ** 2).sum(), "b": 2 * b.data * (x.data ** 2).sum() + 3}
    return x, b, h, loss, by_hand


def sweep_order(loss):
    """The ops in the order the engine calls their backward, seen by wrapping each one."""
    called = []
    for t in graph_nodes(loss)[0]:
        fn = t.grad_fn
        if fn is not None:
            fn.backward = (lambda fn, inner: lambda *a: (called.append(fn), inner(*a))[1])(fn, fn.backward)
    return called


def test_trace_leaf_gradients_are_the_grads_and_its_order_is_the_sweeps(tmp_path):
    x, b, h, loss, by_hand = broadcast_and_fan_out()
    called = sweep_order(loss)
    trace = explain_backward(loss, tmp_path / "b.html", names={"x": x, "b": b})
    assert [s["fn"] for s in trace.ops] == called and len(called) == 4          # Sum, Add, Mul (h h), Mul (x b)
    numbers = [s["number"] for s in trace.ops]
    assert numbers == sorted(numbers, reverse=True)                             # newest first
    leaves = {id(t): g for t, g in trace.leaves}
    assert set(leaves) == {id(x), id(b)}
    np.testing.assert_array_equal(leaves[id(x)], x.grad.data)
    np.testing.assert_array_equal(leaves[id(b)], b.grad.data)
    np.testing.assert_allclose(x.grad.data, by_hand["x"], rtol=1e-12)
    np.testing.assert_allclose(b.grad.data, by_hand["b"], rtol=1e-12)


def test_each_arriving_gradient_is_the_sum_of_what_was_handed_to_that_tensor(tmp_path):
    x, b, h, loss, _ = broadcast_and_fan_out(1)
    trace = explain_backward(loss, tmp_path / "b.html")
    handed_to = {}
    for s in trace.ops:
        if s["output"] is not loss:
            np.testing.assert_allclose(s["grad"], sum(handed_to[id(s["output"])]), rtol=1e-12)
        for x_in, raw, fitted in s["handed"]:
            handed_to.setdefault(id(x_in), []).append(fitted)
            assert fitted.shape == x_in.shape
    assert len(handed_to[id(h)]) == 2 and len(handed_to[id(b)]) == 2            # h * h; b in two ops
    raw_shapes = {id(x_in): raw.shape for s in trace.ops for x_in, raw, _ in s["handed"] if x_in is x}
    assert raw_shapes[id(x)] == (3, 4)                                          # broadcast, summed back to (3, 1)


def test_the_page_data_says_where_gradients_are_summed_back_and_added(tmp_path):
    x, b, h, loss, _ = broadcast_and_fan_out(2)
    explain_backward(loss, tmp_path / "b.html", names={"x": x, "b": b})
    text = (tmp_path / "b.html").read_text(encoding="utf-8")
    assert not re.search(r'\b(src|href)=|<link|@import|url\((?!#)', text)       # nothing loaded from elsewhere
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1))
    label = {i: n["label"] for i, n in enumerate(data["nodes"])}
    steps = data["steps"]
    assert [s["op"] for s in steps] == ["Sum", "Add", "Mul", "Mul"]
    into_b = [(k, h_) for k, s in enumerate(steps) for h_ in s["handed"] if label[h_["node"]] == "b"]
    assert [h_["summed"] for _, h_ in into_b] == [True, True]                   # (3, 4) -> (4,) both times
    assert into_b[0][1]["added_to"] == [] and into_b[1][1]["added_to"] == [into_b[0][0]]
    np.testing.assert_allclose(into_b[1][1]["total"]["values"], b.grad.data, rtol=1e-12)
    assert "newest" in steps[1]["why"] and "d output / d output = 1" in steps[0]["why"]
    assert sorted(label[leaf["node"]] for leaf in data["leaves"]) == ["b", "x"]


def test_big_tensors_show_shape_and_norm_and_large_graphs_are_refused(tmp_path):
    w = Tensor(np.full((5, 5), 2.0), requires_grad=True)
    explain_backward((w * w).sum(), tmp_path / "b.html", max_values=16)
    text = (tmp_path / "b.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1))
    leaf = data["leaves"][0]["grad"]
    assert "values" not in leaf and leaf["shape"] == [5, 5] and leaf["norm"] == pytest.approx(4.0 * 5)
    y = w
    for _ in range(30):
        y = y * 1.0
    with pytest.raises(ValueError, match="explain_backward: the graph has 32 tensors, more than max_nodes=20"):
        explain_backward(y.sum(), tmp_path / "c.html", max_nodes=20)


def test_backward_trace_copies_what_it_is_handed():
    trace = BackwardTrace()
    g = np.ones(3)
    trace.leaf(Tensor(np.zeros(3), requires_grad=True), g)
    g += 1                                                      # the sweep may add into its sums later
    np.testing.assert_array_equal(trace.leaves[0][1], np.ones(3))


def test_the_students_own_backward_still_works_after_the_page_and_grads_add_up(tmp_path):
    x, b, h, loss, by_hand = broadcast_and_fan_out(4)
    explain_backward(loss, tmp_path / "b.html")
    np.testing.assert_allclose(x.grad.data, by_hand["x"], rtol=1e-12)        # as one backward() leaves it
    loss.backward()                                                           # the graph is kept: no error
    np.testing.assert_allclose(x.grad.data, 2 * by_hand["x"], rtol=1e-12)    # and .grad accumulates, as documented
    np.testing.assert_allclose(b.grad.data, 2 * by_hand["b"], rtol=1e-12)
    x2, b2, h2, loss2, _ = broadcast_and_fan_out(5)
    explain_backward(loss2, tmp_path / "c.html", retain_graph=False)          # asked to free it: freed
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss2.backward()
    doc = explain_backward.__doc__
    assert ".grad" in doc and "your own\n    loss.backward() still works" in doc
