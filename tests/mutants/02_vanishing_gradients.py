"""Mutation catalogue of lesson 02_vanishing_gradients: wrong and correct versions of every
graded exercise.

Each variant's source replaces the whole answer cell. Variants may use ``np``, ``torch`` and the
names the notebook's read-only cells bind before the answer cell: the imports of the first cell
(``cell_from_numpy`` ...) and ``torch_rnn_forward`` / ``torch_rnn_backward`` (the plain RNN
run by torch and its autograd; the notebook does not hold lesson 01's answers).
"""

from mutants import Variant

# answer cell: (its test cells, the other answer cells its tests run, directly or through the
# learner's code). The docstring of tbptt_gradients asks for the windows of tbptt_windows (the
# solution calls it), but its test also accepts the truncated gradient over the windows the
# learner's tbptt_windows returns when those are wrong (FALLBACK): a wrong tbptt_windows costs
# no tbptt_gradients point, unless its windows are no tiling of 0..T into windows of 1..k
# steps (see NOT_SEPARATED). One correct
# hidden_grad_norms below is built on jacobian_product: that dependency is in the learner's code
# and cannot be separated, so a wrong jacobian_product never shares a notebook with it.
EXERCISES = {
    "jacobian_product": (["test_jacobian_product"], []),
    "hidden_grad_norms": (["test_hidden_grad_norms"], ["jacobian_product"]),
    "clip_by_global_norm": (["test_clip_by_global_norm"], []),
    "tbptt_windows": (["test_tbptt_windows"], []),
    "tbptt_gradients": (["test_tbptt_gradients"], ["tbptt_windows"]),
}

# the callees whose wrong versions the tests work around (see tests/mutants/__init__.py)
FALLBACK = {"tbptt_gradients": ["tbptt_windows"]}

VARIANTS = []


def _add(exercise, name, correct, source):
    VARIANTS.append(Variant(exercise, name, correct, source.strip("\n") + "\n"))


# ---------------------------------------------------------------------------------------------
# jacobian_product: dh_T/dh_t = J_T @ ... @ J_{t+1}, J_k = diag(1 - h_k**2) @ W_hh
# ---------------------------------------------------------------------------------------------
_JP = '''
def jacobian_product(h, W_hh, t, T):
    H = W_hh.shape[0]
    J = np.eye(H)
    for k in {ks}:
        J_k = {jk}
        J = {update}
    return {ret}
'''


def _jp(name, correct, jk="(1.0 - h[k] ** 2)[:, None] * W_hh", update="J_k @ J",
        ks="range(t + 1, T + 1)", ret="J"):
    _add("jacobian_product", name, correct, _JP.format(ks=ks, jk=jk, update=update, ret=ret))


_jp("W_hh transposed", False, jk="(1.0 - h[k] ** 2)[:, None] * W_hh.T")
_jp("product in the wrong order (J @ J_k)", False, update="J @ J_k")
_jp("tanh' of h[k-1] (off by one step)", False, jk="(1.0 - h[k - 1] ** 2)[:, None] * W_hh")
_jp("diag on the right: W_hh @ diag(1 - h_k**2)", False, jk="W_hh * (1.0 - h[k] ** 2)[None, :]")
_jp("result transposed", False, ret="J.T")
_jp("one factor too many (k from t)", False, ks="range(t, T + 1)")
_jp("one factor too few (k from t+2)", False, ks="range(t + 2, T + 1)")
_jp("no tanh derivative: W_hh ** (T - t)", False, jk="W_hh")
_jp("tanh' as 1 - h (square forgotten)", False, jk="(1.0 - h[k])[:, None] * W_hh")
_jp("sigmoid derivative h(1 - h)", False, jk="(h[k] * (1.0 - h[k]))[:, None] * W_hh")
_jp("entrywise product instead of matrix product", False, update="J_k * J")
_jp("sum of the one-step Jacobians", False, update="J + J_k")
_add("jacobian_product", "squares h in place", False, '''
def jacobian_product(h, W_hh, t, T):
    h **= 2
    J = np.eye(W_hh.shape[0])
    for k in range(t + 1, T + 1):
        J = ((1.0 - h[k])[:, None] * W_hh) @ J
    return J
''')
_add("jacobian_product", "zeros instead of the identity when t == T", False, '''
def jacobian_product(h, W_hh, t, T):
    J = None
    for k in range(t + 1, T + 1):
        J_k = (1.0 - h[k] ** 2)[:, None] * W_hh
        J = J_k if J is None else J_k @ J
    return np.zeros_like(W_hh) if J is None else J
''')

