"""Run the numbered demos in order, headless, and print a summary table.

    python -m demos [--list] [--only 3,08] [--out DIR] [--seed N] [--quick]
"""
import argparse
import importlib
import os
import pkgutil
import time

os.environ.setdefault("MPLBACKEND", "Agg")  # no screen needed
# (Each demo sets one BLAS thread itself, in its first lines, so it does the same run alone.)


def demo_names():
    """The demo modules, e.g. '03_bank_of_the_river', in order."""
    import demos
    return sorted(m.name for m in pkgutil.iter_modules(demos.__path__) if m.name[:2].isdigit())


def chosen(only, names, parser):
    """The names picked by --only ("3,08": numbers, with or without the leading zero); all if empty."""
    by_number = {name[:2]: name for name in names}
    wanted = [item.strip() for item in only.split(",") if item.strip()]
    unknown = [item for item in wanted if not item.isdigit() or f"{int(item):02d}" not in by_number]
    if unknown:
        parser.error(f"--only: no demo {', '.join(unknown)}; the demos are {', '.join(by_number)} "
                     "(see --list)")
    numbers = {f"{int(item):02d}" for item in wanted}
    return [name for name in names if not numbers or name[:2] in numbers]


def summary(docstring):
    """'§1.1.2: ...' from the docstring's first line 'Demo 03 — §1.1.2: ...'."""
    return docstring.splitlines()[0].split("—", 1)[-1].strip()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m demos", description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the demos and exit")
    parser.add_argument("--only", default="", help="comma-separated demo numbers, e.g. 3,08")
    parser.add_argument("--out", default="figures", help="folder for the figures (default: figures/)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="fewer steps (for CI)")
    args = parser.parse_args(argv)
    names = demo_names()
    if args.list:
        for name in names:
            print(f"{name:<34} {summary(importlib.import_module(f'demos.{name}').__doc__)}")
        return
    rows, out_dir = [], os.path.abspath(args.out)
    for name in chosen(args.only, names, parser):
        print(f"\n=== {name} ===")
        module = importlib.import_module(f"demos.{name}")
        start = time.perf_counter()
        metrics = module.main(out_dir=out_dir, seed=args.seed, quick=args.quick)
        rows.append((name, time.perf_counter() - start, metrics))
    print("\n| demo | seconds | key numbers |\n|---|---:|---|")
    for name, seconds, metrics in rows:
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in metrics.items() if not isinstance(v, (list, dict)))
        print(f"| {name} | {seconds:.1f} | {shown} |")
    figures = sorted(f for f in os.listdir(out_dir) if f[:2] in {name[:2] for name, _, _ in rows})
    print(f"\nfigures saved in {out_dir}: {', '.join(figures)}")


if __name__ == "__main__":
    main()
