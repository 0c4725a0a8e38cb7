"""minigrad.viz.draw_graph and attention.plot.plot_attention: what they draw, and their errors."""
import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="draw_graph and plot_attention draw with matplotlib (the test extra)")

import minigrad.functional as F
from attention.plot import plot_attention
from minigrad import Tensor
from minigrad.viz import draw_graph, graph_nodes

matplotlib.use("Agg")


def small_graph():
    V = Tensor(np.arange(8.0).reshape(4, 2) / 8, requires_grad=True)
    c = Tensor(np.ones(2))                                  # a constant: needs no gradient
    out = (F.softmax(V @ V.T, axis=-1) @ V + c).sum()
    return V, c, out


def test_graph_nodes_lists_every_tensor_inputs_first():
    V, c, out = small_graph()
    order, edges = graph_nodes(out)
    names = [type(t.grad_fn).__name__ if t.grad_fn else "leaf" for t in order]
    # V, V.T, V @ V.T, softmax, @ V, c, + c, sum: 8 tensors; V feeds three ops.
    assert sorted(names) == sorted(["leaf", "Transpose", "MatMul", "Softmax", "MatMul", "leaf", "Add", "Sum"])
    assert order[-1] is out
    position = {id(t): i for i, t in enumerate(order)}
    assert all(position[id(x)] < position[id(y)] for x, y in edges)
    assert sum(x is V for x, _ in edges) == 3 and sum(x is c for x, _ in edges) == 1


def test_draw_graph_saves_a_png_and_refuses_a_freed_graph(tmp_path):
    V, c, out = small_graph()
    draw_graph(out, tmp_path / "graph.png", names={"V": V})
    assert (tmp_path / "graph.png").read_bytes()[:4] == b"\x89PNG"
    out.backward()
    with pytest.raises(RuntimeError, match="draw_graph: the graph was freed"):
        draw_graph(out)
    with pytest.raises(TypeError, match="draw_graph: expected a Tensor"):
        draw_graph(np.ones(3))
    with pytest.raises(ValueError, match="draw_graph: the graph has 8 tensors, more than max_nodes=5"):
        draw_graph(small_graph()[2], max_nodes=5)


def test_plot_attention_one_map_and_a_row_of_heads():
    import matplotlib.pyplot as plt
    w = np.random.default_rng(0).dirichlet(np.ones(5), size=(3, 4))  # (H, T, S) = (3, 4, 5)
    fig = plot_attention(w, list("abcd"), list("vwxyz"))
    heatmaps = [a for a in fig.axes if a.images]
    assert len(heatmaps) == 3
    assert [t.get_text() for t in heatmaps[0].get_xticklabels()] == list("vwxyz")
    np.testing.assert_array_equal(heatmaps[1].images[0].get_array(), w[1])
    plt.close(fig)
    fig = plot_attention(Tensor(w[0]), list("abcd"), list("vwxyz"))
    assert len([a for a in fig.axes if a.images]) == 1
    plt.close(fig)


def test_plot_attention_errors_name_the_function_and_shapes():
    with pytest.raises(ValueError, match=r"plot_attention: 3 key_labels for 5 columns"):
        plot_attention(np.full((4, 5), 0.2), list("abcd"), list("xyz"))
    with pytest.raises(ValueError, match=r"plot_attention: weights must be .* got shape \(5,\)"):
        plot_attention(np.full(5, 0.2))
