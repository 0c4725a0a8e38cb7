"""Demo 08 (capstone) — a one-layer transformer learns to reverse a sequence.

Everything so far in one model: token embeddings, sinusoidal positions (demo 07),
multi-head scaled dot-product attention (demos 05, 06) inside a transformer block with
LayerNorm, an MLP and residual connections, trained with Adam on cross-entropy.

Task: 8 digits in, the same 8 digits reversed out (y_i = x_{L-1-i}).  To answer at
position i the model must fetch the token at position L-1-i: the attention map should
become the anti-diagonal.  The same model without positional encoding cannot know where
it is — attention is blind to order — and stays far below: it can only guess from the
bag of tokens.
"""
# %%
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy loads; one BLAS thread suits small matrices

import numpy as np

import minigrad.functional as F
from attention import TransformerEncoder, collect_attention, explain_attention, plot_attention
from minigrad import no_grad
from minigrad.optim import Adam

L, VOCAB, D, HEADS, D_FF, BATCH, LR = 8, 10, 32, 1, 64, 64, 3e-3


# %%
def train(positional, steps, rng, test, label):
    """Train one model; returns it, the curves (step, loss, held-out accuracy) and the seconds it took."""
    model = TransformerEncoder(vocab_size=VOCAB, d_model=D, n_heads=HEADS, n_layers=1, d_ff=D_FF, max_len=L,
                               n_classes=VOCAB, positional=positional, rng=rng)
    opt = Adam(model.parameters(), lr=LR)
    curve, start = [], time.perf_counter()
    for step in range(1, steps + 1):
        x = rng.integers(0, VOCAB, (BATCH, L))
        loss = F.cross_entropy(model(x), x[:, ::-1])               # logits (B, L, VOCAB) vs reversed x (B, L)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 0 or step == 1:
            accuracy = evaluate(model, test)[0]
            curve.append((step, loss.item(), accuracy))
            if step % 100 == 0:
                print(f"  [{label}] step {step:>4}: loss {loss.item():.4f}, held-out token accuracy {accuracy:.2%}")
    return model, np.array(curve), time.perf_counter() - start


# %%
@no_grad()
def evaluate(model, x):
    """Token accuracy on x (N, L) and the attention weights (N, L, L), averaged over heads."""
    logits = model(x)                                              # (N, L, VOCAB)
    accuracy = float((logits.data.argmax(axis=-1) == x[:, ::-1]).mean())
    return accuracy, model.attention_weights[0].data.mean(axis=1)  # (N, H, L, L) -> (N, L, L)


# %%
def main(out_dir="figures", seed=0, quick=False):
    # %% train the same model with and without positional encoding
    rng = np.random.default_rng(seed)
    steps = 200 if quick else 1000
    test = rng.integers(0, VOCAB, (2000, L))                       # held-out sequences
    print(f"with sinusoidal positional encoding ({steps} steps):")
    model, curve, seconds = train("sinusoidal", steps, rng, test, "PE")
    print("without positional encoding:")
    _, curve_no_pe, _ = train(None, steps, rng, test, "no PE")
    # %% held-out accuracy, and where the attention looks
    accuracy, weights = evaluate(model, test)
    anti_diagonal = float((weights.argmax(axis=-1) == np.arange(L)[::-1]).mean())  # rows whose peak is L-1-i
    reached = curve[curve[:, 2] >= 0.99, 0]
    first_99 = int(reached[0]) if len(reached) else None
    print(f"held-out token accuracy: {accuracy:.2%} with PE (>= 99% from step {first_99}), "
          f"{curve_no_pe[-1, 2]:.2%} without")
    print(f"attention rows peaking at position L-1-i: {anti_diagonal:.2%}; training took {seconds:.1f} s")

    # %% the figure and the page
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), layout="constrained")
    for c, name in [(curve, "with PE"), (curve_no_pe, "without PE")]:
        axes[0].semilogy(c[:, 0], c[:, 1], label=name)
        axes[1].plot(c[:, 0], c[:, 2], label=name)
    axes[0].set_xlabel("step"), axes[0].set_title("training loss"), axes[0].legend()
    axes[1].axhline(0.99, color="k", ls=":", lw=1, label="99% (the target)")
    axes[1].set_xlabel("step"), axes[1].set_title("held-out token accuracy")
    axes[1].legend(loc="center right")
    example = test[0]
    digits, reversed_digits = " ".join(map(str, example)), " ".join(map(str, example[::-1]))
    title = f"attention of layer 0, head 0 (its only ones)\n{digits} → {reversed_digits}"
    plot_attention(weights[0], [str(i) for i in range(L)], [f"{j}: {t}" for j, t in enumerate(example)],
                   ax=axes[2], titles=[title])
    axes[2].set_ylabel("output position i (writes input L−1−i)"), axes[2].set_xlabel("input position: its token")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "08_tiny_transformer_reverse.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    maps, _ = collect_attention(model, example[None])                      # per layer (1, H, L, L)
    page = os.path.join(out_dir, "08_tiny_transformer_reverse_attention.html")
    positions = [f"{i}: {t}" for i, t in enumerate(example)]               # queries and keys alike
    explain_attention(maps, positions, page, key_tokens=positions,
                      layer_names=[f"layer {i}" for i in range(len(maps))],
                      title=f"demo 08: the transformer reversing {''.join(map(str, example))}")
    print(f"saved {path}")
    print(f"open in a browser: {page}")
    return {"steps": steps, "accuracy": accuracy, "first_step_99": first_99, "anti_diagonal_rows": anti_diagonal,
            "accuracy_no_pe": float(curve_no_pe[-1, 2]), "train_seconds": seconds}


# %%
if __name__ == "__main__":
    main()
