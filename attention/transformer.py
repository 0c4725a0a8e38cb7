"""A tiny transformer: blocks of attention and MLP, stacked over token embeddings into
an encoder that labels every token and a decoder-only language model (TinyGPT) that
writes text one token at a time.  The two are siblings: each is a TransformerStack,
with or without causal attention.

Layers default to float64 (so gradients can be checked); pass dtype=np.float32 for speed.
"""
import numpy as np

import minigrad.functional as F
from minigrad import no_grad
from minigrad.nn import (GELU, Dropout, Embedding, LayerNorm, Linear, Module, ModuleList, ReLU, Sequential,
                         check_last_axis)
from minigrad.random import generator
from minigrad.tensor import unwrap
from attention.functional import scaled_dot_product_attention
from attention.layers import LearnedPositionalEmbedding, MultiHeadAttention, SinusoidalPositionalEncoding

_ACTIVATIONS = {"gelu": GELU, "relu": ReLU}
_POSITIONAL = ("sinusoidal", "learned", None)


class TransformerBlock(Module):
    """x + attention(LayerNorm(x)), then + MLP(LayerNorm(·)): one pre-LayerNorm transformer block.

    x (B, T, D) -> (B, T, D).  Tokens exchange information in the attention and are each
    transformed alone in the MLP (D -> d_ff -> D, d_ff = 4 D unless given); the residual
    additions let every block start close to the identity, which is what keeps deep
    stacks trainable.
    causal: each token sees only itself and earlier tokens.  mask: boolean, True = may
    attend, and key_padding_mask (B, T), True = padding (PyTorch's convention), as for
    MultiHeadAttention.  After a forward, `.attention_weights` holds the weights
    (B, H, T, T), detached, for plotting.
    """

    def __init__(self, d_model, n_heads, d_ff=None, *, dropout=0.0, causal=False, activation="gelu",
                 dtype=np.float64, rng=None):
        d_ff = 4 * d_model if d_ff is None else d_ff
        if activation not in _ACTIVATIONS:
            raise ValueError(f"TransformerBlock: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.d_model, self.causal = d_model, causal
        self.ln1 = LayerNorm(d_model, dtype=dtype)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, dtype=dtype, rng=rng)
        self.ln2 = LayerNorm(d_model, dtype=dtype)
        self.mlp = Sequential(Linear(d_model, d_ff, dtype=dtype, rng=rng), _ACTIVATIONS[activation](),
                              Linear(d_ff, d_model, dtype=dtype, rng=rng))
        self.dropout = Dropout(dropout, rng=rng)
        self.attention_weights = None

    def forward(self, x, mask=None, key_padding_mask=None):
        x = F.as_tensor(x)
        check_last_axis(self, x, self.d_model, "x")
        attended, weights = self.attn(self.ln1(x), mask=mask, key_padding_mask=key_padding_mask,
                                      is_causal=self.causal)              # (B, T, D), (B, H, T, T)
        self.attention_weights = weights.detach()
        x = x + self.dropout(attended)                                    # (B, T, D)
        return x + self.dropout(self.mlp(self.ln2(x)))                    # (B, T, D)

    def _forward_cached(self, x, cache, layer, max_len):
        """forward for x (B, T, D), the tokens after those in cache (a KVCache; this block is
        its `layer`): causal attention over the cached keys and values and x's own."""
        attn, (B, T, _) = self.attn, x.shape
        H, Dh, offset = attn.n_heads, attn.d_head, cache.length
        h = self.ln1(x)                                                   # (B, T, D)
        q = attn.q_proj(h).reshape(B, T, H, Dh).transpose(0, 2, 1, 3)     # (B, H, T, Dh)
        k = attn.k_proj(h).reshape(B, T, H, Dh).transpose(0, 2, 1, 3)     # (B, H, T, Dh)
        v = attn.v_proj(h).reshape(B, T, H, Dh).transpose(0, 2, 1, 3)     # (B, H, T, Dh)
        keys, values = cache.store(layer, k.data, v.data, max_len)        # (B, H, S, Dh), S = offset + T
        sees = np.tri(T, offset + T, offset, dtype=bool)                  # (T, S): query t sees keys <= offset + t
        out, _ = scaled_dot_product_attention(q, keys, values, mask=sees)  # (B, H, T, Dh)
        out = out.transpose(0, 2, 1, 3).reshape(B, T, H * Dh)             # (B, T, D)
        x = x + attn.out_proj(out)                                        # (B, T, D)
        return x + self.mlp(self.ln2(x))                                  # (B, T, D)

    def extra_repr(self):
        return f"d_model={self.d_model}, causal={self.causal}"


