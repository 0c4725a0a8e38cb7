"""docs/READING.md and its Korean twin name the code a reader follows: every `file::name`
they cite must exist, so a renamed function or a moved file fails here."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDES = [ROOT / "docs" / "READING.md", ROOT / "docs" / "ko" / "READING.md"]
REFERENCE = re.compile(r"`(minigrad/[\w/]+\.py)::([\w.]+)`")


def defined_names(path):
    """Every def and class in the file, as dotted paths (Tensor.backward)."""
    names = set()

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                names.add(prefix + child.name)
                visit(child, prefix + child.name + ".")

    visit(ast.parse(path.read_text(encoding="utf-8")), "")
    return names


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.parent.name + "/" + p.name)
def test_every_code_reference_exists(guide):
    references = REFERENCE.findall(guide.read_text(encoding="utf-8"))
    assert len(references) >= 15  # the guide walks through the code by these references
    missing = [f"{path}::{name}" for path, name in references
               if not (ROOT / path).exists() or name not in defined_names(ROOT / path)]
    assert not missing, f"{guide.name} cites code that does not exist: {missing}"


def test_the_guides_cite_the_same_code():
    english, korean = (set(REFERENCE.findall(g.read_text(encoding="utf-8"))) for g in GUIDES)
    assert english == korean


def test_readme_links_the_guide():
    assert "docs/READING.md" in (ROOT / "README.md").read_text(encoding="utf-8")
