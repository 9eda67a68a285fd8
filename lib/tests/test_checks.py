import functools

import numpy as np
import pytest
import torch

from rnnkit.checks import (HIDDEN, check_close, check_returns, check_scalar, check_shape,
                           hidden_cases, in_hidden_cases, reference, shape_diagnosis)


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


# --- hidden cases: no reference value in a message ----------------------------------------------
def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as err:
        fn(*args, **kwargs)
    return str(err.value)


def test_outside_hidden_cases_the_expected_value_is_shown():
    assert not in_hidden_cases()
    exp = np.array([[0.25, -0.872972], [0.5, 0.125]])
    msg = _message(check_close, "h_next", np.zeros((2, 2)), exp)
    assert "got 0, expected -0.872972" in msg and "(0, 1)" in msg
    assert reference(3) == "3" and reference(-7, "+d") == "-7" and reference((2, 3)) == "(2, 3)"


def test_in_hidden_cases_messages_say_where_and_how_far_but_show_no_reference():
    exp = np.array([[0.25, -0.872972], [0.5, 0.125]])
    got = exp.copy()
    got[0, 1] = 0.0
    with hidden_cases():
        msg = _message(check_close, "h_next", got, exp, hint="check the transposes")
        scalar = _message(check_scalar, "loss", 0.0, 2.302585)
        assert reference(-0.872972) == HIDDEN and reference(12, "+d") == HIDDEN
    assert "h_next" in msg and "1 of 4 entries" in msg and "index (0, 1)" in msg
    assert "about 0.9" in msg and "check the transposes" in msg and "hidden test" in msg
    for leak in ("0.872972", "0.873", "-0.87", "expected 0", "got 0"):
        assert leak not in msg, (leak, msg)
    assert "loss: off by about 2" in scalar and "2.30" not in scalar
    # only the hidden block hides: the state comes back, also after an error inside it
    with pytest.raises(AssertionError):
        with hidden_cases():
            check_close("h", got, exp)
    assert "expected -0.872972" in _message(check_close, "h", got, exp)


def test_hidden_cases_nest():
    with hidden_cases():
        with hidden_cases():
            assert in_hidden_cases()
        assert in_hidden_cases()
    assert not in_hidden_cases()


# --- shape failures get a shape hint, not the value hint ---------------------------------------
def test_a_keepdims_bias_gradient_gets_a_shape_hint_and_not_the_value_hint():
    value_hint = "db is da summed over the batch (axis 0)"
    msg = _message(check_close, "db_ih", np.ones((1, 5)), np.ones(5), hint=value_hint)
    assert "wrong shape (1, 5), expected (5,)" in msg
    assert "keepdims=True" in msg and ".reshape((5,))" in msg
    assert value_hint not in msg and "Hint" not in msg
    with hidden_cases():
        assert "keepdims=True" in _message(check_close, "db_ih", np.ones((1, 5)), np.ones(5))


@pytest.mark.parametrize("got, expected, words", [
    ((1, 5), (5,), "of size 1 too many"),
    ((4, 1, 3, 1), (4, 3), "2 axes of size 1 too many"),
    ((5,), (1, 5), "lacks an axis of size 1"),
    ((5,), (5, 1), "lacks an axis of size 1"),
    ((5, 1), (1, 5), "axes of size 1 in other places"),
    ((3, 4), (4, 3), "transpose"),
    ((2, 3, 4), (2, 4, 3), "transpose"),
])
def test_shape_diagnosis_names_the_likely_mistake(got, expected, words):
    assert words in shape_diagnosis(got, expected)
    assert words in _message(check_shape, "x", np.zeros(got), expected)


def test_other_wrong_shapes_get_no_made_up_diagnosis_and_keep_the_callers_shape_hint():
    assert shape_diagnosis((2, 3), (2, 4)) == "" and shape_diagnosis((5,), (5,)) == ""
    msg = _message(check_shape, "h", np.zeros((2, 3)), (2, 4), hint="h is (N, H)")
    assert msg == "h: wrong shape (2, 3), expected (2, 4).\n  Hint: h is (N, H)"
    msg = _message(check_shape, "db", np.zeros((1, 4)), (4,), hint="a gradient has the shape "
                   "of its array")
    assert "keepdims=True" in msg and msg.endswith("Hint: a gradient has the shape of its array")


def test_harness_messages_write_their_own_reference_numbers_through_reference():
    from rnnkit.testing import compare, practice, rnn
    config = dict(kind="gru", input_size=3, hidden_size=5)
    count = str(compare.torch_count(**config))                 # 150
    cases = [
        (compare.check_num_parameters, (lambda kind, **kw: 7, [config]), count),
        (practice.output_shapes, (lambda cfg, N, T: ((1, 2, 3), (1, 2, 3), None),
                                  {"kind": "gru", "input_size": 3, "hidden_size": 5}, 2, 4),
         "(4, 2, 5)"),
        (functools.partial(rnn.sample_next, argmax=True),
         (lambda logits, tau, rng: 0, [0.0, 5.0, 1.0], 1e-3, 50, 0), "argmax (1)"),
    ]
    for fn, args, number in cases:
        assert number in _message(fn, *args), args
        with hidden_cases():
            msg = _message(fn, *args)
        assert number not in msg and HIDDEN in msg, msg
