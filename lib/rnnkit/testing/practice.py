"""Harnesses for the test cells of lesson 06_rnns_in_practice (recurrent nets with torch.nn).

Every harness takes the learner's function or class as its first argument(s), builds its own
data from a seed, computes the reference with torch in the grader's process (``torch.nn.RNN``,
``LSTM``, ``GRU`` run on the whole batch or on each sequence alone) and compares with
:mod:`rnnkit.checks`. They follow the rules of :mod:`rnnkit.testing`: the learner's objects are
only called (or their methods called), and what comes back is treated as data.

Conventions of the exercises:

* ``rnn_output_shapes(config, N, T) -> (output_shape, h_n_shape, c_n_shape)``: plain tuples of
  ints, ``c_n_shape`` ``None`` for RNN and GRU; ``config`` holds ``kind`` ("rnn", "lstm", "gru")
  and any constructor arguments of the torch module (missing ones take torch's defaults).
* ``final_states(output, lengths, bidirectional) -> (N, num_directions * H_out)``: ``output`` the
  padded, batch-first output of a packed run (padding holds arbitrary values), ``lengths (N,)``.
* ``masked_cross_entropy(logits (N, T, V), targets (N, T), lengths (N,)) -> scalar``.
* ``CharLM(vocab_size, embed_size, hidden_size, num_layers=1, kind="lstm", dropout=0.0)``, an
  ``nn.Module`` with submodules ``embed`` (``nn.Embedding``), ``rnn`` (``nn.LSTM`` or ``nn.GRU``,
  batch-first) and ``head`` (``nn.Linear``); ``model(ids (N, T), state=None) -> (logits (N, T, V),
  state)``; ``sample(model, prefix_ids, n, temperature, seed) -> n ids``.
* ``SequenceClassifier(input_size, hidden_size, num_classes, kind="gru", bidirectional=False)``,
  submodules ``rnn`` and ``head``; ``model(x (N, T, D), lengths (N,)) -> logits (N, C)``;
  ``train_classifier(x, lengths, y, seed) -> a trained SequenceClassifier``.
* ``train_forecaster(series, window, seed) -> a trained Forecaster``: ``series`` the standardised
  yearly sunspot numbers of the training years, a ``(L,)`` float32 tensor; ``Forecaster(H)`` (given
  in the lesson) holds ``rnn = nn.GRU(1, H, batch_first=True)`` (an ``nn.LSTM`` is accepted too) and
  ``head = nn.Linear(H, 1)`` and maps windows ``(N, window, 1)`` to ``x[:, -1, 0] + head(out[:, -1])[:, 0]``, ``(N,)``.

A trained model is judged by its weights, never by its own forward: the harness fetches its
``state_dict`` as values, loads it into the documented architecture built here
(:func:`classifier_from_state`, :func:`forecaster_from_state`) and evaluates that on held-out
data with torch's own modules (each window of a forecast on its own), so no row of a batch
can see another.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.checks import check_close, check_returns, check_shape, reference
from rnnkit.series import sunspots, variable_length_task, windows
from rnnkit.testing.ops import to_numpy

__all__ = [
    "random_configs", "reference_shapes", "output_shapes", "random_final_cases",
    "padded_run", "reference_final_states", "final_states", "reference_masked_ce",
    "masked_cross_entropy", "reference_lm", "char_lm", "sample_distribution", "sample_state",
    "reference_classifier", "classifier", "fetch_state", "classifier_from_state",
    "train_classifier", "counting_lstm_state", "sunspot_split", "forecaster_from_state",
    "reference_forecasts", "train_forecaster",
]

_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
TOL64 = dict(rtol=1e-6, atol=1e-8)


def _t(a, dtype=torch.float64) -> torch.Tensor:
    return torch.as_tensor(np.asarray(to_numpy(a)), dtype=dtype)


# ---------------------------------------------------------------------------------------------
# rnn_output_shapes
# ---------------------------------------------------------------------------------------------

def random_configs(n: int, seed: int) -> list[dict]:
    """``n`` random configurations: ``kind`` plus a random subset of the constructor arguments
    of ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (LSTMs often with ``proj_size``)."""
    rng = np.random.default_rng(seed)
    configs = []
    for k in range(n):
        kind = ("rnn", "lstm", "gru")[k % 3] if k < 3 else str(rng.choice(["rnn", "lstm", "gru"]))
        H = int(rng.integers(2, 9))
        cfg = {"kind": kind, "input_size": int(rng.integers(1, 8)), "hidden_size": H}
        if rng.random() < 0.7:
            cfg["num_layers"] = int(rng.integers(1, 4))
        if rng.random() < 0.6:
            cfg["batch_first"] = bool(rng.random() < 0.5)
        if rng.random() < 0.7:
            cfg["bidirectional"] = bool(rng.random() < 0.6)
        if rng.random() < 0.3:
            cfg["bias"] = bool(rng.random() < 0.5)
        if cfg.get("num_layers", 1) > 1 and rng.random() < 0.5:
            cfg["dropout"] = 0.25
        if kind == "rnn" and rng.random() < 0.3:
            cfg["nonlinearity"] = "relu"
        if kind == "lstm" and rng.random() < 0.6:
            cfg["proj_size"] = int(rng.integers(1, H))
        configs.append(cfg)
    return configs


def reference_shapes(config: dict, N: int, T: int) -> tuple:
    """The shapes torch gives: build the module from ``config``, run it on zeros, read them."""
    cfg = dict(config)
    kind = cfg.pop("kind")
    module = _LAYERS[kind](**cfg)
    x_shape = (N, T, cfg["input_size"]) if cfg.get("batch_first", False) else \
        (T, N, cfg["input_size"])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")          # LSTM with projections: no oneDNN path
        out, state = module(torch.zeros(x_shape))
    if kind == "lstm":
        return tuple(out.shape), tuple(state[0].shape), tuple(state[1].shape)
    return tuple(out.shape), tuple(state.shape), None


def _as_shape(name, value):
    if value is None:
        return None
    if type(value) in (tuple, list) and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return tuple(int(v) for v in value)
    raise AssertionError(f"{name} should be a plain tuple of ints (or None), got "
                         f"{type(value).__name__} {value!r}.\n  Hint: write the shape as a "
                         f"tuple, e.g. (T, N, H); tuple(t.shape) turns a torch.Size into one.")


_HINT_SHAPES = (
    "output is (T, N, num_directions * H_out), or (N, T, ...) with batch_first=True; h_n is "
    "(num_layers * num_directions, N, H_out) and c_n (num_layers * num_directions, N, "
    "hidden_size) whatever batch_first says (batch_first applies to input and output only); "
    "H_out = proj_size if proj_size > 0 else hidden_size; c_n is None for RNN and GRU; "
    "missing keys take torch's defaults (num_layers=1, batch_first=False, bidirectional=False, "
    "proj_size=0).")


def output_shapes(rnn_output_shapes, config: dict, N: int, T: int) -> None:
    """Check ``rnn_output_shapes(config, N, T)`` against the shapes of the torch module."""
    expected = reference_shapes(config, N, T)
    got = check_returns(f"rnn_output_shapes({config}, N={N}, T={T})",
                        rnn_output_shapes(dict(config), N, T), 3,
                        ("output_shape", "h_n_shape", "c_n_shape"))
    for name, g, e in zip(("output_shape", "h_n_shape", "c_n_shape"), got, expected):
        g = _as_shape(name, g)
        if g != e:
            raise AssertionError(f"rnn_output_shapes({config}, N={N}, T={T}): {name} is {g}, "
                                 f"torch gives {reference(e)}.\n  Hint: {_HINT_SHAPES}")


# ---------------------------------------------------------------------------------------------
# final_states
# ---------------------------------------------------------------------------------------------

def random_final_cases(n: int, seed: int) -> list[dict]:
    """Random cases for :func:`final_states`: kind, sizes, layers, directions, seed."""
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(n):
        cases.append(dict(kind=str(rng.choice(["rnn", "lstm", "gru"])),
                          N=int(rng.integers(2, 7)), T=int(rng.integers(3, 9)),
                          D=int(rng.integers(1, 5)), H=int(rng.integers(1, 6)),
                          num_layers=int(rng.integers(1, 3)), bidirectional=bool(k % 2 == 0),
                          seed=int(rng.integers(0, 2**31 - 1))))
    return cases


def padded_run(kind, N, T, D, H, num_layers, bidirectional, seed, proj_size=0):
    """A torch module (float64) and a padded batch run through it with packing.

    Returns ``module, x (N, T, D), lengths (N,) int64, output (N, T, dirs * H_out)`` where
    ``output`` comes from ``pad_packed_sequence`` and its padded positions are then filled
    with random values (a correct ``final_states`` never reads them). One sequence has the
    full length T, the others random lengths in [1, T], in no particular order.
    """
    torch.manual_seed(seed)
    kw = dict(num_layers=num_layers, batch_first=True, bidirectional=bidirectional)
    if proj_size:
        kw["proj_size"] = proj_size
    module = _LAYERS[kind](D, H, **kw).double()
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, T + 1, size=N).astype(np.int64)
    lengths[rng.integers(N)] = T
    x = rng.standard_normal((N, T, D))
    packed = pack_padded_sequence(_t(x), torch.as_tensor(lengths), batch_first=True,
                                  enforce_sorted=False)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, _ = module(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    out = out.numpy().copy()
    pad = np.arange(T)[None, :] >= lengths[:, None]
    out[pad] = rng.standard_normal((int(pad.sum()), out.shape[2])) * 3.0
    return module, x, lengths, out


def reference_final_states(module, x, lengths) -> np.ndarray:
    """Each sequence run ALONE on its true length; the last layer's final state of every
    direction, forward first: ``(N, dirs * H_out)``."""
    finals = []
    dirs = 2 if module.bidirectional else 1
    for n, L in enumerate(lengths):
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, state = module(_t(x[n:n + 1, :L]))
        h_n = state[0] if isinstance(state, tuple) else state      # (layers*dirs, 1, H_out)
        finals.append(torch.cat([h_n[-dirs + d, 0] for d in range(dirs)]).numpy())
    return np.stack(finals)


_HINT_FINAL = ("the forward direction reads positions 0 .. L-1, so its final state is "
               "output[n, L-1, :H]; the backward direction reads L-1 .. 0, so its final state "
               "is output[n, 0, H:] (NOT output[n, -1, ...] nor output[n, L-1, H:]). Positions "
               "t >= L are padding and hold anything. Join forward then backward: (N, 2H).")


def final_states(final_states_fn, kind: str, N: int, T: int, D: int, H: int, seed: int,
                 num_layers: int = 1, bidirectional: bool = True, proj_size: int = 0) -> None:
    """Check ``final_states(output, lengths, bidirectional)`` against running each sequence
    alone through the same torch module (float64)."""
    module, x, lengths, out = padded_run(kind, N, T, D, H, num_layers, bidirectional, seed,
                                         proj_size)
    expected = reference_final_states(module, x, lengths)
    where = (f" ({kind}, N={N}, T={T}, H={out.shape[2] // (2 if bidirectional else 1)}, "
             f"bidirectional={bidirectional}, lengths={lengths.tolist()})")
    got = final_states_fn(_t(out), torch.as_tensor(lengths), bidirectional)
    got = check_shape("final_states" + where, got, expected.shape, hint=_HINT_FINAL)
    check_close("final_states" + where, got, expected, hint=_HINT_FINAL, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# masked_cross_entropy
# ---------------------------------------------------------------------------------------------

def reference_masked_ce(logits, targets, lengths) -> float:
    """The mean of the cross-entropy over the positions ``t < lengths[n]``, float64."""
    lg, tg = _t(logits), torch.as_tensor(np.asarray(targets), dtype=torch.int64)
    N, T, V = lg.shape
    ce = F.cross_entropy(lg.reshape(N * T, V), tg.reshape(N * T), reduction="none").reshape(N, T)
    mask = torch.arange(T)[None, :] < torch.as_tensor(np.asarray(lengths))[:, None]
    return float((ce * mask).sum() / mask.sum())


_HINT_CE = ("compute the cross-entropy of every position (reduction='none'), multiply by a "
            "mask that is 1 where t < lengths[n] and 0 elsewhere, and divide the sum by the "
            "number of real positions, mask.sum(): not by N*T, and not a mean of per-sequence "
            "means. Padded targets hold arbitrary ids (not -100).")


def masked_cross_entropy(masked_ce_fn, N: int, T: int, V: int, seed: int,
                         dtype: str = "float32") -> None:
    """Check ``masked_cross_entropy(logits, targets, lengths)`` against the masked mean."""
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((N, T, V)) * 2.0).astype(dtype)
    targets = rng.integers(0, V, size=(N, T)).astype(np.int64)
    lengths = rng.integers(1, T + 1, size=N).astype(np.int64)
    lengths[rng.integers(N)] = T
    if N > 2:
        lengths[rng.integers(N)] = 1
    expected = reference_masked_ce(logits, targets, lengths)
    got = masked_ce_fn(torch.as_tensor(logits), torch.as_tensor(targets),
                       torch.as_tensor(lengths))
    arr = np.asarray(to_numpy(got), dtype=np.float64) if got is not None else None
    where = f" (N={N}, T={T}, V={V}, lengths={lengths.tolist()})"
    if arr is None or arr.size != 1:
        raise AssertionError(f"masked_cross_entropy{where} should return one number (a 0-d "
                             f"tensor), got {None if arr is None else arr.shape}.\n  Hint: "
                             + _HINT_CE)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)
    check_close("masked_cross_entropy" + where, arr.reshape(()), np.float64(expected),
                hint=_HINT_CE, **tol)


# ---------------------------------------------------------------------------------------------
# CharLM and sample
# ---------------------------------------------------------------------------------------------

def reference_lm(V, E, H, num_layers, kind, seed):
    """Reference modules ``(embed, rnn, head)`` in float64 and their state dict under the names
    a ``CharLM`` uses (``embed.weight``, ``rnn.weight_ih_l0``, ..., ``head.weight``)."""
    torch.manual_seed(seed)
    embed = nn.Embedding(V, E).double()
    rnn = _LAYERS[kind](E, H, num_layers=num_layers, batch_first=True).double()
    head = nn.Linear(H, V).double()
    sd = {"embed.weight": embed.weight.detach().clone()}
    sd.update({f"rnn.{k}": v.clone() for k, v in rnn.state_dict().items()})
    sd.update({"head.weight": head.weight.detach().clone(), "head.bias": head.bias.detach().clone()})
    return (embed, rnn, head), sd


def _load(model, sd, name, hint):
    try:
        model.load_state_dict(sd)
    except NotImplementedError:
        raise
    except Exception as exc:
        raise AssertionError(f"{name}.load_state_dict with the keys {sorted(sd)} failed "
                             f"({type(exc).__name__}: {str(exc)[:300]}).\n  Hint: {hint}") from None


_HINT_LM_LAYOUT = ("CharLM holds exactly three submodules: self.embed = nn.Embedding(vocab_size, "
                   "embed_size), self.rnn = nn.LSTM or nn.GRU(embed_size, hidden_size, "
                   "num_layers, batch_first=True) and self.head = nn.Linear(hidden_size, "
                   "vocab_size).")
_HINT_LM = ("logits = head(rnn(embed(ids), state)[0]): the head is applied at every step, "
            "(N, T, V); return the rnn's final state as it comes ((h_n, c_n) for an LSTM, h_n "
            "for a GRU) and pass `state` on to the rnn (None starts from zeros).")


def _state_list(state, kind, where):
    if kind == "lstm":
        s = check_returns("the state returned by your CharLM (an LSTM's (h_n, c_n))" + where,
                          state, 2, ("h_n", "c_n"))
        return list(s)
    return [state]


def char_lm(CharLM, V: int, E: int, H: int, num_layers: int, kind: str, N: int, T: int,
            seed: int) -> None:
    """Check a learner's ``CharLM``: loaded with the weights of reference torch modules (by
    name), in float64, its logits and state equal the reference's, and running the sequence in
    two calls with the state carried over gives the same logits as one call."""
    (embed, rnn, head), sd = reference_lm(V, E, H, num_layers, kind, seed)
    model = CharLM(V, E, H, num_layers, kind)
    model.double()
    _load(model, sd, f"CharLM({V}, {E}, {H}, {num_layers}, {kind!r})", _HINT_LM_LAYOUT)
    model.eval()
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, size=(N, T)).astype(np.int64)
    with torch.no_grad():
        out_ref, state_ref = rnn(embed(torch.as_tensor(ids)))
        logits_ref = head(out_ref).numpy()
    states_ref = [s.numpy() for s in (state_ref if kind == "lstm" else (state_ref,))]
    where = f" (V={V}, E={E}, H={H}, num_layers={num_layers}, kind={kind!r}, N={N}, T={T})"
    logits, state = check_returns("your CharLM" + where, model(torch.as_tensor(ids), None), 2,
                                  ("logits", "state"))
    logits = check_shape("logits of your CharLM" + where, logits, (N, T, V), hint=_HINT_LM)
    check_close("logits of your CharLM" + where, logits, logits_ref, hint=_HINT_LM, **TOL64)
    states = _state_list(state, kind, where)
    for name, s, r in zip(("h_n", "c_n"), states, states_ref):
        check_close(f"{name} returned by your CharLM" + where, s, r, hint=_HINT_LM, **TOL64)
    k = max(1, T // 2)
    _, state1 = check_returns("your CharLM", model(torch.as_tensor(ids[:, :k]), None), 2)
    carried = [_t(s) for s in _state_list(state1, kind, where)]
    carried = tuple(carried) if kind == "lstm" else carried[0]
    logits2, _ = check_returns("your CharLM", model(torch.as_tensor(ids[:, k:]), carried), 2)
    check_close(f"logits of your CharLM on ids[:, {k}:] given the state after ids[:, :{k}]"
                + where, logits2, logits_ref[:, k:], hint=(
                    "the second call must start from the state passed in: hand `state` to "
                    "self.rnn(..., state) instead of starting from zeros."), **TOL64)


def _ids(seq, name, n=None):
    arr = np.asarray(to_numpy(seq)) if seq is not None else None
    if arr is None or arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        raise AssertionError(f"{name} should return {n} ids (a list or a 1-D tensor), got "
                             f"{'None' if arr is None else 'shape ' + str(arr.shape)}.")
    if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
        raise AssertionError(f"{name} returned values that are not integer ids: {arr[:5]}")
    return arr.astype(np.int64)


def _sample_model(CharLM, sd, V, E, H, kind):
    """The learner's ``CharLM(V, E, H, 1, kind)`` (in the kernel when graded) loaded with ``sd``."""
    model = CharLM(V, E, H, 1, kind)
    _load(model, sd, f"CharLM({V}, {E}, {H}, 1, {kind!r})", _HINT_LM_LAYOUT)
    model.eval()
    return model


