"""Real text for a language model: a corpus that needs no download, two tokenizers, and
the n-gram baseline a model must beat.

    text = load_corpus()                        # CPython's own help pages: ~465k characters
    tok = CharTokenizer.fit(text)               # or BPETokenizer.train(text, vocab_size=512)
    ids = tok.encode(text)                      # int64 array; tok.decode(ids) == text
    baseline, loss = best_ngram(ids[:n], ids[n:], tok.vocab_size)   # nats per token

Every tokenizer and the n-gram counts run on whole NumPy arrays, so the whole corpus takes
seconds.  A tokenizer saves to one .npz through `minigrad.save` (no pickle).
"""
import math
import os

import numpy as np

import minigrad

BUILTIN = "python-docs"


def load_corpus(source=None, min_length=2):
    """The text of `source` as a str: "python-docs" (the default) or the path of a UTF-8 file.

    "python-docs" is the help text that ships inside every CPython (`pydoc_data.topics`,
    what `help("if")` shows), its topics in alphabetical order, so it works offline with
    nothing to install.  min_length: the fewest characters the caller can use (e.g. enough
    for a training window and a validation split); a shorter text is an error.
    """
    if source is None or source == BUILTIN:
        from pydoc_data.topics import topics
        text = "\n\n".join(topics[name] for name in sorted(topics))
    else:
        text = _read_utf8(os.fspath(source))
    if len(text) < min_length:
        raise ValueError(f"load_corpus: {source or BUILTIN!r} has {len(text)} characters, fewer than the "
                         f"{min_length} needed (the context length and a validation split must fit)")
    return text


def _read_utf8(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_corpus: no file {path!r} (pass the path of a UTF-8 text file, "
                                f"or {BUILTIN!r} for the built-in corpus)")
    if os.path.isdir(path):
        raise IsADirectoryError(f"load_corpus: {path!r} is a folder; pass the path of a UTF-8 text file")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"load_corpus: {path!r} is not UTF-8 text: byte {raw[err.start]:#04x} at offset "
                         f"{err.start} cannot be decoded ({err.reason}); convert the file to UTF-8 first, "
                         f"e.g. iconv -f latin1 -t utf-8") from err


