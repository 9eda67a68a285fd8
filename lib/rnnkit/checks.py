"""Assertions for graded tests whose messages say what is wrong and where to look.

Every helper raises ``AssertionError`` with a message that names the output, the shape found
against the shape expected, the size and place of the largest error, and a hint. Tests compare
within a tolerance, so float32 or float64, loops or vectorised code all pass when correct.

**Hidden cases.** When the grader runs the hidden tests of a test cell, it does so inside
:func:`hidden_cases`. There the messages still say which output is off, where and by about how
much, but never show a reference value: no expected number, no value of the learner's output at
that place (which, with the error, would give the expected one away). A harness that puts a
reference number into a message of its own writes it through :func:`reference`. Outside
:func:`hidden_cases` (a learner running a cell in their own kernel, the visible tests of a
graded cell) the messages show the expected values, as they always did.
"""

from __future__ import annotations

import contextlib

import numpy as np

HIDDEN = "<hidden>"
"""What :func:`reference` writes in place of a reference value inside :func:`hidden_cases`."""

_hidden_depth = 0


@contextlib.contextmanager
def hidden_cases():
    """Within this block, messages leave out reference values (the grader runs hidden tests
    in it). Blocks may nest; the previous state comes back on exit, also after an error."""
    global _hidden_depth
    _hidden_depth += 1
    try:
        yield
    finally:
        _hidden_depth -= 1


def in_hidden_cases() -> bool:
    """True inside :func:`hidden_cases`."""
    return _hidden_depth > 0


def reference(value, spec: str = "") -> str:
    """``format(value, spec)``, or ``"<hidden>"`` inside :func:`hidden_cases`.

    For a harness's own messages: ``f"torch gives {reference(expected)}"``."""
    if in_hidden_cases():
        return HIDDEN
    return format(value, spec)


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


def _axes(n: int) -> str:
    return "an axis" if n == 1 else f"{n} axes"


def shape_diagnosis(got: tuple, expected: tuple) -> str:
    """What a wrong shape suggests, in one sentence, or ``""`` when nothing specific does.

    Shapes that differ only by axes of size 1 come from ``keepdims=True``, a missing
    ``reshape``/``squeeze`` or an indexing that keeps an axis; the same sizes in another order
    from a missing transpose."""
    got, expected = tuple(got), tuple(expected)
    if got == expected:
        return ""
    if [d for d in got if d != 1] == [d for d in expected if d != 1]:
        extra = sum(d == 1 for d in got) - sum(d == 1 for d in expected)
        if extra > 0:
            return (f"it has {_axes(extra)} of size 1 too many: did you sum (or take a mean or "
                    f"max) with keepdims=True? Drop keepdims, or use .reshape({expected}).")
        if extra < 0:
            return (f"it lacks {_axes(-extra)} of size 1: use .reshape({expected}), index with "
                    f"None (a[:, None]), or keep the axis with keepdims=True.")
        return (f"the same sizes with the axes of size 1 in other places: use "
                f".reshape({expected}), or check for a transpose.")
    if len(got) == len(expected) and sorted(got) == sorted(expected):
        return ("the same sizes in another order: a missing or extra transpose (.T), or axes "
                "in the wrong order?")
    return ""


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
    """Check that ``got`` is an array of exactly ``shape``; return it as float64.

    ``hint`` is about the shape (it is shown only when the shape is wrong). When the shapes
    differ only by axes of size 1 (``keepdims=True``) or by their order (a transpose), the
    message says so first."""
    arr = _as_array(name, got)
    shape = tuple(shape)
    if arr.shape != shape:
        why = shape_diagnosis(arr.shape, shape)
        raise AssertionError(_with_hint(
            f"{name}: wrong shape {arr.shape}, expected {shape}" + (f": {why}" if why else "."),
            hint))
    return arr


def _about(x: float) -> str:
    """``x`` to one significant digit (0.873 -> "0.9", 1234 -> "1000")."""
    return f"{float(f'{x:.1g}'):g}"


def check_close(name: str, got, expected, rtol: float = 1e-5, atol: float = 1e-6,
                hint: str = "") -> None:
    """Check that ``got`` matches ``expected`` entry by entry within ``atol + rtol*|expected|``.

    The shape must match exactly (no broadcasting): a ``(N, H)`` answer where ``(N, T, H)`` was
    expected fails with a shape message, never silently, and without ``hint`` (which is about
    the values).

    Args:
        name: the output, as the learner knows it (``"dW_hh from rnn_backward"``).
        got: the learner's value (array, tensor, or number).
        expected: the reference value.
        rtol, atol: relative and absolute tolerance.
        hint: where to look when the values are wrong.
    """
    exp = _as_array(f"{name} (reference)", expected)
    arr = check_shape(name, got, exp.shape)
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
    tolerance = f"(tolerance {atol:g} + {rtol:g}*|expected|)"
    if in_hidden_cases():
        size = _about(float(err.max()))
        what = (f"{n_bad} of {err.size} entries are off, the worst at index {where}; the "
                f"largest error is about {size}" if err.ndim else f"off by about {size}")
        raise AssertionError(_with_hint(
            f"{name}: {what} {tolerance}. This is a hidden test: its expected values are not "
            f"shown.", hint))
    raise AssertionError(_with_hint(
        f"{name}: {n_bad} of {err.size} entries are off; the largest error is "
        f"{float(err.max()):.3g} {tolerance}. "
        f"At index {where}: got {float(arr[where]):.6g}, expected {float(exp[where]):.6g}.",
        hint))


def check_scalar(name: str, got, expected: float, rtol: float = 1e-5, atol: float = 1e-6,
                 hint: str = "") -> None:
    """Check a scalar (a loss, a norm): a Python float, a 0-d array, or a 1-element tensor."""
    arr = _as_array(name, got)
    if arr.size != 1:
        raise AssertionError(f"{name}: expected a single number, got an array of shape "
                             f"{arr.shape}.")
    check_close(name, arr.reshape(()), np.float64(expected), rtol=rtol, atol=atol, hint=hint)