class TransformerStack(Module):
    """Token ids (B, T) -> logits (B, T, n_out): the stack both models below are made of.

    Embedding, plus position (positional="sinusoidal", "learned" or None for none, which
    makes the model blind to order), then n_layers TransformerBlocks, a final LayerNorm
    and a linear head.  d_ff: the MLP's hidden width, 4 d_model unless given.  dropout,
    causal and activation are passed to every block (dropout also acts on the embeddings).
    mask: boolean, True = may attend, e.g. `padding_mask(lengths, T)`; or key_padding_mask
    (B, T), True = padding, as PyTorch's src_key_padding_mask.  After a forward,
    `.attention_weights` lists each layer's weights (B, H, T, T).
    """

    def __init__(self, *, vocab_size, d_model, n_heads, n_layers, max_len, n_out, d_ff=None,
                 positional="sinusoidal", dropout=0.0, causal=False, activation="gelu",
                 dtype=np.float64, rng=None):
        if positional not in _POSITIONAL:
            raise ValueError(f"{type(self).__name__}: positional must be one of {_POSITIONAL}, got {positional!r}")
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.max_len = max_len
        self.embed = Embedding(vocab_size, d_model, dtype=dtype, rng=rng)
        if positional == "sinusoidal":
            self.position = SinusoidalPositionalEncoding(d_model, max_len)
        elif positional == "learned":
            self.position = LearnedPositionalEmbedding(max_len, d_model, dtype=dtype, rng=rng)
        else:
            self.position = None
        self.dropout = Dropout(dropout, rng=rng)
        self.blocks = ModuleList([TransformerBlock(d_model, n_heads, d_ff, dropout=dropout, causal=causal,
                                                   activation=activation, dtype=dtype, rng=rng)
                                  for _ in range(n_layers)])
        self.ln_final = LayerNorm(d_model, dtype=dtype)
        self.head = Linear(d_model, n_out, dtype=dtype, rng=rng)
        self.attention_weights = []

    def forward(self, tokens, mask=None, key_padding_mask=None):
        tokens = np.asarray(unwrap(tokens))
        if tokens.ndim != 2:
            raise ValueError(f"{type(self).__name__}: tokens must be integer ids of shape (B, T), "
                             f"got shape {tokens.shape}")
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"{type(self).__name__}: the sequence has length T={tokens.shape[1]} "
                             f"but the model was built for max_len={self.max_len}")
        x = self.embed(tokens)                                            # (B, T, D)
        if self.position is not None:
            x = self.position(x)                                          # (B, T, D)
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x, mask=mask, key_padding_mask=key_padding_mask)    # (B, T, D)
        self.attention_weights = [block.attention_weights for block in self.blocks]
        return self.head(self.ln_final(x))                                # (B, T, n_out)


class TransformerEncoder(TransformerStack):
    """Token ids (B, T) -> logits (B, T, n_classes): a label for every position, every
    token seeing every other (unless `mask` says otherwise).

        TransformerEncoder(vocab_size=10, d_model=32, n_heads=1, n_layers=1, max_len=8, n_classes=10)

    The other keywords (d_ff, positional, dropout, activation, dtype, rng) and forward
    are TransformerStack's.
    """

    def __init__(self, *, vocab_size, d_model, n_heads, n_layers, max_len, n_classes, d_ff=None,
                 positional="sinusoidal", dropout=0.0, activation="gelu", dtype=np.float64, rng=None):
        super().__init__(vocab_size=vocab_size, d_model=d_model, n_heads=n_heads, n_layers=n_layers,
                         max_len=max_len, n_out=n_classes, d_ff=d_ff, positional=positional,
                         dropout=dropout, causal=False, activation=activation, dtype=dtype, rng=rng)


