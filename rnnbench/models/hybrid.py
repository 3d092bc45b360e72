"""GRU–LSTM hybrids (the "LSTM-GRU fusion" models): both cells in one core, on their fused
kernels.

    stacked    x → LSTM layers → GRU layers → y (order=lstm_first), or GRU first (order=gru_first)
               params: the LSTM and GRU per-layer formulas, 4H(I+H)+8H and 3H(I+H)+6H, with the
               second block's input size H (2H when bidirectional)
    parallel   an LSTM stack and a GRU stack read the same x; their outputs u (LSTM), v (GRU) are fused
               fusion=concat  y = W [u ; v] + b
               fusion=gate    g = σ(W_g [u ; v] + b_g),  y = g ⊙ u + (1 − g) ⊙ v
               params: both stacks on input I, plus 2D·D + D for the fusion (D = H, or 2H when bidirectional)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnbench.errors import check_choice, check_int
from rnnbench.models.gru import GRUCell
from rnnbench.models.lstm import LSTMCell
from rnnbench.models.recurrent import Recurrent


class StackedHybrid(nn.Module):
    def __init__(
        self,
        input_size: int,
        hidden_size: int = 128,
        lstm_layers: int = 1,
        gru_layers: int = 1,
        order: str = "lstm_first",
        dropout: float = 0.0,
        impl: str = "auto",
        bidirectional: bool = False,
    ):
        super().__init__()
        check_int("lstm_layers", lstm_layers, 1)
        check_int("gru_layers", gru_layers, 1)
        check_choice("order", order, ("lstm_first", "gru_first"))
        blocks = [(LSTMCell, lstm_layers), (GRUCell, gru_layers)]
        if order == "gru_first":
            blocks.reverse()
        options = dict(hidden_size=hidden_size, dropout=dropout, impl=impl, bidirectional=bidirectional)
        self.first = Recurrent(input_size, blocks[0][0], num_layers=blocks[0][1], **options)
        self.second = Recurrent(self.first.output_size, blocks[1][0], num_layers=blocks[1][1], **options)
        self.between = nn.Dropout(dropout)
        self.output_size, self.bidirectional, self.impl = self.second.output_size, bidirectional, self.first.impl
        self.state_size = self.first.state_size + self.second.state_size

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        first_state, second_state = state if state is not None else (None, None)
        y, first_state = self.first(x, first_state)
        y, second_state = self.second(self.between(y), second_state)
        return y, (first_state, second_state)


class ParallelHybrid(nn.Module):
    def __init__(
        self,
        input_size: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        fusion: str = "gate",
        dropout: float = 0.0,
        impl: str = "auto",
        bidirectional: bool = False,
    ):
        super().__init__()
        self.fusion = check_choice("fusion", fusion, ("concat", "gate"))
        options = dict(
            hidden_size=hidden_size, num_layers=num_layers, dropout=dropout, impl=impl, bidirectional=bidirectional
        )
        self.lstm = Recurrent(input_size, LSTMCell, **options)
        self.gru = Recurrent(input_size, GRUCell, **options)
        size = self.lstm.output_size
        self.mix = nn.Linear(2 * size, size)  # W (concat) or W_g (gate)
        self.output_size, self.bidirectional, self.impl = size, bidirectional, self.lstm.impl
        self.state_size = self.lstm.state_size + self.gru.state_size

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        lstm_state, gru_state = state if state is not None else (None, None)
        u, lstm_state = self.lstm(x, lstm_state)
        v, gru_state = self.gru(x, gru_state)
        mixed = self.mix(torch.cat([u, v], dim=-1))
        if self.fusion == "concat":
            return mixed, (lstm_state, gru_state)
        gate = torch.sigmoid(mixed)
        return gate * u + (1 - gate) * v, (lstm_state, gru_state)
