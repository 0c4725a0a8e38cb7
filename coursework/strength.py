"""How strong the exercises are: every part that can be taken out, made wrong in several ways,
must fail the tests that grade it, at least MIN_CAUGHT of those ways.

    python -m coursework strength [PART ...]    # a table: part, wrong versions caught of n
    python -m coursework.strength               # the same for every part

An op is made wrong in its backward (scaled, shifted, negated, transposed, a gradient left
out, the upstream gradient ignored) or its forward (off by a constant), and graded by the
sweep's checks of its examples and boundary cases: first derivatives against finite
differences, the forward against its NumPy reference, the exact boundary values.  A layer
or function is made wrong in what it returns (or, if it takes a mask, run without it) and
graded by its grading command's tests (coursework.part_strength).  A change that alters no value on the tests' inputs
(transposing a 1-D gradient) does not count either way."""
import json
import os
import shlex
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from coursework.grading import grading_command
from coursework.mutants import Mutant, square_transposed
from coursework.parts import find_targets
from minigrad.ops import ALL_OPS

MIN_CAUGHT = 3


def on_first_gradient(backward, mutant):
    """`backward` with `mutant` applied to its first gradient that is not None."""
    def wrong(self, *args, **kwargs):
        grads = backward(self, *args, **kwargs)
        if not isinstance(grads, tuple):
            return mutant(grads)
        first = next(i for i, g in enumerate(grads) if g is not None)
        return grads[:first] + (mutant(grads[first]),) + grads[first + 1:]
    return wrong


def on_last_gradient(backward, mutant):
    """`backward` with `mutant` applied to its last gradient, when it gives two or more."""
    def wrong(self, *args, **kwargs):
        grads = backward(self, *args, **kwargs)
        given = [i for i, g in enumerate(grads) if g is not None] if isinstance(grads, tuple) else []
        if len(given) < 2:
            return grads
        return grads[:given[-1]] + (mutant(grads[given[-1]]),) + grads[given[-1] + 1:]
    return wrong


def on_upstream(backward, mutant):
    """`backward` run with `mutant` applied to the upstream gradient it receives."""
    return lambda self, grad, *args, **kwargs: backward(self, mutant(grad), *args, **kwargs)


def on_output(forward, mutant):
    return lambda self, *args, **kwargs: mutant(forward(self, *args, **kwargs))


OP_MUTANTS = [  # (method, name, where the change goes, the change)
    ("backward", "times 1.5", on_first_gradient, lambda g: g * 1.5),
    ("backward", "plus 0.1", on_first_gradient, lambda g: g + 0.1),
    ("backward", "sign flipped", on_first_gradient, lambda g: -g),
    ("backward", "transposed", on_first_gradient, square_transposed),
    ("backward", "a gradient left out", on_last_gradient, np.zeros_like),
    ("backward", "upstream ignored", on_upstream, np.ones_like),
    ("forward", "forward plus 0.1", on_output, lambda out: out + 0.1),
]


@dataclass
class Strength:
    """The verdict on each wrong version of one part: "caught", "missed" or "no change"."""
    kind: str
    part: str
    verdicts: dict
    tests: int = 0  # for a layer or function: how many of its grading tests call it

    def named(self, verdict):
        return [name for name, v in self.verdicts.items() if v == verdict]

    @property
    def weak(self):
        return len(self.named("caught")) < MIN_CAUGHT


def op_checks(op):
    """The sweep's checks that grade `op` (coursework.grading selects them), ready to call."""
    from tests.test_ops_sweep import BOUNDARY, CASES, TestOpSweep, test_boundary_values_and_gradients
    sweep = TestOpSweep()
    tests = (sweep.test_forward_matches_numpy_reference, sweep.test_gradient_matches_finite_differences)
    checks = [(test, (op, i, example)) for case_op, i, example in CASES if case_op is op for test in tests]
    return checks + [(test_boundary_values_and_gradients, (op, i, case)) for case_op, i, case in BOUNDARY if case_op is op]


