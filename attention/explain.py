"""Look into attention heads in the browser: one self-contained HTML page per model.

    weights = collect_attention(model, ids)            # one (B, H, T, S) array per attention layer
    explain_attention(weights, tokens, "attention.html")

The page (attention/explain_attention.html, with its script inline) shows layers × heads:
hover or click a query token (or move with ↑ ↓) to see whom it attends to in each head
(lines whose strength is the weight, and a row of numbers per head); hover a key token to
see who looks at it; switch heads on and off, and pick a layer.  It needs no network: the
weights are written into the page as one JSON blob.
"""
from pathlib import Path

import numpy as np

from minigrad import no_grad
from minigrad.tensor import unwrap
from minigrad.viz import write_page
from attention.layers import MultiHeadAttention, SelfAttention

_TEMPLATE = Path(__file__).with_name("explain_attention.html")


def collect_attention(model, *args, **kwargs):
    """Run model(*args, **kwargs) once, without a graph, and return the weights of every
    MultiHeadAttention and SelfAttention inside it, in the order they ran.

    Returns (weights, names): weights a list of arrays (B, H, T, S) (a single-head layer
    gets H = 1), names the layers' dotted names in the model (e.g. "blocks.0.attn").
    Works for TinyGPT, TransformerEncoder, a bare MultiHeadAttention, or any Module that
    contains attention layers.
    """
    layers = [(name or type(m).__name__, m) for name, m in model.named_modules()
              if isinstance(m, (MultiHeadAttention, SelfAttention))]
    if not layers:
        raise ValueError(f"collect_attention: {type(model).__name__} contains no MultiHeadAttention or "
                         "SelfAttention layer; pass weights to explain_attention directly")
    weights, names = [], []

    def recording(name, forward):
        def forward_and_record(*a, **kw):
            out, w = forward(*a, **kw)
            array = np.array(unwrap(w))
            weights.append(array[:, None] if array.ndim == 3 else array)  # (B, H, T, S)
            names.append(name)
            return out, w
        return forward_and_record

    for name, layer in layers:  # an instance attribute shadows the class's forward, for this call only
        layer.forward = recording(name, layer.forward)
    try:
        with no_grad():
            model(*args, **kwargs)
    finally:
        for _, layer in layers:
            del layer.forward
    return weights, names


def explain_attention(weights, tokens, path, key_tokens=None, layer_names=None, title="attention",
                      query=0, layer_label="layer"):
    """Write a page that lets a student look into every head of every layer; returns path.

    weights: the attention weights of one sequence, rows = queries: (T, S), (H, T, S),
    (1, H, T, S), or a list of those, one per layer (as `collect_attention` returns,
    for a batch of one).  tokens: T labels of the queries; key_tokens: S labels of the
    keys (default: the same tokens, as in self-attention).  layer_names: one per layer
    (default: "layer 1", "layer 2", ...).  query: the query the page opens on, an index
    or a token ("bank").  layer_label: what the maps are, "layer" or, for maps of several
    models side by side, "model".
    """
    layers = weights if isinstance(weights, (list, tuple)) else [weights]
    maps = [_heads(w, i) for i, w in enumerate(layers)]                   # each (H, T, S)
    key_tokens = tokens if key_tokens is None else key_tokens
    T, S = maps[0].shape[1:]
    for i, m in enumerate(maps):
        if m.shape[1:] != (T, S):
            raise ValueError(f"explain_attention: layer {i} has maps of shape {m.shape[1:]} but layer 0 has "
                             f"{(T, S)}; all layers must attend over the same tokens")
    if len(tokens) != T or len(key_tokens) != S:
        raise ValueError(f"explain_attention: {len(tokens)} tokens and {len(key_tokens)} key_tokens for "
                         f"weights of {T} queries and {S} keys")
    if layer_names is None:
        layer_names = [f"{layer_label} {i + 1}" for i in range(len(maps))]
    if len(layer_names) != len(maps):
        raise ValueError(f"explain_attention: {len(layer_names)} layer_names for {len(maps)} layers")
    queries = [str(t) for t in tokens]
    start = queries.index(query) if isinstance(query, str) and query in queries else query
    if isinstance(start, str) or not 0 <= start < T:
        raise ValueError(f"explain_attention: query={query!r} is neither a token of {queries} nor an index "
                         f"in [0, {T})")
    data = {"title": title, "queries": queries, "keys": [str(t) for t in key_tokens], "query": int(start),
            "layer_label": str(layer_label), "layers": [{"name": str(n), "heads": m} for n, m in zip(layer_names, maps)]}
    return write_page(path, _TEMPLATE, data, title)


def _heads(w, i):
    """One layer's weights as (H, T, S) float64."""
    w = np.asarray(unwrap(w), dtype=np.float64)
    if w.ndim == 4:
        if w.shape[0] != 1:
            raise ValueError(f"explain_attention: layer {i} has weights of shape {w.shape}, a batch of "
                             f"{w.shape[0]} sequences; pass one sequence, e.g. weights[:1]")
        w = w[0]
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3:
        raise ValueError(f"explain_attention: layer {i} has weights of shape {w.shape}; expected (T, S), "
                         "(H, T, S) or (1, H, T, S)")
    return w
