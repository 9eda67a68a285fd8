"""The grading channel: values cross, code and pickles do not (rnnkit.testing.codec/remote)."""

import base64
import io
import json

import numpy as np
import pytest
import torch

from rnnkit.testing import codec, kernel_side, learner_autograd, ops, remote
from rnnkit.testing import gradients as grad_tests, gru as gru_tests, rnn as rnn_tests

TESTS = str(__import__("pathlib").Path(__file__).resolve().parent)


def test_codec_round_trip_of_values():
    value = {"a": (np.arange(6.0).reshape(2, 3), [1, 2.5, None, "x", True]),
             "b": np.float32(1.5), 3: float("nan")}
    enc = codec.Encoder()
    back = codec.Decoder().decode(json.loads(codec.dumps(enc.encode(value))))
    assert set(back) == {"a", "b", 3}
    np.testing.assert_array_equal(back["a"][0], value["a"][0])
    assert back["a"][1] == [1, 2.5, None, "x", True] and isinstance(back["a"], tuple)
    assert back["b"].dtype == np.float32 and np.isnan(back[3])


def test_codec_sends_tensors_and_modules_by_value():
    torch.manual_seed(0)
    cell = torch.nn.GRUCell(3, 4).double()
    enc = codec.Encoder()
    back = codec.Decoder().decode(json.loads(codec.dumps(enc.encode((torch.ones(2), cell)))))
    assert isinstance(back[0], torch.Tensor)
    assert type(back[1]) is torch.nn.GRUCell and back[1].weight_hh.dtype == torch.float64
    for (k, v), (_, w) in zip(cell.state_dict().items(), back[1].state_dict().items()):
        assert torch.equal(v, w), k


def test_codec_keeps_what_is_not_a_value_as_a_handle():
    kept = []
    enc = codec.Encoder(keep=lambda obj: kept.append(obj) or len(kept))
    obj = object()
    assert enc.encode((1, obj)) == {"__tuple__": [1, {"__handle__": 1}]} and kept == [obj]
    with pytest.raises(codec.CodecError):
        codec.Encoder().encode(obj)


def test_codec_never_unpickles():
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    evil = {"__nd__": base64.b64encode(buf.getvalue()).decode()}
    with pytest.raises(codec.CodecError):
        codec.Decoder().decode(evil)
    with pytest.raises(codec.CodecError):
        codec.Decoder().decode({"__module__": "Sequential", "init": {}, "state": {}})
    with pytest.raises(codec.CodecError):
        codec.Decoder().decode({"__handle__": 1})          # no handles expected here


def test_free_names_are_the_learners():
    src = ("import numpy as np\nfrom rnnkit.testing import gru as tests\n"
           "def f(a, *b, c=1):\n    return a + len(b) + c + helper\n"
           "for i in range(3):\n    tests.step(gru_step_forward, i)\n"
           "x = [k for k in range(2)]\nclass C: pass\ntry:\n    pass\nexcept Exception as e:\n    e\n")
    assert remote.free_names(src) == {"helper", "gru_step_forward"}


