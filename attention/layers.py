"""Attention layers with learned weights, and positional encodings.

SelfAttention is the notes' softmax(V Vᵀ) V with learned projections for the queries,
keys and values; MultiHeadAttention runs several such attentions side by side on slices
of the model width.  Attention
itself ignores word order, so the positional layers add it back.

Masks follow the package convention: boolean, True = may attend (see attention.functional).
Layers default to float64 (so gradients can be checked); pass dtype=np.float32 for speed.
"""
import numpy as np

import minigrad.functional as F
from minigrad.nn import Linear, Module, Parameter, check_float_dtype, check_last_axis, layer_name
from minigrad.random import generator
from minigrad.tensor import Tensor, unwrap
from minigrad.transforms import is_batched
from attention.functional import check_mask, scaled_dot_product_attention


class SelfAttention(Module):
    """Single-head self-attention: q, k, v = x Wq, x Wk, x Wv, then softmax(q kᵀ / √D) v.

    x (B, T, D) -> (out (B, T, D), weights (B, T, T)).  Unlike `self_attention(V)`, the
    token that asks (q), the token that answers (k) and what it hands over (v) are three
    learned views of the same embedding, so "similar" no longer has to mean "the same".
    mask: boolean, broadcastable to (B, T, T), True = may attend.
    """

    def __init__(self, d_model, bias=True, dtype=np.float64, rng=None):
        self.d_model = d_model
        self.q_proj = Linear(d_model, d_model, bias=bias, dtype=dtype, rng=rng)
        self.k_proj = Linear(d_model, d_model, bias=bias, dtype=dtype, rng=rng)
        self.v_proj = Linear(d_model, d_model, bias=bias, dtype=dtype, rng=rng)

    def forward(self, x, mask=None, is_causal=False):
        B, T, _ = _check_sequences(self, "x", x, self.d_model)
        mask = check_mask(mask, (B, T, T), layer_name(self))
        return scaled_dot_product_attention(self.q_proj(x), self.k_proj(x), self.v_proj(x),
                                            mask=mask, is_causal=is_causal)

    def extra_repr(self):
        return f"d_model={self.d_model}"


class MultiHeadAttention(Module):
    """H attentions in parallel, each on its own Dh = D / H slice of the projections.

    forward(query (B, T, D), key (B, S, D) = query, value (B, S, D) = key, *, mask,
            key_padding_mask, is_causal) -> (out (B, T, D), weights (B, H, T, S)).
    Called as PyTorch's (batch first): mha(x) is self-attention, mha(x, context)
    cross-attention with keys and values from context, mha(q, k, v) the general form.
    mask (keyword only): boolean, True = may attend, broadcastable to (B, H, T, S); a
    3-D mask (B, T or 1, S), e.g. from `padding_mask`, is applied to every head.
    key_padding_mask: boolean (B, S) in PyTorch's convention, True = a padding key that
    no query may attend to; combined with mask by "and".  is_causal: query t sees keys
    0..t only.  dropout: on the weights, while training.
    """

    def __init__(self, d_model, n_heads, bias=True, dropout=0.0, dtype=np.float64, rng=None):
        if d_model % n_heads:
            raise ValueError(f"MultiHeadAttention: d_model={d_model} is not divisible by n_heads={n_heads}; "
                             "each head gets d_model / n_heads features")
        F.dropout(0.0, dropout, training=False)  # F.dropout checks the probability: fail now, not at forward
        self.d_model, self.n_heads, self.d_head, self.dropout = d_model, n_heads, d_model // n_heads, dropout
        self.q_proj = Linear(d_model, d_model, bias=bias, dtype=dtype, rng=rng)
        self.k_proj = Linear(d_model, d_model, bias=bias, dtype=dtype, rng=rng)
        self.v_proj = Linear(d_model, d_model, bias=bias, dtype=dtype, rng=rng)
        self.out_proj = Linear(d_model, d_model, bias=bias, dtype=dtype, rng=rng)
        self.rng = rng

    def forward(self, query, key=None, value=None, *, mask=None, key_padding_mask=None, is_causal=False):
        key = query if key is None else key
        value = key if value is None else value
        B, T, _ = _check_sequences(self, "query", query, self.d_model)
        _, S, _ = _check_sequences(self, "key", key, self.d_model, batch=B)
        _check_sequences(self, "value", value, self.d_model, batch=B, length=S)
        H, Dh = self.n_heads, self.d_head
        mask = self._allowed(mask, key_padding_mask, B, H, T, S)          # (B, H|1, T|1, S) or None

        # 1. project: every token's query, key and value, all heads at once
        q = self.q_proj(query)                                            # (B, T, D)
        k = self.k_proj(key)                                              # (B, S, D)
        v = self.v_proj(value)                                            # (B, S, D)
        # 2. split heads: feature block h of width Dh belongs to head h
        q = q.reshape(B, T, H, Dh).transpose(0, 2, 1, 3)                  # (B, H, T, Dh)
        k = k.reshape(B, S, H, Dh).transpose(0, 2, 1, 3)                  # (B, H, S, Dh)
        v = v.reshape(B, S, H, Dh).transpose(0, 2, 1, 3)                  # (B, H, S, Dh)
        # 3. attend, every head independently
        dropout_p = self.dropout if self.training else 0.0
        out, weights = scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal,
                                                    dropout_p=dropout_p, rng=self.rng)  # (B, H, T, Dh), (B, H, T, S)
        # 4. merge heads back side by side
        out = out.transpose(0, 2, 1, 3).reshape(B, T, H * Dh)             # (B, T, D)
        # 5. project: mix what the heads found
        return self.out_proj(out), weights                                # (B, T, D), (B, H, T, S)

    def _allowed(self, mask, key_padding_mask, B, H, T, S):
        """mask and key_padding_mask as one boolean mask, True = may attend, or None."""
        where = layer_name(self)
        if mask is not None and len(_shape(mask)) == 3:               # (B, T|1, S): one for every head
            mask = check_mask(mask, (B, T, S), where)[:, None]            # (B, 1, T|1, S)
        try:
            mask = check_mask(mask, (B, H, T, S), where)
        except ValueError as err:
            if _shape(mask) != (B, S):
                raise
            raise ValueError(f"{err}; a (B, S) mask of padded keys is PyTorch's key_padding_mask: pass it as "
                             "key_padding_mask= (True = padding), not mask= (True = may attend)") from err
        if key_padding_mask is None:
            return mask
        keep = ~_check_key_padding_mask(key_padding_mask, B, S, where)[:, None, None, :]  # (B, 1, 1, S)
        return keep if mask is None else np.logical_and(mask, keep)

    def extra_repr(self):
        return f"d_model={self.d_model}, n_heads={self.n_heads}, dropout={self.dropout}"


