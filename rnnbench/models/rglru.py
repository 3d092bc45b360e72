"""RG-LRU, the Real-Gated Linear Recurrent Unit, in the recurrent block of Hawk (De et al. 2024,
"Griffin: Mixing Gated Linear Recurrences with Local Attention for Efficient Language Models").

The block, input I wide, output H wide, recurrence E = H wide:
    g_t = GELU(W_g x_t + b_g)                    the gate branch, (B, E); tanh GELU as recurrentgemma
    u_t = ShortConv(W_u x_t + b_u)               causal depthwise convolution over k = 4 steps
    r_t = σ(W_a u_t + b_a),  i_t = σ(W_i u_t + b_i)    recurrence and input gates (block-diagonal
                                                 over `num_heads` heads, as in recurrentgemma)
    a_t = σ(Λ)^{c·r_t} = exp(−c·softplus(−Λ)·r_t),  c = 8
    h_t = a_t ⊙ h_{t−1} + √(1 − a_t²) ⊙ (i_t ⊙ u_t)
    y_t = W_o (h_t ⊙ g_t) + b_o

As in recurrentgemma's code, −Λ is the parameter (`a_param`: softplus(a_param) = −log σ(Λ)), and
σ(Λ) is initialised uniformly by area on the ring [0.9, 0.999]. recurrentgemma skips the √(1 − a²)
normalisation at a document's first token; here every step is normalised (no document boundaries).
State: h (E) and the convolution's last k − 1 inputs: kE real numbers (k = conv_size = 4).
Parameters with num_heads = n: 2(IE + E) for W_g, W_u; (k + 1)E for the convolution; 2(E²/n + E)
for the gates; E for Λ; EH + H for W_o.

`forward_sequence` solves the recurrence with the parallel scan (scan.py).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnbench.errors import ConfigError, check_int
from rnnbench.models.scan import LinearRecurrenceBlock, linear_recurrence
from rnnbench.models.short_conv import ShortConv

C = 8.0  # the paper's fixed scale of the recurrence gate's exponent


class BlockDiagonalLinear(nn.Module):
    """y = W x + b with W block-diagonal: `heads` independent (E/heads)² blocks (recurrentgemma's
    BlockDiagonalLinear, its blocks stored as torch.nn.Linear stores a weight: (out, in))."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        block = width // heads
        self.weight = nn.Parameter(torch.randn(heads, block, block) / math.sqrt(block))
        self.bias = nn.Parameter(torch.zeros(heads, block))

    def forward(self, x: Tensor) -> Tensor:  # (…, E) -> (…, E)
        blocks = x.chunk(self.heads, dim=-1)
        return torch.cat([F.linear(x_h, self.weight[h], self.bias[h]) for h, x_h in enumerate(blocks)], dim=-1)


class RGLRUCell(LinearRecurrenceBlock):
    def __init__(self, input_size: int, hidden_size: int, num_heads: int = 1, conv_size: int = 4):
        super().__init__(input_size, hidden_size)
        E = hidden_size
        heads = check_int("num_heads", num_heads, 1)
        if E % heads:
            raise ConfigError("num_heads", f"must divide hidden_size={E} (the gates are block-diagonal)", heads)
        self.gate_branch = nn.Linear(input_size, E)
        self.input_branch = nn.Linear(input_size, E)
        self.conv = ShortConv(E, check_int("conv_size", conv_size, 1, 64))
        self.recurrence_gate = BlockDiagonalLinear(E, heads)
        self.input_gate = BlockDiagonalLinear(E, heads)
        radius_log = 0.5 * torch.log(torch.empty(E).uniform_(0.9**2, 0.999**2))  # log a, by area on the ring
        self.a_param = nn.Parameter(torch.log(torch.expm1(-radius_log)))  # softplus(a_param) = −log a
        self.out = nn.Linear(E, hidden_size)

    def initial_state(self, batch_size: int, like: Tensor) -> tuple[Tensor, Tensor]:  # h (B, E), window
        return self.zeros(batch_size, like), self.conv.initial_window(batch_size, like)

    def forward_sequence(self, x: Tensor, state: Any = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, window = state if state is not None else self.initial_state(x.shape[0], x)
        g = F.gelu(self.gate_branch(x), approximate="tanh")  # (B, T, E)
        u, window = self.conv(self.input_branch(x), window)
        r, i = torch.sigmoid(self.recurrence_gate(u)), torch.sigmoid(self.input_gate(u))
        log_a = -C * r * F.softplus(self.a_param)
        a = torch.exp(log_a)
        b = torch.sqrt(-torch.expm1(2 * log_a)) * (i * u)  # √(1 − a²) without cancellation near a = 1
        hs = linear_recurrence(a, b, h)  # (B, T, E)
        return self.out(hs * g), (hs[:, -1], window)
