"""Demo 07 — sinusoidal positional encoding: giving attention a sense of order.

Attention compares every token with every other and sums: shuffle the sentence and each
token gets the same output, shuffled.  "bank of the river" and "river of the bank" look
alike.  The fix of "Attention Is All You Need": add to each embedding a vector that
depends on its position p only,

    PE[p, 2i] = sin(p ω_i),  PE[p, 2i+1] = cos(p ω_i),  ω_i = 10000^(-2i / D).

Shown: the 60 x 32 table (fast waves in the first dimensions, slow ones in the last);
a few dimensions as curves; and PE PEᵀ, the dot products of positions.  Each (sin, cos)
pair contributes cos((p - q) ω_i) to PE[p]·PE[q], so the similarity depends only on the
offset p - q, is largest at offset 0 (where it is D / 2), and every row is the same
curve shifted: attention can learn "look k places back" once, for all positions.
"""
# %%
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy loads; one BLAS thread suits small matrices

import numpy as np

from attention import SinusoidalPositionalEncoding

MAX_LEN, D = 60, 32


# %%
def main(out_dir="figures", seed=0, quick=False):
    # %% the table, and the two facts about it
    pe = SinusoidalPositionalEncoding(D, MAX_LEN).pe                   # (MAX_LEN, D)
    similarity = pe @ pe.T                                             # (MAX_LEN, MAX_LEN)
    # Offset-only: every diagonal of PE PEᵀ is constant.
    offset_error = float(max(np.ptp(np.diagonal(similarity, k)) for k in range(-MAX_LEN + 1, MAX_LEN)))
    # Shift by k = rotate each (sin, cos) pair by k ω_i, the same rotation at every position p.
    k, omega = 5, 10000.0 ** (-np.arange(0, D, 2) / D)
    c, s = np.cos(k * omega), np.sin(k * omega)
    sin_p, cos_p = pe[:-k, 0::2], pe[:-k, 1::2]
    rotated = np.empty_like(pe[:-k])
    rotated[:, 0::2] = sin_p * c + cos_p * s                           # sin(a + b)
    rotated[:, 1::2] = cos_p * c - sin_p * s                           # cos(a + b)
    rotation_error = float(np.abs(rotated - pe[k:]).max())
    by_offset = {o: float(similarity[30, 30 + o]) for o in (0, 1, 2, 5, 10, 20)}
    print(f"|PE[p]|² = {similarity[0, 0]:.6f} for every p (D/2 = {D // 2}); range {np.ptp(np.diag(similarity)):.1e}")
    print(f"PE PEᵀ depends only on the offset: largest spread along a diagonal {offset_error:.1e}")
    print(f"PE[p + {k}] = rotation of PE[p], the same for all p: largest error {rotation_error:.1e}")
    print("PE[30]·PE[30 + offset]: " + ", ".join(f"offset {o}: {v:.2f}" for o, v in by_offset.items())
          + "  (falls fast near 0, then wavers: nearby positions look alike, far ones merely differ)")

    # %% the figure
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.5), layout="constrained")
    image = axes[0].imshow(pe, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    axes[0].set_xlabel("dimension"), axes[0].set_ylabel("position p"), axes[0].set_title("PE (60 x 32)")
    # On the left: on the right it would sit against the waves and read as their y axis.
    fig.colorbar(image, ax=axes[0], shrink=0.8, location="left", label="PE[p, dimension]")
    # Each dimension is a wave in p, drawn densely (the formula at fractional p) and stacked,
    # with the table's values at whole positions as dots on it.
    dense, shown = np.linspace(0, MAX_LEN - 1, 1200), (0, 1, 4, 8, 16)
    for row, dim in enumerate(shown):
        wave = np.sin if dim % 2 == 0 else np.cos
        base = -2.5 * row
        line, = axes[1].plot(dense, base + wave(dense * 10000.0 ** (-(dim - dim % 2) / D)), lw=1)
        axes[1].plot(pe[:, dim] + base, ".", color=line.get_color(), ms=4)
    axes[1].set_xlim(0, MAX_LEN)
    axes[1].set_yticks([-2.5 * row for row in range(len(shown))],
                       [f"dim {dim}, {'cos' if dim % 2 else 'sin'}" for dim in shown])
    for label, line in zip(axes[1].get_yticklabels(), axes[1].lines[::2]):
        label.set_color(line.get_color())
    axes[1].set_ylabel("dimension (each wave from -1 to 1 about its tick)")
    axes[1].set_xlabel("position p"), axes[1].set_title("a few dimensions: waves, sampled at whole p")
    image = axes[2].imshow(similarity, cmap="viridis")
    axes[2].set_xlabel("position q"), axes[2].set_ylabel("position p")
    axes[2].set_title("PE PEᵀ: depends only on p - q")
    fig.colorbar(image, ax=axes[2], shrink=0.8, label="PE[p] · PE[q]")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "07_positional_encoding.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"saved {path}")
    return {"pe": pe.tolist(), "norm_sq": float(similarity[0, 0]), "offset_error": offset_error,
            "rotation_error": rotation_error, "similarity_by_offset": by_offset}


# %%
if __name__ == "__main__":
    main()
