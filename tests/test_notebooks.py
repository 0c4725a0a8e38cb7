"""The notebooks in notebooks/: their cells are their sources', they run top to bottom with
pytest alone, and the lecture notebook shows the notes' numbers.

Oracles: the sources (a notebook's cells must be what tools/make_notebooks.py writes from
them); the lecture notes' printed values, typed in here from the notes (PyTorch output,
4 decimals; the notes print V rounded, so a last digit may differ by one: atol 1.5e-4);
central differences in plain NumPy for the gradient.  The demo notebooks are run by
tests/test_demos.py, which takes each demo's numbers from its notebook's run.
"""
import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
LECTURE = ["00_lecture_notes.ipynb", "00_lecture_notes.ko.ipynb"]

# cell (its last line) -> the numbers the notes print for it
NOTES_PRINTED = {
    "V[0] @ V[0]": [0.0824],
    "V[0] @ V.T": [0.0824, 0.1338, 0.0155, 0.0386],
    "W.T": [0.2535, 0.2702, 0.2177, 0.2060, 0.2668, 0.3288, 0.1842, 0.1658,
            0.2371, 0.2031, 0.2834, 0.2910, 0.2426, 0.1978, 0.3147, 0.3372],
    "F.softmax(V[0] @ V.T, axis=0)": [0.2535, 0.2668, 0.2371, 0.2426],
    "transformed_of": [0.2361, 0.1879],
    "transformed_river": [0.1273, 0.3711],
    "(W[0, 0] * V[0, 0]).item()": [0.07136025],
    "cos_before": [0.1842],
    "cos_after": [0.9453],
}
V_NOTES = np.array([[0.2815, 0.0562], [0.5227, -0.2384], [-0.0499, 0.5263], [-0.0085, 0.7291]])
SOFTMAX_V_NOTES = [[0.2675, 0.1885], [0.3404, 0.1404], [0.1920, 0.3016], [0.2001, 0.3694]]


def load_tool():
    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "tools" / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def text_of(outputs):
    """Everything a cell shows as text (stdout, results, errors), figures left out."""
    shown = []
    for output in outputs:
        if output["output_type"] == "stream":
            shown.append("".join(output["text"]))
        elif output["output_type"] == "error":
            shown.append("\n".join(output["traceback"]))
        else:
            shown.append("".join(output["data"]["text/plain"]))
    return "\n".join(shown)


def numbers_in(text):
    """The decimals a Tensor's repr shows, e.g. 'Tensor([0.2361, 0.1879], grad_fn=Sum)' -> [0.2361, 0.1879]."""
    return [float(n) for n in re.findall(r"-?\d+\.\d*(?:e-?\d+)?", text.split("shape=")[0])]


def test_every_notebook_has_the_cells_of_its_source():
    assert load_tool().stale_notebooks() == [], "out of date: run python tools/make_notebooks.py"


def test_every_demo_is_a_notebook():
    demos = sorted(f"{p.stem}.ipynb" for p in (ROOT / "demos").glob("[0-9][0-9]_*.py"))
    notebooks = sorted(p.name for p in load_tool().notebook_sources())
    assert notebooks == LECTURE + demos, "a demo without # %% cells has no notebook"


def test_an_edited_source_or_a_stray_notebook_is_reported(tmp_path, monkeypatch):
    tool = load_tool()
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    monkeypatch.setattr(tool, "NOTEBOOKS", tmp_path / "notebooks")
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "00_lecture_notes.py", tmp_path / "notebooks")
    (tmp_path / "demos").mkdir()
    demo = tmp_path / "demos" / "01_tiny.py"
    demo.write_text('"""Demo 01 — tiny."""\n# %%\nN = 3\n\n\ndef main(out_dir, seed=0, quick=False):\n'
                    '    return {"n": N}\n\n\n# %%\nif __name__ == "__main__":\n    main()\n')
    for notebook, (_, language) in tool.notebook_sources().items():   # stored as written (outputs aside)
        cells = tool.cells_for(notebook)
        notebook.write_text(tool.notebook_json(cells, [[] for _ in cells], language), encoding="utf-8")
    assert sorted(p.name for p in tool.notebook_sources()) == [
        "00_lecture_notes.ipynb", "00_lecture_notes.ko.ipynb", "01_tiny.ipynb"]
    assert tool.stale_notebooks() == []
    demo.write_text(demo.read_text(encoding="utf-8").replace("N = 3", "N = 4"))
    lecture = tmp_path / "notebooks" / "00_lecture_notes.py"
    lecture.write_text(lecture.read_text(encoding="utf-8").replace("된 값을 그대로", "된 값을 다시"))
    (tmp_path / "notebooks" / "99_left_over.ipynb").write_text("{}")
    assert [p.name for p in tool.stale_notebooks()] == [
        "00_lecture_notes.ko.ipynb", "01_tiny.ipynb", "99_left_over.ipynb"]


