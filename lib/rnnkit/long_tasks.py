"""Synthetic tasks that need a long memory or a counter (used by the comparison lab, lesson 05).

Everything is generated: nothing is downloaded. Inputs are batch-first ``(N, T, D)`` float32.

delayed_recall   remember one symbol shown at the start, among distractors, for T steps
anbn             the language a^n b^n as next-symbol prediction: the network must count
"""

from __future__ import annotations

import numpy as np

IGNORE = -100
"""Target value of the positions that are not scored (``torch.nn.functional.cross_entropy``'s
default ``ignore_index``)."""


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def delayed_recall(n: int, T: int, K: int = 8, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Recall, at the last step, the symbol that was marked at the first step.

    Each sequence has ``K + 2`` channels. Channels ``0 .. K-1`` carry a one-hot symbol at every
    step but the last: the symbol to remember at step 0, random distractor symbols at steps
    ``1 .. T-2``. Channel ``K`` is a *store* marker, 1 at step 0 only; channel ``K + 1`` is a
    *recall* marker, 1 at step ``T - 1`` only (where no symbol is shown). The target is the
    symbol of step 0, so the network must keep it across ``T - 1`` steps of distractors that
    look exactly like it. Guessing scores an accuracy of ``1/K`` and a cross-entropy of
    ``log K`` (:func:`recall_baseline`).

    Args:
        n: number of sequences, N.
        T: sequence length, at least 2 (the delay is ``T - 1`` steps).
        K: number of symbols, at least 2.
        seed: an int or a ``np.random.Generator``.

    Returns:
        x: ``(N, T, K + 2)`` float32 inputs.
        y: ``(N,)`` int64 targets in ``0 .. K-1``.
    """
    if T < 2:
        raise ValueError(f"delayed_recall needs T >= 2 (store, then recall), got T={T}")
    if K < 2 or n < 1:
        raise ValueError(f"delayed_recall needs K >= 2 symbols and n >= 1 sequences, got K={K}, n={n}")
    rng = _rng(seed)
    symbols = rng.integers(0, K, size=(n, T))                         # (N, T)
    x = np.zeros((n, T, K + 2), dtype=np.float32)
    rows = np.arange(n)[:, None]
    steps = np.arange(T - 1)[None, :]
    x[rows, steps, symbols[:, :T - 1]] = 1.0                          # symbols, last step empty
    x[:, 0, K] = 1.0                                                  # store marker
    x[:, T - 1, K + 1] = 1.0                                          # recall marker
    return x, symbols[:, 0].astype(np.int64)


def recall_baseline(K: int = 8) -> dict:
    """What guessing scores on :func:`delayed_recall`: ``{"accuracy": 1/K, "cross_entropy": log K}``."""
    return {"accuracy": 1.0 / K, "cross_entropy": float(np.log(K))}


ANBN_SYMBOLS = ("a", "b")
"""Input channels of :func:`anbn`: one-hot ``a`` (channel 0) and ``b`` (channel 1)."""
ANBN_CLASSES = ("b", "end")
"""Target classes of :func:`anbn`: after a ``b`` comes another ``b`` (0) or the end (1)."""


def anbn(ns, length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Strings a^n b^n as next-symbol prediction, scored where the next symbol is determined.

    The network reads ``a`` n times, then ``b`` n times, one symbol per step. While it reads
    the a's the next symbol may be another ``a`` or the first ``b``: those steps are not scored
    (target :data:`IGNORE`). From the first ``b`` on the continuation is forced: after the
    k-th ``b`` comes another ``b`` if ``k < n`` and the end of the string if ``k = n``. To get
    these right for every n the network must count the a's and count them down (Weiss,
    Goldberg and Yahav, 2018). Strings shorter than ``length`` are padded with zero inputs and
    :data:`IGNORE` targets after their end.

    Args:
        ns: the values of n, one per sequence (each at least 1).
        length: padded length L, at least ``2 * max(ns)``; default ``2 * max(ns)``.

    Returns:
        x: ``(N, L, 2)`` float32 one-hot inputs (channel 0 ``a``, channel 1 ``b``).
        y: ``(N, L)`` int64 targets: 0 (``b`` comes next), 1 (the string ends) or
           :data:`IGNORE`. ``y[i, t]`` is the prediction made after reading step t.
    """
    ns = np.asarray(ns, dtype=np.int64).ravel()
    if ns.size == 0 or ns.min() < 1:
        raise ValueError("anbn needs at least one n, each n >= 1")
    L = int(2 * ns.max()) if length is None else int(length)
    if L < 2 * ns.max():
        raise ValueError(f"length={L} is too short for n={int(ns.max())} (needs {2 * int(ns.max())})")
    N = ns.size
    t = np.arange(L)[None, :]                                         # (1, L)
    n = ns[:, None]                                                   # (N, 1)
    x = np.zeros((N, L, 2), dtype=np.float32)
    x[..., 0] = t < n                                                 # a's
    x[..., 1] = (t >= n) & (t < 2 * n)                                # b's
    y = np.full((N, L), IGNORE, dtype=np.int64)
    y[(t >= n) & (t < 2 * n - 1)] = 0                                 # another b follows
    y[t == 2 * n - 1] = 1                                             # the string ends
    return x, y
