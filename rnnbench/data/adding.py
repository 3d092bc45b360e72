"""Adding problem (Hochreiter & Schmidhuber 1997), in the form of the TCN paper (Bai et al. 2018).

Each step carries two numbers: a value v_t ~ U(0, 1) and a marker m_t ∈ {0, 1}. Exactly two
distinct positions, drawn uniformly anywhere in the sequence, are marked; the target is the sum of
their values, read from the last step. Loss and metric: MSE.

Baseline: always predict 1.0 (the mean of the sum). Its MSE is Var(v_a + v_b) = 2/12 = 1/6 ≈ 0.167;
the table reports it measured on the same test split as the models.

x: (N, T, 2) float, y: (N,) float.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnbench.data import metrics
from rnnbench.data.task import InputSpec, SyntheticTask
from rnnbench.errors import ConfigError


class AddingTask(SyntheticTask):
    name = "adding"
    metrics = {"mse": "min"}
    baseline_name = "predict 1.0"
    per_step = False
    input = InputSpec("real", 2)
    output_size = 1

    def __init__(
        self,
        seq_len: int = 100,
        n_train: int = 20_000,
        n_val: int = 1_000,
        n_test: int = 1_000,
        seed: int = 0,
        solved_at: float | None = None,
        name: str | None = None,
    ):
        super().__init__(seq_len, n_train, n_val, n_test, seed, solved_at, name)
        if self.seq_len < 2:
            raise ConfigError("seq_len", "must be ≥ 2 (two positions are marked)", seq_len)

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        T = self.seq_len
        values = torch.rand(n, T, generator=generator)
        first = torch.randint(0, T, (n,), generator=generator)
        second = torch.randint(0, T - 1, (n,), generator=generator)
        second = second + (second >= first).long()  # uniform over positions ≠ first
        marks = torch.zeros(n, T)
        rows = torch.arange(n)
        marks[rows, first] = 1.0
        marks[rows, second] = 1.0
        y = values[rows, first] + values[rows, second]
        return torch.stack([values, marks], dim=-1), y

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        return torch.nn.functional.mse_loss(pred.squeeze(-1), y)

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        return {"mse": metrics.mse(pred.squeeze(-1), y)}

    def trivial_prediction(self, x: Tensor) -> Tensor:
        return x.new_ones(len(x), 1)
