"""How strong the grading of a layer or an attention function is: its grading tests, run with
the part made wrong (coursework.mutants), must fail.

    python -m coursework.part_strength QUALNAME MODULE TEST_FILE...

runs the tests once with the right part, noting which tests call it, then those tests again
under each mutant (stopping at the first failure), and prints one line of JSON:
{"tests": n, "mutants": {name: "caught" | "missed" | "no change"}}.  Tests that do not call
the part cannot notice a change to it, so they are not rerun."""
import contextlib
import functools
import importlib
import json
import sys

import pytest

from coursework.mutants import first_array, mutants_for

QUIET = ["-p", "no:cacheprovider", "--tb=no"]


class Recorder:
    """Notes the tests that call the part (in their fixtures too), those that fail, and the
    first call that shows what the part passes around (its result, else its arguments)."""

    def __init__(self):
        self.current, self.callers, self.failed, self.sample = None, set(), set(), None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item):
        self.current = item.nodeid
        yield
        self.current = None

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failed.add(report.nodeid)

    def wrap(self, original):
        @functools.wraps(original)
        def recorded(*args, **kwargs):
            out = original(*args, **kwargs)
            if self.current:
                self.callers.add(self.current)
            if self.sample is None:
                held = [value for value in (out, *args) if first_array(value) is not None]
                self.sample = held[0] if held else None
            return out
        return recorded


class Only:
    """Keeps the tests whose ids are given."""

    def __init__(self, ids):
        self.ids = ids

    def pytest_collection_modifyitems(self, items):
        items[:] = [item for item in items if item.nodeid in self.ids]


def part(module, qualname):
    """The function `qualname` of `module` (a method as its class holds it)."""
    owner_name, _, name = qualname.rpartition(".")
    return getattr(module, owner_name).__dict__[name] if owner_name else getattr(module, name)


@contextlib.contextmanager
def replaced(module, qualname, make):
    """The part `qualname` of `module` replaced by make(original) while inside: a method on its
    class, a function in every module that holds it (and in those imported meanwhile)."""
    owner_name, _, name = qualname.rpartition(".")
    original = part(module, qualname)
    replacement = make(original)
    if owner_name:
        owner = getattr(module, owner_name)
        setattr(owner, name, replacement)
        try:
            yield
        finally:
            setattr(owner, name, original)
        return
    holding = lambda held: [m for m in list(sys.modules.values()) if getattr(m, "__dict__", {}).get(name) is held]
    for holder in holding(original):
        setattr(holder, name, replacement)
    try:
        yield
    finally:
        for holder in holding(replacement):
            setattr(holder, name, original)


def strength(qualname, module_name, selection):
    """{"tests": number of tests that call the part, "mutants": {name: verdict}}."""
    module = importlib.import_module(module_name)
    recorder = Recorder()
    with replaced(module, qualname, recorder.wrap):
        pytest.main([*selection, *QUIET], plugins=[recorder])
    callers = recorder.callers - recorder.failed
    verdicts = {}
    for mutant in mutants_for(recorder.sample, part(module, qualname)):
        caught = False
        if callers:
            with replaced(module, qualname, lambda original: mutant.wrap(original, "." in qualname)):
                caught = pytest.main([*selection, *QUIET, "-x"], plugins=[Only(callers)]) == pytest.ExitCode.TESTS_FAILED
        verdicts[mutant.name] = "caught" if caught else "missed" if mutant.changed or not callers else "no change"
    return {"tests": len(callers), "mutants": verdicts}


if __name__ == "__main__":
    with contextlib.redirect_stdout(sys.stderr):  # pytest's reports; stdout carries the verdicts
        verdicts = strength(sys.argv[1], sys.argv[2], sys.argv[3:])
    print(json.dumps(verdicts))
