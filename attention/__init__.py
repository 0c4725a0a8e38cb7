"""attention: attention mechanisms built only from minigrad ops, following the lecture notes."""
from attention.explain import collect_attention, explain_attention
from attention.functional import (causal_mask, check_mask, padding_mask, scaled_dot_product_attention,
                                 self_attention)
from attention.layers import LearnedPositionalEmbedding, MultiHeadAttention, SelfAttention, SinusoidalPositionalEncoding
from attention.plot import plot_attention
from attention.reweighting import gaussian_weights, kernel_smooth, nadaraya_watson
from attention.text import BPETokenizer, CharTokenizer, NGram, best_ngram, load_corpus
from attention.transformer import KVCache, TinyGPT, TransformerBlock, TransformerEncoder, TransformerStack

__all__ = ["causal_mask", "padding_mask", "check_mask", "scaled_dot_product_attention", "self_attention",
           "gaussian_weights", "kernel_smooth", "nadaraya_watson",
           "SelfAttention", "MultiHeadAttention", "SinusoidalPositionalEncoding", "LearnedPositionalEmbedding",
           "TransformerBlock", "TransformerStack", "TransformerEncoder", "TinyGPT", "KVCache", "plot_attention",
           "collect_attention", "explain_attention",
           "load_corpus", "CharTokenizer", "BPETokenizer", "NGram", "best_ngram"]
