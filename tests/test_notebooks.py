"""The notebooks in notebooks/: their cells are their sources', they run top to bottom in a
Jupyter kernel (nbclient, as a student's Jupyter runs them), and the lecture notebook shows
the notes' numbers.

Oracles: the sources (a notebook's cells must be what tools/make_notebooks.py makes of them
with jupytext); cells written out by hand for a small demo; the lecture notes' printed
values, typed in here from the notes (PyTorch output, 4 decimals; the notes print V rounded,
so a last digit may differ by one: atol 1.5e-4); central differences in plain NumPy for the
gradient.  The demo notebooks are run by tests/test_demos.py, which takes each demo's numbers
from its notebook's run.
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
# Printed by an extra cell after the notebook's own, in the same kernel.
PROBE = ("import json\n"
         "shown = dict(W=W, Y=Y, Y_einsum=Y_einsum, softmax_V=softmax_V, cos_before=cos_before,\n"
         "             cos_after=cos_after, V=V, V_grad=V.grad)\n"
         "print(json.dumps({name: value.data.tolist() for name, value in shown.items()}))")


def needs(*modules):
    """Skip, with the reason, when a tool the notebooks need is missing."""
    for module in modules:
        pytest.importorskip(module, reason=f"{module} makes or runs the notebooks (extras: test, notebooks)")


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
            shown.append(f"{output['ename']}: {output['evalue']}")
        else:
            shown.append("".join(output["data"]["text/plain"]))
    return "\n".join(shown)


def numbers_in(text):
    """The decimals a Tensor's repr shows, e.g. 'Tensor([0.2361, 0.1879], grad_fn=Sum)' -> [0.2361, 0.1879]."""
    return [float(n) for n in re.findall(r"-?\d+\.\d*(?:e-?\d+)?", text.split("shape=")[0])]


def test_every_notebook_has_the_cells_of_its_source():
    needs("jupytext", "nbformat")
    assert load_tool().stale_notebooks() == [], "out of date: run python tools/make_notebooks.py"


def test_every_demo_is_a_notebook():
    demos = sorted(f"{p.stem}.ipynb" for p in (ROOT / "demos").glob("[0-9][0-9]_*.py"))
    notebooks = sorted(p.name for p in load_tool().notebook_sources())
    assert notebooks == LECTURE + demos, "a demo without # %% cells has no notebook"


TINY_DEMO = '''"""Demo 01 — tiny.

Says what it shows.
"""
# %%
import os

N = 3


# %%
def main(out_dir="figures", seed=0, quick=False):
    # %% the first step
    x = N + seed
    y = [x] * (2 if quick else 5)

    # %% the second step
    def helper():
        return len(y)
    return {"n": helper(),
            "x": x}


# %%
if __name__ == "__main__":
    main()
'''


def test_a_demo_notebook_runs_mains_body_at_the_top_level_step_by_step(tmp_path, monkeypatch):
    needs("jupytext", "nbformat")
    tool = load_tool()
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    monkeypatch.setattr(tool, "NOTEBOOKS", tmp_path / "notebooks")
    (tmp_path / "demos").mkdir()
    (tmp_path / "demos" / "01_tiny.py").write_text(TINY_DEMO, encoding="utf-8")
    cells = tool.cells_for(tmp_path / "notebooks" / "01_tiny.ipynb")
    assert cells[0][0] == "markdown" and cells[0][1].startswith("# Demo 01 — tiny.\n\nSays what it shows.")
    assert cells[1:] == [
        ("code", "import os\n\nN = 3", []),
        ("code", 'out_dir, seed, quick = "figures", 0, True  '
                 "# main()'s arguments: quick = False runs the demo in full", []),
        ("markdown", "### The first step", []),
        ("code", "x = N + seed\ny = [x] * (2 if quick else 5)", []),
        ("markdown", "### The second step", []),
        ("code", "def helper():\n    return len(y)\nmetrics = {\"n\": helper(),\n"
                 "           \"x\": x}", []),
        ("code", 'from pathlib import Path\n\nfrom IPython.display import Image, display\n\n'
                 'for path in sorted(Path(out_dir).glob("01_*.png")):  # the figures the demo saved\n'
                 "    display(Image(filename=str(path)))", []),
    ]
    namespace = {}                                   # the code cells, run in order, give main()'s numbers
    for kind, source, _ in cells[1:-1]:
        if kind == "code":
            exec(source, namespace)
    assert namespace["metrics"] == {"n": 2, "x": 3}


