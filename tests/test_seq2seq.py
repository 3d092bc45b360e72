"""Encoder-decoder, attention, edit distance, and the transduction tasks (reverse/sort, text correction)."""

from __future__ import annotations

import functools
import random

import pytest
import torch

from rnnbench.data.metrics import IGNORE, edit_distances
from rnnbench.data.reverse import ReverseTask
from rnnbench.data.task import InputSpec
from rnnbench.data.text_correction import TextCorrectionTask
from rnnbench.data.transduction import BOS, EOS, PAD, SPECIALS, decoded, one_hot_logits, targets
from rnnbench.errors import ConfigError, UserError
from rnnbench.models.attention import Attention
from rnnbench.models.gru import GRUCell
from rnnbench.models.hybrid import StackedHybrid
from rnnbench.models.lstm import LSTMCell
from rnnbench.models.recurrent import Recurrent
from rnnbench.models.seq2seq import Seq2Seq
from tests.test_cells import copy_fused_weights

V = SPECIALS + 5


def model(attention="bahdanau", cell=LSTMCell, teacher_forcing=1.0, bidirectional=False, impl="auto", **kw):
    torch.manual_seed(0)
    core = functools.partial(Recurrent, cell=cell, hidden_size=8, impl=impl)
    return Seq2Seq(
        core,
        InputSpec("tokens", V),
        V,
        max_output_len=7,
        attention=attention,
        teacher_forcing=teacher_forcing,
        bidirectional=bidirectional,
        embedding_dim=4,
        **kw,
    )


def batch(B=3, S=6, T=5):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(SPECIALS, V, (B, S), generator=g)
    x[0, :2] = PAD  # a shorter, left-padded source
    y = torch.randint(SPECIALS, V, (B, T), generator=g)
    y[:, -2] = EOS
    y[:, -1] = IGNORE
    return x, y


# --- attention ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["bahdanau", "luong"])
def test_attention_weights_sum_to_one_and_skip_padding(kind):
    torch.manual_seed(0)
    attention = Attention(kind, query_size=4, key_size=6)
    keys, query = torch.randn(2, 5, 6), torch.randn(2, 3, 4)
    mask = torch.tensor([[True] * 5, [False, False, True, True, True]])
    context, weights = attention(query, keys, attention.project_keys(keys), mask)
    assert context.shape == (2, 3, 6) and weights.shape == (2, 3, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3))
    assert (weights[1, :, :2] == 0).all() and (weights >= 0).all()
    torch.testing.assert_close(context, weights @ keys)


def test_luong_scores_are_the_general_bilinear_form():
    torch.manual_seed(0)
    attention = Attention("luong", 4, 6)
    keys, query = torch.randn(1, 5, 6), torch.randn(1, 1, 4)
    _, weights = attention(query, keys, attention.project_keys(keys), torch.ones(1, 5, dtype=torch.bool))
    W = attention.key_proj.weight  # (4, 6): e_j = qᵀ W k_j
    expected = torch.softmax(torch.einsum("q,qk,sk->s", query[0, 0], W, keys[0]), 0)
    torch.testing.assert_close(weights[0, 0], expected)


def test_bahdanau_scores_are_additive():
    torch.manual_seed(0)
    a = Attention("bahdanau", 4, 6)
    keys, query = torch.randn(1, 5, 6), torch.randn(1, 1, 4)
    _, weights = a(query, keys, a.project_keys(keys), torch.ones(1, 5, dtype=torch.bool))
    e = torch.stack([a.v(torch.tanh(a.query_proj(query[0, 0]) + a.key_proj(k)))[0] for k in keys[0]])
    torch.testing.assert_close(weights[0, 0], torch.softmax(e, 0))


# --- the encoder-decoder ---------------------------------------------------------------------
@pytest.mark.parametrize("attention", ["none", "bahdanau", "luong"])
@pytest.mark.parametrize("cell", [LSTMCell, GRUCell])
def test_shapes_and_gradients(attention, cell):
    net = model(attention, cell)
    x, y = batch()
    pred, state = net(x, target=y)
    assert pred.shape == (3, 5, V) and state is None
    torch.nn.functional.cross_entropy(pred.reshape(-1, V), y.reshape(-1), ignore_index=IGNORE).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    if attention != "none":
        w = net.attention_weights
        assert w.shape == (3, 5, 6)
        torch.testing.assert_close(w.sum(-1), torch.ones(3, 5))
        assert (w[0, :, :2] == 0).all()  # PAD positions get no attention


@pytest.mark.parametrize("attention", ["none", "luong"])
def test_one_call_teacher_forcing_equals_the_step_loop(attention):
    """With teacher forcing at every step the decoder may run in one call; it must equal the loop."""
    net = model(attention).train()
    x, y = batch()
    keys, _ = net.encoder(net.source_embedding(x))
    args = (keys, net.attention.project_keys(keys) if net.attention else None, x != PAD, net.summary(keys))
    torch.testing.assert_close(net._decode_all(y, *args), net._decode_steps(y, *args), atol=1e-6, rtol=1e-6)


