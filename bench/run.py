"""Command line of the benchmark: ``python -m bench [options]``.

    python -m bench                 full run (a few minutes at most)
    python -m bench --quick         short run (well under a minute)
    python -m bench --threads 2     let BLAS/OpenMP use 2 threads (default 1)
    python -m bench --only W1 --only chain      only matching workloads
    python -m bench --no-peers      skip torch / autograd / mygrad
    python -m bench --output bench.md           also write the report to a file
    python -m bench --clock wall    measure wall time (default with one thread: CPU time)

Thread control: BLAS libraries (OpenBLAS, MKL) and OpenMP read
OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS once, when they
are loaded, i.e. when NumPy is first imported.  This module therefore
imports nothing that imports NumPy at module level: ``main`` parses the
arguments, sets those variables from ``--threads``, and only then imports
the harness (and with it NumPy).  If NumPy was already imported in the
process (e.g. ``main`` called from other Python code), the variables can no
longer take effect; threadpoolctl, if installed, is then used instead, and
the report says so.
"""

import argparse
import os
import sys

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark minigrad against a hand-written NumPy forward+backward "
                    "(and PyTorch / autograd / mygrad when installed).")
    p.add_argument("--quick", action="store_true",
                   help="short run: fewer rounds and shorter measurements")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help=f"BLAS/OpenMP threads (sets {', '.join(THREAD_ENV_VARS)} before "
                        "NumPy is imported; default 1)")
    p.add_argument("--only", action="append", metavar="TEXT",
                   help="run only workloads whose name contains TEXT (case-insensitive; "
                        "repeatable; 'memory' selects the peak-memory measurement)")
    p.add_argument("--no-peers", action="store_true",
                   help="do not run torch / autograd / mygrad even if installed")
    p.add_argument("--no-memory", action="store_true",
                   help="skip the peak-memory measurement")
    p.add_argument("--rounds", type=int, metavar="N", help="measured rounds per workload")
    p.add_argument("--warmup", type=int, metavar="N", help="warm-up rounds per workload")
    p.add_argument("--clock", choices=("auto", "cpu", "wall"), default="auto",
                   help="process CPU time (ignores time spent waiting for other programs; "
                        "meaningful with one thread only) or wall time; auto (default): CPU "
                        "time with --threads 1, wall time otherwise")
    p.add_argument("--output", metavar="PATH", help="also write the markdown report to PATH")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be >= 1")
    return args


def set_thread_env(threads):
    """Set the thread variables; return a note for the report ('' if all is well)."""
    numpy_loaded = "numpy" in sys.modules
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(threads)
    if not numpy_loaded:
        return ""
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads)
        return " [NumPy was imported before the variables were set; limited via threadpoolctl]"
    except Exception:
        return " [NumPy was imported before the variables were set: they may have no effect]"


def main(argv=None):
    args = parse_args(argv)
    note = set_thread_env(args.threads)      # before NumPy is imported
    from bench import harness                 # imports NumPy

    cfg = harness.Config(quick=args.quick, rounds=args.rounds, warmup=args.warmup,
                         threads=args.threads, peers=not args.no_peers,
                         memory=not args.no_memory, only=args.only, clock=args.clock)
    report = harness.run(cfg, thread_note=note)
    print(report)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
