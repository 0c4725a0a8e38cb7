"""Write the notebooks in notebooks/ from their `# %%` sources with jupytext, and run them in a kernel.

    python tools/make_notebooks.py              # rewrite every notebook, run in a kernel (demos quick)
    python tools/make_notebooks.py 00 03        # only the notebooks whose names start so
    python tools/make_notebooks.py --check      # list the notebooks out of date with their sources

Needs jupytext, nbclient and ipykernel (the `notebooks` and `test` extras).  A source is a Python
file in jupytext's percent format: a `# %%` line starts a code cell, `# %% [markdown]` a markdown
cell written as comment lines, and `# %% tags=["raises-exception"]` a cell that must fail.

- notebooks/00_lecture_notes.py -> 00_lecture_notes.ipynb and its Korean twin .ko.ipynb: a
  markdown cell marked `en` or `ko` (`# %% [markdown] ko`) goes to that language's notebook only.
- demos/NN_name.py -> notebooks/NN_name.ipynb, for every demo script with `# %%` cells.  A demo
  script fits by this convention (demos 01-10 follow it; a new demo that does needs nothing else):
  1. a module docstring: its first line the title, the rest the introduction;
  2. top-level `# %%` cells: imports, constants, helper functions and classes;
  3. `def main(out_dir="figures", seed=0, quick=False)` (every parameter with a default), whose
     last statement is `return {...}` (its key numbers) and which returns nowhere else;
     `    # %% what comes next` lines inside it cut its body into steps, each under its heading;
  4. a last cell `if __name__ == "__main__": main()`.
  The notebook is the docstring as markdown, then the top-level cells as they are, then main()
  unwrapped into top-level cells so that a student can look at every variable: a cell
  `out_dir, seed, quick = "figures", 0, True` (main's defaults, with the quick run that is
  stored; False runs it in full), main's body one cell per step (the step's text a heading
  above it) with `return {...}` made `metrics = {...}`, and a cell that shows the PNGs the
  demo saved in out_dir.  The `__main__` guard is left out.

Running: nbclient executes each notebook in a fresh `python3` kernel, in a temporary working
folder, with the project root first on PYTHONPATH (as `pip install -e .` would make it) and no
MPLBACKEND (so figures show inline, as in Jupyter); one notebook per core runs at a time.  A cell
tagged raises-exception must fail, any other error stops the run.
"""
import argparse
import ast
import asyncio
import builtins
import os
import re
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CELL_MARK = re.compile(r"^# %%(.*)$", re.MULTILINE)
STEP_MARK = re.compile(r"^# %%(.*)$")
TIMEOUT = 600                    # seconds a cell may run
MISSING = '{} is missing: pip install -e ".[notebooks]" (jupytext, nbclient and ipykernel)'
METADATA = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"}}


def notebook_sources():
    """{notebook path: (source path, language)} for every notebook this tool writes."""
    lecture = NOTEBOOKS / "00_lecture_notes.py"
    sources = {NOTEBOOKS / "00_lecture_notes.ipynb": (lecture, "en"),
               NOTEBOOKS / "00_lecture_notes.ko.ipynb": (lecture, "ko")}
    for script in sorted((ROOT / "demos").glob("[0-9][0-9]_*.py")):
        if CELL_MARK.search(script.read_text(encoding="utf-8")):
            sources[NOTEBOOKS / f"{script.stem}.ipynb"] = (script, "en")   # a demo that marks its cells
    return sources


def comment(text):
    """Markdown text as percent-format comment lines."""
    return "\n".join(f"# {line}".rstrip() for line in text.splitlines())


def main_function(tree, script):
    """The demo's main() node, checked against the convention (see the module docstring)."""
    mains = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main"]
    if not mains:
        raise ValueError(f"{script.name}: no top-level def main(out_dir=..., seed=..., quick=...)")
    main = mains[0]
    args = main.args
    if len(args.defaults) != len(args.args) or args.vararg or args.kwarg or args.kwonlyargs:
        raise ValueError(f"{script.name}: every parameter of main() needs a default (and no *args, **kwargs)")
    if not isinstance(main.body[-1], ast.Return):
        raise ValueError(f"{script.name}: main() must end with `return {{...}}` (its key numbers)")

    def returns(node):        # main's own returns, not those of functions defined inside it
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            yield from ([child] if isinstance(child, ast.Return) else []) + list(returns(child))
    if len(list(returns(main))) != 1:
        raise ValueError(f"{script.name}: main() returns before its last line; the notebook runs its body at "
                         "the top level, where a return cannot be")
    return main


