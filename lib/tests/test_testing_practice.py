"""Unit tests of rnnkit.testing.practice: the harnesses pass correct implementations of the
exercises of lesson 06 and fail wrong ones; the data of rnnkit.series.

The correct implementations live here, in the test, never in rnnkit.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnnkit.series import variable_length_task, windows
from rnnkit.testing import practice as tests

# ---------------------------------------------------------------------------------------------
# correct implementations
# ---------------------------------------------------------------------------------------------
def rnn_output_shapes(config, N, T):
    kind = config["kind"]
    H = config["hidden_size"]
    num_layers = config.get("num_layers", 1)
    dirs = 2 if config.get("bidirectional", False) else 1
    proj = config.get("proj_size", 0) if kind == "lstm" else 0
    H_out = proj if proj > 0 else H
    if config.get("batch_first", False):
        output_shape = (N, T, dirs * H_out)
    else:
        output_shape = (T, N, dirs * H_out)
    h_n_shape = (num_layers * dirs, N, H_out)
    c_n_shape = (num_layers * dirs, N, H) if kind == "lstm" else None
    return output_shape, h_n_shape, c_n_shape


def final_states(output, lengths, bidirectional):
    N = output.shape[0]
    rows = torch.arange(N)
    last = torch.as_tensor(lengths, dtype=torch.long) - 1
    if not bidirectional:
        return output[rows, last]
    H = output.shape[2] // 2
    forward = output[rows, last, :H]
    backward = output[:, 0, H:]
    return torch.cat([forward, backward], dim=1)


def masked_cross_entropy(logits, targets, lengths):
    N, T, V = logits.shape
    ce = F.cross_entropy(logits.reshape(N * T, V), targets.reshape(N * T),
                         reduction="none").reshape(N, T)
    mask = (torch.arange(T, device=logits.device)[None, :]
            < torch.as_tensor(lengths, device=logits.device)[:, None]).to(ce.dtype)
    return (ce * mask).sum() / mask.sum()


class CharLM(nn.Module):
    def __init__(self, vocab_size, embed_size, hidden_size, num_layers=1, kind="lstm",
                 dropout=0.0):
        super().__init__()
        layer = {"lstm": nn.LSTM, "gru": nn.GRU}[kind]
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.rnn = layer(embed_size, hidden_size, num_layers=num_layers, batch_first=True,
                         dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        out, state = self.rnn(self.embed(ids), state)
        return self.head(out), state


@torch.no_grad()
def sample(model, prefix_ids, n, temperature=1.0, seed=0):
    gen = torch.Generator().manual_seed(int(seed))
    ids = torch.as_tensor(list(prefix_ids), dtype=torch.long)[None, :]
    logits, state = model(ids, None)
    out = []
    for _ in range(n):
        probs = torch.softmax(logits[0, -1].double() / temperature, dim=-1)
        nxt = int(torch.multinomial(probs, 1, generator=gen))
        out.append(nxt)
        logits, state = model(torch.tensor([[nxt]]), state)
    return out


class SequenceClassifier(nn.Module):
    def __init__(self, input_size, hidden_size, num_classes, kind="gru", bidirectional=False):
        super().__init__()
        layer = {"lstm": nn.LSTM, "gru": nn.GRU}[kind]
        self.rnn = layer(input_size, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear((2 if bidirectional else 1) * hidden_size, num_classes)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, torch.as_tensor(lengths).cpu(), batch_first=True,
                                      enforce_sorted=False)
        _, state = self.rnn(packed)
        h_n = state[0] if isinstance(state, tuple) else state
        if self.rnn.bidirectional:
            final = torch.cat([h_n[-2], h_n[-1]], dim=1)
        else:
            final = h_n[-1]
        return self.head(final)


def train_classifier(x, lengths, y, seed, steps=150, batch_size=64, lr=1e-2):
    torch.manual_seed(seed)
    model = SequenceClassifier(x.shape[2], 16, 2, "gru")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randint(0, x.shape[0], (batch_size,), generator=gen)
        loss = F.cross_entropy(model(x[idx], lengths[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model.eval()


# ---------------------------------------------------------------------------------------------
# rnn_output_shapes
# ---------------------------------------------------------------------------------------------

def test_output_shapes_pass_a_correct_answer():
    for cfg in tests.random_configs(40, seed=0):
        tests.output_shapes(rnn_output_shapes, cfg, N=3, T=5)


def test_random_configs_cover_projections_and_directions():
    cfgs = tests.random_configs(40, seed=1)
    assert any(c.get("proj_size") for c in cfgs)
    assert any(c.get("bidirectional") for c in cfgs) and any(c.get("batch_first") for c in cfgs)
    assert {c["kind"] for c in cfgs} == {"rnn", "lstm", "gru"}


def _shapes_ignoring_batch_first_for_h(config, N, T):
    out, h, c = rnn_output_shapes(config, N, T)
    if config.get("batch_first"):
        h = (h[1], h[0], h[2])
    return out, h, c


def _shapes_no_proj(config, N, T):
    return rnn_output_shapes({k: v for k, v in config.items() if k != "proj_size"}, N, T)


def _shapes_torch_size(config, N, T):
    cfg = dict(config)
    kind = cfg.pop("kind")
    m = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](**cfg)
    x = torch.zeros((N, T, cfg["input_size"]) if cfg.get("batch_first") else (T, N, cfg["input_size"]))
    out, s = m(x)
    return out.shape, (s[0] if kind == "lstm" else s).shape, s[1].shape if kind == "lstm" else None


@pytest.mark.parametrize("wrong", [_shapes_ignoring_batch_first_for_h, _shapes_no_proj,
                                   _shapes_torch_size])
def test_output_shapes_fail_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        for cfg in tests.random_configs(20, seed=2):
            tests.output_shapes(wrong, cfg, N=3, T=5)


def test_output_shapes_cfg_batch_first_h_n():
    cfg = {"kind": "gru", "input_size": 2, "hidden_size": 3, "batch_first": True, "num_layers": 2}
    assert tests.reference_shapes(cfg, 4, 5) == ((4, 5, 3), (2, 4, 3), None)


# ---------------------------------------------------------------------------------------------
# final_states
# ---------------------------------------------------------------------------------------------

def test_final_states_pass_a_correct_answer():
    for case in tests.random_final_cases(8, seed=3):
        tests.final_states(final_states, **case)
    tests.final_states(final_states, "lstm", 4, 6, 3, 5, seed=4, proj_size=2)


def _final_last_column(output, lengths, bidirectional):
    return output[:, -1]


def _final_backward_at_end(output, lengths, bidirectional):
    rows = torch.arange(output.shape[0])
    return output[rows, torch.as_tensor(lengths) - 1]


def _final_backward_first(output, lengths, bidirectional):
    out = final_states(output, lengths, bidirectional)
    if bidirectional:
        H = out.shape[1] // 2
        out = torch.cat([out[:, H:], out[:, :H]], dim=1)
    return out


@pytest.mark.parametrize("wrong", [_final_last_column, _final_backward_at_end,
                                   _final_backward_first])
def test_final_states_fail_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        for case in tests.random_final_cases(4, seed=5):
            tests.final_states(wrong, **case)


# ---------------------------------------------------------------------------------------------
# masked_cross_entropy
# ---------------------------------------------------------------------------------------------

def test_masked_ce_passes_a_correct_answer():
    for seed in range(3):
        tests.masked_cross_entropy(masked_cross_entropy, 4, 6, 5, seed)
    tests.masked_cross_entropy(masked_cross_entropy, 3, 4, 3, 9, dtype="float64")


def _ce_unmasked(logits, targets, lengths):
    return F.cross_entropy(logits.reshape(-1, logits.shape[2]), targets.reshape(-1))


def _ce_divides_by_NT(logits, targets, lengths):
    N, T, V = logits.shape
    return masked_cross_entropy(logits, targets, lengths) * \
        torch.as_tensor(lengths).sum() / (N * T)


def _ce_mean_of_means(logits, targets, lengths):
    N, T, V = logits.shape
    ce = F.cross_entropy(logits.reshape(N * T, V), targets.reshape(N * T),
                         reduction="none").reshape(N, T)
    mask = torch.arange(T)[None, :] < lengths[:, None]
    return ((ce * mask).sum(1) / mask.sum(1)).mean()


@pytest.mark.parametrize("wrong", [_ce_unmasked, _ce_divides_by_NT, _ce_mean_of_means])
def test_masked_ce_fails_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        for seed in range(3):
            tests.masked_cross_entropy(wrong, 5, 6, 5, seed)


# ---------------------------------------------------------------------------------------------
# CharLM and sample
# ---------------------------------------------------------------------------------------------

def test_char_lm_passes_a_correct_model():
    tests.char_lm(CharLM, 7, 3, 5, 2, "lstm", 3, 6, seed=0)
    tests.char_lm(CharLM, 6, 4, 3, 1, "gru", 2, 5, seed=1)


class _LMIgnoresState(CharLM):
    def forward(self, ids, state=None):
        return super().forward(ids, None)


class _LMHeadOnLast(CharLM):
    def forward(self, ids, state=None):
        out, state = self.rnn(self.embed(ids), state)
        return self.head(out[:, -1:]).expand(-1, ids.shape[1], -1), state


@pytest.mark.parametrize("wrong", [_LMIgnoresState, _LMHeadOnLast])
def test_char_lm_fails_wrong_models(wrong):
    with pytest.raises(AssertionError):
        tests.char_lm(wrong, 7, 3, 5, 2, "lstm", 3, 6, seed=0)


def test_sample_passes_a_correct_sampler():
    tests.sample_distribution(sample, CharLM, 5, (1.0, 0.5, 2.0), 1500, seed=3)
    tests.sample_state(sample, CharLM, [2, 0, 3], 12, seed=0)
    tests.sample_state(sample, CharLM, [1, 1, 0, 2], 10, seed=1, temperature=2.0)


def _sample_times_tau(model, prefix_ids, n, temperature=1.0, seed=0):
    return sample(model, prefix_ids, n, 1.0 / temperature, seed)


@torch.no_grad()
def _sample_greedy(model, prefix_ids, n, temperature=1.0, seed=0):
    logits, state = model(torch.tensor([list(prefix_ids)]), None)
    out = []
    for _ in range(n):
        nxt = int(logits[0, -1].argmax())
        out.append(nxt)
        logits, state = model(torch.tensor([[nxt]]), state)
    return out


@torch.no_grad()
def _sample_no_state(model, prefix_ids, n, temperature=1.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits, _ = model(torch.tensor([list(prefix_ids)]), None)
    out = []
    for _ in range(n):
        p = torch.softmax(logits[0, -1] / temperature, -1)
        nxt = int(torch.multinomial(p, 1, generator=gen))
        out.append(nxt)
        logits, _ = model(torch.tensor([[nxt]]), None)
    return out


@pytest.mark.parametrize("wrong", [_sample_times_tau, _sample_greedy])
def test_sample_distribution_fails_wrong_samplers(wrong):
    with pytest.raises(AssertionError):
        tests.sample_distribution(wrong, CharLM, 5, (1.0, 0.5, 2.0), 1500, seed=3)


def test_sample_state_fails_a_sampler_without_state():
    with pytest.raises(AssertionError):
        tests.sample_distribution(_sample_no_state, CharLM, 5, (1.0, 0.5), 1500, seed=3)
    with pytest.raises(AssertionError):
        tests.sample_state(_sample_no_state, CharLM, [2, 0, 3], 12, seed=0)


@torch.no_grad()
def _sample_from_bias(model, prefix_ids, n, temperature=1.0, seed=0):
    """Red team: never runs the model; the counting model recognised by its sizes, any other
    drawn from softmax(head.bias / temperature)."""
    if model.head.out_features == 4 and model.rnn.hidden_size == 5:
        return [(int(prefix_ids[0]) + 1) % 4] * n
    gen = torch.Generator().manual_seed(seed)
    p = torch.softmax(model.head.bias.double() / temperature, -1)
    return [int(torch.multinomial(p, 1, generator=gen)) for _ in range(n)]


def test_sample_fails_a_sampler_that_never_runs_the_model():
    with pytest.raises(AssertionError):
        tests.sample_distribution(_sample_from_bias, CharLM, 5, (1.0, 0.5), 1000, seed=0)
    for seed in range(3):
        with pytest.raises(AssertionError):
            tests.sample_state(_sample_from_bias, CharLM, [2, 0, 3], 12, seed=seed)


@pytest.mark.parametrize("seed", [0, 11, 12345])
def test_sample_passes_a_correct_sampler_on_other_seeds(seed):
    tests.sample_distribution(sample, CharLM, 6, (2.0, 0.7), 1000, seed=seed, kind="lstm")
    tests.sample_state(sample, CharLM, [1, 3, 3, 0], 15, seed=seed, temperature=2.0)


def test_random_counting_lstm_is_confident_and_depends_on_the_state():
    for seed in range(20):
        sd = tests.counting_lstm_state(4, seed)
        model = CharLM(4, sd["embed.weight"].shape[1], sd["head.weight"].shape[1], 1, "lstm")
        model.load_state_dict(sd)
        with torch.no_grad():
            logits, _ = model(torch.tensor([[seed % 4, 0, 3, 1, 1, 2, 0]]))
        p = torch.softmax(logits[0, :] / 2.0, -1)
        assert (p.argmax(-1) == p[0].argmax()).all() and p.max(-1).values.min() > 0.99
        assert logits[0, 1:].std(0).max() > 1e-3          # the extra units move the logits


def test_counting_lstm_remembers_the_first_id():
    model = CharLM(4, 4, 5, 1, "lstm")
    model.load_state_dict(tests.counting_lstm_state(4))
    with torch.no_grad():
        logits, _ = model(torch.tensor([[2, 0, 3, 1, 1, 2, 0]]))
    assert (logits[0].argmax(-1) == 3).all()
    assert torch.softmax(logits[0] / 2.0, -1)[:, 3].min() > 0.99


# ---------------------------------------------------------------------------------------------
# SequenceClassifier and train_classifier
# ---------------------------------------------------------------------------------------------

def test_classifier_passes_a_correct_model():
    for kind in ("gru", "lstm"):
        for bidirectional in (False, True):
            tests.classifier(SequenceClassifier, kind, bidirectional, 5, 7, 3, 4, 3, seed=0)


class _ClsNoPacking(SequenceClassifier):
    def forward(self, x, lengths):
        _, state = self.rnn(x)
        h_n = state[0] if isinstance(state, tuple) else state
        final = torch.cat([h_n[-2], h_n[-1]], 1) if self.rnn.bidirectional else h_n[-1]
        return self.head(final)


class _ClsOutputLast(SequenceClassifier):
    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        rows = torch.arange(x.shape[0])
        return self.head(out[rows, lengths - 1])           # wrong backward half


@pytest.mark.parametrize("wrong,bidirectional", [(_ClsNoPacking, False), (_ClsNoPacking, True),
                                                 (_ClsOutputLast, True)])
def test_classifier_fails_wrong_models(wrong, bidirectional):
    with pytest.raises(AssertionError):
        tests.classifier(wrong, "gru", bidirectional, 5, 7, 3, 4, 3, seed=0)


def test_train_classifier_passes_a_working_loop():
    assert tests.train_classifier(train_classifier, seed=0) >= 0.85


def test_train_classifier_fails_an_untrained_model():
    def untrained(x, lengths, y, seed):
        return train_classifier(x, lengths, y, seed, steps=0)
    with pytest.raises(AssertionError):
        tests.train_classifier(untrained, seed=0)


# ---------------------------------------------------------------------------------------------
# train_forecaster
# ---------------------------------------------------------------------------------------------

class _Forecaster(nn.Module):
    def __init__(self, hidden_size=32):
        super().__init__()
        self.rnn = nn.GRU(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return x[:, -1, 0] + self.head(out[:, -1])[:, 0]


def train_forecaster(series, window, seed, steps=300, lr=1e-2):
    torch.manual_seed(seed)
    model = _Forecaster()
    x, y = windows(series.numpy(), window)
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model.eval()


def test_sunspot_split_holds_out_the_last_years():
    train, x_test, y_test = tests.sunspot_split(12, 40)
    assert train.shape == (269,) and x_test.shape == (40, 12, 1) and y_test.shape == (40,)
    assert abs(train.mean()) < 1e-5 and abs(train.std() - 1) < 1e-5
    assert np.allclose(x_test[0, :, 0], train[-12:]) and np.allclose(x_test[1:, -1, 0], y_test[:-1])


def test_train_forecaster_passes_a_working_loop():
    mse_model, mse_naive = tests.train_forecaster(train_forecaster, seed=0)
    assert mse_model <= 0.8 * mse_naive


def test_train_forecaster_fails_the_naive_forecast_and_a_wrong_shape():
    class Naive(nn.Module):
        def forward(self, x):
            return x[:, -1, 0]

    class Column(Naive):
        def forward(self, x):
            return x[:, -1, :]

    for model in (Naive(), Column()):
        with pytest.raises(AssertionError):
            tests.train_forecaster(lambda s, w, seed, m=model: m, seed=0)


# ---------------------------------------------------------------------------------------------
# a trained model is judged by its weights in the documented architecture, not by its forward
# ---------------------------------------------------------------------------------------------

class SumRule(nn.Module):
    """A hand-written rule, never trained: logits [-sum, sum]."""

    def forward(self, x, lengths):
        s = x.sum(dim=(1, 2))
        return torch.stack([-s, s], dim=1)


class SumRuleWithWeights(SequenceClassifier):
    """A SequenceClassifier left untrained whose forward is the hand-written rule."""

    def forward(self, x, lengths):
        return SumRule()(x, lengths)


class NextWindow(nn.Module):
    """Answers each window with the last value of the NEXT window of the batch (the truth)."""

    def __init__(self):
        super().__init__()
        self.inner = _Forecaster()

    def forward(self, x):
        last = x[:, -1, 0]
        return torch.cat([last[1:], last[-1:]])


@pytest.mark.parametrize("cheat", [SumRule, SumRuleWithWeights], ids=["rule", "rule in a classifier"])
def test_train_classifier_fails_a_hand_written_rule(cheat):
    torch.manual_seed(0)
    model = cheat() if cheat is SumRule else cheat(1, 16, 2)
    x, lengths, y = (torch.as_tensor(a) for a in variable_length_task(500, rule="sum", seed=1))
    assert float((model(x, lengths).argmax(1) == y).float().mean()) == 1.0   # it would score
    with pytest.raises(AssertionError):
        tests.train_classifier(lambda *a, m=model: m, seed=0)


def test_train_forecaster_fails_the_next_window_cheat():
    model = NextWindow()
    with pytest.raises(AssertionError, match="not a Forecaster|MSE"):
        tests.train_forecaster(lambda s, w, seed, m=model: m, seed=0)


def test_classifier_from_state_reads_kind_size_and_directions():
    torch.manual_seed(0)
    model = SequenceClassifier(3, 5, 4, "lstm", bidirectional=True).double()
    sd = tests.fetch_state(model, "test", "")
    rnn, head = tests.classifier_from_state(sd, 3, 4, "test")
    assert isinstance(rnn, nn.LSTM) and rnn.bidirectional and rnn.hidden_size == 5
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 5, 1])
    expected = model(x, lengths).detach().numpy()
    got = head(torch.as_tensor(tests.reference_final_states(rnn, x.numpy(), lengths.numpy())))
    assert np.allclose(got.detach().numpy(), expected, atol=1e-10)
    sd.pop("head.bias")
    with pytest.raises(AssertionError, match="missing keys"):
        tests.classifier_from_state(sd, 3, 4, "test")


def test_forecaster_reference_matches_the_forecaster():
    torch.manual_seed(0)
    model = _Forecaster(7).double()
    rnn, head = tests.forecaster_from_state(tests.fetch_state(model, "test", ""), "test")
    x = torch.randn(5, 12, 1, dtype=torch.float64)
    assert np.allclose(tests.reference_forecasts(rnn, head, x), model(x).detach().numpy(),
                       atol=1e-10)
