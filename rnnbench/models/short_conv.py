"""The short causal convolution of Mamba and Hawk/Griffin blocks: each channel convolved over the
last k time steps, before the recurrence.

    y_t = b + Σ_{j=0}^{k−1} w_j ⊙ x_{t−k+1+j}          x, y (B, T, E),  w (E, k),  b (E)

Its state is the last k − 1 inputs (B, k − 1, E), zeros at the start: the same function whether a
whole sequence or one step at a time is fed, so a step-by-step run and a resumed stream see
exactly what one call over the whole sequence sees.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ShortConv(nn.Module):
    def __init__(self, width: int, kernel_size: int = 4, bias: bool = True):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv = nn.Conv1d(width, width, kernel_size, groups=width, bias=bias)  # weight (E, 1, k), bias (E)

    def initial_window(self, batch_size: int, like: Tensor) -> Tensor:  # (B, k − 1, E)
        return like.new_zeros(batch_size, self.kernel_size - 1, self.conv.in_channels)

    def forward(self, x: Tensor, window: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, T, E), the previous k − 1 inputs (B, k − 1, E) → y (B, T, E), the last k − 1 inputs."""
        full = torch.cat([window, x], dim=1)  # (B, k − 1 + T, E)
        y = F.conv1d(full.transpose(1, 2), self.conv.weight, self.conv.bias, groups=x.shape[-1])
        return y.transpose(1, 2), full[:, full.shape[1] - (self.kernel_size - 1) :]
