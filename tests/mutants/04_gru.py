"""Mutation catalogue of lesson 04_gru: wrong and correct versions of every graded exercise.

Each variant's source replaces the whole answer cell. Variants may use ``np``, ``torch``, ``nn``
and the names bound before the answer cell: the imports of the first cell, ``sigmoid`` (a locked
cell before ``gru_step_forward``) and, for the later exercises, the classes of the solution
(``GRUCell``, ``LSTMCell``), which the packing keeps unchanged where their tests run.

Variants of the backward exercises read the caches of the SOLUTION forward functions, which
are the documented ones: ``gru_step_forward`` caches ``(x, h_prev, W_ih, W_hh, r, z, n, hn)``
with ``hn = h_prev @ W_hn.T + b_hn``, and ``gru_forward`` caches the list of the step caches.

GRADED (at the end) picks the variants make test grades; the others stay in RESERVE.
"""

from mutants import Variant

# answer cell: (its test cells, the other answer cells its tests run). The backward tests run
# the learner's forward (its cache is used when it matches torch); the solution gru_forward and
# gru_backward call the step functions; the module exercises build the learner's cells.
EXERCISES = {
    "gru_step_forward": (["test_gru_step_forward"], []),
    "gru_forward": (["test_gru_forward"], ["gru_step_forward"]),
    "gru_step_backward": (["test_gru_step_backward"], ["gru_step_forward"]),
    "gru_backward": (["test_gru_backward"],
                     ["gru_forward", "gru_step_forward", "gru_step_backward"]),
    "GRUCell": (["test_GRUCell"], []),
    "LSTMCell": (["test_LSTMCell"], []),
    "cell_from_torch": (["test_cell_from_torch"], ["GRUCell", "LSTMCell"]),
    "cell_to_torch": (["test_cell_to_torch"], ["GRUCell", "LSTMCell"]),
    "GRU": (["test_GRU"], ["GRUCell"]),
}

VARIANTS = []


def _add(exercise, name, correct, source):
    VARIANTS.append(Variant(exercise, name, correct, source.strip("\n") + "\n"))


# ---------------------------------------------------------------------------------------------
# gru_step_forward
# ---------------------------------------------------------------------------------------------
_STEP = '''
def gru_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    H = h_prev.shape[1]
    G_i = x @ W_ih.T + b_ih
    G_h = h_prev @ W_hh.T + b_hh
{gates}
    hn = G_h[:, 2 * H:3 * H]
    n = {n}
    h_next = {h}
    return h_next, (x, h_prev, W_ih, W_hh, r, z, n, hn)
'''
_RZ = '''
    r = sigmoid(G_i[:, 0:H] + G_h[:, 0:H])
    z = sigmoid(G_i[:, H:2 * H] + G_h[:, H:2 * H])
'''


def _step(name, gates=_RZ, n="np.tanh(G_i[:, 2 * H:3 * H] + r * hn)", h="(1.0 - z) * n + z * h_prev"):
    _add("gru_step_forward", name, False, _STEP.format(gates=gates.strip("\n"), n=n, h=h))


_step("update convention swapped (Colah): h = z * n + (1 - z) * h_prev", h="z * n + (1.0 - z) * h_prev")
_step("reset gate before W_hn (Cho et al. 2014)",
      n="np.tanh(G_i[:, 2 * H:3 * H] + (r * h_prev) @ W_hh[2 * H:].T + b_hh[2 * H:])")
_step("b_hn outside the reset gate",
      n="np.tanh(G_i[:, 2 * H:3 * H] + r * (hn - b_hh[2 * H:]) + b_hh[2 * H:])")
_step("gate order z, r, n", gates='''
    z = sigmoid(G_i[:, 0:H] + G_h[:, 0:H])
    r = sigmoid(G_i[:, H:2 * H] + G_h[:, H:2 * H])
''')
_step("reset gate unused (LSTM habit: G_i + G_h cut afterwards)", n="np.tanh(G_i[:, 2 * H:3 * H] + hn)")
_step("tanh on the gates", gates='''
    r = np.tanh(G_i[:, 0:H] + G_h[:, 0:H])
    z = np.tanh(G_i[:, H:2 * H] + G_h[:, H:2 * H])
''')
_step("missing b_ih", gates='''
    G_i = x @ W_ih.T
    r = sigmoid(G_i[:, 0:H] + G_h[:, 0:H])
    z = sigmoid(G_i[:, H:2 * H] + G_h[:, H:2 * H])
''')
_add("gru_step_forward", "returns (cache, h_next)", False, '''
def gru_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    H = h_prev.shape[1]
    G_i = x @ W_ih.T + b_ih
    G_h = h_prev @ W_hh.T + b_hh
    r = sigmoid(G_i[:, :H] + G_h[:, :H])
    z = sigmoid(G_i[:, H:2 * H] + G_h[:, H:2 * H])
    n = np.tanh(G_i[:, 2 * H:] + r * G_h[:, 2 * H:])
    return (x, h_prev, W_ih, W_hh, r, z, n, G_h[:, 2 * H:]), (1 - z) * n + z * h_prev
''')

