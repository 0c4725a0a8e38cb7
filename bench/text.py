"""The text benchmark: what demo 11 spends its time on.

    python -m bench.text            # full: a minute or two
    python -m bench.text --quick    # a few seconds

Rows (markdown, one thread, process CPU time; A and B timed in turns, medians over rounds):

* generation: tokens per second writing 200 tokens from a 1-token prompt with TinyGPT at
  max_len=256 (d 64, 2 layers, 4 heads, vocabulary 103, float32), greedy, KV cache on and
  off; and PyTorch eager with the same weights, where installed (never a dependency).  All
  200 tokens stay within the context, where the cache pays.  Then the same at the demo's
  max_len=64, where from token 64 on the window slides and the cache is rebuilt every step.
* train step: one AdamW step of demo 11's model (B 32, T 64, d 64, 2 layers, float32,
  vocabulary 103): forward, cross-entropy, backward, update; minigrad against PyTorch eager and
  against the same step written by hand in NumPy (bench/gpt_numpy.py, no autograd engine: the
  floor a NumPy implementation stands on).  All start from the same weights and batch; their
  first losses are compared before timing.
  The note also counts the page faults a step costs (new memory pages touched: fresh arrays).
* the train step's shares: what GELU, the layer norms and attention each cost in that step, in
  minigrad, in NumPy by hand and in torch: the step's time less the step's time with the group
  replaced by the identity (`without`), all in turns.
* BPE: training on the first 100k characters of python-docs to 512 ids, and encoding the
  whole corpus with it.
"""
import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")      # before NumPy loads BLAS: small matrices, one thread

import contextlib  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

VOCAB, D, HEADS, LAYERS = 103, 64, 4, 2
GEN_MAX_LEN, GEN_TOKENS = 256, 200
TRAIN_B, TRAIN_T, LR = 32, 64, 1e-2


def tiny_gpt(max_len, seed=0):
    from attention import TinyGPT
    return TinyGPT(vocab_size=VOCAB, d_model=D, n_heads=HEADS, n_layers=LAYERS, max_len=max_len,
                   dtype=np.float32, rng=np.random.default_rng(seed))


def in_turns(fns, rounds):
    """Median CPU seconds of each callable, timed in turns (A B C, B C A, ...)."""
    times = [[] for _ in fns]
    for r in range(rounds):
        order = list(range(len(fns)))
        order = order[r % len(fns):] + order[:r % len(fns)]
        for i in order:
            start = time.process_time()
            fns[i]()
            times[i].append(time.process_time() - start)
    return [float(np.median(t)) for t in times]


def page_faults(step, steps=5):
    """The page faults a call of `step` costs, as text: each new page of memory the process
    touches is one (fresh arrays that malloc could not reuse).  Where the operating system
    does not count them (no `resource` module), says so."""
    try:
        import resource
    except ImportError:
        return "page faults not counted here"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        step()
    return f"{(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / steps:,.0f} page faults a step"


# ---- PyTorch, where installed ----------------------------------------------------------

