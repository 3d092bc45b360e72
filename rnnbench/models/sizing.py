"""`model.param_budget=N`: the width that brings a model's parameter count closest to N.

Comparing cells at the same hidden size gives the LSTM 4/3 the parameters of a GRU and 4× those
of a plain RNN; comparing them at the same parameter count is the field's standard (Collins et
al. 2017; Melis et al. 2018). Every model in the zoo has one width knob, `hidden_size` (hidden
units of a recurrent core, channels of the TCN and of the conv cells, d_model of the
Transformer), and its parameter count P(w) grows strictly with it for the task at hand (input
size, vocabulary, outputs all count). So the closest width is one of the two around the first
w with P(w) ≥ N, found by doubling then bisection over w = step, 2·step, … (step = num_heads for
the Transformer, whose d_model splits into heads; 1 otherwise). P(w) is counted on a model built
on the meta device: no memory, no initialisation, no draw from the run's random numbers.

The record keeps both: `hparams["model.param_budget"]` (the budget asked) and
`model_info["hidden_size"]`, `params` (what it gave).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from rnnbench.errors import UserError, check_int

MAX_WIDTH = 1 << 16


def count_params(make: Callable[[int], torch.nn.Module], width: int) -> int:
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        return sum(p.numel() for p in make(width).parameters())


def width_for_budget(
    make: Callable[[int], torch.nn.Module], budget: int, step: int = 1, what: str = "the model"
) -> tuple[int, int]:
    """(width, parameter count) with the count closest to `budget` over widths that are multiples
    of `step` (the smaller width on a tie). A budget below the smallest model, or beyond the
    largest width, raises UserError."""
    check_int("model.param_budget", budget, 1)
    count = functools.lru_cache(maxsize=None)(lambda width: count_params(make, width))  # each width built once
    smallest = count(step)
    if budget < smallest:
        raise UserError(
            f"model.param_budget={budget} is below the smallest {what} for this task ({smallest:,} "
            f"parameters at hidden_size={step}); give at least {smallest:,}"
        )
    high = step
    while count(high) < budget:
        high *= 2
        if high > MAX_WIDTH:
            raise UserError(
                f"model.param_budget={budget} needs {what} wider than hidden_size={MAX_WIDTH:,}; give a smaller budget"
            )
    low = max(step, high // 2 // step * step)  # P(low) < budget ≤ P(high), unless low == high == step
    while high - low > step:
        middle = (low + high) // 2 // step * step
        if count(middle) < budget:
            low = middle
        else:
            high = middle
    width = min(sorted({low, high}), key=lambda w: abs(count(w) - budget))  # the smaller on a tie
    return width, count(width)


def sized(model_cfg: DictConfig, make: Callable[[DictConfig], torch.nn.Module]) -> tuple[DictConfig, dict]:
    """The model config without `param_budget`, its hidden_size set for the budget when there is
    one; and what the record keeps of it ({} without a budget)."""
    budget = model_cfg.get("param_budget")
    plain = copy.copy(model_cfg)  # keeps its place in the config, so errors name model.<key>
    with open_dict(plain):
        plain.pop("param_budget", None)
    if budget is None:
        return plain, {}
    step = int(model_cfg.get("num_heads") or 1)

    def at(width: int) -> torch.nn.Module:
        return make(OmegaConf.merge(plain, {"hidden_size": width}))

    width, params = width_for_budget(at, budget, step, f"model={model_cfg.get('name')}")
    return OmegaConf.merge(plain, {"hidden_size": width}), {
        "param_budget": budget,
        "hidden_size": width,
        "params_vs_budget": params / budget,
    }
