"""Demo 05 — why attention scores are divided by sqrt(d), and how masks block keys.

The notes score tokens by the plain dot product v_i·v_j.  With d-dimensional queries and
keys of unit-variance entries, q·k is a sum of d products, so Var(q·k) = d: the scores
grow with the width, the softmax saturates (entropy -> 0, one key takes everything) and
its gradients vanish.  Dividing by sqrt(d) keeps Var = 1 at every width.

Masks (True = may attend) set the weight of a blocked key to exactly 0: padding masks hide
the filler at the end of shorter sequences in a batch; the causal mask lets token t see
tokens 0..t only.
"""
# %%
import math
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy loads; one BLAS thread suits small matrices

import numpy as np

from attention import causal_mask, padding_mask, plot_attention, scaled_dot_product_attention

WIDTHS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
N_SAMPLES, S = 10_000, 16


# %%
def entropy(weights):
    """Mean entropy (nats) of the rows of weights (..., S); 0 log 0 counts as 0."""
    w = np.clip(weights, 1e-300, 1.0)
    return float(-(weights * np.log(w)).sum(axis=-1).mean())


# %%
def main(out_dir="figures", seed=0, quick=False):
    # %% score variance and softmax entropy, width by width
    rng = np.random.default_rng(seed)
    n = N_SAMPLES  # cheap enough for quick mode too
    var_raw, var_scaled, ent_raw, ent_scaled = [], [], [], []
    for d in WIDTHS:
        q = rng.standard_normal((n, d))
        k = rng.standard_normal((n, d))
        scores = (q * k).sum(axis=1)                                     # (n,) one q·k per sample
        var_raw.append(float(scores.var()))
        var_scaled.append(float((scores * (1.0 / math.sqrt(d))).var()))
        q, k = q[:500, None, :], rng.standard_normal((500, S, d))        # (500, 1, d), (500, S, d)
        v = np.zeros((500, S, 1))
        ent_raw.append(entropy(scaled_dot_product_attention(q, k, v, scale=1.0)[1].data))
        ent_scaled.append(entropy(scaled_dot_product_attention(q, k, v)[1].data))
    i64 = WIDTHS.index(64)
    print(f"d = 64, {n:,} samples: Var(q·k) = {var_raw[i64]:.2f} (theory 64), "
          f"Var(q·k / sqrt(d)) = {var_scaled[i64]:.3f} (theory 1)")
    print(f"softmax entropy over {S} keys (max log {S} = {math.log(S):.2f}):")
    for d, a, b in zip(WIDTHS, ent_raw, ent_scaled):
        print(f"  d = {d:>3}: unscaled {a:.3f}   scaled {b:.3f}")

    # %% masks
    # Padding: three sentences of lengths 6, 4, 2 in one batch padded to S = 6.
    lengths, T = np.array([6, 4, 2]), 6
    x = rng.standard_normal((3, T, 8))                                   # (B, T, D)
    mask = padding_mask(lengths, T)                                      # (B, 1, S) True = real token
    out, w_pad = scaled_dot_product_attention(x, x, x, mask=mask)        # (B, T, D), (B, T, S)
    x_junk = x.copy()
    for b, n_real in enumerate(lengths):
        x_junk[b, n_real:] = 1e6                                         # change only the padding
    out_junk, _ = scaled_dot_product_attention(x, x, x_junk, mask=mask)
    padded = ~np.broadcast_to(mask, w_pad.shape)
    max_pad_weight = float(np.abs(w_pad.data[padded]).max())
    junk_changes_real = float(max(np.abs(out_junk.data[b, :n] - out.data[b, :n]).max()
                                  for b, n in enumerate(lengths)))
    _, w_causal = scaled_dot_product_attention(x[:1], x[:1], x[:1], is_causal=True)  # (1, T, T)
    max_future_weight = float(np.abs(w_causal.data[0][~causal_mask(T)]).max())
    print(f"largest weight on a padded key: {max_pad_weight}; on a future key: {max_future_weight}")
    print(f"setting the padded values to 1e6 changes the real tokens' outputs by {junk_changes_real}")

    # %% the figures
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    # The theory first, wide and pale, so the measured points on top leave it visible.
    axes[0].loglog(WIDTHS, WIDTHS, color="C0", lw=7, alpha=0.25, label="theory: d")
    axes[0].loglog(WIDTHS, np.ones(len(WIDTHS)), color="C1", lw=7, alpha=0.25, label="theory: 1")
    axes[0].loglog(WIDTHS, var_raw, "o-", color="C0", label="q·k, measured")
    axes[0].loglog(WIDTHS, var_scaled, "s-", color="C1", label="q·k / sqrt(d), measured")
    axes[0].set_xlabel("d"), axes[0].set_ylabel("variance"), axes[0].set_title("score variance"), axes[0].legend()
    axes[1].semilogx(WIDTHS, ent_raw, "o-", label="softmax(q·k)")
    axes[1].semilogx(WIDTHS, ent_scaled, "s-", label="softmax(q·k / sqrt(d))")
    axes[1].axhline(math.log(S), color="k", ls=":", lw=1, label=f"uniform over {S} keys")
    axes[1].set_xlabel("d"), axes[1].set_ylabel("entropy (nats)"), axes[1].legend()
    axes[1].set_title("unscaled scores saturate the softmax")
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, f"05_{name}.png") for name in ("scaling", "padding_mask", "causal_mask")]
    fig.savefig(paths[0], dpi=80)
    plt.close(fig)
    tokens = [f"t{i}" for i in range(T)]
    fig = plot_attention(w_pad, tokens, tokens, titles=[f"padding mask, length {n}" for n in lengths])
    for ax, n_real in zip(fig.axes, lengths):   # the padded rows: queries, which no mask hides
        if n_real < T:
            pad = T - n_real
            ax.add_patch(Rectangle((-0.5, n_real - 0.5), T, pad, fill=False, hatch="//", ec="grey", lw=0))
            ax.text(n_real - 0.5 + pad / 2, n_real - 0.5 + pad / 2, "padded\nqueries:\nignored", ha="center",
                    va="center", fontsize=9, bbox=dict(fc="white", ec="grey", alpha=0.9))
    fig.suptitle("masks hide keys (columns): padded keys get weight 0.  Padded queries (hatched rows) still "
                 "attend;\ntheir outputs are never used, so nothing masks them", fontsize=10)
    fig.savefig(paths[1], dpi=80)
    plt.close(fig)
    fig = plot_attention(w_causal[0], tokens, tokens, titles=["causal mask: t sees 0..t"])
    fig.savefig(paths[2], dpi=80)
    plt.close(fig)
    print("saved " + ", ".join(paths))
    return {"var_raw_d64": var_raw[i64], "var_scaled_d64": var_scaled[i64], "n_samples": n,
            "entropy_raw_d512": ent_raw[-1], "entropy_scaled_d512": ent_scaled[-1],
            "max_padded_weight": max_pad_weight, "max_future_weight": max_future_weight,
            "padding_leak": junk_changes_real}


# %%
if __name__ == "__main__":
    main()
