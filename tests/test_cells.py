"""Reference cells (written from the equations) compute exactly what torch's fused kernels do."""

from __future__ import annotations

import functools

import pytest
import torch

from rnnbench.models import Recurrent
from rnnbench.models.gru import GRUCell
from rnnbench.models.lstm import LSTMCell
from rnnbench.models.rnn import RNNCell

CELLS = {
    "rnn_tanh": functools.partial(RNNCell, nonlinearity="tanh"),
    "rnn_relu": functools.partial(RNNCell, nonlinearity="relu"),
    "lstm": functools.partial(LSTMCell),
    "gru": functools.partial(GRUCell),
}


def fused_and_reference(cell, num_layers, bidirectional=False, input_size=5, hidden_size=7):
    torch.manual_seed(0)
    fused = Recurrent(input_size, cell, hidden_size, num_layers, impl="fused", bidirectional=bidirectional).double()
    reference = Recurrent(
        input_size, cell, hidden_size, num_layers, impl="reference", bidirectional=bidirectional
    ).double()
    copy_fused_weights(fused, reference)
    return fused, reference


def paired_parameters(fused, reference):
    """(reference cell parameter, fused parameter) pairs: the names differ only by the layer suffix."""
    stacks = [("", reference.layers)] + ([("_reverse", reference.layers_reverse)] if reference.bidirectional else [])
    for suffix, layers in stacks:
        for k, layer in enumerate(layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                yield getattr(layer, name), getattr(fused.fused, f"{name}_l{k}{suffix}")


def copy_fused_weights(fused, reference):
    with torch.no_grad():
        for ours, theirs in paired_parameters(fused, reference):
            ours.copy_(theirs)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("name", CELLS)
def test_reference_cell_equals_fused_kernel(name, num_layers, bidirectional):
    fused, reference = fused_and_reference(CELLS[name], num_layers, bidirectional)
    assert fused.impl == "fused" and reference.impl == "reference"
    assert fused.output_size == reference.output_size == 7 * (2 if bidirectional else 1)
    x = torch.randn(3, 11, 5, dtype=torch.float64)
    x_fused, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_fused, _ = fused(x_fused)
    y_ref, _ = reference(x_ref)
    torch.testing.assert_close(y_ref, y_fused, rtol=1e-6, atol=1e-6)
    weights = torch.randn_like(y_fused)  # a loss that touches every output
    (y_fused * weights).sum().backward()
    (y_ref * weights).sum().backward()
    torch.testing.assert_close(x_ref.grad, x_fused.grad, rtol=1e-6, atol=1e-6)
    for ours, theirs in paired_parameters(fused, reference):
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-6, atol=1e-6)


def test_reference_cell_matches_in_float32_too():
    fused, reference = fused_and_reference(CELLS["lstm"], 1)
    fused, reference = fused.float(), reference.float()
    x = torch.randn(4, 50, 5)
    torch.testing.assert_close(reference(x)[0], fused(x)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name, gates", [("rnn_tanh", 1), ("gru", 3), ("lstm", 4)])
@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_parameter_count_matches_closed_form(name, gates, impl):
    """Per layer G·H(I + H) + 2·G·H (torch's two biases); later layers have I = H."""
    I, H, L = 6, 10, 3
    core = Recurrent(I, CELLS[name], H, L, impl=impl)
    expected = gates * H * (I + H) + 2 * gates * H + (L - 1) * (gates * H * (H + H) + 2 * gates * H)
    assert sum(p.numel() for p in core.parameters()) == expected


def test_lstm_has_four_thirds_the_parameters_of_gru():
    lstm = sum(p.numel() for p in Recurrent(8, CELLS["lstm"], 32).parameters())
    gru = sum(p.numel() for p in Recurrent(8, CELLS["gru"], 32).parameters())
    assert lstm * 3 == gru * 4


def test_reference_state_carries_over_between_chunks():
    """Running a sequence in two halves with the state carried equals running it whole."""
    _, reference = fused_and_reference(CELLS["lstm"], 2)
    x = torch.randn(2, 10, 5, dtype=torch.float64)
    whole, _ = reference(x)
    first, state = reference(x[:, :6])
    second, _ = reference(x[:, 6:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