def demo_source(script):
    """The percent-format text of a demo's notebook, main() unwrapped into top-level cells."""
    text = script.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    main = main_function(tree, script)
    docstring = ast.get_docstring(tree)
    number = script.stem[:2]
    how = (f"*Written from `demos/{script.name}` by `tools/make_notebooks.py`: edit the script, then run "
           f"`python tools/make_notebooks.py {number}`.  The cells below are the script's, with the body of "
           f"its `main()` run step by step at the top level; the outputs are a quick run (`quick = True`), "
           f"`quick = False` is the full one, the same as `python -m demos --only {number}`.*")
    head = "\n".join(lines[tree.body[0].end_lineno:main.lineno - 1]).rstrip()  # after the docstring
    head = re.sub(r"\n# %%[^\n]*$", "", head)                                   # main's own cell mark
    tail = "\n".join(lines[main.end_lineno:])
    tail_cells = [c for c in re.split(r"^# %%.*\n?", tail, flags=re.MULTILINE)
                  if c.strip() and not c.lstrip().startswith('if __name__ == "__main__":')]

    out_dir = main.args.args[0].arg
    show = ("from pathlib import Path\n\nfrom IPython.display import Image, display\n\n"
            f'for path in sorted(Path({out_dir}).glob("{number}_*.png")):  # the figures the demo saved\n'
            "    display(Image(filename=str(path)))")
    cells = ["# %% [markdown]\n" + comment(f"# {docstring}\n\n{how}"), head.strip("\n")]
    cells += [f"# %%\n{cell.strip()}" for cell in tail_cells] + unwrapped(main, text) + [f"# %%\n{show}"]
    tidy = [mark + "\n" + body.strip("\n") for mark, _, body in (cell.partition("\n") for cell in cells)
            if body.strip()]                                                  # no empty cells or edges
    return "\n\n".join(tidy) + "\n"


def unwrapped(main, text):
    """main()'s body as percent-format cells: its arguments set (quick = True), then one cell per step."""
    lines = text.splitlines()
    names = [arg.arg for arg in main.args.args]
    values = ["True" if name == "quick" else ast.get_source_segment(text, default)
              for name, default in zip(names, main.args.defaults)]
    settings = (f"{', '.join(names)} = {', '.join(values)}  "
                "# main()'s arguments: quick = False runs the demo in full")
    body = main.body[1:] if ast.get_docstring(main) else main.body
    start = body[0].lineno - 1
    while start > main.lineno and lines[start - 1].strip()[:1] in ("#", ""):   # the comments above it too
        start -= 1
    steps = textwrap.dedent("\n".join(lines[start:main.end_lineno])).splitlines()
    at = main.body[-1].lineno - 1 - start                                       # the return, dedented
    steps[at] = re.sub(r"^return\b ?", "metrics = ", steps[at])
    steps[at + 1:] = [" " * 3 + line for line in steps[at + 1:]]               # its continuation lines
    cells = [f"# %%\n{settings}", "# %%"]
    for line in steps:
        step = STEP_MARK.match(line)
        if step:
            title = step.group(1).strip()
            cells += [f"# %% [markdown]\n# ### {title[:1].upper()}{title[1:]}"] if title else []
            cells.append("# %%")
        else:
            cells[-1] += "\n" + line
    return cells


def make_notebook(notebook):
    """The notebook (nbformat, not run) that the source of `notebook` makes."""
    import jupytext
    source, language = notebook_sources()[notebook]
    text = demo_source(source) if source.parent.name == "demos" else source.read_text(encoding="utf-8")
    nb = jupytext.reads(text, fmt="py:percent")
    cells = []
    for cell in nb.cells:
        marked = cell.metadata.pop("title", None)                  # `# %% [markdown] ko`: for that language
        if cell.cell_type == "markdown" and marked not in (None, language):
            continue
        cell.metadata = {"tags": cell.metadata["tags"]} if cell.metadata.get("tags") else {}
        cells.append(cell)
    nb.cells = cells
    nb.metadata = dict(METADATA, **({"language": "ko"} if language == "ko" else {}))
    return nb


