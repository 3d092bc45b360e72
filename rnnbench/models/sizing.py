"""`model.param_budget=N`: the width that brings a model's parameter count closest to N.

Comparing cells at the same hidden size gives the LSTM 4/3 the parameters of a GRU and 4× those
of a plain RNN; comparing them at the same parameter count is the field's standard (Collins et
al. 2017; Melis et al. 2018). Every model in the zoo has one width knob, `hidden_size` (hidden
units of a recurrent core, channels of the TCN and of the conv cells, d_model of the
Transformer), and its parameter count P(w) grows strictly with it for the task at hand (input
size, vocabulary, outputs all count). So the closest width is one of the two around the first
w with P(w) ≥ N, found by doubling then bisection over w = step, 2·step, … (step: the smallest
multiple of num_heads the model builds at — num_heads for the Transformer, whose d_model splits
into heads, and for cells with heads, `cell.num_heads`: GLA, DeltaNet, RG-LRU's gates; 2 for
mLSTM's q, k, v blocks of 4 at proj_factor 2; 1 otherwise). P(w) is counted on a model built
on the meta device: no memory, no initialisation, no draw from the run's random numbers.

`model.state_budget=N` does the same for the state a recurrent model carries per sample
(`state_size`, models/recurrent.py): modern recurrences are compared at equal state as well as
equal parameters (zoology; MAD-Lab normalises state size), since a recurrence can only recall what
its state holds. State grows with width too, so the same search finds it. One budget at a time.

The record keeps both: `hparams["model.param_budget"]` (the budget asked) and
`model_info["hidden_size"]`, `params` (what it gave); likewise `state_budget` and `state_size`.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from rnnbench.errors import ConfigError, UserError, check_int

MAX_WIDTH = 1 << 16


def count_params(make: Callable[[int], torch.nn.Module], width: int) -> int:
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        return sum(p.numel() for p in make(width).parameters())


def count_state(make: Callable[[int], torch.nn.Module], width: int) -> int | None:
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        return make(width).describe().get("state_size")


def smallest_width(make: Callable[[int], torch.nn.Module], heads: int) -> int:
    """The smallest multiple of `heads` (up to 64·heads) a model builds at; `heads` if none does
    (its build error is then the one the search raises)."""
    for width in range(heads, 65 * heads, heads):
        try:
            with torch.random.fork_rng(devices=[]), torch.device("meta"):
                make(width)
        except ConfigError:
            continue
        return width
    return heads


BUDGETS = {"param_budget": ("parameters", count_params), "state_budget": ("state numbers", count_state)}


def width_for_budget(
    make: Callable[[int], torch.nn.Module],
    budget: int,
    step: int = 1,
    what: str = "the model",
    key: str = "param_budget",
) -> tuple[int, int]:
    """(width, count) with the count (of parameters, or of state numbers for key="state_budget")
    closest to `budget` over widths that are multiples of `step` (the smaller width on a tie). A
    budget below the smallest model, or beyond the largest width, raises UserError."""
    unit, counter = BUDGETS[key]
    check_int(f"model.{key}", budget, 1)
    count = functools.lru_cache(maxsize=None)(lambda width: counter(make, width))  # each width built once
    smallest = count(step)
    if smallest is None:  # count_state of a model that carries no state of its own size
        raise UserError(
            f"model.{key}: {what} carries no fixed-size state from step to step (its memory "
            "grows with the sequence); size it by model.param_budget"
        )
    if budget < smallest:
        raise UserError(
            f"model.{key}={budget} is below the smallest {what} for this task ({smallest:,} "
            f"{unit} at hidden_size={step}); give at least {smallest:,}"
        )
    high = step
    while count(high) < budget:
        high *= 2
        if high > MAX_WIDTH:
            raise UserError(
                f"model.{key}={budget} needs {what} wider than hidden_size={MAX_WIDTH:,}; give a smaller budget"
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
    """The model config without its budgets, its hidden_size set for the budget when there is
    one; and what the record keeps of it ({} without a budget)."""
    budgets = {key: model_cfg.get(key) for key in BUDGETS if model_cfg.get(key) is not None}
    plain = copy.copy(model_cfg)  # keeps its place in the config, so errors name model.<key>
    with open_dict(plain):
        for key in BUDGETS:
            plain.pop(key, None)
    if not budgets:
        return plain, {}
    name = f"model={model_cfg.get('name')}"
    if len(budgets) > 1:
        raise UserError(
            f"{name} has both model.param_budget and model.state_budget; give one (the other is what it gives)"
        )
    heads = model_cfg.get("num_heads") or OmegaConf.select(model_cfg, "cell.num_heads", default=None)
    key, budget = budgets.popitem()

    def at(width: int) -> torch.nn.Module:
        return make(OmegaConf.merge(plain, {"hidden_size": width}))

    step = smallest_width(at, int(heads or 1))
    width, count = width_for_budget(at, budget, step, name, key)
    return OmegaConf.merge(plain, {"hidden_size": width}), {
        key: budget,
        "hidden_size": width,
        f"{'params' if key == 'param_budget' else 'state'}_vs_budget": count / budget,
    }