_add("gru_step_forward", "np.split, own sigmoid, gate blocks of the weights", True, '''
def gru_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    sig = lambda a: np.exp(-np.logaddexp(0.0, -a))
    Wir, Wiz, Win = np.split(W_ih, 3)
    Whr, Whz, Whn = np.split(W_hh, 3)
    bir, biz, bin_ = np.split(b_ih, 3)
    bhr, bhz, bhn = np.split(b_hh, 3)
    r = sig(x @ Wir.T + bir + h_prev @ Whr.T + bhr)
    z = sig(x @ Wiz.T + biz + h_prev @ Whz.T + bhz)
    hn = h_prev @ Whn.T + bhn
    n = np.tanh(x @ Win.T + bin_ + r * hn)
    return (1 - z) * n + z * h_prev, (x, h_prev, W_ih, W_hh, r, z, n, hn)
''')
_add("gru_step_forward", "computed in float32 throughout", True, '''
def gru_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    x, h_prev, W_ih, W_hh, b_ih, b_hh = (np.asarray(a, dtype=np.float32) for a in
                                         (x, h_prev, W_ih, W_hh, b_ih, b_hh))
    H = h_prev.shape[1]
    G_i = x @ W_ih.T + b_ih
    G_h = h_prev @ W_hh.T + b_hh
    r = sigmoid(G_i[:, :H] + G_h[:, :H])
    z = sigmoid(G_i[:, H:2 * H] + G_h[:, H:2 * H])
    hn = G_h[:, 2 * H:]
    n = np.tanh(G_i[:, 2 * H:] + r * hn)
    return (1 - z) * n + z * h_prev, (x, h_prev, W_ih, W_hh, r, z, n, hn)
''')
_add("gru_step_forward", "loop over the batch, dict cache", True, '''
def gru_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    N, H = h_prev.shape
    h_next = np.zeros((N, H))
    for k in range(N):
        gi = W_ih @ x[k] + b_ih
        gh = W_hh @ h_prev[k] + b_hh
        r = 1.0 / (1.0 + np.exp(-(gi[:H] + gh[:H])))
        z = 1.0 / (1.0 + np.exp(-(gi[H:2 * H] + gh[H:2 * H])))
        n = np.tanh(gi[2 * H:] + r * gh[2 * H:])
        h_next[k] = (1 - z) * n + z * h_prev[k]
    return h_next, {"x": x, "h": h_prev}
''')
_add("gru_step_forward", "torch functions inside, NumPy result", True, '''
def gru_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    import torch.nn.functional as F
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))
    with torch.no_grad():
        i_r, i_z, i_n = F.linear(t(x), t(W_ih), t(b_ih)).chunk(3, dim=1)
        h_r, h_z, h_n = F.linear(t(h_prev), t(W_hh), t(b_hh)).chunk(3, dim=1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        h = (1 - z) * n + z * t(h_prev)
    return h.numpy(), (x, h_prev, W_ih, W_hh, r.numpy(), z.numpy(), n.numpy(), h_n.numpy())
''')


# ---------------------------------------------------------------------------------------------
# gru_forward
# ---------------------------------------------------------------------------------------------
_FW = '''
def gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    N, T, D = x.shape
    H = h0.shape[1]
    hs, cache = [], []
    h_t = h0
{body}
'''


def _fw(name, correct, body):
    _add("gru_forward", name, correct, _FW.format(body=body.strip("\n")))


_fw("stores the previous state (off by one)", False, '''
    for t in range(T):
        hs.append(h_t)
        h_t, c = gru_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        cache.append(c)
    return np.stack(hs, axis=1), cache
''')
_fw("h not carried: h0 fed to every step", False, '''
    for t in range(T):
        h_t, c = gru_step_forward(x[:, t], h0, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cache.append(c)
    return np.stack(hs, axis=1), cache
''')
_fw("reads the sequence backwards", False, '''
    h = np.zeros((N, T, H))
    for t in reversed(range(T)):
        h_t, c = gru_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        h[:, t] = h_t
        cache.append(c)
    return h, cache
''')
_fw("time-major output (T, N, H)", False, '''
    for t in range(T):
        h_t, c = gru_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cache.append(c)
    return np.stack(hs), cache
''')
_fw("h0 included: T+1 states", False, '''
    hs.append(h0)
    for t in range(T):
        h_t, c = gru_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cache.append(c)
    return np.stack(hs, axis=1), cache
''')

