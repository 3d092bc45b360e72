"""The wrapper every model shares: input encoding → core → readout → linear head.

    x (B, T, I) real        → as is                       (B, T, I)
    x (B, T)   tokens       → embedding                   (B, T, E)
    core                    → (B, T, D), state
    readout  per_step       → (B, T, D)   (tasks with a target per step; the only choice there)
             last           → (B, D) = y[:, −1]
             mean           → (B, D) = mean_t y[:, t]
    head     Linear(D, O)   → (B, O) or (B, T, O)

``readout=auto`` picks per_step or last from the task.
"""
from __future__ import annotations

from typing import Any, Callable

from torch import Tensor, nn

from rnnbench.data.task import InputSpec
from rnnbench.errors import ConfigError, check_choice, check_int

READOUTS = ("auto", "last", "mean")


class SequenceModel(nn.Module):
    def __init__(self, core: Callable[[int], nn.Module], input_spec: InputSpec, output_size: int,
                 per_step: bool, readout: str = "auto", embedding_dim: int = 32, name: str = "model"):
        super().__init__()
        self.name = name
        check_choice("readout", readout, READOUTS)
        if per_step and readout != "auto":
            raise ConfigError("readout", "must be 'auto' for a task with a target at every step "
                                         "(the model reads out every step)", readout)
        self.readout = "per_step" if per_step else ("last" if readout == "auto" else readout)
        if input_spec.kind == "tokens":
            self.embedding = nn.Embedding(input_spec.size, check_int("embedding_dim", embedding_dim, 1))
            core_input = embedding_dim
        else:
            self.embedding = None
            core_input = input_spec.size
        self.core = core(core_input)
        self.head = nn.Linear(self.core.output_size, output_size)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        if self.embedding is not None:
            x = self.embedding(x)  # (B, T) -> (B, T, E)
        y, state = self.core(x, state)  # (B, T, D)
        if self.readout == "last":
            y = y[:, -1]
        elif self.readout == "mean":
            y = y.mean(dim=1)
        return self.head(y), state

    def describe(self) -> dict:
        """Identity and size for the run record; `core_params` counts the recurrent core only."""
        return {"name": self.name, "readout": self.readout,
                "params": sum(p.numel() for p in self.parameters()),
                "core_params": sum(p.numel() for p in self.core.parameters())}
