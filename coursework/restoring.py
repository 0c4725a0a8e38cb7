"""Putting the reference code back into a copy: exercises still empty are restored, those a
student changed are left (and listed) unless forced."""
import ast
import subprocess
import sys
from pathlib import Path

from coursework.copying import check_project
from coursework.cutting import body_lines, docstring_lines, has_docstring, is_stub, node_of, replace_body, replace_docstring
from coursework.parts import find_targets

API_DOCS = "tools/make_api_docs.py"


def exercises_of(out):
    """{qualname: module} from the copy's conftest.py, which the generator wrote."""
    conftest = Path(out) / "conftest.py"
    tree = ast.parse(conftest.read_text(encoding="utf-8")) if conftest.exists() else ast.Module(body=[])
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["EXERCISES"]:
            return ast.literal_eval(node.value)
    raise ValueError(f"coursework restore: {out} is not an exercise set (no EXERCISES in its conftest.py)")


def code_of(node):
    """A function's statements without its docstring, for comparing implementations."""
    return [ast.dump(n) for n in (node.body[1:] if has_docstring(node) else node.body)]


def restore(out_dir, root, force=False):
    """Put the reference bodies (and docstrings) from `root` back into the exercises of out_dir.
    Returns {"restored": [...], "already": [...], "left": [...], "overwritten": [...]} of 'path: qualname'."""
    root, out = check_project(root), Path(out_dir)
    if out.resolve() == root.resolve():
        raise ValueError("coursework restore: the reference is the exercise folder itself; run it from "
                         "the original project or pass --from PROJECT_DIR")
    targets = {(t.path, t.qualname): t for t in find_targets(root)}
    outcome = {"restored": [], "already": [], "left": [], "overwritten": []}
    for qualname, module in exercises_of(out).items():
        path = module.replace(".", "/") + ".py"
        source, reference = (out / path).read_text(encoding="utf-8"), (root / path).read_text(encoding="utf-8")
        current, original = node_of(source, qualname), node_of(reference, qualname)
        status = ("restored" if is_stub(current) else "already" if code_of(current) == code_of(original)
                  else "overwritten" if force else "left")
        outcome[status].append(f"{path}: {qualname}")
        if status != "left":
            (out / path).write_text(put_back(source, reference, targets[(path, qualname)]), encoding="utf-8")
    if (outcome["restored"] or outcome["overwritten"]) and (out / API_DOCS).exists():
        # The copy's API reference was written from docstrings without their answers: write it again.
        subprocess.run([sys.executable, API_DOCS], cwd=out, check=True, capture_output=True)
    return outcome


def put_back(source, reference, target):
    """source with the target's body and the docstrings the exercise changed as in `reference`."""
    first, last = body_lines(reference, node_of(reference, target.qualname))
    source = replace_body(source, target.qualname, reference.splitlines(keepends=True)[first - 1:last])
    for qualname in [target.qualname, target.owner, *target.shared_by]:
        if qualname and docstring_lines(source, qualname) != docstring_lines(reference, qualname):
            source = replace_docstring(source, qualname, docstring_lines(reference, qualname))
    return source


def report(outcome):
    """The lines `restore` prints: what it did to each exercise."""
    words = {"restored": "restored", "already": "already the reference", "overwritten": "overwritten (--force)",
             "left": "left as the student wrote it (pass --force to overwrite it)"}
    lines = [f"{words[status]}: {item}" for status, items in outcome.items() for item in items]
    return "\n".join(lines) or "no exercises found"
