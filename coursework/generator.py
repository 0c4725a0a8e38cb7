"""Coursework: turn minigrad into exercises that its own test suite grades.

    python -m coursework --list                           # what can be taken out (or: list)
    python -m coursework make OUT_DIR --ops Softmax,MatMul [--layers Linear] [--functions ...]
    python -m coursework restore OUT_DIR                  # put the reference code back

`make` copies the project (the files git tracks or would add; ignored ones such as .venv/
and figures/ stay out) and empties the chosen parts: an op's `backward`, a layer's
`forward`, an attention function.  Each body becomes `raise NotImplementedError("Exercise:
...")`; docstrings stay, since they state the math.  Bodies are found with `ast` (exact
line ranges), so every other line of every file is copied unchanged.  EXERCISES.md in the
copy lists the exercises and the pytest command that grades each one.
"""
import argparse
import ast
import difflib
import io
import shutil
import subprocess
import sys
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
# Tools over the tree stay out of the students' copy: this generator (its tests compare a
# copy with the reference, which a copy with exercises is not) and the CI script.
NOT_COPIED = ("coursework/", ".ci/")
SKIPPED_DIRS = {".git", ".venv", "venv", "figures", "__pycache__", ".pytest_cache", "build", "dist", ".benchmarks"}
SWEEP = "tests/test_ops_sweep.py"
STUB_PREFIX = "Exercise:"


@dataclass
class Target:
    """A part that can become an exercise: `qualname`'s body in `path` (relative to the project)."""
    kind: str       # "op" (its backward), "layer" (its forward) or "function"
    name: str       # as typed on the command line: Softmax, Linear, scaled_dot_product_attention
    path: str
    qualname: str   # the function emptied: Softmax.backward, _Extremum.backward, causal_mask
    summary: str    # the docstring's first paragraph: what the part computes
    shared_by: tuple = ()  # ops that inherit the same backward (Max and Min share _Extremum's)


# ---- finding the parts -----------------------------------------------------------------

def find_targets(root=PROJECT):
    """Every op, layer and attention function of the project at `root`, as a list of Targets."""
    root = Path(root)
    targets = []
    for path in sorted((root / "minigrad" / "ops").glob("*.py")):
        targets += _class_targets(root, path, "op", "backward")
    layer_files = [root / "minigrad" / "nn.py"] + sorted((root / "attention").glob("*.py"))
    for path in [p for p in layer_files if p.exists()]:
        targets += _class_targets(root, path, "layer", "forward")
        if path.parent.name == "attention":
            tree = ast.parse(path.read_text(encoding="utf-8"))
            targets += [Target("function", node.name, _rel(path, root), node.name, _summary(node))
                        for node in tree.body if isinstance(node, ast.FunctionDef)
                        and not node.name.startswith(("_", "plot"))]  # plotting helpers are not exercises
    return targets


def _class_targets(root, path, kind, method):
    """Public classes of one file that define `method` or inherit it from a class of the same file."""
    classes = {n.name: n for n in ast.parse(path.read_text(encoding="utf-8")).body if isinstance(n, ast.ClassDef)}
    found = []
    for name, node in classes.items():
        definer = _defining_class(name, classes, method)
        if name.startswith("_") or definer is None or _is_stub(_method(classes[definer], method), any_raise=True):
            continue  # private, without the method, or an abstract base whose method only raises
        found.append(Target(kind, name, _rel(path, root), f"{definer}.{method}", _summary(node)))
    for target in found:
        siblings = tuple(t.name for t in found if t.qualname == target.qualname)
        if len(siblings) > 1:  # the shared rule is described where it is written
            target.shared_by, target.summary = siblings, _summary(classes[target.qualname.split(".")[0]])
    return found


def _defining_class(name, classes, method, seen=()):
    node = classes.get(name)
    if node is None or name in seen:
        return None
    if _method(node, method) is not None:
        return name
    for base in node.bases:
        if isinstance(base, ast.Name):
            definer = _defining_class(base.id, classes, method, seen + (name,))
            if definer:
                return definer
    return None


