"""Every demo runs headless in quick mode, saves its figures, and meets its stated criteria.

Each demo runs as its notebook (notebooks/NN_name.ipynb) runs, top to bottom in one
namespace with QUICK = True, so one run checks both; tests/test_notebooks.py checks that the
notebook's code cells are the script's.

The expected values come from outside the demo: the lecture notes' printed numbers,
NumPy formulas written here, finite differences, or the targets in the demo's brief.
Where quick mode trains for fewer steps than the full run, the relaxed threshold is said
next to the assertion; the full run (`python -m demos`) meets the full ones.
"""
import importlib
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="the demos draw with matplotlib (the test extra)")

matplotlib.use("Agg")


ROOT = Path(__file__).resolve().parent.parent


def run(name, tmp_path):
    """The demo's metrics from a run of its notebook's code cells in tmp_path (figures in
    tmp_path/figures); a demo that has no notebook yet (no # %% cells) runs its main()."""
    notebook, tool_path = ROOT / "notebooks" / f"{name}.ipynb", ROOT / "tools" / "make_notebooks.py"
    if not (notebook.exists() and tool_path.exists()):
        metrics = importlib.import_module(f"demos.{name}").main(out_dir=str(tmp_path / "figures"), seed=0, quick=True)
        outputs = None
    else:
        spec = importlib.util.spec_from_file_location("make_notebooks", tool_path)
        tool = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tool)
        outputs, namespace = tool.run_cells(tool.stored_cells(notebook), tmp_path)
        assert namespace["QUICK"] is True
        metrics = namespace["metrics"]
    pngs = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    assert pngs and all(p.startswith(name[:2]) for p in pngs), pngs
    if outputs is not None:
        shown = [o for cell in outputs for o in cell if "image/png" in o.get("data", {})]
        assert len(shown) == len(pngs), "the notebook shows every figure the demo saved"
    return metrics


def assert_attention_page(path, title, labels):
    """The demo wrote its attention page: self-contained (nothing fetched), titled, with its tokens."""
    html = path.read_text(encoding="utf-8")
    assert title in html and all(f'"{label}"' in html for label in labels), path.name
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), f"{path.name} fetches something"


def test_01_timeseries_reweighting(tmp_path):
    m = run("01_timeseries_reweighting", tmp_path)
    assert m["row_sum_error"] <= 1e-12
    assert 0.15 < m["mse_raw"] < 0.35                       # noise sd 0.5: E[MSE] = 0.25
    assert m["mse_sigma_3"] <= 0.25 * m["mse_raw"]
    assert m["mse_sigma_0.5"] > m["mse_sigma_3"] and m["mse_sigma_30"] > m["mse_sigma_3"]


def test_03_bank_of_the_river_reproduces_the_notes_and_its_gradient(tmp_path):
    m = run("03_bank_of_the_river", tmp_path)
    w_t_notes = [[0.2535, 0.2702, 0.2177, 0.2060], [0.2668, 0.3288, 0.1842, 0.1658],
                 [0.2371, 0.2031, 0.2834, 0.2910], [0.2426, 0.1978, 0.3147, 0.3372]]
    np.testing.assert_allclose(np.array(m["W"]).T, w_t_notes, atol=1.5e-4)  # V printed rounded to 4 places
    np.testing.assert_allclose(m["of"], [0.2361, 0.1879], atol=1e-4)
    np.testing.assert_allclose(m["river"], [0.1273, 0.3711], atol=1e-4)
    assert m["cos_before"] == pytest.approx(0.1842, abs=2e-4)
    assert m["cos_after"] == pytest.approx(0.9453, abs=1e-4)
    assert m["forms_agree"] < 1e-12
    assert 0.7 < m["fraction_cos_rises"] < 0.9              # "about 80%": measured, not the whole story

    # The gradient printed from backward() against central differences of plain NumPy.
    V0 = np.array([[0.2815, 0.0562], [0.5227, -0.2384], [-0.0499, 0.5263], [-0.0085, 0.7291]])

    def cos_after(V):  # plain NumPy, independent of minigrad
        S = V @ V.T
        W = np.exp(S - S.max(axis=1, keepdims=True))
        Y = W / W.sum(axis=1, keepdims=True) @ V
        return Y[0] @ Y[3] / np.linalg.norm(Y[0]) / np.linalg.norm(Y[3])

    h, numeric = 1e-6, np.zeros_like(V0)
    for idx in np.ndindex(V0.shape):
        e = np.zeros_like(V0)
        e[idx] = h
        numeric[idx] = (cos_after(V0 + e) - cos_after(V0 - e)) / (2 * h)
    np.testing.assert_allclose(m["grad_V"], numeric, atol=1e-8)


