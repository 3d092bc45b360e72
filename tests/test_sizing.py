"""model.param_budget: every model config sized to 5k, 20k and 100k parameters lands on the count
nearest the budget that its widths can give, checked against the model built for real."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from rnnbench.config import group_options
from rnnbench.errors import UserError
from rnnbench.models.sizing import count_params, smallest_width, width_for_budget
from rnnbench.training.build import build_model
from tests.conftest import cached_task, compose_config

DATASET_OF = {"convgru": "moving_shapes", "convlstm": "moving_shapes", "seq2seq": "text_correction"}
BUDGETS = (5_000, 20_000, 100_000)


def real_params(model_cfg, task, width: int) -> int:
    return build_model(OmegaConf.merge(model_cfg, {"hidden_size": width, "param_budget": None}), task).describe()[
        "params"
    ]


@pytest.mark.parametrize("model", group_options("model"))
def test_every_model_meets_each_budget_as_nearly_as_its_widths_allow(model):
    dataset = DATASET_OF.get(model, "adding")
    cfg = compose_config(f"model={model}", f"dataset={dataset}", tiny=False)
    task = cached_task(dataset)
    task.model_args()  # the task's data, made here: not on the meta device of the width probe
    heads = int(cfg.model.get("num_heads") or OmegaConf.select(cfg.model, "cell.num_heads", default=None) or 1)
    step = smallest_width(lambda w: build_model(OmegaConf.merge(cfg.model, {"hidden_size": w}), task), heads)
    for budget in BUDGETS:
        model_cfg = OmegaConf.merge(cfg.model, {"param_budget": budget})
        built = build_model(model_cfg, task)
        width, params = built.sizing["hidden_size"], built.describe()["params"]
        assert width % step == 0 and built.sizing["param_budget"] == budget
        assert params == real_params(cfg.model, task, width)  # describe() of the model as trained
        error = abs(params - budget)
        for neighbour in (width - step, width + step):  # counted on the meta device, as the search counts
            if neighbour >= step:
                count = count_params(
                    lambda w: build_model(OmegaConf.merge(cfg.model, {"hidden_size": w}), task), neighbour
                )
                assert abs(count - budget) >= error, (model, budget, width)


def test_budgets_compare_cells_at_equal_size_not_equal_width():
    task = cached_task("adding")
    widths = {}
    for model in ("rnn", "gru", "lstm"):
        cfg = compose_config(f"model={model}", "dataset=adding", "model.param_budget=20000", tiny=False)
        built = build_model(cfg.model, task)
        widths[model] = built.sizing["hidden_size"]
        assert abs(built.describe()["params"] - 20_000) / 20_000 < 0.02
    assert widths["rnn"] > widths["gru"] > widths["lstm"]  # 1, 3 and 4 gate blocks of H·(I+H+2)


def test_width_search_on_a_known_formula():
    class Toy(torch.nn.Module):  # P(w) = 3w² + 10
        def __init__(self, width):
            super().__init__()
            self.weight, self.bias = (
                torch.nn.Parameter(torch.empty(3 * width, width)),
                torch.nn.Parameter(torch.empty(10)),
            )

    for budget in (13, 100, 1000, 30_010, 123_456):
        width, params = width_for_budget(Toy, budget)
        best = min(range(1, 400), key=lambda w: (abs(3 * w * w + 10 - budget), w))
        assert (width, params) == (best, 3 * best * best + 10)
    assert width_for_budget(Toy, 1000, step=4)[0] % 4 == 0
    assert count_params(Toy, 7) == 3 * 49 + 10


def test_a_budget_that_cannot_be_met_is_one_line():
    task = cached_task("adding")
    cfg = compose_config("model=lstm", "dataset=adding", "model.param_budget=10", tiny=False)
    with pytest.raises(
        UserError,
        match=r"model.param_budget=10 is below the smallest model=lstm for this task "
        r"\(22 parameters at hidden_size=1\); give at least 22",
    ):
        build_model(cfg.model, task)
    with pytest.raises(UserError, match="model.param_budget must be an integer"):
        build_model(OmegaConf.merge(cfg.model, {"param_budget": -5}), task)
    with pytest.raises(UserError, match="wider than hidden_size=65,536"):
        build_model(OmegaConf.merge(cfg.model, {"param_budget": 10**12}), task)