_jp("np.diag(1 - h_k**2) @ W_hh", True, jk="np.diag(1.0 - h[k] ** 2) @ W_hh")
_jp("built from the left, k = T down to t+1", True, ks="range(T, t, -1)", update="J @ J_k")
_jp("einsum", True, jk="W_hh", update="np.einsum('i,ij,jk->ik', 1.0 - h[k] ** 2, J_k, J)")
_add("jacobian_product", "float32 throughout", True, '''
def jacobian_product(h, W_hh, t, T):
    h = np.asarray(h, dtype=np.float32)
    W = np.asarray(W_hh, dtype=np.float32)
    J = np.eye(W.shape[0], dtype=np.float32)
    for k in range(t + 1, T + 1):
        J = ((1.0 - h[k] ** 2)[:, None] * W) @ J
    return J
''')
_add("jacobian_product", "functools.reduce over the factors", True, '''
def jacobian_product(h, W_hh, t, T):
    from functools import reduce
    factors = [(1.0 - h[k] ** 2)[:, None] * W_hh for k in range(t + 1, T + 1)]
    return reduce(lambda J, J_k: J_k @ J, factors, np.eye(W_hh.shape[0]))
''')
_add("jacobian_product", "torch, returns a tensor", True, '''
def jacobian_product(h, W_hh, t, T):
    h_ = torch.as_tensor(np.asarray(h, dtype=np.float64))
    W = torch.as_tensor(np.asarray(W_hh, dtype=np.float64))
    J = torch.eye(W.shape[0], dtype=torch.float64)
    for k in range(t + 1, T + 1):
        J = torch.diag(1 - h_[k] ** 2) @ W @ J
    return J
''')
_add("jacobian_product", "transpose built with row factors, transposed back", True, '''
def jacobian_product(h, W_hh, t, T):
    Jt = np.eye(W_hh.shape[0])                     # (dh_T/dh_t)^T
    for k in range(t + 1, T + 1):
        Jt = Jt @ (W_hh.T * (1.0 - h[k] ** 2)[None, :])
    return Jt.T
''')
_add("jacobian_product", "np.linalg.multi_dot", True, '''
def jacobian_product(h, W_hh, t, T):
    H = W_hh.shape[0]
    factors = [(1.0 - h[k] ** 2)[:, None] * W_hh for k in range(T, t, -1)]
    if not factors:
        return np.eye(H)
    if len(factors) == 1:
        return factors[0]
    return np.linalg.multi_dot(factors)
''')


# ---------------------------------------------------------------------------------------------
# hidden_grad_norms: ||dL/dh_k|| for k = 1..T, loss on h_T only
# ---------------------------------------------------------------------------------------------
_HG = '''
def hidden_grad_norms(h, W_hh, dh_T):
    T = h.shape[0] - 1
    norms = np.zeros({n})
    g = np.asarray(dh_T, dtype=np.float64)
    for k in range(T, 0, -1):
{body}
    return {ret}
'''


def _hg(name, correct, body, n="T", ret="norms"):
    body = "\n".join("        " + line for line in body.strip("\n").splitlines())
    _add("hidden_grad_norms", name, correct, _HG.format(n=n, body=body, ret=ret))


