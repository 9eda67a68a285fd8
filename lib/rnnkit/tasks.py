"""Synthetic sequence tasks and a small character corpus.

Everything here is generated or written by this project: nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

ADDING_BASELINE_MSE = 1.0 / 6.0
"""Test MSE of always predicting 1 on the adding problem: Var(u1 + u2) = 2 * (1/12)."""


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def adding_problem(n: int, T: int, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem, in the form of Le, Jaitly & Hinton (2015) and Arjovsky, Shah & Bengio
    (2016): a simplified version of experiment 4 of Hochreiter & Schmidhuber (1997), whose values
    lie in [-1, 1], whose first marker falls in the first ten steps, and whose target is scaled.

    Each sequence has two channels: channel 0 holds values drawn uniformly from [0, 1];
    channel 1 is a marker that is 1 at exactly two steps (one in the first half, one in the
    second half) and 0 elsewhere. The target is the sum of the two marked values, so a model
    must carry the first value across up to ``T`` steps. Always predicting 1 scores a mean
    squared error of 1/6 (:data:`ADDING_BASELINE_MSE`).

    Args:
        n: number of sequences, N.
        T: sequence length, at least 2.
        seed: an int or a ``np.random.Generator``.

    Returns:
        x: ``(N, T, 2)`` float32 inputs, batch-first.
        y: ``(N,)`` float32 targets in [0, 2].
    """
    if T < 2:
        raise ValueError(f"adding_problem needs T >= 2 (two marked steps), got T={T}")
    if n < 1:
        raise ValueError(f"adding_problem needs n >= 1 sequences, got n={n}")
    rng = _rng(seed)
    values = rng.random((n, T), dtype=np.float32)                    # (N, T)
    half = T // 2
    first = rng.integers(0, half, size=n)                            # (N,)
    second = rng.integers(half, T, size=n)                           # (N,)
    markers = np.zeros((n, T), dtype=np.float32)                     # (N, T)
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1)                         # (N, T, 2)
    y = values[rows, first] + values[rows, second]                   # (N,)
    return x, y.astype(np.float32)


TINY_TEXT = """\
a recurrent network reads a sequence one step at a time. at every step it mixes the new input
with its hidden state, and the hidden state is all it remembers of the past. the same weights
are used at every step, so the network can read a sequence of any length.
to train it we unroll the loop in time and send the error back through every step. the
gradient that reaches an early step is a product of many jacobians. when that product shrinks
the early steps learn nothing, and when it grows the updates explode.
the lstm keeps a cell state that is updated by addition. a forget gate decides what to keep,
an input gate decides what to write, and an output gate decides what to show. the gru merges
the forget and input gates into one update gate and keeps no separate cell.
gates let the error flow back across many steps, and that is why gated networks remember.
"""
"""A short English text about recurrent networks, written for this course (lower case)."""


class Vocab:
    """A character vocabulary: maps characters to integer ids and back.

    Ids are assigned in sorted character order, so the same text always gives the same ids.

    Args:
        text: the characters to index (duplicates are ignored).
    """

    def __init__(self, text: str):
        if not text:
            raise ValueError("Vocab needs a non-empty text to build its alphabet from")
        self.chars = sorted(set(text))
        self.index = {ch: i for i, ch in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Map a string to a ``(len(text),)`` int64 array of ids."""
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise KeyError(f"characters not in the vocabulary: {unknown!r}; "
                           f"build the Vocab from a text that contains them")
        return np.array([self.index[ch] for ch in text], dtype=np.int64)

    def decode(self, ids) -> str:
        """Map a sequence of ids back to a string."""
        return "".join(self.chars[int(i)] for i in np.asarray(ids).ravel())

    def one_hot(self, ids, dtype=np.float64) -> np.ndarray:
        """One-hot encode ids of any shape ``S`` into an array of shape ``S + (V,)``."""
        ids = np.asarray(ids)
        out = np.zeros(ids.shape + (len(self),), dtype=dtype)
        np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
        return out


class CharCorpus:
    """A text as a stream of character ids, cut into next-character prediction batches.

    Args:
        text: the corpus; defaults to :data:`TINY_TEXT`.

    Attributes:
        vocab: the :class:`Vocab` of the text.
        data: ``(L,)`` int64 ids of the whole text.
    """

    def __init__(self, text: str = TINY_TEXT):
        self.text = text
        self.vocab = Vocab(text)
        self.data = self.vocab.encode(text)

    def batch(self, n: int, T: int, seed=0) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` random windows of length ``T`` and their next-character targets.

        Returns:
            inputs: ``(N, T)`` int64 ids ``data[s : s+T]``.
            targets: ``(N, T)`` int64 ids ``data[s+1 : s+T+1]``.
        """
        if T + 1 > len(self.data):
            raise ValueError(f"T={T} is too long for a corpus of {len(self.data)} characters")
        rng = _rng(seed)
        starts = rng.integers(0, len(self.data) - T, size=n)          # (N,)
        idx = starts[:, None] + np.arange(T + 1)[None, :]             # (N, T+1)
        window = self.data[idx]                                       # (N, T+1)
        return window[:, :-1], window[:, 1:]
