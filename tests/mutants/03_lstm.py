"""Mutation catalogue of lesson 03_lstm: wrong and correct versions of every graded exercise.

Each variant's source replaces the whole answer cell. Variants may use ``np``, ``torch`` and the
names bound before the answer cell: the imports of the first cell and ``sigmoid``, which the
notebook defines in an (unlocked) cell before ``lstm_step_forward``; the correct variants that
need a sigmoid define their own, so they do not lean on that cell.

Variants of the backward exercises read the caches of the SOLUTION forward functions, because
the packing never puts them in a notebook with a variant of a forward function their tests run:
``lstm_step_forward`` caches the tuple ``(x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c)``
with ``tanh_c = tanh(c_next)``, and ``lstm_forward`` caches ``(list of step caches, D)``: the
layouts the forwards' docstrings document, which the backward tests build from reference values
when the learner's forward is wrong.

Every correct variant is graded through the test cells of every exercise that calls it (a
float32 or dict-cache lstm_step_forward keeps the points of all four test cells), and the wrong
forwards of PAIRS are checked to leave the backward exercises of FALLBACK their points.

GRADED (at the end) picks the variants make test grades; the others stay in RESERVE.
"""

from mutants import Variant

# answer cell: (its test cells, the other answer cells its tests run, directly or through the
# solution). test_lstm_forward runs lstm_forward, whose solution calls lstm_step_forward: a wrong
# step makes lstm_forward wrong too, and that cannot be separated. test_lstm_step_backward runs
# the learner's lstm_step_forward and checks it against torch; test_lstm_backward runs
# lstm_forward (hence lstm_step_forward): when that forward is wrong, the backward is given the
# cache its docstring documents, built from reference values (FALLBACK), so a wrong forward
# (the gate order i, f, o, g of CS231n, say) costs no backward point. The solution of
# lstm_backward calls lstm_step_backward: a wrong step backward fails test_lstm_backward.
EXERCISES = {
    "lstm_step_forward": (["test_lstm_step_forward"], []),
    "lstm_forward": (["test_lstm_forward"], ["lstm_step_forward"]),
    "lstm_step_backward": (["test_lstm_step_backward"], ["lstm_step_forward"]),
    "lstm_backward": (["test_lstm_backward"],
                      ["lstm_forward", "lstm_step_forward", "lstm_step_backward"]),
}

# the callees whose wrong versions the tests work around (see tests/mutants/__init__.py)
FALLBACK = {
    "lstm_step_backward": ["lstm_step_forward"],
    "lstm_backward": ["lstm_forward", "lstm_step_forward"],
}

VARIANTS = []


def _add(exercise, name, correct, source):
    VARIANTS.append(Variant(exercise, name, correct, source.strip("\n") + "\n"))


# ---------------------------------------------------------------------------------------------
# lstm_step_forward
# ---------------------------------------------------------------------------------------------
# A template in the solution's shape: {A} the pre-activations, {gates} cuts them into i, f, g, o,
# {c} and {h} the two updates.
_STEP = '''
def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    H = h_prev.shape[1]
    A = {A}
{gates}
    c_next = {c}
    tanh_c = np.tanh(c_next)
    h_next = {h}
    cache = (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c)
    return h_next, c_next, cache
'''
_A = "x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh"
_IFGO = '''
    i = sigmoid(A[:, 0:H])
    f = sigmoid(A[:, H:2 * H])
    g = np.tanh(A[:, 2 * H:3 * H])
    o = sigmoid(A[:, 3 * H:4 * H])
'''


def _step(name, A=_A, gates=_IFGO, c="f * c_prev + i * g", h="o * tanh_c"):
    _add("lstm_step_forward", name, False,
         _STEP.format(A=A, gates=gates.strip("\n"), c=c, h=h))


_step("gates in the order i, f, o, g", gates='''
    i = sigmoid(A[:, 0:H])
    f = sigmoid(A[:, H:2 * H])
    o = sigmoid(A[:, 2 * H:3 * H])
    g = np.tanh(A[:, 3 * H:4 * H])
''')
_step("gates in the order f, i, g, o", gates='''
    f = sigmoid(A[:, 0:H])
    i = sigmoid(A[:, H:2 * H])
    g = np.tanh(A[:, 2 * H:3 * H])
    o = sigmoid(A[:, 3 * H:4 * H])
''')
_step("sigmoid instead of tanh on g", gates='''
    i = sigmoid(A[:, 0:H])
    f = sigmoid(A[:, H:2 * H])
    g = sigmoid(A[:, 2 * H:3 * H])
    o = sigmoid(A[:, 3 * H:4 * H])
''')
_step("tanh on every gate", gates='''
    i = np.tanh(A[:, 0:H])
    f = np.tanh(A[:, H:2 * H])
    g = np.tanh(A[:, 2 * H:3 * H])
    o = np.tanh(A[:, 3 * H:4 * H])
''')
_step("gates interleaved: A.reshape(N, H, 4)", gates='''
    G = A.reshape(A.shape[0], H, 4)
    i = sigmoid(G[:, :, 0])
    f = sigmoid(G[:, :, 1])
    g = np.tanh(G[:, :, 2])
    o = sigmoid(G[:, :, 3])
''')
_step("tanh(c) missing: h = o * c", h="o * c_next")
_step("h from the old cell: o * tanh(c_prev)", h="o * np.tanh(c_prev)")
_step("h = tanh(c) without the output gate", h="tanh_c")
_step("input gate unused: c = f * c_prev + g", c="f * c_prev + g")
_step("cell update with + instead of *: c = f * c_prev + i + g", c="f * c_prev + i + g")
_step("W_hh not transposed (blockwise h_prev @ W_hh[k])",
      A="x @ W_ih.T + b_ih + np.concatenate([h_prev @ W_hh[k * H:(k + 1) * H] for k in range(4)], axis=1) + b_hh")
