"""rnnkit.experiments and rnnkit.lm_experiment: initialisations, budgets, the timing block, the
learning-rate selection, the job runner, the recorded code version, and a tiny whole sweep."""

import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit import experiments as lab
from rnnkit import lm_experiment as lm


def test_keep_bias_is_given_to_the_lstm_forget_gate_and_the_gru_update_gate():
    for kind, D in (("lstm", 2), ("gru", 2), ("lstm", 10), ("gru", 10)):
        net = lab.build(kind, D)
        H = lab.MATCHED[D][kind]
        b_ih, b_hh = net.rnn.bias_ih_l0.detach(), net.rnn.bias_hh_l0.detach()
        assert torch.all(b_ih[H:2 * H] == lab.KEEP_BIAS) and torch.all(b_hh[H:2 * H] == 0), kind
        assert not torch.all(b_ih[:H] == lab.KEEP_BIAS), f"{kind}: only the second block is set"
    torch.manual_seed(0)
    default = lab.build("gru", 2, keep_bias=None)
    assert not torch.all(default.rnn.bias_ih_l0[37:74] == lab.KEEP_BIAS)
    rnn = lab.build("rnn", 2)                           # nothing to set on a plain RNN
    assert rnn.rnn.bias_ih_l0.shape == (65,)


def test_gru_with_update_bias_keeps_more_of_its_state():
    torch.manual_seed(0)
    x = torch.zeros(1, 20, 2)
    kept = {}
    for bias in (None, 4.0):
        torch.manual_seed(0)
        net = lab.SeqNet("gru", 2, 8, update_bias=bias)
        h0 = torch.ones(1, 1, 8)
        _, h = net.rnn(x, h0)
        kept[bias] = float(h.detach().abs().mean())
    assert kept[4.0] > kept[None]


def test_language_model_budgets_match_within_one_percent():
    V = 62
    counts = {k: lab.count(lm.lm_model(k, V)) for k in lm.LM_HIDDEN}
    budget = counts["lstm"]
    for kind, H in lm.LM_HIDDEN.items():
        assert counts[kind] <= budget and abs(counts[kind] - budget) / budget < 0.01, counts
        assert lab.count(lm.lm_model(kind, V, H + 1)) > budget, f"{kind}: H + 1 also fits the budget"


def test_char_data_splits_like_lesson_06():
    data = lm.char_data()
    assert len(data["vocab"]) == 62 and len(data["val"]) == lm.HELD_OUT == len(data["test"])
    assert data["train"].dtype == torch.int64 and int(data["train"].max()) < 62
    text_len = len(data["train"]) / 0.9
    assert abs(text_len - 199_994) < 10


def test_lm_loss_carries_the_state_between_pieces():
    torch.manual_seed(0)
    V = 5
    model = lm.lm_model("gru", V, 6)
    ids = torch.randint(0, V, (101,))
    whole = lm.lm_loss(model, ids, V, streams=2, piece=1000)
    pieces = lm.lm_loss(model, ids, V, streams=2, piece=7)
    assert math.isclose(whole, pieces, rel_tol=1e-5)
    cut = lm.lm_loss(model, ids, V, streams=5, piece=1000)
    assert not math.isclose(whole, cut, rel_tol=1e-6)


def test_lm_run_is_tiny_and_shaped():
    h = lm.lm_run("lstm", 3, eval_every=2, max_chars=5_000, batch_size=4, T=8, show_progress=False)
    assert h["eval_step"] == [2, 3] and len(h["val_ce"]) == 2
    assert h["test_ppl"] == pytest.approx(math.exp(h["test_ce"])) and h["params"] > 0