def torch_gpt(model):
    """(weights, torch): the minigrad TinyGPT `model`'s parameters as torch tensors by name,
    and the torch module; None when PyTorch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    weights = {name: torch.from_numpy(p.data.copy()) for name, p in model.named_parameters()}
    return weights, torch


def torch_forward(torch, w, tokens, cache=None, offset=0):
    """TinyGPT's forward in torch.nn.functional: tokens (B, T) after `offset` cached ones;
    cache: a list of [keys, values] per layer, extended in place (None: no cache)."""
    fn = torch.nn.functional
    B, T = tokens.shape
    Dh = D // HEADS
    x = w["embed.weight"][tokens] + w["position.weight"][offset:offset + T]       # (B, T, D)
    for layer in range(LAYERS):
        p = f"blocks.{layer}."
        h = fn.layer_norm(x, (D,), w[p + "ln1.weight"], w[p + "ln1.bias"])
        q, k, v = (torch.addmm(w[p + f"attn.{n}_proj.bias"], h.reshape(B * T, D), w[p + f"attn.{n}_proj.weight"])
                   .reshape(B, T, HEADS, Dh).transpose(1, 2) for n in "qkv")       # (B, H, T, Dh)
        if cache is not None:
            if len(cache) == layer:
                cache.append([k, v])
            else:
                cache[layer] = [torch.cat([cache[layer][0], k], 2), torch.cat([cache[layer][1], v], 2)]
            k, v = cache[layer]
        S = k.shape[2]
        allowed = torch.ones(T, S, dtype=torch.bool).tril(S - T)                   # query t sees keys <= offset + t
        a = fn.scaled_dot_product_attention(q, k, v, attn_mask=allowed)           # (B, H, T, Dh)
        x = x + a.transpose(1, 2).reshape(B, T, D) @ w[p + "attn.out_proj.weight"] + w[p + "attn.out_proj.bias"]
        u = fn.layer_norm(x, (D,), w[p + "ln2.weight"], w[p + "ln2.bias"])
        u = fn.gelu(u @ w[p + "mlp.0.weight"] + w[p + "mlp.0.bias"], approximate="tanh")
        x = x + u @ w[p + "mlp.2.weight"] + w[p + "mlp.2.bias"]
    x = fn.layer_norm(x, (D,), w["ln_final.weight"], w["ln_final.bias"])
    return x @ w["head.weight"] + w["head.bias"]                                   # (B, T, V)


def torch_generate(torch, w, prompt, n, kv_cache):
    idx = torch.from_numpy(prompt)
    with torch.no_grad():
        cache = [] if kv_cache else None
        new = idx
        for _ in range(n):
            if kv_cache:
                logits = torch_forward(torch, w, new, cache, offset=idx.shape[1] - new.shape[1])
            else:
                logits = torch_forward(torch, w, idx[:, -GEN_MAX_LEN:])
            new = logits[:, -1].argmax(-1, keepdim=True)
            idx = torch.cat([idx, new], 1)
    return idx.numpy()


# ---- the rows --------------------------------------------------------------------------

def generation_rows(rounds, max_len=GEN_MAX_LEN, peers=True):
    model = tiny_gpt(max_len)
    prompt = np.array([[5]])
    runs = {"minigrad, KV cache": lambda: model.generate(prompt, GEN_TOKENS, greedy=True, kv_cache=True),
            "minigrad, no cache": lambda: model.generate(prompt, GEN_TOKENS, greedy=True, kv_cache=False)}
    found = torch_gpt(model) if peers else None
    expected = runs["minigrad, KV cache"]()
    notes = {}
    if found is not None:
        w, torch = found
        runs["torch, KV cache"] = lambda: torch_generate(torch, w, prompt, GEN_TOKENS, True)
        runs["torch, no cache"] = lambda: torch_generate(torch, w, prompt, GEN_TOKENS, False)
        for name in ("torch, KV cache", "torch, no cache"):
            same = np.mean(runs[name]() == expected)
            notes[name] = "same tokens" if same == 1 else f"{same:.0%} of the tokens the same (float32 ties)"
    assert np.array_equal(runs["minigrad, no cache"](), expected), "the cache changed the greedy tokens"
    notes["minigrad, no cache"] = "same tokens"
    seconds = dict(zip(runs, in_turns(list(runs.values()), rounds)))
    rows = [(f"generate {GEN_TOKENS} tokens, max_len {max_len}", name, f"{GEN_TOKENS / s:,.0f} tokens/s",
             f"{seconds['minigrad, no cache'] / s:.2f}x", notes.get(name, "")) for name, s in seconds.items()]
    if found is None and peers:
        rows.append((f"generate {GEN_TOKENS} tokens", "torch", "not installed", "", ""))
    return rows


def train_steps():
    """({name: step}, {name: first loss}): one AdamW step of demo 11's model in minigrad, by hand in
    NumPy and, where installed, in PyTorch eager, from the same weights and batch (each called
    once already; the hand-written step's first loss must be minigrad's)."""
    import minigrad.functional as F
    from bench.gpt_numpy import GPTTrainStep
    from minigrad.optim import AdamW
    model = tiny_gpt(TRAIN_T)
    opt = AdamW(model.parameters(), lr=LR)
    rng = np.random.default_rng(1)
    batch = rng.integers(0, VOCAB, (TRAIN_B, TRAIN_T + 1))

    def minigrad_step():
        loss = F.cross_entropy(model(batch[:, :-1]), batch[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    found = torch_gpt(model)                     # the same initial weights, copied before any step
    by_hand = GPTTrainStep({name: p.data for name, p in model.named_parameters()}, n_heads=HEADS, lr=LR)
    runs, first = {"minigrad": minigrad_step}, {"minigrad": minigrad_step()}
    runs["numpy by hand"], first["numpy by hand"] = (lambda: by_hand(batch)), by_hand(batch)
    assert abs(first["numpy by hand"] - first["minigrad"]) < 1e-4, first
    if found is not None:
        w, torch = found
        params = [t.requires_grad_() for t in w.values()]
        torch_opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.01)
        x, y = torch.from_numpy(batch[:, :-1]), torch.from_numpy(batch[:, 1:].reshape(-1))

        def torch_step():
            loss = torch.nn.functional.cross_entropy(torch_forward(torch, w, x).reshape(-1, VOCAB), y)
            torch_opt.zero_grad()
            loss.backward()
            torch_opt.step()
            return loss.item()

        runs["torch"], first["torch"] = torch_step, torch_step()
    return runs, first


def train_rows(rounds):
    runs, first = train_steps()
    seconds = dict(zip(runs, in_turns(list(runs.values()), rounds)))
    faults = {name: page_faults(step) for name, step in runs.items()}
    notes = {name: f"first loss {first[name]:.6f} (minigrad's {first['minigrad']:.6f}); " for name in runs}
    notes["minigrad"] = f"{1 / seconds['minigrad']:.1f} steps/s; "
    if "torch" in runs:
        notes["minigrad"] += f"{seconds['minigrad'] / seconds['torch']:.2f}x torch's time; "
        notes["numpy by hand"] += f"{seconds['numpy by hand'] / seconds['torch']:.2f}x torch's time; "
    by_hand = seconds["numpy by hand"]
    notes["numpy by hand"] += f"minigrad takes {seconds['minigrad'] / by_hand:.2f}x its time; "
    rows = [(f"AdamW step (B {TRAIN_B}, T {TRAIN_T}, d {D}, {LAYERS} layers, f32)", name, f"{1e3 * s:.1f} ms",
             f"{seconds['minigrad'] / s:.2f}x", notes[name] + faults[name])
            for name, s in seconds.items()]
    if "torch" not in runs:
        rows.append(("AdamW step", "torch", "not installed", "", ""))
    return rows


# ---- where the train step's time goes ----------------------------------------------------

SHARES = ("GELU", "layer norm", "attention")


@contextlib.contextmanager
def without(group):
    """The model's `group` of ops replaced by the identity, in minigrad, in the NumPy step by hand
    and in torch: attention hands back v (the projections stay; by hand, q's and k's get zero
    gradients, whose products the step still makes).  A step's time less this step's is what the
    group costs in place: its forward and backward, and what its arrays do to the caches."""
    import minigrad.functional as F
    import minigrad.nn as nn
    import attention.layers as layers
    import bench.gpt_numpy as by_hand
    fn = sys.modules["torch"].nn.functional if "torch" in sys.modules else None
    step = by_hand.GPTTrainStep
    patches = {"GELU": [(nn.GELU, "forward", lambda self, x: x), (fn, "gelu", lambda x, approximate=None: x),
                        (by_hand, "_gelu", lambda a: (a, None)),
                        (by_hand, "_gelu_backward", lambda grad, a, held_back, act: grad)],
               "layer norm": [(F, "layer_norm", lambda x, *args, **kwargs: x),
                              (fn, "layer_norm", lambda x, *args, **kwargs: x),
                              (step, "_layer_norm", lambda self, x, name: (x, None)),
                              (step, "_layer_norm_backward", lambda self, grad, kept, name: grad)],
               "attention": [(layers, "scaled_dot_product_attention", lambda q, k, v, **kwargs: (v, v)),
                             (fn, "scaled_dot_product_attention", lambda q, k, v, **kwargs: v),
                             (by_hand, "_attend", lambda q, k, v, out: np.copyto(out, v)),
                             (by_hand, "_attend_backward", _values_only)]}[group]
    patches = [(owner, name, value, getattr(owner, name))
               for owner, name, value in patches if owner is not None]  # (torch: where imported)
    for owner, name, value, _ in patches:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, _, old in patches:
            setattr(owner, name, old)


def _values_only(grad_out, weights, q, k, v, out):
    """Attention's backward when attention hands back v: g v = g out, nothing for q and k."""
    grad_q, grad_k, grad_v = out
    np.copyto(grad_v, grad_out)
    grad_q[...] = 0
    grad_k[...] = 0