_hg("norms reversed in time", False, '''
norms[k - 1] = np.linalg.norm(g)
g = (g * (1.0 - h[k] ** 2)) @ W_hh
''', ret="norms[::-1]")
_hg("W_hh transposed", False, '''
norms[k - 1] = np.linalg.norm(g)
g = (g * (1.0 - h[k] ** 2)) @ W_hh.T
''')
_hg("tanh' of h[k-1] (off by one step)", False, '''
norms[k - 1] = np.linalg.norm(g)
g = (g * (1.0 - h[k - 1] ** 2)) @ W_hh
''')
_hg("includes h_0: T+1 norms", False, '''
norms[k] = np.linalg.norm(g)
g = (g * (1.0 - h[k] ** 2)) @ W_hh
norms[k - 1] = np.linalg.norm(g)
''', n="T + 1")
_hg("steps back before taking the norm (shifted by one)", False, '''
g = (g * (1.0 - h[k] ** 2)) @ W_hh
norms[k - 1] = np.linalg.norm(g)
''')
_hg("no tanh derivative", False, '''
norms[k - 1] = np.linalg.norm(g)
g = g @ W_hh
''')
_hg("norm of the pre-activation gradient g * (1 - h_k**2)", False, '''
norms[k - 1] = np.linalg.norm(g * (1.0 - h[k] ** 2))
g = (g * (1.0 - h[k] ** 2)) @ W_hh
''')
_hg("squared norms", False, '''
norms[k - 1] = np.sum(g ** 2)
g = (g * (1.0 - h[k] ** 2)) @ W_hh
''')
_hg("L1 norm", False, '''
norms[k - 1] = np.abs(g).sum()
g = (g * (1.0 - h[k] ** 2)) @ W_hh
''')
_hg("tanh' applied after W_hh, of h[k-1]", False, '''
norms[k - 1] = np.linalg.norm(g)
g = (g @ W_hh) * (1.0 - h[k - 1] ** 2)
''')
_hg("tanh' as 1 - h (square forgotten)", False, '''
norms[k - 1] = np.linalg.norm(g)
g = (g * (1.0 - h[k])) @ W_hh
''')
_add("hidden_grad_norms", "last step dropped: T-1 norms", False, '''
def hidden_grad_norms(h, W_hh, dh_T):
    T = h.shape[0] - 1
    g = np.asarray(dh_T, dtype=np.float64)
    norms = []
    for k in range(T, 1, -1):
        g = (g * (1.0 - h[k] ** 2)) @ W_hh
        norms.append(np.linalg.norm(g))
    return np.array(norms[::-1])
''')

_add("hidden_grad_norms", "through jacobian_product", True, '''
def hidden_grad_norms(h, W_hh, dh_T):
    T = h.shape[0] - 1
    return np.array([np.linalg.norm(dh_T @ jacobian_product(h, W_hh, t, T))
                     for t in range(1, T + 1)])
''')
_add("hidden_grad_norms", "float32 throughout", True, '''
def hidden_grad_norms(h, W_hh, dh_T):
    h = np.asarray(h, dtype=np.float32)
    W = np.asarray(W_hh, dtype=np.float32)
    T = h.shape[0] - 1
    norms = np.zeros(T, dtype=np.float32)
    g = np.asarray(dh_T, dtype=np.float32)
    for k in range(T, 0, -1):
        norms[k - 1] = np.linalg.norm(g)
        g = (g * (1.0 - h[k] ** 2)) @ W
    return norms
''')
_add("hidden_grad_norms", "column vectors, all gradients stored, norms along axis 1", True, '''
def hidden_grad_norms(h, W_hh, dh_T):
    T, H = h.shape[0] - 1, h.shape[1]
    G = np.zeros((T, H))
    g = np.asarray(dh_T, dtype=np.float64).reshape(H, 1)
    for k in range(T, 0, -1):
        G[k - 1] = g[:, 0]
        g = W_hh.T @ ((1.0 - h[k] ** 2)[:, None] * g)
    return np.linalg.norm(G, axis=1)
''')
_add("hidden_grad_norms", "list of norms in backward order, reversed at the end", True, '''
def hidden_grad_norms(h, W_hh, dh_T):
    g = dh_T
    out = []
    for k in reversed(range(1, len(h))):
        out.append(float(np.sqrt(g @ g)))
        g = (np.diag(1.0 - h[k] ** 2) @ g) @ W_hh
    return np.array(out[::-1])
''')
_add("hidden_grad_norms", "torch tensors, returns a tensor", True, '''
def hidden_grad_norms(h, W_hh, dh_T):
    h_ = torch.as_tensor(np.asarray(h, dtype=np.float64))
    W = torch.as_tensor(np.asarray(W_hh, dtype=np.float64))
    g = torch.as_tensor(np.asarray(dh_T, dtype=np.float64))
    norms = []
    for k in range(h_.shape[0] - 1, 0, -1):
        norms.append(torch.linalg.norm(g))
        g = (g * (1 - h_[k] ** 2)) @ W
    return torch.stack(norms[::-1])
''')


