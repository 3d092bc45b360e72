"""The cell interface: one time step of a recurrence, and the gate layout shared by RNN/LSTM/GRU.

A cell is an ``nn.Module`` built as ``Cell(input_size, hidden_size, **options)`` that maps
    forward(xp_t, state) -> (h_t, state)      xp_t (B, P), h_t (B, hidden_size)
where ``xp_t`` is step t of ``project_input(x)``: everything that does not depend on the state is
computed for all T steps in one call before the time loop (one big matmul instead of T small ones).
``initial_state(batch_size, like)`` gives the state at t = 0 (built from ``zeros``, which a cell
over other state shapes, such as the convolutional cells' (B, H, height, width), overrides). A
cell that has a fused torch.nn
equivalent returns it from the classmethod ``fused``; `Recurrent` then uses it for ``impl=auto``.

Batched members (several seeds or learning rates trained as one model: training/stacked.py) are
applied from outside; a cell written in plain PyTorch takes part when its forward
  - reads its parameters only through F.linear / nn.Linear, + − × ÷ and element-wise functions
    (with activations or other parameters), indexing (``p[0]``, ``p[a:b]``), ``x @ p``,
    F.layer_norm / nn.LayerNorm, F.embedding, F.conv1d / F.conv2d, torch's weight_norm;
  - keeps the batch as the first dimension of every activation;
  - changes no parameter in place, holds no buffers and draws no random numbers.
Anything else is found before training (the cell is then trained one run after another, and the
log says why); tests/test_members.py checks every built-in model against this.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnbench.errors import check_int


class Cell(nn.Module):
    """Base class with the defaults of the interface: identity input projection, zero state,
    no fused kernel."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size = check_int("input_size", input_size, 1)
        self.hidden_size = check_int("hidden_size", hidden_size, 1)

    def project_input(self, x: Tensor) -> Tensor:  # (B, T, I) -> (B, T, P)
        return x

    def zeros(self, batch_size: int, like: Tensor) -> Tensor:
        """One zero state tensor, (B, H)."""
        return like.new_zeros(batch_size, self.hidden_size)

    def initial_state(self, batch_size: int, like: Tensor) -> Any:
        return self.zeros(batch_size, like)

    def state_size(self, like: Tensor | None = None) -> int:
        """Real numbers in one sample's state (a complex number counts twice), read from
        `initial_state` at batch size 1 for an input like `like` (default (1, 1, input_size))."""
        state = self.initial_state(1, torch.empty(1, 1, self.input_size) if like is None else like)
        tensors = state if isinstance(state, (tuple, list)) else [state]
        return sum(t.numel() * (2 if t.is_complex() else 1) for t in tensors)

    @classmethod
    def fused(
        cls,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        bidirectional: bool = False,
        **options: Any,
    ) -> nn.Module | None:
        """A torch.nn module computing the same stack of cells over (B, T, I), or None."""
        return None


class GateCell(Cell):
    """Cells in torch's parameter layout: G gate blocks of size H stacked in
    W_ih (G·H, I), W_hh (G·H, H) and two biases b_ih, b_hh (G·H), initialised U(−1/√H, 1/√H).
    The same names and shapes as ``torch.nn.RNN/LSTM/GRU`` layer weights, so weights copy across.
    A convolutional cell passes `kernel` (k, k): the weights become (G·H, I, k, k) and (G·H, H, k, k),
    initialised U(−1/√(H·k²), 1/√(H·k²)).

    Gates are split along dim 1, the feature dim of both (B, G·H) and (B, G·H, height, width), so a
    cell's forward serves its convolutional twin unchanged."""

    num_gates: int

    def __init__(self, input_size: int, hidden_size: int, kernel: tuple[int, ...] = ()):
        super().__init__(input_size, hidden_size)
        gh = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gh, input_size, *kernel))
        self.weight_hh = nn.Parameter(torch.empty(gh, hidden_size, *kernel))
        self.bias_ih = nn.Parameter(torch.empty(gh))
        self.bias_hh = nn.Parameter(torch.empty(gh))
        bound = 1.0 / math.sqrt(hidden_size * math.prod(kernel))
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def project_input(self, x: Tensor) -> Tensor:  # (B, T, I) -> (B, T, G·H)
        return F.linear(x, self.weight_ih, self.bias_ih)

    def project_hidden(self, h: Tensor) -> Tensor:  # (B, H) -> (B, G·H)
        return F.linear(h, self.weight_hh, self.bias_hh)
