"""attention.collect_attention and explain_attention: the weights they gather and the page's data.

The page itself is checked in a real browser in tests/test_pages.py.
"""
import json
import re

import numpy as np
import pytest

from attention import MultiHeadAttention, TransformerEncoder, collect_attention, explain_attention
from minigrad.nn import Linear, Module

TOKENS = ["bank", "of", "the", "river"]


def numpy_attention_weights(mha, x):
    """Softmax(q kᵀ / sqrt(Dh)) per head, in plain NumPy from the layer's parameters."""
    B, T, D = x.shape
    H, Dh = mha.n_heads, D // mha.n_heads

    def project(p):
        return (x @ p.weight.data + p.bias.data).reshape(B, T, H, Dh).transpose(0, 2, 1, 3)  # (B, H, T, Dh)

    scores = project(mha.q_proj) @ project(mha.k_proj).transpose(0, 1, 3, 2) / np.sqrt(Dh)  # (B, H, T, T)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def page_data(path):
    text = path.read_text(encoding="utf-8")
    blob = re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1)
    return text, json.loads(blob)


class TwoLayers(Module):
    """Any module holding attention layers: two MultiHeadAttentions one after the other."""

    def __init__(self, rng):
        self.first, self.second = MultiHeadAttention(8, 2, rng=rng), MultiHeadAttention(8, 4, rng=rng)
        self.head = Linear(8, 3, rng=rng)

    def forward(self, x):
        y = self.first(x)[0]
        return self.head(self.second(y)[0])


def test_collect_attention_returns_each_layer_in_call_order_and_matches_numpy():
    rng = np.random.default_rng(0)
    model = TwoLayers(rng)
    x = rng.standard_normal((2, 4, 8))
    weights, names = collect_attention(model, x)
    assert names == ["first", "second"]
    assert [w.shape for w in weights] == [(2, 2, 4, 4), (2, 4, 4, 4)]
    np.testing.assert_allclose(weights[0], numpy_attention_weights(model.first, x), atol=1e-12)
    y = model.first(x)[0].data
    np.testing.assert_allclose(weights[1], numpy_attention_weights(model.second, y), atol=1e-12)
    assert "forward" not in vars(model.first)           # the recording wrapper is gone again


def test_collect_attention_from_a_transformer_encoder_equals_its_stored_weights():
    rng = np.random.default_rng(1)
    model = TransformerEncoder(vocab_size=10, d_model=8, n_heads=2, n_layers=3, d_ff=16, max_len=6,
                               n_classes=10, rng=rng)
    ids = rng.integers(0, 10, (1, 6))
    weights, names = collect_attention(model, ids)
    assert names == ["blocks.0.attn", "blocks.1.attn", "blocks.2.attn"]
    model(ids)
    for got, stored in zip(weights, model.attention_weights):
        np.testing.assert_array_equal(got, stored.data)


def test_explain_attention_writes_one_self_contained_page_with_the_weights(tmp_path):
    w = np.random.default_rng(2).dirichlet(np.ones(4), size=(2, 4))          # (H, T, S)
    path = explain_attention([w, w[:1]], TOKENS, tmp_path / "a.html", layer_names=["L0", "L1"],
                             title="bank </script> river")
    text, data = page_data(path)
    assert not re.search(r'\b(src|href)=|<link|url\(|@import', text)   # nothing loaded from elsewhere
    assert data["queries"] == TOKENS and data["keys"] == TOKENS and data["title"] == "bank </script> river"
    assert [layer["name"] for layer in data["layers"]] == ["L0", "L1"]
    np.testing.assert_array_equal(data["layers"][0]["heads"], w)
    np.testing.assert_array_equal(data["layers"][1]["heads"], w[:1])


def test_explain_attention_errors_name_the_function_and_the_shapes(tmp_path):
    w = np.full((4, 4), 0.25)
    with pytest.raises(ValueError, match=r"explain_attention: 3 tokens and 3 key_tokens for weights of 4 queries"):
        explain_attention(w, TOKENS[:3], tmp_path / "a.html")
    with pytest.raises(ValueError, match=r"explain_attention: layer 0 has weights of shape \(2, 1, 4, 4\), a batch"):
        explain_attention(np.full((2, 1, 4, 4), 0.25), TOKENS, tmp_path / "a.html")
    with pytest.raises(ValueError, match=r"explain_attention: layer 1 has maps of shape \(3, 4\)"):
        explain_attention([w, np.full((3, 4), 0.25)], TOKENS, tmp_path / "a.html")
    with pytest.raises(ValueError, match="collect_attention: Linear contains no MultiHeadAttention"):
        collect_attention(Linear(2, 2), np.ones((1, 2)))