# ---------------------------------------------------------------------------------------------
# clip_by_global_norm: pure function, torch.nn.utils.clip_grad_norm_ semantics
# ---------------------------------------------------------------------------------------------
_NORM = "total_norm = float(np.sqrt(sum(np.sum(np.square(g)) for g in grads)))"
_CL = '''
def clip_by_global_norm(grads, max_norm):
{body}
'''


def _cl(name, correct, body):
    body = "\n".join("    " + line for line in body.strip("\n").splitlines())
    _add("clip_by_global_norm", name, correct, _CL.format(body=body))


_cl("per-array clipping", False, _NORM + '''
clipped = [g * min(1.0, max_norm / (np.linalg.norm(g) + 1e-6)) for g in grads]
return clipped, total_norm
''')
_cl("always rescales to max_norm, also below the threshold", False, _NORM + '''
return [g * (max_norm / total_norm) for g in grads], total_norm
''')
_cl("in place (g *= scale), returns the inputs", False, _NORM + '''
scale = min(1.0, max_norm / (total_norm + 1e-6))
for g in grads:
    g *= scale
return grads, total_norm
''')
_cl("returns the input arrays themselves when no clipping is needed", False, _NORM + '''
if total_norm <= max_norm:
    return list(grads), total_norm
return [g * (max_norm / total_norm) for g in grads], total_norm
''')
_cl("returns the norm after clipping", False, _NORM + '''
scale = min(1.0, max_norm / (total_norm + 1e-6))
return [g * scale for g in grads], total_norm * scale
''')
_cl("sum of the per-array norms", False, '''
total_norm = float(sum(np.linalg.norm(g) for g in grads))
scale = min(1.0, max_norm / (total_norm + 1e-6))
return [g * scale for g in grads], total_norm
''')
_cl("largest entry (inf norm) instead of L2", False, '''
total_norm = float(max(np.abs(g).max() for g in grads))
scale = min(1.0, max_norm / (total_norm + 1e-6))
return [g * scale for g in grads], total_norm
''')
_cl("factor inverted: total_norm / max_norm", False, _NORM + '''
scale = min(1.0, total_norm / max_norm)
return [g * scale for g in grads], total_norm
''')
_cl("clips values to [-max_norm, max_norm]", False, _NORM + '''
return [np.clip(g, -max_norm, max_norm) for g in grads], total_norm
''')
_cl("squared norm (no square root)", False, '''
total_norm = float(sum(np.sum(np.square(g)) for g in grads))
scale = min(1.0, max_norm / (total_norm + 1e-6))
return [g * scale for g in grads], total_norm
''')
_cl("RMS of the entries instead of the norm", False, '''
total_norm = float(np.sqrt(np.mean(np.concatenate([np.ravel(g) ** 2 for g in grads]))))
scale = min(1.0, max_norm / (total_norm + 1e-6))
return [g * scale for g in grads], total_norm
''')
_cl("returns (total_norm, clipped)", False, _NORM + '''
scale = min(1.0, max_norm / (total_norm + 1e-6))
return total_norm, [g * scale for g in grads]
''')
_cl("flattened arrays", False, _NORM + '''
scale = min(1.0, max_norm / (total_norm + 1e-6))
return [np.ravel(g) * scale for g in grads], total_norm
''')
_cl("scales only the first array", False, _NORM + '''
scale = min(1.0, max_norm / (total_norm + 1e-6))
return [grads[0] * scale] + [g.copy() for g in grads[1:]], total_norm
''')