def fails(check):
    test, args = check
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NumPy's "mean of empty slice" on a size-0 example
            test(*args)
    except Exception:  # an assertion, or an error a wrong gradient's shape raises: the test fails
        return True
    return False


def op_verdict(op, method, place, mutant):
    """"caught" when some check of `op` fails with `method` made wrong by `mutant` in `place`."""
    original = op.__dict__.get(method)
    setattr(op, method, place(getattr(op, method), mutant))
    try:
        failed = any(fails(check) for check in op_checks(op))
    finally:
        if original is None:
            delattr(op, method)  # the op inherits the method (Minimum from _Pick)
        else:
            setattr(op, method, original)
    return "caught" if failed else "missed" if mutant.changed else "no change"


def op_strength(op, mutants=OP_MUTANTS):
    verdicts = {name: op_verdict(op, method, place, Mutant(name, change)) for method, name, place, change in mutants}
    return Strength("op", op.__name__, verdicts)


def grading_selection(target, targets, root):
    """The test files (or sweep selection) of the part's grading command."""
    args = shlex.split(grading_command(target, targets, root))
    return args[3:args.index("--exercise")]


def part_strength(target, selection, root):
    """The Strength of a layer or function, its tests `selection` run in a fresh interpreter."""
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", MPLBACKEND="Agg")
    command = [sys.executable, "-m", "coursework.part_strength", target.qualname, target.module, *selection]
    proc = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"coursework strength: checking {target.qualname} stopped:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.splitlines()[-1])
    return Strength(target.kind, target.qualname, result["mutants"], result["tests"])


def strengths(root, names=()):
    """The Strength of every part (or of those named: Softmax, Linear.forward, causal_mask)."""
    targets = find_targets(root)
    chosen = [t for t in targets if not names or t.name in names or t.qualname in names]
    unknown = set(names) - {n for t in chosen for n in (t.name, t.qualname)}
    if unknown:
        raise ValueError(f"coursework strength: no part named {', '.join(sorted(unknown))}; see python -m coursework --list")
    op_names = {t.name for t in chosen if t.kind == "op"}
    parts = list({t.qualname: t for t in chosen if t.kind not in ("op", "jvp")}.values())
    selections = {t.qualname: grading_selection(t, targets, root) for t in parts}
    longest_first = sorted(parts, key=lambda t: -len(selections[t.qualname]))  # so that the runs overlap well
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        running = {t.qualname: pool.submit(part_strength, t, selections[t.qualname], root) for t in longest_first}
        rows = [op_strength(op) for op in ALL_OPS if op.__name__ in op_names]  # meanwhile, here
        return rows + [running[t.qualname].result() for t in parts]


def table(rows):
    """One line per part: kind, name, wrong versions caught of those that changed something."""
    lines = [f"{'kind':9s}{'part':38s}caught"]
    for row in rows:
        caught, missed, unchanged = row.named("caught"), row.named("missed"), row.named("no change")
        line = f"{row.kind:9s}{row.part:38s}{len(caught)} of {len(caught) + len(missed)}"
        line += f"  missed: {', '.join(missed)}" if missed else ""
        line += f"  (no change: {', '.join(unchanged)})" if unchanged else ""
        lines.append(line + ("  TOO WEAK" if row.weak else ""))
    weak = [row.part for row in rows if row.weak]
    lines.append(f"{len(rows) - len(weak)} of {len(rows)} parts fail their grading on at least {MIN_CAUGHT} wrong versions"
                 + (f"; too weak: {', '.join(weak)}" if weak else ""))
    return "\n".join(lines)


def main(names=(), root=None):
    """Print the table; 1 when a part's grading catches fewer than MIN_CAUGHT wrong versions."""
    from coursework.generator import PROJECT
    rows = strengths(root or PROJECT, names)
    print(table(rows))
    return 1 if any(row.weak for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
