"""Demo 11 (capstone) — a GPT on real text: it learns in a minute to write like CPython's help pages.

The notes end on a question: how does a model *learn* which words to attend to?  Here the
answer runs on real text.  The corpus ships inside every Python (`pydoc_data.topics`, what
`help("if")` shows: 465k characters, nothing to download).  It is cut into tokens (one per
character, or byte-pair encoding), split 90/10, and a TinyGPT (demo 10's decoder: causal
attention, learned positions) learns to predict every next token, in float32 with AdamW and
a warm-up + cosine learning rate.  The baseline to beat is the best add-k n-gram, counted on
the same split: a model that sees only the last few characters.  Then it writes, with a KV
cache (each new token attends over the keys and values it already has), and an attention
page shows which earlier characters each head looks back at.

    python demos/11_gpt_on_text.py                        # one minute on the built-in text
    python demos/11_gpt_on_text.py --text notes.txt --tokenizer bpe --minutes 3
    python demos/11_gpt_on_text.py --checkpoint run.npz   # saves as it goes; --resume continues
"""
# %%
import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy loads; one BLAS thread suits small matrices

import numpy as np

import minigrad
import minigrad.functional as F
from attention import TinyGPT, collect_attention, explain_attention
from attention.text import BPETokenizer, CharTokenizer, best_ngram, load_corpus, tokenizer_from_state
from minigrad import no_grad
from minigrad.optim import AdamW, WarmupCosine

D, HEADS, LAYERS, T, BATCH = 64, 4, 2, 64, 32                      # model width, heads, blocks, context, batch
LR, WARMUP, WEIGHT_DECAY, BPE_VOCAB = 1e-2, 50, 0.01, 512
SAMPLE = dict(temperature=0.8, top_k=20)


# %%
def tokenize(text, kind, quick):
    """(tokenizer, ids of the training 90%, ids of the validation 10%): the split is made on
    the characters, so both tokenizers are judged on the same validation text."""
    cut = int(0.9 * len(text))
    if kind == "char":
        tokenizer = CharTokenizer.fit(text)
    else:                                                         # merges learned from the training text only
        tokenizer = BPETokenizer.train(text[:min(cut, 20_000 if quick else 200_000)], BPE_VOCAB)
    train_ids, val_ids = tokenizer.encode(text[:cut]), tokenizer.encode(text[cut:])
    if len(val_ids) < 2 * (T + 1):
        raise ValueError(f"the text makes {len(train_ids)} + {len(val_ids)} {kind} tokens (training + "
                         f"validation); the validation 10% needs at least {2 * (T + 1)} for windows of "
                         f"T + 1 = {T + 1}: "
                         "use a longer text" + (" or --tokenizer char" if kind == "bpe" else ""))
    return tokenizer, train_ids, val_ids


# %%
def batch(ids, rng):
    """BATCH random windows of T + 1 tokens: (B, T + 1), inputs [:, :-1], targets [:, 1:]."""
    starts = rng.integers(0, len(ids) - T, BATCH)
    return ids[starts[:, None] + np.arange(T + 1)]


