"""Numerical gradients by central differences, for checking hand-written backward passes.

Use float64: with float32 the rounding error of a difference quotient swamps the check.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def numerical_gradient(f: Callable[[], np.ndarray], x: np.ndarray, df=None,
                       h: float = 1e-5) -> np.ndarray:
    """Gradient of ``sum(f() * df)`` with respect to the array ``x``, by central differences.

    ``f`` takes no arguments and reads ``x`` (which is perturbed in place, one entry at a
    time, and restored), so it can check the gradient of any input or weight of a function::

        dW = numerical_gradient(lambda: layer(x, W)[0], W, df=dout)

    For each entry, ``grad[i] = sum((f(x + h e_i) - f(x - h e_i)) * df) / (2h)``.

    Args:
        f: a function of no arguments returning an array (or a scalar).
        x: the array to differentiate with respect to; float64, modified in place and restored.
        df: the upstream gradient, same shape as ``f()``; ``None`` means ones (f is a loss).
        h: the step.

    Returns:
        An array of the shape of ``x``.
    """
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient needs a float64 array, got {x.dtype}: "
                        f"convert with x.astype(np.float64) before checking")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.array(f(), dtype=np.float64, copy=True)
        x[i] = old - h
        minus = np.array(f(), dtype=np.float64, copy=True)
        x[i] = old
        weight = 1.0 if df is None else df
        grad[i] = np.sum((plus - minus) * weight) / (2.0 * h)
        it.iternext()
    return grad


def relative_error(a, b, eps: float = 1e-12) -> float:
    """The largest entrywise relative difference, ``max_i |a_i - b_i| / (|a_i| + |b_i|)``.

    Each entry's difference is divided by the sum of the two entries' sizes (floored at ``eps``,
    so two zero entries count as 0), which puts the result in [0, 1]: 1 for opposite signs or
    one side zero. Two zero arrays give 0.

    Below about 1e-7 in float64, an analytic gradient agrees with a numerical one; a bug usually
    gives 1e-2 or more.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"relative_error: shapes differ, {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b) / np.maximum(eps, np.abs(a) + np.abs(b)), initial=0.0))
