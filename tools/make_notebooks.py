"""Write the notebooks in notebooks/ from their sources, run, with their outputs.

    python tools/make_notebooks.py            # rewrite every notebook (runs each, quick mode)
    python tools/make_notebooks.py --check    # list the notebooks out of date with their sources

Sources are Python files split into cells by `# %%` lines (the "percent" format):
`# %% [markdown]` starts a markdown cell written as comment lines, `# %% [markdown] ko`
one that only the Korean twin gets (and `# %% [markdown] en` only the English one).

- notebooks/00_lecture_notes.py -> 00_lecture_notes.ipynb and its Korean twin .ko.ipynb
- demos/NN_name.py -> NN_name.ipynb: the docstring becomes the first markdown cell, each
  `# %%` chunk a code cell, and the `__main__` guard a cell that runs main() quick and one
  that shows the figures main() saved.

Outputs come from running the code cells in order in one namespace, as a kernel would:
stdout, the value of a cell's last expression, objects passed to display(), an error in a
cell tagged raises-exception (any other error stops the run), and the matplotlib figures
left open at the end of a cell (drawn headless).  Plain JSON, nbformat 4; no Jupyter needed.
"""
import argparse
import ast
import base64
import contextlib
import io
import json
import linecache
import os
import re
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
FIGURE_DPI = 72          # figures drawn in a cell; small, so the stored notebooks stay small
CELL_MARK = re.compile(r"^# %%(.*)$")


def notebook_sources():
    """{notebook path: (source path, language)} for every notebook this tool writes."""
    lecture = NOTEBOOKS / "00_lecture_notes.py"
    sources = {NOTEBOOKS / "00_lecture_notes.ipynb": (lecture, "en"),
               NOTEBOOKS / "00_lecture_notes.ko.ipynb": (lecture, "ko")}
    for script in sorted((ROOT / "demos").glob("[0-9][0-9]_*.py")):
        if any(CELL_MARK.match(line) for line in script.read_text(encoding="utf-8").splitlines()):
            sources[NOTEBOOKS / f"{script.stem}.ipynb"] = (script, "en")   # a demo that marks its cells
    return sources


def split_cells(text):
    """[(kind, option, source)] from percent-format text: kind 'code' or 'markdown'; option the
    markdown's language, or the code cell's tag ('raises-exception'), else None."""
    cells, header, lines = [], "", []

    def close():
        source = "\n".join(lines).strip("\n")
        if "[markdown]" in header:
            language = header.split("]", 1)[1].strip() or None
            cells.append(("markdown", language, "\n".join(re.sub(r"^# ?", "", line) for line in source.splitlines())))
        elif source:
            cells.append(("code", header.strip() or None, source))

    for line in text.splitlines():
        mark = CELL_MARK.match(line)
        if mark:
            close()
            header, lines = mark.group(1), []
        else:
            lines.append(line)
    close()
    return cells


def demo_cells(script):
    """The cells of a demo's notebook: its docstring, its code cells, then run and show."""
    text = script.read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(text))
    title, _, rest = docstring.partition("\n")
    body = text.split('"""', 2)[2]                     # the script after its docstring
    code = [cell for cell in split_cells(body) if not cell[2].startswith('if __name__ == "__main__":')]
    number = script.stem[:2]
    how = (f"*Written from `demos/{script.name}` by `tools/make_notebooks.py`: edit the script, then run "
           f"`python tools/make_notebooks.py`.  The outputs below are a quick run (`QUICK = True`); "
           f"set `QUICK = False` for the full one, the same as `python -m demos --only {number}`.*")
    run = ("QUICK = True  # a quick run, as stored; False runs the demo in full\n"
           'metrics = main(out_dir="figures", seed=0, quick=QUICK)')
    show = ("from pathlib import Path\n\n\n"
            "class SavedFigure:\n"
            '    """A PNG file, shown inline: notebooks display anything that has _repr_png_."""\n\n'
            "    def __init__(self, path):\n"
            "        self.path = Path(path)\n\n"
            "    def _repr_png_(self):\n"
            "        return self.path.read_bytes()\n\n"
            "    def __repr__(self):\n"
            '        return f"SavedFigure({str(self.path)!r})"\n\n\n'
            f'for path in sorted(Path("figures").glob("{number}_*.png")):  # the figures main() saved\n'
            "    display(SavedFigure(path))")
    return ([("markdown", None, f"# {title}\n{rest}\n\n{how}")] + code
            + [("code", None, run), ("code", None, show)])


def cells_for(notebook):
    """The cells (kind, source, tags) a notebook must have, from its source."""
    source, language = notebook_sources()[notebook]
    if source.parent.name == "demos":
        cells = demo_cells(source)
    else:
        cells = split_cells(source.read_text(encoding="utf-8"))
    chosen = []
    for kind, tag, text in cells:
        if kind == "markdown" and tag not in (None, language):
            continue
        tags = [tag] if kind == "code" and tag else []
        chosen.append((kind, text, tags))
    return chosen


