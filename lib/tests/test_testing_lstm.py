"""The harnesses of lesson 03 (rnnkit.testing.lstm): they pass correct implementations written
here, fail wrong ones, and score a backward on its own when the forward is wrong."""

import numpy as np
import pytest

from rnnkit.testing import lstm as tests


def sig(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


# --- correct implementations ----------------------------------------------------------------
def step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh, order="ifgo"):
    H = h_prev.shape[1]
    A = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    blocks = dict(zip(order, (A[:, k * H:(k + 1) * H] for k in range(4))))
    i, f, g, o = sig(blocks["i"]), sig(blocks["f"]), np.tanh(blocks["g"]), sig(blocks["o"])
    c_next = f * c_prev + i * g
    tanh_c = np.tanh(c_next)
    return o * tanh_c, c_next, (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c)


def forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh, step=step_forward):
    hs, cs, caches, h, c = [], [], [], h0, c0
    for t in range(x.shape[1]):
        h, c, cache = step(x[:, t], h, c, W_ih, W_hh, b_ih, b_hh)
        hs.append(h)
        cs.append(c)
        caches.append(cache)
    return np.stack(hs, 1), np.stack(cs, 1), (caches, x.shape[2])


def step_backward(dh_next, dc_next, cache, carry_f=True):
    x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c = cache
    dc = dc_next + dh_next * o * (1 - tanh_c ** 2)
    dA = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2),
                         dh_next * tanh_c * o * (1 - o)], axis=1)
    db = dA.sum(0)
    return (dA @ W_ih, dA @ W_hh, dc * f if carry_f else dc, dA.T @ x, dA.T @ h_prev, db,
            db.copy())


def backward(dh, cache, step=step_backward):
    caches, D = cache
    N, T, H = dh.shape
    dx = np.zeros((N, T, D))
    dh_c, dc_c, grads = np.zeros((N, H)), np.zeros((N, H)), [0.0] * 4
    for t in reversed(range(T)):
        dx[:, t], dh_c, dc_c, *g = step(dh[:, t] + dh_c, dc_c, caches[t])
        grads = [a + b for a, b in zip(grads, g)]
    return (dx, dh_c, dc_c, *grads)


# --- wrong ones and variations ----------------------------------------------------------------
def step_forward_ifog(*args):                 # CS231n's gate order
    return step_forward(*args, order="ifog")


def step_forward_float32(*args):
    return step_forward(*(np.asarray(a, np.float32) for a in args))


def step_forward_dict_cache(*args):
    h, c, _ = step_forward(*args)
    return h, c, {"h": h}


def step_backward_dc_not_through_f(dh_next, dc_next, cache):
    return step_backward(dh_next, dc_next, cache, carry_f=False)


