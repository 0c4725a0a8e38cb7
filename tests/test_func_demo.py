"""Demo 12 (forward and reverse mode) in quick mode, run as its notebook, against oracles from
outside minigrad: the notes' printed cosine, central differences in plain NumPy, the kernel
width's optimum found by a grid in plain NumPy, and one example's gradient by differences."""
import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the demos draw with matplotlib (the test extra)")
from test_demos import run  # noqa: E402

V_NOTES = np.array([[0.2815, 0.0562], [0.5227, -0.2384], [-0.0499, 0.5263], [-0.0085, 0.7291]])


def softmax_rows(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def attend(V):
    return softmax_rows(V @ V.T) @ V


def cosine_after(V):
    Y = attend(V)
    return Y[0] @ Y[3] / np.linalg.norm(Y[0]) / np.linalg.norm(Y[3])


def differences(f, x, eps=1e-6):
    columns = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = eps
        e = e.reshape(x.shape)
        columns.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps))
    return np.stack(columns, axis=-1)


def test_12_both_modes_give_the_notes_derivatives_and_newton_beats_gradient_descent(tmp_path):
    m = {key: [np.asarray(p) for p in value] if key == "params" else np.asarray(value) if isinstance(value, list)
         else value for key, value in run("12_forward_and_reverse", tmp_path).items()}   # (a notebook's are lists)
    assert abs(m["cosine"] - 0.9453) < 1.5e-4  # the notes' printed value (V printed rounded)
    numeric = differences(cosine_after, V_NOTES).reshape(4, 2)
    np.testing.assert_allclose(m["grad_reverse"], numeric, atol=1e-8)
    np.testing.assert_allclose(m["grad_forward"], numeric, atol=1e-8)
    np.testing.assert_allclose(m["jacobian"], differences(attend, V_NOTES).reshape(8, 8), atol=1e-8)

    x, y = m["x_train"], m["y_train"]

    def loo_loss(width):  # demo 02's leave-one-out loss in plain NumPy
        scores = -(x[:, None] - x[None, :]) ** 2 / (2 * width ** 2)
        np.fill_diagonal(scores, -np.inf)
        return np.mean((softmax_rows(scores) @ y - y) ** 2)

    grid = np.geomspace(0.1, 0.4, 3001)
    best = grid[np.argmin([loo_loss(w) for w in grid])]
    assert abs(m["newton_width"] / best - 1) < 1e-3
    assert m["newton_steps"] < 15 and m["gd_steps"] > 3 * m["newton_steps"]

    assert m["norms"].shape == (16,) and m["loop_gap"] < 1e-12
    sizes = [w.size for w in m["params"]]

    def first_example_loss(flat):  # the attention model in plain NumPy, on example 0
        parts = np.split(flat, np.cumsum(sizes)[:-1])
        Wq, Wk, Wv, w_out = (part.reshape(w.shape) for part, w in zip(parts, m["params"]))
        x = m["X"][0]
        weights = softmax_rows((x @ Wq) @ (x @ Wk).T / np.sqrt(x.shape[-1]))
        return np.mean(((weights @ (x @ Wv)) @ w_out - m["targets"][0]) ** 2)

    gradient = differences(first_example_loss, np.concatenate([w.ravel() for w in m["params"]]))
    assert abs(np.linalg.norm(gradient) / m["norms"][0] - 1) < 1e-6
