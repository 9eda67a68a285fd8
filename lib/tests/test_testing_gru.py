"""Unit tests of rnnkit.testing.gru: the harnesses pass a correct GRU and fail wrong ones.

The correct implementations live here, in the test, never in rnnkit.
"""

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit.testing import gru as tests


# ---------------------------------------------------------------------------------------------
# a correct NumPy GRU, with the documented caches
# ---------------------------------------------------------------------------------------------

def _sig(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def step_fw(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    H = h_prev.shape[1]
    gi = x @ W_ih.T + b_ih                                   # (N, 3H)
    gh = h_prev @ W_hh.T + b_hh                              # (N, 3H)
    r = _sig(gi[:, :H] + gh[:, :H])
    z = _sig(gi[:, H:2 * H] + gh[:, H:2 * H])
    hn = gh[:, 2 * H:]
    n = np.tanh(gi[:, 2 * H:] + r * hn)
    h_next = (1 - z) * n + z * h_prev
    return h_next, (x, h_prev, W_ih, W_hh, r, z, n, hn)


def step_bw(dh_next, cache, copy_bias=False):
    x, h_prev, W_ih, W_hh, r, z, n, hn = cache
    dn = dh_next * (1 - z)
    dz = dh_next * (h_prev - n)
    da_n = dn * (1 - n ** 2)
    da_z = dz * z * (1 - z)
    da_r = da_n * hn * r * (1 - r)
    dA_i = np.concatenate([da_r, da_z, da_n], axis=1)         # (N, 3H)
    dA_h = np.concatenate([da_r, da_z, da_n * r], axis=1)     # (N, 3H)
    dx = dA_i @ W_ih
    dh_prev = dh_next * z + dA_h @ W_hh
    db_hh = dA_i.sum(0) if copy_bias else dA_h.sum(0)
    return dx, dh_prev, dA_i.T @ x, dA_h.T @ h_prev, dA_i.sum(0), db_hh


def fw(x, h0, W_ih, W_hh, b_ih, b_hh):
    N, T, _ = x.shape
    h, caches = h0, []
    hs = []
    for t in range(T):
        h, c = step_fw(x[:, t], h, W_ih, W_hh, b_ih, b_hh)
        hs.append(h)
        caches.append(c)
    return np.stack(hs, 1), caches


def bw(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.zeros((N, T, D))
    carry = np.zeros((N, H))
    sums = None
    for t in reversed(range(T)):
        dx_t, carry, *g = step_bw(dh[:, t] + carry, cache[t])
        dx[:, t] = dx_t
        sums = g if sums is None else [a + b for a, b in zip(sums, g)]
    return (dx, carry, *sums)


# ---------------------------------------------------------------------------------------------
# NumPy harnesses
# ---------------------------------------------------------------------------------------------

def test_random_sizes_are_reproducible():
    a = tests.random_sizes(3, seed=5, seq=True, layers=True)
    assert a == tests.random_sizes(3, seed=5, seq=True, layers=True)
    assert set(a[0]) == {"N", "D", "H", "T", "seed", "num_layers"}


def test_reference_cache_is_consistent_with_torch():
    x, h, W, _ = tests.step_data(3, 4, 5, seed=0)
    ref = step_fw(x, h, *tests._weights(W))[1]
    for a, b in zip(tests.reference_step_cache(x, h, W), ref):
        np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(step_fw(x, h, *tests._weights(W))[0],
                               tests.reference_step(x, h, W), atol=1e-12)


def test_correct_numpy_gru_passes():
    tests.step_forward(step_fw, N=3, D=4, H=5, seed=0)
    tests.step_forward(step_fw, N=2, D=3, H=4, seed=1, dtype="float32", scale=2.0)
    for case in tests.random_sizes(3, seed=2, seq=True):
        tests.forward(fw, **case)
    tests.forward(fw, N=2, T=5, D=3, H=4, seed=3, dtype="float32")
    msg = tests.step_backward(step_bw, step_fw, N=3, D=4, H=5, seed=0)
    assert "your gru_step_forward" in msg
    msg = tests.backward(bw, fw, N=2, T=5, D=3, H=4, seed=0, only=-1)
    assert "your gru_forward" in msg


def test_float32_forward_does_not_cost_the_backward():
    def fw32(*args):
        return fw(*(np.asarray(a, dtype=np.float32) for a in args))
    assert "your gru_forward" in tests.backward(bw, fw32, N=3, T=6, D=2, H=4, seed=7)


def test_wrong_forward_falls_back_to_the_documented_cache():
    def bad_step(x, h_prev, W_ih, W_hh, b_ih, b_hh):
        h, cache = step_fw(x, h_prev, W_ih, W_hh, b_ih, b_hh)
        return h + 0.1, cache

    def blank(*args):
        raise NotImplementedError()

    assert "documented" in tests.step_backward(step_bw, bad_step, N=3, D=4, H=5, seed=0)
    assert "documented" in tests.step_backward(step_bw, blank, N=3, D=4, H=5, seed=0)
    assert "documented" in tests.backward(bw, blank, N=2, T=3, D=4, H=5, seed=0)

    def own_cache(*args):                      # correct forward, cache of another layout
        h, cache = fw(*args)
        return h, {"steps": cache}
    assert "documented" in tests.backward(bw, own_cache, N=2, T=3, D=4, H=5, seed=0)


@pytest.mark.parametrize("bug", ["z swapped", "reset outside", "no b_hn", "order z r n"])
def test_wrong_step_forwards_fail(bug):
    def wrong(x, h_prev, W_ih, W_hh, b_ih, b_hh):
        H = h_prev.shape[1]
        gi = x @ W_ih.T + b_ih
        gh = h_prev @ W_hh.T + b_hh
        r = _sig(gi[:, :H] + gh[:, :H])
        z = _sig(gi[:, H:2 * H] + gh[:, H:2 * H])
        if bug == "order z r n":
            r, z = z, r
        hn = gh[:, 2 * H:]
        if bug == "reset outside":
            hn = (r * h_prev) @ W_hh[2 * H:].T + b_hh[2 * H:]
            n = np.tanh(gi[:, 2 * H:] + hn)
        elif bug == "no b_hn":
            n = np.tanh(gi[:, 2 * H:] + r * (hn - b_hh[2 * H:]))
        else:
            n = np.tanh(gi[:, 2 * H:] + r * hn)
        if bug == "z swapped":
            return z * n + (1 - z) * h_prev, None
        return (1 - z) * n + z * h_prev, None

    with pytest.raises(AssertionError, match="h_next from gru_step_forward"):
        tests.step_forward(wrong, N=3, D=4, H=5, seed=0)


def test_wrong_forward_loop_fails():
    def off_by_one(x, h0, *W):
        h, cache = fw(x, h0, *W)
        return np.concatenate([h0[:, None], h[:, :-1]], axis=1), cache
    with pytest.raises(AssertionError, match="h\\[:, -1\\]"):
        tests.forward(off_by_one, N=2, T=4, D=3, H=5, seed=0)
    with pytest.raises(AssertionError, match="wrong shape"):
        tests.forward(lambda *a: (fw(*a)[0].transpose(1, 0, 2), None), N=2, T=4, D=3, H=5,
                      seed=0)


def test_wrong_backwards_fail_with_a_message():
    with pytest.raises(AssertionError, match="db_hh from gru_step_backward") as info:
        tests.step_backward(lambda d, c: step_bw(d, c, copy_bias=True), step_fw, 3, 4, 5, 0)
    assert "matches torch, but gru_step_backward failed on its cache" in str(info.value)

    def no_direct(dh_next, cache):
        out = list(step_bw(dh_next, cache))
        out[1] = out[1] - dh_next * cache[5]
        return tuple(out)
    with pytest.raises(AssertionError, match="dh_prev"):
        tests.step_backward(no_direct, step_fw, 3, 4, 5, 0)

    def no_carry(dh, cache):
        N, T, H = dh.shape
        outs = [step_bw(dh[:, t], cache[t]) for t in range(T)]
        dx = np.stack([o[0] for o in outs], 1)
        return (dx, outs[0][1], *[sum(o[k] for o in outs) for k in range(2, 6)])
    with pytest.raises(AssertionError, match="dx from gru_backward"):
        tests.backward(no_carry, fw, N=2, T=4, D=3, H=5, seed=0)
    with pytest.raises(NotImplementedError):
        tests.backward(lambda dh, c: (_ for _ in ()).throw(NotImplementedError()), fw,
                       N=2, T=4, D=3, H=5, seed=0)


# ---------------------------------------------------------------------------------------------
# torch modules: correct ones, written here
# ---------------------------------------------------------------------------------------------

class GRUCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.ih = nn.Linear(input_size, 3 * hidden_size)
        self.hh = nn.Linear(hidden_size, 3 * hidden_size)

    def forward(self, x, h=None):
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden_size)
        i_r, i_z, i_n = self.ih(x).chunk(3, 1)
        h_r, h_z, h_n = self.hh(h).chunk(3, 1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return (1 - z) * n + z * h


class LSTMCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.ih = nn.Linear(input_size, 4 * hidden_size)
        self.hh = nn.Linear(hidden_size, 4 * hidden_size)

    def forward(self, x, state=None):
        if state is None:
            z = x.new_zeros(x.shape[0], self.hidden_size)
            state = (z, z)
        h, c = state
        i, f, g, o = (self.ih(x) + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def from_torch(tc):
    mine = (GRUCell if isinstance(tc, nn.GRUCell) else LSTMCell)(tc.input_size, tc.hidden_size)
    mine.load_state_dict(tests.cell_state_dict(tc))
    return mine


def to_torch(cell):
    tc = (nn.GRUCell if isinstance(cell, GRUCell) else nn.LSTMCell)(cell.input_size,
                                                                      cell.hidden_size)
    with torch.no_grad():
        tc.weight_ih.copy_(cell.ih.weight)
        tc.bias_ih.copy_(cell.ih.bias)
        tc.weight_hh.copy_(cell.hh.weight)
        tc.bias_hh.copy_(cell.hh.bias)
    return tc


class GRU(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.cells = nn.ModuleList(GRUCell(input_size if k == 0 else hidden_size, hidden_size)
                                   for k in range(num_layers))

    def forward(self, x, h0=None):
        inp, last = x, []
        for k, cell in enumerate(self.cells):
            h = None if h0 is None else h0[k]
            outs = []
            for t in range(x.shape[1]):
                h = cell(inp[:, t], h)
                outs.append(h)
            inp = torch.stack(outs, 1)
            last.append(h)
        return inp, torch.stack(last, 0)

    def load_torch_state_dict(self, sd):
        with torch.no_grad():
            for k, cell in enumerate(self.cells):
                cell.ih.weight.copy_(sd[f"weight_ih_l{k}"])
                cell.ih.bias.copy_(sd[f"bias_ih_l{k}"])
                cell.hh.weight.copy_(sd[f"weight_hh_l{k}"])
                cell.hh.bias.copy_(sd[f"bias_hh_l{k}"])


def test_correct_modules_pass():
    tests.gru_cell(GRUCell, N=3, D=4, H=5, seed=0)
    tests.gru_cell(GRUCell, N=2, D=3, H=2, seed=1, h_none=True)
    tests.lstm_cell(LSTMCell, N=3, D=4, H=5, seed=0)
    tests.lstm_cell(LSTMCell, N=2, D=3, H=2, seed=1, state_none=True)
    for kind in ("gru", "lstm"):
        tests.cell_from_torch(from_torch, kind, D=3, H=4, seed=0)
    tests.cell_to_torch(to_torch, GRUCell, "gru", D=3, H=4, seed=0)
    tests.cell_to_torch(to_torch, LSTMCell, "lstm", D=3, H=4, seed=0)
    tests.gru_module(GRU, N=2, T=4, D=3, H=5, num_layers=2, seed=0)
    tests.gru_module(GRU, N=2, T=3, D=3, H=2, num_layers=1, seed=1, h0_none=True)


def test_wrong_modules_fail():
    class Swapped(GRUCell):
        def forward(self, x, h=None):
            i_r, i_z, i_n = self.ih(x).chunk(3, 1)
            h_r, h_z, h_n = self.hh(h).chunk(3, 1)
            r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            return z * torch.tanh(i_n + r * h_n) + (1 - z) * h

    class Renamed(nn.Module):
        def __init__(self, d, h):
            super().__init__()
            self.lin_x, self.lin_h = nn.Linear(d, 3 * h), nn.Linear(h, 3 * h)

    class DetachedGRU(GRUCell):
        def forward(self, x, h=None):
            return super().forward(x, h.detach())

    with pytest.raises(AssertionError, match="output of your GRUCell"):
        tests.gru_cell(Swapped, N=3, D=4, H=5, seed=0)
    with pytest.raises(AssertionError, match="names ih.weight"):
        tests.gru_cell(Renamed, N=3, D=4, H=5, seed=0)
    with pytest.raises(AssertionError, match="autograd: dh"):
        tests.gru_cell(DetachedGRU, N=3, D=4, H=5, seed=0)

    class NumpyGRUCell(GRUCell):                # right values, no autograd: only a local run
        def forward(self, x, h=None):           # of the test can tell (the grader sees values)
            w = lambda t: t.detach().numpy()
            H = self.hidden_size
            gi = w(x) @ w(self.ih.weight).T + w(self.ih.bias)
            gh = w(h) @ w(self.hh.weight).T + w(self.hh.bias)
            s = lambda a: 1 / (1 + np.exp(-a))
            r, z = s(gi[:, :H] + gh[:, :H]), s(gi[:, H:2 * H] + gh[:, H:2 * H])
            n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            return torch.from_numpy((1 - z) * n + z * w(h))
    with pytest.raises(AssertionError, match="autograd could not run through your GRUCell"):
        tests.gru_cell(NumpyGRUCell, N=3, D=4, H=5, seed=0)

    def no_return(tc):
        from_torch(tc)
    with pytest.raises(AssertionError, match="returned None"):
        tests.cell_from_torch(no_return, "gru", D=3, H=4, seed=0)

    def transposed(cell):
        tc = to_torch(cell)
        with torch.no_grad():
            tc.bias_hh.copy_(cell.ih.bias)
        return tc
    with pytest.raises(AssertionError, match="bias_hh"):
        tests.cell_to_torch(transposed, GRUCell, "gru", D=3, H=4, seed=0)

    class TopOnlyH0(GRU):                       # every layer starts from h0[0]
        def forward(self, x, h0=None):
            return super().forward(x, None if h0 is None else h0[:1].expand_as(h0))
    with pytest.raises(AssertionError, match="h_n of your GRU"):
        tests.gru_module(TopOnlyH0, N=2, T=4, D=3, H=5, num_layers=2, seed=0)
