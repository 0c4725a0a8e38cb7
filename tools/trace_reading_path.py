"""What a reader of the engine must follow: the distinct lines of minigrad that run for the
lecture notes' example (V (4, 2), W = softmax(V Vᵀ), Y = W V, cos(Y[0], Y[3])), counted with
sys.settrace, forward and backward apart.

    python tools/trace_reading_path.py            # the counts, per file
    python tools/trace_reading_path.py --lines    # and every line, in the order first run

Counted: lines of files under minigrad/, except the op rules in minigrad/ops/ (and, for
forward, the op functions in functional.py), which a reader reads op by op.  In backward, what
an op's rule runs by calling further (another op's apply, a helper) is not counted either: it
belongs to reading that op's rule.  The example runs once untraced first, so one-time work
(caches, imports) does not count.
"""
import linecache
import os
import sys
from collections import Counter

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402

PACKAGE = os.path.join(ROOT, "minigrad") + os.sep
OPS = os.path.join(PACKAGE, "ops") + os.sep
V = np.array([[0.2815, 0.0562], [0.5227, -0.2384], [-0.0499, 0.5263], [-0.0085, 0.7291]])


class LineTracer:
    """Records (file, line) of every engine line run outside the `skipped` files (the op rules);
    with below_skipped=False, also nothing that runs below a frame of a skipped file."""

    def __init__(self, skipped, below_skipped=True):
        self.skipped, self.below_skipped = skipped, below_skipped
        self.lines = {}  # (file, line) -> None, in the order first run
        self.depth = 0  # how many frames of skipped files are running now

    def __enter__(self):
        sys.settrace(self.on_call)
        return self

    def __exit__(self, *exc):
        sys.settrace(None)

    def on_call(self, frame, event, arg):
        path = frame.f_code.co_filename
        if path.startswith(self.skipped):
            self.depth += 1
            return self.on_skipped_line  # an op's own rule: read with the op, not on the path
        if not path.startswith(PACKAGE) or (self.depth and not self.below_skipped):
            return None  # NumPy, the standard library: not the engine
        return self.on_line

    def on_skipped_line(self, frame, event, arg):
        if event == "return":  # (also when a generator yields: its resumption is a call again)
            self.depth -= 1
        return self.on_skipped_line

    def on_line(self, frame, event, arg):
        if event == "line":
            self.lines.setdefault((frame.f_code.co_filename, frame.f_lineno), None)
        return self.on_line


def example():
    v = minigrad.Tensor(V, requires_grad=True)
    W = F.softmax(v @ v.T, axis=-1)
    Y = W @ v
    return v, F.cosine_similarity(Y[0], Y[3], axis=-1)


def traced():
    """The forward and backward lines of one run of the example."""
    with LineTracer(skipped=(OPS, os.path.join(PACKAGE, "functional.py"))) as forward:
        v, cos = example()
    with LineTracer(skipped=(OPS,), below_skipped=False) as backward:
        cos.backward()
    return forward.lines, backward.lines


def report(name, lines, show_lines):
    per_file = Counter(os.path.relpath(path, ROOT) for path, _ in lines)
    files = ", ".join(f"{path} {n}" for path, n in per_file.most_common())
    print(f"{name}: {len(lines)} distinct lines in {len(per_file)} files ({files})")
    if show_lines:
        for path, number in lines:
            print(f"    {os.path.relpath(path, ROOT)}:{number:<4} {linecache.getline(path, number).rstrip()}")


def main(argv=None):
    show_lines = "--lines" in (sys.argv[1:] if argv is None else argv)
    v, cos = example()
    cos.backward()  # once untraced: caches filled, lazy imports done
    forward, backward = traced()
    report("forward", forward, show_lines)
    report("backward", backward, show_lines)


if __name__ == "__main__":
    main()
