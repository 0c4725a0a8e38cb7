"""Writing the students' copy: the project's files with the chosen parts emptied, their
answers taken out everywhere else too, a grading conftest.py, EXERCISES.md and a README."""
import ast
import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from coursework.cutting import (body_lines, docstring_lines, format_docstring, has_docstring, node_of, replace_body,
                                replace_docstring, required_checks, stub_lines, without_answer, has_answer)
from coursework.exercises_md import course_readme, exercises_markdown
from coursework.grading import grading_command
from coursework.parts import find_targets, relative

SKIPPED_DIRS = {".git", ".venv", "venv", "figures", "__pycache__", ".pytest_cache", "build", "dist", ".benchmarks"}
# Tools over the tree (this generator, CI) and the benchmark, whose NumPy baselines are
# written-out backward rules, stay out of the copy.
LEFT_OUT = {".ci/": "the CI script", "coursework/": "the generator of this set",
            "bench/": "the benchmark (its NumPy baselines hold backward rules)"}
LIBRARY = ("minigrad/", "attention/")
CONFTEST = Path(__file__).with_name("course_conftest.py")
NOTEBOOK_TESTS = "tests/test_notebooks.py"
MIN_ANSWER_LINE = 12  # shorter lines (`return out`, `x = F.as_tensor(x)`) are not an answer


def project_files(root, with_tools=False):
    """Paths (relative, posix) of the project's files: what git tracks or would add, or,
    without git, every file outside SKIPPED_DIRS; the LEFT_OUT ones only if asked."""
    root = Path(root)
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=root, capture_output=True, text=True, check=True).stdout.split("\0")
        files = sorted({f for f in listed if f and (root / f).is_file()})
    except (OSError, subprocess.CalledProcessError):
        files = sorted(relative(p, root) for p in root.rglob("*") if p.is_file()
                       and not SKIPPED_DIRS & set(p.relative_to(root).parts[:-1]) and not p.suffix == ".pyc")
    return [f for f in files if (with_tools or not f.startswith(tuple(LEFT_OUT)))
            and not any(part.endswith(".egg-info") for part in f.split("/"))]


def check_project(root):
    root = Path(root)
    if not ((root / "minigrad" / "ops").is_dir() and (root / "tests" / "test_ops_sweep.py").is_file()):
        raise ValueError(f"coursework: {root} is not a minigrad source tree (it needs minigrad/ops/ and "
                         f"tests/test_ops_sweep.py); run it from a clone of minigrad or pass --from PROJECT_DIR")
    return root


def cut(source, target):
    """source with `target` made an exercise: its body a stub, the backward rule out of the
    docstrings that state it, the errors it must raise added to its docstring.
    Returns (new source, the docstring text taken out)."""
    checks = required_checks(source, target.qualname) if target.kind not in ("op", "jvp") else []
    if target.kind == "op":
        check_answer_marked(source, target)
    source = replace_body(source, target.qualname, stub_lines(source, target))
    removed = []
    described = [target.qualname] + [target.owner] if target.kind == "op" else [target.qualname]
    for qualname in described + list(target.shared_by):
        node = node_of(source, qualname)
        doc, text = docstring_lines(source, qualname), ast.get_docstring(node) or ""
        if target.kind == "jvp":  # its one-line docstring is the rule itself
            kept, gone = "", [text] if text else []
        elif target.kind == "op" and qualname == target.qualname:  # backward's own docstring: the answer by its place
            kept, gone = "", [text.strip()] if text.strip() else []
        else:
            kept, gone = without_answer(text) if target.kind == "op" else (text.strip(), [])
        if qualname == target.qualname and checks:
            kept = (kept or f"The {target.qualname.rpartition('.')[2]} pass the class docstring describes.") + "\n\n" + checks
        if gone or kept != text.strip():
            indent = " " * node.body[0].col_offset if doc else " " * (node.col_offset + 4)
            source = replace_docstring(source, qualname, format_docstring(kept, indent) if kept else [])
        removed += gone
    return source, removed


