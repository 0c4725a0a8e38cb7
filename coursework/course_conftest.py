"""Grading of this exercise set (pytest loads this file by itself).

Every test is credited to the exercises whose code it runs.  With `--exercise X`, a test
that fails because another exercise Y is still `NotImplementedError("Exercise: write Y")`
is reported as skipped, "waits for exercise Y": X is graded on its own checks only.
At the very end comes one line per exercise: "X: n of m checks pass"; above it, each failure
is one line (its reason) unless pytest runs with -v or --tb.
"""
import functools
import importlib
import re
import sys

import pytest

EXERCISES = {}  # {exercise: module}, written by the coursework generator
WAITING = re.compile(r"Exercise: write (\S+)")


def pytest_addoption(parser):
    parser.addoption("--exercise", default=None, metavar="NAME",
                     help="grade one exercise: " + ", ".join(EXERCISES))


def pytest_configure(config):
    chosen = config.getoption("--exercise")
    if chosen is not None and chosen not in EXERCISES:
        raise pytest.UsageError(f"--exercise {chosen}: no such exercise here; choose one of {', '.join(EXERCISES)}")
    preset = config.getini("addopts")  # (setup.cfg's -q: a -v on the command line is what counts)
    brief = config.option.tbstyle == "auto" and config.option.verbose <= preset.count("-v") - preset.count("-q")
    if brief:  # each failure is one line, with its whole reason, at the end; -v (or --tb) shows tracebacks
        config.option.tbstyle = "no"
        config.option.reportchars = config.option.reportchars.replace("f", "").replace("a", "E")
    config.pluginmanager.register(Grader(chosen, brief), "exercise-grader")


def waited_for(excinfo):
    """The exercise whose NotImplementedError stub made the test fail, if one did (causes included)."""
    error, seen = (excinfo.value if excinfo else None), set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        match = WAITING.search(str(error)) if isinstance(error, NotImplementedError) else None
        if match and match.group(1) in EXERCISES:
            return match.group(1)
        error = error.__cause__ or error.__context__
    return None


def one_line(report, excinfo):
    """A failure's reason in one line: the error's type and the first line of its message."""
    if excinfo is not None:
        message = str(excinfo.value).strip().splitlines()
        return f"{excinfo.typename}: {message[0]}" if message else excinfo.typename
    return report.longreprtext.strip().splitlines()[-1] if report.longreprtext.strip() else "failed"


class Grader:
    def __init__(self, chosen, brief=False):
        self.chosen, self.brief, self.ran = chosen, brief, set()
        self.failures = []  # (test, reason), for the brief report
        self.checks = {name: [0, 0] for name in EXERCISES}   # [passed, run]
        self.waits = {name: {} for name in EXERCISES}         # {exercise: {exercise waited for: tests}}
        self.others_failed = 0

    def pytest_collection_finish(self, session):
        for name, module in EXERCISES.items():
            self.record_calls(name, importlib.import_module(module))

    def record_calls(self, name, module):
        """Wrap the exercise's function so that each test notes that it ran it."""
        owner_name, _, attribute = name.rpartition(".")
        original = getattr(getattr(module, owner_name) if owner_name else module, attribute)

        @functools.wraps(original)
        def recorded(*args, **kwargs):
            self.ran.add(name)
            return original(*args, **kwargs)

        if owner_name:
            setattr(getattr(module, owner_name), attribute, recorded)
            return
        for other in list(sys.modules.values()):  # also where it was imported by name
            if getattr(other, "__dict__", {}).get(attribute) is original:
                setattr(other, attribute, recorded)

    def pytest_runtest_logstart(self, nodeid, location):
        self.ran = set()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = (yield).get_result()
        if call.when == "teardown" or (call.when == "setup" and report.passed):
            return
        waiting = waited_for(call.excinfo) if report.failed else None
        # A fixture shared by several tests runs the exercise for the first one only; the
        # others get its error again, and are the exercise's checks as much.
        ran = self.ran or ({waiting} if waiting else set())
        for name in ran:
            if waiting and waiting != name:
                self.waits[name][waiting] = self.waits[name].get(waiting, 0) + 1
            else:
                self.checks[name][0] += report.passed
                self.checks[name][1] += 1
        if waiting and self.chosen and waiting != self.chosen:
            if self.chosen not in self.ran:  # it may be one of its checks too: it cannot run yet
                self.waits[self.chosen][waiting] = self.waits[self.chosen].get(waiting, 0) + 1
            report.outcome, report.longrepr = "skipped", (str(item.path), item.location[1], f"waits for exercise {waiting}")
        elif report.failed and not self.ran and not waiting:
            self.others_failed += 1
        if report.failed:
            self.failures.append((item.nodeid, one_line(report, call.excinfo)))

    def pytest_unconfigure(self, config):
        """The exercises' summary, last: after pytest's own (where a student looks first)."""
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if terminal is None or not self.checks:
            return
        if self.brief and self.failures:
            terminal.section("failures (pytest -v shows their tracebacks)")
            for test, reason in self.failures:
                terminal.write_line(f"FAILED {test}: {reason}")
        terminal.section("exercises")
        if self.chosen and self.others_failed:
            terminal.write_line(f"{self.others_failed} failed test(s) did not run {self.chosen}: "
                                "something else is broken")
        for name in [self.chosen] if self.chosen else EXERCISES:
            terminal.write_line(self.summary(name))

    def summary(self, name):
        passed, run = self.checks[name]
        line = f"{name}: {passed} of {run} checks pass"
        if self.waits[name]:
            line += "; " + ", ".join(f"{n} wait for exercise {other}" for other, n in self.waits[name].items())
        return line

    def pytest_sessionfinish(self, session):
        if self.chosen and self.checks[self.chosen][1] == 0 and session.exitstatus == 0:
            session.exitstatus = 1  # nothing checked the exercise: that is no pass
