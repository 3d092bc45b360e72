"""Readouts: how the core's outputs y (B, T, D) become what the head sees.

    per_step       (B, T, D)  every step (tasks with a target at each step; the only choice there)
    last           (B, D)     y[:, T−1]; for a bidirectional core [y→[:, T−1] ; y←[:, 0]], the final
                              state of each direction
    mean           (B, D)     (1/T) Σ_t y_t
    attention      (B, D)     additive (Bahdanau et al. 2015) with a learned query:
                              s_t = vᵀ tanh(W y_t + b),  α = softmax_t(s),  Σ_t α_t y_t
    dot_attention  (B, D)     dot-product with a learned query q:  s_t = qᵀ y_t / √D, then as above

The attention weights α (B, T) of the last forward pass are kept in `.weights` for inspection.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnbench.errors import check_choice

SEQUENCE_READOUTS = ("last", "mean", "attention", "dot_attention")


class Readout(nn.Module):
    def __init__(self, kind: str, size: int, bidirectional: bool = False):
        super().__init__()
        self.kind = check_choice("readout", kind, ("per_step", *SEQUENCE_READOUTS))
        self.bidirectional = bidirectional
        self.weights: Tensor | None = None
        if kind == "attention":
            self.score = nn.Sequential(nn.Linear(size, size), nn.Tanh(), nn.Linear(size, 1, bias=False))
        elif kind == "dot_attention":
            self.query = nn.Parameter(torch.randn(size) / math.sqrt(size))

    def forward(self, y: Tensor) -> Tensor:  # (B, T, D)
        if self.kind == "per_step":
            return y
        if self.kind == "last":
            if self.bidirectional:
                half = y.shape[-1] // 2
                return torch.cat([y[:, -1, :half], y[:, 0, half:]], dim=-1)
            return y[:, -1]
        if self.kind == "mean":
            return y.mean(dim=1)
        if self.kind == "attention":
            scores = self.score(y).squeeze(-1)  # (B, T)
        else:
            scores = y @ self.query / math.sqrt(y.shape[-1])  # (B, T)
        self.weights = torch.softmax(scores, dim=1)
        return torch.einsum("bt,btd->bd", self.weights, y)
