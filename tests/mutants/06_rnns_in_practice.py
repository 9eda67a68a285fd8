"""Mutation catalogue of lesson 06_rnns_in_practice: wrong and correct versions of every graded
exercise.

Each variant's source replaces the whole answer cell. Variants may use the names the first cell
imports (``np``, ``torch``, ``nn``, ``F``, ``pack_padded_sequence``, ``pad_packed_sequence``,
``pad_sequence``) and, for ``train_classifier``, the solution's ``SequenceClassifier``
(``train_forecaster``'s variants may use ``windows`` and the notebook's given ``Forecaster``); the tests
of ``sample`` build the learner's ``CharLM``, so ``sample``'s variants run with the solution's.

GRADED (at the end) picks the variants make test grades; the others stay in RESERVE.
"""

from mutants import Variant

# answer cell: (its test cells, the other answer cells its tests run)
EXERCISES = {
    "rnn_output_shapes": (["test_rnn_output_shapes"], []),
    "final_states": (["test_final_states"], []),
    "masked_cross_entropy": (["test_masked_cross_entropy"], []),
    "CharLM": (["test_CharLM"], []),
    "sample": (["test_sample"], ["CharLM"]),
    "SequenceClassifier": (["test_SequenceClassifier"], []),
    "train_classifier": (["test_train_classifier"], ["SequenceClassifier"]),
    "train_forecaster": (["test_train_forecaster"], []),
}

VARIANTS = []


def _add(exercise, name, correct, source):
    VARIANTS.append(Variant(exercise, name, correct, source.strip("\n") + "\n"))


# ---------------------------------------------------------------------------------------------
# rnn_output_shapes
# ---------------------------------------------------------------------------------------------
_SH = '''
def rnn_output_shapes(config, N, T):
    kind = config["kind"]
    H = config["hidden_size"]
    L = config.get("num_layers", 1)
    d = 2 if config.get("bidirectional", False) else 1
    proj = config.get("proj_size", 0) if kind == "lstm" else 0
    H_out = {h_out}
    output_shape = (N, T, d * H_out) if config.get("batch_first", False) else (T, N, d * H_out)
    h_n_shape = {h_n}
    c_n_shape = {c_n} if kind == "lstm" else None
    return output_shape, h_n_shape, c_n_shape
'''


def _sh(name, h_out="proj if proj > 0 else H", h_n="(L * d, N, H_out)", c_n="(L * d, N, H)"):
    _add("rnn_output_shapes", name, False, _SH.format(h_out=h_out, h_n=h_n, c_n=c_n))


_sh("h_n follows batch_first",
    h_n="(N, L * d, H_out) if config.get('batch_first', False) else (L * d, N, H_out)")
_sh("proj_size ignored", h_out="H")
_sh("h_n counts layers only, not directions", h_n="(L, N, H_out)")
_sh("c_n projected too", c_n="(L * d, N, H_out)")
_add("rnn_output_shapes", "builds the module and runs it, tuple(shape)", True, '''
def rnn_output_shapes(config, N, T):
    cfg = dict(config)
    kind = cfg.pop("kind")
    module = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](**cfg)
    D = cfg["input_size"]
    x = torch.zeros((N, T, D) if cfg.get("batch_first", False) else (T, N, D))
    with torch.no_grad():
        out, state = module(x)
    if kind == "lstm":
        return tuple(out.shape), tuple(state[0].shape), tuple(state[1].shape)
    return tuple(out.shape), tuple(state.shape), None
''')
_add("rnn_output_shapes", "lists, defaults merged from a dict", True, '''
def rnn_output_shapes(config, N, T):
    c = {"num_layers": 1, "batch_first": False, "bidirectional": False, "proj_size": 0}
    c.update(config)
    d = 1 + int(bool(c["bidirectional"]))
    h_out = c["proj_size"] if (c["kind"] == "lstm" and c["proj_size"]) else c["hidden_size"]
    out = [T, N, d * h_out]
    if c["batch_first"]:
        out = [N, T, d * h_out]
    h = [c["num_layers"] * d, N, h_out]
    cn = [c["num_layers"] * d, N, c["hidden_size"]] if c["kind"] == "lstm" else None
    return out, h, cn
''')

