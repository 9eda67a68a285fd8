"""Mutation catalogue of lesson 01_rnn: wrong and correct versions of every graded exercise.

Each variant's source replaces the whole answer cell. Variants of the backward exercises read
the cache of the SOLUTION forward functions, a tuple per step ``(x, h_prev, W_ih, W_hh, h_next)``
(``rnn_forward`` returns a list of them), because the packing never puts them in a notebook
with a variant of the forward functions their tests call. That is also the layout the forwards'
docstrings document, which the backward tests build from reference values when the learner's
forward is wrong.

Every correct variant is graded through the test cells of every exercise that calls it (a
correct float32 or dict-cache ``rnn_step_forward`` must keep the points of test_rnn_forward,
test_rnn_step_backward and test_rnn_backward), and every wrong forward variant is checked to
leave the backward exercises of FALLBACK their points.
"""

from mutants import Variant

# answer cell: (its test cells, the other answer cells its tests run, directly or through the
# solution). The backward tests call the learner's forward first (test_rnn_step_backward calls
# rnn_step_forward; test_rnn_backward calls rnn_forward, whose solution calls rnn_step_forward)
# but, when that forward is wrong, give the backward the documented cache built from reference
# values instead (FALLBACK): a wrong forward costs no backward point. What cannot be separated:
# the solution of rnn_forward calls rnn_step_forward, so a wrong step makes rnn_forward's output
# wrong too (test_rnn_forward fails with it); the solution of rnn_backward calls
# rnn_step_backward, so a wrong step backward fails test_rnn_backward.
EXERCISES = {
    "rnn_step_forward": (["test_rnn_step_forward"], []),
    "rnn_forward": (["test_rnn_forward"], ["rnn_step_forward"]),
    "rnn_step_backward": (["test_rnn_step_backward"], ["rnn_step_forward"]),
    "rnn_backward": (["test_rnn_backward"], ["rnn_forward", "rnn_step_forward", "rnn_step_backward"]),
    "softmax_cross_entropy": (["test_softmax_cross_entropy"], []),
    "sample_next": (["test_sample_next"], []),
}

# the callees whose wrong versions the tests work around: every graded wrong variant of them is
# checked to leave these exercises all their points (tests/test_mutants.py)
FALLBACK = {
    "rnn_step_backward": ["rnn_step_forward"],
    "rnn_backward": ["rnn_forward", "rnn_step_forward"],
}

VARIANTS = []


def _add(exercise, name, correct, source):
    VARIANTS.append(Variant(exercise, name, correct, source.strip("\n") + "\n"))


# ---------------------------------------------------------------------------------------------
# rnn_step_forward
# ---------------------------------------------------------------------------------------------
_STEP = '''
def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    h_next = {h}
    cache = (x, h_prev, W_ih, W_hh, h_next)
    return h_next, cache
'''


def _step(name, correct, h):
    _add("rnn_step_forward", name, correct, _STEP.format(h=h))


_step("W_hh not transposed", False, "np.tanh(x @ W_ih.T + b_ih + h_prev @ W_hh + b_hh)")
_step("W_ih not transposed", False, "np.tanh(x @ W_ih + b_ih + h_prev @ W_hh.T + b_hh)")
_step("missing b_hh", False, "np.tanh(x @ W_ih.T + b_ih + h_prev @ W_hh.T)")
_step("missing b_ih", False, "np.tanh(x @ W_ih.T + h_prev @ W_hh.T + b_hh)")
_step("b_ih added twice, b_hh never", False, "np.tanh(x @ W_ih.T + 2 * b_ih + h_prev @ W_hh.T)")
_step("sigmoid instead of tanh", False,
      "1.0 / (1.0 + np.exp(-(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)))")
_step("ReLU instead of tanh", False, "np.maximum(0.0, x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)")
_step("no nonlinearity", False, "x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh")
_step("tanh of the input term only", False, "np.tanh(x @ W_ih.T + b_ih) + h_prev @ W_hh.T + b_hh")
_step("bias as a column (broadcasts to the wrong shape)", False,
      "np.tanh(x @ W_ih.T + h_prev @ W_hh.T + (b_ih + b_hh)[:, None])")
_add("rnn_step_forward", "returns h_next only, no cache", False, '''
def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    return np.tanh(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)
''')
_add("rnn_step_forward", "returns (cache, h_next)", False, '''
def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    h_next = np.tanh(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)
    return (x, h_prev, W_ih, W_hh, h_next), h_next
''')

