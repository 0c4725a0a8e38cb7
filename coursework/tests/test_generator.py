"""The coursework kit: exercises are cut precisely, the project's own tests grade them
(exactly the tests of the emptied parts fail, with the Exercise message), and putting
the reference code back makes those tests pass again."""
import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

from coursework import generator
from minigrad.ops import ALL_OPS

ROOT = generator.PROJECT


def grade(copy, command, report):
    """Run a grading command (as EXERCISES.md prints it) in the copy, with the copy first on
    the import path.  Returns the exit code and {test name: failure message or None}."""
    args = shlex.split(command)
    assert args[:3] == ["python", "-m", "pytest"], command
    options = ["-q", "-p", "no:cacheprovider", "--tb=line", f"--junitxml={report}"]
    proc = subprocess.run([sys.executable, *args[1:], *options], cwd=copy, env=environment(copy),
                          capture_output=True, text=True, timeout=300)
    results = {}
    for case in ET.parse(report).iter("testcase"):
        problem = next((case.find(tag) for tag in ("failure", "error") if case.find(tag) is not None), None)
        results[node_id(case.get("classname"), case.get("name"))] = (
            None if problem is None else f"{problem.get('message')}\n{problem.text}")
    assert results, proc.stdout + proc.stderr
    return proc.returncode, results


def environment(copy):
    """The copy first on the import path; no screen; no third-party pytest plugins (some
    take a second to load, and the project's tests need none)."""
    return dict(os.environ, PYTHONPATH=str(copy), MPLBACKEND="Agg", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")


def node_id(classname, name):
    """'tests.test_ops_sweep.TestOpSweep', 'test_x[Softmax-0]' -> 'tests/test_ops_sweep.py::TestOpSweep::test_x[Softmax-0]'."""
    parts = classname.split(".")
    module = next((i for i, part in enumerate(parts) if part[:1].isupper()), len(parts))
    return "::".join(["/".join(parts[:module]) + ".py", *parts[module:], name])


def commands_in(exercises_md):
    """The grading commands, in order, from the ```bash blocks of EXERCISES.md (the last is the whole suite)."""
    blocks = exercises_md.split("```bash\n")[1:]
    return [block.split("\n```")[0].strip() for block in blocks]


def classes_in(source):
    return {n.name: n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)}


def sweep_names(op, tests):
    return {f"tests/test_ops_sweep.py::TestOpSweep::{t}[{op.__name__}-{i}]" for t in tests for i in range(len(op.examples))}


USES_BACKWARD = ["test_gradient_matches_finite_differences", "test_second_derivatives_match_finite_differences",
                 "test_float32_stays_float32"]
FORWARD_ONLY = ["test_forward_matches_numpy_reference", "test_no_graph_under_no_grad"]


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
    twice = generator.replace_body(source, "Twice.backward", ["        pass\n"])
    assert twice == source.replace("        # a comment under the signature is part of the body\n"
                                   "        g = grad * 2\n"
                                   "        return g\n", "        pass\n")
    other = generator.replace_body(source, "Twice.other", ["        return 0\n"])
    assert other == source.replace("        return {'a': 1,\n                'b': 2}\n", "        return 0\n")
    with pytest.raises(ValueError, match="no function Twice.missing"):
        generator.replace_body(source, "Twice.missing", [])
    with pytest.raises(ValueError, match="code on its signature"):
        generator.replace_body("def f(x): return x\n", "f", [])


def test_list_names_every_op_and_the_shared_rules():
    text = generator.listing()
    ops = text.split("layers (")[0]
    assert set(re.findall(r"\b[A-Z]\w*\b", ops)) >= {op.__name__ for op in ALL_OPS}
    assert "Max [_Extremum.backward]" in text and "Min [_Extremum.backward]" in text
    assert "minigrad/nn.py: " in text and "Linear" in text
    assert "scaled_dot_product_attention" in text and "plot_attention" not in text


def test_grading_expressions_do_not_select_ops_whose_names_contain_the_name():
    targets = generator.find_targets()
    by_name = {t.name: t for t in targets if t.kind == "op"}
    assert generator.grading_command(by_name["Softmax"], targets).endswith('-k "Softmax- and not LogSoftmax-"')
    assert generator.grading_command(by_name["Add"], targets).endswith('-k "Add- and not ScatterAdd-"')
    assert generator.grading_command(by_name["Max"], targets).endswith('-k "Max- or Min-"')


def test_bad_requests_get_clear_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"no op named 'Softmx'; did you mean Softmax"):
        generator.resolve("Softmx", "op", generator.find_targets())
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    assert generator.main(["make", str(tmp_path / "full"), "--ops", "Exp"]) == 2
    assert "must be a new or empty folder" in capsys.readouterr().err
    with pytest.raises(ValueError, match="reference is the exercise folder itself"):
        generator.restore(ROOT)
    with pytest.raises(ValueError, match="not a minigrad source tree"):
        generator.check_project(tmp_path)


