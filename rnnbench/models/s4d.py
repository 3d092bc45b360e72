"""S4D, the diagonal state-space layer (Gu, Gupta, Goel & Ré 2022, "On the Parameterization and
Initialization of Diagonal State Space Models"): per channel, N/2 complex modes of a linear
time-invariant system discretised by zero-order hold, read out through a nonlinearity.

    A = −exp(A_log) + i·A_im    (H, N/2)   S4D-Lin init: A_n = −½ + iπn
    Δ = exp(Δ_log)              (H,)       init log-uniform in [dt_min, dt_max]
    Ā = exp(ΔA),  C̃ = C ⊙ (Ā − 1)/A       zero-order hold with B = 1 folded into C (the paper's S4D)
    x_t = Ā ⊙ x_{t−1} + u_t                 x (B, H, N/2) complex, u_t (B, H)
    y_t = 2·Re(Σ_n C̃_n x_{t,n}) + D ⊙ u_t
    out_t = GLU(W GELU(y_t) + b)           W (2H, H): the paper's layer

Being time-invariant, the whole output is one causal convolution with the kernel
K_l = 2·Re(Σ_n C̃_n Ā_n^l): `forward_sequence` computes it with FFTs in O(T log T), the paper's
parallel form; the step (`forward`) is the recurrence, the reference loop. A carried state x adds
2·Re(Σ_n C̃_n Ā_n^{t+1} x_n) to step t's output and is advanced in closed form.

As in lru.py, a first layer whose input is I ≠ H wide starts with the deep model's linear encoder.
The paper trains A and Δ at a smaller learning rate without weight decay; here they train with the
rest. State: H·N/2 complex numbers, H·N real. Parameters of a layer with I = H: 2HN for A and C,
2H for Δ and D, 2H² + 2H for the output: 2H² + 2HN + 4H; plus IH + H for an encoder.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnbench.errors import ConfigError, check_float, check_int
from rnnbench.models.cell import Cell


class S4DCell(Cell):
    def __init__(
        self, input_size: int, hidden_size: int, state_dim: int = 64, dt_min: float = 1e-3, dt_max: float = 1e-1
    ):
        super().__init__(input_size, hidden_size)
        H, N = hidden_size, check_int("state_dim", state_dim, 2)
        if N % 2:
            raise ConfigError("state_dim", "must be even (N/2 complex modes)", N)
        dt_max = check_float("dt_max", dt_max, 0.0, low_open=True)
        dt_min = check_float("dt_min", dt_min, 0.0, dt_max, low_open=True)
        self.modes = N // 2
        self.encoder = nn.Linear(input_size, H) if input_size != H else None
        self.dt_log = nn.Parameter(torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        self.A_log = nn.Parameter(torch.full((H, self.modes), math.log(0.5)))
        self.A_im = nn.Parameter(math.pi * torch.arange(self.modes, dtype=torch.float32).repeat(H, 1))
        self.C = nn.Parameter(torch.randn(H, self.modes, 2) * math.sqrt(0.5))  # complex normal, (re, im)
        self.D = nn.Parameter(torch.randn(H))
        self.out = nn.Linear(H, 2 * H)

    def initial_state(self, batch_size: int, like: Tensor) -> Tensor:  # x (B, H, N/2) complex
        dtype = torch.promote_types(like.dtype, torch.complex64)
        return torch.zeros(batch_size, self.hidden_size, self.modes, dtype=dtype)

    def discretised(self) -> tuple[Tensor, Tensor]:
        """Ā and C̃, each (H, N/2) complex."""
        A = torch.complex(-torch.exp(self.A_log), self.A_im)
        dtA = A * torch.exp(self.dt_log).unsqueeze(-1)
        A_bar = torch.exp(dtA)
        return A_bar, torch.view_as_complex(self.C) * (A_bar - 1) / A

    def read_out(self, y: Tensor, u: Tensor) -> Tensor:  # y (…, H): 2·Re(C̃ x); + D ⊙ u, GELU, GLU
        return F.glu(self.out(F.gelu(y + self.D * u)), dim=-1)

    def forward(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:  # the recurrence, one step
        u = self.encoder(x_t) if self.encoder is not None else x_t  # (B, H)
        A_bar, C = self.discretised()
        state = A_bar * state + u.unsqueeze(-1)
        return self.read_out(2 * (C * state).sum(-1).real, u), state

    def forward_sequence(self, x: Tensor, state: Any = None) -> tuple[Tensor, Tensor]:
        """All steps as one convolution, by FFT."""
        u = self.encoder(x) if self.encoder is not None else x  # (B, T, H)
        T = u.shape[1]
        A_bar, C = self.discretised()
        powers = A_bar.unsqueeze(-1) ** torch.arange(T + 1, device=u.device)  # Ā^l, (H, N/2, T + 1)
        kernel = 2 * torch.einsum("hn,hnl->hl", C, powers[..., :T]).real  # K (H, T)
        n = 2 * T  # zero-padded: linear, not circular, convolution
        y = torch.fft.irfft(torch.fft.rfft(u.transpose(1, 2), n) * torch.fft.rfft(kernel, n), n)[..., :T]
        x_last = torch.einsum("bth,hnt->bhn", u.flip(1).to(powers.dtype), powers[..., :T])  # Σ_s Ā^{T−1−s} u_s
        if state is not None:  # the carried state's part: step t sees Ā^{t+1} x
            y = y + 2 * torch.einsum("hn,bhn,hnt->bht", C, state, powers[..., 1:]).real
            x_last = x_last + powers[..., T] * state
        return self.read_out(y.transpose(1, 2), u), x_last
