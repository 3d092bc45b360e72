"""LSTM cell (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000), in
torch's gate order i, f, g, o:

    i, f, g, o = split(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)
    c_t = σ(f) ⊙ c_{t−1} + σ(i) ⊙ tanh(g)
    h_t = σ(o) ⊙ tanh(c_t)

Parameters per layer: 4H(I + H) + 8H (torch's two biases).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnbench.models.cell import GateCell


class LSTMCell(GateCell):
    num_gates = 4

    def initial_state(self, batch_size: int, like: Tensor) -> tuple[Tensor, Tensor]:
        zeros = self.zeros(batch_size, like)
        return zeros, zeros

    def forward(self, xp_t: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = state
        i, f, g, o = (xp_t + self.project_hidden(h)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)

    @classmethod
    def fused(cls, input_size, hidden_size, num_layers, dropout, bidirectional=False):
        return nn.LSTM(
            input_size, hidden_size, num_layers, dropout=dropout, bidirectional=bidirectional, batch_first=True
        )
