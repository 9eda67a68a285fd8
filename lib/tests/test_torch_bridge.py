import numpy as np
import pytest
import torch

from rnnkit.torch_bridge import (GATES, cell_from_numpy, layer_from_numpy, numpy_weights,
                                 random_weights)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_roundtrip_layer_and_cell(kind):
    w = random_weights(kind, D=3, H=5, seed=0)
    assert w["W_ih"].shape == (GATES[kind] * 5, 3) and w["W_hh"].shape == (GATES[kind] * 5, 5)
    for build in (layer_from_numpy, cell_from_numpy):
        module = build(kind, **w)
        back = numpy_weights(module)
        for name in w:
            np.testing.assert_array_equal(back[name], w[name])


def test_rnn_layer_matches_the_recurrence():
    w = random_weights("rnn", D=2, H=4, seed=1)
    x = np.random.default_rng(2).standard_normal((3, 5, 2))
    out, h_n = layer_from_numpy("rnn", **w)(torch.tensor(x))
    h = np.zeros((3, 4))
    for t in range(5):
        h = np.tanh(x[:, t] @ w["W_ih"].T + w["b_ih"] + h @ w["W_hh"].T + w["b_hh"])
        np.testing.assert_allclose(out[:, t].detach().numpy(), h, atol=1e-12)
    np.testing.assert_allclose(h_n[0].detach().numpy(), h, atol=1e-12)


def test_bad_shapes_and_bias_are_explained():
    w = random_weights("lstm", D=3, H=5)
    with pytest.raises(ValueError, match="LSTM with hidden size H=5"):
        layer_from_numpy("lstm", w["W_ih"][:5], w["W_hh"])
    with pytest.raises(ValueError, match="both b_ih and b_hh"):
        layer_from_numpy("lstm", w["W_ih"], w["W_hh"], w["b_ih"])
    with pytest.raises(ValueError, match="kind must be"):
        layer_from_numpy("transformer", w["W_ih"], w["W_hh"])
    no_bias = layer_from_numpy("gru", **random_weights("gru", 2, 3, bias=False))
    assert set(numpy_weights(no_bias)) == {"W_ih", "W_hh"}
