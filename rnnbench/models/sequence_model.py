"""The wrapper every model shares: input encoding → core → readout → linear head.

    x (B, T, I) real     → as is                         (B, T, I)
    x (B, T)   tokens    → embedding                     (B, T, E)
    core                 → (B, T, D), state               any module with .output_size = D,
                                                          forward(x, state) -> (y, state)
    readout              → (B, T, D) per step or (B, D)   (readout.py)
    head  Linear(D, O)   → (B, T, O) or (B, O)

Every model in the zoo is called as ``model(x, state=None, target=None) -> (prediction, state)``
(this wrapper, seq2seq.Seq2Seq, encoder_forecaster.EncoderForecaster), so the trainer never asks
what kind of model it holds.

``readout=auto`` reads out every step for tasks with a target per step and the last step
otherwise. A bidirectional core is refused on a causal task (one whose output at step t may only
depend on inputs up to t).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from rnnbench.data.task import InputSpec
from rnnbench.errors import ConfigError, check_choice, check_int, check_name
from rnnbench.models.readout import SEQUENCE_READOUTS, Readout


class SequenceModel(nn.Module):
    task_kind = "sequence"  # data.task.TASK_KINDS

    def __init__(
        self,
        core: Callable[..., nn.Module],
        input_spec: InputSpec,
        output_size: int,
        per_step: bool,
        causal: bool = False,
        readout: str = "auto",
        embedding_dim: int = 32,
        name: str = "model",
        **core_options: Any,
    ):
        """`core(input_size, **core_options)` builds the core; every other key of a model config
        (hidden_size, num_layers, cell, …) is a core option."""
        super().__init__()
        self.name = check_name("name", name)
        check_choice("readout", readout, ("auto", *SEQUENCE_READOUTS))
        if per_step and readout != "auto":
            raise ConfigError(
                "readout",
                "must be 'auto' for a task with a target at every step (the model reads out every step)",
                readout,
            )
        if input_spec.kind == "tokens":
            self.embedding = nn.Embedding(input_spec.size, check_int("embedding_dim", embedding_dim, 1))
            core_input = embedding_dim
        else:
            self.embedding = None
            core_input = input_spec.size
        self.core = core(core_input, **core_options)
        bidirectional = getattr(self.core, "bidirectional", False)
        if bidirectional and causal:
            raise ConfigError(
                "bidirectional",
                "must be false for this task: its output at each step may only depend on the inputs so far",
                True,
            )
        kind = "per_step" if per_step else ("last" if readout == "auto" else readout)
        self.readout = Readout(kind, self.core.output_size, bidirectional)
        self.head = nn.Linear(self.core.output_size, output_size)

    def forward(self, x: Tensor, state: Any = None, target: Tensor | None = None) -> tuple[Tensor, Any]:
        """(prediction, new state). `target` is not read: every model is called the same way, and
        only an encoder-decoder uses it (teacher forcing)."""
        if self.embedding is not None:
            x = self.embedding(x)  # (B, T) -> (B, T, E)
        y, state = self.core(x, state)  # (B, T, D)
        return self.head(self.readout(y)), state

    def describe(self) -> dict:
        """Identity and size for the run record; `core_params` counts the core only (no embedding,
        readout or head); `state_size` the real numbers a recurrent core carries from one step to the
        next per sample (recurrent.py), None for a core without a fixed-size state (Transformer, TCN)."""
        return {
            "name": self.name,
            "readout": self.readout.kind,
            "impl": getattr(self.core, "impl", None),
            "params": sum(p.numel() for p in self.parameters()),
            "core_params": sum(p.numel() for p in self.core.parameters()),
            "state_size": getattr(self.core, "state_size", None),
        }