_step("missing b_hh", A="x @ W_ih.T + b_ih + h_prev @ W_hh.T")
_step("missing b_ih", A="x @ W_ih.T + h_prev @ W_hh.T + b_hh")
_step("bias as a column (does not broadcast over the batch)",
      A="x @ W_ih.T + h_prev @ W_hh.T + (b_ih + b_hh)[:, None]")
_add("lstm_step_forward", "returns (c_next, h_next, cache)", False, '''
def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    H = h_prev.shape[1]
    A = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    i, f, g, o = (sigmoid(A[:, :H]), sigmoid(A[:, H:2 * H]), np.tanh(A[:, 2 * H:3 * H]),
                  sigmoid(A[:, 3 * H:]))
    c_next = f * c_prev + i * g
    h_next = o * np.tanh(c_next)
    return c_next, h_next, (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, np.tanh(c_next))
''')
_add("lstm_step_forward", "returns (h_next, c_next) without a cache", False, '''
def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    H = h_prev.shape[1]
    A = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    i, f, g, o = (sigmoid(A[:, :H]), sigmoid(A[:, H:2 * H]), np.tanh(A[:, 2 * H:3 * H]),
                  sigmoid(A[:, 3 * H:]))
    c_next = f * c_prev + i * g
    return o * np.tanh(c_next), c_next
''')

_add("lstm_step_forward", "separate gate blocks of the weights, own stable sigmoid, dict cache", True, '''
def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    H = W_hh.shape[1]
    sig = lambda z: np.exp(-np.logaddexp(0.0, -z))

    def pre(k):
        rows = slice(k * H, (k + 1) * H)
        return x @ W_ih[rows].T + h_prev @ W_hh[rows].T + b_ih[rows] + b_hh[rows]

    i, f, g, o = sig(pre(0)), sig(pre(1)), np.tanh(pre(2)), sig(pre(3))
    c_next = f * c_prev + i * g
    h_next = o * np.tanh(c_next)
    return h_next, c_next, {"x": x, "h": h_prev, "c": c_prev, "gates": (i, f, g, o), "c_next": c_next}
''')
_add("lstm_step_forward", "einsum and np.split", True, '''
def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    A = np.einsum("nd,gd->ng", x, W_ih) + np.einsum("nk,gk->ng", h_prev, W_hh) + (b_ih + b_hh)
    a_i, a_f, a_g, a_o = np.split(A, 4, axis=1)
    i, f, o = (1.0 / (1.0 + np.exp(-a)) for a in (a_i, a_f, a_o))
    g = np.tanh(a_g)
    c_next = f * c_prev + i * g
    h_next = o * np.tanh(c_next)
    return h_next, c_next, (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, np.tanh(c_next))
''')
_add("lstm_step_forward", "result cast to float32", True, '''
def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    H = h_prev.shape[1]
    A = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    i, f, g, o = (sigmoid(A[:, :H]), sigmoid(A[:, H:2 * H]), np.tanh(A[:, 2 * H:3 * H]),
                  sigmoid(A[:, 3 * H:]))
    c_next = f * c_prev + i * g
    h_next = o * np.tanh(c_next)
    return h_next.astype(np.float32), c_next.astype(np.float32), (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, np.tanh(c_next))
''')
_add("lstm_step_forward", "computed in float32 throughout", True, '''
def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh = (np.asarray(a, dtype=np.float32) for a in
                                                 (x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh))
    H = h_prev.shape[1]
    A = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    i, f, g, o = (sigmoid(A[:, :H]), sigmoid(A[:, H:2 * H]), np.tanh(A[:, 2 * H:3 * H]),
                  sigmoid(A[:, 3 * H:]))
    c_next = f * c_prev + i * g
    h_next = o * np.tanh(c_next)
    return h_next, c_next, (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, np.tanh(c_next))
''')
_add("lstm_step_forward", "weights on the left (W @ x.T), transposed back", True, '''
def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    H = h_prev.shape[1]
    A = (W_ih @ x.T + W_hh @ h_prev.T + (b_ih + b_hh)[:, None]).T
    i = sigmoid(A[:, :H])
    f = sigmoid(A[:, H:2 * H])
    g = np.tanh(A[:, 2 * H:3 * H])
    o = sigmoid(A[:, 3 * H:])
    c_next = f * c_prev + i * g
    h_next = o * np.tanh(c_next)
    return h_next, c_next, (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, np.tanh(c_next))
''')
_add("lstm_step_forward", "loop over the batch, one sample at a time", True, '''
def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    N, H = h_prev.shape
    h_next = np.zeros((N, H))
    c_next = np.zeros((N, H))
    gates = []
    for n in range(N):
        a = W_ih @ x[n] + W_hh @ h_prev[n] + b_ih + b_hh       # (4H,)
        i = 1.0 / (1.0 + np.exp(-a[:H]))
        f = 1.0 / (1.0 + np.exp(-a[H:2 * H]))
        g = np.tanh(a[2 * H:3 * H])
        o = 1.0 / (1.0 + np.exp(-a[3 * H:]))
        c_next[n] = f * c_prev[n] + i * g
        h_next[n] = o * np.tanh(c_next[n])
        gates.append((i, f, g, o))
    return h_next, c_next, {"inputs": (x, h_prev, c_prev), "gates": gates}
''')
_add("lstm_step_forward", "torch (F.linear, torch.sigmoid), back to NumPy", True, '''
def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    import torch.nn.functional as F
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))
    with torch.no_grad():
        A = F.linear(t(x), t(W_ih), t(b_ih)) + F.linear(t(h_prev), t(W_hh), t(b_hh))
        a_i, a_f, a_g, a_o = A.chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.tanh(a_g), torch.sigmoid(a_o)
        c = f * t(c_prev) + i * g
        h = o * torch.tanh(c)
    return h.numpy(), c.numpy(), tuple(v.numpy() for v in (i, f, g, o, c))
''')
_add("lstm_step_forward", "inputs cast to float64 first", True, '''
def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh = (np.asarray(a, dtype=np.float64) for a in
                                                 (x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh))
    H = h_prev.shape[1]
    A = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    i, f, g, o = (sigmoid(A[:, :H]), sigmoid(A[:, H:2 * H]), np.tanh(A[:, 2 * H:3 * H]),
                  sigmoid(A[:, 3 * H:]))
    c_next = f * c_prev + i * g
    h_next = o * np.tanh(c_next)
    return h_next, c_next, (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, np.tanh(c_next))
''')


