import numpy as np
import pytest

from rnnkit.gradcheck import numerical_gradient, relative_error


def test_numerical_gradient_of_matrix_product():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    W = rng.standard_normal((4, 5))
    dout = rng.standard_normal((3, 5))
    dW = numerical_gradient(lambda: x @ W, W, df=dout)
    assert relative_error(dW, x.T @ dout) < 1e-8
    dx = numerical_gradient(lambda: np.tanh(x @ W), x, df=dout)
    assert relative_error(dx, ((1 - np.tanh(x @ W) ** 2) * dout) @ W.T) < 1e-7


def test_numerical_gradient_detects_a_wrong_gradient_and_restores_input():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(6)
    before = x.copy()
    g = numerical_gradient(lambda: np.sum(x ** 3), x)
    assert np.array_equal(x, before)
    assert relative_error(g, 3 * x ** 2) < 1e-8
    assert relative_error(g, 2 * x ** 2) > 1e-2


def test_float32_is_refused():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: 0.0, np.zeros(3, dtype=np.float32))


def test_relative_error_of_zeros_and_shapes():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error(np.zeros(3), np.zeros(4))


def test_relative_error_divides_by_the_sum_of_the_sizes_as_documented():
    # |3 - 1| / (|3| + |1|) = 0.5 (not 2/3, which max(|a|, |b|) would give)
    assert relative_error(np.array([3.0, 0.0]), np.array([1.0, 0.0])) == pytest.approx(0.5)
    assert relative_error(np.array([2.0]), np.array([-2.0])) == pytest.approx(1.0)   # opposite signs
    assert relative_error(np.array([5.0]), np.array([0.0])) == pytest.approx(1.0)    # one side zero
    assert "(|a_i| + |b_i|)" in relative_error.__doc__
