"""Parity: T random bits; the label is their XOR (sum mod 2). Sequence classification.

Every bit matters until the end, so the model must carry one bit of state through all T steps,
flipping it at each 1. Metrics: cross-entropy (`ce`, nats) and accuracy (`acc`).
Baseline: predict the training labels' class frequencies → accuracy ≈ 1/2, ce ≈ ln 2 ≈ 0.693.

x: (N, T) long in {0, 1}, y: (N,) long in {0, 1}.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnbench.data import metrics
from rnnbench.data.task import InputSpec, SyntheticTask


class ParityTask(SyntheticTask):
    name = "parity"
    metrics = {"ce": "min", "acc": "max"}
    baseline_name = "class frequencies"
    per_step = False
    input = InputSpec("tokens", 2)
    output_size = 2

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        x = torch.randint(0, 2, (n, self.seq_len), generator=generator)
        return x, x.sum(dim=1) % 2

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        return torch.nn.functional.cross_entropy(pred, y)

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        return {"ce": metrics.cross_entropy(pred, y), "acc": metrics.accuracy(pred, y)}

    def trivial_prediction(self, x: Tensor) -> Tensor:
        counts = torch.bincount(self.splits()["train"].y, minlength=2).float()
        return torch.log(counts / counts.sum()).expand(len(x), 2)