# ---------------------------------------------------------------------------------------------
# lstm_forward (its tests run lstm_step_forward through the solution)
# ---------------------------------------------------------------------------------------------
_FW = '''
def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    N, T, D = x.shape
    H = h0.shape[1]
    hs, cs, caches = [], [], []
    h_t, c_t = h0, c0
{body}
'''


def _fw(name, correct, body):
    _add("lstm_forward", name, correct, _FW.format(body=body.strip("\n")))


_fw("stores the previous state (off by one: h0, c0 in, last state out)", False, '''
    for t in range(T):
        hs.append(h_t)
        cs.append(c_t)
        h_t, c_t, step = lstm_step_forward(x[:, t], h_t, c_t, W_ih, W_hh, b_ih, b_hh)
        caches.append(step)
    return np.stack(hs, axis=1), np.stack(cs, axis=1), (caches, D)
''')
_fw("c not carried: c0 fed to every step", False, '''
    for t in range(T):
        h_t, c_t, step = lstm_step_forward(x[:, t], h_t, c0, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cs.append(c_t)
        caches.append(step)
    return np.stack(hs, axis=1), np.stack(cs, axis=1), (caches, D)
''')
_fw("h not carried: h0 fed to every step", False, '''
    for t in range(T):
        h_t, c_t, step = lstm_step_forward(x[:, t], h0, c_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cs.append(c_t)
        caches.append(step)
    return np.stack(hs, axis=1), np.stack(cs, axis=1), (caches, D)
''')
_fw("input off by one: x[:, t-1]", False, '''
    for t in range(T):
        h_t, c_t, step = lstm_step_forward(x[:, t - 1], h_t, c_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cs.append(c_t)
        caches.append(step)
    return np.stack(hs, axis=1), np.stack(cs, axis=1), (caches, D)
''')
_fw("reads the sequence backwards", False, '''
    h = np.zeros((N, T, H))
    c = np.zeros((N, T, H))
    for t in reversed(range(T)):
        h_t, c_t, step = lstm_step_forward(x[:, t], h_t, c_t, W_ih, W_hh, b_ih, b_hh)
        h[:, t] = h_t
        c[:, t] = c_t
        caches.append(step)
    return h, c, (caches, D)
''')
_fw("returns (c, h, cache)", False, '''
    for t in range(T):
        h_t, c_t, step = lstm_step_forward(x[:, t], h_t, c_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cs.append(c_t)
        caches.append(step)
    return np.stack(cs, axis=1), np.stack(hs, axis=1), (caches, D)
''')
_fw("h0 and c0 included: T+1 states", False, '''
    hs.append(h0)
    cs.append(c0)
    for t in range(T):
        h_t, c_t, step = lstm_step_forward(x[:, t], h_t, c_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cs.append(c_t)
        caches.append(step)
    return np.stack(hs, axis=1), np.stack(cs, axis=1), (caches, D)
''')
_fw("time-major output (T, N, H)", False, '''
    for t in range(T):
        h_t, c_t, step = lstm_step_forward(x[:, t], h_t, c_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cs.append(c_t)
        caches.append(step)
    return np.stack(hs), np.stack(cs), (caches, D)
''')
_fw("time-major indexing x[t]", False, '''
    for t in range(T):
        h_t, c_t, step = lstm_step_forward(x[t], h_t, c_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cs.append(c_t)
        caches.append(step)
    return np.stack(hs, axis=1), np.stack(cs, axis=1), (caches, D)
''')
_fw("c stores tanh(c_t) instead of c_t", False, '''
    for t in range(T):
        h_t, c_t, step = lstm_step_forward(x[:, t], h_t, c_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cs.append(np.tanh(c_t))
        caches.append(step)
    return np.stack(hs, axis=1), np.stack(cs, axis=1), (caches, D)
''')

