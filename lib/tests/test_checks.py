import numpy as np
import pytest
import torch

from rnnkit.checks import check_close, check_returns, check_scalar, check_shape


def test_check_close_accepts_float32_and_tensors():
    exp = np.linspace(-1, 1, 12).reshape(3, 4)
    check_close("h", exp.astype(np.float32), exp, atol=1e-6)
    check_close("h", torch.tensor(exp), exp)


def test_check_close_message_names_output_index_and_hint():
    exp = np.zeros((2, 3))
    got = exp.copy()
    got[1, 2] = 0.5
    with pytest.raises(AssertionError) as err:
        check_close("h_next", got, exp, hint="look at the bias")
    msg = str(err.value)
    assert "h_next" in msg and "(1, 2)" in msg and "0.5" in msg and "look at the bias" in msg


def test_check_close_refuses_broadcastable_shapes_and_nan():
    with pytest.raises(AssertionError, match=r"wrong shape \(3,\), expected \(1, 3\)"):
        check_close("b", np.zeros(3), np.zeros((1, 3)))
    with pytest.raises(AssertionError, match="NaN"):
        check_close("b", np.array([np.nan, 0.0]), np.zeros(2))
    with pytest.raises(AssertionError, match="forget to `return`"):
        check_shape("dx", None, (2,))


def test_check_returns_and_scalar():
    assert check_returns("f", (1, 2), 2) == (1, 2)
    with pytest.raises(AssertionError, match="should return 2 values"):
        check_returns("f", np.zeros(2), 2, names=("h", "cache"))
    check_scalar("loss", torch.tensor(1.0), 1.0)
    with pytest.raises(AssertionError, match="single number"):
        check_scalar("loss", np.zeros(2), 0.0)
    with pytest.raises(AssertionError, match="loss"):
        check_scalar("loss", 1.1, 1.0)
