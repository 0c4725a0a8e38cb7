"""Attention as functions: masks, scaled dot-product attention, parameter-free self-attention.

Mask convention, the same everywhere in this package: a boolean array that broadcasts
to the attention weights' shape (..., T, S), where **True means "query t may attend to
key s"** (as PyTorch's `scaled_dot_product_attention`).  Keys a query may not attend to
get weight exactly 0 and gradient exactly 0; a query that may attend to nothing gets
all-zero weights, a zero output and zero gradients (never NaN).  `check_mask` checks a
mask against this convention; every function here that takes a mask calls it.

Every function here is a composition of minigrad ops, so it is differentiable to any order.
"""
import functools
import math

import numpy as np

import minigrad.functional as F
from minigrad.tensor import Tensor, unwrap
from minigrad.transforms import is_batched


def causal_mask(T, S=None):
    """(T, S) mask that lets query t see keys 0..t only (no peeking at the future).

    True on and below the diagonal, aligned at the top-left corner as in PyTorch's
    `is_causal`; S defaults to T.  The array is shared between calls, so it is read-only.
    """
    return _causal_mask(T, T if S is None else S)


@functools.lru_cache(maxsize=64)
def _causal_mask(T, S):
    mask = np.tri(T, S, dtype=bool)  # (T, S)
    mask.flags.writeable = False
    return mask


def padding_mask(lengths, S):
    """(B, 1, S) mask that lets every query of sequence b see its first lengths[b] keys only.

    The middle axis broadcasts over the queries, so it fits single-head weights (B, T, S)
    as is; `MultiHeadAttention` adds the head axis to any 3-D mask itself.
    """
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
        raise ValueError(f"padding_mask: lengths must be a 1-D array of integers (one per sequence), "
                         f"got shape {lengths.shape} and dtype {lengths.dtype}")
    if np.any(lengths < 0) or np.any(lengths > S):
        raise ValueError(f"padding_mask: lengths must lie in 0..S={S}, got {lengths.tolist()}")
    return (np.arange(S) < lengths[:, None])[:, None, :]  # (B, 1, S)


def scaled_dot_product_attention(q, k, v, mask=None, is_causal=False, scale=None, dropout_p=0.0, rng=None):
    """softmax(q kᵀ · scale) v, returning (out, weights).

    q (..., T, Dh), k (..., S, Dh), v (..., S, Dv)  ->  out (..., T, Dv), weights (..., T, S).
    mask: boolean, broadcastable to (..., T, S), True = may attend.  is_causal: also apply
    `causal_mask(T, S)` (combined with `mask` by "and").  scale: default 1 / sqrt(Dh); a
one-element Tensor (a learnable temperature) stays in the graph and gets its gradient.
    dropout_p: zero each weight with this probability (and scale the rest by 1 / (1 - p))
    before multiplying with v, drawing from `rng` (a np.random.Generator; default:
    minigrad's generator); the returned weights are the ones before dropout, whose rows sum to 1.
    """
    q, k, v = F.as_tensor(q), F.as_tensor(k), F.as_tensor(v)
    weights_shape = _check_qkv("scaled_dot_product_attention", q, k, v)  # (..., T, S)
    T, S = weights_shape[-2:]
    allowed = check_mask(mask, weights_shape, "scaled_dot_product_attention")
    if is_causal:
        allowed = causal_mask(T, S) if allowed is None else np.logical_and(allowed, causal_mask(T, S))
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    if isinstance(scale, Tensor):
        q, scale = q * _one_number(scale), 1.0             # learnable: in the graph, so it gets a gradient
    # The scores and their softmax as one op, in one array; blocked keys get weight 0, gradient 0.
    weights = F.attention_weights(q, k, scale=scale, where=allowed)  # (..., T, S)
    if dropout_p:
        weights_used = F.dropout(weights, dropout_p, training=True, rng=rng)
    else:  # no dropout: the weights themselves (F.dropout would return them)
        weights_used = weights
    return weights_used @ v, weights                       # (..., T, Dv), (..., T, S)