@pytest.mark.parametrize("main, complaint", [
    ("def main(out_dir, seed=0, quick=False):\n    return {}", "every parameter of main() needs a default"),
    ("def main(quick=False):\n    if quick:\n        return {}\n    return {}",
     "returns before its last line"),
    ("def main(quick=False):\n    print(quick)", "must end with `return"),
    ("def run(quick=False):\n    return {}", "no top-level def main"),
])
def test_a_demo_off_the_convention_is_refused_saying_why(main, complaint, tmp_path, monkeypatch):
    needs("jupytext", "nbformat")
    tool = load_tool()
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    monkeypatch.setattr(tool, "NOTEBOOKS", tmp_path / "notebooks")
    (tmp_path / "demos").mkdir()
    (tmp_path / "demos" / "01_off.py").write_text(f'"""Demo 01 — off."""\n# %%\n{main}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=f"01_off.py: .*{re.escape(complaint)}"):
        tool.make_notebook(tmp_path / "notebooks" / "01_off.ipynb")


def test_an_edited_source_or_a_stray_notebook_is_reported(tmp_path, monkeypatch):
    needs("jupytext", "nbformat")
    import nbformat
    tool = load_tool()
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    monkeypatch.setattr(tool, "NOTEBOOKS", tmp_path / "notebooks")
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "00_lecture_notes.py", tmp_path / "notebooks")
    (tmp_path / "demos").mkdir()
    demo = tmp_path / "demos" / "01_tiny.py"
    demo.write_text(TINY_DEMO, encoding="utf-8")
    for notebook in tool.notebook_sources():                           # stored as made (outputs aside)
        nbformat.write(tool.make_notebook(notebook), notebook)
    assert sorted(p.name for p in tool.notebook_sources()) == [
        "00_lecture_notes.ipynb", "00_lecture_notes.ko.ipynb", "01_tiny.ipynb"]
    assert tool.stale_notebooks() == []
    demo.write_text(TINY_DEMO.replace("N = 3", "N = 4"), encoding="utf-8")
    lecture = tmp_path / "notebooks" / "00_lecture_notes.py"
    lecture.write_text(lecture.read_text(encoding="utf-8").replace("된 값을 그대로", "된 값을 다시"))
    (tmp_path / "notebooks" / "99_left_over.ipynb").write_text("{}")
    assert [p.name for p in tool.stale_notebooks()] == [
        "00_lecture_notes.ko.ipynb", "01_tiny.ipynb", "99_left_over.ipynb"]


@pytest.fixture(scope="module")
def lecture_runs(tmp_path_factory):
    """{name: (stored notebook, fresh run, values)} for both lecture notebooks, run side by side
    in Jupyter kernels; values are what an extra cell after the notebook's own prints."""
    needs("jupytext", "nbformat", "nbclient", "ipykernel", "matplotlib")
    import nbformat
    tool = load_tool()
    runs = []
    for name in LECTURE:
        nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
        nb.cells.append(nbformat.v4.new_code_cell(PROBE))
        runs.append((nb, tmp_path_factory.mktemp("lecture")))
    results = {}
    for name, fresh in zip(LECTURE, tool.execute(runs)):
        probe = fresh.cells.pop()
        values = json.loads(text_of(probe.outputs))
        results[name] = (nbformat.read(ROOT / "notebooks" / name, as_version=4), fresh, values)
    return results


@pytest.fixture(params=LECTURE)
def lecture_run(request, lecture_runs):
    return lecture_runs[request.param]


def test_the_stored_outputs_are_what_running_the_lecture_notebook_shows(lecture_run):
    stored, fresh, _ = lecture_run
    for cell, run in zip(stored.cells, fresh.cells):
        if cell.cell_type == "code":
            assert text_of(cell.outputs) == text_of(run.outputs), cell.source
            assert [o.output_type for o in cell.outputs] == [o.output_type for o in run.outputs], cell.source
    for nb in (stored, fresh):
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        figures = [o for o in outputs if "image/png" in o.get("data", {})]
        assert len(figures) == 2, "the smoothing plot and the gradient arrows, drawn inline"


