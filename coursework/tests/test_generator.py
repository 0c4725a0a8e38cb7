"""The coursework kit's parts: exercises are cut precisely, the targets and grading commands
are found, bad requests get clear errors, and every block of the guides runs as shown.
What a copy holds and how it is graded: test_course.py."""
import ast
import inspect
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from coursework import generator
from coursework.copying import check_answer_marked, check_project, cut, project_files
from coursework.cutting import replace_body, without_answer
from coursework.grading import grading_command
from coursework.parts import Target, find_targets, listing, resolve
from coursework.restoring import restore
from coursework.tests.helpers import environment
from minigrad.ops import ALL_OPS

ROOT = generator.PROJECT


def test_replace_body_keeps_signature_docstring_and_every_other_line():
    source = (
        "import numpy as np\n"
        "\n"
        "\n"
        "class Twice:\n"
        '    """2 x.  d/dx = 2."""\n'
        "\n"
        "    def backward(self, grad,\n"
        "                 x, out):  # a signature on two lines\n"
        "        # a comment under the signature is part of the body\n"
        "        g = grad * 2\n"
        "        return g\n"
        "\n"
        "    def other(self):\n"
        '        """Kept.\n'
        "\n"
        '        Also kept."""\n'
        "        return {'a': 1,\n"
        "                'b': 2}\n"
        "    # a comment after the last method stays\n")
    twice = replace_body(source, "Twice.backward", ["        pass\n"])
    assert twice == source.replace("        # a comment under the signature is part of the body\n"
                                   "        g = grad * 2\n"
                                   "        return g\n", "        pass\n")
    other = replace_body(source, "Twice.other", ["        return 0\n"])
    assert other == source.replace("        return {'a': 1,\n                'b': 2}\n", "        return 0\n")
    with pytest.raises(ValueError, match="no function Twice.missing"):
        replace_body(source, "Twice.missing", [])
    with pytest.raises(ValueError, match="code on its signature"):
        replace_body("def f(x): return x\n", "f", [])


def test_list_names_every_op_and_the_shared_rules():
    text = listing(ROOT)
    ops = text.split("layers (")[0]
    assert set(re.findall(r"\b[A-Z]\w*\b", ops)) >= {op.__name__ for op in ALL_OPS}
    assert "Max [_Extremum.backward]" in text and "Min [_Extremum.backward]" in text
    assert "minigrad/nn.py: " in text and "Linear" in text
    assert "scaled_dot_product_attention" in text and "plot_attention" not in text


def test_grading_commands_select_the_part_not_its_namesakes_and_name_it_for_the_grader():
    targets = find_targets(ROOT)
    by_name = {t.name: t for t in targets if t.kind == "op"}
    assert grading_command(by_name["Softmax"], targets, ROOT).endswith(
        '-k "(Softmax- or Softmax.) and not (LogSoftmax- or LogSoftmax.)" --exercise Softmax.backward')
    assert grading_command(by_name["Add"], targets, ROOT).endswith(
        '-k "(Add- or Add.) and not (ScatterAdd- or ScatterAdd.)" --exercise Add.backward')
    assert grading_command(by_name["Max"], targets, ROOT).endswith(
        '-k "Max- or Max. or Min- or Min." --exercise _Extremum.backward')
    linear = next(t for t in targets if t.name == "Linear")
    assert "tests/test_nn.py" in grading_command(linear, targets, ROOT).split()


def test_a_layer_named_like_an_op_is_graded_by_its_own_tests_not_the_ops():
    # nn.Tanh is not ops.Tanh: Tensor.tanh reaches the op through `_ops.Tanh`, which must not
    # make every test of a Tensor a test of the layer.
    targets = find_targets(ROOT)
    layer = next(t for t in targets if t.kind == "layer" and t.name == "Tanh")
    files = grading_command(layer, targets, ROOT).split()[3:-2]
    assert "tests/test_nn.py" in files
    assert "tests/test_ops_sweep.py" not in files and "tests/test_attention_layers.py" not in files


def test_the_marked_answer_leaves_the_docstrings_and_the_definitions_stay():
    kept, removed = without_answer("tanh(x).  Backward: d/dx = 1 - tanh² = 1 - out².")
    assert (kept, removed) == ("tanh(x).", ["d/dx = 1 - tanh² = 1 - out²."])
    softmax = next(cls for cls in ALL_OPS if cls.__name__ == "Softmax").__doc__
    kept, removed = without_answer(inspect.cleandoc(softmax))
    assert kept.startswith("exp(x) / sum(exp(x)) along axis") and "where: optional boolean" in kept
    assert "dL/dx" not in kept and any("dL/dx = s * (g - sum(g * s))" in r for r in removed)
    where, _ = without_answer("cond ? a : b, with cond a boolean array (no gradient).  Backward: d/da = cond.")
    assert where == "cond ? a : b, with cond a boolean array (no gradient)."  # the definition stays
    layer_norm = next(cls for cls in ALL_OPS if cls.__name__ == "LayerNorm").__doc__
    kept, _ = without_answer(inspect.cleandoc(layer_norm))
    assert kept.startswith("Normalise the last axis") and "Backward" not in kept and "mean(ĝ" not in kept


