"""docs/API.md is the code's own account of its public names: regenerated, it must not change.

Oracle: the live modules, walked by tools/make_api_docs.py; the stored file must equal its output."""
import importlib.util
from pathlib import Path

import minigrad

ROOT = Path(__file__).resolve().parent.parent


def load_tool():
    spec = importlib.util.spec_from_file_location("make_api_docs", ROOT / "tools" / "make_api_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_md_is_up_to_date():
    stored = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    assert stored == load_tool().render(), "docs/API.md is out of date: run python tools/make_api_docs.py"


def test_every_public_name_of_minigrad_is_in_api_md():
    text = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    missing = [name for name in minigrad.__all__ if f"`{name}" not in text]
    assert missing == []


def test_a_changed_docstring_makes_the_check_fail(monkeypatch):
    tool = load_tool()
    before = tool.render()
    monkeypatch.setattr(minigrad.functional.softmax, "__doc__", "A summary that is not in docs/API.md.")
    after = tool.render()
    assert after != before and "A summary that is not in docs/API.md." in after


def test_the_factory_minigrad_tensor_has_its_own_summary():
    text = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("- `tensor("))
    assert "copy of `data`" in line
