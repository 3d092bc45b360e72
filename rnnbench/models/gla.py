"""GLA, gated linear attention (Yang, Wang, Shen, Panda & Kim 2024, "Gated Linear Attention
Transformers with Hardware-Efficient Training"): linear attention whose state decays per key
dimension by a data-dependent gate. In the layer of linear_attention.py:

    α_t = σ(W_α2 W_α1 x_t + b_α)^{1/τ}             (B, n, d) per head, W_α low rank 16, τ = 16
    S_t = diag(α_t) S_{t−1} + k_t v_tᵀ             S (B, n, d, d)
    o_t = S_tᵀ q_t

Chunkwise (the paper's parallel form), with b_t = Σ_{s≤t} log α_s inside a chunk of C steps:
    o_t = (q_t ⊙ e^{b_t})ᵀ S_0 + Σ_{s≤t} [Σ_j q_{t,j} k_{s,j} e^{b_{t,j} − b_{s,j}}] v_s
    S_C = diag(e^{b_C}) S_0 + Σ_s (k_s ⊙ e^{b_C − b_s}) v_sᵀ
Every exponent is ≤ 0 (a product of gates), so nothing overflows; the intra-chunk weights are
formed over (C, C, d), as the paper's secondary chunking does at its finest level.
Parameters: the layer's, plus 16(I + H) + H for the gate. State: H²/n (and the short convolution's
window if `conv_size` > 0; fla's GLA layer has none by default, nor has this one).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnbench.models.linear_attention import LinearAttentionCell

GATE_RANK, TAU = 16, 16.0


class GLACell(LinearAttentionCell):
    parallel_tokens_up_to = 55_000  # impl=auto: the loop beyond this B·T on the CPU (measured, benchmarks/README.md)

    def __init__(self, input_size: int, hidden_size: int, num_heads: int = 2, chunk_size: int = 16, conv_size: int = 0):
        super().__init__(input_size, hidden_size, num_heads, chunk_size, conv_size)
        self.gate_down = nn.Linear(input_size, GATE_RANK, bias=False)
        self.gate_up = nn.Linear(GATE_RANK, hidden_size)

    def prepare(self, x: Tensor, q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, ...]:
        log_alpha = F.logsigmoid(self.gate_up(self.gate_down(x))) / TAU
        return *super().prepare(x, q, k, v), self.heads_of(log_alpha)

    def step(self, S: Tensor, q: Tensor, k: Tensor, v: Tensor, log_alpha: Tensor) -> tuple[Tensor, Tensor]:
        S = torch.exp(log_alpha).unsqueeze(-1) * S + k.unsqueeze(-1) * v.unsqueeze(-2)
        return (q.unsqueeze(-1) * S).sum(-2), S

    def chunk(self, S: Tensor, q: Tensor, k: Tensor, v: Tensor, log_alpha: Tensor) -> tuple[Tensor, Tensor]:
        b = log_alpha.cumsum(dim=2)  # (B, n, C, d)
        C = q.shape[2]
        past = torch.ones(C, C, dtype=torch.bool, device=q.device).tril()  # s ≤ t
        decay = (b.unsqueeze(3) - b.unsqueeze(2)).clamp(max=0).exp()  # (B, n, C, C, d); s > t masked below
        weights = (q.unsqueeze(3) * k.unsqueeze(2) * decay).sum(-1).masked_fill(~past, 0)  # (B, n, C, C)
        o = (q * b.exp()) @ S + weights @ v
        last = b[:, :, -1:]  # b_C
        S = last.exp().transpose(-1, -2) * S + (k * (last - b).exp()).transpose(-1, -2) @ v
        return o, S