def test_the_answer_is_what_the_mark_says_whatever_its_wording():
    # Worded without d/dx or "gradient": every sentence after the mark still goes (a regex over
    # the wording kept "Multiply by what arrives from above.", which is the rule).
    doc = "exp(x), elementwise.  Backward: its own value.  Multiply by what arrives from above.\n\nStable."
    kept, removed = without_answer(doc)
    assert kept == "exp(x), elementwise.\n\nStable."
    assert removed == ["its own value.  Multiply by what arrives from above."]
    # And what is not marked stays, even where it speaks of gradients.
    doc = "relu(x).  Backward: 1 where x > 0.\n\nGradient checks of it draw inputs away from 0 (d/dx jumps there)."
    assert without_answer(doc)[0] == "relu(x).\n\nGradient checks of it draw inputs away from 0 (d/dx jumps there)."
    wrapped = "Softmax along axis.\nBackward, with s = out:\n  dL/dx = s (g - sum(g s))\nthe Jacobian applied to g."
    assert without_answer(wrapped) == ("Softmax along axis.", ["Backward, with s = out:\n  dL/dx = s (g - sum(g s))\n"
                                                               "the Jacobian applied to g."])


def test_an_op_whose_docstring_marks_no_answer_is_refused_and_every_op_here_marks_one():
    source = textwrap.dedent('''
        class Softplus(Function):
            """log(1 + exp(x)); its slope is the logistic function, 1 - exp(-out)."""

            def backward(self, grad, x, out):
                return grad * (1 - np.exp(-out))
        ''')
    target = Target("op", "Softplus", "minigrad/ops/softplus.py", "Softplus.backward", "log(1 + exp(x))")
    with pytest.raises(ValueError, match=r"docstring of Softplus .* marks no answer; start the sentence that "
                                         r"states its backward rule with 'Backward:'"):
        cut(source, target)
    marked = source.replace("; its slope", ".  Backward: its slope")
    new_source, removed = cut(marked, target)
    assert "logistic" not in new_source and removed == ["its slope is the logistic function, 1 - exp(-out)."]
    for target in [t for t in find_targets(ROOT) if t.kind == "op"]:  # the project's own ops all mark theirs
        check_answer_marked((ROOT / target.path).read_text(encoding="utf-8"), target)


def test_bad_requests_get_clear_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"no op named 'Softmx'; did you mean Softmax"):
        resolve("Softmx", "op", find_targets(ROOT))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    assert generator.main(["make", str(tmp_path / "full"), "--ops", "Exp"]) == 2
    assert "must be a new or empty folder" in capsys.readouterr().err
    with pytest.raises(ValueError, match="reference is the exercise folder itself"):
        restore(ROOT, ROOT)
    with pytest.raises(ValueError, match="is not an exercise set"):
        restore(tmp_path / "full", ROOT)
    with pytest.raises(ValueError, match="not a minigrad source tree"):
        check_project(tmp_path)


def test_command_line_lists_through_python_dash_m():
    proc = subprocess.run([sys.executable, "-m", "coursework", "--list"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Softmax" in proc.stdout and "MatMul" in proc.stdout


# ---- docs/EXTENDING.md: every block runs, every printed output is the real one ----------

FILE_EDITS = {  # the first line of a Python block that says where its code goes
    "new file": re.compile(r"# (\S+\.py) \(new file\)"),
    "imports": re.compile(r"# (\S+\.py): add next to the other op imports"),
    "end": re.compile(r"# (\S+\.py): add at the end"),
    "return": re.compile(r"# (\S+\.py): in (\w+), replace the return line by"),
}


def fenced_blocks(markdown):
    """(language, code) of every fenced block in order; blocks inside list items are dedented."""
    return [(lang, textwrap.dedent(code)) for indent, lang, code in
            re.findall(r"^( *)```(\w+)\n(.*?)^\1```", markdown, re.S | re.M)]


def apply_edit(project, header, code):
    """Put a block's code where its first line says; False if the block is not a file edit."""
    for kind, pattern in FILE_EDITS.items():
        match = pattern.fullmatch(header)
        if match:
            break
    else:
        assert not re.match(r"# \S+\.py\b", header), f"unknown instruction in EXTENDING.md: {header}"
        return False
    path = project / match.group(1)
    if kind == "new file":
        path.write_text(code)
        return True
    source = path.read_text()
    lines = source.splitlines(keepends=True)
    if kind == "end":
        path.write_text(source.rstrip("\n") + "\n\n\n" + code)
    elif kind == "imports":
        last = max(n.end_lineno for n in ast.parse(source).body if isinstance(n, ast.Import | ast.ImportFrom))
        path.write_text("".join(lines[:last]) + code + "".join(lines[last:]))
    else:
        function = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)
                        and n.name == match.group(2))
        ret = [n for n in ast.walk(function) if isinstance(n, ast.Return)][-1]
        new = textwrap.indent(code, " " * ret.col_offset)
        path.write_text("".join(lines[:ret.lineno - 1]) + new + "".join(lines[ret.end_lineno:]))
    return True


