"""Demo 04 — learned queries, keys and values (after notes §1.1.2: "HOW???").

The notes end §1.1 asking how linguistic relations could get into the weights.  A toy
test: sentences of 8 words with "bank", one sense word (river-type: river, shore, ...;
or money-type: loan, cash, ...) and 6 fillers, shuffled.  The label is the sense, read
off the output vector at "bank" by a learned linear layer.  Four ways to attend:

  parameter-free, V ~ randn     the notes' softmax(V Vᵀ) V on frozen N(0, 1) embeddings.
      Every token is most similar to itself (v·v = |v|² ≈ D beats v·w ≈ ±sqrt(D)), so
      "bank" looks only at "bank": chance accuracy.
  parameter-free, unit-length V  the same on frozen embeddings of length 1: now all
      scores are small and "bank" spreads its attention evenly.  The readout can decode
      the sentence's average (a bag of words), so accuracy is high — but attention does
      not pick out the sense word.
  parameter-free, learned V     the embeddings are trained too (from unit length):
      training moves "bank" and the sense words together, and attention does focus.
  learned Q/K/V                 softmax(q kᵀ / sqrt(D)) v with three learned projections
      of the frozen randn V: "bank" learns to ask for sense words, and they answer.

The relation is found by learning; Q/K/V let it be learned without bending the embeddings,
with separate roles for "who asks", "who answers" and "what is handed over".
"""
# %%
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy loads; one BLAS thread suits small matrices

import numpy as np

import minigrad.functional as F
from attention import SelfAttention, explain_attention, self_attention
from minigrad import Tensor
from minigrad.nn import Linear, Module, Parameter
from minigrad.optim import Adam

RIVER = ["river", "shore", "water", "fish", "boat", "stream"]
MONEY = ["loan", "cash", "money", "teller", "deposit", "credit"]
FILLERS = ["the", "of", "a", "by", "near", "at", "on", "my", "to", "we",
           "went", "sat", "saw", "big", "old", "new", "in", "was", "it", "and"]
WORDS = ["bank"] + RIVER + MONEY + FILLERS
N_SENSES = len(RIVER) + len(MONEY)
COLOURS = ["grey", "C0", "C2", "C1"]
# D = 64: random embeddings are then nearly orthogonal, so one learned query can favour all
# 12 sense words at once; at D = 32 a sense word sometimes ends up never attended.
L, D, BATCH, LR = 8, 64, 64, 3e-3


# %%
def make_sentences(rng, n):
    """n shuffled sentences: ids (n, L), labels (n,) 0 = river / 1 = money, and where bank and the sense word are."""
    labels = rng.integers(0, 2, n)
    sense = np.where(labels == 0, 1 + rng.integers(0, len(RIVER), n), 1 + len(RIVER) + rng.integers(0, len(MONEY), n))
    fillers = 1 + N_SENSES + rng.integers(0, len(FILLERS), (n, L - 2))
    words = np.concatenate([np.zeros((n, 1), int), sense[:, None], fillers], axis=1)    # (n, L) bank, sense, fillers
    ids = np.take_along_axis(words, np.argsort(rng.random((n, L)), axis=1), axis=1)      # (n, L) shuffled
    return ids, labels, (ids == 0).argmax(axis=1), ((ids >= 1) & (ids <= N_SENSES)).argmax(axis=1)


# %%
class BankClassifier(Module):
    """Embed, attend, and classify the sense from the attention output at "bank"."""

    def __init__(self, embeddings, learned_qkv, learned_embeddings, rng):
        self.table = Parameter(embeddings) if learned_embeddings else Tensor(embeddings)
        self.attention = SelfAttention(D, rng=rng) if learned_qkv else None
        self.readout = Linear(D, 2, rng=rng)

    def forward(self, ids, bank_pos):
        x = self.table[ids]                                                  # (B, L, D)
        y, weights = self.attention(x) if self.attention else self_attention(x)  # (B, L, D), (B, L, L)
        rows = np.arange(len(ids))
        return self.readout(y[rows, bank_pos]), weights.data[rows, bank_pos]     # (B, 2), bank's row (B, L)


