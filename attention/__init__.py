"""attention: attention mechanisms built only from minigrad ops, following the lecture notes."""
from attention.functional import causal_mask, padding_mask, scaled_dot_product_attention, self_attention
from attention.reweighting import gaussian_weights, kernel_smooth, nadaraya_watson

__all__ = ["causal_mask", "padding_mask", "scaled_dot_product_attention", "self_attention",
           "gaussian_weights", "kernel_smooth", "nadaraya_watson"]
