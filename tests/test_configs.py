"""Every config in every group composes and builds; every model trains a step on the datasets of its
kind and is refused, naming the models that fit, on the others. (The registry guard: a YAML file
pointing at a class that no longer exists fails here.)

By default each model meets one dataset of each kind and each dataset one model of each kind; the
whole model × dataset product is `slow`. A new model or task file is picked up by both without an
entry anywhere."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from rnnbench.config import config_dir, group_options, instantiate
from rnnbench.errors import UserError
from rnnbench.training.build import build_model, check_model_fits, model_kind
from rnnbench.training.flops import count_flops
from tests.conftest import cached_task, compose_config

MODELS, DATASETS = group_options("model"), group_options("dataset")
# One model and one dataset of each kind of task (data.task.TASK_KINDS).
REPRESENTATIVES = {
    "sequence": ("gru", "adding"),
    "transduction": ("seq2seq", "reverse"),
    "frames": ("convgru", "moving_shapes"),
}
# every model, and the reference loop too for models whose core has other implementations
IMPLS = [
    (model, impl)
    for model in MODELS
    for impl in (None, "reference")
    if impl is None or "impl" in compose_config(f"model={model}").model
]
PAIRS = sorted(
    {(model, impl, dataset) for model, impl in IMPLS for _, dataset in REPRESENTATIVES.values()}
    | {(model, None, dataset) for model, _ in REPRESENTATIVES.values() for dataset in DATASETS},
    key=str,
)
EVERY_PAIR = sorted({(model, impl, dataset) for model, impl in IMPLS for dataset in DATASETS} - set(PAIRS), key=str)


def test_groups_are_populated():
    assert {
        "rnn",
        "lstm",
        "gru",
        "lstm_peephole",
        "lstm_cifg",
        "lstm_nfg",
        "lstm_ln",
        "mingru",
        "minlstm",
        "indrnn",
        "hybrid_stacked",
        "hybrid_parallel",
        "transformer",
        "tcn",
        "seq2seq",
        "convlstm",
        "convgru",
        "lru",
        "rglru",
        "mamba",
        "s4d",
        "gla",
        "deltanet",
        "slstm",
        "mlstm",
        "gated_deltanet",
    } <= set(MODELS)
    assert {
        "adding",
        "copy",
        "parity",
        "selective_copy",
        "mqar",
        "anbn",
        "anbncn",
        "text",
        "stock",
        "seq_digits",
        "seq_mnist",
        "permuted_mnist",
        "reverse",
        "text_correction",
        "moving_shapes",
        *("even_pairs", "modular_arithmetic", "parity_check", "cycle_navigation"),  # the Chomsky hierarchy
        *("stack_manipulation", "reverse_string", "modular_arithmetic_brackets", "solve_equation"),
        *("duplicate_string", "missing_duplicate", "odds_first", "binary_addition", "binary_multiplication"),
        *("compute_sqrt", "bucket_sort"),
    } <= set(DATASETS)


def learns_a_step(model: str, impl: str | None, dataset: str) -> None:
    """A model trains a step on a dataset of its kind, and is refused, naming the models that fit,
    on the others."""
    cfg = compose_config(f"model={model}", *([f"model.impl={impl}"] if impl else []))  # once per model
    task = cached_task(dataset)
    assert cfg.model.name == model and task.name == dataset
    if model_kind(cfg.model) != task.kind:
        with pytest.raises(UserError, match=f"model={model} cannot run dataset={dataset}.*choose one of: "):
            check_model_fits(cfg.model, task)
        return
    torch.manual_seed(0)  # a ReLU stack (TCN) can start with a dead layer on 4 samples for some inits
    net = build_model(cfg.model, task)
    optimizer = instantiate("optimizer", cfg.optimizer)(net.parameters())
    data = task.splits()["train"]
    x, y = data.x[:4], data.y[:4]
    pred, _ = net(x, target=y)
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
    assert count_flops(net, x[:1], target=y[:1]) > 0


@pytest.mark.parametrize("model, impl, dataset", PAIRS)
def test_every_model_meets_each_kind_of_dataset_and_every_dataset_each_kind_of_model(model, impl, dataset):
    learns_a_step(model, impl, dataset)


@pytest.mark.slow
@pytest.mark.parametrize("model, impl, dataset", EVERY_PAIR)
def test_every_model_on_every_dataset(model, impl, dataset):
    learns_a_step(model, impl, dataset)


@pytest.mark.parametrize("optimizer", group_options("optimizer"))
def test_every_optimizer_config_builds(optimizer):
    cfg = compose_config(f"optimizer={optimizer}", "trainer.lr=0.01")
    opt = instantiate("optimizer", cfg.optimizer)([torch.nn.Parameter(torch.zeros(2))])
    assert opt.param_groups[0]["lr"] == 0.01


@pytest.mark.parametrize("experiment", group_options("experiment"))
def test_every_experiment_composes(experiment):
    cfg = compose_config(f"experiment={experiment}", tiny=False)
    assert cfg.model.name in MODELS and cfg.dataset.name in DATASETS


@pytest.mark.parametrize("dataset", DATASETS)
def test_debug_tiny_shrinks_the_run_and_the_data_where_the_dataset_says_how(dataset):
    """debug=tiny sets the trainer and the model's width, and applies
    conf/debug/dataset/tiny_<dataset>.yaml where there is one (a dataset without one runs at its
    own sizes); a later override still wins."""
    cfg = compose_config(f"dataset={dataset}", "trainer.eval_every=2")
    assert (cfg.trainer.max_steps, cfg.trainer.eval_every, cfg.model.hidden_size, cfg.trainer.device) == (
        6,
        2,
        8,
        "cpu",
    )
    tiny = config_dir() / "debug" / "dataset" / f"tiny_{dataset}.yaml"
    if tiny.is_file():
        for key, value in values_set_by(tiny).items():
            assert cfg.dataset[key] == (value if key != "source" else cfg.dataset[key]), key


def values_set_by(path):
    """A config file's own values over those of the bases in its defaults list (base/x@_here_)."""
    node = OmegaConf.load(path)
    values = OmegaConf.create()
    for entry in node.pop("defaults", []):
        if entry != "_self_":
            values = OmegaConf.merge(values, values_set_by(path.parent / f"{entry.removesuffix('@_here_')}.yaml"))
    return OmegaConf.merge(values, node)


def test_names_are_the_configs_own():
    """A model's and a dataset's name is the option chosen (model=lstm → lstm), also for a config
    that extends another (anbncn extends anbn) and for a base shared by many models."""
    cfg = compose_config("model=lstm_ln", "dataset=anbncn")
    assert (cfg.model.name, cfg.dataset.name) == ("lstm_ln", "anbncn")
    assert cfg.model.hidden_size == 8 and cfg.model.impl == "auto" and cfg.model.readout == "auto"