# %%
def train(model, steps, rng, test):
    opt = Adam(model.parameters(), lr=LR)
    for step in range(steps):
        ids, labels, bank_pos, _ = make_sentences(rng, BATCH)
        loss = F.cross_entropy(model(ids, bank_pos)[0], labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ids, labels, bank_pos, sense_pos = test
    logits, bank_rows = model(ids, bank_pos)
    rows = np.arange(len(ids))
    return {"accuracy": float((logits.data.argmax(axis=1) == labels).mean()),
            "to_sense": float(bank_rows[rows, sense_pos].mean()), "to_itself": float(bank_rows[rows, bank_pos].mean())}


# %%
def main(out_dir="figures", seed=0, quick=False):
    # %% four models, trained the same way, tested on the same 2,000 sentences
    rng = np.random.default_rng(seed)
    steps = 300 if quick else 1000
    randn = rng.standard_normal((len(WORDS), D))                         # given, like the notes' V = randn
    unit = randn / np.linalg.norm(randn, axis=1, keepdims=True)          # the same directions, length 1
    test = make_sentences(rng, 2000)
    models = {"parameter-free,\nV ~ randn": BankClassifier(randn, False, False, rng),
              "parameter-free,\nunit-length V": BankClassifier(unit, False, False, rng),
              "parameter-free,\nlearned V": BankClassifier(unit, False, True, rng),
              "learned Q/K/V,\nV ~ randn": BankClassifier(randn, True, False, rng)}
    results = {name: train(model, steps, rng, test) for name, model in models.items()}
    print(f"{steps} steps of batch {BATCH}; 2,000 held-out sentences:")
    for name, r in results.items():
        print(f"  {name.replace(chr(10), ' '):<38} accuracy {r['accuracy']:.2%}   bank -> sense word "
              f"{r['to_sense']:.3f}   bank -> bank {r['to_itself']:.3f}")

    # %% the figure: where "bank" looks, and what each model reaches
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), layout="constrained")
    axes = axes.ravel()
    ids, labels, bank_pos, _ = test
    for ax, i in zip(axes[:3], range(3)):
        for j, (name, model) in enumerate(models.items()):
            row = model(ids[i:i + 1], bank_pos[i:i + 1])[1][0]
            ax.bar(np.arange(L) + 0.2 * j - 0.3, row, width=0.2, label=name.replace("\n", " "), color=COLOURS[j])
        ax.set_xticks(range(L), [WORDS[t] for t in ids[i]], rotation=60)
        ax.set_ylim(0, 1.35), ax.set_title(f"where 'bank' looks ({['river', 'money'][labels[i]]})")
        ax.set_ylabel("attention weight of 'bank'")
    axes[0].legend(fontsize=9, ncol=2)
    names = list(results)
    ax = axes[3]
    for shift, key, style in [(-0.2, "accuracy", dict(label="accuracy")),
                              (0.2, "to_sense", dict(alpha=0.45, hatch="//", label="bank -> sense word"))]:
        bars = ax.bar(np.arange(4) + shift, [results[n][key] for n in names], 0.4, color=COLOURS, **style)
        ax.bar_label(bars, fmt="%.2f")   # a bar of height 0 shows its 0.00: measured, not missing
    ax.set_ylabel("accuracy; mean weight of bank on the sense word"), ax.set_title("2,000 held-out sentences")
    ax.axhline(0.5, color="k", ls=":", lw=1, label="chance (0.5)")
    ax.set_xticks(range(4), names), ax.set_ylim(0, 1.25), ax.legend(loc="upper center", ncol=3)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "04_learned_qkv.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"saved {path}")

    # %% a page to look into each model's attention on the first test sentence
    x = [model.table[ids[:1]] for model in models.values()]                # the first test sentence, (1, L, D)
    maps = [(m.attention(xi) if m.attention else self_attention(xi))[1] for m, xi in zip(models.values(), x)]
    page = os.path.join(out_dir, "04_learned_qkv_attention.html")
    explain_attention(maps, [WORDS[t] for t in ids[0]], page,
                      layer_names=[n.replace("\n", " ") for n in names], layer_label="model", query="bank",
                      title="demo 04: four ways of attending")
    print(f"open in a browser: {page}")
    free, unit, emb, qkv = (results[n] for n in names)
    return {"steps": steps, "acc_param_free": free["accuracy"], "to_sense_param_free": free["to_sense"],
            "to_itself_param_free": free["to_itself"], "acc_param_free_unit": unit["accuracy"],
            "to_sense_param_free_unit": unit["to_sense"], "acc_learned_embeddings": emb["accuracy"],
            "to_sense_learned_embeddings": emb["to_sense"], "acc_learned_qkv": qkv["accuracy"],
            "to_sense_learned_qkv": qkv["to_sense"]}


# %%
if __name__ == "__main__":
    main()
