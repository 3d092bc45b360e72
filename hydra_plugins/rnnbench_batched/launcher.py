"""hydra/launcher=batched: the jobs of a sweep that differ only in seed or optimizer settings run
as batched members (the work is in rnnbench/launch/batched.py and rnnbench/training/members.py).

Hydra imports this module at every start, so it imports neither torch nor rnnbench's trainer."""

from __future__ import annotations

from collections.abc import Sequence

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class BatchedLauncher(Launcher):
    def __init__(self, batching: str = "auto", max_members: int = 16, n_jobs: int = 1):
        from rnnbench.launch.batched import check_settings

        self.batching, self.max_members, self.n_jobs = check_settings(batching, max_members, n_jobs)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from rnnbench.launch.batched import launch

        return launch(self, job_overrides, initial_job_idx)
