"""Config → the objects of one run: trainer settings, task (its splits on the run's device), model,
optimizer, and what watches the run (gradient probe, loggers).

Every config mistake is found here, before a run writes anything: a bad value raises a one-line
`UserError` naming its key, a model that cannot run the task names the models that can, a batch
larger than the training set says how large it may be.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from omegaconf import DictConfig, OmegaConf

from rnnbench.config import compose, group_options, instantiate
from rnnbench.data.task import TASK_KINDS, SequenceTask
from rnnbench.errors import MAX_SEED, ConfigError, UserError, check_choice, check_float, check_int
from rnnbench.models import compiled
from rnnbench.models.sizing import sized
from rnnbench.training import diagnostics
from rnnbench.training.loggers import Loggers, build_loggers

if TYPE_CHECKING:
    from rnnbench.training.trial import TrialReport


@dataclass
class TrainerSettings:
    """conf/trainer/*.yaml, checked on construction."""

    max_steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    eval_every: int = 200
    eval_batch_size: int = 1000
    early_stop: bool = False
    patience: int | None = None
    min_delta: float = 0.0
    test: bool = True
    device: str = "auto"
    threads: int | None = None
    progress: bool | None = None
    checkpoint: bool = True
    keep_best: bool = False

    def __post_init__(self):
        check_int("max_steps", self.max_steps, 1)
        check_int("batch_size", self.batch_size, 1)
        check_float("lr", self.lr, 0.0, 1e3, low_open=True)  # larger overflows float32 in Adam
        check_float("weight_decay", self.weight_decay, 0.0)
        if self.grad_clip is not None:
            check_float("grad_clip", self.grad_clip, 0.0, low_open=True)
        check_int("eval_every", self.eval_every, 1)
        check_int("eval_batch_size", self.eval_batch_size, 1)
        check_choice("early_stop", self.early_stop, (True, False))
        if self.patience is not None:
            check_int("patience", self.patience, 1)
        check_float("min_delta", self.min_delta, 0.0, 0.99)
        check_choice("test", self.test, (True, False))
        if self.threads is not None:
            check_int("threads", self.threads, 1, 1024)
        check_choice("progress", self.progress, (None, True, False))
        check_choice("checkpoint", self.checkpoint, (True, False))
        check_choice("keep_best", self.keep_best, (True, False))
        self.device = resolve_device(self.device)


def resolve_device(device: str) -> str:
    if not isinstance(device, str) or not (device in ("auto", "cpu") or device.startswith("cuda")):
        raise ConfigError("device", "must be auto, cpu, cuda or cuda:N", device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device", "asks for CUDA but no CUDA device is available; use cpu or auto", device)
    return device


@dataclass
class Built:
    """What `build` makes of a config: everything a run needs besides its folder."""

    settings: TrainerSettings
    seed: int
    task: SequenceTask
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    grad_probe: diagnostics.GradPerTimeStep | None
    loggers: Loggers
    trial: TrialReport | None = None  # the tuner's trial this run reports to (trial.py)


def build(cfg: DictConfig) -> Built:
    """Instantiate the config's groups. The model is initialised from `seed` right after the task is
    built, so a run's weights depend on nothing else."""
    settings = instantiate("trainer", cfg.trainer)
    seed = check_int("seed", cfg.seed, 0, MAX_SEED)
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    task = build_task(cfg).to(settings.device)
    train_size = len(task.splits()["train"])
    if train_size < settings.batch_size:
        unit = "windows" if task.stateful else "samples"
        raise ConfigError(
            "trainer.batch_size",
            f"must not exceed the training set size ({train_size} {unit}); lower it or use more training data",
            settings.batch_size,
        )
    check_model_fits(cfg.model, task)
    torch.manual_seed(seed)
    with contextlib.nullcontext() if settings.device == "cpu" else compiled.off_cpu():
        model = build_model(cfg.model, task).to(settings.device)
    optimizer = instantiate("optimizer", cfg.optimizer)(model.parameters())
    grad_probe = None
    if diagnostics.enabled(cfg):
        with torch.random.fork_rng(devices=[]):  # the twin's initialisation must not move the run's RNG
            grad_probe = diagnostics.GradPerTimeStep(
                model,
                lambda impl: twin(cfg.model, impl, task),
                task,
                OmegaConf.select(cfg, "diagnostics.batch_size", default=64),
            )
    trial = None
    if OmegaConf.select(cfg, "tuning.trial") is not None:
        from rnnbench.training.trial import trial_report

        trial = trial_report(cfg, task.metrics[task.primary_metric] == "min")
    return Built(settings, seed, task, model, optimizer, grad_probe, build_loggers(cfg.get("logger")), trial)


def build_task(cfg: DictConfig) -> SequenceTask:
    return instantiate("dataset", cfg.dataset)


def build_model(model_cfg: DictConfig, task: SequenceTask) -> torch.nn.Module:
    """The model of `model_cfg` for `task` (model_from_config)."""
    return model_from_config(model_cfg, **task.model_args())  # read outside sizing's meta-device builds


def model_from_config(model_cfg: DictConfig, **args) -> torch.nn.Module:
    """The model of `model_cfg` with the task's arguments `args` (input spec, output size, …), at
    the width of its parameter budget if it has one (models/sizing.py); `model.sizing` says what the
    budget gave ({} without one)."""

    def make(cfg: DictConfig) -> torch.nn.Module:
        return instantiate("model", cfg, **args)

    plain, sizing = sized(model_cfg, make)
    model = make(plain)
    model.sizing = sizing
    return model


def twin(model_cfg: DictConfig, impl: str, task: SequenceTask) -> torch.nn.Module:
    """The model of `model_cfg` built with another `impl` (the gradient probe's reference twin)."""
    if "impl" not in model_cfg:
        raise ConfigError(
            "diagnostics.grad_per_time_step",
            f"needs a recurrent model (one with an impl option); model={model_cfg.get('name')} has no recurrent core",
            show_value=False,
        )
    return build_model(OmegaConf.merge(model_cfg, {"impl": impl}), task)


def model_kind(model_cfg: DictConfig) -> str | None:
    """The `task_kind` of a model config's class ("sequence" unless the class says otherwise), or
    None when its _target_ cannot be imported (instantiate reports that)."""
    from hydra.utils import get_class

    try:
        return getattr(get_class(model_cfg["_target_"]), "task_kind", "sequence")
    except Exception:
        return None


@functools.cache
def kind_of_option(name: str) -> str | None:
    """The task kind of model=NAME (composing it is the one way to read its base's _target_)."""
    return model_kind(compose(f"model={name}").model)


def check_model_fits(model_cfg: DictConfig, task: SequenceTask) -> None:
    """Refuse, before anything is built, a model that cannot run this kind of task (a GRU
    classifier on video frames), naming the models that can."""
    kind = model_kind(model_cfg)
    if kind is None or kind == task.kind:
        return
    fitting = [name for name in group_options("model") if kind_of_option(name) == task.kind]
    raise UserError(
        f"model={model_cfg.get('name')} cannot run dataset={task.name}, which needs a model for "
        f"{TASK_KINDS[task.kind]}; choose one of: {', '.join(fitting)}"
    )