def test_the_lecture_notebook_shows_the_notes_numbers_and_says_why_two_differ(lecture_run):
    stored, _, values = lecture_run
    code = [cell for cell in stored.cells if cell.cell_type == "code"]
    shown = {cell.source.splitlines()[-1]: text_of(cell.outputs) for cell in code}
    for last_line, printed in NOTES_PRINTED.items():
        np.testing.assert_allclose(numbers_in(shown[last_line]), printed, atol=1.5e-4, err_msg=last_line)
    np.testing.assert_allclose(numbers_in(shown["V"]), V_NOTES.ravel(), atol=0)
    assert "cos_after.backward()" in "".join(c.source for c in stored.cells)
    # Ours show 0.3695 and 0.071354 where the notes print 0.3694 and 0.07136025: said just before.
    assert round(values["softmax_V"][3][1], 4) == 0.3695
    assert f"{values['W'][0][0] * V_NOTES[0, 0]:.6f}" == "0.071354"
    assert 0.2535 * 0.2815 == pytest.approx(0.07136025)
    cells = stored.cells
    for last_line, ours in [("print(softmax_V)", "0.3695"), ("(W[0, 0] * V[0, 0]).item()", "0.071354")]:
        [at] = [i for i, c in enumerate(cells) if c.cell_type == "code" and last_line in c.source]
        assert cells[at - 1].cell_type == "markdown" and ours in cells[at - 1].source, last_line


def test_the_lecture_notebook_reaches_the_notes_numbers_every_way(lecture_run):
    _, _, values = lecture_run
    W = np.array(values["W"])
    assert W.shape == (4, 4)
    np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=1e-12)
    for Y in (values["Y"], values["Y_einsum"]):                       # W @ V and einsum
        np.testing.assert_allclose(Y[1], NOTES_PRINTED["transformed_of"], atol=1e-4)
        np.testing.assert_allclose(Y[3], NOTES_PRINTED["transformed_river"], atol=1e-4)
    np.testing.assert_allclose(values["softmax_V"], SOFTMAX_V_NOTES, atol=1.5e-4)
    assert values["cos_before"] == pytest.approx(0.1842, abs=1.5e-4)
    assert values["cos_after"] == pytest.approx(0.9453, abs=1e-4)


def test_the_notes_failing_cell_shows_minigrads_error(lecture_run):
    stored, fresh, _ = lecture_run
    for cell, run in zip(stored.cells, fresh.cells):
        if cell.source == "V[0].reshape(1, 2) * V.T":
            [error] = [o for o in run.outputs if o.output_type == "error"]
            assert cell.metadata["tags"] == ["raises-exception"]
            assert error.ename == "ValueError"
            assert "Mul" in error.evalue and "(1, 2)" in error.evalue and "(2, 4)" in error.evalue
            return
    pytest.fail("the notes' failing cell is missing")


def test_the_gradient_of_the_cosine_is_the_finite_difference_one(lecture_run):
    _, _, values = lecture_run

    def cos_after(V):  # plain NumPy, independent of minigrad
        W = np.exp(V @ V.T)
        Y = W / W.sum(axis=1, keepdims=True) @ V
        return Y[0] @ Y[3] / np.linalg.norm(Y[0]) / np.linalg.norm(Y[3])

    h, numeric = 1e-6, np.zeros((4, 2))
    for idx in np.ndindex(4, 2):
        step = np.zeros((4, 2))
        step[idx] = h
        numeric[idx] = (cos_after(V_NOTES + step) - cos_after(V_NOTES - step)) / (2 * h)
    np.testing.assert_allclose(values["V_grad"], numeric, atol=1e-8)


def test_a_cell_that_should_fail_and_does_not_stops_the_run(tmp_path):
    needs("nbformat", "nbclient", "ipykernel")
    import nbformat
    tool = load_tool()
    cell = nbformat.v4.new_code_cell
    quiet = nbformat.v4.new_notebook(cells=[cell("1 + 1", metadata={"tags": ["raises-exception"]})])
    failing = nbformat.v4.new_notebook(cells=[cell("x = 1"), cell("x / 0")])
    with pytest.raises(RuntimeError, match="code cell 1 is tagged raises-exception but ran without an error"):
        tool.execute([(quiet, tmp_path)])
    with pytest.raises(ZeroDivisionError, match="division by zero") as error:     # as the cell raised it
        tool.execute([(failing, tmp_path)])
    assert "x / 0" in str(error.value.__cause__)                                   # the cell, shown