_step("einsum", True,
      "np.tanh(np.einsum('nd,hd->nh', x, W_ih) + np.einsum('nk,hk->nh', h_prev, W_hh) + b_ih + b_hh)")
_step("float32 result", True,
      "np.tanh(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh).astype(np.float32)")
_step("weights on the left, transposed back", True,
      "np.tanh(W_ih @ x.T + W_hh @ h_prev.T + (b_ih + b_hh)[:, None]).T")
_step("np.dot and np.add", True,
      "np.tanh(np.add(np.dot(x, W_ih.T) + b_ih, np.dot(h_prev, W_hh.T) + b_hh))")
_step("tanh from exp of -2|a| (stable)", True,
      "(lambda a: np.sign(a) * (1 - np.exp(-2 * np.abs(a))) / (1 + np.exp(-2 * np.abs(a))))"
      "(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)")
_add("rnn_step_forward", "loops over batch and hidden units, dict cache", True, '''
def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    N, D = x.shape
    H = W_hh.shape[0]
    h_next = np.zeros((N, H))
    for n in range(N):
        for j in range(H):
            a = b_ih[j] + b_hh[j]
            for d in range(D):
                a += x[n, d] * W_ih[j, d]
            for k in range(H):
                a += h_prev[n, k] * W_hh[j, k]
            h_next[n, j] = np.tanh(a)
    return h_next, {"x": x, "h_prev": h_prev, "W": (W_ih, W_hh), "h_next": h_next}
''')
_add("rnn_step_forward", "torch (F.linear), back to NumPy", True, '''
def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    import torch.nn.functional as F
    t = lambda a: torch.as_tensor(np.asarray(a, np.float64))
    with torch.no_grad():
        h = torch.tanh(F.linear(t(x), t(W_ih), t(b_ih)) + F.linear(t(h_prev), t(W_hh), t(b_hh)))
    h_next = h.numpy()
    return h_next, (x, h_prev, W_ih, W_hh, h_next)
''')


# ---------------------------------------------------------------------------------------------
# rnn_forward (its tests run rnn_step_forward through the solution)
# ---------------------------------------------------------------------------------------------
_FW = '''
def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    N, T, D = x.shape
    H = h0.shape[1]
    hs, cache = [], []
    h_t = h0
{body}
'''


def _fw(name, correct, body):
    _add("rnn_forward", name, correct, _FW.format(body=body.strip("\n")))


_fw("stores h_prev: h0 included, last state dropped", False, '''
    for t in range(T):
        hs.append(h_t)
        h_t, c = rnn_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        cache.append(c)
    return np.stack(hs, axis=1), cache
''')
_fw("h0 included: T+1 states", False, '''
    hs.append(h0)
    for t in range(T):
        h_t, c = rnn_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cache.append(c)
    return np.stack(hs, axis=1), cache
''')
_fw("last state dropped: T-1 states", False, '''
    for t in range(T):
        h_t, c = rnn_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cache.append(c)
    return np.stack(hs[:-1], axis=1), cache
''')
_fw("h0 fed to every step", False, '''
    for t in range(T):
        h_t, c = rnn_step_forward(x[:, t], h0, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cache.append(c)
    return np.stack(hs, axis=1), cache
''')
_fw("returns the last state only", False, '''
    for t in range(T):
        h_t, c = rnn_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        cache.append(c)
    return h_t, cache
''')
_fw("time-major output (T, N, H)", False, '''
    for t in range(T):
        h_t, c = rnn_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cache.append(c)
    return np.stack(hs), cache
''')
_fw("reads the sequence backwards", False, '''
    h = np.zeros((N, T, H))
    for t in reversed(range(T)):
        h_t, c = rnn_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        h[:, t] = h_t
        cache.append(c)
    return h, cache
''')
_fw("input off by one: x[:, t-1]", False, '''
    for t in range(T):
        h_t, c = rnn_step_forward(x[:, t - 1], h_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cache.append(c)
    return np.stack(hs, axis=1), cache
''')
_fw("time-major indexing x[t]", False, '''
    for t in range(T):
        h_t, c = rnn_step_forward(x[t], h_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cache.append(c)
    return np.stack(hs, axis=1), cache
''')
_fw("output allocated like x (N, T, D)", False, '''
    h = np.zeros_like(x)
    for t in range(T):
        h_t, c = rnn_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        h[:, t, :min(D, H)] = h_t[:, :min(D, H)]
        cache.append(c)
    return h, cache
''')
_fw("residual update h_t = h_{t-1} + step", False, '''
    for t in range(T):
        step, c = rnn_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        h_t = h_t + step
        hs.append(h_t)
        cache.append(c)
    return np.stack(hs, axis=1), cache
''')

