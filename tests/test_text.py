"""attention.text: the corpus, the tokenizers and the n-gram baseline, against examples worked
by hand, plain-Python reimplementations, and counts made with collections.Counter."""
import collections
import math

import numpy as np
import pytest

from attention.text import BPETokenizer, CharTokenizer, NGram, best_ngram, load_corpus, tokenizer_from_state

KOREAN_AND_EMOJI = "한국어 문장도 그대로: 안녕하세요! 🙂👍🏽 café naïve ∑ 𝔘"


# ---- the corpus ------------------------------------------------------------------------

def test_the_builtin_corpus_is_cpythons_help_text():
    text = load_corpus()
    assert text == load_corpus("python-docs")
    assert len(text) > 300_000 and 'The "assert" statement' in text
    from pydoc_data.topics import topics
    assert text.startswith(topics[sorted(topics)[0]])


def test_a_file_is_read_as_utf8(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text(KOREAN_AND_EMOJI, encoding="utf-8")
    assert load_corpus(path) == KOREAN_AND_EMOJI
    assert load_corpus(str(path)) == KOREAN_AND_EMOJI


def test_clear_errors_for_a_missing_file_other_bytes_and_a_short_text(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file .*nothing.txt.*python-docs"):
        load_corpus(tmp_path / "nothing.txt")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        load_corpus(tmp_path)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match=r"not UTF-8 text: byte 0xe9 at offset 3"):
        load_corpus(latin1)
    short = tmp_path / "short.txt"
    short.write_text("abc", encoding="utf-8")
    with pytest.raises(ValueError, match="has 3 characters, fewer than the 100 needed"):
        load_corpus(short, min_length=100)


# ---- characters ------------------------------------------------------------------------

def test_char_tokenizer_numbers_the_distinct_characters_in_code_point_order(tmp_path):
    tok = CharTokenizer.fit("hello")
    assert tok.vocab_size == 4 and tok.chars == "ehlo"
    ids = tok.encode("hello")
    assert ids.dtype == np.int64 and ids.tolist() == [1, 0, 2, 2, 3]
    assert tok.decode([3, 2, 0]) == "ole" and tok.decode(np.array([], dtype=np.int64)) == ""
    korean = CharTokenizer.fit(KOREAN_AND_EMOJI)
    assert korean.decode(korean.encode(KOREAN_AND_EMOJI)) == KOREAN_AND_EMOJI
    assert korean.vocab_size == len(set(KOREAN_AND_EMOJI))
    again = CharTokenizer.load(korean.save(tmp_path / "chars"))
    assert again.chars == korean.chars and again.encode("안녕").tolist() == korean.encode("안녕").tolist()
    assert tokenizer_from_state(korean.state_dict()).chars == korean.chars


def test_char_tokenizer_names_what_it_does_not_know():
    tok = CharTokenizer.fit("hello")
    with pytest.raises(ValueError, match=r"character 'z' \(U\+007A, position 2\) is not in the vocabulary"):
        tok.encode("hez")
    with pytest.raises(ValueError, match=r"id 4 is not in the vocabulary \(ids 0..3\)"):
        tok.decode([0, 4])
    with pytest.raises(ValueError, match="id -1"):
        tok.decode([-1])
    with pytest.raises(TypeError, match="ids must be integers"):
        tok.decode([0.5])


# ---- byte-pair encoding ----------------------------------------------------------------

def test_bpe_reproduces_wikipedias_example():
    # aaabdaaabac: "aa" (4 times) -> Z; ZabdZabac: "Za" and "ab" twice each, "Za" seen first -> Y;
    # YbdYbac: "Yb" -> X; XdXac.  (Wikipedia merges "ab" second and gets the same ids.)
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=259)
    assert tok.merges.tolist() == [[97, 97], [256, 97], [257, 98]]
    assert tok.encode("aaabdaaabac").tolist() == [258, 100, 258, 97, 99]
    assert tok.vocab_size == 259 and tok.pieces[258] == b"aaab"
    assert tok.decode([258, 100, 258, 97, 99]) == "aaabdaaabac"


def test_bpe_merges_overlapping_pairs_left_to_right():
    tok = BPETokenizer.train("aaaa", vocab_size=257)                 # "aa": 3 overlapping, merged twice
    assert tok.merges.tolist() == [[97, 97]]
    assert tok.encode("aaaaa").tolist() == [256, 256, 97]
    assert tok.encode("aaa baa").tolist() == [256, 97, 32, 98, 256]


def plain_bpe(text, vocab_size):
    """A direct transcription of the algorithm, in plain Python: the oracle for train."""
    ids, merges = list(text.encode("utf-8")), []
    for new_id in range(256, vocab_size):
        counts = collections.Counter(zip(ids, ids[1:]))              # insertion order = first seen
        if not counts or max(counts.values()) < 2:
            break
        pair = max(counts, key=counts.get)                           # the first of the most frequent
        merges.append(list(pair))
        out, i = [], 0
        while i < len(ids):
            if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
                out.append(new_id)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out
    return merges, ids


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bpe_training_and_encoding_match_a_plain_python_version(seed):
    rng = np.random.default_rng(seed)
    text = "".join(rng.choice(list("aab ccd한🙂"), size=400))
    merges, ids = plain_bpe(text, 300)
    tok = BPETokenizer.train(text, 300)
    assert tok.merges.tolist() == merges
    assert tok.encode(text).tolist() == ids
    assert tok.decode(tok.encode(text)) == text


