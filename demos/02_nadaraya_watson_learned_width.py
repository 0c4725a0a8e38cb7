"""Demo 02 — Nadaraya-Watson kernel regression with a learned width (notes §1.1.1, taken further).

The re-weighting of demo 01 with arbitrary positions is attention: a query x looks at
every training point (key x_i, value y_i), turns closeness into a weight,
w_i(x) = softmax_i(-(x - x_i)² / (2 width²)), and predicts f(x) = Σ_i w_i(x) y_i.
Data as in the d2l book: y = 2 sin x + x^0.8 + noise (sd 0.5), 50 sorted training points.

The width is learned by gradient descent through minigrad on the leave-one-out loss
(each training point is predicted from the others only).  Without leaving one out the
width runs away to 0: every point then just copies its own noisy value.  Shown: the fits
(average pooling, the fixed width 1, the learned width) against the truth; the attention
weights before and after; loss and width per step; the run-away without leave-one-out.
"""
# %%
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy loads; one BLAS thread suits small matrices

import numpy as np

from attention import nadaraya_watson
from minigrad import Tensor

N_TRAIN, NOISE_SD, FIXED_WIDTH, STEPS, LR = 50, 0.5, 1.0, 300, 1.0


# %%
def truth(x):
    return 2 * np.sin(x) + x ** 0.8


# %%
def train_width(x, y, leave_one_out, steps=STEPS, lr=LR):
    """Gradient descent on log(width) (keeps the width positive); returns per-step losses and widths."""
    log_width = Tensor(np.log(FIXED_WIDTH), requires_grad=True)
    losses, widths = [], []
    for _ in range(steps):
        width = log_width.exp()
        pred, _ = nadaraya_watson(x, x, y, width, leave_one_out=leave_one_out)  # (N,)
        loss = ((pred - y) ** 2).mean()
        log_width.grad = None
        loss.backward()
        log_width.data = log_width.data - lr * log_width.grad.data
        losses.append(loss.item())
        widths.append(width.item())
    return np.array(losses), np.array(widths)


# %%
def main(out_dir="figures", seed=0, quick=False):
    # %% the data: keys x_i, values y_i, queries x_test
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, 5, N_TRAIN))                      # keys
    y = truth(x) + NOISE_SD * rng.standard_normal(N_TRAIN)       # values
    x_test = np.arange(0, 5, 0.1)                                # queries

    def loo_loss(width):
        pred, _ = nadaraya_watson(x, x, y, width, leave_one_out=True)
        return float(np.mean((pred.data - y) ** 2))

    def predict(width):
        pred, weights = nadaraya_watson(x_test, x, y, width)
        return pred.data, weights.data

    # %% learn the width; check it against a grid search; train once more without leaving one out
    losses, widths = train_width(x, y, leave_one_out=True)
    learned = float(widths[-1])
    grid = np.geomspace(0.02, 5, 300 if quick else 1000)
    grid_losses = np.array([loo_loss(w) for w in grid])
    grid_best = float(grid[grid_losses.argmin()])
    _, runaway_widths = train_width(x, y, leave_one_out=False)

    # %% the fits against the truth
    fits = {"average pooling": np.full_like(x_test, y.mean()), f"fixed width {FIXED_WIDTH:g}": predict(FIXED_WIDTH)[0],
            f"learned width {learned:.3f}": predict(learned)[0]}
    test_mse = {name: float(np.mean((f - truth(x_test)) ** 2)) for name, f in fits.items()}
    print(f"leave-one-out loss: width {FIXED_WIDTH:g} -> {losses[0]:.4f}, after {STEPS} steps {losses[-1]:.4f}")
    print(f"learned width {learned:.4f}; grid-search optimum of the same loss {grid_best:.4f} "
          f"({abs(learned / grid_best - 1):.2%} apart)")
    for name, mse in test_mse.items():
        print(f"  test MSE vs the truth, {name:<22}: {mse:.4f}")
    print(f"without leave-one-out the width runs away: {runaway_widths[0]:g} -> {runaway_widths[-1]:.4f}, "
          f"test MSE {np.mean((predict(runaway_widths[-1])[0] - truth(x_test)) ** 2):.4f}")

    # %% the figure
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 3, figsize=(12.5, 8), layout="constrained")
    ax = axes[0, 0]
    ax.plot(x, y, "o", color="grey", ms=4, label="training points")
    ax.plot(x_test, truth(x_test), "k--", label="truth")
    for name, f in fits.items():
        ax.plot(x_test, f, lw=2, label=f"{name} (test MSE {test_mse[name]:.3f})")
    ax.set_title("fits"), ax.set_xlabel("x")
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.2))   # below: the points fill the axes
    for ax, width, title in [(axes[0, 1], FIXED_WIDTH, "weights, fixed width"),
                             (axes[0, 2], learned, "weights, learned width")]:
        # Each weight drawn where its key and query are: the band follows x_i = x.
        image = ax.pcolormesh(x, x_test, predict(width)[1], shading="nearest", cmap="Blues", vmin=0)
        ax.invert_yaxis(), ax.set_aspect("equal"), ax.set_title(f"{title} {width:.3f}")
        ax.set_xlabel("key: training point x_i"), ax.set_ylabel("query: test point x")
        fig.colorbar(image, ax=ax, shrink=0.8, label="weight w_i(x)")
    ax = axes[1, 0]
    ax.semilogx(np.arange(1, STEPS + 1), losses, label="learned width")
    ax.axhline(grid_losses.min(), color="k", ls=":", label="grid-search optimum")
    ax.set_xlabel("step (log scale: all the change is in the first 20)"), ax.set_ylabel("leave-one-out loss")
    ax.set_title("training: the loss"), ax.legend()
    ax = axes[1, 1]
    ax.semilogx(grid, grid_losses)
    ax.axvline(learned, color="crimson", label=f"learned {learned:.3f}")
    ax.set_xlabel("width"), ax.set_ylabel("leave-one-out loss"), ax.set_title("leave-one-out loss on a grid")
    ax.legend()
    ax = axes[1, 2]
    ax.semilogy(widths, color="C2", label="trained on the leave-one-out loss")
    ax.axhline(grid_best, color="k", ls=":", label=f"grid-search optimum {grid_best:.3f}")
    ax.semilogy(runaway_widths, color="crimson", label="on the plain loss: runs away to 0")
    ax.set_xlabel("step"), ax.set_ylabel("width"), ax.set_title("training: the width")
    ax.legend(fontsize=9, loc="upper right")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "02_nadaraya_watson_learned_width.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"saved {path}")
    names = list(test_mse)
    return {"learned_width": learned, "grid_best_width": grid_best, "width_rel_error": abs(learned / grid_best - 1),
            "steps": STEPS, "mse_average": test_mse[names[0]], "mse_fixed": test_mse[names[1]],
            "mse_learned": test_mse[names[2]], "runaway_width": float(runaway_widths[-1]),
            "x_train": x.tolist(), "y_train": y.tolist()}


# %%
if __name__ == "__main__":
    main()
