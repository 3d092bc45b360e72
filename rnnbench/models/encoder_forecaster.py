"""Encoder-forecaster for next-frame prediction (Shi et al. 2015), over convolutional cells.

    encoder     a stack of `num_layers` conv cells reads the k input frames   x (B, k, C, h, w)
    forecaster  a second stack (own weights) starts from the encoder's final states and runs m
                steps; its input at step j is the previous predicted frame σ(ŷ_{j−1}) (the last
                input frame at j = 0)
    head        a 1×1 convolution of the forecaster's top hidden state → per-pixel logits ŷ_j (B, C, h, w)

Output: logits (B, m, C, h, w). Shi et al.'s forecaster takes no input and reads out all layers;
feeding back the prediction (the "conditional" decoder of Srivastava et al. 2015) gives the
forecaster the image itself to move, which learns faster at small budgets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from rnnbench.data.task import InputSpec
from rnnbench.errors import check_int, check_name
from rnnbench.models.recurrent import Recurrent


class EncoderForecaster(nn.Module):
    task_kind = "frames"

    def __init__(
        self,
        cell: Callable[..., nn.Module],
        input_spec: InputSpec,
        output_size: int,
        horizon: int,
        hidden_size: int = 16,
        num_layers: int = 1,
        name: str = "encoder_forecaster",
    ):
        super().__init__()
        self.name = check_name("name", name)
        self.horizon = check_int("horizon", horizon, 1)
        channels = input_spec.size
        self.encoder = Recurrent(channels, cell, hidden_size, num_layers, impl="reference")
        self.forecaster = Recurrent(channels, cell, hidden_size, num_layers, impl="reference")
        self.head = nn.Conv2d(hidden_size, output_size, kernel_size=1)

    def forward(self, x: Tensor, state: Any = None, target: Tensor | None = None) -> tuple[Tensor, None]:
        """Logits of the next frames; `target` is not read (the call shape every model shares)."""
        _, state = self.encoder(x, state)  # x (B, k, C, h, w)
        frame = x[:, -1:]  # (B, 1, C, h, w)
        logits = []
        for _ in range(self.horizon):
            y, state = self.forecaster(frame, state)  # (B, 1, H, h, w)
            logits.append(self.head(y[:, 0]))  # (B, C, h, w)
            frame = torch.sigmoid(logits[-1]).unsqueeze(1)
        return torch.stack(logits, dim=1), None  # (B, m, C, h, w)

    def describe(self) -> dict:
        cores = (self.encoder, self.forecaster)
        return {
            "name": self.name,
            "impl": "reference",
            "horizon": self.horizon,
            "params": sum(p.numel() for p in self.parameters()),
            "core_params": sum(p.numel() for core in cores for p in core.parameters()),
        }