def run_cells(cells, workdir):
    """Run the code cells in order in one namespace, in workdir; returns (outputs per cell, namespace).

    Raises RuntimeError naming the cell when a cell fails that is not tagged raises-exception,
    or when one so tagged does not fail."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outputs, current, count = [], [], 0
    namespace = {"__name__": "__main__", "display": lambda value: current.append(rich_output(value, None))}
    here = os.getcwd()
    os.chdir(workdir)
    try:
        for kind, text, tags in cells:
            current = []
            if kind == "code":
                count += 1
                run_one(text, f"In[{count}]", namespace, current, "raises-exception" in tags)
                for figure_number in plt.get_fignums():     # as an inline backend: figures left open
                    figure = plt.figure(figure_number)
                    current.append(rich_output(figure, None))
                    plt.close(figure)
            outputs.append(current)
    finally:
        os.chdir(here)
    return outputs, namespace


def run_one(text, name, namespace, outputs, must_raise):
    """Run one cell as a kernel does: the value of a last bare expression is the cell's result."""
    linecache.cache[name] = (len(text), None, text.splitlines(True), name)  # tracebacks show the line
    tree = ast.parse(text, name)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) and not text.endswith(";") else None
    stdout, error = io.StringIO(), None
    with contextlib.redirect_stdout(stdout):
        try:
            exec(compile(tree, name, "exec"), namespace)
            value = eval(compile(ast.Expression(last.value), name, "eval"), namespace) if last else None
        except Exception as exc:  # noqa: BLE001 -- a cell may raise anything; it is reported or re-raised
            error, value = exc, None
    if stdout.getvalue():
        outputs.append({"output_type": "stream", "name": "stdout", "text": lines(stdout.getvalue())})
    if error is not None and not must_raise:
        raise RuntimeError(f"{name} failed: {type(error).__name__}: {error}") from error
    if error is None and must_raise:
        raise RuntimeError(f"{name} is tagged raises-exception but ran without an error")
    if error is not None:
        in_cell = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == name]
        outputs.append({"output_type": "error", "ename": type(error).__name__, "evalue": str(error),
                        "traceback": ["Traceback (most recent call last):"]
                        + [line.rstrip("\n") for line in traceback.format_list(in_cell)]
                        + [line.rstrip("\n") for line in traceback.format_exception_only(type(error), error)]})
    if value is not None:
        outputs.append(rich_output(value, "execute_result"))


def rich_output(value, output_type):
    """A display_data (or execute_result) output: text/plain, plus image/png when the value has one."""
    data = {"text/plain": lines(repr(value))}
    if hasattr(value, "savefig"):                          # a matplotlib figure
        buffer = io.BytesIO()
        value.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
        data["image/png"] = base64.b64encode(buffer.getvalue()).decode("ascii")
    elif hasattr(value, "_repr_png_"):
        data["image/png"] = base64.b64encode(value._repr_png_()).decode("ascii")
    return {"output_type": output_type or "display_data", "data": data, "metadata": {}}


def lines(text):
    """A notebook's multi-line string: a list of lines, each but the last ending in a newline."""
    return text.splitlines(True)


def notebook_json(cells, outputs, language):
    """The .ipynb text (nbformat 4.4) for cells and their outputs."""
    json_cells, count = [], 0
    for (kind, text, tags), cell_outputs in zip(cells, outputs):
        cell = {"cell_type": kind, "metadata": {"tags": tags} if tags else {}, "source": lines(text)}
        if kind == "code":
            count += 1
            cell.update(execution_count=count, outputs=cell_outputs)
            for output in cell_outputs:
                if output["output_type"] == "execute_result":
                    output["execution_count"] = count
        json_cells.append(cell)
    metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                "language_info": {"name": "python"}}
    if language == "ko":
        metadata["language"] = "ko"
    notebook = {"cells": json_cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 4}
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def stored_cells(notebook):
    """(kind, source, tags) of each cell in a stored .ipynb."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [(c["cell_type"], "".join(c["source"]), c["metadata"].get("tags", [])) for c in cells]


def stale_notebooks():
    """The notebooks whose cells differ from their sources (or that are missing), and stray ones."""
    sources = notebook_sources()
    stale = [path for path in sources if not path.exists() or stored_cells(path) != cells_for(path)]
    strays = [path for path in NOTEBOOKS.glob("*.ipynb") if path not in sources]
    return stale + strays


def write(notebook):
    cells = cells_for(notebook)
    with tempfile.TemporaryDirectory() as workdir:
        outputs, _ = run_cells(cells, workdir)
    notebook.write_text(notebook_json(cells, outputs, notebook_sources()[notebook][1]), encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list stale notebooks; exit 1 if any")
    parser.add_argument("names", nargs="*", help="only these notebooks, e.g. 00_lecture_notes 03")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_notebooks()
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)}")
        return 1 if stale else 0
    sys.path.insert(0, str(ROOT))                      # the demos import minigrad and attention from here
    os.environ.setdefault("OMP_NUM_THREADS", "1")      # small matrices: BLAS threads cost more than they give
    for notebook in notebook_sources():
        if not args.names or any(notebook.name.startswith(name) for name in args.names):
            write(notebook)
            print(f"wrote {notebook.relative_to(ROOT)} ({notebook.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