def share_rows(rounds):
    """What each group of ops costs in the train step, in minigrad, NumPy by hand and torch: the
    step's time less the step's time without the group, all timed in turns."""
    runs, _ = train_steps()

    def stepped(step, group):
        def run():
            with without(group):
                step()
        return run

    timed = {(name, None): step for name, step in runs.items()}
    timed.update({(name, group): stepped(step, group) for name, step in runs.items() for group in SHARES})
    seconds = dict(zip(timed, in_turns(list(timed.values()), rounds)))
    rows = []
    for group in SHARES:
        cost = {name: seconds[(name, None)] - seconds[(name, group)] for name in runs}
        rows += [(f"AdamW step: {group}'s share", name, f"{1e3 * c:.1f} ms", f"{cost['minigrad'] / c:.2f}x",
                  "the step less the step without it") for name, c in cost.items()]
    return rows


def bpe_rows(rounds):
    from attention.text import BPETokenizer, load_corpus
    text = load_corpus()
    tok = BPETokenizer.train(text[:100_000], 512)
    train, encode = in_turns([lambda: BPETokenizer.train(text[:100_000], 512), lambda: tok.encode(text)],
                             max(1, rounds // 3))
    return [("BPE: train on 100k characters to 512 ids", "minigrad", f"{train:.2f} s", "", ""),
            (f"BPE: encode all {len(text):,} characters", "minigrad", f"{encode:.2f} s", "",
             f"{len(tok.encode(text)):,} ids")]


def main(argv=None):
    quick = "--quick" in (sys.argv[1:] if argv is None else argv)
    rounds = 3 if quick else 9
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    rows = generation_rows(rounds) + generation_rows(rounds, max_len=TRAIN_T, peers=False)
    rows += train_rows(3 * rounds) + share_rows(3 * rounds) + bpe_rows(rounds)
    print(f"# minigrad text benchmark\n\nNumPy {np.__version__}, one thread, process CPU time, {rounds} rounds "
          f"in turns; load average before: {load} (1, 5, 15 min), after: "
          + " ".join(f"{v:.2f}" for v in os.getloadavg()) + "\n")
    print("| workload | implementation | median | speed, x minigrad (without the cache) | note |")
    print("|---|---|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