# ---------------------------------------------------------------------------------------------
# final_states
# ---------------------------------------------------------------------------------------------
_add("final_states", "last column output[:, -1]", False, '''
def final_states(output, lengths, bidirectional):
    return output[:, -1]
''')
_add("final_states", "backward direction read at L-1 too", False, '''
def final_states(output, lengths, bidirectional):
    rows = torch.arange(output.shape[0])
    return output[rows, torch.as_tensor(lengths) - 1]
''')
_add("final_states", "directions joined backward first", False, '''
def final_states(output, lengths, bidirectional):
    rows = torch.arange(output.shape[0])
    last = torch.as_tensor(lengths) - 1
    if not bidirectional:
        return output[rows, last]
    H = output.shape[2] // 2
    return torch.cat([output[:, 0, H:], output[rows, last, :H]], dim=1)
''')
_add("final_states", "off by one: output at lengths (clamped)", False, '''
def final_states(output, lengths, bidirectional):
    rows = torch.arange(output.shape[0])
    last = torch.clamp(torch.as_tensor(lengths), max=output.shape[1] - 1)
    if not bidirectional:
        return output[rows, last]
    H = output.shape[2] // 2
    return torch.cat([output[rows, last, :H], output[:, 0, H:]], dim=1)
''')
_add("final_states", "loop over the batch", True, '''
def final_states(output, lengths, bidirectional):
    rows = []
    for n in range(output.shape[0]):
        L = int(lengths[n])
        if bidirectional:
            H = output.shape[2] // 2
            rows.append(torch.cat([output[n, L - 1, :H], output[n, 0, H:]]))
        else:
            rows.append(output[n, L - 1])
    return torch.stack(rows)
''')
_add("final_states", "gather and view per direction", True, '''
def final_states(output, lengths, bidirectional):
    N, T, W = output.shape
    d = 2 if bidirectional else 1
    H = W // d
    idx = (lengths.long() - 1).view(N, 1, 1).expand(N, 1, W)
    at_end = output.gather(1, idx)[:, 0].view(N, d, H)
    if d == 1:
        return at_end[:, 0]
    at_start = output[:, 0].view(N, d, H)
    return torch.cat([at_end[:, 0], at_start[:, 1]], dim=1)
''')

# ---------------------------------------------------------------------------------------------
# masked_cross_entropy
# ---------------------------------------------------------------------------------------------
_CE = '''
def masked_cross_entropy(logits, targets, lengths):
    N, T, V = logits.shape
    ce = F.cross_entropy(logits.reshape(N * T, V), targets.reshape(N * T),
                         reduction="none").reshape(N, T)
    mask = ({mask}).to(ce.dtype)
    return {ret}
'''


def _ce(name, mask="torch.arange(T)[None, :] < lengths[:, None]",
        ret="(ce * mask).sum() / mask.sum()"):
    _add("masked_cross_entropy", name, False, _CE.format(mask=mask, ret=ret))


_ce("plain mean, padding included", ret="ce.mean()")
_ce("masked sum divided by N * T", ret="(ce * mask).sum() / (N * T)")
_ce("mean of per-sequence means", ret="((ce * mask).sum(1) / mask.sum(1)).mean()")
_ce("mask off by one (t <= length)", mask="torch.arange(T)[None, :] <= lengths[:, None]")
_add("masked_cross_entropy", "ignore_index on a copy of the targets", True, '''
def masked_cross_entropy(logits, targets, lengths):
    N, T, V = logits.shape
    pad = torch.arange(T)[None, :] >= lengths[:, None]
    t = targets.clone()
    t[pad] = -100
    return F.cross_entropy(logits.reshape(-1, V), t.reshape(-1), ignore_index=-100)
''')
_add("masked_cross_entropy", "log_softmax and gather, sequence by sequence", True, '''
def masked_cross_entropy(logits, targets, lengths):
    total = 0.0
    for n in range(logits.shape[0]):
        L = int(lengths[n])
        logp = torch.log_softmax(logits[n, :L].double(), dim=-1)
        total = total - logp.gather(1, targets[n, :L, None]).sum()
    return total / lengths.sum()
''')

