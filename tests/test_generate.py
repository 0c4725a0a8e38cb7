"""TinyGPT.generate with and without its KV cache, and top-k / top-p sampling.

Oracle: the uncached path, a full forward on the last max_len tokens (tested on its own in
tests/test_attention_transformer.py), which the cache must reproduce token for token and
logit for logit (float64, to 1e-10); for sampling, probabilities written down by hand.
"""
import numpy as np
import pytest

from attention import TinyGPT
from attention.transformer import KVCache
from minigrad import no_grad


def model(max_len=8, vocab=11, seed=0):
    gpt = TinyGPT(vocab_size=vocab, d_model=16, n_heads=4, n_layers=2, max_len=max_len,
                  rng=np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    for p in gpt.parameters():                   # away from the init's symmetries (LayerNorm at 1 and 0)
        p.data += 0.3 * rng.standard_normal(p.shape)
    return gpt.eval()


def test_the_cache_reads_a_sequence_in_pieces_as_one_forward_reads_it_whole():
    gpt = model(max_len=12)
    tokens = np.random.default_rng(2).integers(0, 11, (3, 12))
    with no_grad():
        whole = gpt(tokens).data                                          # (3, 12, 11)
        cache = KVCache()
        pieces = [gpt.forward_cached(tokens[:, a:b], cache).data for a, b in [(0, 5), (5, 6), (6, 12)]]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, rtol=0, atol=1e-10)
    assert cache.length == 12 and cache.keys[0].shape == (3, 4, 12, 4)
    with pytest.raises(ValueError, match="12 cached and 1 new tokens exceed max_len=12"):
        gpt.forward_cached(tokens[:, :1], cache)


def test_every_step_gives_the_uncached_logits_also_past_max_len():
    gpt, rng = model(max_len=8), np.random.default_rng(3)
    idx, cache, starts = rng.integers(0, 11, (2, 3)), KVCache(), []
    with no_grad():
        for _ in range(15):                                               # 3 + 15 tokens: the window slides
            cached, uncached = gpt.next_logits(idx, cache), gpt.next_logits(idx)
            np.testing.assert_allclose(cached, uncached, rtol=0, atol=1e-10)
            np.testing.assert_allclose(uncached, gpt(idx[:, -8:]).data[:, -1], rtol=0, atol=0)
            starts.append(cache.start)
            idx = np.concatenate([idx, rng.integers(0, 11, (2, 1))], axis=1)
    # within max_len the cache only grows; past it, each step starts a new window one token on
    assert starts == [0] * 6 + [1, 2, 3, 4, 5, 6, 7, 8, 9]


@pytest.mark.parametrize("settings", [dict(greedy=True), dict(temperature=0.8), dict(top_k=3),
                                      dict(top_p=0.7, temperature=1.3), dict(top_k=5, top_p=0.9)])
def test_generated_tokens_are_the_same_with_and_without_the_cache(settings):
    gpt = model(max_len=8)
    prompt = np.random.default_rng(4).integers(0, 11, (3, 2))
    cached = gpt.generate(prompt, 20, rng=np.random.default_rng(5), kv_cache=True, **settings)
    uncached = gpt.generate(prompt, 20, rng=np.random.default_rng(5), kv_cache=False, **settings)
    assert cached.shape == (3, 22) and np.array_equal(cached[:, :2], prompt)
    np.testing.assert_array_equal(cached, uncached)
    if not settings.get("greedy"):
        assert len(np.unique(cached[:, 2:])) > 1


def fixed_distribution_model(probs):
    """A TinyGPT whose next-token probabilities are `probs` whatever the input: the head's
    weights are 0 and its bias the log-probabilities."""
    gpt = TinyGPT(vocab_size=len(probs), d_model=8, n_heads=2, n_layers=1, max_len=4,
                  rng=np.random.default_rng(0))
    gpt.head.weight.data[...] = 0.0
    gpt.head.bias.data[...] = np.log(probs)
    return gpt


@pytest.mark.parametrize("settings, expected", [
    (dict(), [0.5, 0.3, 0.15, 0.05]),
    (dict(top_k=2), [0.5 / 0.8, 0.3 / 0.8, 0, 0]),
    (dict(top_k=10), [0.5, 0.3, 0.15, 0.05]),                          # more than V: all kept
    (dict(top_p=0.75), [0.5 / 0.8, 0.3 / 0.8, 0, 0]),                 # .5 < .75, .5 + .3 reaches it
    (dict(top_p=0.5), [1, 0, 0, 0]),                                  # the first token alone reaches .5
    (dict(top_p=0.9), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0]),
    (dict(top_k=3, top_p=0.5 / 0.95 + 0.01), [0.5 / 0.8, 0.3 / 0.8, 0, 0]),  # top_p acts on the top 3 renormalised
    (dict(temperature=0.5), np.array([0.5, 0.3, 0.15, 0.05]) ** 2 / np.sum(np.array([0.5, 0.3, 0.15, 0.05]) ** 2)),
])
def test_sampling_draws_from_the_kept_tokens_in_proportion(settings, expected):
    gpt = fixed_distribution_model([0.5, 0.3, 0.15, 0.05])
    n = 20_000
    drawn = gpt.generate(np.zeros((n, 1), np.int64), 1, rng=np.random.default_rng(6), **settings)[:, 1]
    frequencies = np.bincount(drawn, minlength=4) / n
    assert np.all(frequencies[np.array(expected) == 0] == 0)
    np.testing.assert_allclose(frequencies, expected, atol=4 * np.sqrt(0.25 / n))   # 4 standard errors


@pytest.mark.parametrize("settings, message", [
    (dict(top_k=0), "top_k must be an integer >= 1"), (dict(top_k=2.5), "top_k must be an integer >= 1"),
    (dict(top_k=True), "top_k must be an integer"), (dict(top_k=-3), "top_k must be an integer >= 1"),
    (dict(top_p=0.0), r"top_p must be a probability in \(0, 1\]"), (dict(top_p=1.5), "top_p must be"),
    (dict(top_p=-0.2), "top_p must be"), (dict(top_p="0.9"), "top_p must be"),
    (dict(temperature=-1.0), "temperature must be positive"),
])
def test_sampling_settings_that_mean_nothing_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        model().generate(np.array([[1]]), 2, **settings)


def test_an_empty_prompt_is_refused():
    with pytest.raises(ValueError, match=r"T >= 1, got shape \(2, 0\)"):
        model().generate(np.zeros((2, 0), np.int64), 3)