def test_timing_block_interleaves_and_shares_settings():
    shapes = [{"N": 2, "T": 3, "D": 2, "H": {"lstm": 4, "gru": 5, "rnn": 8}, "budget": "equal parameters"},
              {"N": 2, "T": 3, "D": 2, "H": {"lstm": 4, "gru": 4, "rnn": 4}, "budget": "equal sizes"}]
    out = lab.timing_block(shapes, lengths=(3, 5), rounds=2, min_run_time=0.005, N=2, D=2, H=4,
                           show_progress=False)
    assert out["rounds"] == 2
    for row in out["speed"] + out["speed_vs_T"]:
        assert len(row["round_median_ms"]) == 2 and row["min_ms"] <= row["median_ms"] + 1e-9
    lstm = [r for r in out["speed"] if r["kind"] == "lstm" and r["dtype"] == "float32" and r["onednn"]]
    assert len(lstm) == 2 and lstm[0]["round_median_ms"] == lstm[1]["round_median_ms"], \
        "the LSTM named by both budgets is one setting"
    c_lstm = next(r for r in out["speed_vs_T"] if r["what"] == "lstm" and r["T"] == 3)
    assert c_lstm["round_median_ms"] == lstm[0]["round_median_ms"], "C's LSTM at T=3 is B's setting"
    row = next(r for r in out["speed_vs_T"] if r["T"] == 5)
    assert row["ms_per_step"] == row["median_ms"] / 5 and row["min_ms_per_step"] == row["min_ms"] / 5
    assert out["settings_measured"] < len(out["speed"]) + len(out["speed_vs_T"])


def test_best_rates_pick_the_lowest_median_validation_loss():
    runs = [{"arg": 20, "kind": "lstm", "lr": lr, "val_ce": [9.0, v]}
            for lr, vals in ((1e-3, (0.1, 0.2, 3.0)), (1e-2, (0.15, 0.15, 0.15)), (3e-3, (np.nan, np.nan, 0.0)))
            for v in vals]
    assert lab.best_rates(runs, "recall") == {"20": {"lstm": 1e-2}}
    runs = [{"arg": None, "kind": "gru", "lr": 1e-3, "train_loss": [1.0, 0.5]},
            {"arg": None, "kind": "gru", "lr": 1e-2, "train_loss": [1.0, 0.4]}]
    assert lab.best_rates(runs, "anbn") == {"None": {"gru": 1e-2}}


def test_run_jobs_adds_the_jobs_of_then_after_the_gate():
    jobs = [dict(task="recall", kind="lstm", arg=4, lr=1e-2, seed=0, steps=2, gate=True),
            dict(task="anbn", kind="gru", arg=None, lr=1e-2, seed=1, steps=2)]
    seen = []

    def then(done):
        seen.append([(r["task"], r["kind"]) for r in done])
        return [dict(task="adding", kind="rnn", arg=4, lr=done[0]["lr"], seed=0, steps=2)]

    out = lab.run_jobs(jobs, workers=1, then=then)
    assert seen == [[("recall", "lstm")]]
    assert [r["task"] for r in out] == ["recall", "anbn", "adding"] and "gate" not in out[0]
    assert "test_acc" in out[0] and "generalises_to" in out[1] and "val_mse" in out[2]


def test_source_digest_is_the_sha256_of_the_files():
    digest = lab.source_digest()
    here = Path(lab.__file__).parent
    for name in lab.CODE_FILES:
        assert digest["files"][name] == hashlib.sha256((here / name).read_bytes()).hexdigest()
    assert "experiments.py" in digest["files"] and re.fullmatch(r"[0-9a-f]{64}", digest["sha256"])
    version = lab.code_version()
    assert version["sha256"] == digest["sha256"] and "git_commit" in version


def test_a_tiny_whole_sweep_has_every_part():
    cfg = dict(lab.QUICK, recall_steps=4, adding_steps=4, data_steps=4, anbn_steps=4, lm_steps=2,
               timing_rounds=1, lengths=(4,))
    out = lab.run_all(cfg, workers=1)
    assert out["code"]["sha256"] == lab.source_digest()["sha256"]
    assert out["machine"]["threads_per_run"] == 1 and out["machine"]["cpu"]
    for task in ("adding", "recall", "anbn", "lm"):
        assert out["best_lr"][task] and out["sweeps"][task], task
        for r in out["runs"][task]:
            swept = str(r["arg"]) if task != "adding" else str(max(cfg["adding_sweep_T"]))
            assert r["lr"] == out["best_lr"][task][swept][r["kind"]], (task, r["arg"])
    assert {r["arg"] for r in out["runs"]["adding"]} == set(cfg["adding_T"])
    assert out["runs"]["data"] and all(r["lr"] == out["best_lr"]["adding"]["6"][r["kind"]]
                                       for r in out["runs"]["data"])
    assert all("min_ms" in r for r in out["speed"] + out["speed_vs_T"])

