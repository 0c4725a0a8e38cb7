"""Demo 01 — smoothing a noisy time series by re-weighting (lecture notes §1.1.1).

The notes' first picture of attention: replace the value at time i by a weighted average
of the whole series, y_i = w_iᵀ x, where the weights w_i come from a normal density
centred at i.  All rows together form the matrix W (rows sum to 1), so y = W x.

Shown: a noisy sine smoothed with sigma = 1, 3, 10; the n x n weight matrix (a band around
the diagonal: each time step looks at its neighbours); and the error against the clean
sine as a function of sigma — a U-curve: too narrow keeps the noise, too wide flattens
the signal.
"""
# %%
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy loads; one BLAS thread suits small matrices

import numpy as np

from attention import gaussian_weights, kernel_smooth

N, NOISE_SD = 100, 0.5
SHOWN_SIGMAS = (1.0, 3.0, 10.0)


# %%
def main(out_dir="figures", seed=0, quick=False):
    # %% a noisy sine, smoothed by y = W x
    rng = np.random.default_rng(seed)
    t = np.arange(N)
    clean = np.sin(2 * np.pi * t / 50)                 # two periods over 100 steps
    x = clean + NOISE_SD * rng.standard_normal(N)      # (N,) what we observe

    def mse(y):
        return float(np.mean((y - clean) ** 2))

    W = gaussian_weights(N, 3.0).data                  # (N, N) row i: the weights time i gives to every time j
    row_sum_error = float(np.abs(W.sum(axis=1) - 1.0).max())
    smoothed = {s: kernel_smooth(x, s).data for s in SHOWN_SIGMAS}
    sigmas = np.geomspace(0.3, 50, 12 if quick else 40)
    curve = np.array([mse(kernel_smooth(x, s).data) for s in sigmas])
    mse_raw = mse(x)
    mse_at = {s: mse(kernel_smooth(x, s).data) for s in (0.5, 3.0, 30.0)}
    best_sigma = float(sigmas[curve.argmin()])

    # %% the numbers
    print(f"rows of W sum to 1 within {row_sum_error:.1e}")
    print(f"MSE vs the clean sine: raw {mse_raw:.4f}")
    for s, m in mse_at.items():
        print(f"  sigma {s:>4}: {m:.4f}  ({m / mse_raw:.1%} of raw)")
    print(f"best sigma on the grid: {best_sigma:.2f} (MSE {curve.min():.4f})")

    # %% the figure
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), layout="constrained")
    ax = axes[0]
    ax.plot(t, x, ".", color="grey", label="noisy x")
    ax.plot(t, clean, "k--", lw=1, label="clean sine")
    for s, y in smoothed.items():
        ax.plot(t, y, lw=2, label=f"y = W x, sigma={s:g}")
    ax.set_xlabel("time i"), ax.set_title("re-weighted series")
    ax.legend(fontsize=9, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.15))  # below: off the data
    ax = axes[1]
    image = ax.imshow(W, cmap="Blues")
    ax.set_xlabel("time j (key)"), ax.set_ylabel("time i (query)"), ax.set_title("W for sigma = 3: a band")
    fig.colorbar(image, ax=ax, shrink=0.8, label="weight w_ij")
    ax = axes[2]
    ax.loglog(sigmas, curve, "o-", ms=3, label="MSE(W x, clean)")
    ax.axhline(mse_raw, color="grey", ls="--", label="MSE(raw x, clean)")
    ax.set_xlabel("sigma"), ax.set_ylabel("MSE against the clean sine")
    ax.set_title("error vs sigma: a U-curve"), ax.legend(fontsize=9)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "01_timeseries_reweighting.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"saved {path}")
    return {"row_sum_error": row_sum_error, "mse_raw": mse_raw, "mse_sigma_0.5": mse_at[0.5],
            "mse_sigma_3": mse_at[3.0], "mse_sigma_30": mse_at[30.0], "best_sigma": best_sigma}


# %%
if __name__ == "__main__":
    main()
