"""Encoder-decoder attention: a decoder query q attends over the encoder outputs k_1 … k_S.

    bahdanau (additive, Bahdanau et al. 2015)   e_j = vᵀ tanh(W_q q + W_k k_j)
    luong    ("general", Luong et al. 2015)     e_j = qᵀ W_a k_j
    α = softmax_j(e) over unmasked j,   context = Σ_j α_j k_j

Shapes: query (B, Tq, Q), keys (B, S, K), mask (B, S) bool (True = attend) → context (B, Tq, K),
weights α (B, Tq, S); each row of α sums to one and is zero where the mask is False.
The key projection (W_k k or W_a k) does not depend on the query: `project_keys` computes it once
per sequence and every decoder step reuses it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnbench.errors import check_choice

ATTENTIONS = ("bahdanau", "luong")


class Attention(nn.Module):
    def __init__(self, kind: str, query_size: int, key_size: int):
        super().__init__()
        self.kind = check_choice("attention", kind, ATTENTIONS)
        if kind == "bahdanau":
            self.query_proj = nn.Linear(query_size, query_size, bias=False)
            self.key_proj = nn.Linear(key_size, query_size)
            self.v = nn.Linear(query_size, 1, bias=False)
        else:
            self.key_proj = nn.Linear(key_size, query_size, bias=False)  # W_a k_j

    def project_keys(self, keys: Tensor) -> Tensor:  # (B, S, K) -> (B, S, Q)
        return self.key_proj(keys)

    def forward(self, query: Tensor, keys: Tensor, projected: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        if self.kind == "bahdanau":
            hidden = torch.tanh(self.query_proj(query)[:, :, None] + projected[:, None])  # (B, Tq, S, Q)
            scores = self.v(hidden).squeeze(-1)  # (B, Tq, S)
        else:
            scores = query @ projected.transpose(1, 2)  # (B, Tq, S)
        scores = scores.masked_fill(~mask[:, None], float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return weights @ keys, weights  # (B, Tq, K), (B, Tq, S)
