"""Convolutional recurrent cells: ConvLSTM (Shi et al. 2015) and ConvGRU (Ballas et al. 2016).

The LSTM and GRU equations of lstm.py and gru.py with every matrix product replaced by a 2-D
convolution ("same" padding, stride 1), so inputs, gates and states keep their spatial layout:

    x_t (B, I, height, width),  h_t, c_t (B, H, height, width),  W_ih (G·H, I, k, k),  W_hh (G·H, H, k, k)
    ConvLSTM:  i, f, g, o = split(W_ih ∗ x_t + b_ih + W_hh ∗ h_{t−1} + b_hh)       then as LSTMCell
    ConvGRU:   r, z = σ(W_i{r,z} ∗ x_t + W_h{r,z} ∗ h_{t−1} + b),
               n = tanh(W_in ∗ x_t + b_in + r ⊙ (W_hn ∗ h_{t−1} + b_hn)),
               h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

The forward passes are literally those of `LSTMCell` and `GRUCell` (gates split along dim 1), so
with a 1×1 kernel on a 1×1 image each equals its ordinary cell with the same weights (tested).
Two choices to know when comparing with the papers: no peephole terms W_c ⊙ c in ConvLSTM (Shi et
al. have them; most implementations drop them), and ConvGRU applies the reset gate after the
hidden convolution, as torch.nn.GRU does (Ballas et al. apply it to h before; same parameter count).

Parameters per layer: G·H·k²·(I + H) + 2·G·H, with G = 4 (ConvLSTM) or 3 (ConvGRU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnbench.errors import ConfigError, check_int
from rnnbench.models.cell import GateCell
from rnnbench.models.gru import GRUCell
from rnnbench.models.lstm import LSTMCell


class ConvGateCell(GateCell):
    """A GateCell whose projections are convolutions with a k×k kernel (k odd)."""

    def __init__(self, input_size: int, hidden_size: int, kernel_size: int = 3):
        self.kernel_size = check_int("kernel_size", kernel_size, 1, 31)
        if kernel_size % 2 == 0:
            raise ConfigError("kernel_size", "must be odd (the state keeps its height and width)", kernel_size)
        super().__init__(input_size, hidden_size, kernel=(kernel_size, kernel_size))

    def zeros(self, batch_size: int, like: Tensor) -> Tensor:  # like (B, T, I, height, width)
        return like.new_zeros(batch_size, self.hidden_size, *like.shape[-2:])

    def state_size(self, like: Tensor | None = None) -> int:
        """Per pixel: the state of a 1×1 frame."""
        return super().state_size(like if like is not None else torch.empty(1, 1, self.input_size, 1, 1))

    def project_input(self, x: Tensor) -> Tensor:  # (B, T, I, h, w) -> (B, T, G·H, h, w): one conv for all steps
        B, T = x.shape[:2]
        xp = F.conv2d(x.flatten(0, 1), self.weight_ih, self.bias_ih, padding=self.kernel_size // 2)
        return xp.unflatten(0, (B, T))

    def project_hidden(self, h: Tensor) -> Tensor:  # (B, H, h, w) -> (B, G·H, h, w)
        return F.conv2d(h, self.weight_hh, self.bias_hh, padding=self.kernel_size // 2)

    @classmethod
    def fused(cls, *args, **options) -> None:
        return None  # torch.nn has no convolutional LSTM/GRU


class ConvLSTMCell(ConvGateCell, LSTMCell):
    pass


class ConvGRUCell(ConvGateCell, GRUCell):
    pass