_fw("list of states stacked on axis 1", True, '''
    for t in range(T):
        h_t, c = rnn_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cache.append(c)
    return np.stack(hs, axis=1), cache
''')
_fw("float32 storage", True, '''
    h = np.zeros((N, T, H), dtype=np.float32)
    for t in range(T):
        h_t, c = rnn_step_forward(x[:, t], h_t, W_ih, W_hh, b_ih, b_hh)
        h[:, t] = h_t
        cache.append(c)
    return h, cache
''')
_fw("input projection vectorised, no rnn_step_forward, cache None", True, '''
    xp = x @ W_ih.T + b_ih + b_hh                      # (N, T, H)
    h = np.empty((N, T, H))
    for t in range(T):
        h_t = np.tanh(xp[:, t] + h_t @ W_hh.T)
        h[:, t] = h_t
    return h, None
''')
_fw("time-major loop over x.transpose(1, 0, 2)", True, '''
    for x_t in np.transpose(x, (1, 0, 2)):
        h_t, c = rnn_step_forward(x_t, h_t, W_ih, W_hh, b_ih, b_hh)
        hs.append(h_t)
        cache.append(c)
    return np.stack(hs, axis=1), {"steps": cache, "x": x, "h0": h0}
''')
_fw("biases passed swapped (their sum is the same)", True, '''
    for t in range(T):
        h_t, c = rnn_step_forward(x[:, t], h_t, W_ih, W_hh, b_hh, b_ih)
        hs.append(h_t)
        cache.append(c)
    return np.stack(hs, axis=1), cache
''')
_fw("torch tensors inside, NumPy result", True, '''
    t_ = lambda a: torch.as_tensor(np.asarray(a, np.float64))
    Wi, Wh, b = t_(W_ih), t_(W_hh), t_(b_ih) + t_(b_hh)
    xt, h = t_(x), t_(h0)
    out = []
    with torch.no_grad():
        for t in range(T):
            h = torch.tanh(xt[:, t] @ Wi.T + h @ Wh.T + b)
            out.append(h)
    return torch.stack(out, dim=1).numpy(), (x, h0, W_ih, W_hh, b_ih, b_hh)
''')


# ---------------------------------------------------------------------------------------------
# rnn_step_backward (the cache comes from the solution rnn_step_forward)
# ---------------------------------------------------------------------------------------------
_SB = '''
def rnn_step_backward(dh_next, cache):
    x, h_prev, W_ih, W_hh, h_next = cache
    da = {da}
    return {ret}
'''
_DA = "dh_next * (1 - h_next ** 2)"
_RET = "da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(axis=0), da.sum(axis=0)"


def _sb(name, correct, da=_DA, ret=_RET):
    _add("rnn_step_backward", name, correct, _SB.format(da=da, ret=ret))


_sb("dW_hh from h_next instead of h_prev", False,
    ret="da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_next, da.sum(axis=0), da.sum(axis=0)")
_sb("no tanh derivative", False, da="dh_next")
_sb("tanh' as 1 - tanh(h_next)**2", False, da="dh_next * (1 - np.tanh(h_next) ** 2)")
_sb("tanh' as 1 - h_next (square forgotten)", False, da="dh_next * (1 - h_next)")
_sb("tanh' from h_prev", False, da="dh_next * (1 - h_prev ** 2)")
_sb("sigmoid derivative h(1-h)", False, da="dh_next * h_next * (1 - h_next)")
_sb("dh_prev with W_hh.T", False,
    ret="da @ W_ih, da @ W_hh.T, da.T @ x, da.T @ h_prev, da.sum(axis=0), da.sum(axis=0)")
_sb("dx with W_ih.T", False,
    ret="da @ W_ih.T, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(axis=0), da.sum(axis=0)")
_sb("dW_hh transposed", False,
    ret="da @ W_ih, da @ W_hh, da.T @ x, h_prev.T @ da, da.sum(axis=0), da.sum(axis=0)")
_sb("dW averaged over the batch", False,
    ret="da @ W_ih, da @ W_hh, da.T @ x / len(x), da.T @ h_prev / len(x), da.sum(axis=0), da.sum(axis=0)")
_sb("db averaged over the batch", False,
    ret="da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, da.mean(axis=0), da.mean(axis=0)")
_sb("db_hh left at zero", False,
    ret="da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(axis=0), np.zeros(da.shape[1])")
