"""Diagonal linear recurrences h_t = a_t ⊙ h_{t−1} + b_t whose coefficients depend only on x_t,
and the parallel scan that computes all steps at once.

A `ScanCell` gives a_t and b_t for all steps from x alone. `parallel_scan` then solves the
recurrence by odd–even reduction (a work-efficient scan, as in Blelloch 1990): pair the steps
(2i, 2i+1) into one step with coefficients (a_{2i+1} a_{2i}, a_{2i+1} b_{2i} + b_{2i+1}), solve
that half-length recurrence recursively for the odd steps, then fill in the even ones,
h_{2i} = a_{2i} h_{2i−1} + b_{2i}. That is ⌈log₂ T⌉ levels of element-wise products and sums
over (B, T/2^k, H), about twice the work of the sequential loop but in a few large operations
instead of T small ones.

It stays in real space: a_t ∈ (0, 1) and b_t ≥ 0 for minGRU and minLSTM, so products of a's can
only underflow towards 0 (whose contribution is then below float resolution anyway) and nothing
is divided or exponentiated — unlike the log-space formulation (Heinsen 2023, used by the minGRU
paper), whose logcumsumexp made a train step several times slower than the sequential loop of
the same recurrence on this project's CPU (benchmarks/README.md, pitfall 3; the real-space scan
against the loop is target 4 there, measured by `rnnbench bench`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnbench.models.cell import Cell


class ScanCell(Cell):
    """Cell with a diagonal, input-only recurrence. Subclasses implement `coefficients`.
    The step API (`project_input` then `forward`) runs the same recurrence sequentially."""

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, I) → a, b, each (B, T, H)."""
        raise NotImplementedError

    def project_input(self, x: Tensor) -> Tensor:  # (B, T, I) -> (B, T, 2H): [a ; b]
        return torch.cat(self.coefficients(x), dim=-1)

    def forward(self, xp_t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        a, b = xp_t.chunk(2, dim=-1)
        h = torch.addcmul(b, a, h)
        return h, h

    def forward_sequence(self, x: Tensor, state: Any = None) -> tuple[Tensor, Tensor]:
        return run_scan(self, x, state)


def run_scan(cell: ScanCell, x: Tensor, state: Any = None) -> tuple[Tensor, Tensor]:
    """All steps of a ScanCell at once: (B, T, I) → (B, T, H), final h."""
    h = linear_recurrence(*cell.coefficients(x), state)
    return h, h[:, -1]


def linear_recurrence(a: Tensor, b: Tensor, h_init: Tensor | None = None) -> Tensor:
    """h_t = a_t ⊙ h_{t−1} + b_t for every t, from h_{−1} = h_init (zeros when None); a, b (B, T, ...),
    real or complex. The initial state is folded into the first step, h_0 = a_0 h_init + b_0."""
    if h_init is not None:
        b = torch.cat([torch.addcmul(b[:, :1], a[:, :1], h_init.unsqueeze(1)), b[:, 1:]], dim=1)
    return parallel_scan(a, b)


def parallel_scan(a: Tensor, b: Tensor) -> Tensor:
    """h_t = a_t ⊙ h_{t−1} + b_t along dim 1 with h_{−1} = 0; a, b and h (B, T, ...)."""
    T = a.shape[1]
    if T == 1:
        return b
    if T % 2:  # solve the even-length prefix, then the last step
        h = parallel_scan(a[:, :-1], b[:, :-1])
        return torch.cat([h, torch.addcmul(b[:, -1:], a[:, -1:], h[:, -1:])], dim=1)
    pairs = (a.shape[0], T // 2, 2, *a.shape[2:])
    a_even, a_odd = a.reshape(pairs).unbind(2)  # reshape + unbind, not strided slices: their
    b_even, b_odd = b.reshape(pairs).unbind(2)  # backward allocates a full-size zero tensor each
    h_odd = parallel_scan(a_odd * a_even, torch.addcmul(b_odd, a_odd, b_even))
    h_before = torch.cat([torch.zeros_like(h_odd[:, :1]), h_odd[:, :-1]], dim=1)  # h_{2i−1}
    h_even = torch.addcmul(b_even, a_even, h_before)
    return torch.stack([h_even, h_odd], dim=2).reshape(a.shape)


class LinearRecurrenceBlock(Cell):
    """A block around a recurrence that is linear in its state given the inputs (LRU, RG-LRU, S6
    of Mamba), written once for any number of steps: `forward_sequence(x, state)` solves the
    recurrence with `linear_recurrence` (the parallel scan). The step API feeds it one step at a
    time (T = 1: h_t = a_t ⊙ h_{t−1} + b_t, literally), which is the reference loop."""

    def forward(self, x_t: Tensor, state: Any) -> tuple[Tensor, Any]:  # (B, I) -> (B, H), state
        y, state = self.forward_sequence(x_t.unsqueeze(1), state)
        return y[:, 0], state

    def forward_sequence(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        raise NotImplementedError