def self_attention(V, scale=None):
    """The lecture notes' parameter-free self-attention: softmax(V Vᵀ) V, returning (out, weights).

    V (..., T, D)  ->  out (..., T, D), weights (..., T, T); row t of the weights says how
    much token t takes from every token.  scale, when given, multiplies the scores
    (the notes use none); a Tensor scale is learnable, as in scaled_dot_product_attention.
    Written as the notes write it, op by op, so its graph shows each step.
    """
    V = F.as_tensor(V)
    _check_qkv("self_attention", V, V, V)
    scores = V @ V.swapaxes(-1, -2)                        # (..., T, T)
    if isinstance(scale, Tensor):
        scores = scores * _one_number(scale, "self_attention")
    elif scale is not None:
        scores = scores * float(scale)
    weights = F.softmax(scores, axis=-1)                   # (..., T, T)
    return weights @ V, weights                            # (..., T, D), (..., T, T)


# ---- the pieces ------------------------------------------------------------------

def _one_number(scale, where="scaled_dot_product_attention"):
    """A Tensor scale as a 0-d Tensor (still in the graph), after checking it holds one number."""
    if scale.size != 1:
        raise ValueError(f"{where}: scale must be one number, "
                         f"got a Tensor of shape {scale.shape}")
    return scale.reshape(())


def check_mask(mask, weights_shape, where):
    """The package's mask convention, checked once for every function that takes a mask.

    Returns mask as a boolean array (None stays None) after checking that it broadcasts to
    the attention weights' shape weights_shape (..., T, S); `where` names the caller in
    the error.  The array goes to F.softmax's `where`, which leaves the blocked scores out
    inside the one fused op: weight exactly 0, gradient exactly 0, and a row with nothing
    allowed gets zeros.  Inside vmap a mask that holds the batch stays a tensor (one mask per
    example; its shape is one example's), for the ops' batch rules.
    """
    if mask is None:
        return None
    mask = mask if is_batched(mask) else np.asarray(unwrap(mask))
    if mask.dtype != bool:
        raise TypeError(f"{where}: mask must be boolean (True = may attend), got dtype {mask.dtype} "
                        f"(shape {mask.shape})")
    try:
        fits = np.broadcast_shapes(mask.shape, weights_shape) == tuple(weights_shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{where}: mask of shape {mask.shape} does not broadcast to the attention "
                         f"weights' shape {tuple(weights_shape)} (..., T, S)")
    return mask


def _check_qkv(name, q, k, v):
    """The attention weights' shape (..., T, S), after clear errors for the shape mistakes
    attention code makes most."""
    shapes = {"q": q.shape, "k": k.shape, "v": v.shape}
    for label, shape in shapes.items():
        if len(shape) < 2:
            raise ValueError(f"{name}: {label} must have at least 2 dimensions (..., length, width), "
                             f"got shape {shape}")
    qs, ks, vs = shapes.values()
    if qs[-1] != ks[-1]:
        raise ValueError(f"{name}: queries and keys must have the same width Dh to be compared by dot product, "
                         f"got q {qs} (Dh={qs[-1]}) and k {ks} (Dh={ks[-1]})")
    if ks[-2] != vs[-2]:
        raise ValueError(f"{name}: keys and values must come in pairs (same length S), "
                         f"got k {ks} (S={ks[-2]}) and v {vs} (S={vs[-2]})")
    if qs[:-2] == ks[:-2] == vs[:-2]:
        return qs[:-1] + ks[-2:-1]
    try:
        np.broadcast_shapes(qs[:-2], ks[:-2], vs[:-2])
    except ValueError:
        raise ValueError(f"{name}: the batch dimensions of q {qs}, k {ks} and v {vs} "
                         f"do not broadcast") from None
    return np.broadcast_shapes(qs[:-2], ks[:-2]) + (qs[-2], ks[-2])