@pytest.fixture(scope="module")
def kernel():
    from jupyter_client.manager import start_new_kernel
    km, kc = start_new_kernel(kernel_name="python3")
    kc.execute_interactive(
        "import numpy as np, torch\n"
        "def double(x):\n    return 2 * x, {'seen': x.shape}\n"
        "def make_cache(x):\n    return x.sum(), object()\n"
        "def use_cache(cache):\n    return type(cache).__name__\n"
        "def todo(x):\n    raise NotImplementedError()\n"
        "class Oops(Exception):\n    pass\n"
        "def custom(x):\n    raise Oops('mine')\n"
        "def as_tensor(x):\n    return torch.as_tensor(x) * 3\n"
        "def torch_cell():\n    torch.manual_seed(1)\n    return torch.nn.GRUCell(2, 3)\n"
        "class Lin(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.lin = torch.nn.Linear(2, 1).double()\n"
        "    def forward(self, x):\n        return self.lin(x)\n"
        "module = Lin()\n"
        "def scale_(a, k):\n    a *= k\n    return float(a.sum())\n"
        "def draw(rng):\n    return int(rng.integers(1000))\n"
        "import sys\n"
        f"sys.path.insert(0, {TESTS!r})\n"
        "from test_testing_rnn import forward, backward, sample, forward_modifies_h0\n"
        "from test_testing_gru import GRUCell, LSTMCell, GRU\n"
        "def todo_sample(logits, temperature, rng):\n    raise NotImplementedError()\n"
        "def global_sample(logits, temperature, rng):\n"
        "    return sample(logits, temperature, np.random.default_rng())\n"
        "def backward_pops(dh, cache):\n"
        "    steps = [cache.pop() for _ in range(len(cache))][::-1]\n"
        "    return backward(dh, steps)\n"
        "def clip_returns_inputs(grads, max_norm):\n"
        "    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))\n"
        "    if total <= max_norm:\n        return list(grads), total\n"
        "    return [g * (max_norm / total) for g in grads], total\n"
        "class NumpyGRUCell(GRUCell):\n"
        "    def forward(self, x, h=None):\n"
        "        w = lambda t: t.detach().numpy()\n"
        "        H = self.hidden_size\n"
        "        gi = w(x) @ w(self.ih.weight).T + w(self.ih.bias)\n"
        "        gh = w(h) @ w(self.hh.weight).T + w(self.hh.bias)\n"
        "        s = lambda a: 1 / (1 + np.exp(-a))\n"
        "        r, z = s(gi[:, :H] + gh[:, :H]), s(gi[:, H:2 * H] + gh[:, H:2 * H])\n"
        "        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])\n"
        "        return torch.from_numpy((1 - z) * n + z * w(h))\n"
        "class FirstWeights(GRUCell):\n"
        "    def forward(self, x, h=None):\n"
        "        if not hasattr(self, 'frozen'):\n"
        "            import copy\n"
        "            object.__setattr__(self, 'frozen', copy.deepcopy(GRUCell.forward))\n"
        "            object.__setattr__(self, 'first', {k: v.clone() for k, v in self.state_dict().items()})\n"
        "        keep = {k: v.clone() for k, v in self.state_dict().items()}\n"
        "        with torch.no_grad():\n"
        "            for k, v in self.state_dict().items():\n"
        "                v.copy_(self.first[k])\n"
        "        out = GRUCell.forward(self, x, h)\n"
        "        with torch.no_grad():\n"
        "            for k, v in self.state_dict().items():\n"
        "                v.copy_(keep[k])\n"
        "        return out\n"
        "class Memo(GRUCell):\n"
        "    def forward(self, x, h=None):\n"
        "        out = super().forward(x, h)\n"
        "        if not hasattr(self, 'seen'):\n"
        "            object.__setattr__(self, 'seen', out.detach().clone())\n"
        "        return self.seen + 0 * out\n", timeout=60)
    channel = remote.Channel(km.get_connection_info(session=False), timeout=30)
    yield km, kc, channel
    channel.close()
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def test_values_cross_the_channel(kernel):
    _, _, ch = kernel
    out, info = remote.Remote(ch, {"name": "double"})(np.arange(3.0))
    np.testing.assert_array_equal(out, [0.0, 2.0, 4.0])
    assert info == {"seen": (3,)}
    arr = remote.Remote(ch, {"name": "as_tensor"})(np.ones(2))
    assert isinstance(arr, np.ndarray) and arr.tolist() == [3.0, 3.0]       # tensors as arrays
    cell = remote.Remote(ch, {"name": "torch_cell"})()
    assert type(cell) is torch.nn.GRUCell                                    # a built-in module


def test_handles_stay_in_the_kernel(kernel):
    _, _, ch = kernel
    total, cache = remote.Remote(ch, {"name": "make_cache"})(np.ones(4))
    assert total == 4.0 and isinstance(cache, remote.Remote)
    assert remote.Remote(ch, {"name": "use_cache"})(cache) == "object"


def test_learner_exceptions_come_back_by_kind(kernel):
    _, _, ch = kernel
    with pytest.raises(NotImplementedError):
        remote.Remote(ch, {"name": "todo"})(1)
    with pytest.raises(remote.LearnerError, match="Oops: mine"):
        remote.Remote(ch, {"name": "custom"})(1)
    with pytest.raises(NameError, match="not defined in your notebook"):
        remote.Remote(ch, {"name": "no_such_function"})(1)


