"""Parity: random bits; the label is their XOR (sum mod 2). Sequence classification.

Every bit matters until the end, so the model must carry one bit of state through all its steps,
flipping it at each 1. Metrics: cross-entropy (`ce`, nats) and accuracy (`acc`).
Baseline: predict the training labels' class frequencies → accuracy ≈ 1/2, ce ≈ ln 2 ≈ 0.693.

With `min_len` < T each sample has its own length L ~ U{min_len, …, T}, its bits left-padded to T
with a blank token (2) that does not count: the protocol of the papers that test the claim
(Delétang et al. 2023 train parity on lengths 1–40; Grazzi et al. 2025 on 3–40). Short samples
are what teach a recurrence to flip its state: at one fixed length, gradient descent gets no signal
until it has the whole XOR, and at T = 64 every model measured here — the LSTM included — stayed at
chance for 1,000 steps.

x: (N, T) long in {0, 1} (and 2, the blank, with min_len < T), y: (N,) long in {0, 1}.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnbench.data import metrics
from rnnbench.data.task import InputSpec, SyntheticTask
from rnnbench.errors import check_int

BLANK = 2


class ParityTask(SyntheticTask):
    name = "parity"
    metrics = {"ce": "min", "acc": "max"}
    baseline_name = "class frequencies"
    per_step = False
    output_size = 2

    def __init__(self, *args, min_len: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_len = check_int("min_len", min_len if min_len is not None else self.seq_len, 1, self.seq_len)
        self.input = InputSpec("tokens", 2 if self.min_len == self.seq_len else 3)

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        x = torch.randint(0, 2, (n, self.seq_len), generator=generator)
        if self.min_len < self.seq_len:
            lengths = torch.randint(self.min_len, self.seq_len + 1, (n, 1), generator=generator)
            x = x.masked_fill(torch.arange(self.seq_len) < self.seq_len - lengths, BLANK)  # left-padded
        return x, (x == 1).sum(dim=1) % 2

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        return torch.nn.functional.cross_entropy(pred, y)

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        return {"ce": metrics.cross_entropy(pred, y), "acc": metrics.accuracy(pred, y)}

    def trivial_prediction(self, x: Tensor) -> Tensor:
        counts = torch.bincount(self.splits()["train"].y, minlength=2).float()
        return torch.log(counts / counts.sum()).expand(len(x), 2)
