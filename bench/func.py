"""bench rows for minigrad.func: what forward mode and vmap cost.

    python -m bench.func            # full run
    python -m bench.func --quick    # a few seconds

- jvp / forward: the cost of pushing one tangent alongside the values, as a ratio to the
  forward pass alone (and, for scale, grad's forward + backward), on the seed workload
  (the notes' cosine, V (4, 2)) and on causal single-head attention W1 (B, T, D).
- vmap(grad) / a loop of grad: per-example gradients of a small attention model for a
  batch of 64 sequences, in one batched pass against 64 calls of grad.
Each round times every variant once, in turn; reported are the medians over rounds of the
time (CPU time of this process, one BLAS thread) and of the ratio to the baseline measured
in the same round.  Every variant's result is first checked against the baseline's.
"""
import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import minigrad.functional as F  # noqa: E402
from minigrad import Tensor, func, no_grad  # noqa: E402

SEED_V = np.array([[0.2815, 0.0562], [0.5227, -0.2384], [-0.0499, 0.5263], [-0.0085, 0.7291]])


def seed_cosine(V):
    Y = F.softmax(V @ V.T, axis=-1) @ V
    return F.cosine_similarity(Y[0], Y[3], axis=0)


def causal_attention(x):
    """W1: causal single-head self-attention of x (B, T, D) with itself as q, k, v."""
    T, D = x.shape[-2:]
    weights = F.softmax(x @ x.swapaxes(-1, -2) / np.sqrt(D), axis=-1, where=np.tri(T, dtype=bool))  # (B, T, T)
    return ((weights @ x) ** 2).sum()


def attention_loss(Wq, Wk, Wv, w_out, x, target):
    """Demo 12's model: one sequence x (T, D) through single-head attention, mean squared error."""
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    weights = F.softmax(q @ k.T / np.sqrt(x.shape[-1]), axis=-1)
    return (((weights @ v) @ w_out - target) ** 2).mean()


def timed(call, budget):
    """Seconds per call: a batch of calls lasting about `budget` seconds of CPU time."""
    count, start = 0, time.process_time()
    while True:
        call()
        count += 1
        spent = time.process_time() - start
        if spent >= budget:
            return spent / count


def compare(variants, rounds, budget):
    """{name: (median seconds, median ratio to the first variant in the same round)}."""
    times = {name: [] for name in variants}
    for r in range(rounds + 1):
        names = list(variants)
        order = names[r % len(names):] + names[:r % len(names)]  # rotated each round
        this_round = {name: timed(variants[name], budget) for name in order}
        if r:  # round 0 warms up
            for name in names:
                times[name].append(this_round[name])
    base = np.array(times[next(iter(variants))])
    return {name: (float(np.median(t)), float(np.median(np.array(t) / base))) for name, t in times.items()}


def jvp_rows(rounds, budget):
    rows = []
    rng = np.random.default_rng(0)
    cases = [("seed cosine V (4, 2)", seed_cosine, SEED_V)]
    for shape in [(8, 64, 64), (8, 256, 64)]:
        cases.append((f"W1 attention {shape}", causal_attention, rng.standard_normal(shape)))
    for label, f, x in cases:
        x, u = Tensor(x), Tensor(rng.standard_normal(x.shape))
        _, tangent = func.jvp(f, (x,), (u,))
        assert np.isclose(tangent.item(), (func.grad(f)(x).data * u.data).sum(), rtol=1e-10)  # <∇f, u>

        def forward():
            with no_grad():
                f(x)

        results = compare({"forward": forward, "jvp": lambda: func.jvp(f, (x,), (u,)),
                           "grad": lambda: func.grad(f)(x)}, rounds, budget)
        rows.append((label, results))
    return rows


def vmap_rows(rounds, budget, batch=64, T=8, D=16):
    rng = np.random.default_rng(0)
    params = [Tensor(rng.standard_normal(s) / np.sqrt(D)) for s in [(D, D), (D, D), (D, D), (D,)]]
    X, y = Tensor(rng.standard_normal((batch, T, D))), Tensor(rng.standard_normal((batch, T)))
    per_example = func.vmap(func.grad(attention_loss, argnums=(0, 1, 2, 3)), in_axes=(None,) * 4 + (0, 0))
    grad_of_one = func.grad(attention_loss, argnums=(0, 1, 2, 3))
    examples = [(X[i].detach(), y[i].detach()) for i in range(batch)]

    def loop():
        return [grad_of_one(*params, x, t) for x, t in examples]

    batched, looped = per_example(*params, X, y), loop()
    for k, g in enumerate(batched):
        assert np.allclose(g.data, np.stack([row[k].data for row in looped]), rtol=1e-10, atol=1e-12)
    return [(f"per-example grads, batch {batch}, (T, D) = ({T}, {D})",
             compare({"loop of grad": loop, "vmap(grad)": lambda: per_example(*params, X, y)}, rounds, budget))]


def report(rows, title, baseline):
    lines = [f"### {title}", "", f"| workload | variant | median time | ratio to {baseline} |", "|---|---|---:|---:|"]
    for label, results in rows:
        for name, (seconds, ratio) in results.items():
            lines.append(f"| {label} | {name} | {seconds * 1e6:,.0f} µs | {ratio:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    args = parser.parse_args(argv)
    rounds, budget = (3, 0.02) if args.quick else (9, 0.1)
    print(f"load average {os.getloadavg()[0]:.2f}; {rounds} rounds of ~{budget * 1e3:.0f} ms CPU time per variant\n")
    print(report(jvp_rows(rounds, budget), "forward mode: jvp against forward", "forward"), "\n")
    print(report(vmap_rows(rounds, budget), "per-example gradients: vmap(grad) against a loop", "loop of grad"))


if __name__ == "__main__":
    main()