def _reference_from(sd, V, E, H, kind):
    """Reference torch modules ``(embed, rnn, head)``, float64, loaded with ``sd``."""
    (embed, rnn, head), _ = reference_lm(V, E, H, 1, kind, 0)
    with torch.no_grad():
        embed.weight.copy_(sd["embed.weight"])
        rnn.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("rnn.")})
        head.weight.copy_(sd["head.weight"])
        head.bias.copy_(sd["head.bias"])
    return embed, rnn, head


def _path_logits(modules, prefix, got):
    """The grader's own logits, (len(got), V) float64, of each drawn id given the prefix and the
    earlier draws: the reference modules run on ``prefix + got[:-1]``."""
    embed, rnn, head = modules
    with torch.no_grad():
        ids = torch.as_tensor(list(prefix) + [int(v) for v in got[:-1]], dtype=torch.long)
        out, _ = rnn(embed(ids[None, :]))
        return head(out)[0, len(prefix) - 1:].numpy()


def _draw_ids(sample, model, prefix, n, tau, seed, V):
    got = _ids(sample(model, list(prefix), n, float(tau), int(seed)),
               f"sample(model, {list(prefix)}, n={n}, temperature={tau})", n)
    if got.min() < 0 or got.max() >= V:
        raise AssertionError(f"sample returned ids outside [0, {V}): {sorted(set(got))[:8]}")
    return got


