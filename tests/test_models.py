"""The architecture zoo: each variant against its equations, parameter formulas, scan against
loop, causality of the baselines, readouts and the bidirectional guard."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from rnnbench.config import instantiate
from rnnbench.errors import ConfigError, UserError
from rnnbench.models import Recurrent
from rnnbench.models.hybrid import ParallelHybrid, StackedHybrid
from rnnbench.models.indrnn import IndRNNCell
from rnnbench.models.lstm import LSTMCell
from rnnbench.models.lstm_variants import VariantLSTMCell
from rnnbench.models.minimal import MinGRUCell, MinLSTMCell
from rnnbench.models.readout import Readout
from rnnbench.models.tcn import TCN
from rnnbench.models.transformer import CausalTransformer, sinusoid
from rnnbench.training.build import build_model
from tests.conftest import compose_config

I, H = 5, 6


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- LSTM variants -------------------------------------------------------------------------------


def test_variant_cell_with_switches_off_is_the_plain_lstm():
    torch.manual_seed(0)
    plain, variant = LSTMCell(I, H).double(), VariantLSTMCell(I, H).double()
    variant.load_state_dict(plain.state_dict())
    x = torch.randn(3, 9, I, dtype=torch.float64)
    state_p = state_v = plain.initial_state(3, x)
    for xp_p, xp_v in zip(plain.project_input(x).unbind(1), variant.project_input(x).unbind(1)):
        h_p, state_p = plain(xp_p, state_p)
        h_v, state_v = variant(xp_v, state_v)
        torch.testing.assert_close(h_v, h_p, rtol=1e-12, atol=1e-12)
    assert Recurrent(I, functools.partial(VariantLSTMCell), H).impl == "fused"  # so it runs on nn.LSTM


def one_step(cell, x, h, c):
    return cell(cell.project_input(x.unsqueeze(1)).squeeze(1), (h, c))


@pytest.fixture
def step_inputs():
    torch.manual_seed(1)
    return (
        torch.randn(4, I, dtype=torch.float64),
        torch.randn(4, H, dtype=torch.float64),
        torch.randn(4, H, dtype=torch.float64),
    )


def pre_activations(cell, x, h):
    return (F.linear(x, cell.weight_ih, cell.bias_ih) + F.linear(h, cell.weight_hh, cell.bias_hh)).chunk(
        cell.num_gates, -1
    )


def test_peephole_equations(step_inputs):
    x, h, c = step_inputs
    cell = VariantLSTMCell(I, H, peephole=True).double()
    a_i, a_f, a_g, a_o = pre_activations(cell, x, h)
    p_i, p_f, p_o = cell.peephole
    c_new = torch.sigmoid(a_f + p_f * c) * c + torch.sigmoid(a_i + p_i * c) * torch.tanh(a_g)
    h_new = torch.sigmoid(a_o + p_o * c_new) * torch.tanh(c_new)
    out, (_, c_out) = one_step(cell, x, h, c)
    torch.testing.assert_close(c_out, c_new)
    torch.testing.assert_close(out, h_new)


@pytest.mark.parametrize("switch", ["cifg", "no_forget"])
def test_coupled_and_missing_forget_gate_equations(step_inputs, switch):
    x, h, c = step_inputs
    cell = VariantLSTMCell(I, H, **{switch: True}).double()
    a_i, a_g, a_o = pre_activations(cell, x, h)
    i = torch.sigmoid(a_i)
    f = 1 - i if switch == "cifg" else torch.ones_like(i)
    c_new = f * c + i * torch.tanh(a_g)
    out, (_, c_out) = one_step(cell, x, h, c)
    torch.testing.assert_close(c_out, c_new)
    torch.testing.assert_close(out, torch.sigmoid(a_o) * torch.tanh(c_new))


def test_layer_norm_lstm_equations(step_inputs):
    x, h, c = step_inputs
    cell = VariantLSTMCell(I, H, layer_norm=True).double()
    with torch.no_grad():  # non-trivial gains and bias
        for p in (cell.norm_ih.weight, cell.norm_hh.weight, cell.norm_c.weight, cell.norm_c.bias):
            p.uniform_(0.5, 1.5)
    G = 4 * H
    a = (
        F.layer_norm(x @ cell.weight_ih.T, (G,)) * cell.norm_ih.weight
        + cell.bias_ih
        + F.layer_norm(h @ cell.weight_hh.T, (G,)) * cell.norm_hh.weight
        + cell.bias_hh
    )
    a_i, a_f, a_g, a_o = a.chunk(4, -1)
    c_new = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
    h_new = torch.sigmoid(a_o) * torch.tanh(F.layer_norm(c_new, (H,), cell.norm_c.weight, cell.norm_c.bias))
    out, _ = one_step(cell, x, h, c)
    torch.testing.assert_close(out, h_new)


def test_cifg_and_nfg_together_is_an_error():
    with pytest.raises(ConfigError, match="cifg and no_forget cannot both be true"):
        VariantLSTMCell(I, H, cifg=True, no_forget=True)


@pytest.mark.parametrize(
    "switches, expected",
    [
        ({}, 4 * H * (I + H) + 8 * H),
        ({"peephole": True}, 4 * H * (I + H) + 8 * H + 3 * H),
        ({"cifg": True}, 3 * H * (I + H) + 6 * H),
        ({"no_forget": True, "peephole": True}, 3 * H * (I + H) + 6 * H + 2 * H),
        ({"layer_norm": True}, 4 * H * (I + H) + 8 * H + 2 * 4 * H + 2 * H),
    ],
)
def test_variant_parameter_counts(switches, expected):
    assert n_params(VariantLSTMCell(I, H, **switches)) == expected


# --- minGRU / minLSTM: scan against loop ---------------------------------------------------------


@pytest.mark.parametrize("cell", [MinGRUCell, MinLSTMCell])
@pytest.mark.parametrize("T", [2000, 1000, 37, 5, 2, 1])  # every parity along the odd–even recursion
def test_scan_equals_sequential_outputs_and_gradients(cell, T):
    torch.manual_seed(0)
    scan = Recurrent(3, cell, 8, num_layers=2, impl="scan").double()
    loop = Recurrent(3, cell, 8, num_layers=2, impl="reference").double()
    loop.load_state_dict(scan.state_dict())
    x = torch.randn(2, T, 3, dtype=torch.float64)
    y_scan, _ = scan(x)
    y_loop, _ = loop(x)
    torch.testing.assert_close(y_scan, y_loop, rtol=1e-9, atol=1e-9)
    weights = torch.randn_like(y_scan)
    (y_scan * weights).sum().backward()
    (y_loop * weights).sum().backward()
    for (name, p_scan), p_loop in zip(scan.named_parameters(), loop.parameters()):
        torch.testing.assert_close(p_scan.grad, p_loop.grad, rtol=1e-7, atol=1e-9, msg=name)


@pytest.mark.parametrize("cell", [MinGRUCell, MinLSTMCell])
def test_scan_stays_finite_and_close_in_float32_at_long_T(cell):
    torch.manual_seed(0)
    scan = Recurrent(3, cell, 16, impl="scan")
    loop = Recurrent(3, cell, 16, impl="reference")
    loop.load_state_dict(scan.state_dict())
    x = torch.randn(2, 4000, 3) * 3
    y_scan, _ = scan(x)
    assert torch.isfinite(y_scan).all()
    torch.testing.assert_close(y_scan, loop(x)[0], rtol=1e-4, atol=1e-4)


def test_scan_carries_state_across_calls():
    scan = Recurrent(3, MinGRUCell, 8, impl="scan").double()
    x = torch.randn(2, 19, 3, dtype=torch.float64)
    whole, _ = scan(x)
    first, state = scan(x[:, :7])
    second, _ = scan(x[:, 7:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


def test_parallel_scan_solves_the_recurrence_with_saturated_coefficients():
    """a_t at 0 and 1 and b_t over 30 orders of magnitude: the real-space scan needs no division."""
    from rnnbench.models.scan import parallel_scan

    torch.manual_seed(0)
    a = torch.rand(3, 999, 4).pow(torch.randint(0, 50, (3, 999, 4)))  # many a_t tiny or exactly 0
    a[:, ::7] = 1.0
    b = torch.rand(3, 999, 4) * 10.0 ** torch.randint(-15, 15, (3, 999, 4))
    h, expected = torch.zeros(3, 4), []
    for a_t, b_t in zip(a.unbind(1), b.unbind(1)):
        h = a_t * h + b_t
        expected.append(h)
    torch.testing.assert_close(parallel_scan(a, b), torch.stack(expected, 1), rtol=1e-5, atol=0)


def test_minimal_parameter_counts():
    assert n_params(MinGRUCell(I, H)) == 2 * H * (I + 1)
    assert n_params(MinLSTMCell(I, H)) == 3 * H * (I + 1)


def test_impl_scan_needs_a_parallel_form():
    with pytest.raises(ConfigError, match="impl is 'scan' but LSTMCell has no parallel form"):
        Recurrent(I, LSTMCell, H, impl="scan")


# --- IndRNN ---------------------------------------------------------------------------------------


def test_indrnn_equation_and_constraint():
    cell = IndRNNCell(I, H, u_max=0.5).double()
    with torch.no_grad():
        cell.weight_hh.fill_(3.0)  # outside the allowed range
    x, h = torch.randn(2, 1, I, dtype=torch.float64), torch.randn(2, H, dtype=torch.float64)
    xp = cell.project_input(x).squeeze(1)
    assert torch.all(cell.weight_hh == 0.5), "projected back into [-u_max, u_max]"
    out, _ = cell(xp, h)
    torch.testing.assert_close(out, torch.relu(x.squeeze(1) @ cell.weight_ih.T + cell.bias_ih + 0.5 * h))
    assert n_params(cell) == H * (I + 1) + H


# --- hybrids --------------------------------------------------------------------------------------


def lstm_layer(i, h):
    return 4 * h * (i + h) + 8 * h


def gru_layer(i, h):
    return 3 * h * (i + h) + 6 * h


@pytest.mark.parametrize("order", ["lstm_first", "gru_first"])
def test_stacked_hybrid_structure_and_count(order):
    core = StackedHybrid(I, H, lstm_layers=2, gru_layers=1, order=order)
    expected = (
        lstm_layer(I, H) + lstm_layer(H, H) + gru_layer(H, H)
        if order == "lstm_first"
        else gru_layer(I, H) + lstm_layer(H, H) + lstm_layer(H, H)
    )
    assert n_params(core) == expected
    assert core.first.impl == ("fused" if order == "lstm_first" else "compiled")  # each its fastest kernel
    y, _ = core(torch.randn(2, 7, I))
    assert y.shape == (2, 7, H)


@pytest.mark.parametrize("fusion", ["gate", "concat"])
def test_parallel_hybrid_fusion(fusion):
    core = ParallelHybrid(I, H, fusion=fusion).double()
    assert n_params(core) == lstm_layer(I, H) + gru_layer(I, H) + 2 * H * H + H
    x = torch.randn(2, 7, I, dtype=torch.float64)
    u, v = core.lstm(x)[0], core.gru(x)[0]
    mixed = core.mix(torch.cat([u, v], -1))
    expected = mixed if fusion == "concat" else torch.sigmoid(mixed) * u + (1 - torch.sigmoid(mixed)) * v
    torch.testing.assert_close(core(x)[0], expected)


# --- non-recurrent baselines are causal -------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: CausalTransformer(I, 8, num_heads=2, positions="learned"),
        lambda: CausalTransformer(I, 8, num_heads=2, positions="sinusoidal"),
        lambda: TCN(I, 8, num_levels=3, kernel_size=3),
    ],
)
def test_baselines_never_look_ahead(make):
    core = make().eval()
    x = torch.randn(2, 20, I)
    changed = x.clone()
    changed[:, 12:] = torch.randn(2, 8, I)
    y, y_changed = core(x)[0], core(changed)[0]
    torch.testing.assert_close(y[:, :12], y_changed[:, :12])
    assert not torch.allclose(y[:, 12:], y_changed[:, 12:])


def test_tcn_receptive_field():
    tcn = TCN(1, 4, num_levels=2, kernel_size=3).eval()  # 1 + 2·2·3 = 13 steps
    assert tcn.receptive_field == 13
    with torch.no_grad():  # positive weights and inputs: no ReLU is dead, every path carries a change
        for p in tcn.parameters():
            p.fill_(0.1)
    x = torch.rand(1, 30, 1)
    probe = x.clone()
    probe[:, 29 - 12] += 1.0  # the oldest step the last output can see
    assert not torch.allclose(tcn(x)[0][:, -1], tcn(probe)[0][:, -1])
    probe = x.clone()
    probe[:, 29 - 13] += 1.0  # one step too old
    torch.testing.assert_close(tcn(x)[0][:, -1], tcn(probe)[0][:, -1])


def test_learned_positions_have_a_length_limit():
    with pytest.raises(ConfigError, match="max_len must be at least the sequence length 9"):
        CausalTransformer(I, 8, num_heads=2, positions="learned", max_len=8)(torch.randn(1, 9, I))


def test_sinusoid_table():
    table = sinusoid(5, 7, torch.zeros(1))
    assert table.shape == (5, 7)
    torch.testing.assert_close(table[:, 0], torch.sin(torch.arange(5.0)))
    torch.testing.assert_close(table[:, 1], torch.cos(torch.arange(5.0)))


# --- readouts and the bidirectional guard -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["attention", "dot_attention"])
def test_attention_weights_sum_to_one(kind):
    readout = Readout(kind, 6)
    y = torch.randn(3, 10, 6)
    pooled = readout(y)
    assert pooled.shape == (3, 6)
    torch.testing.assert_close(readout.weights.sum(1), torch.ones(3))
    torch.testing.assert_close(pooled, (readout.weights.unsqueeze(-1) * y).sum(1))


def test_bidirectional_last_readout_takes_each_direction_final_state():
    y = torch.randn(2, 5, 8)
    out = Readout("last", 8, bidirectional=True)(y)
    torch.testing.assert_close(out, torch.cat([y[:, -1, :4], y[:, 0, 4:]], -1))


def build(*overrides):
    cfg = compose_config(*overrides)
    task = instantiate("dataset", cfg.dataset)
    return build_model(cfg.model, task), task


@pytest.mark.parametrize("model", ["lstm", "hybrid_parallel", "mingru"])
def test_bidirectional_works_on_sequence_tasks_and_is_refused_on_causal_ones(model):
    net, task = build(f"model={model}", "dataset=adding", "model.bidirectional=true")
    assert net.core.bidirectional and net.core.output_size == 16
    x = task.splits()["train"].x[:3]
    assert net(x)[0].shape == (3, 1)
    with pytest.raises(UserError, match="model.bidirectional must be false for this task"):
        build(f"model={model}", "dataset=copy", "model.bidirectional=true")


@pytest.mark.parametrize("readout", ["last", "mean", "attention", "dot_attention"])
def test_every_readout_trains_on_a_sequence_task(readout):
    net, task = build("model=gru", "dataset=parity", f"model.readout={readout}")
    data = task.splits()["train"]
    loss = task.loss(net(data.x[:8])[0], data.y[:8])
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