def check_answer_marked(source, target):
    """Refuse an op whose class docstring does not mark its answer: without the mark the copy
    could not tell the rule from the rest, and would hand it out."""
    for qualname in dict.fromkeys([target.owner, *target.shared_by]):
        if not has_answer(ast.get_docstring(node_of(source, qualname)) or ""):
            raise ValueError(f"coursework: the docstring of {qualname} ({target.path}) marks no answer; start the "
                             "sentence that states its backward rule with 'Backward:' (e.g. 'exp(x).  Backward: "
                             "d/dx = out.'), so that the exercise copy leaves it out")


def answer_lines(root, rel, target, removed):
    """The lines that would give `target` away: those of its reference body that no other
    library code has, and the docstring sentences cut out of it.  A line the tests also have
    is theirs (an oracle states the formula a forward pass is asked for): they grade the copy."""
    source = (Path(root) / rel).read_text(encoding="utf-8")
    first, last = body_lines(source, node_of(source, target.qualname))
    body = {line.strip() for line in source.splitlines()[first - 1:last] if len(line.strip()) >= MIN_ANSWER_LINE}
    elsewhere = set()
    for path, lines in graded_code_lines(str(root)):
        elsewhere |= set(lines[:first - 1] + lines[last:] if path == rel else lines)
    cut_doc = {line.strip() for text in removed for line in text.splitlines() if len(line.strip()) >= 8}
    return body - elsewhere, cut_doc


@functools.lru_cache(maxsize=8)
def graded_code_lines(root):
    """(path, its stripped lines, docstrings blanked) of the library's files and the tests: a
    line quoted in a docstring (an op written out as an example) is no reason to keep it."""
    paths = [p for folder in LIBRARY + ("tests/",) for p in sorted((Path(root) / folder).rglob("*.py"))]
    found = []
    for path in paths:
        source = path.read_text(encoding="utf-8")
        quoted = {n for d in docstring_nodes(ast.parse(source)) for n in range(d.lineno, d.end_lineno + 1)}
        found.append((relative(path, root), ["" if number in quoted else line.strip()
                                             for number, line in enumerate(source.splitlines(), 1)]))
    return found


def docstring_nodes(tree):
    return [node.body[0] for node in ast.walk(tree) if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body and has_docstring(node)]