_fw("lists stacked on axis 1, dict cache", True, '''
    for t in range(T):
        h_t, c_t, step = lstm_step_forward(x[:, t], h_t, c_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cs.append(c_t)
        caches.append(step)
    return np.stack(hs, axis=1), np.stack(cs, axis=1), {"steps": caches, "D": D}
''')
_fw("float32 storage", True, '''
    h = np.zeros((N, T, H), dtype=np.float32)
    c = np.zeros((N, T, H), dtype=np.float32)
    for t in range(T):
        h_t, c_t, step = lstm_step_forward(x[:, t], h_t, c_t, W_ih, W_hh, b_ih, b_hh)
        h[:, t] = h_t
        c[:, t] = c_t
        caches.append(step)
    return h, c, (caches, D)
''')
_fw("time-major loop over np.moveaxis(x, 1, 0), np.empty", True, '''
    h = np.empty((N, T, H))
    c = np.empty((N, T, H))
    for t, x_t in enumerate(np.moveaxis(x, 1, 0)):
        h_t, c_t, step = lstm_step_forward(x_t, h_t, c_t, W_ih, W_hh, b_ih, b_hh)
        h[:, t], c[:, t] = h_t, c_t
        caches.append(step)
    return h, c, (caches, D)
''')
_fw("input projection vectorised (einsum), no lstm_step_forward", True, '''
    sig = lambda z: 0.5 * (1.0 + np.tanh(0.5 * z))
    xp = np.einsum("ntd,gd->ntg", x, W_ih) + b_ih + b_hh       # (N, T, 4H)
    for t in range(T):
        A = xp[:, t] + h_t @ W_hh.T
        i, f, g, o = sig(A[:, :H]), sig(A[:, H:2 * H]), np.tanh(A[:, 2 * H:3 * H]), sig(A[:, 3 * H:])
        c_prev, h_prev = c_t, h_t
        c_t = f * c_prev + i * g
        tanh_c = np.tanh(c_t)
        h_t = o * tanh_c
        hs.append(h_t)
        cs.append(c_t)
        caches.append((x[:, t], h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c))
    return np.stack(hs, axis=1), np.stack(cs, axis=1), (caches, D)
''')
_fw("inputs and weights cast to float32 first", True, '''
    x, h_t, c_t, W_ih, W_hh, b_ih, b_hh = (np.asarray(a, dtype=np.float32) for a in
                                           (x, h0, c0, W_ih, W_hh, b_ih, b_hh))
    for t in range(T):
        h_t, c_t, step = lstm_step_forward(x[:, t], h_t, c_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cs.append(c_t)
        caches.append(step)
    return np.stack(hs, axis=1), np.stack(cs, axis=1), (caches, D)
''')
_fw("torch tensors inside, NumPy result", True, '''
    tt = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))
    Wi, Wh, b = tt(W_ih), tt(W_hh), tt(b_ih) + tt(b_hh)
    X, h, c = tt(x), tt(h0), tt(c0)
    with torch.no_grad():
        for t in range(T):
            a_i, a_f, a_g, a_o = (X[:, t] @ Wi.T + h @ Wh.T + b).chunk(4, dim=1)
            c = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
            h = torch.sigmoid(a_o) * torch.tanh(c)
            hs.append(h)
            cs.append(c)
    return torch.stack(hs, 1).numpy(), torch.stack(cs, 1).numpy(), None
''')


# ---------------------------------------------------------------------------------------------
# lstm_step_backward (the cache comes from the solution lstm_step_forward)
# ---------------------------------------------------------------------------------------------
# {dc}: total gradient on c_next; {dA}: the four blocks; {tail}: lines after dA (may redefine
# the returned names); the return is fixed.
_SB = '''
def lstm_step_backward(dh_next, dc_next, cache):
    x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c = cache
    dc = {dc}
    do = {do}
    di, df, dg = dc * g, dc * c_prev, dc * i
    dc_prev = {dc_prev}
    dA = np.concatenate({dA}, axis=1)
    dx = dA @ W_ih
    dh_prev = dA @ W_hh
    dW_ih = dA.T @ x
    dW_hh = {dW_hh}
    db_ih = dA.sum(axis=0)
    db_hh = {db_hh}
    return dx, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh
'''
_DA = "[di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)]"


def _sb(name, dc="dc_next + dh_next * o * (1 - tanh_c ** 2)", do="dh_next * tanh_c",
        dc_prev="dc * f", dA=_DA, dW_hh="dA.T @ h_prev", db_hh="db_ih.copy()"):
    _add("lstm_step_backward", name, False,
         _SB.format(dc=dc, do=do, dc_prev=dc_prev, dA=dA, dW_hh=dW_hh, db_hh=db_hh))


