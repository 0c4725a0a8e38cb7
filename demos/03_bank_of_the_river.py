"""Demo 03 — "bank of the river" (lecture notes §1.1.2).

Four tokens with 2-D embeddings V (the notes' printed values).  Parameter-free
self-attention re-weights them: W = softmax(V Vᵀ), new vectors Y = W V, written three
ways (the library call, matmul, einsum).  Printed: the notes' W.T table, the transformed
"of" and "river", and the cosine of "bank" and "river" rising from 0.184 to 0.9453; then
the gradient of that cosine w.r.t. V, from backward(), and a page to open in a browser
(03_bank_of_the_river_backward.html) that steps through that backward(), op by op.

Then the honest check: is the rise special to this sentence?  Over 1,000 random V the
same cosine rises in roughly four draws out of five.  Attention without parameters pulls
every token towards the weighted mean of all tokens, so all vectors grow more alike; it
does not by itself know that "river" decides the sense of "bank" (demo 04 learns that).
"""
# %%
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy loads; one BLAS thread suits small matrices

import numpy as np

import minigrad.functional as F
from attention import plot_attention, self_attention
from minigrad import Tensor
from minigrad.viz import draw_graph, explain_backward

TOKENS = ["bank", "of", "the", "river"]
V_NOTES = np.array([[0.2815, 0.0562], [0.5227, -0.2384], [-0.0499, 0.5263], [-0.0085, 0.7291]])
BANK, OF, RIVER = 0, 1, 3


# %%
def cosine_change(V):
    """cos(bank, river) after attention minus before, for a batch of embeddings V (N, 4, 2)."""
    Y, _ = self_attention(V)                                                    # (N, 4, 2)
    before = F.cosine_similarity(V[:, BANK], V[:, RIVER], axis=-1)              # (N,)
    after = F.cosine_similarity(Y[:, BANK], Y[:, RIVER], axis=-1)               # (N,)
    return (after - before).data


# %%
def main(out_dir="figures", seed=0, quick=False):
    # %% the notes' sentence: attention three ways, the cosine, its graph and its backward()
    os.makedirs(out_dir, exist_ok=True)
    V = Tensor(V_NOTES, requires_grad=True)
    Y, W = self_attention(V)                            # Y (4, 2), W (4, 4): row i = where token i looks
    W_by_hand = F.softmax(V @ V.T, axis=-1)             # the same weights, spelled out
    Y_matmul = W_by_hand @ V                            # (4, 2)
    Y_einsum = F.einsum("ij,jd->id", W_by_hand, V)      # y_i = Σ_j w_ij v_j
    before = F.cosine_similarity(V[BANK], V[RIVER], axis=0)
    after = F.cosine_similarity(Y[BANK], Y[RIVER], axis=0)
    graph = os.path.join(out_dir, "03_bank_of_the_river_graph.png")
    draw_graph(after, graph, names={"V": V, "cos": after})
    # backward(), recorded: a page that steps through the sweep (it frees the graph, so that was drawn first)
    page = os.path.join(out_dir, "03_bank_of_the_river_backward.html")
    explain_backward(after, page, names={"V": V, "cos": after})

    # %% the notes' numbers, and the gradient
    np.set_printoptions(precision=4, suppress=True)
    forms_agree = float(max(np.abs(Y_matmul.data - Y.data).max(), np.abs(Y_einsum.data - Y.data).max()))
    print("W.T (as printed in the notes):\n", W.T.data)
    print("transformed 'of':   ", Y[OF].data, "  (notes: [0.2361, 0.1879])")
    print("transformed 'river':", Y[RIVER].data, "  (notes: [0.1273, 0.3711])")
    print(f"cos(bank, river): before {before.item():.4f} -> after {after.item():.4f}  (notes: 0.1842 -> 0.9453;"
          " V is printed rounded, hence 0.1843)")
    print(f"library, matmul and einsum forms agree within {forms_agree:.1e}")
    print("d cos_after / dV (how moving each embedding would change the cosine):\n", V.grad.data)
    print(f"saved {graph}: the graph backward() walks")
    print(f"step through that backward() in a browser: {page}")

    # %% is the rise special to this sentence?  1,000 random V
    rng = np.random.default_rng(seed)
    changes = cosine_change(Tensor(rng.standard_normal((1000, 4, 2))))  # V ~ N(0, 1) as torch.randn in the notes
    fraction_up = float((changes > 0).mean())
    print(f"over 1,000 random V, cos(bank, river) rises in {fraction_up:.1%} of draws "
          f"(mean change {changes.mean():+.3f}): attention alone pulls all tokens together")

    # %% the figure
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(10, 8.5), layout="constrained")
    axes = axes.ravel()
    for ax, vectors, title in [(axes[0], V.data, "embeddings V"), (axes[1], Y.data, "after attention: W V")]:
        angles = np.arctan2(vectors[:, 1], vectors[:, 0])
        for name, (x, y), angle in zip(TOKENS, vectors, angles):
            ax.annotate("", xy=(x, y), xytext=(0, 0), arrowprops=dict(arrowstyle="->", lw=1.5))
            # Of two tips that nearly meet ("river" and "the" after attention), the steeper is labelled
            # on its left.
            steeper = any(np.hypot(x - px, y - py) < 0.05 and angle > other
                          for (px, py), other in zip(vectors, angles))
            ax.annotate(name, (x, y), xytext=(-5 if steeper else 5, 0), textcoords="offset points",
                        va="center", ha="right" if steeper else "left")
        ax.set_xlim(-0.2, 0.8), ax.set_ylim(-0.4, 0.8), ax.set_aspect("equal"), ax.grid(alpha=0.3)
        ax.set_title(title)
    axes[0].set_xlabel(f"cos(bank, river) = {before.item():.3f}")
    axes[1].set_xlabel(f"cos(bank, river) = {after.item():.3f}")
    plot_attention(W, TOKENS, TOKENS, ax=axes[2], titles=["W = softmax(V Vᵀ)"])
    axes[3].hist(changes, bins=40, color="steelblue")
    axes[3].axvline(0, color="k", lw=1)
    axes[3].axvline(after.item() - before.item(), color="crimson", label="the notes' sentence")
    axes[3].set_title(f"1,000 random V: the cosine rises in {fraction_up:.0%}")
    axes[3].set_xlabel("cos after - cos before"), axes[3].legend()
    path = os.path.join(out_dir, "03_bank_of_the_river.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"saved {path}")
    return {"cos_before": before.item(), "cos_after": after.item(), "of": Y[OF].data.tolist(),
            "river": Y[RIVER].data.tolist(), "W": W.data.tolist(), "forms_agree": forms_agree,
            "grad_V": V.grad.data.tolist(), "fraction_cos_rises": fraction_up}


# %%
if __name__ == "__main__":
    main()
