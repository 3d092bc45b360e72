"""IndRNN (Li et al. 2018, "Independently Recurrent Neural Network"): one recurrent weight per
unit, so units interact only across layers.

    h_t = φ(W_ih x_t + b_ih + u ⊙ h_{t−1}),   φ = relu (default) or tanh,   |u| ≤ u_max

The paper bounds |u| to keep the gradient over T steps from exploding (for relu, u_max = γ^{1/T}
for a chosen bound γ on its growth). The constraint is a projection: before each forward pass u is
clipped into [−u_max, u_max] in place (projected gradient descent). u starts U(0, u_max).
Parameters per layer: H(I + 1) + H.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnbench.errors import check_choice, check_float
from rnnbench.models.cell import Cell
from rnnbench.models.rnn import NONLINEARITIES


class IndRNNCell(Cell):
    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "relu", u_max: float = 1.0):
        super().__init__(input_size, hidden_size)
        self.phi = NONLINEARITIES[check_choice("nonlinearity", nonlinearity, NONLINEARITIES)]
        self.u_max = check_float("u_max", u_max, 0.0, low_open=True)
        bound = 1.0 / math.sqrt(input_size)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size).uniform_(-bound, bound))
        self.bias_ih = nn.Parameter(torch.zeros(hidden_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size).uniform_(0.0, self.u_max))  # u

    def project_input(self, x: Tensor) -> Tensor:  # (B, T, I) -> (B, T, H); runs once per sequence
        with torch.no_grad():
            self.weight_hh.clamp_(-self.u_max, self.u_max)
        return F.linear(x, self.weight_ih, self.bias_ih)

    def forward(self, xp_t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        h = self.phi(xp_t + self.weight_hh * h)
        return h, h
