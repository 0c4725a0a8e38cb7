"""What a students' copy holds and how it is graded: each exercise on its own (waiting for
the others apart from its own failures), no answer anywhere in the copy, and a restore
that says what it did."""
import ast
import inspect
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from coursework import generator
from coursework.copying import checking_tests, holding_answers
from coursework.parts import find_targets
from coursework.tests.helpers import commands_in, environment, grade
from minigrad.ops import Tanh

ROOT = generator.PROJECT
SCENARIO = ["--ops", "Softmax,Tanh", "--layers", "Linear", "--functions", "scaled_dot_product_attention"]
BACKWARD_TESTS = ["test_gradient_matches_finite_differences", "test_second_derivatives_match_finite_differences",
                  "test_float32_stays_float32"]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    copy = tmp_path_factory.mktemp("scenario") / "course"
    assert generator.main(["make", str(copy), *SCENARIO]) == 0
    return copy


@pytest.fixture(scope="module")
def everything(tmp_path_factory):
    """A copy with every part that can be taken out taken out."""
    copy = tmp_path_factory.mktemp("everything") / "course"
    assert generator.make(copy, find_targets(ROOT), ROOT)
    return copy


def reference_body(target):
    """The reference source lines of the part's body (after its docstring)."""
    source = (ROOT / target.path).read_text(encoding="utf-8")
    tree = ast.parse(source)
    owner, _, name = target.qualname.rpartition(".")
    scope = next(n for n in tree.body if getattr(n, "name", None) == owner).body if owner else tree.body
    node = next(n for n in scope if isinstance(n, ast.FunctionDef) and n.name == name)
    first = node.body[1] if isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) else node.body[0]
    return source.splitlines()[first.lineno - 1:node.end_lineno], (first.lineno, node.end_lineno)


def write_reference(copy, target):
    """What a student who writes the part exactly right leaves in the copy."""
    body, _ = reference_body(target)
    path = copy / target.path
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    stub = next(i for i, line in enumerate(lines) if f"Exercise: write {target.qualname} " in line)
    start = next(i for i in range(stub, 0, -1) if not lines[i - 1].lstrip().startswith("#"))
    path.write_text("".join(lines[:start] + [line + "\n" for line in body] + lines[stub + 1:]), encoding="utf-8")


def copy_texts(copy):
    texts = {}
    for path in Path(copy).rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # figures
            if path.suffix == ".ipynb":  # what a reader sees: the cells, not their JSON escapes
                cells = json.loads(text)["cells"]
                text = "\n".join("".join(c["source"]) + "".join("".join(o.get("text", "")) for o in c.get("outputs", []))
                                  for c in cells)
            texts[path.relative_to(copy).as_posix()] = text
    return texts


def test_the_part_written_passes_alone_and_the_others_wait_or_fail_under_their_own_names(scenario, tmp_path):
    linear = next(t for t in find_targets(ROOT) if t.name == "Linear")
    write_reference(scenario, linear)
    softmax_cmd, tanh_cmd, linear_cmd, attention_cmd, whole = commands_in((scenario / "EXERCISES.md").read_text())
    assert linear_cmd.endswith("--exercise Linear.forward") and whole == "python -m pytest"

    code, results, output = grade(scenario, linear_cmd, tmp_path / "linear.xml")
    failed = {name: message for name, (outcome, message) in results.items() if outcome == "failed"}
    waiting = [message for outcome, message in results.values() if outcome == "skipped" and "waits for" in message]
    assert code == 0 and not failed, failed
    summary = re.search(r"Linear.forward: (\d+) of (\d+) checks pass; (.*)", output)
    assert summary and summary.group(1) == summary.group(2) and int(summary.group(1)) > 0, output
    assert "wait for exercise scaled_dot_product_attention" in summary.group(3)
    assert "wait for exercise Tanh.backward" in summary.group(3)
    assert waiting and all(re.search(r"waits for exercise (scaled_dot_product_attention|Tanh\.backward|Softmax\.backward)",
                                     m) for m in waiting)
    # The exact error message it asks for is stated in the copy's docstring, and is met.
    assert results["tests/test_nn.py::test_linear_rejects_the_wrong_input_width"][0] == "passed"
    assert "check_last_axis" in (scenario / "minigrad/nn.py").read_text()

    code, results, output = grade(scenario, tanh_cmd, tmp_path / "tanh.xml")
    failed = {name for name, (outcome, _) in results.items() if outcome == "failed"}
    backward_checks = ({f"tests/test_ops_sweep.py::TestOpSweep::{test}[Tanh-{i}]"
                        for test in BACKWARD_TESTS for i in range(len(Tanh.examples))}
                       | {f"tests/test_ops_sweep.py::test_boundary_values_and_gradients[Tanh.{i}]"
                          for i, case in enumerate(Tanh.boundary) if case.grads is not None})
    assert code == 1 and failed == backward_checks
    assert all("Exercise: write Tanh.backward" in results[name][1] for name in failed)
    assert f"Tanh.backward: 0 of {len(backward_checks)} checks pass" in output