_sb("db summed over hidden units (axis 1)", False,
    ret="da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(axis=1), da.sum(axis=1)")
_add("rnn_step_backward", "squares h_next in place in the cache", False, '''
def rnn_step_backward(dh_next, cache):
    x, h_prev, W_ih, W_hh, h_next = cache
    h_next **= 2                                   # overwrites the cached state
    da = dh_next * (1 - h_next)
    return da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(axis=0), da.sum(axis=0)
''')

_sb("float32 outputs", True, da="(dh_next * (1 - h_next ** 2)).astype(np.float32)")
_sb("einsum", True,
    ret="np.einsum('nh,hd->nd', da, W_ih), np.einsum('nh,hk->nk', da, W_hh), "
        "np.einsum('nh,nd->hd', da, x), np.einsum('nh,nk->hk', da, h_prev), "
        "np.einsum('nh->h', da), np.einsum('nh->h', da)")
_sb("the same array for db_ih and db_hh", True,
    ret="da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, *([da.sum(axis=0)] * 2)")
_sb("(1 - h)(1 + h) for tanh'", True, da="dh_next * (1 - h_next) * (1 + h_next)")
_add("rnn_step_backward", "in place on a copy", True, '''
def rnn_step_backward(dh_next, cache):
    x, h_prev, W_ih, W_hh, h_next = cache
    da = h_next.copy()
    da **= 2
    da *= -1
    da += 1
    da *= dh_next
    return da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(axis=0), da.sum(axis=0)
''')
_add("rnn_step_backward", "loop over the batch, outer products", True, '''
def rnn_step_backward(dh_next, cache):
    x, h_prev, W_ih, W_hh, h_next = cache
    N, H = dh_next.shape
    dW_ih = np.zeros(W_ih.shape)
    dW_hh = np.zeros(W_hh.shape)
    db = np.zeros(H)
    dx = np.zeros(x.shape)
    dh_prev = np.zeros(h_prev.shape)
    for n in range(N):
        da = dh_next[n] * (1 - h_next[n] ** 2)
        dW_ih += np.outer(da, x[n])
        dW_hh += np.outer(da, h_prev[n])
        db += da
        dx[n] = W_ih.T @ da
        dh_prev[n] = W_hh.T @ da
    return dx, dh_prev, dW_ih, dW_hh, db, db.copy()
''')
_add("rnn_step_backward", "torch tensors returned", True, '''
def rnn_step_backward(dh_next, cache):
    x, h_prev, W_ih, W_hh, h_next = (torch.as_tensor(np.asarray(a, np.float64)) for a in cache)
    da = torch.as_tensor(np.asarray(dh_next, np.float64)) * (1 - h_next ** 2)
    return da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(0), da.sum(0)
''')


# ---------------------------------------------------------------------------------------------
# rnn_backward (the cache comes from the solution rnn_forward: a list of step caches)
# ---------------------------------------------------------------------------------------------
_BW = '''
def rnn_backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][2].shape[1]
    dx = np.zeros((N, T, D))
    dW_ih, dW_hh = np.zeros((H, D)), np.zeros((H, H))
    db_ih, db_hh = np.zeros(H), np.zeros(H)
    dh_prev = np.zeros((N, H))
    for t in {order}:
        dx_t, dh_prev, dWi, dWh, dbi, dbh = rnn_step_backward({incoming}, cache[{idx}])
        {store}
        {acc}
    return dx, {dh0}, dW_ih, dW_hh, db_ih, db_hh
'''
_ACC = "dW_ih += dWi; dW_hh += dWh; db_ih += dbi; db_hh += dbh"


def _bw_source(order="reversed(range(T))", incoming="dh[:, t] + dh_prev", idx="t",
               store="dx[:, t] = dx_t", acc=_ACC, dh0="dh_prev"):
    return _BW.format(order=order, incoming=incoming, idx=idx, store=store, acc=acc, dh0=dh0)


def _bw(name, correct, **changes):
    _add("rnn_backward", name, correct, _bw_source(**changes))


_bw("weight gradients of the last step only", False,
    acc="if t == T - 1: dW_ih, dW_hh, db_ih, db_hh = dWi, dWh, dbi, dbh")
_bw("weight gradients overwritten (first step only)", False,
    acc="dW_ih, dW_hh, db_ih, db_hh = dWi, dWh, dbi, dbh")
_bw("weight gradients averaged over T", False,
    acc="dW_ih += dWi / T; dW_hh += dWh / T; db_ih += dbi / T; db_hh += dbh / T")