def _shape(x):
    """x's shape as its user sees it: inside vmap, one example's."""
    return x.shape if isinstance(x, Tensor) else np.shape(x)


def _check_key_padding_mask(key_padding_mask, B, S, where):
    """key_padding_mask as a boolean array (B, S), PyTorch's convention: True = a padding key."""
    padding = key_padding_mask if is_batched(key_padding_mask) else np.asarray(unwrap(key_padding_mask))
    if padding.dtype != bool:
        raise TypeError(f"{where}: key_padding_mask must be boolean (True = padding, as PyTorch), got dtype "
                        f"{padding.dtype} (shape {padding.shape}); float (additive) masks are not taken")
    if padding.shape != (B, S):
        raise ValueError(f"{where}: key_padding_mask must have shape (B, S) = {(B, S)}, one flag per key, "
                         f"got {padding.shape}")
    return padding


class SinusoidalPositionalEncoding(Module):
    """Adds the fixed encoding of "Attention Is All You Need" to x (B, T, D):

        PE[p, 2i] = sin(p ω_i),  PE[p, 2i+1] = cos(p ω_i),  ω_i = 10000^(-2i / D).

    Each (sin, cos) pair turns at its own speed, so PE[p + k] is PE[p] rotated pair by
    pair by angles k ω_i that do not depend on p: relative offsets look the same
    everywhere.  No parameters.  `.pe` holds the (max_len, D) table.
    """

    def __init__(self, d_model, max_len):
        self.d_model, self.max_len = d_model, max_len
        positions = np.arange(max_len)[:, None]                           # (max_len, 1)
        frequencies = 10000.0 ** (-np.arange(0, d_model, 2) / d_model)    # (ceil(D/2),)
        angles = positions * frequencies                                  # (max_len, ceil(D/2))
        self.pe = np.empty((max_len, d_model))
        self.pe[:, 0::2] = np.sin(angles)
        self.pe[:, 1::2] = np.cos(angles[:, :d_model // 2])               # an odd D has one sine more

    def forward(self, x):
        x = F.as_tensor(x)
        _, T, _ = _check_sequences(self, "x", x, self.d_model, max_len=self.max_len)
        return x + self.pe[:T].astype(np.result_type(x.dtype, np.float32), copy=False)  # (B, T, D)

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(Module):
    """Adds a learned vector per position to x (B, T, D), as GPT-2 does.

    weight (max_len, D) starts from N(0, 0.02²): small, so at first the tokens dominate.
    Positions beyond max_len have no vector: the model cannot run on longer sequences.
    """

    def __init__(self, max_len, d_model, dtype=np.float64, rng=None):
        self.max_len, self.d_model = max_len, d_model
        rng = generator(rng, "LearnedPositionalEmbedding")
        dtype = check_float_dtype(dtype, "LearnedPositionalEmbedding")
        self.weight = Parameter(0.02 * rng.standard_normal((max_len, d_model)), dtype=dtype)

    def forward(self, x):
        _, T, _ = _check_sequences(self, "x", x, self.d_model, max_len=self.max_len)
        return F.as_tensor(x) + self.weight[:T]                           # (B, T, D)

    def extra_repr(self):
        return f"max_len={self.max_len}, d_model={self.d_model}"


def _check_sequences(layer, name, x, d_model, batch=None, max_len=None, length=None):
    """(B, T, D) of x, after checking it is a batch of sequences the layer can take."""
    shape = check_last_axis(layer, x, d_model, name)
    where = layer_name(layer)
    if len(shape) != 3:
        raise ValueError(f"{where}: {name} must be a batch of sequences of shape (B, T, {d_model}), got {shape}")
    if batch is not None and shape[0] != batch:
        raise ValueError(f"{where}: {name} has batch size {shape[0]} but the query has {batch}")
    if length is not None and shape[1] != length:
        raise ValueError(f"{where}: keys and values must come in pairs, but the key has length {length} "
                         f"and the {name} {shape[1]}")
    if max_len is not None and shape[1] > max_len:
        raise ValueError(f"{where}: the sequence has length T={shape[1]} but positions exist only up to "
                         f"max_len={max_len}; build the layer with a larger max_len")
    return shape
