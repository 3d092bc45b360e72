"""The task interface every dataset implements (after zoology's `DataSegmentConfig.build(seed)`).

A task generates its train/val/test splits in bulk as tensors from one seed, makes sure no
evaluation sample also appears in training, and scores predictions. Its trivial baseline is a
*predictor* scored by the same code as the models, on the same split, so a table's baseline row
is measured, not quoted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from rnnbench.errors import check_float, check_int

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class InputSpec:
    """What the model is fed: ``real`` → float x of shape (B, T, size); ``tokens`` → long x of
    shape (B, T) with values in [0, size)."""

    kind: str
    size: int


@dataclass
class Split:
    x: Tensor  # (N, T, I) float or (N, T) long
    y: Tensor  # (N,) / (N, O) for sequence targets, (N, T) for per-step targets

    def __len__(self) -> int:
        return len(self.x)


class SequenceTask:
    """Base class. Subclasses set the class attributes and implement the four methods below.

    `metrics` maps metric name → "min" or "max" (which direction is better); the first one is the
    task's primary metric (what early stopping, "best" and `solved_at` refer to).
    """

    name: ClassVar[str]
    metrics: ClassVar[dict[str, str]]
    baseline_name: ClassVar[str]
    per_step: ClassVar[bool]  # one output per time step (True) or per sequence (False)
    causal: ClassVar[bool] = False  # the output at step t may only use inputs up to t (no bidirectional core)

    def __init__(self, seq_len: int, n_train: int, n_val: int, n_test: int, seed: int,
                 solved_at: float | None = None, name: str | None = None, max_seq_len: int = 100_000):
        if name is not None:
            self.name = name  # the config's label; defaults to the class's
        self.seq_len = check_int("seq_len", seq_len, 1, max_seq_len)
        self.n_train = check_int("n_train", n_train, 1)
        self.n_val = check_int("n_val", n_val, 1)
        self.n_test = check_int("n_test", n_test, 1)
        self.seed = check_int("seed", seed, 0)
        self.solved_at = None if solved_at is None else check_float("solved_at", solved_at)
        self._splits: dict[str, Split] | None = None

    # --- what a subclass provides -------------------------------------------------------------
    input: InputSpec
    output_size: int

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """n fresh samples (x, y), vectorised over n."""
        raise NotImplementedError

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        """Scalar training loss of the model output `pred` against targets `y`."""
        raise NotImplementedError

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        """Every metric in `metrics`, as a mean over the samples of the batch."""
        raise NotImplementedError

    def trivial_prediction(self, x: Tensor) -> Tensor:
        """The baseline predictor's output for inputs x, in the same form as a model's output."""
        raise NotImplementedError

    # --- shared ---------------------------------------------------------------------------------
    @property
    def primary_metric(self) -> str:
        return next(iter(self.metrics))

    @property
    def sample_len(self) -> int:
        """Time steps per sample as fed to the model (tokens per sample for throughput)."""
        return self.splits()["val"].x.shape[1]

    def is_better(self, metric: str, new: float, old: float | None) -> bool:
        if old is None:
            return True
        return new < old if self.metrics[metric] == "min" else new > old

    def is_solved(self, value: float) -> bool:
        if self.solved_at is None:
            return False
        return value <= self.solved_at if self.metrics[self.primary_metric] == "min" else value >= self.solved_at

    def splits(self) -> dict[str, Split]:
        """Train/val/test, generated once from `seed`. Each split has its own RNG stream; a val or
        test sample identical to an earlier split's sample is dropped, so splits never overlap."""
        if self._splits is None:
            sizes = {"train": self.n_train, "val": self.n_val, "test": self.n_test}
            seen: set[bytes] = set()
            self._splits = {}
            for index, split in enumerate(SPLITS):
                generator = torch.Generator().manual_seed(_split_seed(self.seed, index))
                x, y = self.generate(sizes[split], generator)
                keys = _row_keys(x)
                keep = [k not in seen for k in keys]
                if not all(keep):
                    mask = torch.tensor(keep)
                    x, y = x[mask], y[mask]
                seen.update(keys)
                self._splits[split] = Split(x, y)
        return self._splits

    def baseline(self, split: str = "test") -> dict[str, float]:
        data = self.splits()[split]
        return self.score(self.trivial_prediction(data.x), data.y)

    def describe(self) -> dict:
        """The task's identity for the run record."""
        return {"name": self.name, "seq_len": self.seq_len, "sample_len": self.sample_len,
                "metrics": dict(self.metrics), "primary_metric": self.primary_metric,
                "baseline_name": self.baseline_name, "solved_at": self.solved_at,
                "sizes": {k: len(v) for k, v in self.splits().items()}}


def _split_seed(seed: int, split_index: int) -> int:
    return int(np.random.SeedSequence([seed, split_index]).generate_state(1)[0])


def _row_keys(x: Tensor) -> list[bytes]:
    rows = np.ascontiguousarray(x.numpy().reshape(len(x), -1))
    return [row.tobytes() for row in rows]

