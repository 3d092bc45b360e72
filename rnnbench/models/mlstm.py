"""mLSTM, the matrix-memory LSTM of xLSTM (Beck et al. 2024, "xLSTM: Extended Long Short-Term
Memory", eqs. 19–27), in the xlstm package's mLSTM layer.

The layer, input I wide, output H wide, inner width E = proj_factor·H, n heads of d = E/n:
    [x̂_t ; z_t] = W_up x_t                       (B, 2E), no bias
    u_t = SiLU(ShortConv(x̂)_t)                   causal depthwise convolution over k = 4 steps
    q_t, k_t = W_q u_t, W_k u_t ;  v_t = W_v x̂_t   block-diagonal, blocks of 4 (qkv_proj_blocksize)
    ĩ_t, f̃_t = W_i [q;k;v]_t + b_i, W_f [q;k;v]_t + b_f     one scalar gate pair per head
    the cell, per head, k scaled by d^−½:
        m_t = max(log σ(f̃_t) + m_{t−1}, ĩ_t)
        i_t = exp(ĩ_t − m_t),  f_t = exp(log σ(f̃_t) + m_{t−1} − m_t)
        C_t = f_t C_{t−1} + i_t k_t v_tᵀ          (d, d)
        n_t = f_t n_{t−1} + i_t k_t               (d)
        h̃_t = C_tᵀ q_t / (max(|n_tᵀ q_t|, exp(−m_t)) + ε)
    h_t = (GroupNorm_n(h̃_t) + s ⊙ u_t) ⊙ SiLU(z_t)   s a learnable skip, initialised to 1
    y_t = W_down h_t                             (H), no bias

The stabiliser m cancels in h̃ up to ε (= 1e-6): h̃ = Cᵀq / max(|nᵀq|, 1) of the unstabilised
state. `step` is the xlstm package's recurrent_step_stabilized_simple; `chunk` computes C steps at
once from the state before them, with b_t = Σ_{j≤t} log σ(f̃_j) inside the chunk:
    m_t = b_t + max(m_0, max_{s≤t} (ĩ_s − b_s))                   the recurrence of m, unrolled
    D_ts = exp(ĩ_s + b_t − b_s − m_t) (s ≤ t),  g_t = exp(b_t + m_0 − m_t)   all exponents ≤ 0
    C_tᵀq_t = g_t C_0ᵀ q_t + Σ_s D_ts (q_t·k_s) v_s,   n_tᵀq_t likewise
the same m and so the same h̃ as the loop, to rounding. Initialisation as the package: W_up, W_q,
W_k, W_v ~ N(0, 2/(5H)), W_down ~ N(0, 4/H) (wang init, one block), gate weights 0, b_f from 3 to 6
over heads, b_i ~ N(0, 0.1²); m_0 = 0.

State: C, n, m per head and the convolution's last k − 1 inputs: n(d² + d + 1) + (k − 1)E.
Parameters: 2IE + (k + 1)E + 12E (q, k, v blocks of 4) + 2(3En + n) + 2E (norm, skip) + EH.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnbench.errors import ConfigError, check_int
from rnnbench.models.cell import Cell
from rnnbench.models.short_conv import ShortConv

BLOCK = 4  # qkv_proj_blocksize of the xlstm package
EPS = 1e-6


class HeadwiseLinear(nn.Module):
    """y = W x with W block-diagonal in blocks of `block` (the package's LinearHeadwiseExpand):
    weight (E/block, block, block), written as a product and a sum so batched members apply it."""

    def __init__(self, width: int, block: int, std: float):
        super().__init__()
        self.block = block
        self.weight = nn.Parameter(torch.randn(width // block, block, block) * std)  # (E/b, out, in)

    def forward(self, x: Tensor) -> Tensor:  # (…, E) -> (…, E)
        blocks = x.unflatten(-1, (-1, self.block)).unsqueeze(-2)  # (…, E/b, 1, b)
        return (blocks * self.weight).sum(-1).flatten(-2)


class MLSTMCell(Cell):
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_heads: int = 1,
        proj_factor: int = 2,
        conv_size: int = 4,
        chunk_size: int = 16,
    ):
        super().__init__(input_size, hidden_size)
        E = self.inner = check_int("proj_factor", proj_factor, 1, 16) * hidden_size
        if E % BLOCK:
            raise ConfigError("proj_factor", f"times hidden_size must be a multiple of {BLOCK} (q, k, v blocks)", E)
        self.heads = check_int("num_heads", num_heads, 1)
        if E % self.heads:
            raise ConfigError("num_heads", f"must divide the inner width proj_factor·hidden_size={E}", num_heads)
        self.d = E // self.heads
        self.chunk_size = check_int("chunk_size", chunk_size, 1, 1024)
        small = math.sqrt(2 / (5 * hidden_size))
        self.up = nn.Linear(input_size, 2 * E, bias=False)
        nn.init.normal_(self.up.weight, std=small)
        self.conv = ShortConv(E, check_int("conv_size", conv_size, 1, 64))
        self.q, self.k, self.v = (HeadwiseLinear(E, BLOCK, small) for _ in range(3))
        self.igate = nn.Linear(3 * E, self.heads)
        self.fgate = nn.Linear(3 * E, self.heads)
        nn.init.zeros_(self.igate.weight)
        nn.init.zeros_(self.fgate.weight)
        nn.init.normal_(self.igate.bias, std=0.1)
        with torch.no_grad():
            self.fgate.bias.copy_(torch.linspace(3.0, 6.0, self.heads))
        self.norm = nn.Parameter(torch.ones(E))
        self.skip = nn.Parameter(torch.ones(E))
        self.down = nn.Linear(E, hidden_size, bias=False)
        nn.init.normal_(self.down.weight, std=2 / math.sqrt(hidden_size))

    def initial_state(self, batch_size: int, like: Tensor) -> tuple[Tensor, ...]:  # C, n, m, window
        B, n, d = batch_size, self.heads, self.d
        C, nrm, m = like.new_zeros(B, n, d, d), like.new_zeros(B, n, d), like.new_zeros(B, n)
        return C, nrm, m, self.conv.initial_window(batch_size, like)

    def heads_of(self, x: Tensor) -> Tensor:  # (B, T, n·d) -> (B, n, T, d)
        return x.unflatten(-1, (self.heads, self.d)).transpose(1, 2)

    def layer(self, x: Tensor, window: Tensor, cell) -> tuple[Tensor, Tensor, Any]:
        """The layer around the cell: x (B, T, I) → y (B, T, H), the convolution's window, and
        what `cell(q, k, v, ĩ, f̃)` (each (B, n, T, ·)) returns beside h̃ (B, n, T, d)."""
        x_hat, z = self.up(x).chunk(2, dim=-1)
        u, window = self.conv(x_hat, window)
        u = F.silu(u)
        q, k, v = self.q(u), self.k(u), self.v(x_hat)
        qkv = torch.cat([q, k, v], dim=-1)
        i_pre, f_pre = (g(qkv).transpose(1, 2) for g in (self.igate, self.fgate))  # (B, n, T)
        h, rest = cell(self.heads_of(q), self.heads_of(k) * self.d**-0.5, self.heads_of(v), i_pre, f_pre)
        h = F.layer_norm(h, (self.d,), eps=1e-5).transpose(1, 2).flatten(-2) * self.norm  # GroupNorm over heads
        return self.down((h + self.skip * u) * F.silu(z)), window, rest

    def forward(self, x_t: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        C, nrm, m, window = state

        def one_step(q, k, v, i_pre, f_pre):
            h, C_, n_, m_ = step(C, nrm, m, q[:, :, 0], k[:, :, 0], v[:, :, 0], i_pre[:, :, 0], f_pre[:, :, 0])
            return h.unsqueeze(2), (C_, n_, m_)

        y, window, (C, nrm, m) = self.layer(x_t.unsqueeze(1), window, one_step)
        return y[:, 0], (C, nrm, m, window)

    def forward_sequence(self, x: Tensor, state: Any = None) -> tuple[Tensor, tuple[Tensor, ...]]:
        C, nrm, m, window = state if state is not None else self.initial_state(x.shape[0], x)

        def chunks(q, k, v, i_pre, f_pre):
            state, outputs = (C, nrm, m), []
            for s in range(0, q.shape[2], self.chunk_size):
                part = slice(s, s + self.chunk_size)
                h, *state = chunk(
                    *state, q[:, :, part], k[:, :, part], v[:, :, part], i_pre[:, :, part], f_pre[:, :, part]
                )
                outputs.append(h)
            return torch.cat(outputs, dim=2), tuple(state)

        y, window, (C, nrm, m) = self.layer(x, window, chunks)
        return y, (C, nrm, m, window)


def floor(m: Tensor) -> Tensor:
    """exp(−m), the normaliser's floor, with −m capped at 60: with closed forget and input gates m
    falls below −88, exp(−m) overflows float32, and its gradient (−inf × 0) turns every weight NaN
    (tested; likely what diverged 5 of 10 mLSTM seeds at lr 0.019 on parity, T = 64). At the cap
    the floor is 1e26 ≫ |nᵀq|, h̃ ≈ 0: the same output, a finite gradient. (xlstm's own code has no cap.)"""
    return torch.exp(torch.clamp(-m, max=60.0))


def step(C: Tensor, n: Tensor, m: Tensor, q: Tensor, k: Tensor, v: Tensor, i_pre: Tensor, f_pre: Tensor):
    """One step of the cell: C (B, n, d, d), n, q, k, v (B, n, d), m, ĩ, f̃ (B, n) → h̃, C, n, m."""
    log_f = F.logsigmoid(f_pre)
    m_new = torch.maximum(log_f + m, i_pre)
    f, i = torch.exp(log_f + m - m_new).unsqueeze(-1), torch.exp(i_pre - m_new).unsqueeze(-1)
    C = f.unsqueeze(-1) * C + (i * k).unsqueeze(-1) * v.unsqueeze(-2)
    n = f * n + i * k
    qn = (q * n).sum(-1, keepdim=True)
    h = (q.unsqueeze(-1) * C).sum(-2) / (torch.maximum(qn.abs(), floor(m_new).unsqueeze(-1)) + EPS)
    return h, C, n, m_new


def chunk(C: Tensor, n: Tensor, m: Tensor, q: Tensor, k: Tensor, v: Tensor, i_pre: Tensor, f_pre: Tensor):
    """L steps at once from the state before them: q, k, v (B, n, L, d), ĩ, f̃ (B, n, L) →
    h̃ (B, n, L, d) and the state after the last step."""
    b = F.logsigmoid(f_pre).cumsum(-1)  # (B, n, L)
    a = i_pre - b
    m_t = b + torch.maximum(m.unsqueeze(-1), a.cummax(-1).values)  # (B, n, L)
    L = q.shape[2]
    past = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()  # s ≤ t
    D = (a.unsqueeze(-2) + (b - m_t).unsqueeze(-1)).masked_fill(~past, -math.inf).exp()  # (B, n, t, s)
    g = torch.exp(b + m.unsqueeze(-1) - m_t).unsqueeze(-1)  # (B, n, L, 1)
    W = (q @ k.transpose(-1, -2)) * D
    num = g * (q @ C) + W @ v
    qn = g * (q @ n.unsqueeze(-1)) + W.sum(-1, keepdim=True)
    h = num / (torch.maximum(qn.abs(), floor(m_t).unsqueeze(-1)) + EPS)
    last = D[:, :, -1].unsqueeze(-1)  # D_Ls (B, n, L, 1)
    C = g[:, :, -1:] * C + (k * last).transpose(-1, -2) @ v
    n = g[:, :, -1] * n + (k * last).sum(2)
    return h, C, n, m_t[:, :, -1]
