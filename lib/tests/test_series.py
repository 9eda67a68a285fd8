"""Unit tests of rnnkit.series: the shipped series and text, windows, the variable-length task."""

import numpy as np
import pytest

from rnnkit import series


def test_membrane_potential_ships_with_matplotlib():
    v = series.membrane_potential()
    assert v.shape == (12000,) and v.dtype == np.float32
    assert np.all(np.isfinite(v)) and -1.0 < v.min() < v.max() < 0.5


def test_sunspots_ship_with_statsmodels():
    years, values = series.sunspots()
    assert years.shape == values.shape == (309,)
    assert years.dtype == values.dtype == np.float64
    assert years[0] == 1700 and years[-1] == 2008 and np.all(np.diff(years) == 1)
    assert np.all(np.isfinite(values)) and values.min() >= 0 and 150 < values.max() < 200
    assert values[0] == 5.0 and values[-1] == 2.9


def test_shakespeare_text_ships_with_the_package():
    text = series.shakespeare_text()
    assert len(text) == 199_994 and len(set(text)) == 62
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    assert all(ch == "\n" or 32 <= ord(ch) < 127 for ch in text)
    assert series.shakespeare_text(50_000) == text[:50_000]
    with pytest.raises(ValueError, match="positive"):
        series.shakespeare_text(0)


def test_windows():
    x, y = series.windows(np.arange(10.0), 3)
    assert x.shape == (7, 3, 1) and y.shape == (7,)
    assert x[2, :, 0].tolist() == [2, 3, 4] and y[2] == 5
    with pytest.raises(ValueError):
        series.windows(np.arange(3.0), 3)


@pytest.mark.parametrize("rule", ["sum", "last"])
def test_variable_length_task(rule):
    x, lengths, y = series.variable_length_task(200, 5, 30, rule=rule, seed=1)
    assert x.shape == (200, 30, 1) and lengths.shape == y.shape == (200,)
    assert lengths.min() >= 5 and lengths.max() <= 30
    mask = np.arange(30)[None, :] < lengths[:, None]
    assert np.all(x[~mask] == 0)
    if rule == "sum":
        assert np.array_equal(y, (x[..., 0].sum(1) > 0).astype(np.int64))
    else:
        assert np.array_equal(y, (x[np.arange(200), lengths - 1, 0] > 0).astype(np.int64))
    assert 0.3 < y.mean() < 0.7
    with pytest.raises(ValueError):
        series.variable_length_task(3, rule="max")