_fw("float32 storage", True, '''
    h = np.zeros((N, T, H), dtype=np.float32)
    for t in range(T):
        h_t, c = gru_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        h[:, t] = h_t
        cache.append(c)
    return h, cache
''')
_fw("input projection vectorised over time (einsum), no gru_step_forward", True, '''
    sig = lambda a: 0.5 * (1.0 + np.tanh(0.5 * a))
    xp = np.einsum("ntd,gd->ntg", x, W_ih) + b_ih               # (N, T, 3H)
    for t in range(T):
        G_h = h_t @ W_hh.T + b_hh
        r = sig(xp[:, t, :H] + G_h[:, :H])
        z = sig(xp[:, t, H:2 * H] + G_h[:, H:2 * H])
        hn = G_h[:, 2 * H:]
        n = np.tanh(xp[:, t, 2 * H:] + r * hn)
        cache.append((x[:, t], h_t, W_ih, W_hh, r, z, n, hn))
        h_t = (1 - z) * n + z * h_t
        hs.append(h_t)
    return np.stack(hs, axis=1), cache
''')
_fw("time-major loop over np.moveaxis, np.empty", True, '''
    h = np.empty((N, T, H))
    for t, x_t in enumerate(np.moveaxis(x, 1, 0)):
        h_t, c = gru_step_forward(x_t, h_t, W_ih, W_hh, b_ih, b_hh)
        h[:, t] = h_t
        cache.append(c)
    return h, cache
''')


# ---------------------------------------------------------------------------------------------
# gru_step_backward (cache of the solution: (x, h_prev, W_ih, W_hh, r, z, n, hn))
# ---------------------------------------------------------------------------------------------
_SB = '''
def gru_step_backward(dh_next, cache):
    x, h_prev, W_ih, W_hh, r, z, n, hn = cache
    dn = dh_next * (1.0 - z)
    dz = {dz}
    da_n = {da_n}
    da_z = dz * z * (1.0 - z)
    da_r = da_n * hn * r * (1.0 - r)
    dG_i = np.concatenate([da_r, da_z, da_n], axis=1)
    dG_h = np.concatenate([da_r, da_z, {hn_block}], axis=1)
    dx = dG_i @ W_ih
    dh_prev = {dh_prev}
    return dx, dh_prev, dG_i.T @ x, dG_h.T @ h_prev, dG_i.sum(axis=0), {db_hh}
'''


def _sb(name, dz="dh_next * (h_prev - n)", da_n="dn * (1.0 - n ** 2)", hn_block="da_n * r",
        dh_prev="dh_next * z + dG_h @ W_hh", db_hh="dG_h.sum(axis=0)"):
    _add("gru_step_backward", name, False,
         _SB.format(dz=dz, da_n=da_n, hn_block=hn_block, dh_prev=dh_prev, db_hh=db_hh))


_sb("db_hh copied from db_ih (as in the LSTM)", db_hh="dG_i.sum(axis=0)")
_sb("dh_prev misses the direct term dh_next * z", dh_prev="dG_h @ W_hh")
_sb("dz with the wrong sign: dh_next * (n - h_prev)", dz="dh_next * (n - h_prev)")
_sb("r missing on the hidden n block", hn_block="da_n")
_sb("tanh' written as 1 - n", da_n="dn * (1.0 - n)")

