"""Demo 10 (stretch) — a tiny GPT learns to sort, writing its answer one token at a time.

The task of minGPT's first demo: given 6 digits from {0, 1, 2}, continue with the same
digits sorted.  "2 0 1 1 0 2" -> "0 0 1 1 2 2".  TinyGPT is a decoder: causal attention
(token t sees tokens 0..t only, demo 05's mask) and learned positions; it is trained to
predict every next token, but only the answer's tokens count in the loss.  At test time
it generates greedily: the most likely digit, appended, then the next.

Of the 3^6 = 729 possible inputs, every fourth is held out and never trained on, so the
exact-sequence accuracy measures sorting, not memory.  (Number 09 is left free for the
demo that docs/EXTENDING.md walks you through adding.)
"""
# %%
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy loads; one BLAS thread suits small matrices

import numpy as np

import minigrad.functional as F
from attention import TinyGPT, plot_attention
from minigrad.optim import Adam

N, DIGITS, D, HEADS, LAYERS, BATCH, LR, IGNORE = 6, 3, 32, 2, 2, 64, 1e-3, -1


# %%
def sequences(x):
    """Inputs (B, N) -> the full sequence (B, 2N): the digits, then the same digits sorted."""
    return np.concatenate([x, np.sort(x, axis=1)], axis=1)


# %%
def exact_accuracy(model, x):
    """Fraction of inputs x (B, N) whose greedily generated N answer tokens are all right."""
    answer = model.generate(x, N, greedy=True)[:, N:]                 # (B, N)
    return float((answer == np.sort(x, axis=1)).all(axis=1).mean())


# %%
def main(out_dir="figures", seed=0, quick=False):
    # %% every input, every fourth held out; train to predict the answer's tokens
    rng = np.random.default_rng(seed)
    every = np.array(np.unravel_index(np.arange(DIGITS ** N), (DIGITS,) * N)).T  # (729, N): all inputs
    held_out = np.arange(len(every)) % 4 == 0
    train_x, test_x = every[~held_out], every[held_out]
    model = TinyGPT(vocab_size=DIGITS, d_model=D, n_heads=HEADS, n_layers=LAYERS, max_len=2 * N - 1, rng=rng)
    opt = Adam(model.parameters(), lr=LR)
    steps = 400 if quick else 1000
    curve = []
    for step in range(1, steps + 1):
        s = sequences(train_x[rng.integers(0, len(train_x), BATCH)])   # (B, 2N)
        targets = s[:, 1:].copy()                                      # (B, 2N - 1): next token at every position
        targets[:, :N - 1] = IGNORE                                    # the question itself is not to be predicted
        loss = F.cross_entropy(model(s[:, :-1]), targets, ignore_index=IGNORE)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            curve.append((step, loss.item(), exact_accuracy(model, test_x)))
            if step % 100 == 0:
                print(f"step {step:>4}: loss {loss.item():.4f}, held-out exact-sequence accuracy {curve[-1][2]:.2%}")
    # %% generate answers, greedily, for inputs never trained on
    curve = np.array(curve)
    accuracy, train_accuracy = curve[-1, 2], exact_accuracy(model, train_x)
    print(f"exact sorted sequences after {steps} steps: held out {accuracy:.2%} of {len(test_x)}, "
          f"trained on {train_accuracy:.2%} of {len(train_x)}")
    for x in test_x[[5, 60, 120]]:
        print("  ", " ".join(map(str, x)), "->", " ".join(map(str, model.generate(x[None], N, greedy=True)[0, N:])))

    # %% the figure
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 1 + HEADS, figsize=(13, 4.4), layout="constrained")
    loss_line, = axes[0].semilogy(curve[:, 0], curve[:, 1], color="C0", label="loss (left)")
    axes[0].set_xlabel("step"), axes[0].set_ylabel("training loss", color="C0"), axes[0].set_title("training")
    twin = axes[0].twinx()
    accuracy_line, = twin.plot(curve[:, 0], curve[:, 2], color="C1", label="held-out accuracy (right)")
    twin.set_ylabel("held-out exact-sequence accuracy", color="C1"), twin.set_ylim(0, 1.02)
    axes[0].tick_params(axis="y", colors="C0"), twin.tick_params(axis="y", colors="C1")
    axes[0].legend(handles=[loss_line, accuracy_line], loc="center left", bbox_to_anchor=(0.3, 0.55))
    shown = test_x[60]                                                 # a held-out input
    example = sequences(shown[None])[:, :-1]                           # (1, 2N - 1): prompt, then answer
    model(example)
    labels = [str(t) for t in example[0]]
    prompt, answer = " ".join(map(str, shown)), " ".join(map(str, np.sort(shown)))
    plot_attention(model.attention_weights[-1][0], labels, labels, ax=axes[1:],
                   titles=[f"last layer, head {h}: {prompt} → {answer}" for h in range(HEADS)])
    for ax in axes[1:]:  # where the prompt ends and the model's own answer begins
        ax.axhline(N - 0.5, color="C3", lw=1.5), ax.axvline(N - 0.5, color="C3", lw=1.5)
        ax.set_ylabel("query: prompt | answer"), ax.set_xlabel("key: prompt | answer")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "10_tiny_gpt_sort.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"saved {path}")
    return {"steps": steps, "accuracy": accuracy, "train_accuracy": train_accuracy, "n_held_out": int(len(test_x))}


# %%
if __name__ == "__main__":
    main()
