"""A causal Transformer encoder (Vaswani et al. 2017; pre-norm blocks) as a non-recurrent core:

    z_0 = W_in x_t + b_in + p_t
    z_l = z_{l−1} + MHA(LN(z_{l−1})) with step t attending to steps ≤ t,  then  z_l + FFN(LN(z_l))
    y_t = LN(z_L)                                                          (B, T, hidden_size)

Positions p_t are learned (a table of max_len rows) or sinusoidal (fixed, any length).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from rnnbench.errors import ConfigError, check_choice, check_float, check_int


class CausalTransformer(nn.Module):
    def __init__(
        self,
        input_size: int,
        hidden_size: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        ff_mult: int = 4,
        dropout: float = 0.0,
        positions: str = "sinusoidal",
        max_len: int = 4096,
    ):
        super().__init__()
        check_int("hidden_size", hidden_size, 1)
        check_int("num_layers", num_layers, 1)
        check_int("num_heads", num_heads, 1)
        if hidden_size % num_heads:
            raise ConfigError("hidden_size", f"must be divisible by num_heads={num_heads}", hidden_size)
        check_int("ff_mult", ff_mult, 1)
        check_float("dropout", dropout, 0.0, 1.0)
        self.positions = check_choice("positions", positions, ("learned", "sinusoidal"))
        self.max_len = check_int("max_len", max_len, 1)
        self.input = nn.Linear(input_size, hidden_size)
        if positions == "learned":
            self.position = nn.Parameter(torch.randn(max_len, hidden_size) * 0.02)
        layer = nn.TransformerEncoderLayer(
            hidden_size, num_heads, ff_mult * hidden_size, dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden_size)
        self.output_size = hidden_size

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, None]:
        T = x.shape[1]
        if self.positions == "learned" and T > self.max_len:
            raise ConfigError("max_len", f"must be at least the sequence length {T} (learned positions)", self.max_len)
        z = self.input(x) + (self.position[:T] if self.positions == "learned" else sinusoid(T, self.output_size, x))
        mask = nn.Transformer.generate_square_subsequent_mask(T, device=x.device, dtype=z.dtype)
        return self.norm(self.encoder(z, mask=mask, is_causal=True)), None


def sinusoid(length: int, size: int, like: Tensor) -> Tensor:
    """p[t, 2k] = sin(t / 10000^{2k/size}), p[t, 2k+1] = cos(…)   (length, size)"""
    position = torch.arange(length, dtype=like.dtype, device=like.device).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, size, 2, dtype=like.dtype, device=like.device) * (-math.log(10000.0) / size))
    table = torch.zeros(length, size, dtype=like.dtype, device=like.device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)[:, : size // 2]
    return table