def test_bpe_round_trips_any_text_and_saves_without_pickle(tmp_path):
    tok = BPETokenizer.train(load_corpus()[:20_000], vocab_size=300)
    assert tok.vocab_size == 300
    for text in [KOREAN_AND_EMOJI, "", "x", "\x00\n\t", "🙂" * 7, load_corpus()[-3000:]]:
        ids = tok.encode(text)
        assert ids.dtype == np.int64 and tok.decode(ids) == text
    korean = BPETokenizer.train(KOREAN_AND_EMOJI * 3, vocab_size=280)
    assert len(korean.encode(KOREAN_AND_EMOJI)) < len(KOREAN_AND_EMOJI.encode("utf-8"))
    assert korean.decode(korean.encode(KOREAN_AND_EMOJI)) == KOREAN_AND_EMOJI
    again = BPETokenizer.load(tok.save(tmp_path / "bpe.npz"))
    assert again.merges.tolist() == tok.merges.tolist()
    assert again.encode(KOREAN_AND_EMOJI).tolist() == tok.encode(KOREAN_AND_EMOJI).tolist()
    assert tokenizer_from_state(tok.state_dict()).merges.tolist() == tok.merges.tolist()


def test_bpe_decodes_a_split_character_with_the_replacement_mark_and_refuses_bad_settings():
    tok = BPETokenizer()
    ids = tok.encode("한")                                            # three UTF-8 bytes
    assert ids.tolist() == [0xED, 0x95, 0x9C] and tok.decode(ids[:2]) == "\ufffd"
    with pytest.raises(ValueError, match="vocab_size must be an integer >= 256"):
        BPETokenizer.train("abc", vocab_size=100)
    with pytest.raises(ValueError, match="id 256 is not in the vocabulary"):
        tok.decode([256])
    with pytest.raises(ValueError, match="not a saved BPETokenizer"):
        BPETokenizer.from_state(CharTokenizer.fit("ab").state_dict())
    assert BPETokenizer.train("abcd", vocab_size=300).vocab_size == 256  # no pair occurs twice


# ---- the n-gram baseline ---------------------------------------------------------------

def direct_counts(ids, n):
    """Counts of every n-window and its context at positions n-1 onwards, with Counter, in plain Python."""
    ids = [int(i) for i in ids]
    windows = collections.Counter(tuple(ids[t - n + 1:t + 1]) for t in range(n - 1, len(ids)))
    contexts = collections.Counter(tuple(ids[t - n + 1:t]) for t in range(n - 1, len(ids)))
    return windows, contexts


def test_ngram_counts_and_loss_match_a_direct_count_on_a_tiny_text():
    tok = CharTokenizer.fit("abracadabra")
    train, val = tok.encode("abracadabra"), tok.encode("abrac")        # vocabulary a b c d r: V = 5
    model = NGram(2, k=0.5).fit(train, 5)
    # By hand: bigrams of abracadabra: ab 2, br 2, ra 2, ac 1, ca 1, ad 1, da 1; contexts a 4, b 2, r 2, c 1, d 1.
    # val "abrac": ab, br, ra, ac -> (2 + .5)/(4 + 2.5), (2 + .5)/(2 + 2.5), (2 + .5)/(2 + 2.5), (1 + .5)/(4 + 2.5)
    joint, context = model.counts(val)
    assert joint.tolist() == [2, 2, 2, 1] and context.tolist() == [4, 2, 2, 4]
    expected = -np.mean(np.log([2.5 / 6.5, 2.5 / 4.5, 2.5 / 4.5, 1.5 / 6.5]))
    assert model.loss(val) == pytest.approx(expected, rel=1e-12)
    unigram = NGram(1, k=1.0).fit(train, 5)                             # a 5, b 2, r 2, c 1, d 1 of 11
    assert unigram.loss(tok.encode("dd")) == pytest.approx(-np.log(2 / 16), rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_ngram_loss_matches_counter_on_random_ids(n):
    rng = np.random.default_rng(n)
    V, k = 4, 0.1
    train, val = rng.integers(0, V, 300), rng.integers(0, V, 80)
    windows, contexts = direct_counts(train, n)
    vals = [int(i) for i in val]
    expected = -np.mean([math.log((windows[tuple(vals[t - n + 1:t + 1])] + k)
                                  / (contexts[tuple(vals[t - n + 1:t])] + k * V)) for t in range(n - 1, len(vals))])
    assert NGram(n, k).fit(train, V).loss(val) == pytest.approx(expected, rel=1e-12)


def test_best_ngram_picks_the_pair_with_the_lowest_validation_loss():
    rng = np.random.default_rng(5)
    V = 3
    text = rng.integers(0, V, 2000)
    text[2::3] = (text[:-2:3] + text[1:-1:3]) % V                    # every third token follows from two
    train, val = text[:1500], text[1500:]
    model, loss = best_ngram(train, val, V, ns=(1, 2, 3, 4), ks=(0.01, 1.0))
    grid = {(n, k): NGram(n, k).fit(train, V).loss(val) for n in (1, 2, 3, 4) for k in (0.01, 1.0)}
    assert (model.n, model.k) == min(grid, key=grid.get) and loss == pytest.approx(min(grid.values()), rel=1e-12)
    assert model.loss(val) == pytest.approx(loss, rel=1e-12)


def test_ngram_refuses_bad_settings():
    with pytest.raises(ValueError, match="k must be a positive number"):
        NGram(2, k=0)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        NGram(0)
    with pytest.raises(ValueError, match="does not fit a 64-bit code"):
        NGram(7, 1.0).fit(np.zeros(10, np.int64), 1000)
    with pytest.raises(RuntimeError, match="call fit"):
        NGram(2).loss([0, 1])
    with pytest.raises(ValueError, match="id 7 is not in the vocabulary"):
        NGram(2).fit([0, 7], 5)