_add("gru_step_backward", "gate blocks of the weights, no concatenate", True, '''
def gru_step_backward(dh_next, cache):
    x, h_prev, W_ih, W_hh, r, z, n, hn = cache
    H = h_prev.shape[1]
    da_n = dh_next * (1 - z) * (1 - n * n)
    da_z = dh_next * (h_prev - n) * z * (1 - z)
    da_r = da_n * hn * r * (1 - r)
    blocks_i = (da_r, da_z, da_n)
    blocks_h = (da_r, da_z, da_n * r)
    dx = sum(b @ W_ih[k * H:(k + 1) * H] for k, b in enumerate(blocks_i))
    dh_prev = dh_next * z + sum(b @ W_hh[k * H:(k + 1) * H] for k, b in enumerate(blocks_h))
    dW_ih = np.vstack([b.T @ x for b in blocks_i])
    dW_hh = np.vstack([b.T @ h_prev for b in blocks_h])
    db_ih = np.concatenate([b.sum(0) for b in blocks_i])
    db_hh = np.concatenate([b.sum(0) for b in blocks_h])
    return dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh
''')
_add("gru_step_backward", "einsum", True, '''
def gru_step_backward(dh_next, cache):
    x, h_prev, W_ih, W_hh, r, z, n, hn = cache
    a_n = dh_next * (1 - z) * (1 - n ** 2)
    a_z = dh_next * (h_prev - n) * z * (1 - z)
    a_r = a_n * hn * r * (1 - r)
    gi = np.hstack([a_r, a_z, a_n])
    gh = np.hstack([a_r, a_z, a_n * r])
    return (np.einsum("ng,gd->nd", gi, W_ih), dh_next * z + np.einsum("ng,gk->nk", gh, W_hh),
            np.einsum("ng,nd->gd", gi, x), np.einsum("ng,nk->gk", gh, h_prev),
            gi.sum(0), gh.sum(0))
''')


# ---------------------------------------------------------------------------------------------
# gru_backward (cache of the solution: list of step caches)
# ---------------------------------------------------------------------------------------------
_BW = '''
def gru_backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.zeros((N, T, D))
    carry = np.zeros((N, H))
    dW_ih = dW_hh = db_ih = db_hh = 0.0
{body}
'''


def _bw(name, correct, body):
    _add("gru_backward", name, correct, _BW.format(body=body.strip("\n")))


_bw("dh not carried between steps", False, '''
    for t in reversed(range(T)):
        dx[:, t], carry, a, b, c, d = gru_step_backward(dh[:, t], cache[t])
        dW_ih, dW_hh, db_ih, db_hh = dW_ih + a, dW_hh + b, db_ih + c, db_hh + d
    return dx, carry, dW_ih, dW_hh, db_ih, db_hh
''')
_bw("weight gradients of the last step processed, not summed", False, '''
    for t in reversed(range(T)):
        dx[:, t], carry, dW_ih, dW_hh, db_ih, db_hh = gru_step_backward(dh[:, t] + carry, cache[t])
    return dx, carry, dW_ih, dW_hh, db_ih, db_hh
''')
_bw("loops forward in time", False, '''
    for t in range(T):
        dx[:, t], carry, a, b, c, d = gru_step_backward(dh[:, t] + carry, cache[t])
        dW_ih, dW_hh, db_ih, db_hh = dW_ih + a, dW_hh + b, db_ih + c, db_hh + d
    return dx, carry, dW_ih, dW_hh, db_ih, db_hh
''')
_bw("dh0 returned as dh[:, 0]", False, '''
    for t in reversed(range(T)):
        dx[:, t], carry, a, b, c, d = gru_step_backward(dh[:, t] + carry, cache[t])
        dW_ih, dW_hh, db_ih, db_hh = dW_ih + a, dW_hh + b, db_ih + c, db_hh + d
    return dx, dh[:, 0], dW_ih, dW_hh, db_ih, db_hh
''')

_bw("step gradients in lists, summed with np.sum", True, '''
    grads = []
    for t in range(T - 1, -1, -1):
        out = gru_step_backward(dh[:, t] + carry, cache[t])
        dx[:, t], carry = out[0], out[1]
        grads.append(out[2:])
    sums = [np.sum([g[k] for g in grads], axis=0) for k in range(4)]
    return (dx, carry, *sums)
''')
_bw("while loop, in-place accumulation", True, '''
    t = T - 1
    acc = None
    while t >= 0:
        dx_t, carry, *g = gru_step_backward(dh[:, t] + carry, cache[t])
        dx[:, t] = dx_t
        if acc is None:
            acc = [a.copy() for a in g]
        else:
            for a, b in zip(acc, g):
                a += b
        t -= 1
    return (dx, carry, *acc)
''')


# ---------------------------------------------------------------------------------------------
# GRUCell
# ---------------------------------------------------------------------------------------------
_CELL = '''
class GRUCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.ih = nn.Linear(input_size, 3 * hidden_size)
        self.hh = nn.Linear(hidden_size, 3 * hidden_size)

    def forward(self, x, h=None):
{body}
'''
_ZERO = '''
        if h is None:
            h = torch.zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
'''


