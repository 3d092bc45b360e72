"""hydra/launcher=slurm: Hydra's submitit_slurm launcher with rnnbench's settings check, memory
estimate, squeue-based job states and the handling of jobs that end without a result (the work is
in rnnbench/launch/slurm.py; the job side of preemption in rnnbench/training/preemption.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn

from rnnbench.errors import UserError

try:
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher
except ImportError:  # the sweep extra is not installed: say so when the launcher is chosen
    SubmititSlurmLauncher = None


class SlurmLauncher(SubmititSlurmLauncher or object):
    def __init__(self, **params: Any) -> None:
        if SubmititSlurmLauncher is None:
            raise UserError(
                "hydra/launcher=slurm needs submitit, which comes with the sweep extra: "
                "pip install -c constraints.txt -e '.[sweep]'"
            )
        from rnnbench.launch.slurm import check_settings

        super().__init__(**params)
        self.params, self.node_mem_gb = check_settings(self.params)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from rnnbench.launch.slurm import launch

        return launch(self, job_overrides, initial_job_idx)