# ---------------------------------------------------------------------------------------------
# CharLM
# ---------------------------------------------------------------------------------------------
_LM = '''
class CharLM(nn.Module):
    def __init__(self, vocab_size, embed_size, hidden_size, num_layers=1, kind="lstm",
                 dropout=0.0):
        super().__init__()
        layer = {{"lstm": nn.LSTM, "gru": nn.GRU}}[kind]
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.rnn = layer(embed_size, hidden_size, num_layers=num_layers, batch_first={bf},
                         dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
{fw}
'''
_FW_OK = '''        out, state = self.rnn(self.embed(ids), state)
        return self.head(out), state'''


def _lm(name, bf="True", fw=_FW_OK):
    _add("CharLM", name, False, _LM.format(bf=bf, fw=fw))


_lm("state ignored (always starts from zeros)", fw='''        out, state = self.rnn(self.embed(ids))
        return self.head(out), state''')
_lm("batch_first missing", bf="False")
_lm("head on the last step only, repeated", fw='''        out, state = self.rnn(self.embed(ids), state)
        return self.head(out[:, -1:]).expand(-1, ids.shape[1], -1), state''')
_lm("returns the top layer's output instead of the state", fw='''        out, state = self.rnn(self.embed(ids), state)
        return self.head(out), out[:, -1:].transpose(0, 1)''')
_add("CharLM", "getattr(nn, kind.upper()), F.embedding, explicit zero state", True, '''
class CharLM(nn.Module):
    def __init__(self, vocab_size, embed_size, hidden_size, num_layers=1, kind="lstm",
                 dropout=0.0):
        super().__init__()
        self.kind, self.num_layers, self.hidden_size = kind, num_layers, hidden_size
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.rnn = getattr(nn, kind.upper())(embed_size, hidden_size, num_layers,
                                             batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        if state is None:
            h = torch.zeros(self.num_layers, ids.shape[0], self.hidden_size,
                            dtype=self.head.weight.dtype)
            state = (h, h.clone()) if self.kind == "lstm" else h
        e = F.embedding(ids, self.embed.weight)
        out, state = self.rnn(e, state)
        return self.head(out), state
''')
_add("CharLM", "head through F.linear on the flattened steps", True, '''
class CharLM(nn.Module):
    def __init__(self, vocab_size, embed_size, hidden_size, num_layers=1, kind="lstm",
                 dropout=0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        cls = nn.LSTM if kind == "lstm" else nn.GRU
        self.rnn = cls(input_size=embed_size, hidden_size=hidden_size, num_layers=num_layers,
                       batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        out, new_state = self.rnn(self.embed(ids), state)
        N, T, H = out.shape
        logits = F.linear(out.reshape(N * T, H), self.head.weight, self.head.bias)
        return logits.reshape(N, T, -1), new_state
''')

# ---------------------------------------------------------------------------------------------
# sample
# ---------------------------------------------------------------------------------------------
_SA = '''
@torch.no_grad()
def sample(model, prefix_ids, n, temperature=1.0, seed=0):
    gen = torch.Generator().manual_seed(int(seed))
    logits, state = model(torch.tensor([list(prefix_ids)]), None)
    out = []
    for _ in range(n):
        logit = logits[0, -1].double()
        nxt = {draw}
        out.append(nxt)
        logits, {new_state} = model(torch.tensor([[nxt]]), {state_in})
    return out
'''
_DRAW = "int(torch.multinomial(torch.softmax(logit / temperature, -1), 1, generator=gen))"


