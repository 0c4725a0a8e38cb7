"""Running a grading command in an exercise copy, as a student would, and reading its results."""
import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET


def environment(copy):
    """The copy first on the import path; no screen; no third-party pytest plugins (some
    take a second to load, and the project's tests need none); pytest's output as a student
    sees it (under CI=true pytest prints whole messages in its short summary)."""
    env = dict(os.environ, PYTHONPATH=str(copy), MPLBACKEND="Agg", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    for name in ("CI", "BUILD_NUMBER"):  # the variables pytest reads to tell it runs in CI
        env.pop(name, None)
    return env


def grade(copy, command, report):
    """Run a grading command (as EXERCISES.md prints it) in the copy.  Returns the exit code,
    {test name: (outcome, message)} from pytest's junit report, and the terminal output."""
    args = shlex.split(command)
    assert args[:3] == ["python", "-m", "pytest"], command
    options = ["-q", "-p", "no:cacheprovider", "--tb=line", f"--junitxml={report}"]
    proc = subprocess.run([sys.executable, *args[1:], *options], cwd=copy, env=environment(copy),
                          capture_output=True, text=True, timeout=300)
    results = {}
    for case in ET.parse(report).iter("testcase"):
        outcome, message = "passed", None
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                message = f"{found.get('message')}\n{found.text}"
        results[node_id(case.get("classname"), case.get("name"))] = (outcome, message)
    assert results, proc.stdout + proc.stderr
    return proc.returncode, results, proc.stdout


def node_id(classname, name):
    """'tests.test_ops_sweep.TestOpSweep', 'test_x[Softmax-0]' -> 'tests/test_ops_sweep.py::TestOpSweep::test_x[Softmax-0]'."""
    parts = classname.split(".")
    module = next((i for i, part in enumerate(parts) if part[:1].isupper()), len(parts))
    return "::".join(["/".join(parts[:module]) + ".py", *parts[module:], name])


def commands_in(exercises_md):
    """The grading commands, in order, from the ```bash blocks of EXERCISES.md (the last is the whole suite)."""
    blocks = exercises_md.split("```bash\n")[1:]
    return [block.split("\n```")[0].strip() for block in blocks]