_HINT_SAMPLE = ("run the model once on the whole prefix, then at every step divide the logits "
                "of the LAST position by the temperature, softmax them, DRAW the next id from "
                "that distribution (torch.multinomial with a torch.Generator seeded with "
                "`seed`), and feed it back as a (1, 1) tensor with the state the previous call "
                "returned; do not take the argmax, do not multiply by the temperature.")


def sample_distribution(sample, CharLM, V: int, temperatures, n: int, seed: int,
                        kind: str = "gru") -> None:
    """Check the distribution of ``sample(model, prefix_ids, n, temperature, seed)``.

    The model is the learner's ``CharLM`` with random weights (its sizes and values drawn from
    ``seed``, the recurrent ones scaled up so that every step's logits depend on the input and
    the carried state). For each temperature the grader recomputes, with its own reference
    modules, the distribution ``softmax(logits / tau)`` of every drawn id given the prefix and
    the earlier draws, and tests the ``n`` draws against it: the count of every id against the
    sum of its probabilities (within 5 standard deviations + 0.01 n), and the randomised
    probability integral transforms of the draws, uniform on [0, 1) (chi-square over 10 bins,
    p >= 1e-6). Then, at temperature 0.05, ``sample`` must follow the grader's argmax path
    (wherever the two best logits are at least 1.5 apart)."""
    from scipy.stats import chi2
    rng = np.random.default_rng(seed)
    E, H = int(rng.integers(3, 7)), int(rng.integers(4, 9))
    _, sd = reference_lm(V, E, H, 1, kind, int(rng.integers(1 << 30)))
    scale = {"embed": 1.5, "rnn": 2.5, "head": 3.0}
    sd = {k: (scale[k.split(".")[0]] * v).float() for k, v in sd.items()}
    model = _sample_model(CharLM, sd, V, E, H, kind)
    ref = _reference_from(sd, V, E, H, kind)
    prefix = [int(v) for v in rng.integers(0, V, size=3)]
    for k, tau in enumerate(temperatures):
        got = _draw_ids(sample, model, prefix, n, tau, int(seed) + k, V)
        z = _path_logits(ref, prefix, got) / float(tau)
        q = np.exp(z - z.max(axis=1, keepdims=True))
        q /= q.sum(axis=1, keepdims=True)                                # (n, V)
        count = np.bincount(got, minlength=V)
        mean, sd_v = q.sum(0), np.sqrt((q * (1 - q)).sum(0))
        cdf = np.cumsum(q, axis=1)
        rows = np.arange(n)
        pit = cdf[rows, got] - q[rows, got] * rng.random(n)              # U(0, 1) if right
        bins = np.bincount(np.minimum((pit * 10).astype(int), 9), minlength=10)
        stat = float(((bins - n / 10) ** 2 / (n / 10)).sum())
        bad = np.abs(count - mean) > 5 * sd_v + 0.01 * n
        if bad.any() or chi2.sf(stat, 9) < 1e-6:
            raise AssertionError(
                f"sample(model, {prefix}, n={n}, temperature={tau}): the sampled ids do not "
                f"follow softmax(logits / temperature) of the model along the sampled path: "
                f"id counts {count.tolist()}, expected about {np.round(mean).astype(int).tolist()}"
                f" (chi-square of the probability integral transforms {stat:.1f} over 10 "
                f"bins).\n  Hint: {_HINT_SAMPLE}")
    _greedy_path(sample, model, ref, V, rng, int(seed) + len(temperatures))


