"""Assertions for graded tests whose messages say what is wrong and where to look.

Every helper raises ``AssertionError`` with a message that names the output, the shape found
against the shape expected, the size and place of the largest error, and a hint. Tests compare
within a tolerance, so float32 or float64, loops or vectorised code all pass when correct.
"""

from __future__ import annotations

import numpy as np


def _as_array(name: str, value) -> np.ndarray:
    if value is None:
        raise AssertionError(f"{name}: got None. Did the function forget to `return` it?")
    if hasattr(value, "detach"):                  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise AssertionError(f"{name}: expected a numeric array, got {type(value).__name__} "
                             f"({err})") from None
    return arr


def _with_hint(message: str, hint: str) -> str:
    return f"{message}\n  Hint: {hint}" if hint else message


def check_returns(name: str, result, n: int, names: tuple[str, ...] = ()) -> tuple:
    """Check that a function returned a tuple (or list) of ``n`` values and return it.

    Args:
        name: the function, as the learner knows it (``"rnn_step_forward"``).
        result: what it returned.
        n: how many values it should return.
        names: their names, for the message.
    """
    what = f" ({', '.join(names)})" if names else ""
    if not isinstance(result, (tuple, list)) or len(result) != n:
        got = (f"a {type(result).__name__} of length {len(result)}"
               if isinstance(result, (tuple, list)) else type(result).__name__)
        raise AssertionError(f"{name} should return {n} values{what}, but returned {got}.")
    return tuple(result)


def check_shape(name: str, got, shape: tuple, hint: str = "") -> np.ndarray:
    """Check that ``got`` is an array of exactly ``shape``; return it as float64."""
    arr = _as_array(name, got)
    if arr.shape != tuple(shape):
        raise AssertionError(_with_hint(
            f"{name}: wrong shape {arr.shape}, expected {tuple(shape)}.", hint))
    return arr


def check_close(name: str, got, expected, rtol: float = 1e-5, atol: float = 1e-6,
                hint: str = "") -> None:
    """Check that ``got`` matches ``expected`` entry by entry within ``atol + rtol*|expected|``.

    The shape must match exactly (no broadcasting): a ``(N, H)`` answer where ``(N, T, H)`` was
    expected fails with a shape message, never silently.

    Args:
        name: the output, as the learner knows it (``"dW_hh from rnn_backward"``).
        got: the learner's value (array, tensor, or number).
        expected: the reference value.
        rtol, atol: relative and absolute tolerance.
        hint: where to look when it fails.
    """
    exp = _as_array(f"{name} (reference)", expected)
    arr = check_shape(name, got, exp.shape, hint)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(_with_hint(
            f"{name}: {int(bad.sum())} entries are NaN or infinite, the first at index {where}.",
            hint))
    err = np.abs(arr - exp)                                     # same shape as expected
    limit = atol + rtol * np.abs(exp)
    if np.all(err <= limit):
        return
    worst = np.unravel_index(int(np.argmax(err - limit)), err.shape) if err.ndim else ()
    where = tuple(int(i) for i in worst)
    n_bad = int(np.sum(err > limit))
    raise AssertionError(_with_hint(
        f"{name}: {n_bad} of {err.size} entries are off; the largest error is "
        f"{float(err.max()):.3g} (tolerance {atol:g} + {rtol:g}*|expected|). "
        f"At index {where}: got {float(arr[where]):.6g}, expected {float(exp[where]):.6g}.",
        hint))


def check_scalar(name: str, got, expected: float, rtol: float = 1e-5, atol: float = 1e-6,
                 hint: str = "") -> None:
    """Check a scalar (a loss, a norm): a Python float, a 0-d array, or a 1-element tensor."""
    arr = _as_array(name, got)
    if arr.size != 1:
        raise AssertionError(_with_hint(
            f"{name}: expected a single number, got an array of shape {arr.shape}.", hint))
    check_close(name, arr.reshape(()), np.float64(expected), rtol=rtol, atol=atol, hint=hint)
