"""The task interface every dataset implements (after zoology's `DataSegmentConfig.build(seed)`).

A task generates its train/val/test splits in bulk as tensors from one seed, makes sure no
evaluation sample also appears in training, and scores predictions. Its trivial baseline is a
*predictor* scored by the same code as the models, on the same split, so a table's baseline row
is measured, not quoted.

The splits exist once: built on the CPU, then moved with the task to the run's device
(`task.to(device)`); training, evaluation, the baselines and `examine` all read those. So every
tensor a task makes from its inputs is made on their device (`x.new_full`, `device=x.device`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from rnnbench.data.metrics import IGNORE  # noqa: F401  (re-exported: a per-step target that is not scored)
from rnnbench.errors import MAX_SEED, ConfigError, check_float, check_int, check_name

SPLITS = ("train", "val", "test")
# Generated splits: at most this many samples, and samples × time steps (8 GiB of float32), each.
MAX_SAMPLES, MAX_STEPS_PER_SPLIT = 10**7, 2**31
# What tasks' `examine` writes into the run folder: a text sample, counting's accuracy by n, the
# Chomsky tasks' accuracy by length, stock predictions (table and plot), transduction examples,
# video frames.
SAMPLE, ACCURACY_BY_N, BY_LENGTH = "sample.txt", "accuracy_by_n.json", "by_length.json"
EXAMPLES, FRAMES = "examples.txt", "frames.png"
PREDICTIONS, PREDICTIONS_PLOT = "test_predictions.csv", "test_predictions.png"


@dataclass(frozen=True)
class InputSpec:
    """What the model is fed: ``real`` → float x of shape (B, T, size); ``tokens`` → long x of
    shape (B, T) with values in [0, size); ``frames`` → float x of shape (B, T, size, *shape),
    `size` channels of height × width `shape`."""

    kind: str
    size: int
    shape: tuple[int, ...] = ()


# What a task asks of a model (`SequenceTask.kind`), and the words an error uses for it.
TASK_KINDS = {
    "sequence": "a sequence → one output or an output per step",
    "transduction": "a sequence → another sequence of its own length (encoder-decoder)",
    "frames": "video frames → the next frames (convolutional encoder-forecaster)",
}


@dataclass
class Split:
    x: Tensor  # (N, T, I) float or (N, T) long
    y: Tensor  # (N,) / (N, O) for sequence targets, (N, T) for per-step targets

    def __len__(self) -> int:
        return len(self.x)


class SequenceTask:
    """Base class. Subclasses set the class attributes and implement the methods that raise
    NotImplementedError; `SyntheticTask` below implements `make_splits` for generated tasks.

    `metrics` maps metric name → "min" or "max" (which direction is better); the first one is the
    task's primary metric (what early stopping, "best" and `solved_at` refer to).

    Per-step targets may hold `IGNORE` (-100) at positions that are not scored (padding, steps
    whose next symbol is not determined); losses and metrics skip them.
    """

    name: ClassVar[str]
    metrics: ClassVar[dict[str, str]]
    baseline_name: ClassVar[str]
    per_step: ClassVar[bool]  # one output per time step (True) or per sequence (False)
    causal: ClassVar[bool] = False  # the output at step t may only use inputs up to t (no bidirectional core)
    kind: ClassVar[str] = "sequence"  # a key of TASK_KINDS: which models can run the task
    # Consecutive batches continue each other (truncated BPTT over a long stream): the trainer
    # carries the recurrent state from one batch to the next and evaluates streams in order.
    stateful: bool = False

    def __init__(self, seed: int, solved_at: float | None = None, name: str | None = None):
        if name is not None:
            self.name = check_name("name", name)  # the config's label; defaults to the class's
        self.seed = check_int("seed", seed, 0, MAX_SEED)
        self.solved_at = None if solved_at is None else check_float("solved_at", solved_at)
        self._splits: dict[str, Split] | None = None
        self.device = "cpu"

    # --- what a subclass provides -------------------------------------------------------------
    input: InputSpec
    output_size: int
    seq_len: int  # the task's length knob (T), as logged and recorded

    def make_splits(self) -> dict[str, Split]:
        """Train/val/test, built once (then cached by `splits()`)."""
        raise NotImplementedError

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        """Scalar training loss of the model output `pred` against targets `y`."""
        raise NotImplementedError

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        """Every metric in `metrics`, as a mean over the samples of the batch."""
        raise NotImplementedError

    def train_metric(self, loss: float) -> tuple[str, float]:
        """(name, value): the mean training loss as the metric it is, where it is one of the task's
        metrics in another unit (text: bpc = cross-entropy / ln 2), so that the log sets training
        and validation side by side in one unit; else ("loss", loss)."""
        return "loss", loss

    def trivial_prediction(self, x: Tensor) -> Tensor:
        """The baseline predictor's output for inputs x, in the same form as a model's output."""
        raise NotImplementedError

    def finish_scores(self, means: dict[str, float]) -> dict[str, float]:
        """Metrics that are not means over samples, from the means of `score`'s values (e.g.
        perplexity = exp(mean cross-entropy)). Applied after averaging over a whole split."""
        return means

    def other_baselines(self) -> dict[str, Callable[[Tensor], Tensor]]:
        """Further reference predictors beside the trivial one (name → predictor), scored the
        same way; e.g. a linear autoregression for a price series."""
        return {}

    def examine(self, model: torch.nn.Module, run_dir: Path) -> dict:
        """After training, in eval mode without gradients: anything the task adds to the record
        (generated text, accuracy per length, plots saved in run_dir under the file names at the
        top of this module). Returns JSON-able values for summary.analysis."""
        return {}

    def model_args(self) -> dict:
        """What a model of this task's `kind` is built with besides its own config."""
        return {
            "input_spec": self.input,
            "output_size": self.output_size,
            "per_step": self.per_step,
            "causal": self.causal,
        }

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
        if self._splits is None:
            self._splits = {
                name: Split(s.x.to(self.device), s.y.to(self.device)) for name, s in self.make_splits().items()
            }
        return self._splits

    def to(self, device: str) -> SequenceTask:
        """Move the splits to `device` (the only copy of them); returns the task."""
        self.device = device
        self._splits = {name: Split(s.x.to(device), s.y.to(device)) for name, s in self.splits().items()}
        return self

    def baseline(self, split: str = "test") -> dict[str, float]:
        return self.score_predictor(self.trivial_prediction, self.splits()[split])

    def baselines(self, split: str = "test") -> dict[str, dict[str, float]]:
        """The trivial baseline and every other reference predictor, scored on `split`."""
        predictors = {self.baseline_name: self.trivial_prediction, **self.other_baselines()}
        return {name: self.score_predictor(predict, self.splits()[split]) for name, predict in predictors.items()}

    def rows_per_chunk(self, data: Split) -> int:
        """Rows of `data` whose outputs hold about 16 M numbers (a word vocabulary makes them big)."""
        per_row = data.x[0].numel() * (self.output_size if self.per_step else 1)
        return max(1, (1 << 24) // max(1, per_row))

    def score_predictor(
        self, predict: Callable[[Tensor], Tensor], data: Split, rows: int | None = None
    ) -> dict[str, float]:
        """Every metric of `predict` over a split: chunk means weighted by chunk size, then
        `finish_scores`. Chunks have at most `rows` rows and never more than `rows_per_chunk`."""
        rows = min(rows or len(data), self.rows_per_chunk(data))
        totals: dict[str, float] = {}
        for start in range(0, len(data), rows):
            x, y = data.x[start : start + rows], data.y[start : start + rows]
            for name, value in self.score(predict(x), y).items():
                totals[name] = totals.get(name, 0.0) + value * len(x)
        return self.finish_scores({name: total / len(data) for name, total in totals.items()})

    def describe(self) -> dict:
        """The task's identity for the run record."""
        return {
            "name": self.name,
            "kind": self.kind,
            "seq_len": self.seq_len,
            "sample_len": self.sample_len,
            "metrics": dict(self.metrics),
            "primary_metric": self.primary_metric,
            "baseline_name": self.baseline_name,
            "solved_at": self.solved_at,
            "stateful": self.stateful,
            "sizes": {k: len(v) for k, v in self.splits().items()},
        }


class SyntheticTask(SequenceTask):
    """A task generated from a seed: `generate(n, generator)` makes n samples at once.

    Each split has its own RNG stream; a val or test sample identical to an earlier split's
    sample is dropped, so splits never overlap."""

    def __init__(
        self,
        seq_len: int,
        n_train: int,
        n_val: int,
        n_test: int,
        seed: int,
        solved_at: float | None = None,
        name: str | None = None,
        max_seq_len: int = 100_000,
    ):
        super().__init__(seed, solved_at, name)
        self.seq_len = check_int("seq_len", seq_len, 1, max_seq_len)
        self.n_train = check_int("n_train", n_train, 1, MAX_SAMPLES)
        self.n_val = check_int("n_val", n_val, 1, MAX_SAMPLES)
        self.n_test = check_int("n_test", n_test, 1, MAX_SAMPLES)
        for key, n in (("n_train", self.n_train), ("n_val", self.n_val), ("n_test", self.n_test)):
            if n * self.seq_len > MAX_STEPS_PER_SPLIT:
                raise ConfigError(
                    key,
                    f"× seq_len is {n * self.seq_len:,} time steps, more than a split may hold "
                    f"({MAX_STEPS_PER_SPLIT:,}: 8 GiB of float32); make it or dataset.seq_len smaller",
                    n,
                )

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """n fresh samples (x, y), vectorised over n."""
        raise NotImplementedError

    def make_splits(self) -> dict[str, Split]:
        sizes = {"train": self.n_train, "val": self.n_val, "test": self.n_test}
        seen: set[bytes] = set()
        splits = {}
        for index, split in enumerate(SPLITS):
            x, y = self.generate(sizes[split], split_generator(self.seed, index))
            keys = row_keys(x)
            keep = [k not in seen for k in keys]
            if not all(keep):
                mask = torch.tensor(keep)
                x, y = x[mask], y[mask]
            seen.update(keys)
            splits[split] = Split(x, y)
        return splits


def split_generator(seed: int, split_index: int) -> torch.Generator:
    """An independent torch RNG stream for split `split_index` of a task seeded with `seed`."""
    return torch.Generator().manual_seed(split_seed(seed, split_index))


def split_seed(seed: int, split_index: int) -> int:
    """The seed of split `split_index`'s RNG stream (for tasks that draw with numpy or `random`)."""
    return int(np.random.SeedSequence([seed, split_index]).generate_state(1)[0])


def row_keys(x: Tensor) -> list[bytes]:
    """Each row's bytes: equal rows, equal keys (to drop evaluation rows that occur in training)."""
    rows = np.ascontiguousarray(x.numpy().reshape(len(x), -1))
    return [row.tobytes() for row in rows]
