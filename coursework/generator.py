"""Coursework: turn minigrad into exercises that its own test suite grades.

    python -m coursework --list                           # what can be taken out (or: list)
    python -m coursework make OUT_DIR --ops Softmax,MatMul [--jvps Tanh] [--layers Linear] [--functions ...]
    python -m coursework restore OUT_DIR [--force]        # put the reference code back
    python -m coursework strength [PART ...]              # do the grading tests catch wrong versions?

`make` copies the project (the files git tracks or would add; ignored ones such as .venv/
and figures/ stay out) and empties the chosen parts: an op's `backward`, a layer's
`forward`, an attention function.  Each body becomes `raise NotImplementedError("Exercise:
...")`, and the answer leaves the copy: the backward rule in an op's docstring, and the
files that hold it (the benchmark's baselines, a guide).  The copy's conftest.py grades
each exercise on its own; EXERCISES.md lists them, with the command that grades each.
The modules: parts (what can be taken out), cutting (editing source), grading (which
tests), copying (the copy), exercises_md (its EXERCISES.md and README), restoring, and
strength with mutants and part_strength (how strong each part's grading is).
"""
import argparse
import sys
from pathlib import Path

from coursework import strength
from coursework.copying import check_project, make
from coursework.parts import find_targets, listing, resolve
from coursework.restoring import report, restore

PROJECT = Path(__file__).resolve().parents[1]


def parser():
    parser = argparse.ArgumentParser(prog="python -m coursework", description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the ops, layers and functions that can be taken out")
    parser.set_defaults(root=str(PROJECT))
    sub = parser.add_subparsers(dest="command")
    make_parser = sub.add_parser("make", help="write a copy of the project with exercises")
    make_parser.add_argument("out_dir")
    for kind in ("ops", "jvps", "layers", "functions"):
        make_parser.add_argument(f"--{kind}", default="", help=f"comma-separated {kind} to take out")
    restore_parser = sub.add_parser("restore", help="put the reference code back into an exercise copy")
    restore_parser.add_argument("out_dir")
    restore_parser.add_argument("--force", action="store_true", help="also overwrite exercises a student changed")
    list_parser = sub.add_parser("list", help="the same as --list")
    strength_parser = sub.add_parser("strength", help="check that each part's grading tests fail on wrong versions of it")
    strength_parser.add_argument("parts", nargs="*", help="ops, layers (Linear.forward) or functions; default: all")
    for command in (make_parser, restore_parser, list_parser):
        command.add_argument("--from", dest="root", default=str(PROJECT),
                             help=f"the reference project (default: {PROJECT})")
    return parser


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        if args.list or args.command in (None, "list"):
            print(listing(check_project(args.root)))
        elif args.command == "make":
            targets = find_targets(check_project(args.root))
            chosen = [t for kind, option in (("op", args.ops), ("jvp", args.jvps), ("layer", args.layers),
                                             ("function", args.functions))
                      for t in resolve(option, kind, targets)]
            graded = make(args.out_dir, chosen, args.root)
            for target, command in graded:
                print(f"{target.qualname:32s} {command}")
            print(f"wrote {args.out_dir} with {len(graded)} exercise(s); see {Path(args.out_dir) / 'EXERCISES.md'}")
        elif args.command == "strength":
            return strength.main(args.parts, check_project(args.root))
        else:
            print(report(restore(args.out_dir, args.root, force=args.force)))
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    return 0