_sb("dc not propagated through f: dc_prev = dc", dc_prev="dc")
_sb("dc_prev = dc_next * f (the path through h_next dropped)", dc_prev="dc_next * f")
_sb("path through h_next missing: dc = dc_next", dc="dc_next")
_sb("dc_next ignored", dc="dh_next * o * (1 - tanh_c ** 2)")
_sb("tanh' missing on the h path: dc = dc_next + dh_next * o", dc="dc_next + dh_next * o")
_sb("do uses tanh(c_prev)", do="dh_next * np.tanh(c_prev)")
_sb("dA blocks in the order i, f, o, g",
    dA="[di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)]")
_sb("sigmoid derivative on g", dA="[di * i * (1 - i), df * f * (1 - f), dg * g * (1 - g), do * o * (1 - o)]")
_sb("tanh derivative on the sigmoid gates",
    dA="[di * (1 - i ** 2), df * (1 - f ** 2), dg * (1 - g ** 2), do * (1 - o ** 2)]")
_sb("dW_hh from h_next instead of h_prev", dW_hh="dA.T @ (o * tanh_c)")
_sb("dW_hh transposed, (H, 4H)", dW_hh="h_prev.T @ dA")
_sb("db_hh left at zero", db_hh="np.zeros_like(db_ih)")
_sb("db_hh kept its batch axis: (1, 4H)", db_hh="dA.sum(axis=0, keepdims=True)")
_add("lstm_step_backward", "weight gradients averaged over the batch", False, '''
def lstm_step_backward(dh_next, dc_next, cache):
    x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c = cache
    N = x.shape[0]
    dc = dc_next + dh_next * o * (1 - tanh_c ** 2)
    do = dh_next * tanh_c
    dA = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2),
                         do * o * (1 - o)], axis=1)
    db = dA.mean(axis=0)
    return dA @ W_ih, dA @ W_hh, dc * f, dA.T @ x / N, dA.T @ h_prev / N, db, db.copy()
''')
_add("lstm_step_backward", "returns the weight gradients before dx, dh_prev, dc_prev", False, '''
def lstm_step_backward(dh_next, dc_next, cache):
    x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c = cache
    dc = dc_next + dh_next * o * (1 - tanh_c ** 2)
    do = dh_next * tanh_c
    dA = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2),
                         do * o * (1 - o)], axis=1)
    db = dA.sum(axis=0)
    return dA.T @ x, dA.T @ h_prev, db, db.copy(), dA @ W_ih, dA @ W_hh, dc * f
''')

