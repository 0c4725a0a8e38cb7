"""Finding the parts of the project that can become exercises: ops (their backward), layers
(their forward) and attention functions, read from the source with `ast`."""
import ast
import difflib
from dataclasses import dataclass
from pathlib import Path

from coursework.cutting import is_stub, method_of


@dataclass
class Target:
    """A part that can become an exercise: `qualname`'s body in `path` (relative to the project)."""
    kind: str       # "op" (its backward), "jvp" (an op's jvp rule), "layer" (its forward) or "function"
    name: str       # as typed on the command line: Softmax, Linear, scaled_dot_product_attention
    path: str
    qualname: str   # the function emptied: Softmax.backward, _Extremum.backward, causal_mask
    summary: str    # the docstring's first paragraph: what the part computes
    shared_by: tuple = ()  # ops that inherit the same backward (Max and Min share _Extremum's)

    @property
    def owner(self):
        """The class whose docstring describes the part (None for a function)."""
        return self.qualname.rpartition(".")[0] or None

    @property
    def module(self):
        return self.path[:-len(".py")].replace("/", ".")


def find_targets(root):
    """Every op, layer and attention function of the project at `root`, as a list of Targets."""
    root = Path(root)
    targets = []
    for path in sorted((root / "minigrad" / "ops").glob("*.py")):
        targets += class_targets(root, path, "op", "backward")
        targets += class_targets(root, path, "jvp", "jvp")
    layer_files = [root / "minigrad" / "nn.py"] + sorted((root / "attention").glob("*.py"))
    for path in [p for p in layer_files if p.exists()]:
        targets += class_targets(root, path, "layer", "forward")
        if path.parent.name == "attention":
            tree = ast.parse(path.read_text(encoding="utf-8"))
            targets += [Target("function", node.name, relative(path, root), node.name, summary(node))
                        for node in tree.body if isinstance(node, ast.FunctionDef)
                        and not node.name.startswith(("_", "plot"))]  # plotting helpers are not exercises
    return targets


def class_targets(root, path, kind, method):
    """Public classes of one file that define `method` or inherit it from a class of the same file."""
    classes = {n.name: n for n in ast.parse(path.read_text(encoding="utf-8")).body if isinstance(n, ast.ClassDef)}
    found = []
    for name, node in classes.items():
        definer = defining_class(name, classes, method)
        if name.startswith("_") or definer is None or is_stub(method_of(classes[definer], method), any_raise=True):
            continue  # private, without the method, or an abstract base whose method only raises
        found.append(Target(kind, name, relative(path, root), f"{definer}.{method}", summary(node)))
    for target in found:
        siblings = tuple(t.name for t in found if t.qualname == target.qualname)
        if len(siblings) > 1:  # the shared rule is described where it is written
            target.shared_by, target.summary = siblings, summary(classes[target.owner])
    return found


def defining_class(name, classes, method, seen=()):
    """The class among `classes` whose body defines `method` for class `name`, following bases."""
    node = classes.get(name)
    if node is None or name in seen:
        return None
    if method_of(node, method) is not None:
        return name
    for base in node.bases:
        if isinstance(base, ast.Name):
            definer = defining_class(base.id, classes, method, seen + (name,))
            if definer:
                return definer
    return None


def summary(node):
    """The first paragraph of a docstring, on one line."""
    doc = (ast.get_docstring(node) or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


def relative(path, root):
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


def listing(root):
    """What can be taken out, by kind and file, as text for --list."""
    targets = find_targets(root)
    lines = []
    for kind, title in (("op", "ops (--ops: their backward)"),
                        ("jvp", "jvp rules of ops (--jvps: forward mode, graded by <v, J u> = <Jᵀ v, u>)"),
                        ("layer", "layers (--layers: their forward)"),
                        ("function", "attention functions (--functions)")):
        chosen = [t for t in targets if t.kind == kind]
        lines.append(f"{title}:")
        if not chosen:
            lines.append("  (none yet)")
        for path in sorted({t.path for t in chosen}):
            names = [t.name + ("" if t.qualname in (t.name, f"{t.name}.{t.qualname.rpartition('.')[2]}")
                               else f" [{t.qualname}]") for t in chosen if t.path == path]
            lines.append(f"  {path}: {', '.join(names)}")
    lines.append("A name marked [Base.method] inherits that method: taking it out empties it for every class that shares it.")
    return "\n".join(lines)
