"""The harnesses of lesson 02 (rnnkit.testing.gradients): they pass correct implementations
written here and fail wrong ones; tbptt_gradients is scored apart from tbptt_windows."""

import numpy as np
import pytest

from rnnkit.testing import gradients as tests


def jacobian_product(h, W_hh, t, T):
    J = np.eye(W_hh.shape[0])
    for k in range(t + 1, T + 1):
        J = ((1 - h[k] ** 2)[:, None] * W_hh) @ J
    return J


def hidden_grad_norms(h, W_hh, dh_T):
    T = h.shape[0] - 1
    g, out = np.asarray(dh_T, float), np.zeros(T)
    for k in range(T, 0, -1):
        out[k - 1] = np.linalg.norm(g)
        g = (g * (1 - h[k] ** 2)) @ W_hh
    return out


def clip(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(np.square(g)) for g in grads)))
    scale = min(1.0, max_norm / (total + 1e-6))
    return [np.asarray(g) * scale for g in grads], total


def windows(T, k):
    return [(s, min(s + k, T)) for s in range(0, T, k)]


def windows_overlap(T, k):
    return [(max(s - 1, 0), min(s + k, T)) for s in range(0, T, k)]


def windows_from_end(T, k):
    """A wrong tiling (the short window first), still a tiling of 0..T in windows of 1..k."""
    return [(max(e - k, 0), e) for e in range(T, 0, -k)][::-1]


def make_tbptt(win):
    def tbptt(x, h0, W_ih, W_hh, b_ih, b_hh, dhs, k):
        grads = [np.zeros(W_ih.shape), np.zeros(W_hh.shape), np.zeros(b_ih.shape),
                 np.zeros(b_hh.shape)]
        h_start = h0
        for s, e in win(x.shape[1], k):
            hs, prev = [], h_start
            for t in range(s, e):
                prev = np.tanh(x[:, t] @ W_ih.T + b_ih + prev @ W_hh.T + b_hh)
                hs.append(prev)
            carry = np.zeros_like(h0)
            for j in reversed(range(len(hs))):
                t = s + j
                before = hs[j - 1] if j else h_start
                da = (dhs[:, t] + carry) * (1 - hs[j] ** 2)
                grads[0] += da.T @ x[:, t]
                grads[1] += da.T @ before
                grads[2] += da.sum(0)
                grads[3] += da.sum(0)
                carry = da @ W_hh
            h_start = hs[-1]
        return tuple(grads)
    return tbptt


def test_jacobian_product():
    tests.jacobian_product(jacobian_product, L=6, D=3, H=4, seed=0, W_hh_scale=3.0,
                           spans=[(2, 5), (3, 3), (4, 5), (0, 6)])
    tests.jacobian_product(jacobian_product, L=9, D=2, H=5, seed=1, W_hh_scale=2.0, h0="uniform",
                           twice=True)
    with pytest.raises(AssertionError, match="jacobian_product"):
        tests.jacobian_product(lambda h, W, t, T: jacobian_product(h, W.T, t, T), L=6, D=3, H=4,
                               seed=0, spans=[(2, 5)])

    def in_place(h, W_hh, t, T):
        h **= 1.0
        W_hh *= 2.0
        return jacobian_product(h, W_hh / 2.0, t, T)
    with pytest.raises(AssertionError, match="in place"):
        tests.jacobian_product(in_place, L=6, D=3, H=4, seed=0, spans=[(2, 5)])


def test_hidden_grad_norms():
    tests.hidden_grad_norms(hidden_grad_norms, T=7, D=3, H=5, seed=1, W_hh_scale=2.5, visible=True)
    tests.hidden_grad_norms(hidden_grad_norms, T=40, D=6, H=4, seed=2, W_hh_scale=6.0, h0="uniform")
    with pytest.raises(AssertionError, match="hidden_grad_norms"):
        tests.hidden_grad_norms(lambda *a: hidden_grad_norms(*a)[::-1], T=7, D=3, H=5, seed=1,
                                W_hh_scale=2.5, visible=True)