_add("lstm_step_backward", "loops over the batch (np.outer), gate blocks stacked with hstack", True, '''
def lstm_step_backward(dh_next, dc_next, cache):
    x, hp, cp, W_ih, W_hh, i, f, g, o, t = cache
    dc = dc_next + dh_next * o * (1 - t * t)
    parts = [dc * g * i * (1 - i), dc * cp * f * (1 - f), dc * i * (1 - g * g), dh_next * t * o * (1 - o)]
    dA = np.hstack(parts)
    N = x.shape[0]
    dW_ih = sum(np.outer(dA[n], x[n]) for n in range(N))
    dW_hh = sum(np.outer(dA[n], hp[n]) for n in range(N))
    db = dA.sum(0)
    return dA @ W_ih, dA @ W_hh, dc * f, dW_ih, dW_hh, db, db
''')
_add("lstm_step_backward", "einsum", True, '''
def lstm_step_backward(dh_next, dc_next, cache):
    x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c = cache
    dc = dc_next + dh_next * o * (1.0 - tanh_c ** 2)
    dA = np.concatenate([np.einsum("nh,nh->nh", dc, g * i * (1 - i)),
                         np.einsum("nh,nh->nh", dc, c_prev * f * (1 - f)),
                         dc * i * (1 - g ** 2),
                         dh_next * tanh_c * o * (1 - o)], axis=1)
    dx = np.einsum("ng,gd->nd", dA, W_ih)
    dh_prev = np.einsum("ng,gk->nk", dA, W_hh)
    dW_ih = np.einsum("ng,nd->gd", dA, x)
    dW_hh = np.einsum("ng,nk->gk", dA, h_prev)
    db = np.einsum("ng->g", dA)
    return dx, dh_prev, dc * f, dW_ih, dW_hh, db, db.copy()
''')
_add("lstm_step_backward", "one gate block at a time, products with weight slices", True, '''
def lstm_step_backward(dh_next, dc_next, cache):
    x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c = cache
    H = h_prev.shape[1]
    dc = dc_next + dh_next * o * (1 - tanh_c ** 2)
    blocks = [dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2),
              dh_next * tanh_c * o * (1 - o)]
    dx = np.zeros_like(x, dtype=np.float64)
    dh_prev = np.zeros_like(h_prev, dtype=np.float64)
    dW_ih = np.zeros(W_ih.shape)
    dW_hh = np.zeros(W_hh.shape)
    db = np.zeros(4 * H)
    for k, d in enumerate(blocks):
        rows = slice(k * H, (k + 1) * H)
        dx += d @ W_ih[rows]
        dh_prev += d @ W_hh[rows]
        dW_ih[rows] = d.T @ x
        dW_hh[rows] = d.T @ h_prev
        db[rows] = d.sum(axis=0)
    return dx, dh_prev, dc * f, dW_ih, dW_hh, db, db.copy()
''')
_add("lstm_step_backward", "results cast to float32", True, '''
def lstm_step_backward(dh_next, dc_next, cache):
    x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c = cache
    dc = dc_next + dh_next * o * (1 - tanh_c ** 2)
    dA = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2),
                         dh_next * tanh_c * o * (1 - o)], axis=1)
    out = (dA @ W_ih, dA @ W_hh, dc * f, dA.T @ x, dA.T @ h_prev, dA.sum(0), dA.sum(0))
    return tuple(a.astype(np.float32) for a in out)
''')
_add("lstm_step_backward", "through torch autograd on the cached gates", True, '''
def lstm_step_backward(dh_next, dc_next, cache):
    x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c = cache
    tt = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))
    H = h_prev.shape[1]
    Wi, Wh = tt(W_ih).requires_grad_(), tt(W_hh).requires_grad_()
    bi = torch.zeros(4 * H, dtype=torch.float64, requires_grad=True)
    bh = torch.zeros(4 * H, dtype=torch.float64, requires_grad=True)
    X, Hp, Cp = tt(x).requires_grad_(), tt(h_prev).requires_grad_(), tt(c_prev).requires_grad_()
    # the pre-activations, rebuilt from the cached gates (the biases enter as offsets)
    a_i, a_f, a_g, a_o = (tt(np.log(i / (1 - i))), tt(np.log(f / (1 - f))), tt(np.arctanh(g)),
                          tt(np.log(o / (1 - o))))
    A0 = torch.cat([a_i, a_f, a_g, a_o], dim=1) - (X @ Wi.T + Hp @ Wh.T).detach()
    A = A0 + X @ Wi.T + Hp @ Wh.T + bi + bh
    gi, gf = torch.sigmoid(A[:, :H]), torch.sigmoid(A[:, H:2 * H])
    gg, go = torch.tanh(A[:, 2 * H:3 * H]), torch.sigmoid(A[:, 3 * H:])
    c = gf * Cp + gi * gg
    h = go * torch.tanh(c)
    ((h * tt(dh_next)).sum() + (c * tt(dc_next)).sum()).backward()
    return tuple(v.grad.numpy() for v in (X, Hp, Cp, Wi, Wh, bi, bh))
''')


# ---------------------------------------------------------------------------------------------
# lstm_backward (the cache comes from the solution lstm_forward: (step caches, D); it calls
# the solution lstm_step_backward)
# ---------------------------------------------------------------------------------------------
_BW = '''
def lstm_backward(dh, cache):
    caches, D = cache
    N, T, H = dh.shape
{body}
'''


def _bw(name, correct, body):
    _add("lstm_backward", name, correct, _BW.format(body=body.strip("\n")))


