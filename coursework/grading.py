"""Which tests grade an exercise, as the pytest command EXERCISES.md prints for it."""
import ast
import functools
from pathlib import Path

from coursework.parts import relative

SWEEP = "tests/test_ops_sweep.py"
JVP_SWEEP = "tests/test_ops_sweep_jvp.py"  # a jvp rule: differences, and <v, J u> = <Jᵀ v, u> with backward


def grading_command(target, targets, root):
    """The pytest command that grades `target`: the tests that cover it, and --exercise,
    which the copy's conftest.py reads to tell the part's own failures from those of others."""
    if target.kind in ("op", "jvp"):
        # The sweep's ids are "Softmax-0" (examples) and "Softmax.0" (boundary cases); -k matches
        # substrings, so ops whose names end in the name ("LogSoftmax-0") are excluded.
        names = target.shared_by or (target.name,)
        ops = [t.name for t in targets if t.kind == target.kind]
        others = [o for o in ops if o not in names and o.endswith(names)]
        include = " or ".join(f"{name}{sep}" for name in names for sep in "-.")
        exclude = " or ".join(f"{other}{sep}" for other in others for sep in "-.")
        expression = f"({include}) and not ({exclude})" if exclude else include
        selection = f'{SWEEP if target.kind == "op" else JVP_SWEEP} -k "{expression}"'
    else:
        selection = " ".join(test_files_using(users_of(target.name, root), root)) or "tests"
    return f"python -m pytest {selection} --exercise {target.qualname}"


def users_of(name, root):
    """`name` and every class or function of minigrad/ and attention/ that uses it, directly
    or through others (Linear -> SelfAttention -> ...): the tests of all of them grade it."""
    definitions = library_definitions(str(root))
    users, grew = {name}, True
    while grew:
        more = {defined for defined, names in definitions if names & users} - users
        users, grew = users | more, bool(more)
    return users


def test_files_using(names, root):
    """The test files whose code (not just their imports) uses one of `names`."""
    return [rel for rel, used in test_file_names(str(root)) if used & names]


@functools.lru_cache(maxsize=8)
def library_definitions(root):
    """(name, names it uses) of every module-level class and function of minigrad/ and attention/."""
    definitions = []
    for folder in ("minigrad", "attention"):
        for path in sorted((Path(root) / folder).rglob("*.py")):
            definitions += [(node.name, names_in(node)) for node in ast.parse(path.read_text(encoding="utf-8")).body
                            if isinstance(node, ast.FunctionDef | ast.ClassDef)]
    return definitions


@functools.lru_cache(maxsize=8)
def test_file_names(root):
    """(path, names its code uses outside its imports) of every test file."""
    found = []
    for path in sorted((Path(root) / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        code = [node for node in tree.body if not isinstance(node, ast.Import | ast.ImportFrom)]
        found.append((relative(path, root), set().union(*map(names_in, code))))
    return found


# The names the op classes are reached by (`ops.Tanh`): a layer or function of the same name
# (nn.Tanh, nn.LayerNorm) is another object, so those attributes do not count as using it.
OP_MODULES = {"ops", "_ops"}


def names_in(node):
    """Every identifier a piece of code uses: names, attributes (but not ops' op classes), and
    strings (getattr(m, "Linear"))."""
    names = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            names.add(n.id)
        elif isinstance(n, ast.Attribute):
            module = n.value.id if isinstance(n.value, ast.Name) else getattr(n.value, "attr", None)
            if module not in OP_MODULES:  # (`ops.Tanh`, `_ops.Tanh` and `minigrad.ops.Tanh` alike)
                names.add(n.attr)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.isidentifier():
            names.add(n.value)
    return names
