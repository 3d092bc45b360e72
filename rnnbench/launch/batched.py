"""The batched launcher's work (hydra/launcher=batched; the plugin is hydra_plugins/rnnbench_batched).

    launch(launcher, job_overrides, first index) → one JobReturn per job, in order

Jobs whose overrides are equal once MEMBER_KEYS are left out form a group (so jobs that differ in
anything else are never grouped); a group is cut into runs of at most `max_members`, each trained
by members.train_members — as one batched run where that is possible and, with batching=auto,
faster, else one job after another. Every job gets its folder, `.hydra/` files and Hydra job
callbacks exactly as under the basic launcher (Hydra's own `run_job` sets each job up; it is
handed a task function that collects the job, and the group trains once all are collected, so
`on_job_end` callbacks see a job before it trains). Each job's outcome is settled as
job.run_job settles a single job's: a failure is recorded and the sweep goes on, a refused folder
stops it; the exit code and list of failures come from the records (app.py).

No torch import here: Hydra builds the launcher at every start.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from omegaconf import OmegaConf, open_dict

from rnnbench.config import BATCHING, MEMBER_KEYS
from rnnbench.errors import ConfigError, check_choice, check_int

log = logging.getLogger("rnnbench")


def check_settings(batching: Any, max_members: Any) -> tuple[str, int]:
    try:
        return check_choice("batching", batching, BATCHING), check_int("max_members", max_members, 1, 4096)
    except ConfigError as exc:
        raise exc.prefixed("hydra.launcher") from None


def group_jobs(job_overrides: Sequence[Sequence[str]], max_members: int) -> list[list[int]]:
    """Indices of the jobs, grouped by their overrides other than MEMBER_KEYS (and their folders'
    names: a tuner's trials name theirs), in order of first appearance, each group cut into runs of
    at most `max_members`."""
    parser = OverridesParser.create()
    groups: dict[tuple[str, ...], list[int]] = {}
    apart = (*MEMBER_KEYS, "hydra.sweep.subdir")
    for index, overrides in enumerate(job_overrides):
        parsed = parser.parse_overrides(list(overrides))
        key = tuple(sorted(o.input_line for o in parsed if o.get_key_element().lstrip("+~") not in apart))
        groups.setdefault(key, []).append(index)
    return [
        group[start : start + max_members] for group in groups.values() for start in range(0, len(group), max_members)
    ]


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
    setup_globals()
    config, context = launcher.config, launcher.hydra_context
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    groups = group_jobs(job_overrides, launcher.max_members)
    log.info(
        "Launching %d jobs in %d runs (batched launcher, batching=%s)",
        len(job_overrides),
        len(groups),
        launcher.batching,
    )
    returns: list[JobReturn | None] = [None] * len(job_overrides)
    for group in groups:
        task = launcher.task_function if len(group) == 1 else collect_job
        for index in group:
            overrides = list(job_overrides[index])
            log.info("\t#%d : %s", initial_job_idx + index, " ".join(filter_overrides(overrides)))
            sweep_config = context.config_loader.load_sweep_config(config, overrides)
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = sweep_config.hydra.job.num = initial_job_idx + index
            returns[index] = run_job(
                hydra_context=context,
                task_function=task,
                config=sweep_config,
                job_dir_key="hydra.sweep.dir",
                job_subdir_key="hydra.sweep.subdir",
            )
            configure_log(config.hydra.hydra_logging, config.hydra.verbose)
        if len(group) > 1:
            train_group([returns[index] for index in group], launcher.batching)
    return returns


def collect_job(cfg: Any) -> Any:
    """The task function of a grouped job: its config (resolved while Hydra's config is this
    job's), folder and `.hydra/` files, to train with its group."""
    from rnnbench.launch.job import hydra_files
    from rnnbench.training.members import Job

    hydra_cfg = HydraConfig.get()
    return Job(
        OmegaConf.create(OmegaConf.to_container(cfg, resolve=True)),
        Path(hydra_cfg.runtime.output_dir),
        hydra_files(cfg, hydra_cfg),
    )


def train_group(returns: list[JobReturn], batching: str) -> None:
    """Train the collected jobs of `returns` together; each JobReturn then holds its job's value."""
    from rnnbench.launch.job import settle
    from rnnbench.training.members import train_members

    jobs = [ret.return_value for ret in returns]
    if any(ret.status != JobStatus.COMPLETED for ret in returns):  # collecting cannot fail but for a bug
        raise next(ret.return_value for ret in returns if ret.status != JobStatus.COMPLETED)
    for ret, job, outcome in zip(returns, jobs, train_members(jobs, batching)):
        ret.return_value = settle(outcome, job.cfg, job.run_dir, sweeping=True)