def output_matches(expected, actual):
    """Expected lines match actual lines exactly, except that '...' within a line stands for
    any text and a line '...' for any number of lines (timings, pytest's progress dots)."""
    pattern = "".join(r"(?:.*\n)*?" if line.strip() == "..." else
                      re.escape(line.rstrip()).replace(re.escape("..."), ".*") + "\n"
                      for line in expected.strip("\n").splitlines())
    # Newer pytest versions append " - <message>" to the FAILED lines of the summary.
    lines = [re.sub(r"^(FAILED \S+) - .*$", r"\1", line.rstrip()) for line in actual.strip("\n").splitlines()]
    text = "".join(line + "\n" for line in lines)
    return re.fullmatch(pattern, text) is not None


def test_every_block_of_the_extending_guide_works_and_prints_what_it_shows(tmp_path):
    pytest.importorskip("matplotlib", reason="the guide's blocks run demos, which draw with matplotlib (the test extra)")
    project = tmp_path / "project"
    tool = [rel for rel in project_files(ROOT, with_tools=True) if rel.startswith("coursework/")]
    for rel in project_files(ROOT) + tool:
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, project / rel)
    blocks = fenced_blocks((ROOT / "docs" / "EXTENDING.md").read_text(encoding="utf-8"))
    assert [lang for lang, _ in blocks].count("python") >= 10 and "bash" in [lang for lang, _ in blocks]
    shown = 0
    for i, (lang, code) in enumerate(blocks):
        header, _, rest = code.partition("\n")
        if lang == "text" or (lang == "python" and apply_edit(project, header, rest)):
            continue
        if lang == "python":
            proc = subprocess.run([sys.executable, "-c", code], cwd=project, env=environment(project),
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, f"block {i} failed:\n{code}\n{proc.stderr}"
            output = proc.stdout
        else:
            assert lang == "bash", lang
            output = ""
            for command in code.strip().splitlines():
                command = re.sub(r"^python ", f'"{sys.executable}" ', command)
                proc = subprocess.run(command, shell=True, cwd=project, env=environment(project),
                                      capture_output=True, text=True, timeout=300)
                output += proc.stdout
        if i + 1 < len(blocks) and blocks[i + 1][0] == "text":
            assert output_matches(blocks[i + 1][1], output), (
                f"block {i} printed:\n{output}\n{proc.stderr[-3000:]}\nbut EXTENDING.md shows:\n{blocks[i + 1][1]}")
            shown += 1
    assert shown >= 9
    # The edits really happened: the bug was put in and taken out again.
    assert "return grad * (1 - np.exp(-out))" in (project / "minigrad/ops/softplus.py").read_text()
    assert (project / "demos/09_additive_attention.py").exists() and (tmp_path / "course" / "EXERCISES.md").exists()
    # Followed to the letter, the guide leaves the API reference up to date (the full suite checks it).
    check = subprocess.run([sys.executable, "tools/make_api_docs.py", "--check"], cwd=project,
                           env=environment(project), capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_korean_guide_snippets_print_what_it_shows_and_its_paths_exist():
    text = (ROOT / "docs" / "ko" / "README.md").read_text(encoding="utf-8")
    blocks = fenced_blocks(text)
    checked = 0
    for i, (lang, code) in enumerate(blocks):
        if lang == "python":
            proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment(ROOT),
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, f"block {i} failed:\n{code}\n{proc.stderr}"
            assert blocks[i + 1][0] == "text" and output_matches(blocks[i + 1][1], proc.stdout), proc.stdout
            checked += 1
    assert checked == 3
    paths = set(re.findall(r"`((?:demos|attention|minigrad|tests|docs)/[\w./]*\w)`", text))
    assert len(paths) > 15 and not sorted(p for p in paths if not (ROOT / p).exists())


def test_korean_guide_leads_to_the_notebooks_the_pages_and_their_extras():
    text = (ROOT / "docs" / "ko" / "README.md").read_text(encoding="utf-8")
    for needed in ["notebooks/00_lecture_notes.ko.ipynb", "notebooks/00_lecture_notes.ipynb", '".[notebooks]"',
                   '".[browser]"', "03_bank_of_the_river_backward.html", "explain_attention", "tests/test_pages.py"]:
        assert needed in text, needed
    notebooks = re.findall(r"`(notebooks/[\w.]+\.ipynb)`", text)
    assert notebooks and all((ROOT / path).exists() for path in notebooks), notebooks
    extras = set(re.findall(r'"\.\[(\w+)\]"', text))
    setup = (ROOT / "setup.cfg").read_text(encoding="utf-8")
    assert {"notebooks", "browser"} <= extras and all(re.search(rf"^{extra} =$", setup, re.M) for extra in extras)
