"""Demo 12 — forward and reverse mode: one derivative two ways, and what each costs (§1.1.2, further).

Reverse mode (backward) pulls a cotangent from the output back to the inputs: one sweep gives
a row of the Jacobian, vᵀJ.  Forward mode (minigrad.func.jvp) pushes a tangent from the
inputs to the output alongside the values: one pass gives a column, J u.  Shown:
- the notes' cosine cos(Y[bank], Y[river]), Y = softmax(V Vᵀ) V, differentiated both ways;
- the Jacobian of Y w.r.t. V (8 x 8) by jacfwd (columns) and jacrev (rows): the same matrix;
- the cost lesson, measured: for f: Rⁿ → Rᵐ, jacfwd takes n passes and jacrev m sweeps, so
  forward mode wins when n < m, reverse mode when n > m (the crossover is near n = m);
- Newton's method with `hessian` (forward over reverse) on demo 02's kernel width, against
  demo 02's gradient descent: the number of steps to converge;
- per-example gradient norms of a small attention model in one pass with vmap(grad(loss)),
  checked against a Python loop over the examples.
"""
# %%
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy loads; one BLAS thread suits small matrices

import numpy as np

import minigrad.functional as F
from attention import nadaraya_watson
from minigrad import Tensor, func

TOKENS = ["bank", "of", "the", "river"]
V_NOTES = np.array([[0.2815, 0.0562], [0.5227, -0.2384], [-0.0499, 0.5263], [-0.0085, 0.7291]])
BANK, RIVER = 0, 3


# %%
def attend(V):
    """Y = softmax(V Vᵀ) V: parameter-free self-attention, (4, 2) -> (4, 2)."""
    return F.softmax(V @ V.T, axis=-1) @ V


def cosine_after(V):
    Y = attend(V)
    return F.cosine_similarity(Y[BANK], Y[RIVER], axis=0)


# %%
def time_jacobians(n, m, repeats):
    """Seconds for jacfwd and jacrev of f(x) = tanh(W x) with W (m, n): the best of `repeats`."""
    W = Tensor(np.random.default_rng(0).standard_normal((m, n)) / np.sqrt(n))
    f, x = (lambda x: F.tanh(W @ x)), Tensor(np.ones(n))

    def seconds(jacobian):
        start = time.perf_counter()
        jacobian(f)(x)
        return time.perf_counter() - start

    return {name: min(seconds(jacobian) for _ in range(repeats))
            for name, jacobian in [("jacfwd", func.jacfwd), ("jacrev", func.jacrev)]}


def crossover(sizes, timings):
    """The size where jacfwd's and jacrev's times cross (log-linear interpolation), or None."""
    gap = [np.log(t["jacfwd"] / t["jacrev"]) for t in timings]
    for k in range(len(sizes) - 1):
        if (gap[k] < 0) != (gap[k + 1] < 0):
            fraction = gap[k] / (gap[k] - gap[k + 1])
            return float(np.exp(np.log(sizes[k]) + fraction * (np.log(sizes[k + 1]) - np.log(sizes[k]))))
    return None


# %%
def steps_to_converge(update, theta, tol=1e-8, max_steps=300):
    """Apply theta <- update(theta) until the step is below tol; returns (steps, the path)."""
    path = [theta]
    for step in range(1, max_steps + 1):
        theta = update(theta)
        path.append(theta)
        if abs(path[-1] - path[-2]) < tol:
            return step, path
    return max_steps, path


# %%
def attention_loss(Wq, Wk, Wv, w_out, x, target):
    """One sequence x (T, D) through single-head attention, one number per token: mean squared error."""
    q, k, v = x @ Wq, x @ Wk, x @ Wv                                  # (T, D) each
    weights = F.softmax(q @ k.T / np.sqrt(x.shape[-1]), axis=-1)    # (T, T)
    return (((weights @ v) @ w_out - target) ** 2).mean()


