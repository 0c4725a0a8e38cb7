"""The copy's EXERCISES.md (what to write, its signature and shapes, the tests that grade it,
a hint) and its README.md (what the set is)."""
import ast
from pathlib import Path

from coursework.cutting import node_of

WHAT = {"op": "the backward rule of the op", "jvp": "the forward-mode (jvp) rule of the op",
        "layer": "the forward pass of the layer",
        "function": "the attention function"}
HINTS = {
    "op": ("Work out, on paper, how one element of `out` changes when one element of an input moves; "
           "then weight those changes by `grad` and add up what reaches each input element. Try it on a "
           "(2, 3) input with `minigrad.gradcheck` before running the sweep: its message names the element "
           "that is off. A gradient may keep the broadcast shape; the engine sums it back."),
    "jvp": ("The jvp rule is the backward rule transposed: where backward weights each output change by "
            "`grad` and adds up what reaches an input, jvp moves the inputs by their tangents and adds up "
            "what reaches each output element. Skip an input whose tangent is None."),
    "layer": ("Only the forward pass is asked for: build it from minigrad ops and the parameters that "
              "`__init__` creates, and the engine derives its backward pass. Print the shapes of a small "
              "batch at each step against the docstring."),
    "function": ("Build it from minigrad ops (`minigrad.functional as F`, Tensor operators), following "
                 "the docstring's formula and shapes step by step; the engine derives its backward pass. "
                 "Compare with a few lines of NumPy on a tiny input."),
}
GRADED_BY = {
    "op": ("the sweep's checks of every example the op declares: the gradient against finite "
           "differences (first and second order, random upstream weights), the exact gradients of the "
           "boundary cases it declares (0, ±inf), float32 staying float32, and no graph under `no_grad`."),
    "jvp": ("the jvp sweep's checks of every example the op declares: the dot-product identity "
            "<v, J u> = <Jᵀ v, u> with the op's own backward (to 1e-10), the tangent against finite "
            "differences of forward, float32 kept, vmap of jvp against a loop, and the boundary cases."),
    "layer": "the tests, in these files, that run it (directly or through the layers built on it).",
    "function": "the tests, in these files, that run it (directly or through the layers built on it).",
}


def signature(source, target):
    node = node_of(source, target.qualname)
    return f"def {node.name}({ast.unparse(node.args)}):"


def spec(source, target):
    """The docstrings the student works from, as the copy states them."""
    names = [target.owner, target.qualname] if target.owner else [target.qualname]
    docs = [ast.get_docstring(node_of(source, name)) for name in names]
    return "\n\n".join(doc for doc in docs if doc)


def exercise_section(number, target, command, out):
    source = (Path(out) / target.path).read_text(encoding="utf-8")
    shared = f" (shared by {', '.join(target.shared_by)})" if target.shared_by else ""
    quoted = "\n".join("> " + line if line else ">" for line in spec(source, target).splitlines())
    return [f"## {number}. `{target.qualname}`{shared}: {WHAT[target.kind]} {target.name}", "",
            f"In `{target.path}`, write the body of", "", "```python", signature(source, target), "```", "",
            "What it must compute, as its docstrings in this copy say:", "", quoted, "",
            f"Graded by {GRADED_BY[target.kind]} Run, from this folder:", "", "```bash", command, "```", "",
            f"Hint: {HINTS[target.kind]}", ""]


def exercises_markdown(graded, out):
    lines = ["# Exercises", ""]
    if not graded:
        return "\n".join(lines + ["This copy of minigrad is complete: there is nothing to write.", ""])
    lines += [f"This copy of minigrad has {len(graded)} part{'s' if len(graded) > 1 else ''} taken out. "
              "Each now raises `NotImplementedError(\"Exercise: write ...\")`. Write it, then run the command "
              "under it from this folder.",
              "",
              "Each exercise is graded on its own. A test of your part that also needs another exercise you "
              "have not written yet is reported as skipped, `waits for exercise ...`, not as your failure; "
              "the last lines of the output say `NAME: n of m checks pass` for your part. The command passes "
              "when every check of your part that can run passes.",
              "",
              "Set up once, in a fresh virtual environment: `python -m pip install -e \".[test]\"` in this folder. "
              "(Or skip it: `python -m pytest` run from here imports this folder's `minigrad/` either way.)",
              ""]
    for number, (target, command) in enumerate(graded, 1):
        lines += exercise_section(number, target, command, out)
    lines += ["## When every exercise passes", "", "Run the whole suite, which also uses your code in attention "
              "layers and demos; its last lines give the checks of every exercise:", "",
              "```bash", "python -m pytest", "```", ""]
    return "\n".join(lines + teacher_workflow())


def teacher_workflow():
    return ["## For the teacher", "",
            "1. Make the set from a clone of minigrad: `python -m coursework make OUT_DIR --ops ... --layers ... "
            "--functions ...` (`python -m coursework --list` shows what can be taken out).",
            "2. Hand out OUT_DIR. It holds no answer: the emptied bodies, the backward rules in their "
            "docstrings, and the files that would give them away (see README.md) are not in it.",
            "3. Grade a student's folder with the commands above, one per exercise, or `python -m pytest` "
            "for the summary of all.",
            "4. `python -m coursework restore OUT_DIR`, run from the clone, puts the reference code back into "
            "the exercises still empty and lists those a student changed, which it leaves; `--force` "
            "overwrites those too.",
            "",
            "Before step 2, `python -m coursework strength NAME ...`, run from the clone, checks that each "
            "part's grading tests fail on at least three wrong versions of it (scaled, shifted, negated, "
            "transposed, a gradient left out, ...).", ""]


def course_readme(graded, left_out):
    """The copy's README: what the set is, and what was left out of the project and why."""
    parts = ", ".join(f"`{t.qualname}`" for t, _ in graded) or "none"
    return "\n".join([
        "# minigrad: an exercise set", "",
        "This folder is a copy of minigrad, a small reverse-mode autograd engine in NumPy with attention "
        f"layers built on it, with {len(graded)} part(s) taken out for you to write: {parts}.", "",
        "`EXERCISES.md` says what each part must compute and the command that grades it. Everything "
        "else is the library as it is: read it, run the demos (`python -m demos`), and use the tests.", "",
        "Left out of this copy:", ""] + [f"- `{path}`: {why}" for path, why in sorted(left_out.items())]
        + ["", "What follows is minigrad's own README, without its lines about the generator.", "", "---", "", ""])
