"""Temporal convolutional network (Bai, Kolter & Koltun 2018) as a non-recurrent core.

Level l (dilation d = 2^l) is a residual block of two causal dilated convolutions:
    u = Dropout(ReLU(Conv_d(x))),  v = Dropout(ReLU(Conv_d(u))),  y = ReLU(v + R x)
where Conv_d is a weight-normalised Conv1d of kernel k that sees steps t − (k−1)d … t (left
padding), and R is a 1×1 convolution when the channel count changes (identity otherwise).
Receptive field: 1 + 2(k − 1)(2^L − 1) steps for L levels.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from rnnbench.errors import check_float, check_int


class CausalConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.left = (kernel_size - 1) * dilation
        # torch's default init. (The TCN reference code draws N(0, 0.01) into `weight` *after*
        # weight_norm, where the next forward pass recomputes it from g and v: a no-op. Drawing it
        # before would shrink g and stall training.)
        self.conv = weight_norm(nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation))

    def forward(self, x: Tensor) -> Tensor:  # (B, C, T) -> (B, C', T)
        return self.conv(F.pad(x, (self.left, 0)))


class TemporalBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.conv1 = CausalConv(in_channels, channels, kernel_size, dilation)
        self.conv2 = CausalConv(channels, channels, kernel_size, dilation)
        self.dropout = nn.Dropout(dropout)
        self.residual = nn.Identity()
        if in_channels != channels:
            self.residual = nn.Conv1d(in_channels, channels, 1)
            nn.init.normal_(self.residual.weight, 0.0, 0.01)  # as in the TCN reference code

    def forward(self, x: Tensor) -> Tensor:  # (B, C, T)
        u = self.dropout(F.relu(self.conv1(x)))
        v = self.dropout(F.relu(self.conv2(u)))
        return F.relu(v + self.residual(x))


class TCN(nn.Module):
    def __init__(
        self, input_size: int, hidden_size: int = 64, num_levels: int = 7, kernel_size: int = 6, dropout: float = 0.0
    ):
        super().__init__()
        check_int("hidden_size", hidden_size, 1)
        check_int("num_levels", num_levels, 1, 30)
        check_int("kernel_size", kernel_size, 2)
        check_float("dropout", dropout, 0.0, 1.0)
        self.blocks = nn.Sequential(
            *[
                TemporalBlock(input_size if level == 0 else hidden_size, hidden_size, kernel_size, 2**level, dropout)
                for level in range(num_levels)
            ]
        )
        self.receptive_field = 1 + 2 * (kernel_size - 1) * (2**num_levels - 1)
        self.output_size = hidden_size

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, None]:  # (B, T, I) -> (B, T, H)
        return self.blocks(x.transpose(1, 2)).transpose(1, 2), None
