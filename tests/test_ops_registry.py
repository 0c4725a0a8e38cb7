"""Ops can't hide: every op class written under minigrad/ops/ is one the sweep sees.

An op is registered when its module is imported, so a new module that ops/__init__.py
does not import would be silently untested (`pytest -k Sinh` selecting nothing).  The
classes are found by reading the files (ast), independently of what was imported."""
import ast
from pathlib import Path

import minigrad.ops

OPS_DIR = Path(minigrad.ops.__file__).parent


def op_classes_in_files(folder):
    """{class name: file name} of the public classes in folder/*.py that derive from
    Function, directly or through other classes of those files (shared _Bases included)."""
    bases, homes = {}, {}
    for path in sorted(Path(folder).glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                bases[node.name] = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                homes[node.name] = path.name
    ops, grew = {"Function"}, True
    while grew:
        more = {name for name, parents in bases.items() if parents & ops} - ops
        ops, grew = ops | more, bool(more)
    return {name: homes[name] for name in ops - {"Function"} if not name.startswith("_")}


def unregistered(folder, registered):
    """Op classes of the files that are missing from `registered` (names), as 'file: Class'."""
    return sorted(f"{home}: {name}" for name, home in op_classes_in_files(folder).items() if name not in registered)


def test_every_op_class_under_minigrad_ops_is_registered_for_the_sweep():
    registered = {cls.__name__ for cls in minigrad.ops.ALL_OPS} & set(minigrad.ops.__all__)
    missing = unregistered(OPS_DIR, registered)
    assert not missing, (f"op classes the test sweep does not see (import them in minigrad/ops/__init__.py): "
                         f"{', '.join(missing)}")
    assert len(op_classes_in_files(OPS_DIR)) == len(minigrad.ops.ALL_OPS) >= 40


def test_the_check_finds_an_op_in_a_module_nobody_imports(tmp_path):
    (tmp_path / "hyperbolic.py").write_text(
        "import numpy as np\n"
        "from minigrad.function import Function\n"
        "from minigrad.ops.elementwise import Tanh\n\n\n"
        "class _Shared(Function):\n    pass\n\n\n"
        "class Sinh(_Shared):\n    pass\n\n\n"
        "class Tanh2(Tanh):\n    pass\n\n\n"
        "class Helper:\n    pass\n")
    (tmp_path / "elementwise.py").write_text("from minigrad.function import Function\n\n\nclass Tanh(Function):\n    pass\n")
    assert unregistered(tmp_path, {"Tanh"}) == ["hyperbolic.py: Sinh", "hyperbolic.py: Tanh2"]
    assert unregistered(tmp_path, {"Tanh", "Sinh", "Tanh2"}) == []