def _method(class_node, name):
    return next((n for n in class_node.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _summary(node):
    """The first paragraph of a docstring, on one line."""
    doc = (ast.get_docstring(node) or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


def _rel(path, root):
    return Path(path).relative_to(root).as_posix()


def resolve(names, kind, targets):
    """The targets of one kind named on the command line (case-insensitive), or a clear error."""
    of_kind = {t.name.lower(): t for t in targets if t.kind == kind}
    chosen = []
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        if name.lower() not in of_kind:
            close = difflib.get_close_matches(name, [t.name for t in of_kind.values()], n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see python -m coursework --list"
            raise ValueError(f"coursework: there is no {kind} named {name!r}{hint}")
        chosen.append(of_kind[name.lower()])
    return chosen


# ---- emptying and refilling function bodies ---------------------------------------------

def function_nodes(tree):
    """{qualname: FunctionDef} for module functions and methods of module-level classes."""
    nodes = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            nodes[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    nodes[f"{node.name}.{item.name}"] = item
    return nodes


def body_lines(source, node):
    """(first, last): the 1-based line range of a function's body after its docstring,
    which is what an exercise replaces.  Comments right under the signature belong to it."""
    docstring = node.body[0] if _has_docstring(node) else None
    first = docstring.end_lineno + 1 if docstring else _header_end(source, node) + 1
    if len(node.body) == (1 if docstring else 0):
        raise ValueError(f"coursework: {node.name} has nothing but a docstring to take out")
    if node.body[1 if docstring else 0].lineno < first:
        raise ValueError(f"coursework: {node.name} (line {node.lineno}) has code on its signature or "
                         f"docstring line; put the body on lines of its own to make it an exercise")
    return first, node.end_lineno


def _has_docstring(node):
    first = node.body[0]
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)


def _header_end(source, node):
    """The line of the colon that ends a def's signature (it may span several lines)."""
    lines = source.splitlines(keepends=True)[node.lineno - 1:]
    depth = 0
    for tok in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif tok.type == tokenize.OP and tok.string == ":" and depth == 0:
            return node.lineno + tok.start[0] - 1
    raise ValueError(f"coursework: cannot find the end of the signature of {node.name}")


def _is_stub(node, any_raise=False):
    """True if the body (after the docstring) is one `raise NotImplementedError(...)`;
    with any_raise False, only one whose message contains 'Exercise:'."""
    if node is None:
        return False
    body = node.body[1:] if _has_docstring(node) else node.body
    if len(body) != 1 or not isinstance(body[0], ast.Raise):
        return False
    exc = body[0].exc
    call = exc if isinstance(exc, ast.Call) else None
    name = (call.func if call else exc)
    if not (isinstance(name, ast.Name) and name.id == "NotImplementedError"):
        return False
    if any_raise:
        return True
    return bool(call and call.args) and STUB_PREFIX in ast.unparse(call.args[0])


def replace_body(source, qualname, new_body_lines):
    """source with the body of `qualname` (after its docstring) replaced by the given lines."""
    node = function_nodes(ast.parse(source)).get(qualname)
    if node is None:
        raise ValueError(f"coursework: no function {qualname} in this file")
    first, last = body_lines(source, node)
    lines = source.splitlines(keepends=True)
    return "".join(lines[:first - 1] + new_body_lines + lines[last:])


def stub_lines(source, target):
    """The lines an exercise's body becomes: a comment saying what to write, and the raise."""
    node = function_nodes(ast.parse(source))[target.qualname]
    indent = " " * (node.body[1 if _has_docstring(node) else 0].col_offset)
    owner, _, method = target.qualname.rpartition(".")
    if target.kind == "op":
        inputs = ", ".join(a.arg for a in node.args.args[1:] if a.arg not in ("grad", "out"))
        if node.args.vararg:  # Einsum: backward(self, grad, *operands_and_out)
            inputs = f"the operands: *{node.args.vararg.arg} without its last item, out"
        sharing = f", shared by {', '.join(target.shared_by)}" if target.shared_by else ""
        comment = (f"return one gradient per input ({inputs}) from grad = dL/d(out){sharing}. "
                   "The backward rule is in the class docstring. Use NumPy functions and operators only "
                   "(np.exp, .sum(axis=, keepdims=), @, ...): under create_graph=True they run on Tensors.")
        message = f"{STUB_PREFIX} write {target.qualname} (the rule is in the class docstring)"
    elif target.kind == "layer":
        comment = (f"compute what the {owner} docstring describes, from minigrad ops and the layer's "
                   "parameters: the engine then derives backward by itself.")
        message = f"{STUB_PREFIX} write {target.qualname} (see the class docstring)"
    else:
        comment = ("compute what the docstring above describes, from minigrad ops (minigrad.functional "
                   "as F, Tensor operators): the engine then derives backward by itself.")
        message = f"{STUB_PREFIX} write {target.qualname} (see its docstring)"
    lines = textwrap.wrap("Exercise: " + comment, width=max(40, 92 - len(indent)))
    quoted = '"' + message.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return [f"{indent}# {line}\n" for line in lines] + [f"{indent}raise NotImplementedError({quoted})\n"]


# ---- grading commands -------------------------------------------------------------------

def grading_command(target, targets, root=PROJECT):
    """The pytest command whose tests cover `target` (they fail until it is written)."""
    if target.kind == "op":
        names = target.shared_by or (target.name,)
        ops = [t.name for t in targets if t.kind == "op"]
        # -k matches substrings: "Softmax-" also selects "LogSoftmax-0", so such names are excluded.
        parts = []
        for name in names:
            others = [o for o in ops if o != name and f"{name}-" in f"{o}-"]
            parts.append(" and not ".join([f"{name}-"] + [f"{o}-" for o in others]))
        expression = " or ".join(f"({p})" if " and " in p and len(parts) > 1 else p for p in parts)
        return f"python -m pytest {SWEEP} -k " + (f'"{expression}"' if " " in expression else expression)
    files = test_files_using(users_of(target.name, root), root)
    return "python -m pytest " + (" ".join(files) if files else "tests")


def users_of(name, root=PROJECT):
    """`name` and every class or function of minigrad/ and attention/ that uses it, directly
    or through others (Linear -> SelfAttention -> ...): the tests of all of them grade it."""
    definitions = []
    for folder in ("minigrad", "attention"):
        for path in sorted((Path(root) / folder).rglob("*.py")):
            definitions += [(node.name, _names_in(node)) for node in ast.parse(path.read_text(encoding="utf-8")).body
                            if isinstance(node, ast.FunctionDef | ast.ClassDef)]
    users, grew = {name}, True
    while grew:
        more = {defined for defined, names in definitions if names & users} - users
        users, grew = users | more, bool(more)
    return users


def test_files_using(names, root=PROJECT):
    """The test files whose code (not just their imports) uses one of `names`."""
    files = []
    for path in sorted((Path(root) / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        code = [node for node in tree.body if not isinstance(node, ast.Import | ast.ImportFrom)]
        if any(_names_in(node) & names for node in code):
            files.append(_rel(path, root))
    return files


def _names_in(node):
    """Every identifier a piece of code uses: names, attributes, and strings (getattr(m, "Linear"))."""
    names = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            names.add(n.id)
        elif isinstance(n, ast.Attribute):
            names.add(n.attr)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.isidentifier():
            names.add(n.value)
    return names


# ---- the copy -----------------------------------------------------------------------------

def project_files(root=PROJECT, with_tools=False):
    """Paths (relative, posix) of the project's files: what git tracks or would add, or,
    without git, every file outside SKIPPED_DIRS; the tools (NOT_COPIED) only if asked."""
    root = Path(root)
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=root, capture_output=True, text=True, check=True).stdout.split("\0")
        files = sorted({f for f in listed if f and (root / f).is_file()})
    except (OSError, subprocess.CalledProcessError):
        files = sorted(_rel(p, root) for p in root.rglob("*") if p.is_file()
                       and not SKIPPED_DIRS & set(p.relative_to(root).parts[:-1]) and not p.suffix == ".pyc")
    return [f for f in files if (with_tools or not f.startswith(NOT_COPIED))
            and not any(part.endswith(".egg-info") for part in f.split("/"))]


def check_project(root):
    root = Path(root)
    if not ((root / "minigrad" / "ops").is_dir() and (root / "tests" / "test_ops_sweep.py").is_file()):
        raise ValueError(f"coursework: {root} is not a minigrad source tree (it needs minigrad/ops/ and "
                         f"tests/test_ops_sweep.py); run it from a clone of minigrad or pass --from PROJECT_DIR")
    return root


def make(out_dir, chosen, root=PROJECT):
    """Copy the project to out_dir with the chosen targets turned into exercises; returns
    the (target, grading command) pairs, in order."""
    root, out = check_project(root), Path(out_dir)
    if out.resolve() == root.resolve() or (out.exists() and any(out.iterdir())):
        raise ValueError(f"coursework: {out} must be a new or empty folder (it would be overwritten)")
    targets = find_targets(root)
    # One exercise per function emptied: choosing Max and Min gives one, _Extremum.backward.
    unique = list({(t.path, t.qualname): t for t in chosen}.values())
    by_file = {}
    for target in unique:
        by_file.setdefault(target.path, []).append(target)
    for rel in project_files(root):
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if rel in by_file:
            source = (root / rel).read_text(encoding="utf-8")
            for target in by_file[rel]:
                source = replace_body(source, target.qualname, stub_lines(source, target))
            dest.write_text(source, encoding="utf-8")
        else:
            shutil.copy2(root / rel, dest)
    graded = [(t, grading_command(t, targets, root)) for t in unique]
    (out / "EXERCISES.md").write_text(exercises_markdown(graded), encoding="utf-8")
    return graded


def exercises_markdown(graded):
    lines = ["# Exercises", ""]
    if not graded:
        return "\n".join(lines + ["This copy of minigrad is complete: there is nothing to write.", ""])
    lines += [f"This copy of minigrad has {len(graded)} part{'s' if len(graded) > 1 else ''} taken out. "
              "Each now raises `NotImplementedError(\"Exercise: ...\")`; the docstring above it still says "
              "what it must compute. Write it, then run the command under it from this folder: the tests "
              "fail until the code is right, and pass when it is.",
              "",
              "Set up once, in a fresh virtual environment: `python -m pip install -e \".[test]\"` in this folder. "
              "(Or skip it: `python -m pytest` run from here imports this folder's `minigrad/` either way.)",
              ""]
    for number, (target, command) in enumerate(graded, 1):
        what = {"op": "backward rule of the op", "layer": "forward pass of the layer",
                "function": "attention function"}[target.kind]
        shared = target.shared_by
        title = f"`{target.qualname}`" + (f" (used by {', '.join(shared)})" if shared else "")
        lines += [f"## {number}. {title} — {what}", "",
                  f"File: `{target.path}`" + (f" — {target.summary}" if target.summary else ""), "",
                  "Graded by:", "", "```bash", command, "```", ""]
        if target.kind == "op":
            lines += ["These tests compare your gradients with finite differences (first and second order, "
                      "random upstream weights), check that float32 stays float32, and that nothing is "
                      "recorded under `no_grad`.", ""]
        else:
            lines += ["These are the test files that use it, directly or through the layers built on it; "
                      "their tests that do not touch it pass already.", ""]
    lines += ["## When every exercise passes", "", "Run the whole suite, which also uses your code in attention "
              "layers and demos:", "", "```bash", "python -m pytest", "```", ""]
    return "\n".join(lines)


def restore(out_dir, root=PROJECT):
    """Put the reference bodies from `root` back into every exercise in out_dir; returns
    what was restored, as 'path: qualname'."""
    root, out = check_project(root), Path(out_dir)
    if out.resolve() == root.resolve():
        raise ValueError("coursework restore: the reference is the exercise folder itself; run it from "
                         "the original project or pass --from PROJECT_DIR")
    restored = []
    for path in sorted(out.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        stubs = [q for q, node in function_nodes(ast.parse(source)).items() if _is_stub(node)]
        if not stubs:
            continue
        reference_path = root / _rel(path, out)
        reference = reference_path.read_text(encoding="utf-8") if reference_path.exists() else ""
        reference_nodes = function_nodes(ast.parse(reference))
        for qualname in stubs:
            if qualname not in reference_nodes:
                raise ValueError(f"coursework restore: {qualname} is not in the reference {reference_path}")
            first, last = body_lines(reference, reference_nodes[qualname])
            source = replace_body(source, qualname, reference.splitlines(keepends=True)[first - 1:last])
            restored.append(f"{_rel(path, out)}: {qualname}")
        path.write_text(source, encoding="utf-8")
    return restored


def listing(root=PROJECT):
    targets = find_targets(check_project(root))
    lines = []
    for kind, title in (("op", "ops (--ops: their backward)"), ("layer", "layers (--layers: their forward)"),
                        ("function", "attention functions (--functions)")):
        chosen = [t for t in targets if t.kind == kind]
        lines.append(f"{title}:")
        if not chosen:
            lines.append("  (none yet)")
        for path in sorted({t.path for t in chosen}):
            names = [t.name + ("" if t.qualname.startswith(t.name + ".") or t.qualname == t.name
                               else f" [{t.qualname}]") for t in chosen if t.path == path]
            lines.append(f"  {path}: {', '.join(names)}")
    lines.append("A name marked [Base.method] inherits that method: taking it out empties it for every class that shares it.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m coursework", description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the ops, layers and functions that can be taken out")
    parser.set_defaults(root=str(PROJECT))
    sub = parser.add_subparsers(dest="command")
    make_parser = sub.add_parser("make", help="write a copy of the project with exercises")
    make_parser.add_argument("out_dir")
    for kind in ("ops", "layers", "functions"):
        make_parser.add_argument(f"--{kind}", default="", help=f"comma-separated {kind} to take out")
    restore_parser = sub.add_parser("restore", help="put the reference code back into an exercise copy")
    restore_parser.add_argument("out_dir")
    list_parser = sub.add_parser("list", help="the same as --list")
    for command in (make_parser, restore_parser, list_parser):
        command.add_argument("--from", dest="root", default=str(PROJECT),
                             help=f"the reference project (default: {PROJECT})")
    args = parser.parse_args(argv)
    try:
        if args.list or args.command in (None, "list"):
            print(listing(args.root))
        elif args.command == "make":
            targets = find_targets(check_project(args.root))
            chosen = [t for kind, option in (("op", args.ops), ("layer", args.layers), ("function", args.functions))
                      for t in resolve(option, kind, targets)]
            graded = make(args.out_dir, chosen, args.root)
            for target, command in graded:
                print(f"{target.qualname:32s} {command}")
            print(f"wrote {args.out_dir} with {len(graded)} exercise(s); see {Path(args.out_dir) / 'EXERCISES.md'}")
        else:
            restored = restore(args.out_dir, args.root)
            print("\n".join(restored) or "no exercises found")
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    return 0