_bw("dh_prev not carried back", False, '''
    dx = np.zeros((N, T, D))
    dh_carry = np.zeros((N, H))
    dc_carry = np.zeros((N, H))
    grads = [0.0] * 4
    for t in reversed(range(T)):
        dx[:, t], dh_carry, dc_carry, *step = lstm_step_backward(dh[:, t], dc_carry, caches[t])
        grads = [a + b for a, b in zip(grads, step)]
    return (dx, dh_carry, dc_carry, *grads)
''')
_bw("dc_prev not carried back (cell path cut)", False, '''
    dx = np.zeros((N, T, D))
    dh_carry = np.zeros((N, H))
    dc_carry = np.zeros((N, H))
    grads = [0.0] * 4
    for t in reversed(range(T)):
        dx[:, t], dh_carry, dc_carry, *step = lstm_step_backward(dh[:, t] + dh_carry,
                                                                 np.zeros((N, H)), caches[t])
        grads = [a + b for a, b in zip(grads, step)]
    return (dx, dh_carry, dc_carry, *grads)
''')
_bw("upstream gradient off by one: dh[:, t-1]", False, '''
    dx = np.zeros((N, T, D))
    dh_carry = np.zeros((N, H))
    dc_carry = np.zeros((N, H))
    grads = [0.0] * 4
    for t in reversed(range(T)):
        dx[:, t], dh_carry, dc_carry, *step = lstm_step_backward(dh[:, t - 1] + dh_carry,
                                                                 dc_carry, caches[t])
        grads = [a + b for a, b in zip(grads, step)]
    return (dx, dh_carry, dc_carry, *grads)
''')
_bw("weight gradients not accumulated (overwritten: step 0 only)", False, '''
    dx = np.zeros((N, T, D))
    dh_carry = np.zeros((N, H))
    dc_carry = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dh_carry, dc_carry, *grads = lstm_step_backward(dh[:, t] + dh_carry,
                                                                  dc_carry, caches[t])
    return (dx, dh_carry, dc_carry, *grads)
''')
_bw("weight gradients of the last step only", False, '''
    dx = np.zeros((N, T, D))
    dh_carry = np.zeros((N, H))
    dc_carry = np.zeros((N, H))
    grads = None
    for t in reversed(range(T)):
        dx[:, t], dh_carry, dc_carry, *step = lstm_step_backward(dh[:, t] + dh_carry,
                                                                 dc_carry, caches[t])
        if grads is None:
            grads = step
    return (dx, dh_carry, dc_carry, *grads)
''')
_bw("dx stored in reverse time order", False, '''
    dxs = []
    dh_carry = np.zeros((N, H))
    dc_carry = np.zeros((N, H))
    grads = [0.0] * 4
    for t in reversed(range(T)):
        dx_t, dh_carry, dc_carry, *step = lstm_step_backward(dh[:, t] + dh_carry, dc_carry, caches[t])
        dxs.append(dx_t)
        grads = [a + b for a, b in zip(grads, step)]
    return (np.stack(dxs, axis=1), dh_carry, dc_carry, *grads)
''')
_bw("loops forward in time, t = 0..T-1", False, '''
    dx = np.zeros((N, T, D))
    dh_carry = np.zeros((N, H))
    dc_carry = np.zeros((N, H))
    grads = [0.0] * 4
    for t in range(T):
        dx[:, t], dh_carry, dc_carry, *step = lstm_step_backward(dh[:, t] + dh_carry,
                                                                 dc_carry, caches[t])
        grads = [a + b for a, b in zip(grads, step)]
    return (dx, dh_carry, dc_carry, *grads)
''')
_bw("dc0 returned as zeros", False, '''
    dx = np.zeros((N, T, D))
    dh_carry = np.zeros((N, H))
    dc_carry = np.zeros((N, H))
    grads = [0.0] * 4
    for t in reversed(range(T)):
        dx[:, t], dh_carry, dc_carry, *step = lstm_step_backward(dh[:, t] + dh_carry,
                                                                 dc_carry, caches[t])
        grads = [a + b for a, b in zip(grads, step)]
    return (dx, dh_carry, np.zeros((N, H)), *grads)
''')
_bw("dh0 adds dh[:, 0] once more", False, '''
    dx = np.zeros((N, T, D))
    dh_carry = np.zeros((N, H))
    dc_carry = np.zeros((N, H))
    grads = [0.0] * 4
    for t in reversed(range(T)):
        dx[:, t], dh_carry, dc_carry, *step = lstm_step_backward(dh[:, t] + dh_carry,
                                                                 dc_carry, caches[t])
        grads = [a + b for a, b in zip(grads, step)]
    return (dx, dh_carry + dh[:, 0], dc_carry, *grads)
''')
_bw("only the last step's upstream gradient used", False, '''
    dx = np.zeros((N, T, D))
    dh_carry = dh[:, -1]
    dc_carry = np.zeros((N, H))
    grads = [0.0] * 4
    for t in reversed(range(T)):
        dx[:, t], dh_carry, dc_carry, *step = lstm_step_backward(dh_carry, dc_carry, caches[t])
        grads = [a + b for a, b in zip(grads, step)]
    return (dx, dh_carry, dc_carry, *grads)
''')

_bw("accumulators allocated as columns (4H, 1): db broadcasts to (4H, 4H)", False, '''
    G = 4 * H
    dx = np.zeros((N, T, D))
    dh_carry = np.zeros((N, H))
    dc_carry = np.zeros((N, H))
    grads = [np.zeros((G, 1)) for _ in range(4)]
    for t in reversed(range(T)):
        dx[:, t], dh_carry, dc_carry, *step = lstm_step_backward(dh[:, t] + dh_carry,
                                                                 dc_carry, caches[t])
        grads = [a + b for a, b in zip(grads, step)]
    return (dx, dh_carry, dc_carry, *grads)
''')