def test_reference_and_fused_cores_give_the_same_outputs():
    x, y = batch()
    fused, reference = model(impl="auto"), model(impl="reference")
    assert fused.encoder.impl == "fused" and reference.encoder.impl == "reference"
    with torch.no_grad():
        for name, p in fused.named_parameters():
            if ".fused." not in name:
                reference.get_parameter(name).copy_(p)
    copy_fused_weights(fused.encoder, reference.encoder)
    copy_fused_weights(fused.decoder, reference.decoder)
    torch.testing.assert_close(fused(x, target=y)[0], reference(x, target=y)[0], atol=1e-6, rtol=1e-6)


def test_bidirectional_encoder_and_hybrid_core():
    x, y = batch()
    bi = model(bidirectional=True)
    assert bi.encoder.output_size == 16 and bi(x, target=y)[0].shape == (3, 5, V)
    torch.manual_seed(0)
    hybrid = Seq2Seq(
        functools.partial(StackedHybrid, hidden_size=8), InputSpec("tokens", V), V, max_output_len=7, bidirectional=True
    )
    assert hybrid(x, target=y)[0].shape == (3, 5, V)


def test_greedy_decoding_stops_at_eos_and_at_the_length_cap():
    net = model().eval()
    x, _ = batch()
    with torch.no_grad():
        assert net(x)[0].shape[1] <= 7
        net.out.bias.fill_(-1e4)
        net.out.bias[EOS] = 1e4  # EOS always wins
        assert net(x)[0].shape[1] == 1
        net.out.bias[EOS] = -1e4
        net.out.bias[SPECIALS] = 1e4  # never EOS: stops at max_output_len
        assert net(x)[0].shape[1] == 7


def test_evaluation_ignores_the_target_and_decodes_greedily():
    net = model().eval()
    x, y = batch()
    with torch.no_grad():
        torch.testing.assert_close(net(x, target=y)[0], net(x)[0][:, : net(x, target=y)[0].shape[1]])


def test_teacher_forcing_ratio_zero_feeds_back_the_models_own_tokens():
    """Ratio 0 in training is greedy decoding for as many steps as the target has."""
    x, y = batch()
    free = model(teacher_forcing=0.0).train()
    with torch.no_grad():
        trained_mode = free(x, target=y)[0]
        free.eval()
        greedy = free._decode_steps(None, *_encoded(free, x))
    torch.testing.assert_close(trained_mode, greedy[:, : y.shape[1]])
    forced = model(teacher_forcing=1.0).train()
    assert not torch.allclose(forced(x, target=y)[0], trained_mode)


def _encoded(net, x):
    keys, _ = net.encoder(net.source_embedding(x))
    return keys, net.attention.project_keys(keys), x != PAD, net.summary(keys)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(attention="dot"), "attention"),
        (dict(teacher_forcing=1.5), "teacher_forcing"),
        (dict(teacher_forcing=-0.1), "teacher_forcing"),
    ],
)
def test_bad_options(bad, match):
    with pytest.raises(ConfigError, match=match):
        model(**bad)


# --- edit distance and scoring ------------------------------------------------------------------
def levenshtein(a, b):
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, row[0] = row[:], i
        for j in range(1, len(b) + 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
    return row[len(b)]


def test_edit_distances_match_the_textbook_recurrence():
    r = random.Random(0)
    a = [[r.randrange(4) for _ in range(r.randrange(0, 10))] for _ in range(400)]
    b = [[r.randrange(4) for _ in range(r.randrange(0, 10))] for _ in range(400)]
    assert edit_distances(a, b).tolist() == [levenshtein(s, t) for s, t in zip(a, b)]
    assert edit_distances([[1, 2, 3]], [[1, 2, 3]]).tolist() == [0]
    assert edit_distances([[ord(c) for c in "kitten"]], [[ord(c) for c in "sitting"]]).tolist() == [3]


def test_score_decodes_up_to_eos():
    task = ReverseTask(seq_len=4, min_len=2, vocab_size=3, n_train=8, n_val=8, n_test=8)
    y = torch.tensor([[3, 4, EOS, IGNORE, IGNORE], [5, 5, 5, 3, EOS]])
    assert targets(y) == [[3, 4], [5, 5, 5, 3]]
    perfect = one_hot_logits([[3, 4, EOS, 5], [5, 5, 5, 3, EOS]], task.output_size)
    assert decoded(perfect.argmax(-1)) == [[3, 4], [5, 5, 5, 3]]
    assert task.score(perfect, y) == {"cer": 0.0, "exact_match": 1.0}
    one_off = one_hot_logits([[3, EOS], [5, 5, 4, 3, EOS]], task.output_size)  # a deletion, a substitution
    assert task.score(one_off, y) == pytest.approx({"cer": (1 / 2 + 1 / 4) / 2, "exact_match": 0.0})


# --- tasks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("operation", ["reverse", "sort"])
def test_reverse_and_sort_targets(operation):
    task = ReverseTask(operation=operation, seq_len=6, min_len=2, vocab_size=4, n_train=50, n_val=10, n_test=10)
    data = task.splits()["train"]
    assert data.x.shape == (len(data), 6) and data.y.shape == (len(data), 7)
    for x, t in zip(data.x, targets(data.y)):
        source = x[x != PAD].tolist()
        assert (x[: 6 - len(source)] == PAD).all()  # left-padded
        assert t == (source[::-1] if operation == "reverse" else sorted(source))
    baseline = task.baseline("test")
    assert 0 < baseline["cer"] <= 1 and task.model_args()["max_output_len"] == 7


def correction(**kw) -> TextCorrectionTask:
    options = dict(window=20, rate=0.1, n_train=2000, n_val=100, n_test=100, seed=0)
    return TextCorrectionTask(**{**options, **kw})


def test_text_correction_layout():
    task = correction()
    data = task.splits()["val"]
    assert data.y.shape == (100, 21) and (data.y[:, -1] == EOS).all()
    assert (data.x != BOS).all() and (data.x != EOS).all()
    clean = [task.text(t) for t in targets(data.y)]
    assert all(len(c) == 20 for c in clean)
    assert all("  " not in c and "\n" not in c for c in clean)  # whitespace collapsed


def test_corruption_is_deterministic_by_seed():
    a, b, c = correction().splits(), correction().splits(), correction(seed=1).splits()
    assert torch.equal(a["train"].x, b["train"].x) and torch.equal(a["test"].y, b["test"].y)
    assert not torch.equal(a["train"].x, c["train"].x)


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.3])
@pytest.mark.parametrize("operations", [["insert", "delete", "substitute", "swap"], ["swap"], ["swap", "insert"]])
def test_measured_edit_rate_matches_the_configured_rate(rate, operations):
    task = correction(rate=rate, operations=operations, n_train=4000)
    measured = task.measured_rate("train")  # 80,000 clean characters: σ of the rate ≈ 0.001–0.002
    assert measured == pytest.approx(rate, rel=0.06)