def test_every_notebook_test_that_runs_an_empty_exercise_is_its_check(scenario, tmp_path):
    # The lecture notebooks run once per module for five tests each: all ten wait for Softmax.backward.
    pytest.importorskip("matplotlib", reason="the copy's notebook tests run only where matplotlib draws (the test extra)")
    code, results, output = grade(scenario, "python -m pytest tests/test_notebooks.py", tmp_path / "notebooks.xml")
    failed = [message for outcome, message in results.values() if outcome == "failed"]
    assert code == 1 and len(failed) == 10 and all("Exercise: write Softmax.backward" in m for m in failed)
    assert f"Softmax.backward: 0 of {len(failed)} checks pass" in output


def test_an_unknown_exercise_is_refused(scenario):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--exercise", "Tanh"],
                          cwd=scenario, env=environment(scenario), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 4 and "choose one of Softmax.backward, Tanh.backward" in proc.stderr


def test_exercises_md_gives_each_part_its_signature_tests_and_a_hint_but_not_the_formula(scenario):
    text = (scenario / "EXERCISES.md").read_text()
    sections = re.split(r"(?m)^## ", text)
    softmax, tanh = (next(s for s in sections if s.startswith(f"{n}. `{q}`")) for n, q in
                     [(1, "Softmax.backward"), (2, "Tanh.backward")])
    for section in (softmax, tanh):
        assert "def backward(self, grad, x, out):" in section and "--exercise" in section and "Hint:" in section
    assert "exp(x) / sum(exp(x)) along axis" in softmax and "s * (g - sum(g * s))" not in softmax
    assert "tanh(x)." in tanh and "out²" not in tanh and "tanh²" not in tanh
    attention = next(s for s in sections if s.startswith("4. `scaled_dot_product_attention`"))
    assert "q (..., T, Dh), k (..., S, Dh), v (..., S, Dv)" in attention and "check_mask" in attention
    assert "restore" in text and "--force" in text
    readme = (scenario / "README.md").read_text()
    assert "exercise set" in readme and all(q in readme for q in ["Softmax.backward", "Linear.forward"])
    assert "`bench/`" in readme and not (scenario / "bench").exists() and not (scenario / ".ci").exists()
    assert not (scenario / "coursework").exists() and "python -m coursework" not in (scenario / "docs/EXTENDING.md").read_text()
    assert "python -m coursework" not in readme and "## Training loops" in readme  # the project's README follows


def test_the_whole_suite_of_the_copy_collects(scenario):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q"],
                          cwd=scenario, env=environment(scenario), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def answer_lines(target):
    """Lines of the part's reference body that no other code of the library or the tests has."""
    body, (first, last) = reference_body(target)
    elsewhere = set()
    for path, lines in CODE_LINES.items():
        elsewhere |= set(lines[:first - 1] + lines[last:] if path == target.path else lines)
    return {line.strip() for line in body if len(line.strip()) >= 12} - elsewhere


def code_lines(path):
    """A file's stripped lines with its docstrings blanked: a body quoted in a docstring is still an answer."""
    source = path.read_text(encoding="utf-8")
    quoted = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef) and ast.get_docstring(node) is not None:
            quoted |= set(range(node.body[0].lineno, node.body[0].end_lineno + 1))
    return ["" if i in quoted else line.strip() for i, line in enumerate(source.splitlines(), 1)]


CODE_LINES = {path.relative_to(ROOT).as_posix(): code_lines(path)
              for folder in ("minigrad", "attention", "tests") for path in (ROOT / folder).rglob("*.py")}


def backward_formulas(target):
    """From 'd/dx', 'dL/dx' or 'Backward' on, each docstring line of the op that states its rule."""
    classes = {n.name: n for n in ast.parse((ROOT / target.path).read_text(encoding="utf-8")).body
               if isinstance(n, ast.ClassDef)}
    formulas = []
    for name in {target.name, target.owner}:
        for line in inspect.cleandoc(ast.get_docstring(classes[name]) or "").splitlines():
            found = re.search(r"\bd\w*/d\w|\bBackward\b", line)
            if found:
                formulas.append(line[found.start():].strip())
    return formulas


def test_no_part_that_can_be_taken_out_leaves_its_answer_in_the_copy(everything):
    texts = copy_texts(everything)
    lines = {line.strip() for text in texts.values() for line in text.splitlines()}
    targets = find_targets(ROOT)
    ops = [t for t in targets if t.kind == "op"]
    assert len(targets) > 60 and sum(bool(backward_formulas(t)) for t in ops) >= len(ops) - 6
    for target in targets:
        assert not answer_lines(target) & lines, (target.qualname, answer_lines(target) & lines)
        if target.kind == "op":
            for formula in backward_formulas(target):
                holding = [rel for rel, text in texts.items() if formula in text]
                assert not holding, (target.qualname, formula, holding)
    assert "Softmax.backward" in texts["conftest.py"] and "exercise set" in texts["README.md"]


