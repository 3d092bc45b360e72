"""Counting languages a^n b^n and a^n b^n c^n (Gers & Schmidhuber 2001; Weiss, Goldberg & Yahav 2018).

Next-symbol prediction over  S a^n b^n [c^n] E  (S start, E end). While reading a's the next
symbol may be a or b, so those steps are not scored; every other step is determined once the
first b is seen (the model must count the a's to know when the b's — and c's — end):
    x = [S a…a b…b (c…c)], padded with 0                         (length 1 + k·n, k = 2 or 3)
    y = x shifted left, E after the last symbol; IGNORE at a-steps and padding
A sequence counts as correct when every scored step is (`seq_acc`, the primary metric); `step_acc`
and `ce` are per scored step.

Train on n drawn uniformly from [1, max_n]; validate on each n in [1, max_n] once (the language
has one string per n, so there is no held-out string in that range: validation measures fit);
test on each n in [1, test_max_n] once. After training the record holds the accuracy per n and
`max_n_generalised`, the largest N with every n ≤ N correct. Weiss et al. find LSTM learns a
counter that generalises well past the training range, GRU does not.

Baseline "bigram": the most frequent next symbol after the current one in training — it cannot
count, so it gets b…b right but misses where they end.

Causal: a bidirectional core is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from rnnbench.data import metrics
from rnnbench.data.task import (
    ACCURACY_BY_N,
    IGNORE,
    MAX_SAMPLES,
    SPLITS,
    InputSpec,
    SequenceTask,
    Split,
    split_generator,
)
from rnnbench.errors import ConfigError, check_choice, check_int

PAD, START, END = 0, 1, 5
LETTERS = {"a": 2, "b": 3, "c": 4}
LANGUAGES = {"anbn": "ab", "anbncn": "abc"}


class CountingTask(SequenceTask):
    metrics = {"seq_acc": "max", "step_acc": "max", "ce": "min"}
    baseline_name = "bigram"
    per_step = True
    causal = True
    input = InputSpec("tokens", 6)
    output_size = 6

    def __init__(
        self,
        language: str = "anbn",
        max_n: int = 50,
        test_max_n: int = 200,
        n_train: int = 10_000,
        seed: int = 0,
        solved_at: float | None = None,
        name: str | None = None,
    ):
        super().__init__(seed, solved_at, name)
        self.name = name or language
        self.letters = LANGUAGES[check_choice("language", language, LANGUAGES)]
        self.language = language
        self.max_n = self.seq_len = check_int("max_n", max_n, 1, 10_000)
        self.test_max_n = check_int("test_max_n", test_max_n, 1, 10_000)
        if self.test_max_n < self.max_n:
            raise ConfigError(
                "test_max_n",
                f"must be at least max_n ({self.max_n}): the test covers the training range and beyond",
                test_max_n,
            )
        self.n_train = check_int("n_train", n_train, 1, MAX_SAMPLES)

    def strings(self, ns: Tensor, length: int) -> tuple[Tensor, Tensor]:
        """The padded strings for counts `ns` (x, y), each row `length` long."""
        k = len(self.letters)
        steps = torch.arange(length).unsqueeze(0)  # (1, L)
        n = ns.unsqueeze(1)  # (N, 1)
        block = torch.div(steps - 1, n, rounding_mode="floor").clamp(min=0)  # which letter block a step is in
        x = torch.where(steps == 0, START, torch.where(steps <= k * n, LETTERS["a"] + block, PAD))
        y = torch.cat([x[:, 1:], torch.full((len(ns), 1), PAD)], dim=1)
        y = torch.where(steps == k * n, END, y)
        scored = (steps == 0) | ((steps > n) & (steps <= k * n))  # start → a, and everything after the first b
        return x, torch.where(scored, y, IGNORE)

    def make_splits(self) -> dict[str, Split]:
        k = len(self.letters)
        train_n = torch.randint(1, self.max_n + 1, (self.n_train,), generator=split_generator(self.seed, 0))
        ns = {"train": train_n, "val": torch.arange(1, self.max_n + 1), "test": torch.arange(1, self.test_max_n + 1)}
        lengths = {"train": 1 + k * self.max_n, "val": 1 + k * self.max_n, "test": 1 + k * self.test_max_n}
        return {split: Split(*self.strings(ns[split], lengths[split])) for split in SPLITS}

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        return torch.nn.functional.cross_entropy(pred.flatten(0, 1), y.flatten(), ignore_index=IGNORE)

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        return {
            "seq_acc": sequence_correct(pred, y).float().mean().item(),
            "step_acc": metrics.accuracy(pred, y),
            "ce": metrics.cross_entropy(pred, y),
        }

    def trivial_prediction(self, x: Tensor) -> Tensor:
        train = self.splits()["train"]
        scored = train.y != IGNORE
        counts = torch.zeros(self.output_size, self.output_size, device=x.device)
        counts.index_put_((train.x[scored], train.y[scored]), counts.new_ones(int(scored.sum())), accumulate=True)
        bigram = torch.log((counts + 1e-3) / (counts + 1e-3).sum(dim=1, keepdim=True))
        return bigram[x]

    def examine(self, model: torch.nn.Module, run_dir: Path) -> dict:
        """Accuracy for each n of the test split and the largest n up to which all are right."""
        test = self.splits()["test"]
        correct = torch.cat(
            [sequence_correct(model(test.x[i : i + 100])[0], test.y[i : i + 100]) for i in range(0, len(test), 100)]
        )
        by_n = {n: bool(ok) for n, ok in zip(range(1, self.test_max_n + 1), correct.tolist())}
        wrong = [n for n, ok in by_n.items() if not ok]
        generalised = (wrong[0] - 1) if wrong else self.test_max_n
        (run_dir / ACCURACY_BY_N).write_text(json.dumps(by_n) + "\n", encoding="utf-8")
        return {
            "max_n_generalised": generalised,
            "correct_beyond_training": sum(by_n[n] for n in range(self.max_n + 1, self.test_max_n + 1)),
            "wrong_n": wrong[:50],
        }

    def describe(self) -> dict:
        return {**super().describe(), "language": self.language, "max_n": self.max_n, "test_max_n": self.test_max_n}


def sequence_correct(pred: Tensor, y: Tensor) -> Tensor:
    """(N,) bool: every scored step of the row predicted right."""
    return ((pred.argmax(-1) == y) | (y == IGNORE)).all(dim=1)