def test_02_nadaraya_watson_learns_the_best_width(tmp_path):
    m = run("02_nadaraya_watson_learned_width", tmp_path)
    x, y = np.array(m["x_train"]), np.array(m["y_train"])

    def loo_loss(width):  # plain NumPy: predict each point from the others
        w = np.exp(-(x[:, None] - x[None, :]) ** 2 / (2 * width ** 2))
        np.fill_diagonal(w, 0.0)
        return np.mean((w @ y / w.sum(axis=1) - y) ** 2)

    grid = np.geomspace(0.05, 3, 2000)
    best = grid[np.argmin([loo_loss(w) for w in grid])]
    assert m["steps"] <= 300
    assert abs(m["learned_width"] / best - 1) < 0.05
    assert m["mse_learned"] < m["mse_fixed"] < m["mse_average"]
    assert m["mse_learned"] < 0.15
    assert m["runaway_width"] < 0.1 * m["learned_width"]     # without leave-one-out the width collapses


def test_05_scaling_keeps_score_variance_at_one_and_masks_block_exactly(tmp_path):
    m = run("05_scaled_dot_product_and_masks", tmp_path)
    assert m["n_samples"] >= 10_000
    assert abs(m["var_raw_d64"] / 64 - 1) < 0.10            # Var(q·k) = d for unit-variance entries
    assert abs(m["var_scaled_d64"] - 1) < 0.10
    assert m["entropy_raw_d512"] < 0.5 < 2.0 < m["entropy_scaled_d512"]  # saturated vs spread (log 16 = 2.77)
    assert m["max_padded_weight"] == 0.0 and m["max_future_weight"] == 0.0
    assert m["padding_leak"] == 0.0


def test_04_learned_qkv_finds_the_sense_word_where_parameter_free_attention_cannot(tmp_path):
    m = run("04_learned_qkv", tmp_path)
    assert_attention_page(tmp_path / "figures" / "04_learned_qkv_attention.html", "demo 04: four ways of attending",
                          ["parameter-free, V ~ randn", "learned Q/K/V, V ~ randn"])
    assert m["steps"] <= 2000
    assert m["acc_learned_qkv"] >= 0.98 and m["to_sense_learned_qkv"] >= 0.4
    assert m["acc_param_free"] <= 0.80 and m["to_itself_param_free"] > 0.9    # "bank" only sees itself
    assert m["to_sense_param_free_unit"] < 0.2   # even when accurate, it does not single out the sense word
    assert m["acc_learned_embeddings"] >= 0.95 and m["to_sense_learned_embeddings"] >= 0.4


def test_06_heads_split_the_work_and_equal_single_heads_side_by_side(tmp_path):
    m = run("06_multi_head", tmp_path)
    assert_attention_page(tmp_path / "figures" / "06_multi_head_attention.html", "demo 06: four heads", [])
    assert m["heads_equal_gap"] < 1e-12
    assert m["acc_before"] >= 0.99 and m["acc_after"] >= 0.99
    assert m["best_look_back"] > 0.5 and m["best_look_ahead"] > 0.5       # one head looks back, another ahead
    assert m["back_head"] != m["ahead_head"]


def test_07_positional_encoding_follows_the_formula_and_depends_on_offsets_only(tmp_path):
    m = run("07_positional_encoding", tmp_path)
    p, i = np.arange(60)[:, None], np.arange(16)[None, :]
    angle = p / 10000 ** (2 * i / 32)                       # the paper's formula, written out here
    expected = np.stack([np.sin(angle), np.cos(angle)], axis=-1).reshape(60, 32)
    np.testing.assert_allclose(m["pe"], expected, atol=1e-12)
    assert m["norm_sq"] == pytest.approx(16.0, abs=1e-12)
    assert m["offset_error"] < 1e-12 and m["rotation_error"] < 1e-12
    s = m["similarity_by_offset"]
    assert s[0] > s[1] > s[2] > s[5] > s[10]


def test_08_tiny_transformer_reverses_with_positions_and_fails_without(tmp_path):
    m = run("08_tiny_transformer_reverse", tmp_path)      # quick: 200 steps instead of 1,000, same targets
    assert_attention_page(tmp_path / "figures" / "08_tiny_transformer_reverse_attention.html", "demo 08: the transformer",
                          ["layer 1"])                               # its place, not the name blocks.0.attn
    assert m["steps"] <= 1000
    assert m["accuracy"] >= 0.99
    assert m["anti_diagonal_rows"] >= 0.95                  # position i attends to position L-1-i
    assert m["accuracy_no_pe"] <= 0.40


def test_10_tiny_gpt_sorts_sequences_it_never_saw(tmp_path):
    m = run("10_tiny_gpt_sort", tmp_path)                 # quick: 400 steps instead of 1,000, same target
    assert m["steps"] <= 2000 and m["n_held_out"] == 183   # every fourth of the 729 inputs, never trained on
    assert m["accuracy"] >= 0.99
