"""The length-generalisation protocol of Delétang et al. (2023), shared by the Chomsky-hierarchy tasks.

A task maps an input string s of length L to an output string o of length `output_length(L)`
(one symbol for a classification). As in the authors' non-autoregressive setting
(`make_model_with_empty_targets`), the model reads a tape of the input followed by one empty slot
per output symbol and answers at the slots:

    x = [s_1 … s_L, ∅ … ∅, pad …]      tokens: pad 0, ∅ 1, input symbol i → 2 + i   (N, W) long
    y = [-   …  -,  o_1 … o_K, - …]     the output symbol at each slot, IGNORE (-) elsewhere   (N, W)

Rows are right-padded to the split's widest tape; every model here reads causally, so padding
after a row's last slot never reaches its answers (a bidirectional core is refused).

Lengths: training and validation draw L uniformly from 1…`max_train_len` (40), the validation rows
that also occur in training dropped; the test holds `test_per_length` strings at each length from
`test_min_len` to `test_max_len` (41…500) every `test_stride`. A model that learned the algorithm
rather than the training lengths keeps its accuracy beyond 40.

Scores, as the authors': at each length the accuracy over scored output symbols (tasks whose
output ends with a termination symbol — stack manipulation, binary addition and multiplication —
score up to and including it; the zeros after it are trained on but not scored), then the mean
over lengths: `acc` on the test split is the paper's score (mean accuracy over lengths 41–500);
`ce` the mean cross-entropy per output symbol (nats) the same way. After training, the run writes
`by_length.json` (length → accuracy, the training range from the validation split, the rest from
the test). Training loss: cross-entropy summed over a row's output symbols, averaged over rows.

Baseline "class frequencies": every output symbol predicted from the training outputs' symbol
frequencies (for a binary output, chance: 1/2).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnbench.data.task import BY_LENGTH, IGNORE, MAX_SAMPLES, InputSpec, SequenceTask, Split, row_keys, split_seed
from rnnbench.errors import ConfigError, check_int

PAD, EMPTY, FIRST_SYMBOL = 0, 1, 2
LEVELS = ("regular", "context-free", "context-sensitive")


class LengthGeneralisationTask(SequenceTask):
    """Subclasses set `level`, `input_symbols`, `output_symbols` (and `terminates` when the output
    ends with the termination symbol `output_symbols - 1`) and implement `draw` (a random input),
    `answer` (its output, from the input alone) and, when it is not one symbol, `output_length`."""

    metrics = {"acc": "max", "ce": "min"}
    baseline_name = "class frequencies"
    per_step = True
    causal = True
    level: ClassVar[str]
    input_symbols: ClassVar[int]
    output_symbols: ClassVar[int]
    terminates: ClassVar[bool] = False

    def __init__(
        self,
        max_train_len: int = 40,
        test_min_len: int = 41,
        test_max_len: int = 500,
        test_stride: int = 1,
        test_per_length: int = 32,
        n_train: int = 50_000,
        n_val: int = 2_000,
        seed: int = 0,
        solved_at: float | None = None,
        name: str | None = None,
    ):
        super().__init__(seed, solved_at, name)
        self.max_train_len = self.seq_len = check_int("max_train_len", max_train_len, 1, 10_000)
        self.test_min_len = check_int("test_min_len", test_min_len, 1, 10_000)
        self.test_max_len = check_int("test_max_len", test_max_len, self.test_min_len, 10_000)
        self.test_stride = check_int("test_stride", test_stride, 1, 10_000)
        self.test_per_length = check_int("test_per_length", test_per_length, 1, MAX_SAMPLES)
        self.n_train = check_int("n_train", n_train, 1, MAX_SAMPLES)
        self.n_val = check_int("n_val", n_val, 1, MAX_SAMPLES)
        n_test = len(self.test_lengths) * self.test_per_length
        if n_test > MAX_SAMPLES:
            raise ConfigError(
                "test_per_length", f"gives {n_test:,} test strings, more than a split may hold ({MAX_SAMPLES:,})"
            )
        self.input = InputSpec("tokens", FIRST_SYMBOL + self.input_symbols)
        self.output_size = self.output_symbols

    # --- what a task provides -----------------------------------------------------------------
    def draw(self, rng: random.Random, length: int) -> list[int]:
        """A random input string of `length` symbols in [0, input_symbols)."""
        raise NotImplementedError

    def answer(self, s: list[int]) -> list[int]:
        """The output string of input `s`: `output_length(len(s))` symbols in [0, output_symbols)."""
        raise NotImplementedError

    def sample(self, rng: random.Random, length: int) -> tuple[list[int], list[int]]:
        s = self.draw(rng, length)
        return s, self.answer(s)

    def output_length(self, length: int) -> int:
        return 1

    # --- splits ---------------------------------------------------------------------------------
    @property
    def test_lengths(self) -> range:
        return range(self.test_min_len, self.test_max_len + 1, self.test_stride)

    def train_length(self, rng: random.Random) -> int:
        return rng.randint(1, self.max_train_len)

    def make_splits(self) -> dict[str, Split]:
        train_rng, val_rng, test_rng = (random.Random(split_seed(self.seed, i)) for i in range(3))
        width = self.width(range(1, self.max_train_len + 1))  # one width: equal rows have equal bytes
        train = self.tape([self.sample(train_rng, self.train_length(train_rng)) for _ in range(self.n_train)], width)
        val = self.tape([self.sample(val_rng, self.train_length(val_rng)) for _ in range(self.n_val)], width)
        seen = set(row_keys(train.x))
        fresh = torch.tensor([key not in seen for key in row_keys(val.x)])
        if not fresh.any():
            raise ConfigError(
                "max_train_len",
                f"leaves no validation string unseen in training ({self.n_val} drawn, all among the "
                f"{self.n_train} training strings): raise it or dataset.n_val",
                self.max_train_len,
            )
        test = [self.sample(test_rng, n) for n in self.test_lengths for _ in range(self.test_per_length)]
        return {
            "train": train,
            "val": Split(val.x[fresh], val.y[fresh]),
            "test": self.tape(test, self.width(self.test_lengths)),
        }

    def width(self, lengths: range) -> int:
        """The longest tape of inputs of these lengths."""
        return max(n + self.output_length(n) for n in lengths)

    def tape(self, pairs: list[tuple[list[int], list[int]]], width: int) -> Split:
        """Input strings and their outputs as tapes (x, y) `width` wide, sorted by input length."""
        pairs = sorted(pairs, key=lambda pair: len(pair[0]))
        x = np.full((len(pairs), width), PAD - FIRST_SYMBOL, dtype=np.int64)  # shifted by FIRST_SYMBOL below
        y = np.full((len(pairs), width), IGNORE, dtype=np.int64)
        for row, (s, o) in enumerate(pairs):
            x[row, : len(s)] = s
            x[row, len(s) : len(s) + len(o)] = EMPTY - FIRST_SYMBOL
            y[row, len(s) : len(s) + len(o)] = o
        return Split(torch.from_numpy(x + FIRST_SYMBOL), torch.from_numpy(y))

    # --- loss and scores ------------------------------------------------------------------------
    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(pred.flatten(0, 1), y.flatten(), ignore_index=IGNORE, reduction="sum") / len(y)

    def scored(self, y: Tensor) -> Tensor:
        """(N, W) bool: the output symbols that count for accuracy (up to the termination symbol)."""
        slots = y != IGNORE
        if not self.terminates:
            return slots
        end = (y == self.output_symbols - 1).long()
        return slots & (end.cumsum(1) - end == 0)

    def counts(self, pred: Tensor, y: Tensor) -> tuple[float, float, float, float]:
        """(correct, scored, summed cross-entropy, output symbols) of a batch."""
        scored = self.scored(y)
        correct = ((pred.argmax(-1) == y) & scored).sum().item()
        ce = F.cross_entropy(pred.flatten(0, 1), y.flatten(), ignore_index=IGNORE, reduction="sum").item()
        return correct, scored.sum().item(), ce, (y != IGNORE).sum().item()

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        correct, scored, ce, symbols = self.counts(pred, y)
        return {"acc": correct / max(scored, 1), "ce": ce / max(symbols, 1)}

    def scores_by_length(
        self, predict: Callable[[Tensor], Tensor], data: Split, rows: int | None = None
    ) -> dict[int, dict[str, float]]:
        """Input length → {acc, ce} over that length's rows, each read on its own tape width."""
        lengths = (data.x >= FIRST_SYMBOL).sum(1)
        rows = min(rows or len(data), self.rows_per_chunk(data))
        out = {}
        for length in lengths.unique().tolist():
            index = (lengths == length).nonzero().squeeze(1)
            width = length + self.output_length(length)
            totals = [0.0, 0.0, 0.0, 0.0]
            for start in range(0, len(index), rows):
                chunk = index[start : start + rows]
                y = data.y[chunk, :width]
                totals = [t + c for t, c in zip(totals, self.counts(predict(data.x[chunk, :width]), y))]
            correct, scored, ce, symbols = totals
            out[int(length)] = {"acc": correct / max(scored, 1), "ce": ce / max(symbols, 1)}
        return out

    def score_predictor(
        self, predict: Callable[[Tensor], Tensor], data: Split, rows: int | None = None
    ) -> dict[str, float]:
        """The mean over lengths of each length's scores (every length weighs the same)."""
        by_length = self.scores_by_length(predict, data, rows)
        return {name: sum(s[name] for s in by_length.values()) / len(by_length) for name in self.metrics}

    def trivial_prediction(self, x: Tensor) -> Tensor:
        train = self.splits()["train"]
        counts = torch.bincount(train.y[train.y != IGNORE], minlength=self.output_symbols).float()
        return torch.log((counts + 1) / (counts + 1).sum()).expand(*x.shape, self.output_symbols)

    # --- after training -------------------------------------------------------------------------
    @torch.no_grad()
    def examine(self, model: torch.nn.Module, run_dir: Path) -> dict:
        """by_length.json: accuracy at each length, the training range (validation) and beyond (test)."""
        splits = self.splits()
        accuracy = {}
        for split in ("val", "test"):
            scores = self.scores_by_length(lambda x: model(x)[0], splits[split], 256)
            accuracy.update({length: s["acc"] for length, s in scores.items()})
        (run_dir / BY_LENGTH).write_text(json.dumps({str(k): v for k, v in sorted(accuracy.items())}) + "\n")
        beyond = [acc for length, acc in accuracy.items() if length > self.max_train_len]
        within = [acc for length, acc in accuracy.items() if length <= self.max_train_len]
        return {
            "acc_training_lengths": sum(within) / max(len(within), 1),
            "acc_longer": sum(beyond) / max(len(beyond), 1),
            "longest_all_right": longest_all_right(accuracy),
        }

    def describe(self) -> dict:
        return {
            **super().describe(),
            "level": self.level,
            "max_train_len": self.max_train_len,
            "test_lengths": [self.test_min_len, self.test_max_len, self.test_stride],
            "test_per_length": self.test_per_length,
        }


def longest_all_right(accuracy: dict[int, float], at: float = 1.0) -> int:
    """The largest length L with every measured length ≤ L at accuracy ≥ `at` (0 if the first is not)."""
    longest = 0
    for length in sorted(accuracy):
        if accuracy[length] < at:
            break
        longest = length
    return longest
