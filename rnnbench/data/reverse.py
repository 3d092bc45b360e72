"""Reverse or sort a sequence of symbols: a small transduction task for encoder-decoders.

Each source is `min_len`…`seq_len` symbols drawn uniformly from `vocab_size` letters (a, b, …);
the target is the same symbols reversed (`operation=reverse`) or in ascending order
(`operation=sort`). Metrics and baseline: transduction.py (CER, exact match; identity).

x: (N, seq_len) long, left-padded; y: (N, seq_len + 1) long (symbols, EOS, IGNORE).
"""

from __future__ import annotations

import string

import torch
from torch import Tensor

from rnnbench.data.task import InputSpec, SyntheticTask
from rnnbench.data.transduction import SPECIALS, TransductionTask, pad_left, target_tensor
from rnnbench.errors import check_choice, check_int


class ReverseTask(SyntheticTask, TransductionTask):
    name = "reverse"

    def __init__(
        self,
        operation: str = "reverse",
        seq_len: int = 12,
        min_len: int = 4,
        vocab_size: int = 10,
        n_train: int = 20_000,
        n_val: int = 1_000,
        n_test: int = 1_000,
        seed: int = 0,
        solved_at: float | None = None,
        name: str | None = None,
    ):
        super().__init__(seq_len, n_train, n_val, n_test, seed, solved_at, name, max_seq_len=1000)
        self.operation = check_choice("operation", operation, ("reverse", "sort"))
        self.min_len = check_int("min_len", min_len, 1, self.seq_len)
        self.vocab_size = check_int("vocab_size", vocab_size, 2, len(string.ascii_lowercase))
        self.symbols = string.ascii_lowercase[: self.vocab_size]
        self.input = InputSpec("tokens", SPECIALS + self.vocab_size)
        self.output_size = SPECIALS + self.vocab_size

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        symbols = torch.randint(SPECIALS, SPECIALS + self.vocab_size, (n, self.seq_len), generator=generator)
        lengths = torch.randint(self.min_len, self.seq_len + 1, (n,), generator=generator)
        sources = [row[:k].tolist() for row, k in zip(symbols, lengths.tolist())]
        outputs = [s[::-1] if self.operation == "reverse" else sorted(s) for s in sources]
        return pad_left(sources, self.seq_len), target_tensor(outputs, self.seq_len + 1)

    def describe(self) -> dict:
        return {
            **super().describe(),
            "operation": self.operation,
            "min_len": self.min_len,
            "vocab_size": self.vocab_size,
        }
