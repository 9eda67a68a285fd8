"""The grading channel: values cross, code and pickles do not (rnnkit.testing.codec/remote)."""

import base64
import io
import json

import numpy as np
import pytest
import torch

from rnnkit.testing import codec, learner_autograd, remote


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
        "module = Lin()\n", timeout=60)
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


def test_autograd_runs_where_the_module_lives(kernel):
    _, _, ch = kernel
    module = remote.Remote(ch, {"name": "module"})
    x = np.arange(6.0).reshape(3, 2)
    outs, grads_in, grads_p = learner_autograd(module, [x], [np.ones((3, 1))])
    state = module.state_dict()
    w = state["lin.weight"]
    np.testing.assert_allclose(outs[0], x @ w.T + state["lin.bias"])
    np.testing.assert_allclose(grads_in[0], np.ones((3, 1)) @ w)
    np.testing.assert_allclose(grads_p["lin.weight"], np.ones((1, 3)) @ x)


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
