"""GRU cell (Cho et al. 2014), in torch's form and gate order r, z, n:

    r = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)
    z = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)
    n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t−1} + b_hn))
    h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

Parameters per layer: 3H(I + H) + 6H.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnbench.models.cell import GateCell


class GRUCell(GateCell):
    num_gates = 3

    def forward(self, xp_t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        # r and z in one sigmoid, and lerp for the last line: fewer, larger operations per step
        # (a step of small tensors costs its operations' dispatch, not their arithmetic)
        xrz, xn = xp_t.split([2 * self.hidden_size, self.hidden_size], dim=1)
        hrz, hn = self.project_hidden(h).split([2 * self.hidden_size, self.hidden_size], dim=1)
        r, z = torch.sigmoid(xrz + hrz).chunk(2, dim=1)
        n = torch.tanh(xn + r * hn)
        h = torch.lerp(n, h, z)  # (1 − z) ⊙ n + z ⊙ h
        return h, h

    @classmethod
    def fused(cls, input_size, hidden_size, num_layers, dropout, bidirectional=False):
        return nn.GRU(
            input_size, hidden_size, num_layers, dropout=dropout, bidirectional=bidirectional, batch_first=True
        )
