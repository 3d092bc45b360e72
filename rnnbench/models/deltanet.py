"""DeltaNet (Schlag, Irie & Schmidhuber 2021; parallelised by Yang, Wang, Zhang, Shen & Kim 2024,
"Parallelizing Linear Transformers with the Delta Rule over Sequence Length") and Gated DeltaNet
(Yang, Kautz & Hatamizadeh 2025, "Gated Delta Networks: Improving Mamba2 with Delta Rule"): linear
attention whose state is corrected, not only added to — the delta rule. In the layer of
linear_attention.py (with its short convolutions on q, k, v, as fla's layer), with
q, k, v = SiLU(·) and q, k L2-normalised per head:

    β_t = σ(W_β x_t + b_β)                         (B, n), one per head; 2σ(·) with negative_eigenvalues
    α_t = exp(−exp(A_log) · softplus(W_α x_t + b_Δ))   (B, n), the gate of Gated DeltaNet (`gated`),
                                                   Mamba-2's decay; α_t = 1 without it
    S_t = α_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ   S (B, n, d, d): v_t written at key k_t,
                                                   replacing what S held there
    o_t = S_tᵀ q_t

The transition I − β k kᵀ has eigenvalues 1 and 1 − β: in [0, 1] for β ∈ [0, 1], in [−1, 1] with
`negative_eigenvalues` (β ∈ [0, 2]; Grazzi et al. 2025, "Unlocking State-Tracking in Linear RNNs
Through Negative Eigenvalues"), which is what lets a linear recurrence count modulo 2 (parity).

Chunkwise (the WY form of Yang et al. 2024, with the gate of Yang et al. 2025): inside a chunk of C
steps, b_t = Σ_{s≤t} log α_s, Γ_ts = exp(b_t − b_s) for s ≤ t (≤ 1), L = I + tril(diag(β)(Γ ⊙ KKᵀ), −1),
    U = L⁻¹ diag(β) V,  W = L⁻¹ diag(β) (e^b ⊙ K)  (triangular solves)
    o = (e^b ⊙ Q) S_0 + (Γ ⊙ tril(QKᵀ)) (U − W S_0),   S_C = e^{b_C} S_0 + (e^{b_C − b} ⊙ K)ᵀ (U − W S_0)
Initialisation of the gate as fla's GatedDeltaNet: A ~ U(0, 16), softplus(b_Δ) log-uniform in
[1e-3, 1e-1]. Parameters: the layer's, plus nI + n for β, and nI + 2n for the gate.
State: H²/n and the convolution's window (linear_attention.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnbench.errors import check_choice
from rnnbench.models.linear_attention import LinearAttentionCell
from rnnbench.models.mamba import dt_bias


class DeltaNetCell(LinearAttentionCell):
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_heads: int = 2,
        chunk_size: int = 16,
        conv_size: int = 4,
        negative_eigenvalues: bool = False,
        gated: bool = False,
    ):
        super().__init__(input_size, hidden_size, num_heads, chunk_size, conv_size)
        self.negative_eigenvalues = check_choice("negative_eigenvalues", negative_eigenvalues, (False, True))
        self.gated = check_choice("gated", gated, (False, True))
        self.beta = nn.Linear(input_size, self.heads)
        if gated:
            self.decay = nn.Linear(input_size, self.heads, bias=False)
            self.A_log = nn.Parameter(torch.log(torch.empty(self.heads).uniform_(0, 16)))
            self.dt_bias = nn.Parameter(dt_bias(self.heads))

    def prepare(self, x: Tensor, q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, ...]:
        if self.conv is None:  # the convolution's SiLU otherwise
            q, k, v = F.silu(q), F.silu(k), F.silu(v)
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        beta = torch.sigmoid(self.beta(x)).transpose(1, 2).unsqueeze(-1)  # (B, n, T, 1)
        beta = 2 * beta if self.negative_eigenvalues else beta
        if not self.gated:
            return q * self.d**-0.5, k, v, beta
        log_alpha = -torch.exp(self.A_log) * F.softplus(self.decay(x) + self.dt_bias)  # (B, T, n)
        return q * self.d**-0.5, k, v, beta, log_alpha.transpose(1, 2).unsqueeze(-1)

    def step(self, S: Tensor, q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *gate: Tensor) -> tuple[Tensor, Tensor]:
        if gate:
            S = torch.exp(gate[0]).unsqueeze(-1) * S  # α_t S_{t−1}
        error = v - (k.unsqueeze(-1) * S).sum(-2)  # v_t − S_{t−1}ᵀ k_t: what the state gets wrong at k_t
        S = S + k.unsqueeze(-1) * (beta * error).unsqueeze(-2)
        return (q.unsqueeze(-1) * S).sum(-2), S

    def chunk(self, S: Tensor, q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *gate: Tensor) -> tuple[Tensor, Tensor]:
        C = q.shape[2]
        eye = torch.eye(C, dtype=q.dtype, device=q.device)
        qk, kk = q @ k.transpose(-1, -2), (beta * k) @ k.transpose(-1, -2)
        decayed_k = k
        if gate:
            b = gate[0].cumsum(dim=2)  # (B, n, C, 1)
            past = torch.ones(C, C, dtype=torch.bool, device=q.device).tril()
            Gamma = (b - b.transpose(-1, -2)).masked_fill(~past, -math.inf).exp()  # Γ_ts, (B, n, C, C)
            qk, kk, decayed_k = qk * Gamma, kk * Gamma, b.exp() * k
        L = eye + kk.tril(-1)
        U = torch.linalg.solve_triangular(L, beta * v, upper=False, unitriangular=True)
        W = torch.linalg.solve_triangular(L, beta * decayed_k, upper=False, unitriangular=True)
        new = U - W @ S  # (B, n, C, d): what each step writes, given the chunk's start state
        if not gate:
            return q @ S + qk.tril() @ new, S + k.transpose(-1, -2) @ new
        last = b[:, :, -1:]  # b_C
        o = (b.exp() * q) @ S + qk.tril() @ new
        return o, last.exp() * S + ((last - b).exp() * k).transpose(-1, -2) @ new
