"""The harnesses of lesson 01 (rnnkit.testing.rnn): they pass correct implementations written
here, fail wrong ones, and score a backward on its own when the forward is wrong."""

import numpy as np
import pytest
import torch

from rnnkit.testing import rnn as tests


# --- correct implementations, written independently of the lesson ---------------------------
def step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    h_next = np.tanh(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)
    return h_next, (x, h_prev, W_ih, W_hh, h_next)


def forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    hs, caches, h = [], [], h0
    for t in range(x.shape[1]):
        h, c = step_forward(x[:, t], h, W_ih, W_hh, b_ih, b_hh)
        hs.append(h)
        caches.append(c)
    return np.stack(hs, axis=1), caches


def step_backward(dh_next, cache):
    x, h_prev, W_ih, W_hh, h_next = cache
    da = dh_next * (1 - h_next ** 2)
    return da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(0), da.sum(0)


def backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][2].shape[1]
    dx = np.zeros((N, T, D))
    dWi, dWh, db = np.zeros((H, D)), np.zeros((H, H)), np.zeros(H)
    carry = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], carry, a, b, c, _ = step_backward(dh[:, t] + carry, cache[t])
        dWi, dWh, db = dWi + a, dWh + b, db + c
    return dx, carry, dWi, dWh, db, db.copy()


def ce(logits, targets):
    N, T, V = logits.shape
    z = torch.tensor(np.asarray(logits, np.float64), requires_grad=True)
    loss = torch.nn.functional.cross_entropy(z.reshape(-1, V),
                                             torch.as_tensor(np.asarray(targets, np.int64)).reshape(-1))
    loss.backward()
    return loss.item(), z.grad.numpy()


def sample(logits, temperature, rng):
    z = np.asarray(logits, np.float64) / temperature
    p = np.exp(z - z.max())
    return int(rng.choice(len(p), p=p / p.sum()))


