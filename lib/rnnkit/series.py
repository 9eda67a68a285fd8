"""Data of lesson 06: a real time series, a real text, and a variable-length task.

Nothing is downloaded: the series ship with packages the course installs, the text with this
package (``rnnkit/data``).

* :func:`membrane_potential`: a recording of a neuron's membrane potential that matplotlib
  ships as sample data (``matplotlib.cbook.get_sample_data("membrane.dat")``, 12,000 float32
  samples; the neuron rests, is driven into regular spiking by an injected current, and rests
  again). Units and sampling rate are not documented: the lesson treats the values as they are.
* :func:`sunspots`: the yearly sunspot numbers 1700-2008 (309 values, ``SUNACTIVITY``) that
  statsmodels ships as a data set (``statsmodels.api.datasets.sunspots``; originally from the
  Solar Influences Data Analysis Center (SIDC) and NOAA's National Geophysical Data Center).
* :func:`shakespeare_text`: the first 199,994 characters (62 distinct, plain ASCII) of the
  "tiny Shakespeare" corpus, speeches from Shakespeare's plays (public domain), as published by
  Andrej Karpathy in the char-rnn repository (``data/tinyshakespeare/input.txt``). It ships as
  ``rnnkit/data/tiny_shakespeare.txt``; ``rnnkit/data/README.md`` names the source.
* :func:`variable_length_task`: sequences of random lengths whose label depends on the whole
  sequence, padded into one batch.
"""

from __future__ import annotations

import numpy as np


def membrane_potential() -> np.ndarray:
    """The membrane-potential recording shipped with matplotlib, ``(12000,)`` float32."""
    from matplotlib import cbook
    with cbook.get_sample_data("membrane.dat") as f:
        data = np.frombuffer(f.read(), dtype="<f4")
    return data.astype(np.float32).copy()


def sunspots() -> tuple[np.ndarray, np.ndarray]:
    """The yearly sunspot numbers 1700-2008 shipped with statsmodels (no download).

    Source: ``statsmodels.api.datasets.sunspots.load_pandas().data`` (columns ``YEAR`` and
    ``SUNACTIVITY``), data originally from the SIDC (Royal Observatory of Belgium) and NOAA's
    National Geophysical Data Center.

    Returns:
        years: ``(309,)`` float64, 1700.0 to 2008.0;
        values: ``(309,)`` float64, the yearly mean sunspot number (0 to about 190).
    """
    from statsmodels.datasets import sunspots as _sunspots
    data = _sunspots.load_pandas().data
    years = data["YEAR"].to_numpy(dtype=np.float64).copy()
    values = data["SUNACTIVITY"].to_numpy(dtype=np.float64).copy()
    return years, values


def shakespeare_text(max_chars: int | None = None) -> str:
    """The shipped Shakespeare text (plain ASCII, lines ending in ``\n``), or its first
    ``max_chars`` characters."""
    from importlib.resources import files
    text = files("rnnkit").joinpath("data", "tiny_shakespeare.txt").read_text(encoding="ascii")
    if max_chars is not None:
        if max_chars < 1:
            raise ValueError(f"max_chars must be a positive number of characters, not {max_chars}")
        text = text[:max_chars]
    return text


def windows(series: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of ``T`` consecutive values and the value that follows it.

    Returns:
        inputs: ``(M, T, 1)`` with ``inputs[m, :, 0] = series[m : m+T]``;
        targets: ``(M,)`` with ``targets[m] = series[m+T]``; ``M = len(series) - T``.
    """
    series = np.asarray(series, dtype=np.float32)
    M = len(series) - T
    if M <= 0:
        raise ValueError(f"a series of {len(series)} values has no window of length {T}")
    idx = np.arange(M)[:, None] + np.arange(T)[None, :]                 # (M, T)
    return series[idx][..., None], series[T:].copy()


def variable_length_task(n: int, min_len: int = 5, max_len: int = 30, rule: str = "sum",
                         seed=0, pad_value: float = 0.0):
    """``n`` sequences of scalars of random lengths, padded into ``(n, max_len, 1)``.

    Values are standard normal. ``rule="sum"``: the label is 1 when the sum of the sequence is
    positive (every step counts); ``rule="last"``: 1 when its last real value is positive.

    Returns:
        x: ``(n, max_len, 1)`` float32, ``pad_value`` after each sequence's end;
        lengths: ``(n,)`` int64 in ``[min_len, max_len]``;
        y: ``(n,)`` int64 labels in {0, 1}.
    """
    if rule not in ("sum", "last"):
        raise ValueError(f"rule must be 'sum' or 'last', not {rule!r}")
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, size=n).astype(np.int64)
    x = rng.standard_normal((n, max_len, 1)).astype(np.float32)
    mask = np.arange(max_len)[None, :] < lengths[:, None]               # (n, max_len)
    x[~mask] = pad_value
    if rule == "sum":
        y = (x[..., 0] * mask).sum(axis=1) > 0
    else:
        y = x[np.arange(n), lengths - 1, 0] > 0
    return x, lengths, y.astype(np.int64)
