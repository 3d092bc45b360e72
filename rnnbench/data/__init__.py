"""Tasks: each builds its splits as tensors (generated from a seed or loaded from `datasets/`) and
knows its loss, metrics and baselines. One file per task; the base classes are in `task.py`."""

from rnnbench.data.task import IGNORE, InputSpec, SequenceTask, Split, SyntheticTask

__all__ = ["IGNORE", "InputSpec", "SequenceTask", "Split", "SyntheticTask"]
