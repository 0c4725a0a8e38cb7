"""demos/11_gpt_on_text.py from the command line: a run stopped by its time limit and resumed
in a new process ends exactly where an uninterrupted run does; --text and --tokenizer bpe
take a student's own (Korean) text; bad combinations are refused.

Oracle: the uninterrupted run itself, compared bit for bit (every training loss and every
parameter), and the text's own characters.
"""
import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad

pytest.importorskip("matplotlib", reason="the demo draws its loss curve with matplotlib (the test extra)")
ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demos" / "11_gpt_on_text.py"


def demo(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(DEMO), "--quick", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:   # the child's error, as its own kind (a course copy's stub says which part)
        kind = NotImplementedError if "NotImplementedError" in done.stderr else RuntimeError
        raise kind(f"demo 11 failed:\n{done.stderr[-3000:]}")
    return done.stdout


def test_a_run_cut_short_and_resumed_in_a_new_process_ends_as_an_uninterrupted_one(tmp_path):
    cut, straight = tmp_path / "cut.npz", tmp_path / "straight.npz"
    first = demo("--steps", "12", "--minutes", "0", "--checkpoint", cut, cwd=tmp_path)
    assert "after 1 steps (1 in" in first                        # the time limit stopped it after one step
    assert minigrad.load(cut)["step"] == 1
    resumed = demo("--resume", "--checkpoint", cut, cwd=tmp_path)
    assert "after 12 steps (11 in" in resumed
    demo("--steps", "12", "--checkpoint", straight, cwd=tmp_path)
    a, b = minigrad.load(cut), minigrad.load(straight)
    assert a["train_curve"].shape == (12, 2)
    np.testing.assert_array_equal(a["train_curve"], b["train_curve"])
    for name in b["model"]:
        np.testing.assert_array_equal(a["model"][name], b["model"][name])
    assert a["optimizer"]["state"]["steps"] == b["optimizer"]["state"]["steps"] == [12] * len(b["model"])


def test_a_students_korean_text_with_bpe(tmp_path):
    rng = np.random.default_rng(0)
    syllables = list("어텐션은단어사이의관계를배운다모델글자예측작")
    words = ["".join(rng.choice(syllables, size=rng.integers(1, 5))) for _ in range(1500)]
    text = " ".join(words) + " 🙂"
    path = tmp_path / "korean.txt"
    path.write_text(text, encoding="utf-8")
    module = importlib.import_module("demos.11_gpt_on_text")
    m = module.main(out_dir=str(tmp_path / "figures"), quick=True, text=str(path), tokenizer="bpe", steps=8)
    assert m["steps"] == 8 and m["vocab_size"] == 512
    sample = "".join(m["sample_lines"])
    assert set(sample) - set(text) <= {"\ufffd"}                # only the text's own characters (or a split byte)
    assert (tmp_path / "figures" / "11_gpt_on_text.png").exists()
    path.write_text("모델은 다음 글자를 예측한다. " * 100, encoding="utf-8")    # BPE makes it a few tokens
    with pytest.raises(ValueError, match="the validation 10% needs at least 130 .* or --tokenizer char"):
        module.main(out_dir=str(tmp_path / "figures"), quick=True, text=str(path), tokenizer="bpe", steps=8)


def test_bad_combinations_are_refused(tmp_path):
    with pytest.raises(RuntimeError, match="--resume needs --checkpoint"):
        demo("--resume", cwd=tmp_path)
    with pytest.raises(RuntimeError, match="no file .*missing.txt"):
        demo("--text", "missing.txt", cwd=tmp_path)


def test_the_readmes_pieces_run_as_printed(tmp_path):
    """The Python block of the README's "Train a GPT on text" runs, and prints the baseline its comment shows."""
    import re
    section = re.search(r"^## Train a GPT on text.*?(?=^## )", (ROOT / "README.md").read_text(encoding="utf-8"),
                        re.S | re.M).group(0)
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        kind = NotImplementedError if "NotImplementedError" in done.stderr else RuntimeError
        raise kind(done.stderr[-3000:])
    shown = re.search(r"print\(baseline.*#\s*(.*)", code).group(1)
    assert done.stdout.splitlines()[0] == shown                  # NGram(n=4, k=0.03) 1.471 nats/char
    assert done.stdout.splitlines()[1].startswith("def ") and (tmp_path / "run.npz").exists()