_cl("exact min(1, max_norm / total_norm), no 1e-6", True, _NORM + '''
scale = min(1.0, max_norm / total_norm)
return [g * scale for g in grads], total_norm
''')
_cl("tuple of arrays, NumPy float norm", True, '''
total_norm = np.sqrt(np.sum([np.sum(g * g) for g in grads]))
scale = np.minimum(1.0, max_norm / total_norm)
return tuple(np.multiply(g, scale) for g in grads), total_norm
''')
_cl("copies when below, norm of one concatenated vector", True, '''
flat = np.concatenate([np.ravel(g) for g in grads])
total_norm = float(np.linalg.norm(flat))
if total_norm <= max_norm:
    return [np.array(g, copy=True) for g in grads], total_norm
return [g * (max_norm / total_norm) for g in grads], total_norm
''')
_cl("torch.nn.utils.clip_grad_norm_ on copies", True, '''
params = []
for g in grads:
    p = torch.zeros(np.shape(g), dtype=torch.float64, requires_grad=True)
    p.grad = torch.tensor(np.asarray(g, dtype=np.float64))
    params.append(p)
total_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
return [p.grad.numpy() for p in params], float(total_norm)
''')
_cl("loop, keeps each array's dtype", True, '''
sq = 0.0
for g in grads:
    sq += float(np.vdot(g, g))
total_norm = sq ** 0.5
scale = 1.0 if total_norm <= max_norm else max_norm / total_norm
clipped = []
for g in grads:
    clipped.append((g * scale).astype(g.dtype))
return clipped, total_norm
''')


# ---------------------------------------------------------------------------------------------
# tbptt_windows: [(0, k), (k, 2k), ..., (m*k, T)]
# ---------------------------------------------------------------------------------------------
def _tw(name, correct, body):
    body = "\n".join("    " + line for line in body.strip("\n").splitlines())
    _add("tbptt_windows", name, correct, f"def tbptt_windows(T, k):\n{body}\n")


_tw("end included (start + k - 1)", False, "return [(s, min(s + k, T) - 1) for s in range(0, T, k)]")
_tw("last, shorter window dropped", False, "return [(s, s + k) for s in range(0, T - k + 1, k)]")
_tw("an empty last window when k divides T", False,
    "return [(i * k, min(i * k + k, T)) for i in range(T // k + 1)]")
_tw("end not clipped to T", False, "return [(s, s + k) for s in range(0, T, k)]")
_tw("windows overlap by one step", False,
    "return [(max(s - 1, 0), min(s + k, T)) for s in range(0, T, k)]")
_tw("1-based steps", False, "return [(s, min(s + k, T + 1)) for s in range(1, T + 1, k)]")
_tw("windows in reverse order", False, "return [(s, min(s + k, T)) for s in range(0, T, k)][::-1]")
_tw("remainder merged into the last window", False, '''
m = max(T // k, 1)
return [(i * k, (i + 1) * k if i < m - 1 else T) for i in range(m)]
''')
_tw("short window first (aligned to the end)", False, '''
r = T % k
starts = ([0] if r else []) + list(range(r, T, k))
return [(s, e) for s, e in zip(starts, starts[1:] + [T])]
''')
_tw("k + 1 steps per window", False, "return [(s, min(s + k + 1, T)) for s in range(0, T, k + 1)]")
_tw("one window per step, k ignored", False, "return [(t, t + 1) for t in range(T)]")