_bw("no gradient carried back from step t+1", False, incoming="dh[:, t]")
_bw("only the carried gradient after the last step", False,
    incoming="dh[:, t] if t == T - 1 else dh_prev")
_bw("dh0 left at zero", False, dh0="np.zeros((N, H))")
_bw("dh0 is the gradient on h_1", False, dh0="dh[:, 0] + 0 * dh_prev")
_bw("loop in forward order", False, order="range(T)")
_bw("cache off by one step", False, idx="t - 1")
_bw("dx never stored", False, store="pass")
_bw("dx stored one step late", False, store="dx[:, t - 1] = dx_t")
_bw("db_hh not accumulated", False, acc="dW_ih += dWi; dW_hh += dWh; db_ih += dbi")

_bw("solution-style loop over rnn_step_backward", True)
_add("rnn_backward", "float32 accumulators", True, _bw_source().replace(
    "np.zeros((H, D)), np.zeros((H, H))",
    "np.zeros((H, D), np.float32), np.zeros((H, H), np.float32)"))
_add("rnn_backward", "gradients stored per step then summed", True,
     _bw_source(acc="parts.append((dWi, dWh, dbi, dbh))").replace(
         "    for t in", "    parts = []\n    for t in").replace(
         "    return dx,",
         "    dW_ih, dW_hh, db_ih, db_hh = (sum(p) for p in zip(*parts))\n    return dx,"))
_add("rnn_backward", "own BPTT: da of every step, then einsum", True, '''
def rnn_backward(dh, cache):
    xs = np.stack([c[0] for c in cache], axis=1)       # (N, T, D)
    h_prev = np.stack([c[1] for c in cache], axis=1)   # (N, T, H)
    h_next = np.stack([c[4] for c in cache], axis=1)   # (N, T, H)
    W_ih, W_hh = cache[0][2], cache[0][3]
    N, T, H = dh.shape
    da = np.zeros((N, T, H))
    carry = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        da[:, t] = (dh[:, t] + carry) * (1 - h_next[:, t] ** 2)
        carry = da[:, t] @ W_hh
    dx = da @ W_ih
    dW_ih = np.einsum("nth,ntd->hd", da, xs)
    dW_hh = np.einsum("nth,ntk->hk", da, h_prev)
    db = da.sum(axis=(0, 1))
    return dx, carry, dW_ih, dW_hh, db, db.copy()
''')
_add("rnn_backward", "torch tensors, explicit formulas", True, '''
def rnn_backward(dh, cache):
    t_ = lambda a: torch.as_tensor(np.asarray(a, np.float64))
    W_ih, W_hh = t_(cache[0][2]), t_(cache[0][3])
    dh = t_(dh)
    N, T, H = dh.shape
    dx = torch.zeros(N, T, W_ih.shape[1], dtype=torch.float64)
    dW_ih, dW_hh = torch.zeros_like(W_ih), torch.zeros_like(W_hh)
    db = torch.zeros(H, dtype=torch.float64)
    carry = torch.zeros(N, H, dtype=torch.float64)
    for t in reversed(range(T)):
        x, h_prev, _, _, h_next = (t_(a) for a in cache[t])
        da = (dh[:, t] + carry) * (1 - h_next ** 2)
        dx[:, t] = da @ W_ih
        dW_ih += da.T @ x
        dW_hh += da.T @ h_prev
        db += da.sum(0)
        carry = da @ W_hh
    return dx.numpy(), carry.numpy(), dW_ih.numpy(), dW_hh.numpy(), db.numpy(), db.clone().numpy()
''')


# ---------------------------------------------------------------------------------------------
# softmax_cross_entropy
# ---------------------------------------------------------------------------------------------
_CE = '''
def softmax_cross_entropy(logits, targets):
    N, T, V = logits.shape
    targets = np.asarray(targets)
{body}
'''


def _ce(name, correct, body):
    _add("softmax_cross_entropy", name, correct, _CE.format(body=body.strip("\n")))