class TinyGPT(TransformerStack):
    """A decoder-only language model: causal attention, learned positions, and one logit
    per vocabulary entry.

        TinyGPT(vocab_size=3, d_model=32, n_heads=2, n_layers=2, max_len=11)

    idx (B, T) token ids -> logits (B, T, vocab_size), where logits[:, t] predict token
    t + 1 from tokens 0..t.  Train with F.cross_entropy(logits[:, :-1], idx[:, 1:]).
    d_ff (default 4 d_model), dropout, dtype and rng as for TransformerStack.
    """

    def __init__(self, *, vocab_size, d_model, n_heads, n_layers, max_len, d_ff=None, dropout=0.0,
                 dtype=np.float64, rng=None):
        super().__init__(vocab_size=vocab_size, d_model=d_model, n_heads=n_heads, n_layers=n_layers,
                         max_len=max_len, n_out=vocab_size, d_ff=d_ff, positional="learned",
                         dropout=dropout, causal=True, dtype=dtype, rng=rng)

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, greedy=False, rng=None,
                 kv_cache=True):
        """idx (B, T) extended by max_new_tokens tokens, each predicted from (at most max_len
        of) the tokens before it; returns an integer array (B, T + max_new_tokens).

        greedy: always take the most likely token; otherwise sample from
        softmax(logits / temperature), keeping only the top_k most likely tokens and/or the
        smallest set whose probability reaches top_p, with `rng` (default: minigrad's generator).
        kv_cache: keep each layer's keys and values (see KVCache), so a new token costs one
        token's work; the tokens are the same as without it.  Runs in eval mode (no dropout).
        """
        idx = _token_ids(idx, "TinyGPT.generate")
        _check_sampling(temperature, top_k, top_p, greedy)
        rng = generator(rng, "TinyGPT.generate")
        cache = KVCache() if kv_cache else None
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for _ in range(max_new_tokens):
                    logits = self.next_logits(idx, cache)                               # (B, vocab_size)
                    nxt = _choose(logits, temperature, top_k, top_p, greedy, rng)       # (B,)
                    idx = np.concatenate([idx, nxt[:, None]], axis=1)                   # (B, T + 1)
        finally:
            self.train(was_training)
        return idx

    def next_logits(self, idx, cache=None):
        """Logits (B, vocab_size) for the token after idx (B, T): the model's last row on
        the last max_len tokens, the window the model was built for.

        With a KVCache, only the tokens the cache has not read yet are run.  Past max_len the
        window slides by one token per step; as learned positions then move under every
        token, the cached keys and values no longer hold, so the cache is rebuilt on the new
        window: each such step costs a full forward of max_len tokens, as without a cache.
        """
        idx = _token_ids(idx, "TinyGPT.next_logits")
        start = max(0, idx.shape[1] - self.max_len)                       # the window the model sees
        if cache is None:
            return self(idx[:, start:]).data[:, -1]
        if not cache.holds_prefix_of(idx, start):
            cache.clear(start)
        logits = self.forward_cached(idx[:, start + cache.length:], cache)  # (B, T_new, vocab_size)
        return logits.data[:, -1]

    def forward_cached(self, tokens, cache=None):
        """Logits (B, T, vocab_size) of tokens (B, T) that follow the tokens in cache (a
        KVCache; default: a new, empty one), using its keys and values and appending the new
        ones.  The same numbers as the matching rows of a forward on the whole sequence; for
        eval mode (no dropout) and no_grad."""
        tokens = _token_ids(tokens, "TinyGPT.forward_cached")
        cache = KVCache() if cache is None else cache
        offset, T = cache.length, tokens.shape[1]
        if offset + T > self.max_len:
            raise ValueError(f"TinyGPT.forward_cached: {offset} cached and {T} new tokens exceed "
                             f"max_len={self.max_len}; start a new cache on the last max_len tokens")
        x = self.embed(tokens) + self.position.weight[offset:offset + T]   # (B, T, D)
        for layer, block in enumerate(self.blocks):
            x = block._forward_cached(x, cache, layer, self.max_len)       # (B, T, D)
        cache.append(tokens)
        return self.head(self.ln_final(x))                                # (B, T, vocab_size)


