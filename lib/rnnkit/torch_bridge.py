"""Moving weights between NumPy arrays in torch's layout and ``torch.nn`` recurrent modules.

Layout (as in ``torch.nn.RNN``, ``LSTM``, ``GRU`` and their cells), for input size D, hidden
size H and G gate blocks (RNN 1; LSTM 4 in the order i, f, g, o; GRU 3 in the order r, z, n):

    W_ih: (G*H, D)    W_hh: (G*H, H)    b_ih: (G*H,)    b_hh: (G*H,)

and the pre-activations are ``x @ W_ih.T + b_ih + h @ W_hh.T + b_hh``. Modules built here are
single-layer, unidirectional and ``batch_first=True``, as the course's batches are ``(N, T, D)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
"""Gate blocks stacked in W_ih / W_hh for each kind of layer."""

_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
_CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}


def _kind(kind: str) -> str:
    k = kind.lower()
    if k not in GATES:
        raise ValueError(f"kind must be one of {sorted(GATES)}, got {kind!r}")
    return k


def _sizes(kind: str, W_ih, W_hh) -> tuple[int, int]:
    W_ih, W_hh = np.asarray(W_ih), np.asarray(W_hh)
    if W_ih.ndim != 2 or W_hh.ndim != 2:
        raise ValueError(f"W_ih and W_hh must be 2-D, got shapes {W_ih.shape} and {W_hh.shape}")
    H = W_hh.shape[1]
    G = GATES[kind]
    if W_hh.shape != (G * H, H) or W_ih.shape[0] != G * H:
        raise ValueError(f"a {kind.upper()} with hidden size H={H} needs W_ih of shape "
                         f"({G * H}, D) and W_hh of shape ({G * H}, {H}); got {W_ih.shape} "
                         f"and {W_hh.shape}. Gates are stacked along the first axis.")
    return W_ih.shape[1], H


def _load(module: nn.Module, suffix: str, W_ih, W_hh, b_ih, b_hh, dtype) -> nn.Module:
    module = module.to(dtype)
    with torch.no_grad():
        getattr(module, "weight_ih" + suffix).copy_(torch.as_tensor(np.asarray(W_ih), dtype=dtype))
        getattr(module, "weight_hh" + suffix).copy_(torch.as_tensor(np.asarray(W_hh), dtype=dtype))
        if b_ih is not None:
            getattr(module, "bias_ih" + suffix).copy_(torch.as_tensor(np.asarray(b_ih), dtype=dtype))
            getattr(module, "bias_hh" + suffix).copy_(torch.as_tensor(np.asarray(b_hh), dtype=dtype))
    return module


def layer_from_numpy(kind: str, W_ih, W_hh, b_ih=None, b_hh=None, *,
                     dtype=torch.float64, nonlinearity: str = "tanh") -> nn.Module:
    """Build a ``torch.nn.RNN``, ``LSTM`` or ``GRU`` (one layer, batch_first) holding these weights.

    Args:
        kind: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        W_ih: ``(G*H, D)``; W_hh: ``(G*H, H)``; b_ih, b_hh: ``(G*H,)`` or both ``None`` (no bias).
        dtype: the module's dtype; float64 for exact comparisons.
        nonlinearity: ``"tanh"`` or ``"relu"``, for ``kind="rnn"`` only.
    """
    kind = _kind(kind)
    if (b_ih is None) != (b_hh is None):
        raise ValueError("give both b_ih and b_hh, or neither (a layer without bias)")
    D, H = _sizes(kind, W_ih, W_hh)
    extra = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
    module = _LAYERS[kind](D, H, num_layers=1, bias=b_ih is not None, batch_first=True, **extra)
    return _load(module, "_l0", W_ih, W_hh, b_ih, b_hh, dtype)


def cell_from_numpy(kind: str, W_ih, W_hh, b_ih=None, b_hh=None, *,
                    dtype=torch.float64, nonlinearity: str = "tanh") -> nn.Module:
    """Build a ``torch.nn.RNNCell``, ``LSTMCell`` or ``GRUCell`` holding these weights.

    Same arguments as :func:`layer_from_numpy`.
    """
    kind = _kind(kind)
    if (b_ih is None) != (b_hh is None):
        raise ValueError("give both b_ih and b_hh, or neither (a cell without bias)")
    D, H = _sizes(kind, W_ih, W_hh)
    extra = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
    module = _CELLS[kind](D, H, bias=b_ih is not None, **extra)
    return _load(module, "", W_ih, W_hh, b_ih, b_hh, dtype)


def numpy_weights(module: nn.Module, layer: int = 0, reverse: bool = False) -> dict:
    """Copy a recurrent module's weights out as float64 NumPy arrays in torch's layout.

    Works for ``nn.RNN/LSTM/GRU`` (any layer, ``reverse=True`` for the backward direction of a
    bidirectional one) and for ``nn.RNNCell/LSTMCell/GRUCell``.

    Returns:
        ``{"W_ih": (G*H, D), "W_hh": (G*H, H), "b_ih": (G*H,), "b_hh": (G*H,)}``; the biases are
        missing when the module has ``bias=False``.
    """
    is_cell = isinstance(module, tuple(_CELLS.values()))
    suffix = "" if is_cell else f"_l{layer}" + ("_reverse" if reverse else "")
    out = {}
    for key, attr in (("W_ih", "weight_ih"), ("W_hh", "weight_hh"),
                      ("b_ih", "bias_ih"), ("b_hh", "bias_hh")):
        p = getattr(module, attr + suffix, None)
        if p is None and key.startswith("W"):
            raise ValueError(f"{type(module).__name__} has no parameter {attr + suffix}: "
                             f"check layer={layer} and reverse={reverse}")
        if p is not None:
            out[key] = p.detach().cpu().numpy().astype(np.float64)
    return out


def random_weights(kind: str, D: int, H: int, seed=0, dtype=np.float64,
                   bias: bool = True) -> dict:
    """Weights drawn as torch initialises them, uniform on [-1/sqrt(H), 1/sqrt(H)].

    Returns:
        ``{"W_ih": (G*H, D), "W_hh": (G*H, H), "b_ih": (G*H,), "b_hh": (G*H,)}`` of ``dtype``.
    """
    kind = _kind(kind)
    G = GATES[kind]
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    k = 1.0 / np.sqrt(H)
    shapes = {"W_ih": (G * H, D), "W_hh": (G * H, H)}
    if bias:
        shapes.update(b_ih=(G * H,), b_hh=(G * H,))
    return {name: rng.uniform(-k, k, size=shape).astype(dtype) for name, shape in shapes.items()}