def _cell(name, correct, body, zero=_ZERO):
    _add("GRUCell", name, correct, _CELL.format(body=(zero.strip("\n") + "\n" if zero else "")
                                                + body.strip("\n")))


_cell("update convention swapped (Colah)", False, '''
        i_r, i_z, i_n = self.ih(x).chunk(3, dim=1)
        h_r, h_z, h_n = self.hh(h).chunk(3, dim=1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        return z * torch.tanh(i_n + r * h_n) + (1 - z) * h
''')
_cell("reset gate before W_hn (Cho et al.)", False, '''
        H = self.hidden_size
        i_r, i_z, i_n = self.ih(x).chunk(3, dim=1)
        h_r, h_z, _ = self.hh(h).chunk(3, dim=1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        h_n = torch.nn.functional.linear(r * h, self.hh.weight[2 * H:], self.hh.bias[2 * H:])
        return (1 - z) * torch.tanh(i_n + h_n) + z * h
''')
# No "computed in NumPy (no autograd)" variant: its outputs are right, and the grader, which sees
# only the values a module returns (never autograd run in the learner's kernel, which could be
# faked there), cannot tell it from a torch one. Lesson 04 says so next to the exercise; the
# test cell still fails it when the learner runs it in the notebook (lib/tests checks that).
_cell("h=None not handled", False, '''
        i_r, i_z, i_n = self.ih(x).chunk(3, dim=1)
        h_r, h_z, h_n = self.hh(h).chunk(3, dim=1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        return (1 - z) * torch.tanh(i_n + r * h_n) + z * h
''', zero="")
_cell("gate order r, n, z", False, '''
        i_r, i_n, i_z = self.ih(x).chunk(3, dim=1)
        h_r, h_n, h_z = self.hh(h).chunk(3, dim=1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        return (1 - z) * torch.tanh(i_n + r * h_n) + z * h
''')

_cell("torch.split, explicit logistic, h + (1 - z) * (n - h)", True, '''
        H = self.hidden_size
        gi = torch.split(self.ih(x), H, dim=1)
        gh = torch.split(self.hh(h), H, dim=1)
        r = 1 / (1 + torch.exp(-(gi[0] + gh[0])))
        z = 1 / (1 + torch.exp(-(gi[1] + gh[1])))
        n = torch.tanh(gi[2] + r * gh[2])
        return h + (1 - z) * (n - h)
''')
_cell("F.linear on the parameters, zeros via new_zeros", True, '''
        F = torch.nn.functional
        H = self.hidden_size
        gi = F.linear(x, self.ih.weight, self.ih.bias)
        gh = F.linear(h, self.hh.weight, self.hh.bias)
        rz = torch.sigmoid(gi[:, :2 * H] + gh[:, :2 * H])
        r, z = rz[:, :H], rz[:, H:]
        n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        return torch.lerp(n, h, z)
''', zero='''
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden_size)
''')


# ---------------------------------------------------------------------------------------------
# LSTMCell
# ---------------------------------------------------------------------------------------------
_LCELL = '''
class LSTMCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.ih = nn.Linear(input_size, 4 * hidden_size)
        self.hh = nn.Linear(hidden_size, 4 * hidden_size)

    def forward(self, x, state=None):
{zero}
        h, c = state
{body}
'''
_LZERO = '''
        if state is None:
            zeros = torch.zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
            state = (zeros, zeros)
'''


def _lcell(name, correct, body, zero=_LZERO):
    _add("LSTMCell", name, correct, _LCELL.format(zero=zero.strip("\n"), body=body.strip("\n")))


_lcell("gate order i, f, o, g", False, '''
        i, f, o, g = (self.ih(x) + self.hh(h)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
''')
_lcell("h from the old cell state", False, '''
        i, f, g, o = (self.ih(x) + self.hh(h)).chunk(4, dim=1)
        c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c_next
''')
_lcell("returns (c, h)", False, '''
        i, f, g, o = (self.ih(x) + self.hh(h)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return c, torch.sigmoid(o) * torch.tanh(c)
''')
_lcell("state=None not handled", False, '''
        i, f, g, o = (self.ih(x) + self.hh(h)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
''', zero="")

