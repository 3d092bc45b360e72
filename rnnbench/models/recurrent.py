"""A stack of recurrent layers over whole sequences: the core of every cell-based model.

`Recurrent` runs a cell over time in one of four ways, all the same function (tested to ~1e-6):
    fused      the cell's torch.nn counterpart (cuDNN/oneDNN kernels), same parameter layout
    compiled   the built-in gated cells' loop in C++ (models/compiled/: RNN, GRU, the LSTM and its
               peephole / CIFG / no-forget variants), forward and backward, batched members too
    scan       the cell's parallel form, `forward_sequence(x, state)`: all steps at once (a parallel
               scan for a recurrence linear in its state, a convolution for a time-invariant one)
    reference  the readable cell looped over time in Python
``impl=auto`` takes the fastest the cell has, as measured on the CPU (benchmarks/README.md): the
compiled loop where torch.nn's kernel is slower than it (RNN, GRU) or absent (the LSTM variants),
else torch.nn's kernel, else the parallel form — up to the batch × length beyond which the cell's
loop is faster on the CPU, where the cell says so (`parallel_tokens_up_to`: Mamba's scan moves
B·T·E·N numbers, memory-bound; the crossover sits at one B·T across batch sizes) — else the loop.
Where the compiled loop cannot be built (no compiler), auto passes it by, after one log line; on a
GPU a compiled cell runs its loop (the C++ loop is CPU code; impl=fused takes cuDNN's kernel there).

`state_size` counts the numbers one sample's state holds between steps (real numbers; a complex
one counts twice), summed over layers and directions: what a recurrent model compresses its past
into, the figure modern recurrences are compared at (zoology, MAD-Lab).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from rnnbench.errors import ConfigError, check_choice, check_float, check_int
from rnnbench.models import compiled

IMPLS = ("auto", "fused", "compiled", "scan", "reference")
# cells whose torch.nn kernel the compiled loop beats on the CPU (a train step, benchmarks/README.md)
COMPILED_BEATS_FUSED = ("rnn", "gru")  # 2.00x and 2.22x ATen RNN and GRU, H = 32, T = 100, batch 64


class Recurrent(nn.Module):
    """(B, T, I) → (B, T, H), or (B, T, 2H) when bidirectional: [forward ; backward] at each step,
    the backward direction reading the sequence from the end (as torch.nn). Dropout is applied
    between layers, not after the last (as torch.nn)."""

    def __init__(
        self,
        input_size: int,
        cell: Callable[..., nn.Module],
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
        impl: str = "auto",
        bidirectional: bool = False,
    ):
        super().__init__()
        hidden_size = check_int("hidden_size", hidden_size, 1)
        num_layers = check_int("num_layers", num_layers, 1)
        dropout = check_float("dropout", dropout, 0.0, 1.0)
        check_choice("impl", impl, IMPLS)
        self.bidirectional = check_choice("bidirectional", bidirectional, (False, True))
        cell_class, options = _unpartial(cell)
        kind = compiled.kind_of(cell_class, options)  # the compiled loop's name for this cell, or None
        if impl == "compiled" and kind is None:
            raise ConfigError(
                "impl",
                f"is 'compiled' but {cell_class.__name__} has no compiled loop (the built-in RNN, GRU and LSTM "
                "cells without layer norm have one); use impl=auto",
                show_value=False,
            )
        if impl == "compiled" and not compiled.available():
            raise ConfigError(
                "impl",
                "is 'compiled' but the compiled loop is unavailable here (it is CPU code, built with g++ on "
                "first use; the log says why when it cannot be); use impl=auto",
                show_value=False,
            )
        fused = None
        if impl in ("auto", "fused") and hasattr(cell_class, "fused"):
            with _cell_options():
                fused = cell_class.fused(input_size, hidden_size, num_layers, dropout, bidirectional, **options)
        if impl == "fused" and fused is None:
            raise ConfigError(
                "impl",
                f"is 'fused' but {cell_class.__name__} has no fused kernel; use impl=reference or impl=auto",
                show_value=False,
            )
        use_compiled = impl == "compiled" or (
            impl == "auto"
            and kind is not None
            and (fused is None or kind in COMPILED_BEATS_FUSED)
            and compiled.available()
        )
        if use_compiled:
            fused = None
        can_scan = callable(getattr(cell_class, "forward_sequence", None))
        if impl == "scan" and not can_scan:
            raise ConfigError(
                "impl",
                f"is 'scan' but {cell_class.__name__} has no parallel form (its recurrence is not "
                "linear in its state); use impl=reference or impl=auto",
                show_value=False,
            )
        if use_compiled:
            self.impl = "compiled"
        else:
            self.impl = "fused" if fused is not None else ("scan" if can_scan and impl != "reference" else "reference")
        self.run = {"scan": run_parallel, "compiled": compiled.run}.get(self.impl, run_cell)
        # impl=auto: calls of more batch × time steps than this run the loop on the CPU (measured crossover)
        self.parallel_tokens_up_to = getattr(cell_class, "parallel_tokens_up_to", None) if impl == "auto" else None
        directions = 2 if bidirectional else 1
        self.output_size = directions * hidden_size
        sizes = [input_size] + [self.output_size] * (num_layers - 1)
        with torch.device("meta"), torch.random.fork_rng(devices=[]), _cell_options():
            counts = [getattr(cell(size, hidden_size), "state_size", lambda: None)() for size in sizes]
        self.state_size = None if None in counts else directions * sum(counts)  # None: a cell that is not a Cell
        if fused is not None:
            self.fused = fused
            return
        with _cell_options():
            self.layers = nn.ModuleList(cell(size, hidden_size) for size in sizes)
            if bidirectional:
                self.layers_reverse = nn.ModuleList(cell(size, hidden_size) for size in sizes)
        self.dropout = nn.Dropout(dropout)
        self.step_outputs: list[Tensor] | None = None  # a list: the top layer's h_t are appended (diagnostics.py)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        if self.impl == "fused":
            return self.fused(x, state)
        run = self.run if self.impl != "compiled" or x.device.type == "cpu" else run_cell  # the C++ loop is CPU code
        limit = self.parallel_tokens_up_to
        if limit is not None and x.shape[0] * x.shape[1] > limit and x.device.type == "cpu":
            run = run_cell  # measured on the CPU
        states = state if state is not None else [None] * len(self.layers)
        new_states = []
        for k, cell in enumerate(self.layers):
            if k > 0:
                x = self.dropout(x)
            if self.bidirectional:
                forward_state, reverse_state = states[k] or (None, None)
                y, forward_state = run(cell, x, forward_state)
                y_reverse, reverse_state = run(self.layers_reverse[k], x.flip(1), reverse_state)
                x = torch.cat([y, y_reverse.flip(1)], dim=-1)
                new_states.append((forward_state, reverse_state))
            else:
                top = k == len(self.layers) - 1 and self.step_outputs is not None and run is run_cell
                x, layer_state = run(cell, x, states[k], *([self.step_outputs] if top else []))
                new_states.append(layer_state)
        return x, new_states


def run_cell(cell: nn.Module, x: Tensor, state: Any = None, steps: list[Tensor] | None = None) -> tuple[Tensor, Any]:
    """Loop one cell over time: (B, T, I) → (B, T, H), final state. `steps`, if given, receives
    each h_t: the very tensor the next step reads, so its gradient is the total ∂L/∂h_t."""
    if state is None:
        state = cell.initial_state(x.shape[0], x)
    outputs = []
    # unbind once: indexing xp[:, t] inside the loop makes backward O(T²) (benchmarks/README.md, pitfall 1)
    for xp_t in cell.project_input(x).unbind(1):
        h, state = cell(xp_t, state)
        outputs.append(h)
    if steps is not None:
        steps.extend(outputs)
    return torch.stack(outputs, dim=1), state


def run_parallel(cell: nn.Module, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
    """All steps of a cell at once, by its parallel form."""
    return cell.forward_sequence(x, state)


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