@pytest.mark.parametrize("operation", ["insert", "delete"])
def test_single_character_edits_are_exactly_the_identity_baselines_errors(operation):
    """k insertions (or deletions) are at Levenshtein distance exactly k, so the identity
    baseline's CER equals the measured edit rate."""
    task = correction(operations=[operation], n_test=500)
    assert task.baseline("test")["cer"] == pytest.approx(task.measured_rate("test"), rel=1e-9)


def test_substitutions_change_the_character_and_identity_cer_is_bounded_by_the_edits():
    task = correction(operations=["substitute"], n_test=500)
    data = task.splits()["test"]
    changed = sum(sum(a != b for a, b in zip(x[x != PAD].tolist(), t)) for x, t in zip(data.x, targets(data.y)))
    assert changed == task.edits["test"]  # every substitution changed its character
    cer = task.baseline("test")["cer"]
    assert 0.9 * task.measured_rate("test") <= cer <= task.measured_rate("test")


def test_swaps_exchange_neighbours():
    task = correction(operations=["swap"], rate=0.2, n_test=200)
    data = task.splits()["test"]
    for x, t in zip(data.x, targets(data.y)):
        s = x[x != PAD].tolist()
        assert sorted(s) == sorted(t) and len(s) == len(t)  # a permutation of the clean window
        diffs = [i for i in range(len(s)) if s[i] != t[i]]
        for i in diffs:  # every changed position sits in an exchanged pair
            assert (i + 1 < len(s) and s[i] == t[i + 1]) or (i > 0 and s[i] == t[i - 1])


def test_text_correction_examples_are_written(tmp_path):
    task = correction(n_test=10)
    task.n_examples = 3
    net = Seq2Seq(
        functools.partial(Recurrent, cell=GRUCell, hidden_size=8), task.input, task.output_size, task.max_output_len
    ).eval()
    with torch.no_grad():
        analysis = task.examine(net, tmp_path)
    assert len(analysis["examples"]) == 3
    assert set(analysis["examples"][0]) == {"input", "prediction", "target"}
    text = (tmp_path / "examples.txt").read_text()
    assert text.count("target") == 3 and analysis["examples"][0]["target"] in text


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(rate=0.6), "rate"),
        (dict(rate=-0.1), "rate"),
        (dict(window=1), "window"),
        (dict(operations=["typo"]), "operations"),
        (dict(operations=[]), "operations"),
        (dict(operations="swap"), "operations"),
        (dict(split=[0.5, 0.5]), "split"),
        (dict(corpus="nonsense"), "corpus"),
        (dict(operations=["swap"], rate=0.5, window=5), "rate cannot be reached .*at most 0.400"),
    ],
)
def test_text_correction_bad_options(bad, match):
    with pytest.raises(ConfigError, match=match):
        correction(**bad)


def test_text_correction_on_a_tiny_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("short text " * 20, encoding="utf-8")  # 5 % of it (val, test) is 11 characters
    with pytest.raises(UserError, match="fewer than dataset.window"):
        correction(corpus=str(path), window=20)
    task = correction(corpus=str(path), window=3, n_train=10, n_val=2, n_test=2)
    assert task.splits()["train"].y.shape == (10, 4)