_lcell("separate chunks of ih(x) and hh(h), added per gate", True, '''
        xi, xf, xg, xo = self.ih(x).chunk(4, 1)
        hi, hf, hg, ho = self.hh(h).chunk(4, 1)
        c = torch.sigmoid(xf + hf) * c + torch.sigmoid(xi + hi) * torch.tanh(xg + hg)
        return torch.sigmoid(xo + ho) * torch.tanh(c), c
''')
_lcell("slices by index, new_zeros", True, '''
        H = self.hidden_size
        A = self.ih(x) + self.hh(h)
        gates = torch.sigmoid(A)
        c = gates[:, H:2 * H] * c + gates[:, :H] * torch.tanh(A[:, 2 * H:3 * H])
        h = gates[:, 3 * H:] * torch.tanh(c)
        return (h, c)
''', zero='''
        if state is None:
            state = (x.new_zeros(x.shape[0], self.hidden_size), x.new_zeros(x.shape[0], self.hidden_size))
''')


# ---------------------------------------------------------------------------------------------
# cell_from_torch / cell_to_torch
# ---------------------------------------------------------------------------------------------
_add("cell_from_torch", "does not return the cell", False, '''
def cell_from_torch(torch_cell):
    kind = GRUCell if isinstance(torch_cell, nn.GRUCell) else LSTMCell
    mine = kind(torch_cell.input_size, torch_cell.hidden_size)
    with torch.no_grad():
        mine.ih.weight.copy_(torch_cell.weight_ih)
        mine.ih.bias.copy_(torch_cell.bias_ih)
        mine.hh.weight.copy_(torch_cell.weight_hh)
        mine.hh.bias.copy_(torch_cell.bias_hh)
''')
_add("cell_from_torch", "biases swapped (ih.bias = bias_hh)", False, '''
def cell_from_torch(torch_cell):
    kind = GRUCell if isinstance(torch_cell, nn.GRUCell) else LSTMCell
    mine = kind(torch_cell.input_size, torch_cell.hidden_size)
    with torch.no_grad():
        mine.ih.weight.copy_(torch_cell.weight_ih)
        mine.ih.bias.copy_(torch_cell.bias_hh)
        mine.hh.weight.copy_(torch_cell.weight_hh)
        mine.hh.bias.copy_(torch_cell.bias_ih)
    return mine
''')
_add("cell_from_torch", "always a GRUCell", False, '''
def cell_from_torch(torch_cell):
    mine = GRUCell(torch_cell.input_size, torch_cell.hidden_size)
    with torch.no_grad():
        for a, b in (("ih", "ih"), ("hh", "hh")):
            getattr(mine, a).weight.copy_(getattr(torch_cell, "weight_" + b)[:3 * torch_cell.hidden_size])
            getattr(mine, a).bias.copy_(getattr(torch_cell, "bias_" + b)[:3 * torch_cell.hidden_size])
    return mine
''')
_add("cell_from_torch", "only the weights copied, biases left at their init", False, '''
def cell_from_torch(torch_cell):
    kind = GRUCell if isinstance(torch_cell, nn.GRUCell) else LSTMCell
    mine = kind(torch_cell.input_size, torch_cell.hidden_size)
    with torch.no_grad():
        mine.ih.weight.copy_(torch_cell.weight_ih)
        mine.hh.weight.copy_(torch_cell.weight_hh)
    return mine
''')
_add("cell_from_torch", "load_state_dict with renamed keys", True, '''
def cell_from_torch(torch_cell):
    kind = GRUCell if type(torch_cell).__name__ == "GRUCell" else LSTMCell
    mine = kind(torch_cell.input_size, torch_cell.hidden_size)
    names = {"weight_ih": "ih.weight", "bias_ih": "ih.bias", "weight_hh": "hh.weight", "bias_hh": "hh.bias"}
    mine.load_state_dict({names[k]: v for k, v in torch_cell.state_dict().items()})
    return mine.to(torch_cell.weight_ih.dtype)
''')
_add("cell_from_torch", "new Parameters assigned (clone)", True, '''
def cell_from_torch(torch_cell):
    G = torch_cell.weight_ih.shape[0] // torch_cell.hidden_size
    mine = (GRUCell if G == 3 else LSTMCell)(torch_cell.input_size, torch_cell.hidden_size)
    mine.ih.weight = nn.Parameter(torch_cell.weight_ih.detach().clone())
    mine.ih.bias = nn.Parameter(torch_cell.bias_ih.detach().clone())
    mine.hh.weight = nn.Parameter(torch_cell.weight_hh.detach().clone())
    mine.hh.bias = nn.Parameter(torch_cell.bias_hh.detach().clone())
    return mine
''')

