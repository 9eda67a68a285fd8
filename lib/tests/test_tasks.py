import numpy as np
import pytest

from rnnkit.tasks import ADDING_BASELINE_MSE, CharCorpus, Vocab, adding_problem


def test_adding_problem_shapes_and_targets():
    x, y = adding_problem(500, 20, seed=1)
    assert x.shape == (500, 20, 2) and y.shape == (500,)
    assert x.dtype == np.float32
    markers = x[..., 1]
    assert np.all(markers.sum(axis=1) == 2)
    assert np.all(markers[:, :10].sum(axis=1) == 1)      # one marker in each half
    np.testing.assert_allclose(y, (x[..., 0] * markers).sum(axis=1), rtol=1e-6)


def test_adding_baseline_is_one_sixth():
    _, y = adding_problem(200_000, 10, seed=2)
    assert abs(np.mean((y - 1.0) ** 2) - ADDING_BASELINE_MSE) < 0.005


def test_adding_problem_is_seeded_and_validates():
    a, _ = adding_problem(4, 8, seed=3)
    b, _ = adding_problem(4, 8, seed=3)
    c, _ = adding_problem(4, 8, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(ValueError, match="T >= 2"):
        adding_problem(4, 1)


def test_vocab_roundtrip_and_one_hot():
    v = Vocab("hello world")
    ids = v.encode("hold")
    assert v.decode(ids) == "hold"
    oh = v.one_hot(ids.reshape(2, 2))
    assert oh.shape == (2, 2, len(v))
    assert np.array_equal(oh.argmax(-1), ids.reshape(2, 2)) and np.all(oh.sum(-1) == 1)
    with pytest.raises(KeyError, match="not in the vocabulary"):
        v.encode("xyz")


def test_corpus_batches_are_shifted_by_one():
    corpus = CharCorpus()
    inputs, targets = corpus.batch(8, 25, seed=0)
    assert inputs.shape == targets.shape == (8, 25)
    assert np.array_equal(inputs[:, 1:], targets[:, :-1])
    text = corpus.vocab.decode(np.concatenate([inputs[0], targets[0, -1:]]))
    assert text in corpus.text
