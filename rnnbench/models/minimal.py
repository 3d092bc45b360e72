"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): gates that depend only on
x_t, so the recurrence is diagonal and linear in h and trains as a parallel scan (scan.py).

    minGRU   z = σ(k),  h̃ = g(v),               h_t = (1 − z) ⊙ h_{t−1} + z ⊙ h̃
             [k ; v] = W x_t + b                       parameters per layer: 2H(I + 1)
    minLSTM  f = σ(k_f), i = σ(k_i), h̃ = g(v),  f' = f / (f + i),  i' = i / (f + i)
             h_t = f' ⊙ h_{t−1} + i' ⊙ h̃
             [k_f ; k_i ; v] = W x_t + b                parameters per layer: 3H(I + 1)

g(v) = v + 0.5 for v ≥ 0, σ(v) otherwise (positive and continuous, the paper's choice). As the
scan's coefficients (scan.py): minGRU a = 1 − z = σ(−k), b = z ⊙ g(v); minLSTM, with
d = softplus(−k_f) − softplus(−k_i) = log i − log f, a = f' = σ(−d) and b = i' ⊙ g(v) = σ(d) ⊙ g(v)
(computed so, f + i never underflows to 0/0). ``impl=scan`` (what ``auto`` picks) trains with the
scan; ``impl=reference`` runs the same recurrence step by step, as at generation time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnbench.models.scan import ScanCell


def g(v: Tensor) -> Tensor:
    """v + 0.5 for v ≥ 0, σ(v) otherwise."""
    return torch.where(v >= 0, F.relu(v) + 0.5, torch.sigmoid(v))


class MinGRUCell(ScanCell):
    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size)
        self.linear = nn.Linear(input_size, 2 * hidden_size)

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k, v = self.linear(x).chunk(2, dim=-1)
        return torch.sigmoid(-k), torch.sigmoid(k) * g(v)


class MinLSTMCell(ScanCell):
    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size)
        self.linear = nn.Linear(input_size, 3 * hidden_size)

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k_f, k_i, v = self.linear(x).chunk(3, dim=-1)
        d = F.softplus(-k_f) - F.softplus(-k_i)
        return torch.sigmoid(-d), torch.sigmoid(d) * g(v)