def validation_loss(model, ids, windows):
    """Mean cross-entropy (nats per token) on up to `windows` windows spread over all of ids."""
    starts = np.linspace(0, len(ids) - T - 1, min(windows, (len(ids) - 1) // T)).astype(int)
    x = ids[starts[:, None] + np.arange(T + 1)]                    # (W, T + 1)
    with no_grad():
        total = sum(F.cross_entropy(model(x[i:i + 128, :-1]), x[i:i + 128, 1:], reduction="sum").item()
                    for i in range(0, len(x), 128))
    return total / (len(x) * T)


# %%
def train(run, train_ids, val_ids, seconds, checkpoint, quick, fit_to_time=False):
    """Train until the schedule's last step or until `seconds` pass (at least one step),
    validating every 100 steps (10 when quick) and saving a checkpoint there and at the end.
    fit_to_time: at the end of the warm-up (where the learning rate does not depend on the
    total yet), and every 100 steps in the first half of the time, set the schedule's total
    to the steps that fit in the time left at the speed so far (a busy machine varies)."""
    from tqdm.auto import tqdm  # the progress bar (demos extra): imported here, so --list needs none
    model, opt, schedule, rng = run["model"], run["opt"], run["schedule"], run["rng"]
    every, first, start = 10 if quick else 100, run["step"], time.perf_counter()
    bar = tqdm(total=schedule.total_steps, initial=first, unit="step", mininterval=1.0)
    while run["step"] < schedule.total_steps and (time.perf_counter() - start < seconds or run["step"] == 0):
        x = batch(train_ids, rng)                                  # (B, T + 1)
        loss = F.cross_entropy(model(x[:, :-1]), x[:, 1:])         # logits (B, T, V) against the next tokens
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        run["step"] += 1
        run["train_curve"].append((run["step"], loss.item()))
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False,
                        tok_s=f"{BATCH * T * (bar.n - first) / (time.perf_counter() - start):,.0f}")
        elapsed = time.perf_counter() - start
        refit = run["step"] == schedule.warmup_steps or run["step"] % 100 == 0 and elapsed < seconds / 2
        if fit_to_time and refit:
            left = 0.97 * (seconds - elapsed) * (run["step"] - first) / elapsed   # 3% for the validations
            schedule.total_steps = bar.total = max(run["step"] + 1, run["step"] + int(left))
        if run["step"] % every == 0 or run["step"] == schedule.total_steps:
            run["val_curve"].append((run["step"], validation_loss(model, val_ids, 32 if quick else 128)))
            if checkpoint:
                save(run, checkpoint)
    bar.close()
    if checkpoint:
        save(run, checkpoint)
    return time.perf_counter() - start


# %%
def new_run(tokenizer, source, total_steps, seed):
    """Everything training needs, and all a checkpoint holds."""
    model = TinyGPT(vocab_size=tokenizer.vocab_size, d_model=D, n_heads=HEADS, n_layers=LAYERS, max_len=T,
                    dtype=np.float32, rng=np.random.default_rng(seed))
    opt = AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    return {"model": model, "opt": opt, "schedule": WarmupCosine(opt, min(WARMUP, total_steps - 1), total_steps,
                                                                  min_lr=LR / 10),
            "rng": np.random.default_rng(seed + 1), "step": 0, "train_curve": [], "val_curve": [],
            "tokenizer": tokenizer, "source": source}


def save(run, path):
    minigrad.save({"model": run["model"].state_dict(), "optimizer": run["opt"].state_dict(),
                   "schedule": run["schedule"].state_dict(), "rng": run["rng"].bit_generator.state,
                   "step": run["step"], "train_curve": np.array(run["train_curve"]).reshape(-1, 2),
                   "val_curve": np.array(run["val_curve"]).reshape(-1, 2),
                   "tokenizer": run["tokenizer"].state_dict(), "source": run["source"]}, path)


def resume(path, seed):
    """The run saved at path, ready to go on exactly where it stopped."""
    saved = minigrad.load(path)
    tokenizer, total = tokenizer_from_state(saved["tokenizer"]), saved["schedule"]["total_steps"]
    run = new_run(tokenizer, saved["source"], total, seed)
    run["model"].load_state_dict(saved["model"])
    run["opt"].load_state_dict(saved["optimizer"])
    run["schedule"].load_state_dict(saved["schedule"])
    run["rng"].bit_generator.state = saved["rng"]
    run.update(step=saved["step"], train_curve=[tuple(r) for r in saved["train_curve"].tolist()],
               val_curve=[tuple(r) for r in saved["val_curve"].tolist()])
    return run


# %%
def plot(run, baseline, baseline_loss, unit, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps, losses = np.array(run["train_curve"]).T
    fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
    ax.plot(steps, losses, color="C0", alpha=0.35, lw=0.8, label="training batch")
    window = max(1, len(losses) // 40)
    ax.plot(steps[window - 1:], np.convolve(losses, np.ones(window) / window, "valid"), color="C0",
            label=f"training (mean of {window})")
    val_steps, val_losses = np.array(run["val_curve"]).T
    ax.plot(val_steps, val_losses, "o-", color="C1", ms=3, label=f"validation (last {val_losses[-1]:.3f})")
    ax.axhline(baseline_loss, color="C3", ls="--",
               label=f"best n-gram on validation (n={baseline.n}, k={baseline.k:g}): {baseline_loss:.3f}")
    ax.set_ylim(min(losses.min(), baseline_loss) - 0.1, min(losses.max(), 2 * baseline_loss + 0.5))
    ax.set_xlabel("step"), ax.set_ylabel(f"cross-entropy (nats per {unit})"), ax.legend()
    ax.set_title(f"TinyGPT on {os.path.basename(run['source'])}: d={D}, {LAYERS} layers, {HEADS} heads, T={T}")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"saved {path}")


# %%
def shown(piece):
    """A token as a label: spaces and line breaks made visible."""
    return piece.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥") or "∅"


def start(text, tokenizer, steps, minutes, checkpoint, resume_run, seed, quick):
    """(run, corpus, training ids, validation ids): a new run, or the one saved in checkpoint."""
    if resume_run:
        run = resume(checkpoint, seed)
        corpus = load_corpus(run["source"])
        cut = int(0.9 * len(corpus))
        return run, corpus, run["tokenizer"].encode(corpus[:cut]), run["tokenizer"].encode(corpus[cut:])
    corpus = load_corpus(text, min_length=20 * (T + 1))
    tok, train_ids, val_ids = tokenize(corpus, tokenizer, quick)
    total = steps or int(60 * (minutes or 1) * 20)                      # a guess at 20 steps/s, refitted
    return new_run(tok, text or "python-docs", total, seed), corpus, train_ids, val_ids


def main(out_dir="figures", seed=0, quick=False, text=None, tokenizer="char", minutes=None, steps=None,
         checkpoint=None, resume_run=False):
    steps = steps or (30 if quick else None)
    run, corpus, train_ids, val_ids = start(text, tokenizer, steps, minutes, checkpoint, resume_run, seed, quick)
    V = run["tokenizer"].vocab_size
    unit = "character" if isinstance(run["tokenizer"], CharTokenizer) else "token"
    print(f"{run['source']}: {len(corpus):,} characters, {len(train_ids):,} + {len(val_ids):,} tokens "
          f"(training + validation), vocabulary {V}")
    baseline, baseline_loss = best_ngram(train_ids, val_ids, V)
    first = run["step"]
    budget = 60 * minutes if minutes is not None else (np.inf if steps or resume_run else 60.0)
    seconds = train(run, train_ids, val_ids, budget, checkpoint, quick, fit_to_time=not (steps or resume_run))
    model_loss = validation_loss(run["model"], val_ids, 64 if quick else 10_000)
    if run["val_curve"] and run["val_curve"][-1][0] == run["step"]:     # the curve ends on the whole split
        run["val_curve"].pop()
    run["val_curve"].append((run["step"], model_loss))
    print(f"after {run['step']} steps ({run['step'] - first} in {seconds:.0f} s, "
          f"{(run['step'] - first) / max(seconds, 1e-9):.1f} steps/s), validation loss in nats per {unit}:")
    print(f"  best n-gram (n={baseline.n}, k={baseline.k:g}) {baseline_loss:.3f}   TinyGPT {model_loss:.3f}")
    if unit == "token":                                             # the same text, so comparable with char runs
        per_char = len(val_ids) / (len(corpus) - int(0.9 * len(corpus)))
        print(f"  per character: {baseline_loss * per_char:.3f} and {model_loss * per_char:.3f}")

    prompt = val_ids[None, :8]                                      # (1, 8) the validation text's start
    sample = run["model"].generate(prompt, 120 if quick else 400, rng=np.random.default_rng(seed), **SAMPLE)
    print(f"sample (temperature {SAMPLE['temperature']}, top_k {SAMPLE['top_k']}), prompt "
          f"{run['tokenizer'].decode(prompt[0])!r}:\n{run['tokenizer'].decode(sample[0])}")

    os.makedirs(out_dir, exist_ok=True)
    plot(run, baseline, baseline_loss, unit, os.path.join(out_dir, "11_gpt_on_text.png"))
    window = sample[:, -T:]                                        # (1, T) the sample's last T tokens
    maps, _ = collect_attention(run["model"], window)                # per layer (1, H, T, T)
    page = os.path.join(out_dir, "11_gpt_on_text_attention.html")
    explain_attention(maps, [shown(run["tokenizer"].decode([t])) for t in window[0]], page,
                      layer_names=[f"layer {i}" for i in range(len(maps))],
                      title="demo 11: what each head of TinyGPT looks back at, on its own writing")
    print(f"open in a browser: {page}")
    return {"steps": run["step"], "seconds": seconds, "val_loss": model_loss, "baseline_loss": baseline_loss,
            "baseline_n": baseline.n, "uniform_loss": float(np.log(V)), "vocab_size": V,
            "train_curve": run["train_curve"],
            "sample_lines": run["tokenizer"].decode(sample[0]).splitlines()}          # a list: left out of tables


# %%
if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", help="a UTF-8 text file (default: the built-in python-docs)")
    parser.add_argument("--tokenizer", choices=("char", "bpe"), default="char")
    parser.add_argument("--minutes", type=float,
                        help="training time (default 1; no limit with --steps or --resume)")
    parser.add_argument("--steps", type=int, help="train this many steps (the schedule's length)")
    parser.add_argument("--checkpoint", help="save the run here as it goes (.npz)")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --checkpoint")
    parser.add_argument("--quick", action="store_true", help="a few steps, for the tests")
    parser.add_argument("--out", default="figures", help="folder for the figures (default figures/)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.resume and not args.checkpoint:
        parser.error("--resume needs --checkpoint PATH (the run to continue)")
    main(out_dir=args.out, seed=args.seed, quick=args.quick, text=args.text, tokenizer=args.tokenizer,
         minutes=args.minutes, steps=args.steps, checkpoint=args.checkpoint, resume_run=args.resume)