def test_clip_by_global_norm():
    tests.clip_named(clip, "norm 13, max_norm 6.5", example=True)
    for label in tests.CLIP_CASES:
        tests.clip_named(clip, label)
    tests.clip_random(clip, n=5, seed=3)
    tests.clip_random(clip, n=1, seed=4, dtype="float32")

    def per_array(grads, max_norm):
        return [g * min(1.0, max_norm / np.linalg.norm(g)) for g in grads], \
            float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
    with pytest.raises(AssertionError, match="SAME factor"):
        tests.clip_named(per_array, "one small array among large ones")

    def in_place(grads, max_norm):
        out, total = clip(grads, max_norm)
        for g, o in zip(grads, out):
            g[...] = o
        return grads, total
    with pytest.raises(AssertionError, match="modified its input|new arrays"):
        tests.clip_named(in_place, "norm 13, max_norm 6.5")
    with pytest.raises(AssertionError, match="new arrays"):
        tests.clip_named(lambda g, m: (list(g), clip(g, m)[1]), "norm 13, max_norm 20: no clipping")


def test_tbptt_windows():
    for T, k in [(10, 3), (9, 3), (5, 8), (4, 1), (1, 1), (65, 64)]:
        tests.tbptt_windows(windows, T, k)
    with pytest.raises(AssertionError, match="tbptt_windows"):
        tests.tbptt_windows(windows_overlap, 10, 3)
    with pytest.raises(AssertionError, match="pairs"):
        tests.tbptt_windows(lambda T, k: 3, 10, 3)


def test_tbptt_gradients(capsys):
    right = make_tbptt(windows)
    tests.tbptt_gradients(right, windows, N=3, T=7, D=2, H=4, k=3, seed=5, W_hh_scale=2.0)
    tests.tbptt_gradients(right, windows, N=2, T=5, D=3, H=4, k=1, seed=6, W_hh_scale=2.0)
    tests.tbptt_gradients(right, windows, N=1, T=6, D=4, H=5, k=10, seed=52, W_hh_scale=2.0)
    assert "note" not in capsys.readouterr().out
    # wrong windows that still tile 0..T, right gradients: scored apart, over the learner's
    # windows or the right ones
    tests.tbptt_gradients(make_tbptt(windows_from_end), windows_from_end, N=3, T=7, D=2, H=4,
                          k=3, seed=5)
    assert "tbptt_windows(7, 3) is wrong" in capsys.readouterr().out
    tests.tbptt_gradients(right, windows_from_end, N=3, T=7, D=2, H=4, k=3, seed=5)
    # windows that are no tiling (overlapping, or none at all) never stand in for the reference
    with pytest.raises(AssertionError, match="from tbptt_gradients"):
        tests.tbptt_gradients(make_tbptt(windows_overlap), windows_overlap, N=3, T=7, D=2, H=4,
                              k=3, seed=5)
    zeros = lambda x, h0, W_ih, W_hh, b_ih, b_hh, dhs, k: tuple(  # noqa: E731
        np.zeros(a.shape) for a in (W_ih, W_hh, b_ih, b_hh))
    with pytest.raises(AssertionError, match="from tbptt_gradients"):
        tests.tbptt_gradients(zeros, lambda T, k: [], N=3, T=7, D=2, H=4, k=3, seed=5)
    # wrong gradients fail, whatever the windows
    full = lambda *a: right(*a[:-1], 10 ** 6)  # noqa: E731 - full BPTT, k ignored
    with pytest.raises(AssertionError, match="from tbptt_gradients"):
        tests.tbptt_gradients(full, windows, N=3, T=7, D=2, H=4, k=3, seed=5)
    with pytest.raises(AssertionError, match="neither"):
        tests.tbptt_gradients(full, windows_from_end, N=3, T=7, D=2, H=4, k=3, seed=5)
