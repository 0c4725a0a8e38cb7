"""The attention package's public face: no private name crosses a module boundary.

Oracle: the source itself, read with `ast`: a `from module import _name` or a
`module._name` of another module is what a reader cannot find documented anywhere.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER_FILES = sorted((ROOT / "attention").glob("*.py")) + [ROOT / "minigrad" / "nn.py", ROOT / "minigrad" / "optim.py"]


def private_names_used_from_other_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    found = [f"from {node.module} import {alias.name}" for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) for alias in node.names
             if alias.name.startswith("_") and not alias.name.startswith("__")]
    found += [f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id in modules and node.attr.startswith("_") and not node.attr.startswith("__")]
    return found


def test_layers_and_attention_use_only_public_names_of_other_modules():
    offenders = {path.relative_to(ROOT).as_posix(): private_names_used_from_other_modules(path)
                 for path in LAYER_FILES}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_check_finds_a_private_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from attention.functional import _helper\nimport minigrad.functional as F\nF._shape(1)\n")
    assert private_names_used_from_other_modules(bad) == ["from attention.functional import _helper", "F._shape"]
