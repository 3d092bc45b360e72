"""Tasks: each generates its splits as tensors in bulk from a seed and knows its loss, metrics and
trivial baseline. One file per task; the base class is in `task.py`."""
from rnnbench.data.task import InputSpec, SequenceTask, Split

__all__ = ["InputSpec", "SequenceTask", "Split"]
