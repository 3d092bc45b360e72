"""The batched launcher's work (hydra/launcher=batched; the plugin is hydra_plugins/rnnbench_batched).

    launch(launcher, job_overrides, first index) → one JobReturn per job, in order

Jobs whose overrides are equal once MEMBER_KEYS are left out form a group (so jobs that differ in
anything else are never grouped); a group is cut into runs of at most `max_members`, each trained
by members.train_members — as one batched run where that is possible and, with batching=auto,
faster, else one job after another. With `n_jobs` > 1 the runs go to that many worker processes
(joblib's loky, as hydra/launcher=joblib), each with cores // n_jobs torch threads, and groups
are cut further until every worker has a run: 10 seeds of one configuration on 2 workers are two
batched runs of 5, side by side (`spread`). On a CPU of a few cores that is the fastest way to run
many seeds: members share the dispatch, workers share the cores (benchmarks/README.md).

Every job gets its folder, `.hydra/` files and Hydra job callbacks exactly as under the basic
launcher (Hydra's own `run_job` sets each job up; it is handed a task function that collects the
job, and the group trains once all are collected, so `on_job_end` callbacks see a job before it
trains). Each job's outcome is settled as job.run_job settles a single job's: a failure is recorded
and the sweep goes on, a refused folder stops it; the exit code and list of failures come from the
records (app.py).

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


def check_settings(batching: Any, max_members: Any, n_jobs: Any = 1) -> tuple[str, int, int]:
    try:
        return (
            check_choice("batching", batching, BATCHING),
            check_int("max_members", max_members, 1, 4096),
            check_int("n_jobs", n_jobs, 1, 1024),
        )
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


def spread(runs: list[list[int]], workers: int) -> list[list[int]]:
    """`runs` cut until there are at least `workers` of them (or all are single jobs): the largest
    is halved, its first half the larger, so that no worker waits while another trains a group."""
    runs = [list(run) for run in runs]
    while len(runs) < workers and max(map(len, runs), default=1) > 1:
        largest = max(range(len(runs)), key=lambda i: len(runs[i]))
        run = runs.pop(largest)
        half = (len(run) + 1) // 2
        runs[largest:largest] = [run[:half], run[half:]]
    return runs


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
    setup_globals()
    config, context = launcher.config, launcher.hydra_context
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    workers = launcher.n_jobs
    groups = spread(group_jobs(job_overrides, launcher.max_members), workers)
    log.info(
        "Launching %d jobs in %d runs (batched launcher, batching=%s%s)",
        len(job_overrides),
        len(groups),
        launcher.batching,
        f", {workers} workers" if workers > 1 else "",
    )
    returns: list[JobReturn | None] = [None] * len(job_overrides)
    for group in groups:
        task = launcher.task_function if len(group) == 1 and workers == 1 else collect_job
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
        if len(group) > 1 and workers == 1:
            train_group([returns[index] for index in group], launcher.batching)
    if workers > 1:
        train_groups([[returns[index] for index in group] for group in groups], launcher.batching, workers, config)
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
    from rnnbench.training.members import train_members

    settle_group(returns, train_members(collected(returns), batching))


def train_groups(groups: list[list[JobReturn]], batching: str, workers: int, config: Any) -> None:
    """Train each group of collected jobs in one of `workers` processes; the outcomes are settled
    here, in the launching process, as train_group settles them."""
    from joblib import Parallel, delayed

    from rnnbench.launch.sweep import job_threads

    threads = job_threads({"_target_": "batched", "n_jobs": workers})
    outcomes = Parallel(n_jobs=workers, backend="loky")(
        delayed(train_in_worker)(collected(group), batching, threads, config.hydra.hydra_logging, config.hydra.verbose)
        for group in groups
    )
    for group, group_outcomes in zip(groups, outcomes):
        settle_group(group, group_outcomes)


def train_in_worker(jobs: list, batching: str, threads: int, logging_cfg: Any, verbose: Any) -> list:
    """A worker's task: its group trained as members.train_members trains it, with `threads` torch
    threads; exceptions are sent back as ones that survive pickling (`portable`)."""
    import torch

    from rnnbench.training.members import train_members

    configure_log(logging_cfg, verbose)
    torch.set_num_threads(threads)
    return [portable(outcome) for outcome in train_members(jobs, batching)]


def portable(outcome: Any) -> Any:
    """`outcome`, or for an exception that cannot cross a process boundary (one whose constructor
    takes other arguments than its message, as ConfigError's), a UserError or RuntimeError that
    carries its message (the record already holds the run's failure)."""
    import pickle

    from rnnbench.errors import UserError
    from rnnbench.training.trainer import failure_reason

    if not isinstance(outcome, BaseException):
        return outcome
    try:
        pickle.loads(pickle.dumps(outcome))
        return outcome
    except Exception:
        return UserError(str(outcome)) if isinstance(outcome, UserError) else RuntimeError(failure_reason(outcome))


def collected(returns: list[JobReturn]) -> list:
    """The jobs collect_job gathered for `returns`."""
    if any(ret.status != JobStatus.COMPLETED for ret in returns):  # collecting cannot fail but for a bug
        raise next(ret.return_value for ret in returns if ret.status != JobStatus.COMPLETED)
    return [ret.return_value for ret in returns]


def settle_group(returns: list[JobReturn], outcomes: list) -> None:
    """Each JobReturn of a group then holds its job's value (job.settle)."""
    from rnnbench.launch.job import settle

    for ret, outcome in zip(returns, outcomes):
        job = ret.return_value
        ret.return_value = settle(outcome, job.cfg, job.run_dir, sweeping=True)