_tw("while loop", True, '''
windows, start = [], 0
while start < T:
    end = min(start + k, T)
    windows.append((start, end))
    start = end
return windows
''')
_tw("NumPy ints from np.arange", True, '''
starts = np.arange(0, T, k)
return list(zip(starts, np.minimum(starts + k, T)))
''')
_tw("list of [start, end] lists from divmod", True, '''
m, r = divmod(T, k)
windows = [[i * k, (i + 1) * k] for i in range(m)]
if r:
    windows.append([m * k, T])
return windows
''')
_tw("ceil division", True, "return [(i * k, min((i + 1) * k, T)) for i in range(-(-T // k))]")


# ---------------------------------------------------------------------------------------------
# tbptt_gradients (a correct version calls tbptt_windows: see EXERCISES)
# ---------------------------------------------------------------------------------------------
_TG = '''
def tbptt_gradients(x, h0, W_ih, W_hh, b_ih, b_hh, dhs, k):
    grads = [np.zeros(W_ih.shape), np.zeros(W_hh.shape), np.zeros(b_ih.shape), np.zeros(b_hh.shape)]
    h_start = h0
    for start, end in {windows}:
        hs, cache = torch_rnn_forward(x[:, start:end], {h_in}, W_ih, W_hh, b_ih, b_hh)
        g = torch_rnn_backward({dhs}, cache)[2:]
        {accumulate}
        h_start = {carry}
    return {ret}
'''


def _tg(name, correct, windows="tbptt_windows(x.shape[1], k)", h_in="h_start",
        dhs="dhs[:, start:end]", accumulate="grads = [a + b for a, b in zip(grads, g)]",
        carry="hs[:, -1]", ret="tuple(grads)"):
    _add("tbptt_gradients", name, correct, _TG.format(windows=windows, h_in=h_in, dhs=dhs,
                                                      accumulate=accumulate, carry=carry, ret=ret))


_add("tbptt_gradients", "full BPTT, k ignored", False, '''
def tbptt_gradients(x, h0, W_ih, W_hh, b_ih, b_hh, dhs, k):
    hs, cache = torch_rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)
    return torch_rnn_backward(dhs, cache)[2:]
''')
_tg("every window restarts from h0", False, h_in="h0")
_tg("windows of k + 1 steps", False, windows="tbptt_windows(x.shape[1], k + 1)")
_tg("windows of k - 1 steps", False, windows="tbptt_windows(x.shape[1], max(k - 1, 1))")
_tg("last window only (not accumulated)", False, accumulate="grads = list(g)")
_tg("carries the state one step before the window's end", False,
    carry="hs[:, -2] if hs.shape[1] > 1 else hs[:, -1]")
_tg("averaged over the windows", False, ret="tuple(a / len(tbptt_windows(x.shape[1], k)) for a in grads)")
_tg("dhs not sliced by window (dhs[:, :end - start])", False, dhs="dhs[:, :end - start]")
_tg("carries the window's first state", False, carry="hs[:, 0]")
_tg("zero initial state in every window after the first", False, carry="np.zeros_like(h0)")
_tg("dW_ih and dW_hh swapped", False, ret="(grads[1], grads[0], grads[2], grads[3])")
_tg("db_hh left at zero", False, ret="(grads[0], grads[1], grads[2], np.zeros(b_hh.shape))")
_tg("only the loss at the end of each window", False,
    dhs="np.concatenate([np.zeros_like(dhs[:, start:end - 1]), dhs[:, end - 1:end]], axis=1)")
