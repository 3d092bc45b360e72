"""hydra/sweeper=tune: rnnbench's Optuna sweeper with pruning (the work is in rnnbench/launch/tune.py).

Hydra imports this module at every start, so it imports neither Optuna nor torch."""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class Tuner(Sweeper):
    def __init__(
        self,
        n_trials: int,
        n_jobs: int,
        sampler: str,
        seed: int,
        pruner: str,
        pruner_args: Any = None,
        params: Any = None,
        study_name: str | None = None,
        enqueue: Any = None,
    ):
        from omegaconf import OmegaConf

        from rnnbench.launch.tune import TunerImpl

        def plain(node: Any) -> Any:
            return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node

        self.impl = TunerImpl(
            n_trials, n_jobs, sampler, seed, pruner, plain(pruner_args), plain(params), study_name, plain(enqueue)
        )
        self.config: DictConfig | None = None
        self.launcher = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        return self.impl.sweep(self, arguments)
