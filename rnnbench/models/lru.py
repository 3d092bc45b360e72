"""LRU, the Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks
for Long Sequences"): a diagonal complex linear recurrence, stable by construction, read out
through a nonlinearity.

    λ = exp(−exp(ν) + i·exp(θ))                 (N,) complex, |λ| < 1 for any ν, θ
    γ = exp(γ_log), initialised to √(1 − |λ|²)  the paper's normalisation of the input
    x_t = λ ⊙ x_{t−1} + γ ⊙ (B u_t)             x (B, N) complex,  B ∈ ℂ^{N×H}
    y_t = Re(C x_t) + D ⊙ u_t                    C ∈ ℂ^{H×N},  D ∈ ℝ^H
    out_t = GLU(W GELU(y_t) + b)                 W (2H, H): the paper's block, y → GELU → GLU

u_t is the layer's input, H wide; a first layer whose input is I ≠ H wide starts with the linear
encoder of the paper's deep model, u_t = W_e x_t + b_e. No layer norm or residual around it: the
stack is `Recurrent`'s, as for every other cell. Initialisation as the paper: |λ| uniform on the
ring [r_min, r_max] (by area), phase uniform in [0, max_phase], B and C Glorot-like complex normal.
State: N complex numbers, 2N real. Parameters of a layer with I = H: 4NH + 3N + 2H² + 3H, plus
IH + H for the encoder of a first layer with I ≠ H.

`forward_sequence` solves the recurrence with the parallel scan in complex arithmetic (scan.py).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnbench.errors import check_float, check_int
from rnnbench.models.scan import LinearRecurrenceBlock, linear_recurrence


class LRUCell(LinearRecurrenceBlock):
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        state_dim: int | None = None,
        r_min: float = 0.9,
        r_max: float = 0.999,
        max_phase: float = 2 * math.pi,
    ):
        super().__init__(input_size, hidden_size)
        H, N = hidden_size, check_int("state_dim", state_dim if state_dim is not None else hidden_size, 1)
        r_max = check_float("r_max", r_max, 0.0, 1.0, low_open=True)
        r_min = check_float("r_min", r_min, 0.0, r_max)
        check_float("max_phase", max_phase, 0.0, 2 * math.pi, low_open=True)
        self.state_dim = N
        self.encoder = nn.Linear(input_size, H) if input_size != H else None
        u = torch.rand(N)
        self.nu_log = nn.Parameter(torch.log(-0.5 * torch.log(u * (r_max**2 - r_min**2) + r_min**2)))
        self.theta_log = nn.Parameter(torch.log(max_phase * torch.rand(N)))
        modulus = torch.exp(-torch.exp(self.nu_log.detach()))
        self.gamma_log = nn.Parameter(torch.log(torch.sqrt(1 - modulus**2)))
        self.B_re = nn.Parameter(torch.randn(N, H) / math.sqrt(2 * H))
        self.B_im = nn.Parameter(torch.randn(N, H) / math.sqrt(2 * H))
        self.C_re = nn.Parameter(torch.randn(H, N) / math.sqrt(N))
        self.C_im = nn.Parameter(torch.randn(H, N) / math.sqrt(N))
        self.D = nn.Parameter(torch.randn(H))
        self.out = nn.Linear(H, 2 * H)

    def initial_state(self, batch_size: int, like: Tensor) -> Tensor:  # x (B, N) complex
        return torch.zeros(batch_size, self.state_dim, dtype=torch.promote_types(like.dtype, torch.complex64))

    def forward_sequence(self, x: Tensor, state: Any = None) -> tuple[Tensor, Tensor]:
        u = self.encoder(x) if self.encoder is not None else x  # (B, T, H)
        lam = torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))  # (N,)
        Bu = torch.complex(F.linear(u, self.B_re), F.linear(u, self.B_im))  # (B, T, N)
        b = torch.exp(self.gamma_log) * Bu
        states = linear_recurrence(lam.expand_as(b), b, state)  # (B, T, N)
        y = F.linear(states.real, self.C_re) - F.linear(states.imag, self.C_im) + self.D * u  # Re(C x) + D ⊙ u
        return F.glu(self.out(F.gelu(y)), dim=-1), states[:, -1]
