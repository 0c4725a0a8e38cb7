"""`python -m demos`: --list, --only by number (3 means 03), unknown ids, where the figures went."""
import os
import subprocess
import sys

import pytest

from demos.__main__ import demo_names, main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_FILES = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "demos")) if f[:2].isdigit() and f.endswith(".py"))


def test_list_names_every_demo_file_with_its_summary(capsys):
    main(["--list"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == DEMO_FILES
    assert "bank of the river" in lines[DEMO_FILES.index("03_bank_of_the_river")]


def test_unknown_ids_exit_2_naming_them_and_the_valid_ones():
    proc = subprocess.run([sys.executable, "-m", "demos", "--only", "3,99,09"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc
    valid = ", ".join(name[:2] for name in DEMO_FILES)
    assert f"no demo 99, 09; the demos are {valid}" in proc.stderr
    assert "===" not in proc.stdout                             # nothing ran


@pytest.mark.parametrize("only", ["x", "03x", "-1", "3, 98", "08_tiny"])
def test_other_bad_ids_exit_2(only, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--only", only])
    assert exit_info.value.code == 2
    assert "the demos are 01, 02" in capsys.readouterr().err


def test_only_3_runs_demo_03_alone_and_says_where_the_figures_went(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib", reason="the demos draw with matplotlib (the test extra)")
    monkeypatch.chdir(tmp_path)
    main(["--only", "3", "--quick", "--out", "figs"])
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("===")] == ["=== 03_bank_of_the_river ==="]
    assert "| 03_bank_of_the_river |" in out
    where = str(tmp_path.resolve() / "figs")
    written = ["03_bank_of_the_river.png", "03_bank_of_the_river_backward.html", "03_bank_of_the_river_graph.png"]
    assert f"figures saved in {where}: {', '.join(written)}" in out
    assert sorted(os.listdir(where)) == written


def test_demo_names_are_the_numbered_files():
    assert demo_names() == DEMO_FILES