def forward_c0_every_step(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    hs, cs, caches, h = [], [], [], h0
    for t in range(x.shape[1]):
        h, c, cache = step_forward(x[:, t], h, c0, W_ih, W_hh, b_ih, b_hh)
        hs.append(h)
        cs.append(c)
        caches.append(cache)
    return np.stack(hs, 1), np.stack(cs, 1), (caches, x.shape[2])


def backward_no_dc_carry(dh, cache):
    caches, D = cache
    N, T, H = dh.shape
    dx = np.zeros((N, T, D))
    dh_c, dc_c, grads = np.zeros((N, H)), np.zeros((N, H)), [0.0] * 4
    for t in reversed(range(T)):
        dx[:, t], dh_c, dc_c, *g = step_backward(dh[:, t] + dh_c, np.zeros((N, H)), caches[t])
        grads = [a + b for a, b in zip(grads, g)]
    return (dx, dh_c, dc_c, *grads)


def not_implemented(*args):
    raise NotImplementedError


# --- forward harnesses ------------------------------------------------------------------------
def test_step_forward():
    tests.step_forward(step_forward, N=3, D=4, H=5, seed=0)
    tests.step_forward(step_forward, 4, 3, 6, seed=100, scale=2.5)
    tests.step_forward(step_forward, 5, 4, 3, seed=7, scale=2.0, dtype="float32")
    with pytest.raises(AssertionError, match="c_next"):
        tests.step_forward(step_forward_ifog, N=3, D=4, H=5, seed=0)
    with pytest.raises(NotImplementedError):
        tests.step_forward(not_implemented, N=3, D=4, H=5, seed=0)


def test_forward():
    tests.forward(forward, N=2, T=5, D=3, H=4, seed=1)
    tests.forward(forward, 3, 6, 4, 5, seed=9, scale=1.5, dtype="float32")
    tests.forward(forward, 4, 1, 3, 5, seed=203, scale=2.0)
    with pytest.raises(AssertionError):
        tests.forward(forward_c0_every_step, N=2, T=5, D=3, H=4, seed=1)
    with pytest.raises(AssertionError, match="wrong shape"):
        tests.forward(lambda *a: (forward(*a)[0][:, :-1], *forward(*a)[1:]), N=2, T=5, D=3, H=4,
                      seed=1)


# --- backward harnesses and their fallback ----------------------------------------------------
def test_step_backward_correct(capsys):
    tests.step_backward(step_backward, step_forward, N=3, D=4, H=5, seed=3, rtol=1e-5)
    tests.step_backward(step_backward, step_forward, 3, 4, 2, seed=310, scale=2.0, zero="dh")
    tests.step_backward(step_backward, step_forward, 3, 2, 4, seed=311, scale=2.0, zero="dc")
    tests.step_backward(step_backward, step_forward, 4, 5, 3, seed=312, scale=1.5, dtype="float32")
    assert "note" not in capsys.readouterr().out


def test_step_backward_float32_forward_costs_nothing():
    tests.step_backward(step_backward, step_forward_float32, N=6, D=5, H=7, seed=3, scale=2.0)


def test_step_backward_wrong():
    with pytest.raises(AssertionError, match="dc_prev from lstm_step_backward"):
        tests.step_backward(step_backward_dc_not_through_f, step_forward, N=3, D=4, H=5, seed=3)
    with pytest.raises(NotImplementedError):
        tests.step_backward(not_implemented, not_implemented, N=3, D=4, H=5, seed=3)


def test_step_backward_fallback(capsys):
    tests.step_backward(step_backward, step_forward_ifog, N=3, D=4, H=5, seed=3)
    assert "lstm_step_forward is wrong" in capsys.readouterr().out
    tests.step_backward(step_backward, not_implemented, N=3, D=4, H=5, seed=3)
    tests.step_backward(step_backward, step_forward_dict_cache, N=3, D=4, H=5, seed=3)
    assert "documented cache" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="lstm_step_forward is wrong .*documented cache"):
        tests.step_backward(step_backward_dc_not_through_f, step_forward_ifog, N=3, D=4, H=5,
                            seed=3)


def test_backward_correct_and_wrong(capsys):
    tests.backward(backward, forward, N=2, T=4, D=3, H=5, seed=4, rtol=1e-5)
    tests.backward(backward, forward, 3, 8, 2, 5, seed=410, scale=1.5, only=-1)
    tests.backward(backward, forward, 4, 6, 3, 2, seed=411, scale=1.5, only=0)
    tests.backward(backward, forward, 2, 7, 4, 3, seed=412, scale=1.5, dtype="float32")
    assert "note" not in capsys.readouterr().out
    with pytest.raises(AssertionError, match="from lstm_backward"):
        tests.backward(backward_no_dc_carry, forward, N=2, T=4, D=3, H=5, seed=4)


def test_backward_fallback(capsys):
    f32 = lambda *a: forward(*a, step=step_forward_float32)  # noqa: E731
    tests.backward(backward, f32, N=3, T=6, D=4, H=5, seed=2, scale=1.5)
    assert "note" not in capsys.readouterr().out
    tests.backward(backward, forward_c0_every_step, N=2, T=4, D=3, H=5, seed=4)
    tests.backward(backward, lambda *a: forward(*a, step=step_forward_ifog), N=2, T=4, D=3, H=5,
                   seed=4)
    assert "lstm_forward is wrong" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="lstm_forward is wrong"):
        tests.backward(backward_no_dc_carry, forward_c0_every_step, N=2, T=4, D=3, H=5, seed=4)