def _sa(name, draw=_DRAW, new_state="state", state_in="state"):
    _add("sample", name, False, _SA.format(draw=draw, new_state=new_state, state_in=state_in))


_sa("logits multiplied by the temperature",
    draw="int(torch.multinomial(torch.softmax(logit * temperature, -1), 1, generator=gen))")
_sa("greedy argmax", draw="int(logit.argmax())")
_sa("temperature ignored",
    draw="int(torch.multinomial(torch.softmax(logit, -1), 1, generator=gen))")
_sa("state not carried (restarts from None)", new_state="_", state_in="None")
_add("sample", "torch.manual_seed and torch.distributions.Categorical", True, '''
def sample(model, prefix_ids, n, temperature=1.0, seed=0):
    torch.manual_seed(seed)
    out = []
    with torch.no_grad():
        logits, state = model(torch.tensor(prefix_ids).unsqueeze(0), None)
        for _ in range(n):
            dist = torch.distributions.Categorical(logits=logits[0, -1] / temperature)
            nxt = int(dist.sample())
            out.append(nxt)
            logits, state = model(torch.tensor([[nxt]]), state)
    return out
''')
_add("sample", "NumPy generator on the probabilities, ids as an array", True, '''
def sample(model, prefix_ids, n, temperature=1.0, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.zeros(n, dtype=np.int64)
    with torch.no_grad():
        logits, state = model(torch.as_tensor([prefix_ids]), None)
        for k in range(n):
            z = logits[0, -1].double().numpy() / temperature
            p = np.exp(z - z.max())
            ids[k] = rng.choice(len(p), p=p / p.sum())
            logits, state = model(torch.as_tensor([[ids[k]]]), state)
    return ids
''')

# ---------------------------------------------------------------------------------------------
# SequenceClassifier
# ---------------------------------------------------------------------------------------------
_SC = '''
class SequenceClassifier(nn.Module):
    def __init__(self, input_size, hidden_size, num_classes, kind="gru", bidirectional=False):
        super().__init__()
        layer = {{"lstm": nn.LSTM, "gru": nn.GRU}}[kind]
        self.rnn = layer(input_size, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear((2 if bidirectional else 1) * hidden_size, num_classes)

    def forward(self, x, lengths):
{fw}
'''


def _sc(name, fw):
    _add("SequenceClassifier", name, False, _SC.format(fw=fw))


_sc("no packing: h_n of the padded batch", '''        _, state = self.rnn(x)
        h_n = state[0] if isinstance(state, tuple) else state
        final = torch.cat([h_n[-2], h_n[-1]], 1) if self.rnn.bidirectional else h_n[-1]
        return self.head(final)''')
_sc("no packing, output read at L-1 for both directions", '''        out, _ = self.rnn(x)
        return self.head(out[torch.arange(x.shape[0]), lengths - 1])''')
_sc("sorted for enforce_sorted=True, never unsorted", '''        lengths, order = torch.sort(lengths, descending=True)
        packed = pack_padded_sequence(x[order], lengths.cpu(), batch_first=True)
        _, state = self.rnn(packed)
        h_n = state[0] if isinstance(state, tuple) else state
        final = torch.cat([h_n[-2], h_n[-1]], 1) if self.rnn.bidirectional else h_n[-1]
        return self.head(final)''')
_sc("packed, but the backward half read at L-1 of the unpacked output", '''        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.head(out[torch.arange(x.shape[0]), lengths - 1])''')
_add("SequenceClassifier", "sorted by hand, enforce_sorted=True, unsorted after", True,
     _SC.format(fw='''        lengths_sorted, order = torch.sort(lengths, descending=True)
        packed = pack_padded_sequence(x[order], lengths_sorted.cpu(), batch_first=True)
        _, state = self.rnn(packed)
        h_n = state[0] if isinstance(state, tuple) else state
        final = torch.cat(list(h_n), dim=1)
        back = torch.empty_like(order)
        back[order] = torch.arange(len(order))
        return self.head(final[back])'''))