_bw("dict of accumulators, range(T-1, -1, -1)", True, '''
    names = ("dW_ih", "dW_hh", "db_ih", "db_hh")
    acc = {}
    dx = np.zeros((N, T, D))
    dh_prev = np.zeros((N, H))
    dc_prev = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        out = lstm_step_backward(dh[:, t] + dh_prev, dc_prev, caches[t])
        dx[:, t], dh_prev, dc_prev = out[:3]
        for name, grad in zip(names, out[3:]):
            acc[name] = acc.get(name, 0) + grad
    return (dx, dh_prev, dc_prev, *(acc[n] for n in names))
''')
_bw("step gradients collected in lists, summed with np.sum(np.stack)", True, '''
    dxs, steps = [None] * T, []
    dh_c = np.zeros_like(dh[:, 0])
    dc_c = np.zeros_like(dh[:, 0])
    for t in reversed(range(T)):
        dxs[t], dh_c, dc_c, *g = lstm_step_backward(dh[:, t] + dh_c, dc_c, caches[t])
        steps.append(g)
    sums = [np.sum(np.stack([s[k] for s in steps]), axis=0) for k in range(4)]
    return (np.stack(dxs, axis=1), dh_c, dc_c, *sums)
''')
_bw("results cast to float32", True, '''
    dx = np.zeros((N, T, D))
    dh_carry = np.zeros((N, H))
    dc_carry = np.zeros((N, H))
    grads = [0.0] * 4
    for t in reversed(range(T)):
        dx[:, t], dh_carry, dc_carry, *step = lstm_step_backward(dh[:, t] + dh_carry,
                                                                 dc_carry, caches[t])
        grads = [a + b for a, b in zip(grads, step)]
    return tuple(np.asarray(a, dtype=np.float32) for a in (dx, dh_carry, dc_carry, *grads))
''')
_bw("step backward written inline (no lstm_step_backward), in-place accumulation", True, '''
    x0, _, _, W_ih, W_hh = caches[0][:5]
    dx = np.zeros((N, T, D))
    dW_ih = np.zeros(W_ih.shape)
    dW_hh = np.zeros(W_hh.shape)
    db = np.zeros(4 * H)
    dh_c = np.zeros((N, H))
    dc_c = np.zeros((N, H))
    for t in reversed(range(T)):
        x, h_prev, c_prev, _, _, i, f, g, o, tanh_c = caches[t]
        dh_t = dh[:, t] + dh_c
        dc = dc_c + dh_t * o * (1 - tanh_c ** 2)
        dA = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                             dc * i * (1 - g ** 2), dh_t * tanh_c * o * (1 - o)], axis=1)
        dx[:, t] = dA @ W_ih
        dh_c = dA @ W_hh
        dc_c = dc * f
        dW_ih += dA.T @ x
        dW_hh += dA.T @ h_prev
        db += dA.sum(axis=0)
    return dx, dh_c, dc_c, dW_ih, dW_hh, db, db.copy()
''')
_bw("zeros_like accumulators from the first step's gradients", True, '''
    dx = np.zeros((N, T, D), dtype=dh.dtype)
    dh_next = np.zeros_like(dh[:, 0])
    dc_next = np.zeros_like(dh[:, 0])
    totals = None
    for t in reversed(range(T)):
        dx_t, dh_next, dc_next, *step = lstm_step_backward(dh[:, t] + dh_next, dc_next, caches[t])
        dx[:, t] = dx_t
        if totals is None:
            totals = [np.zeros_like(s) for s in step]
        for total, s in zip(totals, step):
            total += s
    return (dx, dh_next, dc_next, *totals)
''')


# The variants make test grades through nbgrader. Every other exercise's tests run
# lstm_step_forward, and lstm_backward's tests run every other exercise, so each variant of those
# two costs a graded notebook of its own (wrong lstm_forward and lstm_step_backward variants share
# notebooks in pairs; a correct one, graded through test_lstm_backward too, has one of its own,
# so two correct variants of each stay graded). This selection keeps the mistakes the course names (gates out of order, the
# wrong nonlinearity, tanh(c) missing, a weight not transposed, a missing bias, dc not carried
# through f, weight gradients not accumulated, off by one in time, a shape that broadcasts) and
# three correct variants per exercise; the others stay in RESERVE (mutants.load sets it), checked
# while this file was written, in-process against the solution notebook's test cells (hidden
# tests included), ready to be graded again.
GRADED = {
    "lstm_step_forward": [
        "gates in the order i, f, o, g",
        "gates in the order f, i, g, o",
        "sigmoid instead of tanh on g",
        "tanh(c) missing: h = o * c",
        "W_hh not transposed (blockwise h_prev @ W_hh[k])",
        "missing b_hh",
        "separate gate blocks of the weights, own stable sigmoid, dict cache",
        "einsum and np.split",
        "computed in float32 throughout",
    ],
    "lstm_forward": [
        "stores the previous state (off by one: h0, c0 in, last state out)",
        "c not carried: c0 fed to every step",
        "input off by one: x[:, t-1]",
        "reads the sequence backwards",
        "time-major output (T, N, H)",
        "lists stacked on axis 1, dict cache",
        "inputs and weights cast to float32 first",
    ],
    "lstm_step_backward": [
        "dc not propagated through f: dc_prev = dc",
        "path through h_next missing: dc = dc_next",
        "dA blocks in the order i, f, o, g",
        "sigmoid derivative on g",
        "db_hh left at zero",
        "db_hh kept its batch axis: (1, 4H)",
        "einsum",
        "results cast to float32",
    ],
    "lstm_backward": [
        "dh_prev not carried back",
        "dc_prev not carried back (cell path cut)",
        "upstream gradient off by one: dh[:, t-1]",
        "weight gradients not accumulated (overwritten: step 0 only)",
        "loops forward in time, t = 0..T-1",
        "accumulators allocated as columns (4H, 1): db broadcasts to (4H, 4H)",
        "dict of accumulators, range(T-1, -1, -1)",
        "step backward written inline (no lstm_step_backward), in-place accumulation",
        "results cast to float32",
    ],
}


# Wrong forwards planned into a notebook where the backward exercises that call them run the
# solution: those must keep every point. The other wrong forwards are checked the same way
# wherever the planning leaves their callers untouched (every lstm_step_forward variant does).
PAIRS = [("lstm_step_forward", "gates in the order i, f, o, g"),
         ("lstm_step_forward", "missing b_hh"),
         ("lstm_forward", "c not carried: c0 fed to every step")]
