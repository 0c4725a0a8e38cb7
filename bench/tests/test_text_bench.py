"""bench/text.py's PyTorch model is demo 11's TinyGPT: the same logits from the same weights,
with its KV cache and without (skipped where PyTorch is not installed: it is never a dependency)."""
import numpy as np
import pytest

from bench import text


def test_the_torch_model_computes_tinygpts_logits_with_and_without_its_cache():
    torch = pytest.importorskip("torch", reason="PyTorch is an optional peer of the benchmark")
    model = text.tiny_gpt(max_len=16)
    weights, _ = text.torch_gpt(model)
    tokens = np.random.default_rng(0).integers(0, text.VOCAB, (2, 16))
    expected = model(tokens).data                                              # (2, 16, V)
    whole = text.torch_forward(torch, weights, torch.from_numpy(tokens)).detach().numpy()
    np.testing.assert_allclose(whole, expected, rtol=1e-4, atol=1e-4)
    cache, pieces = [], []
    for start, stop in [(0, 5), (5, 6), (6, 16)]:
        piece = text.torch_forward(torch, weights, torch.from_numpy(tokens[:, start:stop]), cache, offset=start)
        pieces.append(piece.detach().numpy())
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), expected, rtol=1e-4, atol=1e-4)