def _greedy_path(sample, model, ref, V, rng, seed, n=20, tau=0.05, margin=1.5):
    """At temperature ``tau`` a right ``sample`` follows the argmax of the logits (the grader's)
    wherever the two best are ``margin`` apart: compared up to the first step where they are
    not (the prefix, of 1..4 ids, chosen among a few to make that path long)."""
    best = None
    for _ in range(8):
        prefix = [int(v) for v in rng.integers(0, V, size=int(rng.integers(1, 5)))]
        path = []
        for _ in range(n):
            z = _path_logits(ref, prefix, path + [0])[-1]
            top = np.sort(z)[-2:]
            if top[1] - top[0] < margin:
                break
            path.append(int(np.argmax(z)))
        if best is None or len(path) > len(best[1]):
            best = (prefix, path)
    prefix, path = best
    if not path:
        return
    got = _draw_ids(sample, model, prefix, n, tau, seed, V)
    if not np.array_equal(got[:len(path)], path):
        raise AssertionError(
            f"sample(model, {prefix}, n={n}, temperature={tau}) returned {got.tolist()}; at "
            f"so low a temperature it should pick the id of the largest logit at each step "
            f"(the model's argmax along that path starts {path}).\n  Hint: {_HINT_SAMPLE}")


def counting_lstm_state(V: int = 4, seed: int | None = None) -> dict:
    """State dict of a ``CharLM(V, E, H, 1, "lstm")`` that remembers the FIRST id it reads and
    then always predicts ``perm[first]`` with probability above 0.99 at temperature <= 2.

    Unit 0 of the LSTM is a flag that switches on at the first step and closes the input gate
    of units 1..V, which store a one-hot code of the first id (forget gates stay at 1). With
    ``seed`` None: ``E = V``, ``H = V + 1`` and ``perm[v] = (v + 1) % V``. With a seed:
    ``perm`` is a random permutation, and 1..3 extra embedding dimensions and 1..3 extra hidden
    units with random weights make every step's logits depend on the input and the state too
    (never enough to change the argmax); the sizes are ``embed.weight.shape`` and
    ``head.weight.shape``."""
    rng = np.random.default_rng(seed)
    plain = seed is None
    extra_e, extra_h = (0, 0) if plain else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    perm = [(v + 1) % V for v in range(V)] if plain else [int(v) for v in rng.permutation(V)]
    E, H0 = V + extra_e, V + 1
    H = H0 + extra_h
    big = 10.0
    W_ih = torch.zeros(4 * H, E)
    W_hh = torch.zeros(4 * H, H)
    b = torch.zeros(4 * H)
    i, f, g, o = (slice(k * H, (k + 1) * H) for k in range(4))
    b[i] = big
    W_hh[i][1:H0, 0] = -40.0                    # units 1..V write only while the flag is off
    b[f] = big
    b[g.start] = 1.0                            # the flag's candidate: tanh(1)
    for k in range(V):
        W_ih[g.start + 1 + k, k] = 5.0          # unit 1 + k writes tanh(5) when id k is read
    b[o] = big
    head_w = torch.zeros(V, H)
    for v in range(V):
        head_w[perm[v], 1 + v] = 25.0           # predict perm[v] when the stored first id is v
    embed = torch.eye(V, E)
    head_b = torch.zeros(V)
    if not plain:
        t = lambda *shape: torch.as_tensor(rng.standard_normal(shape), dtype=torch.float32)
        embed[:, V:] = t(V, extra_e)
        for gate in (i, f, g, o):                # the extra units: random, fed by all inputs
            W_ih[gate.start + H0:gate.stop] = t(extra_h, E)
            W_hh[gate.start + H0:gate.stop] = t(extra_h, H)
            b[gate.start + H0:gate.stop] = t(extra_h)
        head_w[:, H0:] = 0.5 * t(V, extra_h)
        head_b = 0.5 * t(V)
    return {"embed.weight": embed, "rnn.weight_ih_l0": W_ih, "rnn.weight_hh_l0": W_hh,
            "rnn.bias_ih_l0": b, "rnn.bias_hh_l0": torch.zeros(4 * H),
            "head.weight": head_w, "head.bias": head_b}


