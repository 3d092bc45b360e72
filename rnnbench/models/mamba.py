"""Mamba (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces"): the
selective state-space model S6 in the Mamba block.

The block, input I wide, output H wide, inner width E = expand·H, state N per channel:
    [v_t ; z_t] = W_in x_t                       (B, 2E), no bias
    u_t = SiLU(ShortConv(v)_t)                   causal depthwise convolution over k = 4 steps
    [δ_t ; B_t ; C_t] = W_x u_t                  δ (R), B_t, C_t (N): the selection, from the input
    Δ_t = softplus(W_Δ δ_t + b_Δ)                (E,), R = ⌈H/16⌉ (dt_rank)
    A = −exp(A_log)                              (E, N), S4D-Real init A_{e,n} = −(n + 1)
    h_t = exp(Δ_t A) ⊙ h_{t−1} + (Δ_t ⊙ u_t) B_tᵀ  h (B, E, N): zero-order hold of A, Euler of B
    y_t = h_t C_t + D ⊙ u_t
    out_t = W_out (y_t ⊙ SiLU(z_t))              (H), no bias

Initialisation as mamba_simple.py: Δ's bias so that softplus(b_Δ) is log-uniform in
[dt_min, dt_max] = [1e-3, 1e-1], W_Δ uniform ±R^−½, D = 1. The recurrence is selective_scan_ref of
the authors' repository (tested against it). No residual or norm around the block: the stack is
`Recurrent`'s, as for every cell. State: h (E·N) and the convolution's last k − 1 inputs ((k − 1)E):
E(N + k − 1) real numbers. Parameters: 2IE + (k + 1)E + E(R + 2N) + RE + E + EN + E + EH
= E(2I + H + 3N + 2R + k + 3).

`forward_sequence` solves the recurrence with the parallel scan over (B, T, E, N) (scan.py): it
holds T·E·N numbers per sample, as Mamba's scan without its fused kernel does.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnbench.errors import check_float, check_int
from rnnbench.models.scan import LinearRecurrenceBlock, linear_recurrence
from rnnbench.models.short_conv import ShortConv


def dt_bias(n: int, dt_min: float = 1e-3, dt_max: float = 1e-1) -> Tensor:
    """softplus⁻¹(Δ) for n step sizes Δ log-uniform in [dt_min, dt_max] (floor 1e-4): the bias that
    starts softplus(W_Δ δ + b_Δ) at those step sizes (mamba_simple.py; Mamba-2's decay too)."""
    dt = torch.exp(torch.rand(n) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=1e-4)
    return dt + torch.log(-torch.expm1(-dt))


class MambaCell(LinearRecurrenceBlock):
    parallel_tokens_up_to = 18_000  # impl=auto: the loop beyond this B·T on the CPU (measured, benchmarks/README.md)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        state_dim: int = 16,
        expand: int = 2,
        conv_size: int = 4,
        dt_rank: int | None = None,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
    ):
        super().__init__(input_size, hidden_size)
        N = self.state_dim = check_int("state_dim", state_dim, 1)
        E = self.inner = check_int("expand", expand, 1, 16) * hidden_size
        R = self.dt_rank = check_int("dt_rank", dt_rank if dt_rank is not None else math.ceil(hidden_size / 16), 1)
        dt_max = check_float("dt_max", dt_max, 0.0, low_open=True)
        dt_min = check_float("dt_min", dt_min, 0.0, dt_max, low_open=True)
        self.in_proj = nn.Linear(input_size, 2 * E, bias=False)
        self.conv = ShortConv(E, check_int("conv_size", conv_size, 1, 64))
        self.x_proj = nn.Linear(E, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, E)
        nn.init.uniform_(self.dt_proj.weight, -(R**-0.5), R**-0.5)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt_bias(E, dt_min, dt_max))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(E, 1))  # (E, N)
        self.D = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Linear(E, hidden_size, bias=False)

    def initial_state(self, batch_size: int, like: Tensor) -> tuple[Tensor, Tensor]:  # h (B, E, N), window
        return like.new_zeros(batch_size, self.inner, self.state_dim), self.conv.initial_window(batch_size, like)

    def forward_sequence(self, x: Tensor, state: Any = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, window = state if state is not None else self.initial_state(x.shape[0], x)
        v, z = self.in_proj(x).chunk(2, dim=-1)  # (B, T, E) each
        u, window = self.conv(v, window)
        u = F.silu(u)
        delta, B, C = self.x_proj(u).split([self.dt_rank, self.state_dim, self.state_dim], dim=-1)
        delta = F.softplus(self.dt_proj(delta)).unsqueeze(-1)  # Δ (B, T, E, 1)
        a = torch.exp(delta * -torch.exp(self.A_log))  # exp(Δ A), (B, T, E, N)
        b = (delta * u.unsqueeze(-1)) * B.unsqueeze(-2)  # (Δ ⊙ u) Bᵀ, (B, T, E, N)
        hs = linear_recurrence(a, b, h)  # (B, T, E, N)
        y = (hs @ C.unsqueeze(-1)).squeeze(-1) + self.D * u  # h C + D ⊙ u, (B, T, E)
        return self.out_proj(y * F.silu(z)), (hs[:, -1], window)