def cells_of(nb):
    """(kind, source, tags) of each cell: what the out-of-date check compares."""
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def cells_for(notebook):
    """The cells (kind, source, tags) that `notebook` must have, from its source."""
    return cells_of(make_notebook(notebook))


def stored_cells(notebook):
    """The cells (kind, source, tags) of a stored .ipynb."""
    import nbformat
    return cells_of(nbformat.read(notebook, as_version=4))


def stale_notebooks():
    """The notebooks whose cells differ from their sources (or that are missing), and stray ones."""
    sources = notebook_sources()
    stale = [path for path in sources if not path.exists() or stored_cells(path) != cells_for(path)]
    strays = [path for path in NOTEBOOKS.glob("*.ipynb") if path not in sources]
    return stale + strays


def kernel_env():
    """The kernel's environment: the project importable, figures inline (no MPLBACKEND from a test run)."""
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


async def execute_one(nb, workdir, limit):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from traitlets.config import Config
    async with limit:
        # IPC sockets in the working folder: local, and no warning about unencrypted TCP
        config = Config(KernelManager={"transport": "ipc", "ip": str(Path(workdir) / "kernel")})
        client = NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3", record_timing=False,
                                resources={"metadata": {"path": str(workdir)}}, config=config)
        try:
            await client.async_execute(env=kernel_env())
        except CellExecutionError as error:
            same = as_raised(error)
            if same is error:
                raise
            raise same from error
    for number, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        failed = any(output.output_type == "error" for output in cell.outputs)
        if "raises-exception" in cell.metadata.get("tags", []) and not failed:
            raise RuntimeError(f"code cell {number + 1} is tagged raises-exception but ran without an "
                               f"error:\n{cell.source}")
    return nb


def as_raised(error):
    """A cell's error as the built-in exception the cell raised (NotImplementedError...), if it was one."""
    kind = getattr(builtins, error.ename, None)
    if isinstance(kind, type) and issubclass(kind, Exception) and kind is not Exception:
        try:
            return kind(error.evalue)
        except TypeError:          # a constructor that wants more than a message
            pass
    return error


def execute(runs, jobs=None):
    """Run notebooks in Jupyter kernels, `jobs` at a time (default one per core); runs: [(nb, workdir)].
    Returns the nbs, with their outputs.  A cell's unexpected error is raised here as the same
    built-in exception (a NotImplementedError stays one), caused by nbclient's CellExecutionError,
    which shows the cell."""
    async def all_of_them():
        limit = asyncio.Semaphore(jobs or os.cpu_count() or 2)
        return await asyncio.gather(*(execute_one(nb, workdir, limit) for nb, workdir in runs))
    return asyncio.run(all_of_them())


def write(notebooks, jobs):
    import nbformat
    with tempfile.TemporaryDirectory() as scratch:
        runs = []
        for i, notebook in enumerate(notebooks):
            workdir = Path(scratch) / str(i)
            workdir.mkdir()
            runs.append((make_notebook(notebook), workdir))
        for notebook, nb in zip(notebooks, execute(runs, jobs)):
            nb.metadata = make_notebook(notebook).metadata            # not the kernel's versions
            nbformat.write(nb, notebook)
            print(f"wrote {notebook.relative_to(ROOT)} ({notebook.stat().st_size / 1024:.0f} KiB)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list stale notebooks; exit 1 if any")
    parser.add_argument("--jobs", type=int, default=None, help="notebooks at once (default: one per core)")
    parser.add_argument("names", nargs="*", help="only these notebooks, e.g. 00_lecture_notes 03")
    args = parser.parse_args(argv)
    if args.check:
        try:
            stale = stale_notebooks()
        except ImportError as error:
            parser.error(MISSING.format(error.name))
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)}")
        return 1 if stale else 0
    chosen = [notebook for notebook in notebook_sources()
              if not args.names or any(notebook.name.startswith(name) for name in args.names)]
    try:
        write(chosen, args.jobs)
    except ImportError as error:
        parser.error(MISSING.format(error.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