def sample_state(sample, CharLM, prefix, n: int, seed: int, temperature: float = 1.0) -> None:
    """Check that ``sample`` carries the hidden state from the prefix through every step.

    The model (the learner's ``CharLM(4, E, H, 1, "lstm")`` with :func:`counting_lstm_state`
    for ``seed``, random sizes and weights) remembers the first id it reads and predicts the
    same id (a random function of the first one) at every later step with probability above
    0.99: the grader recomputes, with its own reference modules, the logits of every step
    along the returned path, and each returned id must be that step's most likely one. A
    ``sample`` that restarts from an empty state, or reads only the last id of the prefix,
    does not do that."""
    V = 4
    sd = counting_lstm_state(V, seed)
    E, H = sd["embed.weight"].shape[1], sd["head.weight"].shape[1]
    model = _sample_model(CharLM, sd, V, E, H, "lstm")
    prefix = [int(v) for v in prefix]
    got = _draw_ids(sample, model, prefix, n, temperature, seed, V)
    want = _path_logits(_reference_from(sd, V, E, H, "lstm"), prefix, got).argmax(axis=1)
    if not np.array_equal(got, want):
        raise AssertionError(
            f"sample(model, prefix={prefix}, n={n}, temperature={temperature}) returned "
            f"{got.tolist()}; this model remembers the FIRST id it read and then predicts one "
            f"id with probability above 0.99 at every later step: along the path you returned "
            f"its most likely ids are {want.tolist()}.\n  Hint: run the model once on the "
            f"whole prefix (state None), keep the state it returns, then feed each sampled id "
            f"as a (1, 1) tensor together with that state, and keep the new state each time; "
            f"sample from the logits of the LAST position only.")