_add("cell_to_torch", "does not return the torch cell", False, '''
def cell_to_torch(cell):
    kind = nn.GRUCell if isinstance(cell, GRUCell) else nn.LSTMCell
    out = kind(cell.input_size, cell.hidden_size)
    with torch.no_grad():
        out.weight_ih.copy_(cell.ih.weight)
        out.bias_ih.copy_(cell.ih.bias)
        out.weight_hh.copy_(cell.hh.weight)
        out.bias_hh.copy_(cell.hh.bias)
''')
_add("cell_to_torch", "biases swapped (bias_ih = hh.bias)", False, '''
def cell_to_torch(cell):
    kind = nn.GRUCell if isinstance(cell, GRUCell) else nn.LSTMCell
    out = kind(cell.input_size, cell.hidden_size)
    with torch.no_grad():
        out.weight_ih.copy_(cell.ih.weight)
        out.bias_ih.copy_(cell.hh.bias)
        out.weight_hh.copy_(cell.hh.weight)
        out.bias_hh.copy_(cell.ih.bias)
    return out
''')
_add("cell_to_torch", "always an nn.GRUCell", False, '''
def cell_to_torch(cell):
    out = nn.GRUCell(cell.input_size, cell.hidden_size)
    H3 = 3 * cell.hidden_size
    with torch.no_grad():
        out.weight_ih.copy_(cell.ih.weight[:H3])
        out.bias_ih.copy_(cell.ih.bias[:H3])
        out.weight_hh.copy_(cell.hh.weight[:H3])
        out.bias_hh.copy_(cell.hh.bias[:H3])
    return out
''')
_add("cell_to_torch", "returns the learner's cell itself", False, '''
def cell_to_torch(cell):
    return cell
''')
_add("cell_to_torch", "load_state_dict of the torch cell", True, '''
def cell_to_torch(cell):
    kind = nn.LSTMCell if isinstance(cell, LSTMCell) else nn.GRUCell
    out = kind(cell.input_size, cell.hidden_size).to(cell.ih.weight.dtype)
    sd = cell.state_dict()
    out.load_state_dict({"weight_ih": sd["ih.weight"], "bias_ih": sd["ih.bias"],
                         "weight_hh": sd["hh.weight"], "bias_hh": sd["hh.bias"]})
    return out
''')
_add("cell_to_torch", "sizes from the Linear layers, .data copies", True, '''
def cell_to_torch(cell):
    G = cell.ih.out_features // cell.hh.in_features
    out = (nn.GRUCell if G == 3 else nn.LSTMCell)(cell.ih.in_features, cell.hh.in_features)
    out.weight_ih.data.copy_(cell.ih.weight.data)
    out.bias_ih.data.copy_(cell.ih.bias.data)
    out.weight_hh.data.copy_(cell.hh.weight.data)
    out.bias_hh.data.copy_(cell.hh.bias.data)
    return out
''')


# ---------------------------------------------------------------------------------------------
# GRU (multi-layer)
# ---------------------------------------------------------------------------------------------
_GRU = '''
class GRU(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.cells = nn.ModuleList([GRUCell(input_size if k == 0 else hidden_size, hidden_size)
                                    for k in range(num_layers)])

    def forward(self, x, h0=None):
{forward}

    def load_torch_state_dict(self, state_dict):
{load}
'''
_GRU_FW = '''
        N, T, _ = x.shape
        inp = x
        last = []
        for k, cell in enumerate(self.cells):
            h = {h_init}
            states = []
            for t in range(T):
                h = cell({cell_in}, h)
                states.append(h)
            inp = torch.stack(states, dim=1)
            last.append(h)
        return inp, torch.stack(last, dim=0)
'''
_GRU_LOAD = '''
        with torch.no_grad():
            for k, cell in enumerate(self.cells):
                cell.ih.weight.copy_(state_dict[f"weight_ih_l{k}"])
                cell.ih.bias.copy_(state_dict[f"bias_ih_l{k}"])
                cell.hh.weight.copy_(state_dict[f"weight_hh_l{k}"])
                cell.hh.bias.copy_(state_dict[f"bias_hh_l{k}"])
'''


def _gru(name, correct, forward=None, load=_GRU_LOAD, h_init="None if h0 is None else h0[k]",
         cell_in="inp[:, t]"):
    forward = forward or _GRU_FW.format(h_init=h_init, cell_in=cell_in)
    _add("GRU", name, correct, _GRU.format(forward=forward.strip("\n"), load=load.strip("\n")))


