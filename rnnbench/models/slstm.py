"""sLSTM, the scalar-memory LSTM of xLSTM (Beck, Pöppel, Spanring, Auer, Prudnikova, Kopp,
Klambauer, Brandstetter & Hochreiter 2024, "xLSTM: Extended Long Short-Term Memory", eqs. 8–17):
an LSTM with exponential input gating, a normaliser state and memory mixing within heads.

    ĩ, f̃, z̃, õ = W x_t + R h_{t−1} + b         W (4H, I) dense; R block-diagonal over n heads:
                                                 h mixes only within its head of d = H/n units
    m_t = max(log σ(f̃) + m_{t−1}, ĩ)            the stabiliser: exp(·) never sees a positive number
    i_t = exp(ĩ − m_t),  f_t = exp(log σ(f̃) + m_{t−1} − m_t)
    c_t = f_t ⊙ c_{t−1} + i_t ⊙ tanh(z̃)         cell
    n_t = f_t ⊙ n_{t−1} + i_t                    normaliser
    h_t = σ(õ) ⊙ c_t / n_t                       fed back through R
    y_t = GroupNorm_n(h_t)                       per-head layer norm, a gain per unit

m cancels in c/n, so h is the unstabilised exp-gated LSTM's; m_0 = −∞ makes the first step take
m_1 = ĩ_1 (so n_t ≥ 1 at every step), as the xlstm package's vanilla backend does when n = 0. The
forget gate is a sigmoid and the initialisation is that package's (tested against its
`slstm_forward_pointwise`): R = 0, W ~ N(0, 2/(5I)), the forget bias 5 − 12 (j/(d−1))^0.3 over a
head's units j (from 5 to −7: timescales from long to short), the other biases 0.
The xlstm sLSTM layer also feeds ĩ, f̃ from a causal convolution of x over 4 steps; the paper's
equations have none, and this cell leaves it out. The recurrence is not linear in its state: the
cell has no parallel form, and trains by the loop (`impl=reference`).

State: h, c, n, m: 4H real numbers. Parameters: 4HI + 4H²/n + 4H + H.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnbench.errors import ConfigError, check_int
from rnnbench.models.cell import Cell


class SLSTMCell(Cell):
    def __init__(self, input_size: int, hidden_size: int, num_heads: int = 4):
        super().__init__(input_size, hidden_size)
        H = hidden_size
        self.heads = check_int("num_heads", num_heads, 1)
        if H % self.heads:
            raise ConfigError("num_heads", f"must divide hidden_size={H} (R is block-diagonal over heads)", num_heads)
        d = H // self.heads
        self.weight_ih = nn.Parameter(torch.randn(4 * H, input_size) * math.sqrt(2 / (5 * input_size)))
        self.weight_hh = nn.Parameter(torch.zeros(self.heads, 4 * d, d))  # per head: d units → its 4 gates
        forget = 5 - 12 * torch.linspace(0, 1, d) ** 0.3  # per unit of a head, as xlstm's powerlaw init
        bias = torch.zeros(self.heads, 4, d)
        bias[:, 1] = forget
        self.bias = nn.Parameter(bias.transpose(0, 1).reshape(4 * H))  # gate-major: [ĩ ; f̃ ; z̃ ; õ]
        self.norm = nn.Parameter(torch.ones(H))

    def initial_state(self, batch_size: int, like: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        zeros = self.zeros(batch_size, like)
        return zeros, zeros, zeros, torch.full_like(zeros, -math.inf)  # h, c, n, m

    def project_input(self, x: Tensor) -> Tensor:  # (B, T, I) -> (B, T, 4H)
        return F.linear(x, self.weight_ih, self.bias)

    def forward(self, xp_t: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        h, c, n, m = state
        heads = h.chunk(self.heads, dim=1)  # memory mixing within a head only
        mixed = torch.stack([F.linear(h_j, self.weight_hh[j]) for j, h_j in enumerate(heads)], dim=1)
        raw = xp_t + mixed.unflatten(-1, (4, -1)).transpose(1, 2).flatten(1)  # heads' gates → gate-major
        i, f, z, o = raw.chunk(4, dim=1)
        log_f = F.logsigmoid(f)
        m_new = torch.maximum(log_f + m, i)
        i, f = torch.exp(i - m_new), torch.exp(log_f + m - m_new)
        c = f * c + i * torch.tanh(z)
        n = f * n + i
        h = torch.sigmoid(o) * c / n
        y = F.layer_norm(h.unflatten(-1, (self.heads, -1)), (h.shape[-1] // self.heads,), eps=1e-5).flatten(1)
        return y * self.norm, (h, c, n, m_new)
