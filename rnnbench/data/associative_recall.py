"""Multi-query associative recall, MQAR (Arora et al. 2023, "Zoology"; after Ba et al. 2016).

D key-value pairs, then queries: each key is asked once, in random order, at random positions of
the remaining steps (other steps hold the blank 0). At a query the model must output the value
that followed that key in the context:
    x = [k_1 v_1 … k_D v_D | 0 … k_π(1) … 0 … k_π(D) … 0]     (length T)
    y = IGNORE everywhere except at query positions, where y = the queried key's value
Keys are drawn without repetition from [1, V/2), values from [V/2, V). Per row the pairs are new,
so nothing can be memorised across samples. Metrics at query positions: `ce` (nats) and `acc`.

Baseline "uniform over values": ce = ln |values|, acc ≈ 1/|values|.
Causal: a bidirectional core is refused.

x: (N, T) long, y: (N, T) long.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnbench.data import metrics
from rnnbench.data.task import IGNORE, InputSpec, SyntheticTask
from rnnbench.errors import ConfigError, check_int

BLANK = 0


class AssociativeRecallTask(SyntheticTask):
    name = "mqar"
    metrics = {"acc": "max", "ce": "min"}
    baseline_name = "uniform over values"
    per_step = True
    causal = True

    def __init__(
        self,
        seq_len: int = 64,
        n_pairs: int = 8,
        vocab_size: int = 64,
        n_train: int = 20_000,
        n_val: int = 1_000,
        n_test: int = 1_000,
        seed: int = 0,
        solved_at: float | None = None,
        name: str | None = None,
    ):
        super().__init__(seq_len, n_train, n_val, n_test, seed, solved_at, name)
        self.n_pairs = check_int("n_pairs", n_pairs, 1)
        self.vocab_size = check_int("vocab_size", vocab_size, 4, 1_000_000)
        if 3 * self.n_pairs > self.seq_len:
            raise ConfigError(
                "n_pairs",
                f"must be at most seq_len / 3 ({self.seq_len // 3}): 2 steps per pair plus one per query",
                n_pairs,
            )
        self.first_value = self.vocab_size // 2
        if self.n_pairs > self.first_value - 1:
            raise ConfigError(
                "n_pairs",
                f"must be at most {self.first_value - 1} (keys are distinct, drawn "
                f"from [1, vocab_size/2)); raise vocab_size",
                n_pairs,
            )
        self.input = InputSpec("tokens", self.vocab_size)
        self.output_size = self.vocab_size

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        T, D = self.seq_len, self.n_pairs
        rows = torch.arange(n).unsqueeze(1)
        keys = torch.rand(n, self.first_value - 1, generator=generator).argsort(dim=1)[:, :D] + 1
        values = torch.randint(self.first_value, self.vocab_size, (n, D), generator=generator)
        order = torch.rand(n, D, generator=generator).argsort(dim=1)  # which pair each query asks
        region = T - 2 * D
        slots = torch.rand(n, region, generator=generator).argsort(dim=1)[:, :D].sort(dim=1).values + 2 * D
        x = torch.full((n, T), BLANK)
        x[:, 0 : 2 * D : 2], x[:, 1 : 2 * D : 2] = keys, values
        x[rows, slots] = keys.gather(1, order)
        y = torch.full((n, T), IGNORE)
        y[rows, slots] = values.gather(1, order)
        return x, y

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        return torch.nn.functional.cross_entropy(pred.flatten(0, 1), y.flatten(), ignore_index=IGNORE)

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        return {"ce": metrics.cross_entropy(pred, y), "acc": metrics.accuracy(pred, y)}

    def trivial_prediction(self, x: Tensor) -> Tensor:
        logits = torch.full((*x.shape, self.output_size), -math.inf, device=x.device)
        logits[..., self.first_value :] = 0.0
        return logits

    def describe(self) -> dict:
        return {**super().describe(), "n_pairs": self.n_pairs, "vocab_size": self.vocab_size}
