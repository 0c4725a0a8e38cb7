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

    def generate(self, idx, max_new_tokens, temperature=1.0, greedy=False, rng=None):
        """idx (B, T) extended by max_new_tokens tokens, each predicted from (at most
        max_len of) the tokens before it; returns an integer array (B, T + max_new_tokens).

        greedy: always take the most likely token (deterministic); otherwise sample from
        softmax(logits / temperature) with `rng` (default: minigrad's generator).
        Runs in eval mode (no dropout) and restores the mode afterwards.
        """
        idx = np.array(unwrap(idx))
        if idx.ndim != 2 or idx.dtype.kind not in "iu":
            raise ValueError(f"TinyGPT.generate: idx must be integer token ids of shape (B, T), "
                             f"got shape {idx.shape} and dtype {idx.dtype}")
        if not greedy and not temperature > 0:
            raise ValueError(f"TinyGPT.generate: temperature must be positive, got {temperature}")
        rng = generator(rng, "TinyGPT.generate")
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for _ in range(max_new_tokens):
                    logits = self(idx[:, -self.max_len:]).data[:, -1]                 # (B, vocab_size)
                    if greedy:
                        nxt = logits.argmax(axis=-1)                                   # (B,)
                    else:
                        probs = F.softmax(logits.astype(np.float64) / temperature, axis=-1).data  # (B, vocab_size)
                        nxt = np.array([rng.choice(len(p), p=p) for p in probs])       # (B,)
                    idx = np.concatenate([idx, nxt[:, None]], axis=1)                 # (B, T + 1)
        finally:
            self.train(was_training)
        return idx