# --- wrong ones -------------------------------------------------------------------------------
def step_forward_W_hh_not_transposed(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    h_next = np.tanh(x @ W_ih.T + b_ih + h_prev @ W_hh + b_hh)
    return h_next, (x, h_prev, W_ih, W_hh, h_next)


def step_forward_float32(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    f = np.float32
    x, h_prev, W_ih, W_hh = (np.asarray(a, f) for a in (x, h_prev, W_ih, W_hh))
    h_next = np.tanh(x @ W_ih.T + h_prev @ W_hh.T + np.asarray(b_ih + b_hh, f))
    return h_next, (x, h_prev, W_ih, W_hh, h_next)


def step_forward_dict_cache(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    h_next = np.tanh(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)
    return h_next, {"h": h_next}


def step_backward_no_tanh_derivative(dh_next, cache):
    x, h_prev, W_ih, W_hh, h_next = cache
    da = dh_next
    return da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(0), da.sum(0)


def step_backward_modifies_cache(dh_next, cache):
    x, h_prev, W_ih, W_hh, h_next = cache
    h_next **= 2
    da = dh_next * (1 - h_next)
    return da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(0), da.sum(0)


def not_implemented(*args):
    raise NotImplementedError


def forward_h0_every_step(x, h0, W_ih, W_hh, b_ih, b_hh):
    hs, caches = [], []
    for t in range(x.shape[1]):
        h, c = step_forward(x[:, t], h0, W_ih, W_hh, b_ih, b_hh)
        hs.append(h)
        caches.append(c)
    return np.stack(hs, axis=1), caches


def forward_modifies_h0(x, h0, W_ih, W_hh, b_ih, b_hh):
    h, caches = forward(x, h0.copy(), W_ih, W_hh, b_ih, b_hh)
    h0[:] = h[:, -1]
    return h, caches


def backward_no_carry(dh, cache):
    N, T, H = dh.shape
    D = cache[0][2].shape[1]
    dx = np.zeros((N, T, D))
    dWi, dWh, db = np.zeros((H, D)), np.zeros((H, H)), np.zeros(H)
    dh0 = None
    for t in reversed(range(T)):
        dx[:, t], dh0, a, b, c, _ = step_backward(dh[:, t], cache[t])
        dWi, dWh, db = dWi + a, dWh + b, db + c
    return dx, dh0, dWi, dWh, db, db.copy()


# --- forward harnesses --------------------------------------------------------------------------
def test_step_forward_accepts_correct_and_float32():
    tests.step_forward(step_forward, N=3, D=4, H=5, seed=0, by_term=True)
    tests.step_forward(step_forward, N=6, D=9, H=7, seed=7, x_scale=2.0, dtype="float32")
    tests.step_forward(step_forward_float32, N=3, D=4, H=5, seed=0)


def test_step_forward_rejects_wrong():
    with pytest.raises(AssertionError, match="only W_hh non-zero"):
        tests.step_forward(step_forward_W_hh_not_transposed, N=3, D=4, H=5, seed=0, by_term=True)
    with pytest.raises(NotImplementedError):
        tests.step_forward(not_implemented, N=3, D=4, H=5, seed=0)


def test_forward_accepts_correct_and_rejects_wrong():
    tests.forward(forward, N=2, T=5, D=3, H=4, seed=0)
    tests.forward(forward, N=3, T=8, D=7, H=5, seed=9, dtype="float32")
    tests.forward(forward, N=4, T=9, D=3, H=6, seed=6, h0="zero")
    with pytest.raises(AssertionError, match="h "):
        tests.forward(forward_h0_every_step, N=2, T=5, D=3, H=4, seed=0)
    with pytest.raises(AssertionError, match="in place"):
        tests.forward(forward_modifies_h0, N=2, T=5, D=3, H=4, seed=0)


# --- backward harnesses and their fallback -----------------------------------------------------
def test_step_backward_accepts_correct(capsys):
    tests.step_backward(step_backward, step_forward, N=3, D=4, H=5, seed=0, rtol=1e-6, atol=1e-7)
    tests.step_backward(step_backward, step_forward, N=5, D=8, H=6, seed=12, dtype="float32")
    assert "note" not in capsys.readouterr().out


def test_step_backward_float32_forward_costs_nothing():
    tests.step_backward(step_backward, step_forward_float32, N=7, D=9, H=11, seed=3,
                        rtol=1e-6, atol=1e-7)


def test_step_backward_rejects_wrong():
    with pytest.raises(AssertionError, match="db_ih from rnn_step_backward"):
        tests.step_backward(step_backward_no_tanh_derivative, step_forward, N=3, D=4, H=5, seed=0)
    with pytest.raises(AssertionError, match="second call"):
        tests.step_backward(step_backward_modifies_cache, step_forward, N=4, D=6, H=3, seed=11,
                            repeat=2)
    with pytest.raises(NotImplementedError):
        tests.step_backward(not_implemented, not_implemented, N=3, D=4, H=5, seed=0)


def test_step_backward_fallback_wrong_forward_right_backward(capsys):
    tests.step_backward(step_backward, step_forward_W_hh_not_transposed, N=3, D=4, H=5, seed=0)
    out = capsys.readouterr().out
    assert "rnn_step_forward is wrong" in out and "documented cache" in out
    tests.step_backward(step_backward, not_implemented, N=3, D=4, H=5, seed=0)
    assert "not implemented" in capsys.readouterr().out


def test_step_backward_fallback_wrong_forward_wrong_backward():
    with pytest.raises(AssertionError, match="rnn_step_forward is wrong .*documented cache"):
        tests.step_backward(step_backward_no_tanh_derivative, step_forward_W_hh_not_transposed,
                            N=3, D=4, H=5, seed=0)


def test_step_backward_retries_documented_cache_after_own_layout(capsys):
    tests.step_backward(step_backward, step_forward_dict_cache, N=3, D=4, H=5, seed=0)
    assert "passed on the documented cache" in capsys.readouterr().out


def test_backward_accepts_correct_and_rejects_wrong(capsys):
    tests.backward(backward, forward, N=2, T=4, D=3, H=5, seed=0)
    tests.backward(backward, forward, N=3, T=7, D=2, H=4, seed=13, upstream="last")
    tests.backward(backward, forward, N=2, T=5, D=3, H=6, seed=15, repeat=2, rtol=1e-5, atol=1e-6)
    tests.backward(backward, forward, N=3, T=6, D=7, H=5, seed=16, dtype="float32")
    assert "note" not in capsys.readouterr().out
    with pytest.raises(AssertionError, match="from rnn_backward"):
        tests.backward(backward_no_carry, forward, N=2, T=4, D=3, H=5, seed=0)


def test_backward_fallback():
    float32_forward = lambda *a: forward(*(np.asarray(v, np.float32) for v in a))  # noqa: E731
    tests.backward(backward, float32_forward, N=3, T=6, D=4, H=5, seed=2, rtol=1e-5, atol=1e-6)
    tests.backward(backward, forward_h0_every_step, N=2, T=4, D=3, H=5, seed=0)
    tests.backward(backward, lambda *a: (forward(*a)[0], None), N=2, T=4, D=3, H=5, seed=0)
    with pytest.raises(AssertionError, match="rnn_forward is wrong"):
        tests.backward(backward_no_carry, forward_h0_every_step, N=2, T=4, D=3, H=5, seed=0)


# --- softmax_cross_entropy and sample_next ------------------------------------------------------
def test_softmax_cross_entropy():
    tests.softmax_cross_entropy(ce, N=2, T=3, V=5, seed=0, scale=2.0, uniform_first=True)
    tests.softmax_cross_entropy(ce, N=3, T=4, V=7, seed=1, scale=1000.0)
    tests.softmax_cross_entropy(ce, N=4, T=6, V=9, seed=2, dtype="float32")
    tests.softmax_cross_entropy(ce, N=2, T=5, V=9, seed=3, target_high=5)
    too_big = lambda z, y: (ce(z, y)[0], ce(z, y)[1] * z.shape[0] * z.shape[1])  # noqa: E731
    with pytest.raises(AssertionError, match="N\\*T times too large"):
        tests.softmax_cross_entropy(too_big, N=2, T=3, V=5, seed=0)

    def naive(z, y):
        p = np.exp(z)
        p = p / p.sum(-1, keepdims=True)
        one = np.eye(z.shape[-1])[y]
        return float(-(np.log(p) * one).sum() / y.size), (p - one) / y.size
    with np.errstate(all="ignore"), pytest.raises(AssertionError):
        tests.softmax_cross_entropy(naive, N=3, T=4, V=7, seed=1, scale=1000.0)


def test_sample_next():
    logits = [1.0, 2.0, 0.5, -1.0, 1.5]
    tests.sample_next(sample, logits, 1.0, n=5000, seed=1, reproducible=True, tol=0.03)
    tests.sample_next(sample, logits, 1e-3, n=200, seed=2, argmax=True)
    ignores_t = lambda z, t, rng: sample(z, 1.0, rng)  # noqa: E731
    with pytest.raises(AssertionError, match="frequencies"):
        tests.sample_next(ignores_t, logits, 0.5, n=5000, seed=1, tol=0.03)
    global_rng = lambda z, t, rng: sample(z, t, np.random.default_rng())  # noqa: E731
    with pytest.raises(AssertionError, match="same seed"):
        tests.sample_next(global_rng, logits, 1.0, n=2000, seed=1, tol=0.05, reproducible=True)
    with pytest.raises(AssertionError, match="integer"):
        tests.sample_next(lambda z, t, rng: 1.0, logits, 1.0, n=10, seed=1)


def test_random_sizes_are_distinct_and_reproducible():
    a = tests.random_sizes(4, seed=3, names="NTDH", high=13)
    assert a == tests.random_sizes(4, seed=3, names="NTDH", high=13)
    assert all(len(set(c.values())) == 4 and min(c.values()) >= 1 for c in a)
