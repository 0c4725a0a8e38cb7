"""Demo 03 — "bank of the river" (lecture notes §1.1.2).

Four tokens with 2-D embeddings V (the notes' printed values).  Parameter-free
self-attention re-weights them: W = softmax(V Vᵀ), new vectors Y = W V.  Printed:
the notes' W.T table, the transformed "of" and "river", and the cosine of "bank" and
"river" rising from 0.184 to 0.9453; then the gradient of that cosine w.r.t. V.
"""
import os

import numpy as np

import minigrad.functional as F
from minigrad import Tensor

TOKENS = ["bank", "of", "the", "river"]
V_NOTES = np.array([[0.2815, 0.0562], [0.5227, -0.2384], [-0.0499, 0.5263], [-0.0085, 0.7291]])
BANK, RIVER = 0, 3


def main(out_dir="figures", seed=0, quick=False):
    V = Tensor(V_NOTES, requires_grad=True)
    W = F.softmax(V @ V.T, axis=-1)                    # (4, 4): row i = how much token i looks at each token
    Y = W @ V                                          # (4, 2): the re-weighted vectors
    Y_einsum = F.einsum("ij,jd->id", W, V)             # the same, written as a sum over j
    before = F.cosine_similarity(V[BANK], V[RIVER], axis=0)
    after = F.cosine_similarity(Y[BANK], Y[RIVER], axis=0)
    after.backward()

    np.set_printoptions(precision=4, suppress=True)
    print("W.T (as printed in the notes):\n", W.T.data)
    print("transformed 'of':   ", Y[1].data, "  (notes: [0.2361, 0.1879])")
    print("transformed 'river':", Y[RIVER].data, "  (notes: [0.1273, 0.3711])")
    print(f"cos(bank, river): before {before.item():.4f}  ->  after {after.item():.4f}  (notes: 0.1842 -> 0.9453)")
    print("einsum form equals matmul form:", np.allclose(Y_einsum.data, Y.data))
    print("d cos_after / dV:\n", V.grad.data)

    os.makedirs(out_dir, exist_ok=True)
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, vectors, title in [(axes[0], V.data, "embeddings V"), (axes[1], Y.data, "after attention W V")]:
        for name, (x, y) in zip(TOKENS, vectors):
            ax.annotate("", xy=(x, y), xytext=(0, 0), arrowprops=dict(arrowstyle="->"))
            ax.text(x, y, name)
        ax.set_xlim(-0.2, 0.8), ax.set_ylim(-0.4, 0.8), ax.set_title(title), ax.set_aspect("equal")
    fig.savefig(os.path.join(out_dir, "03_bank_of_the_river_vectors.png"), dpi=100)
    plt.close(fig)
    return {"cos_before": before.item(), "cos_after": after.item(), "W": W.data.tolist()}


if __name__ == "__main__":
    main()