# ---------------------------------------------------------------------------------------------
# SequenceClassifier and train_classifier
# ---------------------------------------------------------------------------------------------

def reference_classifier(D, H, C, kind, bidirectional, seed):
    torch.manual_seed(seed)
    rnn = _LAYERS[kind](D, H, batch_first=True, bidirectional=bidirectional).double()
    head = nn.Linear((2 if bidirectional else 1) * H, C).double()
    sd = {f"rnn.{k}": v.clone() for k, v in rnn.state_dict().items()}
    sd.update({"head.weight": head.weight.detach().clone(), "head.bias": head.bias.detach().clone()})
    return rnn, head, sd


_HINT_CLS = ("pack the batch with pack_padded_sequence(x, lengths.cpu(), batch_first=True, "
             "enforce_sorted=False), run self.rnn on the packed sequence, and take the final "
             "state from h_n (for an LSTM, the first element of its (h_n, c_n)): h_n[-1] for "
             "one direction, torch.cat([h_n[-2], h_n[-1]], dim=1) for two; then self.head. "
             "Without packing the rnn also reads the padding (here random values).")


def classifier(SequenceClassifier, kind: str, bidirectional: bool, N: int, T: int, D: int,
               H: int, C: int, seed: int) -> None:
    """Check a learner's ``SequenceClassifier`` (weights loaded by name, float64) against each
    sequence run alone through the reference modules; padding holds random values."""
    rnn, head, sd = reference_classifier(D, H, C, kind, bidirectional, seed)
    model = SequenceClassifier(D, H, C, kind, bidirectional)
    model.double()
    _load(model, sd, f"SequenceClassifier({D}, {H}, {C}, {kind!r}, {bidirectional})",
          "SequenceClassifier holds self.rnn = nn.LSTM or nn.GRU(input_size, hidden_size, "
          "batch_first=True, bidirectional=bidirectional) and self.head = "
          "nn.Linear(num_directions * hidden_size, num_classes).")
    model.eval()
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, T + 1, size=N).astype(np.int64)
    lengths[rng.integers(N)] = T
    x = rng.standard_normal((N, T, D)) * 3.0                     # padding: random values too
    expected = head(torch.as_tensor(reference_final_states(rnn, x, lengths))).detach().numpy()
    where = (f" ({kind}, bidirectional={bidirectional}, N={N}, T={T}, D={D}, H={H}, C={C}, "
             f"lengths={lengths.tolist()})")
    got = model(_t(x), torch.as_tensor(lengths))
    got = check_shape("logits of your SequenceClassifier" + where, got, (N, C), hint=_HINT_CLS)
    check_close("logits of your SequenceClassifier" + where, got, expected, hint=_HINT_CLS,
                **TOL64)