def test_the_kernel_runs_no_operation_of_rnnkit_that_judges(kernel):
    assert not hasattr(ops, "OPS")
    answer = json.loads(kernel_side.serve(json.dumps({"op": "op", "name": "autograd",
                                                      "args": []})))
    assert answer["error"]["ename"] == "ValueError" and "unknown operation" in answer["error"]["evalue"]
    module = remote.Remote(kernel[2], {"name": "module"})
    with pytest.raises(TypeError, match="only where the module is a local object"):
        learner_autograd(module, [np.ones((3, 2))], [np.ones((3, 1))])


def test_store_fetch_keep_and_repeat(kernel):
    _, _, ch = kernel
    scale_ = remote.Remote(ch, {"name": "scale_"})
    a, k = remote.store(scale_, np.ones(3), 2.0)
    assert isinstance(a, remote.Remote) and isinstance(k, remote.Remote)
    assert scale_(a, k) == 6.0 and scale_(a, 3) == 18.0            # the kernel's own copy
    assert remote.fetch(a)[0].tolist() == [6.0, 6.0, 6.0]
    value, kept = remote.call_kept(remote.Remote(ch, {"name": "double"}), np.arange(2.0))
    assert value[0].tolist() == [0.0, 2.0] and isinstance(kept, remote.Remote)
    first = remote.call_method(kept, "__getitem__", 0, keep=True)
    assert isinstance(first, remote.Remote) and remote.fetch(first)[0].tolist() == [0.0, 2.0]
    assert remote.call_method(kept, "__getitem__", 1) == {"seen": (2,)}
    assert remote.call_repeated(scale_, 3, a, 1.0) == [18.0, 18.0, 18.0]


def test_a_generator_travels_as_its_state(kernel):
    _, _, ch = kernel
    rng = np.random.default_rng(7)
    rng.integers(5)
    back = codec.Decoder().decode(json.loads(codec.dumps(codec.Encoder().encode(rng))))
    assert type(back) is np.random.Generator and back.integers(10**9) == rng.integers(10**9)
    with pytest.raises(codec.CodecError):
        codec.Decoder().decode({"__rng__": {"bit_generator": "MT19937", "state": {}}})
    draw = remote.Remote(ch, {"name": "draw"})
    (kept,) = remote.store(draw, np.random.default_rng(3))
    local = np.random.default_rng(3)
    assert remote.call_repeated(draw, 5, kept) == [int(local.integers(1000)) for _ in range(5)]


def test_an_argument_written_in_place_is_seen_even_through_a_lying_fetch(kernel):
    _, kc, ch = kernel
    bad = remote.Remote(ch, {"name": "forward_modifies_h0"})
    with pytest.raises(AssertionError, match="changed its argument h0 in place"):
        rnn_tests.forward(bad, N=2, T=4, D=3, H=5, seed=0)
    kc.execute_interactive(
        "import copy, json, rnnkit.testing.kernel_side as ks\n"
        "_orig, _copies = ks.serve, {}\n"
        "def _lying(req):\n"
        "    r = json.loads(req)\n"
        "    if r['op'] == 'fetch':\n"
        "        enc = ks.codec.Encoder(keep=ks._keep, tensors_as_arrays=True)\n"
        "        return json.dumps({'ok': enc.encode([_copies.get(a['__handle__']) for a in r['args']])})\n"
        "    out = _orig(req)\n"
        "    if r['op'] == 'store':\n"
        "        for h in json.loads(out)['ok']:\n"
        "            _copies[h['__handle__']] = copy.deepcopy(ks.HANDLES[h['__handle__']])\n"
        "    return out\n"
        "ks.serve = _lying\n", timeout=30)
    try:
        with pytest.raises(AssertionError, match="called a second time with the same arrays"):
            rnn_tests.forward(bad, N=2, T=4, D=3, H=5, seed=0)
        rnn_tests.forward(remote.Remote(ch, {"name": "forward"}), N=2, T=4, D=3, H=5, seed=0)
    finally:
        kc.execute_interactive("import importlib; importlib.reload(ks)", timeout=30)


def test_a_result_that_holds_an_input_array_is_seen(kernel):
    _, _, ch = kernel
    with pytest.raises(AssertionError, match="holds an input array itself"):
        grad_tests.clip_named(remote.Remote(ch, {"name": "clip_returns_inputs"}),
                              "norm 13, max_norm 20: no clipping")
    grad_tests.clip_named(remote.Remote(ch, {"name": "clip_returns_inputs"}),
                          "norm 13, max_norm 6.5")                  # clipped: new arrays


