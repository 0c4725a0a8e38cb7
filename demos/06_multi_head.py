"""Demo 06 — multi-head attention: several attentions side by side, each free to look elsewhere.

One attention row is one weighted average: a token can look mainly at one place.  With H
heads, the model width D is cut into H slices of Dh = D / H; each head projects its own
queries, keys and values and attends on its own, then the H results are concatenated and
mixed by one more projection.  (The notes' single softmax(V Vᵀ) V, H times, learned.)

Task that needs two places at once: for every word of a random 8-word sentence, name the
word before it AND the word after it, from one attention layer (no residual path, so all
information must come through the weights).  After training, one head looks one step
back, another one step forward.  Also checked: the layer equals H separate single-head
attentions on the weight slices, concatenated, then projected.
"""
# %%
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy loads; one BLAS thread suits small matrices

import numpy as np

import minigrad.functional as F
from attention import (MultiHeadAttention, SinusoidalPositionalEncoding, explain_attention, plot_attention,
                       scaled_dot_product_attention)
from minigrad.nn import Embedding, Linear, Module
from minigrad.optim import Adam

WORDS = "the bank of river was muddy a boat on water we sat by it and .".split()
SENTENCE = "the bank of the river was muddy .".split()
T, D, H, BATCH, NONE = 8, 32, 4, 64, -1  # NONE: no word before the first / after the last


# %%
class NeighbourModel(Module):
    def __init__(self, rng):
        self.embed = Embedding(len(WORDS), D, rng=rng)
        self.position = SinusoidalPositionalEncoding(D, T)
        self.attention = MultiHeadAttention(D, H, rng=rng)
        self.previous = Linear(D, len(WORDS), rng=rng)
        self.next = Linear(D, len(WORDS), rng=rng)

    def forward(self, ids):
        x = self.position(self.embed(ids))                          # (B, T, D)
        y, weights = self.attention(x)                              # (B, T, D), (B, H, T, T)
        return self.previous(y), self.next(y), weights, x


# %%
def neighbours(ids):
    fill = np.full((len(ids), 1), NONE)
    return np.concatenate([fill, ids[:, :-1]], axis=1), np.concatenate([ids[:, 1:], fill], axis=1)  # (B, T) each


# %%
def heads_one_by_one(mha, x):
    """The same layer as H single-head attentions on column slices of the projections."""
    Dh, outs, weights = D // H, [], []
    for h in range(H):
        cols = slice(h * Dh, (h + 1) * Dh)
        q, k, v = (x @ p.weight[:, cols] + p.bias[cols] for p in (mha.q_proj, mha.k_proj, mha.v_proj))  # (B, T, Dh)
        out, w = scaled_dot_product_attention(q, k, v)              # (B, T, Dh), (B, T, T)
        outs.append(out)
        weights.append(w)
    return mha.out_proj(F.concatenate(outs, axis=-1)), F.stack(weights, axis=1)  # (B, T, D), (B, H, T, T)


# %%
def main(out_dir="figures", seed=0, quick=False):
    # %% train one multi-head layer to name both neighbours of every word
    rng = np.random.default_rng(seed)
    model = NeighbourModel(rng)
    opt = Adam(model.parameters(), lr=0.01)
    steps = 200 if quick else 400
    for step in range(steps + 1):
        ids = rng.integers(0, len(WORDS), (BATCH, T))
        before, after = neighbours(ids)
        logits_before, logits_after, _, _ = model(ids)
        loss = (F.cross_entropy(logits_before, before, ignore_index=NONE)
                + F.cross_entropy(logits_after, after, ignore_index=NONE))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            print(f"step {step:>3}: loss {loss.item():.4f}")

    # %% where each head looks, and the layer as H single heads
    ids = rng.integers(0, len(WORDS), (2000, T))
    before, after = neighbours(ids)
    logits_before, logits_after, weights, x = model(ids)
    acc_before = float((logits_before.data.argmax(-1) == before)[:, 1:].mean())
    acc_after = float((logits_after.data.argmax(-1) == after)[:, :-1].mean())
    mean_w = weights.data.mean(axis=0)                              # (H, T, T)
    look_back = [float(np.diagonal(m, -1).mean()) for m in mean_w]  # weight on t-1, per head
    look_ahead = [float(np.diagonal(m, 1).mean()) for m in mean_w]  # weight on t+1, per head
    out_sliced, weights_sliced = heads_one_by_one(model.attention, x)
    out_full = model.attention(x)[0]
    gap = float(max(np.abs(out_sliced.data - out_full.data).max(), np.abs(weights_sliced.data - weights.data).max()))
    print(f"2,000 new sentences: word before {acc_before:.2%}, word after {acc_after:.2%} correct")
    for h in range(H):
        print(f"  head {h}: mean weight on the word before {look_back[h]:.2f}, after {look_ahead[h]:.2f}")
    print(f"multi-head layer vs {H} single heads concatenated and projected: max difference {gap:.1e}")

    # %% the figure and the page
    import matplotlib.pyplot as plt
    sentence_weights = model(np.array([[WORDS.index(w) for w in SENTENCE]]))[2]  # (1, H, T, T)
    fig, axes = plt.subplots(2, 2, figsize=(9, 8.5), layout="constrained")  # 2 x 2: readable in the README
    plot_attention(sentence_weights, SENTENCE, SENTENCE, ax=axes, vmax=1.0)
    fig.suptitle("each head of one attention layer, trained to name both neighbours of every word")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "06_multi_head.png")
    page = os.path.join(out_dir, "06_multi_head_attention.html")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    explain_attention(sentence_weights, SENTENCE, page,
                      title="demo 06: four heads, trained to name both neighbours of every word")
    print(f"saved {path}")
    print(f"open in a browser: {page}")
    return {"steps": steps, "acc_before": acc_before, "acc_after": acc_after, "best_look_back": max(look_back),
            "best_look_ahead": max(look_ahead), "back_head": int(np.argmax(look_back)),
            "ahead_head": int(np.argmax(look_ahead)), "heads_equal_gap": gap}


# %%
if __name__ == "__main__":
    main()