_gru("every layer reads x", False, cell_in="x[:, t]")
_gru("every layer starts from h0[0]", False, h_init="None if h0 is None else h0[0]")
_gru("h0 ignored (always zeros)", False, h_init="None")
_gru("biases of layers > 0 not loaded", False, load='''
        with torch.no_grad():
            for k, cell in enumerate(self.cells):
                cell.ih.weight.copy_(state_dict[f"weight_ih_l{k}"])
                cell.hh.weight.copy_(state_dict[f"weight_hh_l{k}"])
                if k == 0:
                    cell.ih.bias.copy_(state_dict["bias_ih_l0"])
                    cell.hh.bias.copy_(state_dict["bias_hh_l0"])
''')
_gru("h_n holds the top layer's last state for every layer", False, forward='''
        N, T, _ = x.shape
        inp = x
        for k, cell in enumerate(self.cells):
            h = None if h0 is None else h0[k]
            states = []
            for t in range(T):
                h = cell(inp[:, t], h)
                states.append(h)
            inp = torch.stack(states, dim=1)
        return inp, torch.stack([h] * self.num_layers, dim=0)
''')

_gru("time loop outside, layers inside", True, forward='''
        N, T, _ = x.shape
        hs = [None if h0 is None else h0[k] for k in range(self.num_layers)]
        outs = []
        for t in range(T):
            inp = x[:, t]
            for k, cell in enumerate(self.cells):
                hs[k] = cell(inp, hs[k])
                inp = hs[k]
            outs.append(inp)
        return torch.stack(outs, 1), torch.stack(hs, 0)
''')
_gru("cells loaded with load_state_dict, zeros made explicitly", True, forward='''
        N, T, _ = x.shape
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, N, self.hidden_size)
        seq = x
        finals = []
        for k in range(self.num_layers):
            h = h0[k]
            states = []
            for t in range(T):
                h = self.cells[k](seq[:, t], h)
                states.append(h)
            seq = torch.stack(states, 1)
            finals.append(h)
        return seq, torch.stack(finals)
''', load='''
        for k, cell in enumerate(self.cells):
            cell.load_state_dict({
                "ih.weight": state_dict[f"weight_ih_l{k}"], "ih.bias": state_dict[f"bias_ih_l{k}"],
                "hh.weight": state_dict[f"weight_hh_l{k}"], "hh.bias": state_dict[f"bias_hh_l{k}"]})
''')


# ---------------------------------------------------------------------------------------------
# what make test grades (grading time is tight); the rest is RESERVE
# ---------------------------------------------------------------------------------------------
GRADED = {
    "gru_step_forward": [
        "update convention swapped (Colah): h = z * n + (1 - z) * h_prev",
        "reset gate before W_hn (Cho et al. 2014)",
        "b_hn outside the reset gate",
        "computed in float32 throughout",
        "loop over the batch, dict cache",
    ],
    "gru_forward": [
        "stores the previous state (off by one)",
        "h not carried: h0 fed to every step",
        "reads the sequence backwards",
        "float32 storage",
        "input projection vectorised over time (einsum), no gru_step_forward",
    ],
    "gru_step_backward": [
        "db_hh copied from db_ih (as in the LSTM)",
        "dh_prev misses the direct term dh_next * z",
        "r missing on the hidden n block",
        "gate blocks of the weights, no concatenate",
        "einsum",
    ],
    "gru_backward": [
        "dh not carried between steps",
        "weight gradients of the last step processed, not summed",
        "loops forward in time",
        "step gradients in lists, summed with np.sum",
        "while loop, in-place accumulation",
    ],
    "GRUCell": [
        "update convention swapped (Colah)",
        "reset gate before W_hn (Cho et al.)",
        "h=None not handled",
        "torch.split, explicit logistic, h + (1 - z) * (n - h)",
        "F.linear on the parameters, zeros via new_zeros",
    ],
    "LSTMCell": [
        "gate order i, f, o, g",
        "h from the old cell state",
        "returns (c, h)",
        "separate chunks of ih(x) and hh(h), added per gate",
        "slices by index, new_zeros",
    ],
    "cell_from_torch": [
        "does not return the cell",
        "biases swapped (ih.bias = bias_hh)",
        "always a GRUCell",
        "load_state_dict with renamed keys",
        "new Parameters assigned (clone)",
    ],
    "cell_to_torch": [
        "does not return the torch cell",
        "biases swapped (bias_ih = hh.bias)",
        "always an nn.GRUCell",
        "load_state_dict of the torch cell",
        "sizes from the Linear layers, .data copies",
    ],
    "GRU": [
        "every layer reads x",
        "every layer starts from h0[0]",
        "h0 ignored (always zeros)",
        "time loop outside, layers inside",
        "cells loaded with load_state_dict, zeros made explicitly",
    ],
}