_add("SequenceClassifier", "unpacked output read at the right places", True,
     _SC.format(fw='''        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True)
        rows = torch.arange(x.shape[0])
        H = self.rnn.hidden_size
        final = out[rows, lengths - 1, :H]
        if self.rnn.bidirectional:
            final = torch.cat([final, out[:, 0, H:]], dim=1)
        return self.head(final)'''))

# ---------------------------------------------------------------------------------------------
# train_classifier
# ---------------------------------------------------------------------------------------------
_TC = '''
def train_classifier(x, lengths, y, seed):
    torch.manual_seed(seed)
    model = SequenceClassifier(x.shape[2], 16, 2, "gru")
    opt = torch.optim.Adam(model.parameters(), lr={lr})
    gen = torch.Generator().manual_seed(seed)
    for step in range({steps}):
        idx = torch.randint(0, x.shape[0], (64,), generator=gen)
        loss = F.cross_entropy(model(x[idx], lengths[idx]), {target})
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()
'''


def _tc(name, lr="1e-2", steps="150", target="y[idx]"):
    _add("train_classifier", name, False, _TC.format(lr=lr, steps=steps, target=target))


_tc("five steps only", steps="5")
_tc("learning rate 1e-6", lr="1e-6")
_tc("labels of another batch", target="y[torch.randint(0, x.shape[0], (64,), generator=gen)]")
_add("train_classifier", "returns a fresh model, trains another", False, '''
def train_classifier(x, lengths, y, seed):
    torch.manual_seed(seed)
    model = SequenceClassifier(x.shape[2], 16, 2, "gru")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(150):
        idx = torch.randint(0, x.shape[0], (64,))
        loss = F.cross_entropy(model(x[idx], lengths[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return SequenceClassifier(x.shape[2], 16, 2, "gru").eval()
''')
_add("train_classifier", "hand-written rule [-sum, sum], never trained", False, '''
def train_classifier(x, lengths, y, seed):
    class SumRule(nn.Module):
        def forward(self, x, lengths):
            total = x.sum(dim=(1, 2))
            return torch.stack([-total, total], dim=1)
    return SumRule().eval()
''')
_add("train_classifier", "untrained SequenceClassifier whose forward is the sum rule", False, '''
def train_classifier(x, lengths, y, seed):
    class Rule(SequenceClassifier):
        def forward(self, x, lengths):
            total = x.sum(dim=(1, 2))
            return torch.stack([-total, total], dim=1)
    return Rule(x.shape[2], 16, 2, "gru").eval()
''')
_add("train_classifier", "bidirectional LSTM, shuffled epochs", True, '''
def train_classifier(x, lengths, y, seed):
    torch.manual_seed(seed)
    model = SequenceClassifier(x.shape[2], 12, 2, "lstm", bidirectional=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(4):
        perm = torch.randperm(x.shape[0])
        for k in range(0, x.shape[0], 64):
            idx = perm[k:k + 64]
            loss = F.cross_entropy(model(x[idx], lengths[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    model.eval()
    return model
''')
_add("train_classifier", "full-batch steps with a step schedule", True, '''
def train_classifier(x, lengths, y, seed):
    torch.manual_seed(seed)
    model = SequenceClassifier(x.shape[2], 16, 2, "gru")
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=40, gamma=0.5)
    for step in range(100):
        loss = F.cross_entropy(model(x, lengths), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()
''')


