"""Every config in every group composes and builds; every model trains a step on every task.
(The registry guard: a YAML file pointing at a class that no longer exists fails here.)"""
from __future__ import annotations

import pytest
import torch

from omegaconf import OmegaConf

from rnnbench.config import config_dir, group_options, instantiate
from rnnbench.errors import UserError
from rnnbench.flops import count_flops
from rnnbench.train import check_model_fits, model_kind
from tests.conftest import compose_config

MODELS, DATASETS = group_options("model"), group_options("dataset")
# every model, and the reference loop too for models whose core has other implementations
IMPLS = [(model, impl) for model in MODELS
         for impl in ((None, "reference") if "impl" in OmegaConf.load(config_dir() / "model" / f"{model}.yaml") else (None,))]


def test_groups_are_populated():
    assert {"rnn", "lstm", "gru", "lstm_peephole", "lstm_cifg", "lstm_nfg", "lstm_ln", "mingru", "minlstm",
            "indrnn", "hybrid_stacked", "hybrid_parallel", "transformer", "tcn", "seq2seq", "convlstm",
            "convgru"} <= set(MODELS)
    assert {"adding", "copy", "parity", "selective_copy", "mqar", "anbn", "anbncn", "text", "stock",
            "seq_digits", "seq_mnist", "permuted_mnist", "reverse", "text_correction", "moving_shapes"} <= set(DATASETS)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("model, impl", IMPLS)
def test_every_model_learns_a_step_on_every_dataset_of_its_kind(model, impl, dataset):
    """A model trains a step on every dataset of its kind (data.task.TASK_KINDS) and is refused,
    naming the models that fit, on the others."""
    cfg = compose_config(f"model={model}", f"dataset={dataset}", *([f"model.impl={impl}"] if impl else []))
    task = instantiate("dataset", cfg.dataset)
    if model_kind(cfg.model) != task.kind:
        with pytest.raises(UserError, match=f"model={model} cannot run dataset={dataset}.*choose one of: "):
            check_model_fits(cfg.model, task)
        return
    torch.manual_seed(0)  # a ReLU stack (TCN) can start with a dead layer on 4 samples for some inits
    net = instantiate("model", cfg.model, **task.model_args())
    optimizer = instantiate("optimizer", cfg.optimizer)(net.parameters())
    settings = instantiate("trainer", cfg.trainer)
    assert settings.device == "cpu"
    data = task.splits()["train"]
    x, y = data.x[:4], data.y[:4]
    pred, _ = net(x, target=y) if getattr(net, "teacher_forced", False) else net(x)
    if task.kind == "transduction":
        expected = (*y.shape, task.output_size)
    elif task.kind == "frames":
        expected = y.shape
    else:
        expected = (4, x.shape[1], task.output_size) if task.per_step else (4, task.output_size)
    assert pred.shape == expected
    before = [p.detach().clone() for p in net.parameters()]
    loss = task.loss(pred, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    optimizer.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, net.parameters()))
    assert net.describe()["params"] == sum(p.numel() for p in net.parameters())
    assert count_flops(net, x[:1], **({"target": y[:1]} if getattr(net, "teacher_forced", False) else {})) > 0


@pytest.mark.parametrize("optimizer", group_options("optimizer"))
def test_every_optimizer_config_builds(optimizer):
    cfg = compose_config(f"optimizer={optimizer}", "trainer.lr=0.01")
    opt = instantiate("optimizer", cfg.optimizer)([torch.nn.Parameter(torch.zeros(2))])
    assert opt.param_groups[0]["lr"] == 0.01


@pytest.mark.parametrize("experiment", group_options("experiment"))
def test_every_experiment_composes(experiment):
    cfg = compose_config(f"experiment={experiment}", tiny=False)
    assert cfg.model.name in MODELS and cfg.dataset.name in DATASETS