_LOGP = '''
    z = logits - logits.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    one_hot = np.eye(V)[targets]
'''
_ce("dlogits not divided by N*T", False, _LOGP + '''
    return float(-(log_p * one_hot).sum() / (N * T)), np.exp(log_p) - one_hot
''')
_ce("dlogits divided by N only", False, _LOGP + '''
    return float(-(log_p * one_hot).sum() / (N * T)), (np.exp(log_p) - one_hot) / N
''')
_ce("dlogits divided by T only", False, _LOGP + '''
    return float(-(log_p * one_hot).sum() / (N * T)), (np.exp(log_p) - one_hot) / T
''')
_ce("loss summed, not averaged", False, _LOGP + '''
    return float(-(log_p * one_hot).sum()), (np.exp(log_p) - one_hot) / (N * T)
''')
_ce("loss without the minus sign", False, _LOGP + '''
    return float((log_p * one_hot).sum() / (N * T)), (np.exp(log_p) - one_hot) / (N * T)
''')
_ce("one-hot not subtracted from dlogits", False, _LOGP + '''
    return float(-(log_p * one_hot).sum() / (N * T)), np.exp(log_p) / (N * T)
''')
_ce("dlogits with the wrong sign", False, _LOGP + '''
    return float(-(log_p * one_hot).sum() / (N * T)), (one_hot - np.exp(log_p)) / (N * T)
''')
_ce("softmax over time (axis 1)", False, '''
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    one_hot = np.eye(V)[targets]
    return float(-(log_p * one_hot).sum() / (N * T)), (np.exp(log_p) - one_hot) / (N * T)
''')
_ce("naive softmax (no max subtracted)", False, '''
    p = np.exp(logits)
    p = p / p.sum(axis=-1, keepdims=True)
    one_hot = np.eye(V)[targets]
    return float(-(np.log(p) * one_hot).sum() / (N * T)), (p - one_hot) / (N * T)
''')
_ce("stable softmax, then log of the probability", False, '''
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p = p / p.sum(axis=-1, keepdims=True)
    one_hot = np.eye(V)[targets]
    return float(-np.log((p * one_hot).sum(axis=-1)).mean()), (p - one_hot) / (N * T)
''')
_ce("log(p + 1e-12) instead of log-sum-exp", False, '''
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p = p / p.sum(axis=-1, keepdims=True)
    one_hot = np.eye(V)[targets]
    return float(-(np.log(p + 1e-12) * one_hot).sum() / (N * T)), (p - one_hot) / (N * T)
''')
_ce("global maximum subtracted", False, '''
    z = logits - logits.max()
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    one_hot = np.eye(V)[targets]
    return float(-(log_p * one_hot).sum() / (N * T)), (np.exp(log_p) - one_hot) / (N * T)
''')
_ce("max without keepdims (broadcasts wrongly)", False, '''
    z = logits - logits.max(axis=-1)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    one_hot = np.eye(V)[targets]
    return float(-(log_p * one_hot).sum() / (N * T)), (np.exp(log_p) - one_hot) / (N * T)
''')

_ce("np.eye one-hot", True, _LOGP + '''
    return float(-(log_p * one_hot).sum() / (N * T)), (np.exp(log_p) - one_hot) / (N * T)
''')
_ce("np.logaddexp.reduce, fancy indexing", True, '''
    lse = np.logaddexp.reduce(logits, axis=-1, keepdims=True)           # (N, T, 1)
    n, t = np.meshgrid(np.arange(N), np.arange(T), indexing="ij")
    loss = np.mean(lse[..., 0] - logits[n, t, targets])
    dlogits = np.exp(logits - lse)
    dlogits[n, t, targets] -= 1
    return loss, dlogits / (N * T)
''')
_ce("flattened to (N*T, V), float32 dlogits", True, '''
    z = logits.reshape(N * T, V).astype(np.float64)
    y = targets.reshape(N * T)
    m = z.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    loss = np.mean(lse[:, 0] - z[np.arange(N * T), y])
    g = np.exp(z - lse)
    g[np.arange(N * T), y] -= 1
    return loss, (g / (N * T)).astype(np.float32).reshape(N, T, V)
''')
_ce("loop over positions", True, '''
    loss = 0.0
    dlogits = np.zeros((N, T, V))
    for n in range(N):
        for t in range(T):
            z = logits[n, t] - np.max(logits[n, t])
            s = np.exp(z).sum()
            loss -= z[targets[n, t]] - np.log(s)
            dlogits[n, t] = np.exp(z) / s
            dlogits[n, t, targets[n, t]] -= 1
    return loss / (N * T), dlogits / (N * T)
''')
_ce("torch F.cross_entropy and autograd, float64", True, '''
    import torch.nn.functional as F
    z = torch.tensor(np.asarray(logits, np.float64), requires_grad=True)
    loss = F.cross_entropy(z.reshape(-1, V), torch.as_tensor(targets.astype(np.int64)).reshape(-1))
    loss.backward()
    return loss.item(), z.grad.numpy()
''')
_ce("torch log_softmax, loss as a 0-d tensor", True, '''
    z = torch.as_tensor(np.asarray(logits, np.float64))
    log_p = torch.log_softmax(z, dim=-1)
    y = torch.as_tensor(targets.astype(np.int64))[..., None]
    loss = -log_p.gather(-1, y).mean()
    dlogits = log_p.exp().scatter_add(-1, y, -torch.ones(y.shape, dtype=torch.float64))
    return loss, dlogits / (N * T)
''')