def fetch_state(model, who: str, hint: str) -> dict:
    """``model.state_dict()`` as ``{key: float64 array}``, fetched as values (the model's own
    forward is never called)."""
    if model is None:
        raise AssertionError(f"{who} returned None.\n  Hint: {hint}")
    try:
        sd = model.state_dict()
    except NotImplementedError:
        raise
    except Exception as exc:
        raise AssertionError(f"the model {who} returned has no usable state_dict() "
                             f"({type(exc).__name__}: {str(exc)[:200]}).\n  Hint: {hint}") from None
    if not isinstance(sd, dict):
        raise AssertionError(f"the model {who} returned gives a {type(sd).__name__} from "
                             f"state_dict(), not a dict of tensors.\n  Hint: {hint}")
    out = {}
    for key, value in sd.items():
        try:
            out[str(key)] = np.asarray(to_numpy(value), dtype=np.float64)
        except (TypeError, ValueError):
            raise AssertionError(f"state_dict()[{key!r}] of the model {who} returned is not a "
                                 f"tensor.\n  Hint: {hint}") from None
    return out


def _load_reference(sd: dict, modules: dict, who: str, what: str) -> None:
    """Load ``sd`` (``{"rnn.weight_ih_l0": array, ...}``) into the reference ``modules``
    (``{"rnn": module, "head": module}``), refusing any other key or shape."""
    expected = {f"{prefix}.{k}": tuple(v.shape) for prefix, m in modules.items()
                for k, v in m.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in sd.items()}
    if got != expected:
        extra = sorted(set(got) - set(expected))
        missing = sorted(set(expected) - set(got))
        shapes = [f"{k} {got[k]} (expected {expected[k]})" for k in sorted(set(got) & set(expected))
                  if got[k] != expected[k]]
        detail = "; ".join(part for part in (
            f"unexpected keys {extra[:6]}" if extra else "",
            f"missing keys {missing[:6]}" if missing else "",
            f"wrong shapes {', '.join(shapes[:4])}" if shapes else "") if part)
        raise AssertionError(
            f"the model {who} returned is not {what}: its state_dict does not match ({detail}). "
            f"The tests rebuild the model from its weights, so it must be exactly that "
            f"architecture.\n  Hint: return the {what.split('(')[0].split()[-1]} you trained, "
            f"with the submodules rnn and head as documented.")
    with torch.no_grad():
        for prefix, m in modules.items():
            m.load_state_dict({k[len(prefix) + 1:]: torch.as_tensor(v, dtype=torch.float64)
                               for k, v in sd.items() if k.startswith(prefix + ".")})


def classifier_from_state(sd: dict, input_size: int, num_classes: int, who: str):
    """The reference ``(rnn, head)`` of a ``SequenceClassifier`` (float64) with the weights of
    ``sd``. The kind (GRU: 3 gate blocks, LSTM: 4), the hidden size and the directions are read
    from the shapes and keys: ``rnn.weight_hh_l0`` is ``(G * H, H)``; a second direction adds
    the ``..._reverse`` keys."""
    w_hh = sd.get("rnn.weight_hh_l0")
    kinds = {3: "gru", 4: "lstm"}
    H = int(w_hh.shape[1]) if w_hh is not None and w_hh.ndim == 2 and w_hh.shape[1] > 0 else 0
    G = int(w_hh.shape[0]) // H if H and w_hh.shape[0] % H == 0 else 0
    what = (f"a SequenceClassifier({input_size}, hidden_size, {num_classes}, kind='gru' or "
            f"'lstm', bidirectional)")
    if G not in kinds:
        raise AssertionError(
            f"the model {who} returned is not {what}: its state_dict has "
            f"{'no rnn.weight_hh_l0' if w_hh is None else 'rnn.weight_hh_l0 of shape ' + str(w_hh.shape)}"
            f" (keys {sorted(sd)[:8]}), expected the (3H, H) of a GRU or the (4H, H) of an LSTM."
            f"\n  Hint: return the SequenceClassifier you trained; the tests rebuild it from its "
            f"weights and never call its forward.")
    bidirectional = "rnn.weight_hh_l0_reverse" in sd
    rnn = _LAYERS[kinds[G]](input_size, H, batch_first=True, bidirectional=bidirectional).double()
    head = nn.Linear((2 if bidirectional else 1) * H, num_classes).double()
    _load_reference(sd, {"rnn": rnn, "head": head}, who, what)
    return rnn, head


def train_classifier(train_fn, seed: int, n_train: int = 2000, n_test: int = 500,
                     threshold: float = 0.85) -> float:
    """Call ``train_classifier(x, lengths, y, seed)`` on a generated task (label: is the sum of
    the sequence positive; lengths 5 to 30; padding zeros) and evaluate the model it returns on
    a held-out set built here: its accuracy must reach ``threshold``. Returns the accuracy.

    The model is judged by its weights: its ``state_dict`` is loaded into a reference
    ``SequenceClassifier`` built here (see :func:`classifier_from_state`), which reads the
    held-out sequences packed, each over its true length (torch's module keeps the rows of a
    batch apart; the learner's forward never runs)."""
    x, lengths, y = variable_length_task(n_train, rule="sum", seed=seed)
    xt, lt, yt = variable_length_task(n_test, rule="sum", seed=seed + 7919)
    model = train_fn(torch.as_tensor(x), torch.as_tensor(lengths), torch.as_tensor(y), int(seed))
    sd = fetch_state(model, "train_classifier", "return the trained SequenceClassifier.")
    rnn, head = classifier_from_state(sd, x.shape[2], 2, "train_classifier")
    packed = pack_padded_sequence(_t(xt), torch.as_tensor(lt), batch_first=True,
                                  enforce_sorted=False)
    with torch.no_grad():       # torch's own module: the rows of a packed batch never mix
        _, state = rnn(packed)
        h_n = state[0] if isinstance(state, tuple) else state
        final = torch.cat([h_n[-2], h_n[-1]], dim=1) if rnn.bidirectional else h_n[-1]
        logits = head(final).numpy()
    if not np.all(np.isfinite(logits)):
        raise AssertionError("the weights of the model train_classifier returned give NaN or "
                             "infinite logits.\n  Hint: clip the gradients and use a moderate "
                             "learning rate (about 1e-2).")
    acc = float(np.mean(logits.argmax(axis=1) == yt))
    if not acc >= threshold:
        raise AssertionError(
            f"the model that train_classifier returned classifies {acc:.1%} of {n_test} "
            f"held-out sequences correctly (a SequenceClassifier built by the tests with its "
            f"weights); at least {threshold:.0%} is expected."
            f"\n  Hint: train with Adam (lr about 1e-2) on mini-batches of the whole set for a "
            f"few hundred steps, with cross-entropy on the logits, and return the model (in "
            f"eval mode).")
    return acc