def _check_ids(ids, vocab_size, where):
    """ids as an int64 array after checking they are integer ids below vocab_size."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu" and not (ids.size == 0 and ids.dtype.kind == "f"):
        raise TypeError(f"{where}: ids must be integers, got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    bad = (ids < 0) | (ids >= vocab_size)
    if bad.any():
        raise ValueError(f"{where}: id {ids[bad][0]} is not in the vocabulary (ids 0..{vocab_size - 1})")
    return ids


def tokenizer_from_state(state):
    """The tokenizer a `state_dict()` describes (its "kind" says which class)."""
    kinds = {"char": CharTokenizer, "bpe": BPETokenizer}
    kind = state.get("kind") if isinstance(state, dict) else None
    if kind not in kinds:
        raise ValueError(f"tokenizer_from_state: expected a dict with kind one of {sorted(kinds)}, "
                         f"got kind {kind!r}")
    return kinds[kind].from_state(state)


class _Tokenizer:
    """What both tokenizers share: the vocabulary size, save and load."""

    def __repr__(self):
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"

    def save(self, path):
        """Write the tokenizer to an .npz file (no pickle); returns the path written."""
        return minigrad.save(self.state_dict(), path)

    @classmethod
    def load(cls, path):
        """The tokenizer that save(path) wrote."""
        return cls.from_state(minigrad.load(path))

    @classmethod
    def _check_state(cls, state, *keys):
        if not isinstance(state, dict) or state.get("kind") != cls.kind or any(k not in state for k in keys):
            raise ValueError(f"{cls.__name__}: not a saved {cls.__name__} (expected kind {cls.kind!r} "
                             f"and keys {list(keys)})")


class CharTokenizer(_Tokenizer):
    """One id per distinct character, in code-point order: the tokenizer of char-level models.

    encode(str) -> int64 ids (N,); decode(ids) -> str.  Vectorised: characters are looked
    up as UTF-32 code points with np.searchsorted, so a million characters take milliseconds.
    """
    kind = "char"

    def __init__(self, chars):
        codes = np.array(sorted({ord(c) for c in chars}), dtype=np.uint32)
        if codes.size == 0:
            raise ValueError("CharTokenizer: the text has no characters to build a vocabulary from")
        self.codes = codes                                  # (V,) code point of each id, ascending
        self.vocab_size = int(codes.size)

    @classmethod
    def fit(cls, text):
        """A tokenizer whose vocabulary is the distinct characters of text."""
        return cls(text)

    @property
    def chars(self):
        """The vocabulary as a str: character i has id i."""
        return self.codes.tobytes().decode("utf-32-le")

    def encode(self, text):
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)   # (N,)
        ids = np.searchsorted(self.codes, codes)                          # (N,) where each would sit
        ids_clipped = np.minimum(ids, self.vocab_size - 1)
        unknown = self.codes[ids_clipped] != codes
        if unknown.any():
            i = int(np.argmax(unknown))
            raise ValueError(f"CharTokenizer.encode: character {text[i]!r} (U+{ord(text[i]):04X}, "
                             f"position {i}) is not in the vocabulary of {self.vocab_size} characters it was fitted on")
        return ids.astype(np.int64)

    def decode(self, ids):
        ids = _check_ids(ids, self.vocab_size, "CharTokenizer.decode")
        return self.codes[ids.ravel()].tobytes().decode("utf-32-le")

    def state_dict(self):
        return {"kind": self.kind, "codes": self.codes.astype(np.int64)}

    @classmethod
    def from_state(cls, state):
        cls._check_state(state, "codes")
        return cls("".join(map(chr, np.asarray(state["codes"]).tolist())))


class BPETokenizer(_Tokenizer):
    """Byte-level byte-pair encoding: ids 0-255 are the UTF-8 bytes, and each merge learned
    in training adds one id for the most frequent adjacent pair of ids.

    Any str encodes (every string is bytes) and decodes back exactly.  `merges` (M, 2):
    merge r makes id 256 + r from the pair merges[r]; `vocab_size` = 256 + M.
    """
    kind = "bpe"

    def __init__(self, merges=()):
        merges = np.asarray(merges, dtype=np.int64).reshape(-1, 2)
        made = 256 + np.arange(len(merges))
        if len(merges) and ((merges < 0).any() or (merges >= made[:, None]).any()):
            raise ValueError("BPETokenizer: each merge must join two ids made before it")
        self.merges = merges                                               # (M, 2)
        self.vocab_size = 256 + len(merges)
        self.pieces = [bytes([b]) for b in range(256)]                     # id -> the bytes it stands for
        for a, b in merges.tolist():
            self.pieces.append(self.pieces[a] + self.pieces[b])

    @classmethod
    def train(cls, text, vocab_size):
        """Learn vocab_size - 256 merges from text: each time, the most frequent adjacent pair
        (ties: the pair seen first) becomes a new id.  Stops early when no pair occurs twice.

        Each merge counts all pairs at once (np.unique on pair codes a V + b) and replaces
        them in one vectorised pass, so 100k characters to 512 ids take about a second.
        """
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 256:
            raise ValueError(f"BPETokenizer.train: vocab_size must be an integer >= 256 (the 256 bytes come "
                             f"first), got {vocab_size!r}")
        ids = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        merges = []
        for new_id in range(256, int(vocab_size)):
            if ids.size < 2:
                break
            codes = ids[:-1] * new_id + ids[1:]                            # (N - 1,) one code per pair
            unique, first, counts = np.unique(codes, return_index=True, return_counts=True)
            best = counts.max()
            if best < 2:
                break
            tied = counts == best
            code = unique[tied][np.argmin(first[tied])]                     # the most frequent, seen first
            pair = (int(code // new_id), int(code % new_id))
            merges.append(pair)
            ids = _merge(ids, pair, new_id)
        return cls(merges)

    def encode(self, text):
        """str -> int64 ids: the merges replayed in the order they were learned.

        Replaying merge r after merges 0..r-1 is the same as always merging the lowest-ranked
        pair present: a merge only creates pairs with its new id, whose merges come later.
        """
        ids = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        for r, pair in enumerate(self.merges.tolist()):
            if ids.size < 2:
                break
            ids = _merge(ids, pair, 256 + r)
        return ids

    def decode(self, ids):
        """ids -> str.  A sequence of ids that splits a character's bytes (a model's sample can)
        shows U+FFFD there; ids from encode always decode to the exact text."""
        ids = _check_ids(ids, self.vocab_size, "BPETokenizer.decode")
        return b"".join(self.pieces[i] for i in ids.ravel().tolist()).decode("utf-8", errors="replace")

    def state_dict(self):
        return {"kind": self.kind, "merges": self.merges.copy()}

    @classmethod
    def from_state(cls, state):
        cls._check_state(state, "merges")
        return cls(state["merges"])


def _merge(ids, pair, new_id):
    """ids (N,) with every occurrence of pair replaced by new_id, left to right.

    Occurrences of (a, b) can overlap only when a == b ("aaa" holds "aa" twice); then, as a
    left-to-right scan would, each run of overlapping matches keeps its 1st, 3rd, ... match.
    """
    a, b = pair
    starts = np.flatnonzero((ids[:-1] == a) & (ids[1:] == b))            # (K,) where each match starts
    if starts.size == 0:
        return ids
    if a == b:
        new_run = np.ones(starts.size, dtype=bool)
        new_run[1:] = np.diff(starts) != 1                                 # a match not right after another
        run_start = starts[new_run][np.cumsum(new_run) - 1]                # (K,) where each one's run starts
        starts = starts[(starts - run_start) % 2 == 0]
    out = ids.copy()
    out[starts] = new_id
    return np.delete(out, starts + 1)


class NGram:
    """A character (or token) n-gram model with add-k smoothing: the baseline to beat.

        p(token | the n - 1 tokens before) = (count(context, token) + k) / (count(context) + k V)

    fit(ids, vocab_size) counts every window of n tokens; loss(ids) is the mean negative
    log-likelihood, in nats per token, over the positions that have a full context
    (index n - 1 onwards).  Windows are coded as integers (base V) and counted with
    np.unique, so fitting the whole corpus takes well under a second per n.
    """

    def __init__(self, n, k=1.0):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"NGram: n must be an integer >= 1, got {n!r}")
        if not (isinstance(k, (int, float, np.floating)) and k > 0 and math.isfinite(k)):
            raise ValueError(f"NGram: k must be a positive number (k = 0 gives unseen tokens probability 0 "
                             f"and an infinite loss), got {k!r}")
        self.n, self.k, self.vocab_size = int(n), float(k), None

    def __repr__(self):
        return f"NGram(n={self.n}, k={self.k:g})"

    def _codes(self, ids):
        """(context code, window code) of every full window: each (N - n + 1,)."""
        windows = np.lib.stride_tricks.sliding_window_view(ids, self.n)   # (N - n + 1, n)
        powers = self.vocab_size ** np.arange(self.n - 1, -1, -1, dtype=np.int64)  # (n,)
        context = windows[:, :-1] @ powers[1:] if self.n > 1 else np.zeros(len(windows), np.int64)
        return context, windows @ powers

    def fit(self, ids, vocab_size):
        """Count the windows of ids (integer array, values < vocab_size); returns self."""
        if self.n * math.log2(vocab_size) >= 63:
            raise ValueError(f"NGram.fit: an {self.n}-gram over {vocab_size} ids does not fit a 64-bit code "
                             f"(V^n = {vocab_size}^{self.n}); use a smaller n")
        self.vocab_size = int(vocab_size)
        ids = _check_ids(ids, self.vocab_size, "NGram.fit")
        if ids.size < self.n:
            raise ValueError(f"NGram.fit: {ids.size} ids hold no window of n={self.n}")
        context, window = self._codes(ids)
        self.context_codes, self.context_counts = np.unique(context, return_counts=True)
        self.window_codes, self.window_counts = np.unique(window, return_counts=True)
        return self

    def counts(self, ids):
        """(count(context, token), count(context)) at every position with a full context: each (N - n + 1,)."""
        if self.vocab_size is None:
            raise RuntimeError("NGram: call fit(ids, vocab_size) before counts or loss")
        ids = _check_ids(ids, self.vocab_size, "NGram")
        if ids.size < self.n:
            raise ValueError(f"NGram: {ids.size} ids hold no window of n={self.n}")
        context, window = self._codes(ids)
        return _lookup(self.window_codes, self.window_counts, window), \
            _lookup(self.context_codes, self.context_counts, context)

    def loss(self, ids):
        """Mean -log p(token | context) in nats per token over the positions n - 1 onwards."""
        joint, context = self.counts(ids)
        return float(-np.mean(np.log((joint + self.k) / (context + self.k * self.vocab_size))))


def _lookup(codes, counts, queries):
    """counts[codes == q] for every query (0 where q was never counted); codes sorted."""
    where = np.minimum(np.searchsorted(codes, queries), len(codes) - 1)
    return np.where(codes[where] == queries, counts[where], 0)


def best_ngram(train_ids, val_ids, vocab_size, ns=range(1, 7), ks=(1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0)):
    """(model, validation loss) of the n-gram (n in ns, add-k with k in ks) that is best on val_ids.

    Each n is counted once on train_ids; every k is then scored from the same counts.
    An n too large for 64-bit window codes at this vocabulary size is left out.
    """
    best_model, best_k, best_loss = None, None, math.inf
    for n in ns:
        if n * math.log2(vocab_size) >= 63:
            continue
        model = NGram(n).fit(train_ids, vocab_size)
        joint, context = model.counts(val_ids)
        for k in ks:
            loss = float(-np.mean(np.log((joint + k) / (context + k * vocab_size))))
            if loss < best_loss:
                best_model, best_k, best_loss = model, k, loss
    if best_model is None:
        raise ValueError(f"best_ngram: no n in {list(ns)} fits a vocabulary of {vocab_size}")
    best_model.k = float(best_k)
    return best_model, best_loss