def test_restore_puts_back_what_is_still_empty_and_leaves_what_a_student_changed(tmp_path, capsys):
    copy = tmp_path / "course"
    assert generator.main(["make", str(copy), "--ops", "Exp,Tanh", "--layers", "Linear"]) == 0
    write_reference(copy, next(t for t in find_targets(ROOT) if t.name == "Linear"))
    elementwise = copy / "minigrad/ops/elementwise.py"
    stub = 'raise NotImplementedError("Exercise: write Tanh.backward (see EXERCISES.md)")'
    assert stub in elementwise.read_text()
    elementwise.write_text(elementwise.read_text().replace(stub, "return grad * (1 - out ** 2)  # mine"))
    capsys.readouterr()

    assert generator.main(["restore", str(copy)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "restored: minigrad/ops/elementwise.py: Exp.backward",
        "already the reference: minigrad/nn.py: Linear.forward",
        "left as the student wrote it (pass --force to overwrite it): minigrad/ops/elementwise.py: Tanh.backward"]
    reference = (ROOT / "minigrad/ops/elementwise.py").read_text()
    restored = elementwise.read_text()
    assert "# mine" in restored and (copy / "minigrad/nn.py").read_bytes() == (ROOT / "minigrad/nn.py").read_bytes()
    exp_class = [ast.get_source_segment(text, next(n for n in ast.parse(text).body if getattr(n, "name", "") == "Exp"))
                 for text in (restored, reference)]
    assert exp_class[0] == exp_class[1]  # body and docstring back

    assert generator.main(["restore", str(copy), "--force"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "already the reference: minigrad/ops/elementwise.py: Exp.backward",
        "already the reference: minigrad/nn.py: Linear.forward",
        "overwritten (--force): minigrad/ops/elementwise.py: Tanh.backward"]
    assert elementwise.read_text() == reference
    # Fully restored, the copy passes its own checks, the API reference among them.
    checks = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_api_docs.py",
                             "tests/test_ops_sweep.py", "-k", "api or Exp- or Exp. or Tanh- or Tanh."], cwd=copy,
                            env=environment(copy), capture_output=True, text=True, timeout=300)
    assert checks.returncode == 0, checks.stdout[-3000:]


def test_a_notebook_or_guide_holding_an_emptied_line_is_left_out(tmp_path):
    answer = {"Softmax.backward": ({"g = grad - _row_dot(grad, out, self.axis)"}, {"dL/dx = s * (g - sum(g * s))"})}
    cell = {"cell_type": "code", "source": ["def softmax_backward(grad, out, axis):\n",
                                            "    g = grad - _row_dot(grad, out, self.axis)\n"], "outputs": []}
    (tmp_path / "notes.ipynb").write_text(json.dumps({"cells": [cell]}, ensure_ascii=True))
    (tmp_path / "guide.md").write_text("Softmax's rule: dL/dx = s * (g - sum(g * s)), with s = out.\n")
    (tmp_path / "other.md").write_text("g = grad - something else\n")
    left = holding_answers(tmp_path, ["notes.ipynb", "guide.md", "other.md"], {}, answer)
    assert sorted(left) == ["guide.md", "notes.ipynb"] and "Softmax.backward" in left["notes.ipynb"]


def test_a_notebook_left_out_takes_its_test_along(tmp_path):
    answer = {"Tanh.backward": ({"return grad * (1 - out * out)"}, set())}
    cell = {"cell_type": "code", "source": ["return grad * (1 - out * out)\n"], "outputs": []}
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "03_demo.ipynb").write_text(json.dumps({"cells": [cell]}))
    (tmp_path / "notebooks" / "04_other.ipynb").write_text(json.dumps({"cells": []}))
    left = holding_answers(tmp_path, ["notebooks/03_demo.ipynb", "notebooks/04_other.ipynb"], {}, answer)
    assert list(left) == ["notebooks/03_demo.ipynb"]
    assert list(checking_tests(left)) == ["tests/test_notebooks.py"]
    assert "03_demo.ipynb" in checking_tests(left)["tests/test_notebooks.py"]
    assert checking_tests({"bench/": "the benchmark"}) == {}


def test_an_empty_exercise_run_ends_with_its_summary_and_one_line_per_failure(scenario):
    command = commands_in((scenario / "EXERCISES.md").read_text())[1]         # Tanh.backward, still empty
    args = shlex.split(command)[1:] + ["-p", "no:cacheprovider"]

    def run(*extra):
        return subprocess.run([sys.executable, *args, *extra], cwd=scenario, env=environment(scenario),
                              capture_output=True, text=True, timeout=300).stdout.rstrip().splitlines()
    lines = run()
    failed = [line for line in lines if line.startswith("FAILED ")]
    assert lines[-1].startswith("Tanh.backward: 0 of ") and lines[-1].endswith(f"0 of {len(failed)} checks pass")
    assert failed and all("Exercise: write Tanh.backward" in line for line in failed)
    assert not [line for line in lines if line.startswith(("E ", "Traceback", "    def ", ">  "))]
    assert len(lines) < len(failed) + 20                                      # the failures, the counts, the summary
    verbose = "\n".join(run("-v"))                                            # -v: the tracebacks are back
    assert "raise NotImplementedError" in verbose and verbose.splitlines()[-1] == lines[-1]
