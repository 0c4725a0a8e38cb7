"""Instructions per step, counted with valgrind's callgrind: repeatable where timings on a
shared machine are not.  Run from the repository root:

    python -m bench.count_instructions                 # W0, W1 (1,8,16) float64, the chain's per-op cost
    python -m bench.count_instructions --impl numpy    # the same for hand-written NumPy

Each figure is (instructions of 140 steps - instructions of 40 steps) / 100, which leaves
out Python's start-up and the imports; one more multiply in the chain is the difference
between the per-step counts of k = 64 and k = 1, divided by 63.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

FEW, MANY = 40, 140


def run_steps(key, impl, steps):
    """Child process: `steps` calls of one workload's implementation (after one untimed call)."""
    from bench import workloads as W
    workload = next(wl for wl in W.build_workloads(peers=False) if wl.key == key)
    step = workload.factories[impl](workload)
    step()
    for _ in range(steps):
        step()


def instructions(key, impl, steps):
    with tempfile.TemporaryDirectory() as tmp:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out",
                   sys.executable, "-m", "bench.count_instructions", "--child", key, impl, str(steps)]
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        return int(re.search(r"Collected : (\d+)", done.stderr).group(1))


def per_step(key, impl):
    return (instructions(key, impl, MANY) - instructions(key, impl, FEW)) / (MANY - FEW)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="minigrad")
    parser.add_argument("--only", choices=["W0", "W1", "chain"], help="one figure only")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        key, impl, steps = args.child
        return run_steps(key, impl, int(steps))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from bench import workloads as W
    rows = {"W0 seed": W.W0_KEY, "W1 (1,8,16) float64": W.w1_key((1, 8, 16), "float64")}
    for name, key in rows.items():
        if args.only in (None, name.split()[0]):
            print(f"{name}: {per_step(key, args.impl) / 1e3:.1f}k instructions per step", flush=True)
    if args.only not in (None, "chain"):
        return
    one, many = per_step(W.chain_key(1), args.impl), per_step(W.chain_key(64), args.impl)
    print(f"chain, one more multiply: {(many - one) / 63 / 1e3:.1f}k instructions", flush=True)


if __name__ == "__main__":
    main()