# ---------------------------------------------------------------------------------------------
# train_forecaster
# ---------------------------------------------------------------------------------------------
_add("train_forecaster", "window shifted by one: predicts the value two steps ahead", False, '''
def train_forecaster(series, window, seed):
    torch.manual_seed(seed)
    model = Forecaster(32)
    x = torch.stack([series[m:m + window] for m in range(len(series) - window - 1)])[..., None]
    y = series[window + 1:]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(300):
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model.eval()
''')
_add("train_forecaster", "returns the naive forecast (untrained residual model)", False, '''
def train_forecaster(series, window, seed):
    class Naive(nn.Module):
        def forward(self, x):
            return x[:, -1, 0]
    return Naive().eval()
''')
_add("train_forecaster", "answers each window with the last value of the next window", False, '''
def train_forecaster(series, window, seed):
    class NextWindow(nn.Module):
        def forward(self, x):
            last = x[:, -1, 0]
            return torch.cat([last[1:], last[-1:]])
    return NextWindow().eval()
''')
_add("train_forecaster", "next-window answer inside an untrained Forecaster", False, '''
def train_forecaster(series, window, seed):
    class Peek(Forecaster):
        def forward(self, x):
            last = x[:, -1, 0]
            return torch.cat([last[1:], last[-1:]])
    return Peek(32).eval()
''')
_add("train_forecaster", "own LSTM on unfolded windows, mini-batches", True, '''
def train_forecaster(series, window, seed):
    torch.manual_seed(seed)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(1, 24, batch_first=True)
            self.head = nn.Linear(24, 1)

        def forward(self, x):
            return x[:, -1, 0] + self.head(self.rnn(x)[0][:, -1])[:, 0]

    model = Net()
    x = series.unfold(0, window, 1)[:-1, :, None]
    y = series[window:]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    for step in range(400):
        idx = torch.randint(0, len(y), (64,), generator=gen)
        loss = F.mse_loss(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model.eval()
''')


# ---------------------------------------------------------------------------------------------
# what make test grades (grading time is tight); the rest is RESERVE
# ---------------------------------------------------------------------------------------------
GRADED = {
    "rnn_output_shapes": [
        "h_n follows batch_first",
        "proj_size ignored",
        "h_n counts layers only, not directions",
        "builds the module and runs it, tuple(shape)",
        "lists, defaults merged from a dict",
    ],
    "final_states": [
        "last column output[:, -1]",
        "backward direction read at L-1 too",
        "directions joined backward first",
        "loop over the batch",
        "gather and view per direction",
    ],
    "masked_cross_entropy": [
        "plain mean, padding included",
        "masked sum divided by N * T",
        "mean of per-sequence means",
        "ignore_index on a copy of the targets",
        "log_softmax and gather, sequence by sequence",
    ],
    "CharLM": [
        "state ignored (always starts from zeros)",
        "batch_first missing",
        "head on the last step only, repeated",
        "getattr(nn, kind.upper()), F.embedding, explicit zero state",
        "head through F.linear on the flattened steps",
    ],
    "sample": [
        "logits multiplied by the temperature",
        "greedy argmax",
        "state not carried (restarts from None)",
        "torch.manual_seed and torch.distributions.Categorical",
        "NumPy generator on the probabilities, ids as an array",
    ],
    "SequenceClassifier": [
        "no packing: h_n of the padded batch",
        "sorted for enforce_sorted=True, never unsorted",
        "packed, but the backward half read at L-1 of the unpacked output",
        "sorted by hand, enforce_sorted=True, unsorted after",
        "unpacked output read at the right places",
    ],
    "train_classifier": [
        "five steps only",
        "learning rate 1e-6",
        "returns a fresh model, trains another",
        "hand-written rule [-sum, sum], never trained",
        "untrained SequenceClassifier whose forward is the sum rule",
        "bidirectional LSTM, shuffled epochs",
        "full-batch steps with a step schedule",
    ],
    "train_forecaster": [
        "window shifted by one: predicts the value two steps ahead",
        "answers each window with the last value of the next window",
        "next-window answer inside an untrained Forecaster",
        "own LSTM on unfolded windows, mini-batches",
    ],
}