def test_softmax_and_matmul_exercises_are_graded_by_the_sweep_and_pass_once_restored(tmp_path):
    copy = tmp_path / "course"
    assert generator.main(["make", str(copy), "--ops", "Softmax,MatMul"]) == 0

    # The copy: the project's files, minus the generator, with two bodies emptied.
    assert not (copy / "minigrad" / "generator.py").exists() and not (copy / "tests" / "test_generator.py").exists()
    assert not (copy / ".venv").exists() and not (copy / "figures").exists() and not (copy / ".git").exists()
    for rel in ["minigrad/tensor.py", "minigrad/ops/elementwise.py", "tests/test_ops_sweep.py", "README.md"]:
        assert (copy / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    reference, emptied = (ROOT / "minigrad/ops/reduce.py").read_text(), (copy / "minigrad/ops/reduce.py").read_text()
    ref_classes, new_classes = classes_in(reference), classes_in(emptied)
    assert ast.get_docstring(new_classes["Softmax"]) == ast.get_docstring(ref_classes["Softmax"])  # the math stays
    backward = next(n for n in new_classes["Softmax"].body if getattr(n, "name", "") == "backward")
    assert [type(n) for n in backward.body] == [ast.Raise]                # a hint in comments, then one raise
    assert ast.unparse(backward.body[-1]).startswith("raise NotImplementedError('Exercise: write Softmax.backward")
    for name in ref_classes:                                              # every other class untouched
        if name != "Softmax":
            assert ast.dump(new_classes[name]) == ast.dump(ref_classes[name]), name
    ref_def = next(n for n in ref_classes["Softmax"].body if getattr(n, "name", "") == "backward")
    ref_lines, new_lines = reference.splitlines(), emptied.splitlines()   # and every line around the method
    assert new_lines[:backward.lineno] == ref_lines[:ref_def.lineno]
    assert new_lines[backward.end_lineno:] == ref_lines[ref_def.end_lineno:]

    exercises = (copy / "EXERCISES.md").read_text()
    softmax_cmd, matmul_cmd, whole_suite = commands_in(exercises)
    assert softmax_cmd == 'python -m pytest tests/test_ops_sweep.py -k "Softmax- and not LogSoftmax-"'
    assert matmul_cmd == "python -m pytest tests/test_ops_sweep.py -k MatMul-"
    assert whole_suite == "python -m pytest"
    from minigrad.ops import LogSoftmax, MatMul, Softmax, Tanh

    for op, command in [(Softmax, softmax_cmd), (MatMul, matmul_cmd)]:
        code, results = grade(copy, command, tmp_path / f"{op.__name__}.xml")
        failed = {name for name, message in results.items() if message}
        assert code == 1
        assert failed == sweep_names(op, USES_BACKWARD)
        assert {name for name, message in results.items() if not message} == sweep_names(op, FORWARD_ONLY)
        for name in failed:
            assert f"NotImplementedError: Exercise: write {op.__name__}.backward" in results[name], name

    # Neighbours whose code was not touched still pass in the copy.
    code, results = grade(copy, 'python -m pytest tests/test_ops_sweep.py -k "LogSoftmax- or Tanh-"',
                          tmp_path / "others.xml")
    neighbours = sweep_names(LogSoftmax, USES_BACKWARD + FORWARD_ONLY) | sweep_names(Tanh, USES_BACKWARD + FORWARD_ONLY)
    assert code == 0 and set(results) == neighbours and not any(results.values())

    assert sorted(generator.restore(copy)) == ["minigrad/ops/linalg.py: MatMul.backward",
                                                "minigrad/ops/reduce.py: Softmax.backward"]
    for rel in ["minigrad/ops/reduce.py", "minigrad/ops/linalg.py"]:
        assert (copy / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    code, results = grade(copy, 'python -m pytest tests/test_ops_sweep.py -k "(Softmax- and not LogSoftmax-) or MatMul-"',
                          tmp_path / "restored.xml")
    everything = USES_BACKWARD + FORWARD_ONLY
    assert code == 0 and set(results) == sweep_names(Softmax, everything) | sweep_names(MatMul, everything)
    assert not any(results.values())


def test_layer_and_function_exercises_fail_only_their_tests_until_restored(tmp_path):
    copy = tmp_path / "course"
    assert generator.main(["make", str(copy), "--layers", "Linear", "--functions", "kernel_smooth"]) == 0
    linear_cmd, smooth_cmd, _ = commands_in((copy / "EXERCISES.md").read_text())
    assert "tests/test_nn.py" in linear_cmd.split() and "tests/test_attention_layers.py" in linear_cmd.split()
    assert smooth_cmd == "python -m pytest tests/test_attention_api.py tests/test_attention_reweighting.py"
    nn_py = (copy / "minigrad/nn.py").read_text()
    assert 'raise NotImplementedError("Exercise: write Linear.forward' in nn_py
    assert '"""y = x @ weight + bias' in nn_py

    rerun = {}
    for command, qualname, home in [(linear_cmd, "Linear.forward", "tests/test_nn.py"),
                                    (smooth_cmd, "kernel_smooth", "tests/test_attention_reweighting.py")]:
        code, results = grade(copy, command, tmp_path / f"{qualname}.xml")
        failed = {name: message for name, message in results.items() if message}
        passed = {name for name, message in results.items() if not message}
        assert code == 1 and failed and passed  # the tests that do not use the part still pass
        for name, message in failed.items():  # a test that walks every function meets the other exercise too
            taken = [qualname] if name.startswith(home) else ["Linear.forward", "kernel_smooth"]
            assert any(f"NotImplementedError: Exercise: write {q}" in message for q in taken), (name, message)
        # After restoring, re-run the failures of the part's own test file (the others, in
        # training tests, take long to pass and show nothing new).
        rerun[qualname] = sorted({name.split("[")[0] for name in failed if name.startswith(home)})
        assert rerun[qualname]

    assert sorted(generator.restore(copy)) == ["attention/reweighting.py: kernel_smooth",
                                                "minigrad/nn.py: Linear.forward"]
    code, results = grade(copy, "python -m pytest " + " ".join(sum(rerun.values(), [])), tmp_path / "restored.xml")
    assert code == 0 and not any(results.values()), results


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
    project = tmp_path / "project"
    tool = [rel for rel in generator.project_files(ROOT, with_tools=True) if rel.startswith("coursework/")]
    for rel in generator.project_files(ROOT) + tool:
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
