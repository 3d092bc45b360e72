"""Selective copy (Gu & Dao 2023, the Mamba paper): recall K tokens scattered among T noise steps.

Alphabet: 0 noise, 1…V data tokens, V+1 marker. K data tokens sit at K random positions (kept in
order) of a T-step region otherwise filled with noise; then K markers ask for them back:
    x = [region of length T with K data tokens at random positions, V+1 × K]     (length T + K)
    y = [IGNORE × T, the K data tokens in order]
Unlike copy memory the spacing varies per sample, so a model must select by content, not count
time steps. Loss and metrics only on the last K positions: cross-entropy (`ce`, nats per token)
and `acc` (per-token accuracy).

Baseline "uniform over data tokens": ce = ln V, acc ≈ 1/V.
Causal: a bidirectional core is refused.

x: (N, T+K) long, y: (N, T+K) long with IGNORE (-100) on the first T.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnbench.data import metrics
from rnnbench.data.task import IGNORE, InputSpec, SyntheticTask
from rnnbench.errors import ConfigError, check_int

NOISE = 0


class SelectiveCopyTask(SyntheticTask):
    name = "selective_copy"
    metrics = {"acc": "max", "ce": "min"}
    baseline_name = "uniform over data tokens"
    per_step = True
    causal = True

    def __init__(
        self,
        seq_len: int = 100,
        n_tokens: int = 8,
        vocab_size: int = 8,
        n_train: int = 20_000,
        n_val: int = 1_000,
        n_test: int = 1_000,
        seed: int = 0,
        solved_at: float | None = None,
        name: str | None = None,
    ):
        super().__init__(seq_len, n_train, n_val, n_test, seed, solved_at, name)
        self.n_tokens = check_int("n_tokens", n_tokens, 1)
        self.vocab_size = check_int("vocab_size", vocab_size, 2, 100_000)
        if self.n_tokens > self.seq_len:
            raise ConfigError(
                "n_tokens",
                f"must not exceed seq_len ({self.seq_len}): the tokens are placed among seq_len positions",
                n_tokens,
            )
        self.marker = self.vocab_size + 1
        self.input = InputSpec("tokens", self.vocab_size + 2)
        self.output_size = self.vocab_size + 2

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        T, K = self.seq_len, self.n_tokens
        tokens = torch.randint(1, self.vocab_size + 1, (n, K), generator=generator)
        # K distinct positions per row, in increasing order: the K smallest of T random keys
        positions = torch.rand(n, T, generator=generator).argsort(dim=1)[:, :K].sort(dim=1).values
        region = torch.full((n, T), NOISE).scatter_(1, positions, tokens)
        x = torch.cat([region, torch.full((n, K), self.marker)], dim=1)
        y = torch.cat([torch.full((n, T), IGNORE), tokens], dim=1)
        return x, y

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        K = self.n_tokens
        return torch.nn.functional.cross_entropy(pred[:, -K:].flatten(0, 1), y[:, -K:].flatten())

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        K = self.n_tokens
        return {"ce": metrics.cross_entropy(pred[:, -K:], y[:, -K:]), "acc": metrics.accuracy(pred[:, -K:], y[:, -K:])}

    def trivial_prediction(self, x: Tensor) -> Tensor:
        logits = torch.full((*x.shape, self.output_size), -math.inf, device=x.device)
        logits[..., 1 : self.vocab_size + 1] = 0.0
        return logits

    def describe(self) -> dict:
        return {**super().describe(), "n_tokens": self.n_tokens, "vocab_size": self.vocab_size}
