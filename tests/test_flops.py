"""FLOP counts: the analytic recurrent formula, fused == reference, and convolutional cells."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from rnnbench.data.task import InputSpec
from rnnbench.models import Recurrent, SequenceModel
from rnnbench.models.conv_cells import ConvGRUCell, ConvLSTMCell
from rnnbench.models.encoder_forecaster import EncoderForecaster
from rnnbench.models.gru import GRUCell
from rnnbench.models.lstm import LSTMCell
from rnnbench.models.rnn import RNNCell
from rnnbench.training.flops import count_flops, rnn_flops


@pytest.mark.parametrize("cls, gates", [(nn.LSTM, 4), (nn.GRU, 3), (nn.RNN, 1)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_rnn_formula(cls, gates, bidirectional):
    module = cls(10, 20, num_layers=2, bidirectional=bidirectional, batch_first=True)
    d = 2 if bidirectional else 1
    per_token = d * 2 * gates * 20 * (10 + 20) + d * 2 * gates * 20 * (20 * d + 20)
    assert rnn_flops(module, 7) == 7 * per_token
    assert count_flops(module, torch.randn(3, 7, 10)) == 3 * 7 * per_token


@pytest.mark.parametrize("cell", [LSTMCell, GRUCell, RNNCell])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fused_and_reference_cells_count_the_same(cell, bidirectional):
    counts = []
    for impl in ("fused", "reference"):
        core = functools.partial(
            Recurrent, cell=cell, hidden_size=16, num_layers=2, impl=impl, bidirectional=bidirectional
        )
        model = SequenceModel(core, InputSpec("real", 5), 3, per_step=False)
        counts.append(count_flops(model, torch.randn(1, 9, 5)))
    assert counts[0] == counts[1] > 0


@pytest.mark.parametrize("cell, gates", [(ConvLSTMCell, 4), (ConvGRUCell, 3)])
def test_convolutional_cells(cell, gates):
    H, k, side, frames, horizon = 6, 3, 8, 4, 2
    model = EncoderForecaster(
        functools.partial(cell, kernel_size=k), InputSpec("frames", 1, (side, side)), 1, horizon=horizon, hidden_size=H
    )
    per_frame = 2 * gates * H * k * k * (1 + H) * side * side  # one layer, one frame
    head = 2 * H * 1 * side * side
    expected = (frames + horizon) * per_frame + horizon * head
    assert count_flops(model, torch.rand(1, frames, 1, side, side)) == expected