# %%
def main(out_dir="figures", seed=0, quick=False):
    np.set_printoptions(precision=4, suppress=True)
    V = Tensor(V_NOTES)
    by_reverse = func.grad(cosine_after)(V)                               # one backward sweep
    by_forward = func.jacfwd(cosine_after)(V)                             # 8 forward passes, one per V entry
    print(f"cos(bank, river) after attention: {cosine_after(V).item():.4f} (notes: 0.9453)")
    print("d cos / dV by reverse mode (grad):\n", by_reverse.data)
    print(f"by forward mode (jacfwd) it differs by {np.abs(by_forward.data - by_reverse.data).max():.1e}")

    J_fwd, J_rev = func.jacfwd(attend)(V).data.reshape(8, 8), func.jacrev(attend)(V).data.reshape(8, 8)
    jacobian_gap = float(np.abs(J_fwd - J_rev).max())
    print(f"Jacobian of softmax(V Vᵀ) V w.r.t. V (8 x 8): jacfwd and jacrev differ by {jacobian_gap:.1e}")

    sizes = [2, 8, 32, 128] if quick else [2, 4, 8, 16, 32, 64, 128, 256]
    fixed, repeats = 32, (2 if quick else 7)
    vary_n = [time_jacobians(n, fixed, repeats) for n in sizes]          # m = 32 outputs, n inputs
    vary_m = [time_jacobians(fixed, m, repeats) for m in sizes]          # n = 32 inputs, m outputs
    for varied, timings in [(f"n (m = {fixed})", vary_n), (f"m (n = {fixed})", vary_m)]:
        print(f"  {varied} = {sizes}: jacfwd {[round(t['jacfwd'] * 1e3, 2) for t in timings]} ms, "
              f"jacrev {[round(t['jacrev'] * 1e3, 2) for t in timings]} ms")
    print(f"measured crossover: n ≈ {crossover(sizes, vary_n) or float('nan'):.0f} (m = {fixed}), "
          f"m ≈ {crossover(sizes, vary_m) or float('nan'):.0f} (n = {fixed}); not exactly at n = m, as each jvp "
          "pass runs f's forward again while every backward sweep reuses the one forward")

    rng = np.random.default_rng(seed)
    x_train = np.sort(rng.uniform(0, 5, 50))                                 # demo 02's data
    y_train = 2 * np.sin(x_train) + x_train ** 0.8 + 0.5 * rng.standard_normal(50)

    def loss(log_width):  # demo 02's leave-one-out loss, of log(width)
        pred, _ = nadaraya_watson(x_train, x_train, y_train, F.exp(log_width), leave_one_out=True)
        return ((pred - y_train) ** 2).mean()

    gradient, second = func.grad(loss), func.hessian(loss)
    newton_steps, newton_path = steps_to_converge(
        lambda t: t - float(gradient(Tensor(t)).data) / float(second(Tensor(t)).data), 0.0)
    gd_steps, gd_path = steps_to_converge(lambda t: t - 1.0 * float(gradient(Tensor(t)).data), 0.0,
                                          max_steps=60 if quick else 300)
    print(f"kernel width: Newton (hessian) converges in {newton_steps} steps to width "
          f"{np.exp(newton_path[-1]):.4f}; gradient descent (demo 02, lr 1) takes {gd_steps} steps to width "
          f"{np.exp(gd_path[-1]):.4f}")

    B, T, D = (16, 5, 8) if quick else (64, 6, 8)
    params = [Tensor(rng.standard_normal(s) / np.sqrt(D)) for s in [(D, D), (D, D), (D, D), (D,)]]
    X, targets = Tensor(rng.standard_normal((B, T, D))), Tensor(rng.standard_normal((B, T)))
    per_example = func.vmap(func.grad(attention_loss, argnums=(0, 1, 2, 3)),
                            in_axes=(None, None, None, None, 0, 0))(*params, X, targets)   # 4 x (B, ...)
    norms = np.sqrt(sum((g.data.reshape(B, -1) ** 2).sum(axis=1) for g in per_example))    # (B,)
    loop = [func.grad(attention_loss, argnums=(0, 1, 2, 3))(*params, X[i], targets[i]) for i in range(B)]
    loop_gap = max(float(np.abs(g.data[i] - loop[i][k].data).max())
                   for k, g in enumerate(per_example) for i in range(B))
    print(f"per-example gradient norms of {B} sequences by vmap(grad): from {norms.min():.3f} to "
          f"{norms.max():.3f}; a loop of grad differs by {loop_gap:.1e}")

    os.makedirs(out_dir, exist_ok=True)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 3, figsize=(15, 9), layout="constrained")
    labels = [f"{TOKENS[i // 2]} {i % 2}" for i in range(8)]               # token, coordinate
    limit = np.abs(J_fwd).max()
    for ax, J, title in [(axes[0, 0], J_fwd, "jacfwd: built column by column"),
                         (axes[0, 1], J_rev, "jacrev: built row by row")]:
        image = ax.imshow(J, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_xticks(range(8), labels, rotation=60), ax.set_yticks(range(8), labels)
        ax.set_xlabel("input: V entry (token, coordinate)"), ax.set_ylabel("output: Y entry")
        ax.set_title(f"{title}\nd softmax(V Vᵀ)V / dV; the two differ by {jacobian_gap:.0e}")
    fig.colorbar(image, ax=axes[0, 1], shrink=0.8)
    for ax, timings, label, other in [(axes[0, 2], vary_n, "n inputs", f"m = {fixed} outputs"),
                                      (axes[1, 0], vary_m, "m outputs", f"n = {fixed} inputs")]:
        for name, style in [("jacfwd", "o-"), ("jacrev", "s-")]:
            ax.loglog(sizes, [t[name] * 1e3 for t in timings], style, label=name)
        ax.set_xticks(sizes, [str(n) for n in sizes]), ax.minorticks_off()
        ax.axvline(fixed, color="grey", ls=":", label=f"n = m = {fixed}")
        where = crossover(sizes, timings)
        if where:
            ax.axvline(where, color="crimson", lw=1, label=f"measured crossover: {label.split()[0]} ≈ {where:.0f}")
        ax.set_xlabel(label), ax.set_ylabel("time (ms)"), ax.legend()
        ax.set_title(f"cost of the Jacobian of tanh(W x), {other}")
    ax = axes[1, 1]
    optimum = newton_path[-1]
    for path, name in [(gd_path, f"gradient descent: {gd_steps} steps"),
                       (newton_path, f"Newton: {newton_steps} steps")]:
        ax.semilogy(np.maximum(np.abs(np.array(path) - optimum), 1e-16), "o-", ms=3, label=name)
    ax.set_xlabel("step"), ax.set_ylabel("|log width - optimum|"), ax.legend()
    ax.set_title("demo 02's kernel width: Newton with hessian vs gradient descent")
    ax = axes[1, 2]
    ax.bar(range(B), norms, color="C2")
    ax.set_xlabel("example (sequence)"), ax.set_ylabel("|gradient| over all parameters")
    ax.set_title(f"per-example gradient norms by vmap(grad(loss))\n(a loop of grad differs by {loop_gap:.0e})")
    path = os.path.join(out_dir, "12_forward_and_reverse.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"saved {path}")
    return dict(cosine=cosine_after(V).item(), grad_reverse=by_reverse.data, grad_forward=by_forward.data,
                jacobian=J_rev, jacobian_gap=jacobian_gap, sizes=sizes, vary_n=vary_n, vary_m=vary_m,
                newton_steps=newton_steps, gd_steps=gd_steps, newton_width=float(np.exp(newton_path[-1])),
                norms=norms, loop_gap=loop_gap, x_train=x_train, y_train=y_train,
                params=[p.data for p in params], X=X.data, targets=targets.data)


# %%
if __name__ == "__main__":
    main()
