"""Run every numbered demo in order, headless, and print a summary table.

    python -m demos [--out DIR] [--seed N] [--quick] [--only 03,08]
"""
import argparse
import importlib
import os
import pkgutil
import time

os.environ.setdefault("MPLBACKEND", "Agg")  # no screen needed
# The demos multiply small matrices, where BLAS threads cost more than they give (much
# more on a busy machine); set before NumPy is first imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def demo_names():
    import demos
    return sorted(m.name for m in pkgutil.iter_modules(demos.__path__) if m.name[:2].isdigit())


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m demos", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="figures", help="folder for the figures (default: figures/)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="fewer steps (for CI)")
    parser.add_argument("--only", default="", help="comma-separated demo numbers, e.g. 03,08")
    args = parser.parse_args(argv)
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    rows = []
    for name in demo_names():
        if wanted and name[:2] not in wanted:
            continue
        print(f"\n=== {name} ===")
        module = importlib.import_module(f"demos.{name}")
        start = time.perf_counter()
        metrics = module.main(out_dir=args.out, seed=args.seed, quick=args.quick)
        rows.append((name, time.perf_counter() - start, metrics))
    print("\n| demo | seconds | key numbers |\n|---|---:|---|")
    for name, seconds, metrics in rows:
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in metrics.items() if not isinstance(v, (list, dict)))
        print(f"| {name} | {seconds:.1f} | {shown} |")


if __name__ == "__main__":
    main()
