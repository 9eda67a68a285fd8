"""Character-level language modelling in the comparison lab (lesson 05): LSTM against GRU at a
matched parameter budget, on the text lesson 06 trains its character model on.

The text is :func:`rnnkit.series.shakespeare_text` (about 200,000 characters, 62 distinct),
split as in lesson 06: the first 90% for training, the next 5% for validation, the last 5% for
the test; :data:`HELD_OUT` characters of each held-out part are scored.

The model reads one-hot characters: a :class:`rnnkit.experiments.SeqNet` with ``input_size``
and ``out_size`` the vocabulary size V, reading out every step. Its hidden sizes
(:data:`LM_HIDDEN`) give the LSTM, the GRU and the plain RNN the same number of parameters,
recurrent layer and read-out together, within 1% (checked by the tests). The LSTM's forget gate
and the GRU's update gate start at :data:`rnnkit.experiments.KEEP_BIAS`.

Training follows lesson 06's loop, smaller and shorter: random windows of ``T`` characters from
a zero state, teacher forcing (the target of step t is character t + 1), Adam with a cosine
decay of the learning rate to zero, clipping by global norm 1. Held-out text is scored the way
lesson 06 scores it, read in order with the state carried from piece to piece, here in
:data:`STREAMS` parallel streams (the held-out text cut into that many consecutive parts, each
read from a zero state at its start).
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from .series import shakespeare_text
from .training import progress

LM_HIDDEN = {"lstm": 128, "gru": 150, "rnn": 268}
"""Hidden sizes at one budget for V = 62 characters: LSTM 106,302 parameters (recurrent layer
98,304 and read-out 7,998), GRU 105,662, plain RNN 105,654 (each the largest hidden size
within the LSTM's count; within 1% of it)."""

HELD_OUT = 10_000
"""Characters of the validation part and of the test part that are scored (as lesson 06)."""

STREAMS = 10
"""Parallel streams the held-out text is read in (each ``HELD_OUT / STREAMS`` characters)."""


@functools.lru_cache(maxsize=2)
def char_data(max_chars: int | None = None, held_out: int = HELD_OUT) -> dict:
    """The text as character ids, split 90% / 5% / 5% as in lesson 06.

    Returns ``{"vocab": the characters in id order (a str of length V), "train": (L_train,),
    "val": (held_out,), "test": (held_out,)}``, the parts int64 tensors (the held-out parts cut
    to at most ``held_out`` characters).
    """
    text = shakespeare_text(max_chars)
    vocab = "".join(sorted(set(text)))
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.int64)       # (L,)
    cut1, cut2 = int(0.9 * len(ids)), int(0.95 * len(ids))
    return {"vocab": vocab, "train": ids[:cut1], "val": ids[cut1:cut2][:held_out],
            "test": ids[cut2:][:held_out]}


def lm_model(kind: str, vocab_size: int, hidden_size: int | None = None):
    """A :class:`rnnkit.experiments.SeqNet` that reads one-hot characters ``(N, T, V)`` and
    returns logits ``(N, T, V)``, at the budget of :data:`LM_HIDDEN` by default."""
    from .experiments import build
    return build(kind, vocab_size, out_size=vocab_size, per_step=True,
                 hidden_size=hidden_size or LM_HIDDEN[kind])


def _one_hot(ids: torch.Tensor, V: int) -> torch.Tensor:
    return F.one_hot(ids, V).to(torch.float32)                            # (N, T, V)


@torch.no_grad()
def lm_loss(model, ids: torch.Tensor, V: int, streams: int = STREAMS, piece: int = 128) -> float:
    """Mean cross-entropy per character (nats) of ``model`` over the text ``ids`` ``(L,)``.

    The text is cut into ``streams`` consecutive parts read side by side, ``piece`` characters
    at a time, the recurrent state carried from piece to piece (each part starts from a zero
    state); every character but the first of each part is predicted once.
    """
    model.eval()
    L = (len(ids) // streams) * streams
    rows = ids[:L].view(streams, -1)                                      # (S, L / S)
    total, n, state = 0.0, 0, None
    for s in range(0, rows.shape[1] - 1, piece):
        x = rows[:, s:s + piece]
        y = rows[:, s + 1:s + piece + 1]
        x = x[:, :y.shape[1]]
        out, state = model.rnn(_one_hot(x, V), state)                     # (S, t, H)
        logits = model.head(out)                                          # (S, t, V)
        total += float(F.cross_entropy(logits.reshape(-1, V), y.reshape(-1), reduction="sum"))
        n += y.numel()
    model.train()
    return total / n


def lm_run(kind: str, steps: int, seed: int = 0, lr: float = 3e-3, batch_size: int = 32,
           T: int = 64, eval_every: int = 100, clip: float = 1.0, max_chars: int | None = None,
           show_progress: bool = True) -> dict:
    """Train a character model of :func:`lm_model` on the text of :func:`char_data`.

    Returns ``{"eval_step": [...], "val_ce": [...], "train_loss": [...] (mean over each eval
    interval), "test_ce": the final model's test cross-entropy, "val_ppl", "test_ppl" (exp of the
    final cross-entropies), "params", "hidden_size", "vocab_size", "seconds", "ms_per_step"}``;
    cross-entropies in nats per character.
    """
    data = char_data(max_chars)
    V = len(data["vocab"])
    torch.manual_seed(seed)
    model = lm_model(kind, V)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    train_ids = data["train"]
    hist: dict = {"eval_step": [], "val_ce": [], "train_loss": []}
    running = []
    start = time.perf_counter()
    steps_iter = range(1, steps + 1)
    bar = progress(steps_iter, desc=f"char LM {kind} seed {seed}", leave=False) \
        if show_progress else steps_iter
    for step in bar:
        starts = torch.randint(0, len(train_ids) - T - 1, (batch_size,), generator=gen)
        window = train_ids[starts[:, None] + torch.arange(T + 1)[None, :]]   # (N, T + 1)
        logits = model(_one_hot(window[:, :-1], V))                          # (N, T, V)
        loss = F.cross_entropy(logits.reshape(-1, V), window[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sched.step()
        running.append(loss.item())
        if step % eval_every == 0 or step == steps:
            hist["eval_step"].append(step)
            hist["val_ce"].append(lm_loss(model, data["val"], V))
            hist["train_loss"].append(float(np.mean(running)))
            running = []
    hist["seconds"] = time.perf_counter() - start
    hist["ms_per_step"] = 1e3 * hist["seconds"] / steps
    hist["test_ce"] = lm_loss(model, data["test"], V)
    hist["val_ppl"] = math.exp(hist["val_ce"][-1])
    hist["test_ppl"] = math.exp(hist["test_ce"])
    hist["params"] = int(sum(p.numel() for p in model.parameters()))
    hist["hidden_size"] = model.head.in_features
    hist["vocab_size"] = V
    return hist