@pytest.fixture(scope="module", params=LECTURE)
def lecture_run(request, tmp_path_factory):
    pytest.importorskip("matplotlib", reason="the notebooks draw with matplotlib (the test extra)")
    """(stored notebook json, fresh outputs per cell, namespace) of a lecture notebook run now."""
    tool = load_tool()
    path = ROOT / "notebooks" / request.param
    outputs, namespace = tool.run_cells(tool.stored_cells(path), tmp_path_factory.mktemp("run"))
    return json.loads(path.read_text(encoding="utf-8")), outputs, namespace


def test_the_stored_outputs_are_what_running_the_lecture_notebook_shows(lecture_run):
    stored, fresh, _ = lecture_run
    for cell, outputs in zip(stored["cells"], fresh):
        if cell["cell_type"] == "code":
            assert text_of(cell["outputs"]) == text_of(outputs), "".join(cell["source"])
            assert [o["output_type"] for o in cell["outputs"]] == [o["output_type"] for o in outputs]


def test_the_lecture_notebook_shows_the_notes_numbers(lecture_run):
    stored, _, _ = lecture_run
    shown = {"".join(cell["source"]).splitlines()[-1]: text_of(cell["outputs"])
             for cell in stored["cells"] if cell["cell_type"] == "code"}
    for last_line, printed in NOTES_PRINTED.items():
        np.testing.assert_allclose(numbers_in(shown[last_line]), printed, atol=1.5e-4, err_msg=last_line)
    np.testing.assert_allclose(numbers_in(shown["V"]), V_NOTES.ravel(), atol=0)
    assert "cos_after.backward()" in "".join("".join(c["source"]) for c in stored["cells"])


def test_the_lecture_notebook_reaches_the_notes_numbers_every_way(lecture_run):
    _, _, ns = lecture_run
    assert ns["W"].shape == (4, 4)
    np.testing.assert_allclose(ns["W"].data.sum(axis=1), 1.0, atol=1e-12)
    for Y in (ns["Y"], ns["Y_einsum"]):                       # W @ V and einsum
        np.testing.assert_allclose(Y.data[1], NOTES_PRINTED["transformed_of"], atol=1e-4)
        np.testing.assert_allclose(Y.data[3], NOTES_PRINTED["transformed_river"], atol=1e-4)
    np.testing.assert_allclose(ns["softmax_V"].data, SOFTMAX_V_NOTES, atol=1.5e-4)
    assert ns["cos_before"].item() == pytest.approx(0.1842, abs=1.5e-4)
    assert ns["cos_after"].item() == pytest.approx(0.9453, abs=1e-4)


def test_the_notes_failing_cell_shows_minigrads_error(lecture_run):
    stored, fresh, _ = lecture_run
    for cell, outputs in zip(stored["cells"], fresh):
        if "".join(cell["source"]) == "V[0].reshape(1, 2) * V.T":
            [error] = [o for o in outputs if o["output_type"] == "error"]
            assert cell["metadata"]["tags"] == ["raises-exception"]
            assert error["ename"] == "ValueError"
            assert "Mul" in error["evalue"] and "(1, 2)" in error["evalue"] and "(2, 4)" in error["evalue"]
            return
    pytest.fail("the notes' failing cell is missing")


def test_the_gradient_of_the_cosine_is_the_finite_difference_one(lecture_run):
    _, _, ns = lecture_run

    def cos_after(V):  # plain NumPy, independent of minigrad
        W = np.exp(V @ V.T)
        Y = W / W.sum(axis=1, keepdims=True) @ V
        return Y[0] @ Y[3] / np.linalg.norm(Y[0]) / np.linalg.norm(Y[3])

    h, numeric = 1e-6, np.zeros((4, 2))
    for idx in np.ndindex(4, 2):
        step = np.zeros((4, 2))
        step[idx] = h
        numeric[idx] = (cos_after(V_NOTES + step) - cos_after(V_NOTES - step)) / (2 * h)
    np.testing.assert_allclose(ns["V"].grad.data, numeric, atol=1e-8)


def test_a_cell_that_should_fail_and_does_not_stops_the_run(tmp_path):
    pytest.importorskip("matplotlib", reason="the notebook executor draws with matplotlib (the test extra)")
    tool = load_tool()
    with pytest.raises(RuntimeError, match="tagged raises-exception"):
        tool.run_cells([("code", "1 + 1", ["raises-exception"])], tmp_path)
    with pytest.raises(RuntimeError, match=r"In\[2\] failed: ZeroDivisionError"):
        tool.run_cells([("code", "x = 1", []), ("code", "x / 0", [])], tmp_path)
