"""A stack of recurrent layers over whole sequences, and the model that wraps one.

`Recurrent` runs either the cell's fused torch.nn kernel (``impl=fused``) or the readable cell
looped over time in Python (``impl=reference``); ``impl=auto`` takes the fused kernel when the cell
has one. Both compute the same function with the same parameter layout (tested to ~1e-6).
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable

import torch
from torch import Tensor, nn

from rnnbench.errors import ConfigError, check_choice, check_float, check_int
from rnnbench.models.sequence_model import SequenceModel

IMPLS = ("auto", "fused", "reference")


class Recurrent(nn.Module):
    """(B, T, I) → (B, T, H). Dropout is applied between layers, not after the last (as torch)."""

    def __init__(self, cell: Callable[..., nn.Module], input_size: int, hidden_size: int,
                 num_layers: int = 1, dropout: float = 0.0, impl: str = "auto"):
        super().__init__()
        hidden_size = check_int("hidden_size", hidden_size, 1)
        num_layers = check_int("num_layers", num_layers, 1)
        dropout = check_float("dropout", dropout, 0.0, 1.0)
        check_choice("impl", impl, IMPLS)
        cell_class, options = _unpartial(cell)
        fused = None
        if impl != "reference" and hasattr(cell_class, "fused"):
            with _cell_options():
                fused = cell_class.fused(input_size, hidden_size, num_layers, dropout, **options)
        if impl == "fused" and fused is None:
            raise ConfigError("impl", f"is 'fused' but {cell_class.__name__} has no fused kernel; "
                              "use impl=reference or impl=auto", show_value=False)
        self.impl = "fused" if fused is not None else "reference"
        self.output_size = hidden_size
        if fused is not None:
            self.fused = fused
        else:
            with _cell_options():
                self.layers = nn.ModuleList(
                    cell(input_size if k == 0 else hidden_size, hidden_size) for k in range(num_layers))
            self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        if self.impl == "fused":
            return self.fused(x, state)
        states = state if state is not None else [None] * len(self.layers)
        new_states = []
        for k, cell in enumerate(self.layers):
            if k > 0:
                x = self.dropout(x)
            x, layer_state = run_cell(cell, x, states[k])
            new_states.append(layer_state)
        return x, new_states


def run_cell(cell: nn.Module, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
    """Loop one cell over time: (B, T, I) → (B, T, H), final state."""
    if state is None:
        state = cell.initial_state(x.shape[0], x)
    outputs = []
    # unbind once: indexing xp[:, t] inside the loop makes backward O(T²) (PERF_NOTES.md)
    for xp_t in cell.project_input(x).unbind(1):
        h, state = cell(xp_t, state)
        outputs.append(h)
    return torch.stack(outputs, dim=1), state


@contextlib.contextmanager
def _cell_options():
    """A bad cell option is reported under its config key, ``cell.<option>``."""
    try:
        yield
    except ConfigError as exc:
        raise exc.prefixed("cell") from None


def _unpartial(cell: Callable[..., nn.Module]) -> tuple[type, dict]:
    if isinstance(cell, functools.partial):
        return cell.func, dict(cell.keywords)
    return cell, {}


class RecurrentModel(SequenceModel):
    """`SequenceModel` whose core is a `Recurrent` stack of `cell`."""

    def __init__(self, cell: Callable[..., nn.Module], hidden_size: int = 128, num_layers: int = 1,
                 dropout: float = 0.0, impl: str = "auto", **wrapper: Any):
        core = functools.partial(Recurrent, cell, hidden_size=hidden_size, num_layers=num_layers,
                                 dropout=dropout, impl=impl)
        super().__init__(core, **wrapper)

    def describe(self) -> dict:
        return {**super().describe(), "impl": self.core.impl}
