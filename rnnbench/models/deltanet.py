"""DeltaNet (Schlag, Irie & Schmidhuber 2021; parallelised by Yang, Wang, Zhang, Shen & Kim 2024,
"Parallelizing Linear Transformers with the Delta Rule over Sequence Length"): linear attention
whose state is corrected, not only added to — the delta rule. In the layer of linear_attention.py,
with q and k through SiLU then L2-normalised per head:

    β_t = σ(W_β x_t + b_β)                         (B, n), one per head; 2σ(·) with negative_eigenvalues
    S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ  S (B, n, d, d): v_t written at key k_t, replacing
                                                   what S held there
    o_t = S_tᵀ q_t

The transition I − β k kᵀ has eigenvalues 1 and 1 − β: in [0, 1] for β ∈ [0, 1], in [−1, 1] with
`negative_eigenvalues` (β ∈ [0, 2]; Grazzi et al. 2025, "Unlocking State-Tracking in Linear RNNs
Through Negative Eigenvalues"), which is what lets a linear recurrence count modulo 2 (parity).

Chunkwise (the WY form of Yang et al. 2024): inside a chunk of C steps, with L = I + tril(diag(β)KKᵀ, −1),
    U = L⁻¹ diag(β) V,  W = L⁻¹ diag(β) K          (triangular solves)
    o = Q S_0 + tril(QKᵀ) (U − W S_0),   S_C = S_0 + Kᵀ (U − W S_0)
Parameters: the layer's, plus nI + n for β. State: H²/n. fla's DeltaNet layer also convolves q, k
and v over 4 steps; this one does not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnbench.errors import check_choice
from rnnbench.models.linear_attention import LinearAttentionCell


class DeltaNetCell(LinearAttentionCell):
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_heads: int = 2,
        chunk_size: int = 16,
        negative_eigenvalues: bool = False,
    ):
        super().__init__(input_size, hidden_size, num_heads, chunk_size)
        self.negative_eigenvalues = check_choice("negative_eigenvalues", negative_eigenvalues, (False, True))
        self.beta = nn.Linear(input_size, self.heads)

    def inputs(self, x: Tensor) -> tuple[Tensor, ...]:
        q, k, v = (self.heads_of(p) for p in self.qkv(x).chunk(3, dim=-1))
        q, k = (F.normalize(F.silu(p), dim=-1) for p in (q, k))
        beta = torch.sigmoid(self.beta(x)).transpose(1, 2).unsqueeze(-1)  # (B, n, T, 1)
        return q * self.d**-0.5, k, v, 2 * beta if self.negative_eigenvalues else beta

    def step(self, S: Tensor, q: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> tuple[Tensor, Tensor]:
        error = v - (k.unsqueeze(-1) * S).sum(-2)  # v_t − S_{t−1}ᵀ k_t: what the state gets wrong at k_t
        S = S + k.unsqueeze(-1) * (beta * error).unsqueeze(-2)
        return (q.unsqueeze(-1) * S).sum(-2), S

    def chunk(self, S: Tensor, q: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> tuple[Tensor, Tensor]:
        C = q.shape[2]
        eye = torch.eye(C, dtype=q.dtype, device=q.device)
        L = eye + ((beta * k) @ k.transpose(-1, -2)).tril(-1)
        U = torch.linalg.solve_triangular(L, beta * v, upper=False, unitriangular=True)
        W = torch.linalg.solve_triangular(L, beta * k, upper=False, unitriangular=True)
        new = U - W @ S  # (B, n, C, d): what each step writes, given the chunk's start state
        o = q @ S + (q @ k.transpose(-1, -2)).tril() @ new
        return o, S + k.transpose(-1, -2) @ new