class KVCache:
    """What TinyGPT.generate remembers between steps: every layer's keys and values of the
    tokens read so far, so a new token computes only its own query, key and value and
    attends over the cached ones.

    keys[l], values[l]: (B, H, max_len, Dh), filled up to `length`; `tokens` (B, length)
    are the ids read, the sequence's window idx[:, start:start + length].
    """

    def __init__(self):
        self.clear(0)

    def clear(self, start):
        """Forget everything; the next tokens read begin at position `start` of the sequence."""
        self.keys, self.values, self.tokens, self.start = [], [], None, start

    @property
    def length(self):
        return 0 if self.tokens is None else self.tokens.shape[1]

    def holds_prefix_of(self, idx, start):
        """Whether the cache read idx[:, start:...] so far (then only the rest need running)."""
        return (self.tokens is not None and self.start == start and self.tokens.shape[0] == idx.shape[0]
                and idx.shape[1] - start > self.length
                and np.array_equal(idx[:, start:start + self.length], self.tokens))

    def append(self, tokens):
        self.tokens = tokens.copy() if self.tokens is None else np.concatenate([self.tokens, tokens], axis=1)

    def store(self, layer, k, v, max_len):
        """Write the new keys and values k, v (B, H, T, Dh) of `layer` after the cached ones;
        returns all of them so far, (B, H, length + T, Dh) each."""
        if layer == len(self.keys):                                       # first tokens: room for max_len
            B, H, _, Dh = k.shape
            self.keys.append(np.empty((B, H, max_len, Dh), k.dtype))
            self.values.append(np.empty((B, H, max_len, Dh), v.dtype))
        end = self.length + k.shape[2]
        self.keys[layer][:, :, self.length:end] = k
        self.values[layer][:, :, self.length:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


def _token_ids(idx, where):
    """idx as an integer array (B, T), T >= 1, or a clear error naming `where`."""
    idx = np.asarray(unwrap(idx))
    if idx.ndim != 2 or idx.dtype.kind not in "iu" or idx.shape[1] == 0:
        raise ValueError(f"{where}: idx must be integer token ids of shape (B, T) with T >= 1, "
                         f"got shape {idx.shape} and dtype {idx.dtype}")
    return idx


def _check_sampling(temperature, top_k, top_p, greedy):
    if not greedy and not (isinstance(temperature, (int, float, np.number)) and temperature > 0):
        raise ValueError(f"TinyGPT.generate: temperature must be positive (a number > 0), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise ValueError(f"TinyGPT.generate: top_k must be an integer >= 1 (the number of most likely tokens "
                         f"kept) or None, got {top_k!r}")
    if top_p is not None and not (isinstance(top_p, (int, float, np.floating)) and 0 < top_p <= 1):
        raise ValueError(f"TinyGPT.generate: top_p must be a probability in (0, 1] (the mass of the most "
                         f"likely tokens kept) or None, got {top_p!r}")


def _choose(logits, temperature, top_k, top_p, greedy, rng):
    """The next token (B,) from logits (B, V): the argmax, or a sample from the kept tokens."""
    if greedy:
        return logits.argmax(axis=-1)
    z = logits.astype(np.float64) / temperature                           # (B, V)
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.partition(z, -top_k, axis=-1)[:, -top_k, None]           # (B, 1) the k-th largest
        z = np.where(z < kth, -np.inf, z)
    probs = np.exp(z - z.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)                            # (B, V)
    if top_p is not None:
        order = np.argsort(-probs, axis=-1, kind="stable")                # (B, V) most likely first
        sorted_probs = np.take_along_axis(probs, order, axis=-1)
        before = np.cumsum(sorted_probs, axis=-1) - sorted_probs          # mass of the more likely ones
        drop = np.zeros_like(probs, dtype=bool)
        np.put_along_axis(drop, order, before >= top_p, axis=-1)          # the set already reached top_p
        probs = np.where(drop, 0.0, probs)
    cdf = np.cumsum(probs, axis=-1)                                       # (B, V)
    u = rng.random((len(cdf), 1)) * cdf[:, -1:]                           # (B, 1) uniform over the kept mass
    return (cdf <= u).sum(axis=-1)                                        # (B,) the first token past u