# ---------------------------------------------------------------------------------------------
# sample_next
# ---------------------------------------------------------------------------------------------
_SN = '''
def sample_next(logits, temperature, rng):
{body}
'''


def _sn(name, correct, body):
    _add("sample_next", name, correct, _SN.format(body=body.strip("\n")))


_SOFT = '''
    z = np.asarray(logits, dtype=np.float64) / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
'''
_sn("temperature ignored", False, '''
    z = np.asarray(logits, dtype=np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    return int(rng.choice(len(p), p=p))
''')
_sn("logits multiplied by the temperature", False, '''
    z = np.asarray(logits, dtype=np.float64) * temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    return int(rng.choice(len(p), p=p))
''')
_sn("temperature applied to the probabilities (p / tau)", False, '''
    z = np.asarray(logits, dtype=np.float64)
    p = np.exp(z - z.max())
    p = p / p.sum() / temperature
    p /= p.sum()
    return int(rng.choice(len(p), p=p))
''')
_sn("global np.random instead of rng", False, _SOFT + '''
    return int(np.random.choice(len(p), p=p))
''')
_sn("a new unseeded generator", False, _SOFT + '''
    return int(np.random.default_rng().choice(len(p), p=p))
''')
_sn("torch.multinomial with torch's global generator", False, _SOFT + '''
    return int(torch.multinomial(torch.as_tensor(p), 1).item())
''')
_sn("argmax (greedy), no sampling", False, '''
    return int(np.argmax(logits))
''')
_sn("uniform over the vocabulary", False, '''
    return int(rng.integers(len(logits)))
''')
_sn("softmax without the max subtracted", False, '''
    p = np.exp(np.asarray(logits, dtype=np.float64) / temperature)
    p /= p.sum()
    return int(rng.choice(len(p), p=p))
''')
_sn("returns a length-1 array", False, _SOFT + '''
    return rng.choice(len(p), size=1, p=p)
''')
_sn("returns the probability of the draw, not the index", False, _SOFT + '''
    i = rng.choice(len(p), p=p)
    return p[i]
''')
_sn("inverse CDF off by one", False, _SOFT + '''
    return int(np.searchsorted(np.cumsum(p), rng.random()) + 1) % len(p)
''')

_sn("rng.choice (solution style)", True, _SOFT + '''
    return int(rng.choice(len(p), p=p))
''')
_sn("Gumbel-max", True, '''
    z = np.asarray(logits, dtype=np.float64) / temperature
    return int(np.argmax(z + rng.gumbel(size=z.shape)))
''')
_sn("inverse CDF, returns np.int64", True, _SOFT + '''
    c = np.cumsum(p)
    return np.int64(min(np.searchsorted(c, rng.random() * c[-1], side="right"), len(c) - 1))
''')
_sn("rng.multinomial one draw", True, _SOFT + '''
    return int(np.argmax(rng.multinomial(1, p)))
''')
_sn("log-softmax first, then divided by the temperature", True, '''
    z = np.asarray(logits, dtype=np.float64)
    log_p = z - z.max() - np.log(np.exp(z - z.max()).sum())
    q = np.exp((log_p - log_p.max()) / temperature)
    return int(rng.choice(len(q), p=q / q.sum()))
''')
_sn("exp(z - max) ** (1 / tau)", True, '''
    z = np.asarray(logits, dtype=np.float64)
    q = np.exp(z - z.max()) ** (1.0 / temperature)
    return int(rng.choice(len(q), p=q / q.sum()))
''')
_sn("torch.multinomial with a generator seeded from rng", True, '''
    g = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
    z = torch.as_tensor(np.asarray(logits, dtype=np.float64)) / temperature
    p = torch.softmax(z, dim=0)
    return int(torch.multinomial(p, 1, generator=g))
''')


# ---------------------------------------------------------------------------------------------
# Found while writing this catalogue: the first two passed the lesson's tests until they were
# strengthened; the float32 versions failed tolerances that were tighter than float32 allows.
# ---------------------------------------------------------------------------------------------
_add("softmax_cross_entropy", "one-hot as wide as the largest target", False, '''
def softmax_cross_entropy(logits, targets):
    N, T, V = logits.shape
    targets = np.asarray(targets)
    z = logits - logits.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    one_hot = np.eye(targets.max() + 1)[targets]
    loss = float(-np.take_along_axis(log_p, targets[..., None], -1).mean())
    return loss, (np.exp(log_p) - one_hot) / (N * T)
''')