def without_generator_lines(text):
    """The README without its lines about the generator (a table row, a guide entry): the
    project's tests read the rest of it, so it stays whole otherwise."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not re.search(r"`coursework/`|python -m coursework", line))


def without_generator_sections(text):
    """A Markdown file without its sections (## headings) that describe the coursework generator."""
    sections = re.split(r"(?m)^(?=## )", text)
    return "".join(s for s in sections if "coursework" not in s or not s.startswith("## "))


def make(out_dir, chosen, root):
    """Copy the project to out_dir with the chosen targets turned into exercises; returns
    the (target, grading command) pairs, in order."""
    root, out = check_project(root), Path(out_dir)
    if out.resolve() == root.resolve() or (out.exists() and any(out.iterdir())):
        raise ValueError(f"coursework: {out} must be a new or empty folder (it would be overwritten)")
    targets = find_targets(root)
    # One exercise per function emptied: choosing Max and Min gives one, _Extremum.backward.
    unique = list({(t.path, t.qualname): t for t in chosen}.values())
    texts, answers = emptied_files(root, unique)
    files = project_files(root)
    left_out = holding_answers(root, files, texts, answers)
    left_out.update(checking_tests(left_out))
    for rel in [f for f in files if f not in left_out]:
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if rel in texts:
            dest.write_text(texts[rel], encoding="utf-8")
        else:
            shutil.copy2(root / rel, dest)
    graded = [(t, grading_command(t, targets, root)) for t in unique]
    write_course_files(out, graded, left_out)
    return graded


def emptied_files(root, unique):
    """{path: new text} of the files the copy changes, and {target qualname: its answer lines}."""
    texts, answers = {}, {}
    for target in unique:
        source = texts.get(target.path) or (root / target.path).read_text(encoding="utf-8")
        texts[target.path], removed = cut(source, target)
        answers[target.qualname] = answer_lines(root, target.path, target, removed)
    for rel in project_files(root):
        if rel.endswith(".md"):
            text = (root / rel).read_text(encoding="utf-8")
            edit = without_generator_lines if rel == "README.md" else without_generator_sections
            if edit(text) != text:
                texts[rel] = edit(text)
    return texts, answers


def holding_answers(root, files, texts, answers):
    """{path: why} of the files left out because a line of theirs gives an exercise away.
    A library file cannot be left out: a backward rule quoted in it (an example in a
    docstring) is replaced there instead, and the file's new text put into `texts`."""
    left_out = {}
    for rel in files:
        try:
            text = texts.get(rel) or readable_text(root / rel)
        except UnicodeDecodeError:
            continue  # figures
        if rel.startswith(LIBRARY) or rel == "README.md":  # the copy cannot do without them
            text = texts[rel] = without_quoted_answers(text, answers)
        lines = {line.strip() for line in text.splitlines()}
        given = [qualname for qualname, (body, doc) in answers.items()
                 if body & lines or any(sentence in text for sentence in doc)]
        if given:
            left_out[rel] = f"it holds the answer to {', '.join(given)}"
    return left_out


def checking_tests(left_out):
    """{path: why} of the tests that check files left out: tests/test_notebooks.py, which
    compares every notebook with its source, once a notebook is gone.  (tests/test_demos.py
    runs a demo without its notebook by itself.)"""
    notebooks = sorted(rel for rel in left_out if rel.startswith("notebooks/") and rel.endswith(".ipynb"))
    if not notebooks:
        return {}
    return {NOTEBOOK_TESTS: f"it checks the notebooks left out ({', '.join(notebooks)})"}


def without_quoted_answers(text, answers):
    """A library file's text with the answers it quotes (in docstrings: its code has none,
    see answer_lines) replaced by a note naming the exercise."""
    for qualname, (body, doc) in answers.items():
        for sentence in [s for s in doc if s in text]:
            text = text.replace(sentence, f"(the rule is exercise {qualname})")
        lines = text.splitlines(keepends=True)
        for i, line in enumerate(lines):
            if line.strip() in body:
                lines[i] = line[:len(line) - len(line.lstrip())] + f"...  (the body is exercise {qualname})\n"
        text = "".join(lines)
    return text


def readable_text(path):
    """A file's text as a reader sees it: a notebook's cells and outputs, not its JSON escapes."""
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix != ".ipynb":
        return text
    cells = json.loads(text).get("cells", [])
    outputs = [output.get("text", "") for cell in cells for output in cell.get("outputs", [])]
    return "\n".join("".join(part) for part in [cell.get("source", "") for cell in cells] + outputs)


def write_course_files(out, graded, left_out):
    """conftest.py (the grader), EXERCISES.md and README.md of the copy; docs/API.md regenerated
    from the copy's docstrings."""
    modules = {t.qualname: t.module for t, _ in graded}
    template = CONFTEST.read_text(encoding="utf-8")
    (out / "conftest.py").write_text(template.replace("EXERCISES = {}", f"EXERCISES = {modules!r}", 1), encoding="utf-8")
    (out / "EXERCISES.md").write_text(exercises_markdown(graded, out), encoding="utf-8")
    everything_left = {**{folder: why for folder, why in LEFT_OUT.items()}, **left_out}
    readme = out / "README.md"
    original = readme.read_text(encoding="utf-8") if readme.exists() else ""
    readme.write_text(course_readme(graded, everything_left) + original, encoding="utf-8")
    if graded and (out / "tools" / "make_api_docs.py").exists():
        subprocess.run([sys.executable, "tools/make_api_docs.py"], cwd=out, check=True, capture_output=True)