def test_sample_next_is_called_through_the_channel_and_judged_here(kernel):
    _, _, ch = kernel
    logits = [1.0, 2.0, 0.5, -1.0]
    from test_testing_rnn import sample
    got = rnn_tests.draws(remote.Remote(ch, {"name": "sample"}), logits, 1.0, 300, seed=4)
    assert got.tolist() == rnn_tests.draws(sample, logits, 1.0, 300, seed=4).tolist()
    rnn_tests.sample_next(remote.Remote(ch, {"name": "sample"}), logits, 1.0, n=4000, seed=1,
                          reproducible=True)
    with pytest.raises(NotImplementedError):
        rnn_tests.sample_next(remote.Remote(ch, {"name": "todo_sample"}), logits, 1.0, n=100,
                              seed=1)
    with pytest.raises(AssertionError, match="same seed gave different draws"):
        rnn_tests.sample_next(remote.Remote(ch, {"name": "global_sample"}), logits, 1.0, n=4000,
                              seed=1, reproducible=True)


def test_a_backward_that_consumes_its_cache_fails_twice_on_one_cache(kernel):
    _, _, ch = kernel
    fw, bw = remote.Remote(ch, {"name": "forward"}), remote.Remote(ch, {"name": "backward_pops"})
    rnn_tests.backward(bw, fw, N=2, T=4, D=3, H=5, seed=0)                 # once: fine
    with pytest.raises(AssertionError, match="second call on the same cache"):
        rnn_tests.backward(bw, fw, N=2, T=4, D=3, H=5, seed=0, repeat=2)
    rnn_tests.backward(remote.Remote(ch, {"name": "backward"}), fw, N=2, T=4, D=3, H=5, seed=0,
                       repeat=2)


def test_modules_are_judged_from_their_values(kernel):
    _, _, ch = kernel
    cell = remote.Remote(ch, {"name": "GRUCell"})
    gru_tests.gru_cell(cell, N=3, D=4, H=5, seed=0, scale=2.0)
    gru_tests.lstm_cell(remote.Remote(ch, {"name": "LSTMCell"}), N=3, D=4, H=5, seed=0)
    gru_tests.gru_module(remote.Remote(ch, {"name": "GRU"}), N=2, T=3, D=3, H=4, num_layers=2,
                         seed=0)
    with pytest.raises(AssertionError, match="direction of its parameters ih.weight"):
        gru_tests.gru_cell(remote.Remote(ch, {"name": "FirstWeights"}), N=3, D=4, H=5, seed=0)
    # A forward computed in NumPy has the values of a right one: the grader, which sees
    # values only, cannot tell (the lesson says so); the learner's own run of the test can.
    gru_tests.gru_cell(remote.Remote(ch, {"name": "NumpyGRUCell"}), N=3, D=4, H=5, seed=0)


def test_module_checks_fail_a_module_whose_derivative_is_wrong(kernel):
    _, _, ch = kernel
    with pytest.raises(AssertionError, match="along a random direction of x"):
        gru_tests.gru_cell(remote.Remote(ch, {"name": "Memo"}), N=3, D=4, H=5, seed=0)


def test_a_tampered_channel_only_changes_values(kernel):
    _, kc, ch = kernel
    kc.execute_interactive(
        "import rnnkit.testing.kernel_side as ks\n"
        "ks.serve = lambda req: '{\"ok\": {\"__module__\": \"Sequential\", \"init\": {}, \"state\": {}}}'\n",
        timeout=30)
    try:
        with pytest.raises(remote.LearnerError, match="cannot read"):
            remote.Remote(ch, {"name": "double"})(np.ones(2))
    finally:
        kc.execute_interactive("import importlib; importlib.reload(ks)", timeout=30)
    out, _ = remote.Remote(ch, {"name": "double"})(np.ones(2))
    assert out.tolist() == [2.0, 2.0]


def test_codec_keeps_numpy_scalars_scalars():
    enc, dec = codec.Encoder(), codec.Decoder()
    for value in (np.int64(3), np.float32(2.5), np.bool_(True)):
        back = dec.decode(json.loads(codec.dumps(enc.encode(value))))
        assert np.ndim(back) == 0 and back == value and back.dtype == value.dtype
    back = dec.decode(json.loads(codec.dumps(enc.encode([(np.arange(3)[0], np.arange(3)[2])]))))
    assert back == [(0, 2)] and np.ndim(back[0][0]) == 0