_add("rnn_forward", "writes the new state into the caller's h0", False, '''
def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    N, T, D = x.shape
    h = np.zeros((N, T, h0.shape[1]))
    cache = []
    h_t = h0
    for t in range(T):
        c = (x[:, t], h_t.copy(), W_ih, W_hh)
        h_t[:] = np.tanh(x[:, t] @ W_ih.T + b_ih + h_t @ W_hh.T + b_hh)
        h[:, t] = h_t
        cache.append(c + (h_t.copy(),))
    return h, cache
''')

_add("rnn_forward", "float32 arithmetic throughout", True, '''
def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    f = np.float32
    x, h_t, W_ih, W_hh, b = (np.asarray(a, f) for a in (x, h0, W_ih, W_hh, b_ih + b_hh))
    N, T, D = x.shape
    h = np.empty((N, T, h_t.shape[1]), f)
    cache = []
    for t in range(T):
        h_prev = h_t
        h_t = np.tanh(x[:, t] @ W_ih.T + h_prev @ W_hh.T + b)
        h[:, t] = h_t
        cache.append((x[:, t], h_prev, W_ih, W_hh, h_t))
    return h, cache
''')

_add("rnn_backward", "float32 arithmetic throughout", True, '''
def rnn_backward(dh, cache):
    f = np.float32
    x0, _, W_ih, W_hh, _ = cache[0]
    W_ih, W_hh = W_ih.astype(f), W_hh.astype(f)
    N, T, H = dh.shape
    dx = np.zeros((N, T, W_ih.shape[1]), f)
    dW_ih, dW_hh, db = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros(H, f)
    carry = np.zeros((N, H), f)
    for t in reversed(range(T)):
        x_t, h_prev, _, _, h_next = (np.asarray(a, f) for a in cache[t])
        da = (dh[:, t].astype(f) + carry) * (1 - h_next ** 2)
        dx[:, t] = da @ W_ih
        dW_ih += da.T @ x_t
        dW_hh += da.T @ h_prev
        db += da.sum(0)
        carry = da @ W_hh
    return dx, carry, dW_ih, dW_hh, db, db.copy()
''')


# The variants make test grades through nbgrader (None: all of that exercise's). Exercises whose
# tests call one another cannot share a notebook, so each of their variants costs a graded
# notebook of its own; this selection keeps the plausible mistakes the course names (a
# transposed weight, a missing bias, the wrong nonlinearity, gates out of order, a gradient not
# accumulated, off by one in time, a shape that broadcasts) and holds `make test` near ten
# minutes. The other variants stay below in RESERVE (mutants.load sets it), checked while this
# file was written, ready to be graded again.
GRADED = {'rnn_step_forward': ['W_hh not transposed',
                      'missing b_hh',
                      'sigmoid instead of tanh',
                      'bias as a column (broadcasts to the wrong shape)',
                      'einsum',
                      'float32 result'],
 'rnn_forward': ['stores h_prev: h0 included, last state dropped',
                 'h0 fed to every step',
                 'input off by one: x[:, t-1]',
                 "writes the new state into the caller's h0",
                 'input projection vectorised, no rnn_step_forward, cache None',
                 'float32 arithmetic throughout'],
 'rnn_step_backward': ['dW_hh from h_next instead of h_prev',
                       "tanh' from h_prev",
                       'dh_prev with W_hh.T',
                       'db_hh left at zero',
                       'einsum',
                       'float32 outputs'],
 'rnn_backward': ['weight gradients of the last step only',
                  'no gradient carried back from step t+1',
                  'cache off by one step',
                  'loop in forward order',
                  'own BPTT: da of every step, then einsum',
                  'float32 arithmetic throughout'],
 'softmax_cross_entropy': None,
 'sample_next': None}

# Wrong forwards planned into a notebook where the backward exercises that call them run the
# solution: those keep every point (the backward is given the documented cache). The other
# wrong forwards are checked the same way wherever the planning leaves their callers untouched.
PAIRS = [("rnn_step_forward", "W_hh not transposed"),
         ("rnn_step_forward", "bias as a column (broadcasts to the wrong shape)"),
         ("rnn_forward", "h0 fed to every step"),
         ("rnn_forward", "input off by one: x[:, t-1]")]