# ---------------------------------------------------------------------------------------------
# train_forecaster
# ---------------------------------------------------------------------------------------------

def sunspot_split(window: int, n_test: int = 40):
    """The sunspot series standardised with the mean and standard deviation of its training
    years (all but the last ``n_test``), and the held-out windows.

    Returns:
        train: ``(309 - n_test,)`` float32, the standardised training years;
        x_test: ``(n_test, window, 1)`` float32, the ``window`` values before each held-out year
            (the first ones reach back into the training years, as a forecaster's input would);
        y_test: ``(n_test,)`` float32, the held-out years' standardised values.
    """
    _, values = sunspots()
    split = len(values) - n_test
    mu, sd = values[:split].mean(), values[:split].std()
    z = ((values - mu) / sd).astype(np.float32)
    x, y = windows(z, window)                                  # targets z[window:]
    return z[:split].copy(), x[-n_test:], y[-n_test:]


def forecaster_from_state(sd: dict, who: str):
    """The reference ``(rnn, head)`` of a ``Forecaster(H)`` (float64) with the weights of
    ``sd``: ``rnn = nn.GRU(1, H, batch_first=True)`` (or an ``nn.LSTM``, told by its 4 gate
    blocks), ``head = nn.Linear(H, 1)``; ``H`` is read from ``rnn.weight_hh_l0`` ``(G * H, H)``."""
    w_hh = sd.get("rnn.weight_hh_l0")
    H = int(w_hh.shape[1]) if w_hh is not None and w_hh.ndim == 2 and w_hh.shape[1] > 0 else 1
    layer = nn.LSTM if w_hh is not None and w_hh.ndim == 2 and w_hh.shape[0] == 4 * H else nn.GRU
    rnn = layer(1, H, batch_first=True).double()
    head = nn.Linear(H, 1).double()
    _load_reference(sd, {"rnn": rnn, "head": head}, who, "a Forecaster(hidden_size)")
    return rnn, head


def reference_forecasts(rnn, head, x) -> np.ndarray:
    """``Forecaster.forward`` with these modules, on each window of ``x (N, window, 1)`` ALONE:
    the last value of the window plus ``head`` of the GRU's output at its last step."""
    x = _t(x)
    preds = []
    with torch.no_grad():
        for n in range(x.shape[0]):
            out, _ = rnn(x[n:n + 1])
            preds.append(float(x[n, -1, 0] + head(out[:, -1])[0, 0]))
    return np.asarray(preds)


def train_forecaster(train_fn, seed: int, window: int = 12, n_test: int = 40,
                     ratio: float = 0.8) -> tuple[float, float]:
    """Call ``train_forecaster(series, window, seed)`` on the training years of the sunspot
    series and evaluate the model it returns one step ahead on the last ``n_test`` years: its
    mean squared error must be at most ``ratio`` times that of the naive forecast ("the next
    value is the last one"). Returns ``(mse_model, mse_naive)`` in standardised units.

    The model is judged by its weights: its ``state_dict`` is loaded into a reference
    ``Forecaster`` built here (:func:`forecaster_from_state`), which forecasts each held-out
    window on its own (:func:`reference_forecasts`)."""
    train, x_test, y_test = sunspot_split(window, n_test)
    model = train_fn(torch.as_tensor(train), int(window), int(seed))
    sd = fetch_state(model, "train_forecaster", "return the trained Forecaster (in eval mode).")
    rnn, head = forecaster_from_state(sd, "train_forecaster")
    pred = reference_forecasts(rnn, head, x_test)
    if not np.all(np.isfinite(pred)):
        raise AssertionError("the model's forecasts contain NaN or infinity.\n  Hint: clip the "
                             "gradients and use a moderate learning rate (about 1e-2).")
    mse_model = float(np.mean((pred - y_test) ** 2))
    mse_naive = float(np.mean((x_test[:, -1, 0].astype(np.float64) - y_test) ** 2))
    if not mse_model <= ratio * mse_naive:
        raise AssertionError(
            f"on the last {n_test} years (window={window}, seed={seed}) the model's one-step-"
            f"ahead MSE is {mse_model:.4f} (a Forecaster built by the tests with its weights, "
            f"each window forecast on its own); the naive forecast (the last value of each "
            f"window) has {mse_naive:.4f}, and at most {ratio} times that, "
            f"{ratio * mse_naive:.4f}, is expected.\n  Hint: train on every window of the "
            f"series and the value that FOLLOWS it (series[m:m+window] -> series[m+window]) "
            f"with Adam (lr about 1e-2), MSE and clipping for a few hundred steps.")
    return mse_model, mse_naive
