"""Elman RNN cell (Elman 1990):

h_t = φ(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh),   φ = tanh (default) or relu
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnbench.errors import check_choice
from rnnbench.models.cell import GateCell

NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


class RNNCell(GateCell):
    num_gates = 1

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh"):
        super().__init__(input_size, hidden_size)
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        self.phi = NONLINEARITIES[nonlinearity]

    def forward(self, xp_t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        h = self.phi(xp_t + self.project_hidden(h))
        return h, h

    @classmethod
    def fused(cls, input_size, hidden_size, num_layers, dropout, bidirectional=False, nonlinearity="tanh"):
        check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        return nn.RNN(
            input_size,
            hidden_size,
            num_layers,
            nonlinearity=nonlinearity,
            dropout=dropout,
            bidirectional=bidirectional,
            batch_first=True,
        )
