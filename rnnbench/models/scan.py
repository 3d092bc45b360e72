"""Diagonal linear recurrences h_t = a_t ⊙ h_{t−1} + b_t whose coefficients depend only on x_t,
and the parallel scan that computes all steps at once.

A `ScanCell` gives log a_t and log b_t (b_t > 0) for all steps from x alone. Then, within a chunk
of C steps that starts from h_0 (Heinsen 2023, "Efficient parallelization of a ubiquitous
sequential computation"):

    a*_t = Σ_{s≤t} log a_s,     log h_t = a*_t + logcumsumexp_{s≤t}(log b_s − a*_s)

with h_0 entered as b_0 = h_0 (and a_0 = 1). Chunks run one after the other, each starting from
the last state of the previous: this keeps |a*| bounded by one chunk (the subtraction above
loses precision when a* grows with T) and the memory at O(B·C·H).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnbench.errors import check_int
from rnnbench.models.cell import Cell


class ScanCell(Cell):
    """Cell with a diagonal, input-only recurrence. Subclasses implement `log_coefficients`.
    The step API (`project_input` then `forward`) runs the same recurrence sequentially."""

    def __init__(self, input_size: int, hidden_size: int, scan_chunk: int = 256):
        super().__init__(input_size, hidden_size)
        self.scan_chunk = check_int("scan_chunk", scan_chunk, 1)

    def log_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, I) → log a, log b, each (B, T, H)."""
        raise NotImplementedError

    def project_input(self, x: Tensor) -> Tensor:  # (B, T, I) -> (B, T, 2H): [log a ; log b]
        return torch.cat(self.log_coefficients(x), dim=-1)

    def forward(self, xp_t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        log_a, log_b = xp_t.chunk(2, dim=-1)
        h = torch.exp(log_a) * h + torch.exp(log_b)
        return h, h


def run_scan(cell: ScanCell, x: Tensor, state: Any = None) -> tuple[Tensor, Tensor]:
    """All steps of a ScanCell at once: (B, T, I) → (B, T, H), final h."""
    log_a, log_b = cell.log_coefficients(x)
    h = state if state is not None else cell.initial_state(x.shape[0], x)
    outputs = []
    for start in range(0, x.shape[1], cell.scan_chunk):
        chunk = slice(start, start + cell.scan_chunk)
        h_seq = _scan_chunk(log_a[:, chunk], log_b[:, chunk], h)
        h = h_seq[:, -1]
        outputs.append(h_seq)
    return torch.cat(outputs, dim=1), h


def _scan_chunk(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    # prepend step 0 with a_0 = 1 and b_0 = h0 (log 0 = −inf when h0 = 0 drops the term)
    log_a = torch.cat([torch.zeros_like(log_a[:, :1]), log_a], dim=1)
    log_b = torch.cat([torch.log(h0).unsqueeze(1), log_b], dim=1)
    a_star = torch.cumsum(log_a, dim=1)
    log_h = a_star + torch.logcumsumexp(log_b - a_star, dim=1)
    return torch.exp(log_h[:, 1:])
