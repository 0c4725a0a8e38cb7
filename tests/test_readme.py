"""The README's two training loops run as printed, and each fits the line.

Each Python block under "Training loops" runs in a fresh interpreter from the project root;
what it prints must be the text block shown under it, its loss must go down at every line,
and the line it ends with must be NumPy's least-squares fit of the same points.
"""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def training_loop_blocks():
    """(code, shown output) of each Python block in the README's training-loop section."""
    section = re.search(r"^## Training loops.*?(?=^## )", README, re.S | re.M)
    assert section, "README.md has no '## Training loops' section"
    return re.findall(r"```python\n(.*?)```\s*```text\n(.*?)```", section.group(0), re.S)


BLOCKS = training_loop_blocks()


def test_two_loops_by_hand_and_with_a_layer_and_an_optimizer():
    assert len(BLOCKS) == 2
    by_hand, with_layer = (code for code, _ in BLOCKS)
    assert "with minigrad.no_grad():" in by_hand and "w -= " in by_hand and "grad = None" in by_hand
    assert "nn.Linear(" in with_layer and "optim.SGD(" in with_layer
    for code, _ in BLOCKS:
        assert 10 <= len(code.strip().splitlines()) <= 15, code


@pytest.mark.parametrize("code, shown", BLOCKS, ids=["by hand", "nn.Linear and optim.SGD"])
def test_the_loop_prints_what_the_readme_shows_and_fits_the_line(code, shown):
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == shown.strip()
    rows = [list(map(float, re.findall(r"-?\d+\.\d+", line))) for line in proc.stdout.splitlines()]
    losses = [row[0] for row in rows]
    assert all(a >= b for a, b in zip(losses, losses[1:])), f"the loss goes up: {losses}"
    assert losses[-1] < losses[0] / 100
    rng = np.random.default_rng(0)  # the blocks' data, again, for NumPy's least squares
    x = rng.uniform(-1, 1, (100, 1))
    y = 3 * x + 2 + 0.1 * rng.standard_normal((100, 1))
    (slope, intercept), *_ = np.linalg.lstsq(np.hstack([x, np.ones_like(x)]), y[:, 0], rcond=None)
    np.testing.assert_allclose(rows[-1][1:], [slope, intercept], atol=2e-3)


DEMOS = sorted(path.stem for path in (ROOT / "demos").glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("guide", ["README.md", "docs/ko/README.md"])
def test_the_guides_list_every_demo(guide):
    text = (ROOT / guide).read_text(encoding="utf-8")
    assert [demo for demo in DEMOS if demo not in text] == []


def test_the_quickstart_starts_from_a_virtual_environment():
    quickstart = re.search(r"^## Quickstart\n.*?```bash\n(.*?)```", README, re.S | re.M).group(1)
    first, *commands = [line.split("#")[0].strip() for line in quickstart.splitlines()]
    assert first.startswith("python3 -m venv .venv && . .venv/bin/activate")
    assert [c.split("&& ")[-1] for c in commands] == ["python -m demos", "python -m pytest"]


def test_the_korean_guide_names_the_notes_with_the_right_particle():
    text = (ROOT / "docs" / "ko" / "README.md").read_text(encoding="utf-8")
    assert "「Attention Mechanisms와 Self Attention」" in text and "Mechanisms과" not in text