_add("tbptt_gradients", "gradient into the window's start kept (full BPTT again)", False, '''
def tbptt_gradients(x, h0, W_ih, W_hh, b_ih, b_hh, dhs, k):
    windows = tbptt_windows(x.shape[1], k)
    starts, caches, h_start = [], [], h0
    for start, end in windows:
        hs, cache = torch_rnn_forward(x[:, start:end], h_start, W_ih, W_hh, b_ih, b_hh)
        caches.append(cache)
        h_start = hs[:, -1]
    grads = [np.zeros(W_ih.shape), np.zeros(W_hh.shape), np.zeros(b_ih.shape), np.zeros(b_hh.shape)]
    dcarry = np.zeros(h0.shape)
    for (start, end), cache in reversed(list(zip(windows, caches))):
        d = dhs[:, start:end].copy()
        d[:, -1] += dcarry
        out = torch_rnn_backward(d, cache)
        dcarry = out[1]
        grads = [a + b for a, b in zip(grads, out[2:])]
    return tuple(grads)
''')

_tg("solution shape, returns a list", True, ret="grads")
_tg("own windows, end not clipped (slicing clips it)", True,
    windows="((s, s + k) for s in range(0, x.shape[1], k))")
_add("tbptt_gradients", "torch autograd, h.detach() every k steps", True, '''
def tbptt_gradients(x, h0, W_ih, W_hh, b_ih, b_hh, dhs, k):
    cell = cell_from_numpy("rnn", W_ih, W_hh, b_ih, b_hh)
    h = torch.from_numpy(np.asarray(h0, dtype=np.float64))
    loss = 0.0
    for t in range(x.shape[1]):
        if t % k == 0:
            h = h.detach()
        h = cell(torch.from_numpy(np.asarray(x[:, t], dtype=np.float64)), h)
        loss = loss + (h * torch.from_numpy(np.asarray(dhs[:, t], dtype=np.float64))).sum()
    loss.backward()
    return (cell.weight_ih.grad.numpy(), cell.weight_hh.grad.numpy(),
            cell.bias_ih.grad.numpy(), cell.bias_hh.grad.numpy())
''')
_add("tbptt_gradients", "own forward and backward loops inside each window", True, '''
def tbptt_gradients(x, h0, W_ih, W_hh, b_ih, b_hh, dhs, k):
    N, T, D = x.shape
    dW_ih, dW_hh = np.zeros_like(W_ih), np.zeros_like(W_hh)
    db = np.zeros_like(b_ih)
    h = h0
    for start, end in tbptt_windows(T, k):
        states = [h]
        for t in range(start, end):
            states.append(np.tanh(x[:, t] @ W_ih.T + b_ih + states[-1] @ W_hh.T + b_hh))
        dnext = np.zeros_like(h0)
        for t in range(end - 1, start - 1, -1):
            i = t - start + 1
            da = (dhs[:, t] + dnext) * (1 - states[i] ** 2)
            dW_ih += da.T @ x[:, t]
            dW_hh += da.T @ states[i - 1]
            db += da.sum(0)
            dnext = da @ W_hh
        h = states[-1]
    return dW_ih, dW_hh, db, db.copy()
''')
_add("tbptt_gradients", "float32 throughout", True, '''
def tbptt_gradients(x, h0, W_ih, W_hh, b_ih, b_hh, dhs, k):
    f = lambda a: np.asarray(a, dtype=np.float32)
    x, h0, W_ih, W_hh, b_ih, b_hh, dhs = map(f, (x, h0, W_ih, W_hh, b_ih, b_hh, dhs))
    out = [np.zeros(W_ih.shape, np.float32), np.zeros(W_hh.shape, np.float32),
           np.zeros(b_ih.shape, np.float32), np.zeros(b_hh.shape, np.float32)]
    h_start = h0
    for start, end in tbptt_windows(x.shape[1], k):
        hs, cache = torch_rnn_forward(x[:, start:end], h_start, W_ih, W_hh, b_ih, b_hh)
        for acc, g in zip(out, torch_rnn_backward(dhs[:, start:end], cache)[2:]):
            acc += g
        h_start = hs[:, -1]
    return tuple(out)
''')
_add("tbptt_gradients", "one full forward, then a backward per window", True, '''
def tbptt_gradients(x, h0, W_ih, W_hh, b_ih, b_hh, dhs, k):
    hs_all, _ = torch_rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)
    total = None
    for start, end in tbptt_windows(x.shape[1], k):
        h_start = h0 if start == 0 else hs_all[:, start - 1]
        _, cache = torch_rnn_forward(x[:, start:end], h_start, W_ih, W_hh, b_ih, b_hh)
        g = torch_rnn_backward(dhs[:, start:end], cache)[2:]
        total = list(g) if total is None else [a + b for a, b in zip(total, g)]
    return tuple(total)
''')


# The variants make test grades through nbgrader (None: all of that exercise's). Exercises whose
# tests call one another cannot share a notebook, so each of their variants costs a graded
# notebook of its own; this selection keeps the plausible mistakes the course names (a
# transposed weight, a missing bias, the wrong nonlinearity, gates out of order, a gradient not
# accumulated, off by one in time, a shape that broadcasts) and holds `make test` near ten
# minutes. The other variants stay below in RESERVE (mutants.load sets it), checked while this
# file was written, ready to be graded again.
GRADED = {'jacobian_product': ['W_hh transposed',
                      'product in the wrong order (J @ J_k)',
                      "tanh' of h[k-1] (off by one step)",
                      'one factor too many (k from t)',
                      'zeros instead of the identity when t == T',
                      'einsum',
                      'float32 throughout'],
 'hidden_grad_norms': ['norms reversed in time',
                       'W_hh transposed',
                       "tanh' of h[k-1] (off by one step)",
                       'includes h_0: T+1 norms',
                       'squared norms',
                       'through jacobian_product',
                       'float32 throughout'],
 'clip_by_global_norm': ['per-array clipping',
                         'always rescales to max_norm, also below the threshold',
                         'in place (g *= scale), returns the inputs',
                         'returns the norm after clipping',
                         'sum of the per-array norms',
                         'largest entry (inf norm) instead of L2',
                         'clips values to [-max_norm, max_norm]',
                         'exact min(1, max_norm / total_norm), no 1e-6',
                         'torch.nn.utils.clip_grad_norm_ on copies',
                         "loop, keeps each array's dtype"],
 'tbptt_windows': ['end included (start + k - 1)',
                   'last, shorter window dropped',
                   'an empty last window when k divides T',
                   'short window first (aligned to the end)',
                   'while loop',
                   'NumPy ints from np.arange'],
 'tbptt_gradients': ['full BPTT, k ignored',
                     'every window restarts from h0',
                     'windows of k + 1 steps',
                     'last window only (not accumulated)',
                     "carries the state one step before the window's end",
                     'torch autograd, h.detach() every k steps',
                     'float32 throughout']}


# Wrong windows planned into a notebook where tbptt_gradients is the solution: it keeps every
# point (its test accepts the truncated gradient over the learner's windows).
PAIRS = [("tbptt_windows", "short window first (aligned to the end)")]

# Wrong windows that a right tbptt_gradients cannot use: an empty window makes the solution read
# the last state of a window of no steps (IndexError), and the test accepts the learner's windows
# only when they tile 0..T in order with windows of 1..k steps (so that `[]`, whose truncated
# gradient is zero, cannot lower the bar): these cost tbptt_gradients its points too; they are
# exempt from the FALLBACK check.
NOT_SEPARATED = [("tbptt_windows", name) for name in (
    "end included (start + k - 1)", "an empty last window when k divides T",
    "last, shorter window dropped", "end not clipped to T", "windows overlap by one step",
    "1-based steps", "windows in reverse order", "remainder merged into the last window",
    "k + 1 steps per window")]
