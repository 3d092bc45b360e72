"""Sweeps on a SLURM cluster: `hydra/launcher=slurm` (conf/hydra/launcher/slurm.yaml; the plugin is
hydra_plugins/rnnbench_slurm). Torch is imported only for `mem_gb: auto`, in the launching process.

    launch(launcher, job_overrides, first index) → one JobReturn per job, in order

It is Hydra's submitit_slurm launcher — the sweep is one job array, each job runs `rnnbench train`'s
task function on a node, into the folder it would have on this machine — with what a study needs
on a cluster:

- Settings checked before anything is submitted, one line each (`check_settings`): the partition
  exists (sinfo), cpus_per_task, timeout_min, max_num_timeout, array_parallelism are in range;
  what sbatch itself refuses (an account, a QOS) is one line too.
- `mem_gb: auto`: the largest estimate, over the sweep's configs, of one training step's memory
  (trainer.step_memory, the trainer's own check at start) plus the process itself, with headroom.
  Inside the job the trainer checks its step against the job's allocation (memory.available_bytes).
- Job states from `squeue` where the cluster keeps no accounting (sacct then fails and submitit
  warns at every poll; `SqueueWatcher`).
- Time limits and preemption: SLURM signals the job `signal_delay_s` before its limit; the trainer
  checkpoints at the end of that step and submitit requeues the job (preemption.py), up to
  `max_num_timeout` times for time limits (preemptions are always requeued); the requeued job
  resumes exactly. A job that ends without a result (scancel, a node failure, a kill for memory)
  is listed as not finished while the others are awaited; the same command again resumes it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import OmegaConf
from submitit.slurm.slurm import SlurmInfoWatcher

from rnnbench.config import one_line
from rnnbench.errors import ConfigError, UserError, check_int

log = logging.getLogger("rnnbench")

GIB = 2**30
PROCESS_BYTES = 1 * GIB  # python, torch and a run's data: 0.3 GiB for a small run (its record's max_rss_mb)
HEADROOM = 1.25


def check_settings(params: dict) -> tuple[dict, int]:
    """The launcher's settings, checked (a one-line UserError for a bad one), and the memory in GB
    of the partition's largest node."""
    if shutil.which("sbatch") is None:
        raise UserError(
            "hydra/launcher=slurm submits to a SLURM cluster, but sbatch is not installed here "
            "(scripts/slurm-local.sh starts a one-node cluster on this machine)"
        )
    for key, low, high in (
        ("cpus_per_task", 1, 4096),
        ("timeout_min", 1, 525_600),
        ("max_num_timeout", 0, 1000),
        ("signal_delay_s", 1, 65_535),
        ("array_parallelism", 1, 100_000),
        ("tasks_per_node", 1, 1),
        ("nodes", 1, 1),
    ):  # one task on one node: a run is one process
        if params.get(key) is not None:
            params[key] = check_int(f"hydra.launcher.{key}", params[key], low, high)
    if params.get("mem_gb") not in (None, "auto") and not (isinstance(params["mem_gb"], int) and params["mem_gb"] > 0):
        raise ConfigError("hydra.launcher.mem_gb", "must be auto or a whole number of GB ≥ 1", params["mem_gb"])
    partitions = cluster_partitions()
    partition = params.get("partition") or next((name for name, p in partitions.items() if p["default"]), None)
    if partition not in partitions:
        what = (
            f"hydra.launcher.partition={partition}: no such partition on this cluster"
            if partition
            else "this cluster has no default partition: set hydra.launcher.partition"
        )
        raise UserError(f"{what}; choose from: {', '.join(partitions) or '(none: sinfo lists no partition)'}")
    cpus = partitions[partition]["cpus"]
    if params.get("cpus_per_task") and params["cpus_per_task"] > cpus:
        raise UserError(
            f"hydra.launcher.cpus_per_task={params['cpus_per_task']}: the nodes of partition {partition} "
            f"have {cpus} CPUs at most"
        )
    node_mem_gb = partitions[partition]["mem_mb"] // 1024
    if isinstance(params.get("mem_gb"), int) and params["mem_gb"] > node_mem_gb:
        raise UserError(
            f"hydra.launcher.mem_gb={params['mem_gb']}: the partition's nodes have {node_mem_gb} GB at most"
        )
    return params, node_mem_gb


def cluster_partitions() -> dict[str, dict]:
    """name → {cpus, mem_mb: the largest node's, default: whether sbatch takes it without -p}."""
    partitions: dict[str, dict] = {}
    for line in _slurm("sinfo", "--noheader", "--format=%P|%c|%m").split():
        name, cpus, mem = line.split("|")
        entry = partitions.setdefault(name.rstrip("*"), {"cpus": 0, "mem_mb": 0, "default": name.endswith("*")})
        entry["cpus"] = max(entry["cpus"], int(cpus.rstrip("+")))
        entry["mem_mb"] = max(entry["mem_mb"], int(mem.rstrip("+")))
    return partitions


@functools.lru_cache(maxsize=1)
def accounting() -> bool:
    """Whether sacct can answer: the cluster has an accounting storage."""
    out = _slurm("scontrol", "show", "config")
    return not any(
        line.split("=", 1)[-1].strip() == "accounting_storage/none"
        for line in out.splitlines()
        if line.startswith("AccountingStorageType")
    )


def _slurm(*command: str) -> str:
    try:
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        raise UserError(
            f"`{' '.join(command)}` failed: {one_line(detail)}; is the SLURM controller up "
            "(scripts/slurm-local.sh on this machine)?"
        ) from None


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
    """Submit the jobs as one array, wait for all of them, return their JobReturns (a job that ended
    without one returns sweep.LostJob: NaN, with its folder and why)."""
    import submitit

    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    params, node_mem_gb = dict(launcher.params), launcher.node_mem_gb
    if params.get("mem_gb") == "auto":
        params["mem_gb"] = min(memory_gb(job_overrides), node_mem_gb)
    executor = submitit.AutoExecutor(
        cluster="slurm", folder=params.pop("submitit_folder"), slurm_max_num_timeout=params.pop("max_num_timeout")
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{key if key in base else f"slurm_{key}": value for key, value in params.items()})
    sweep_dir = Path(str(launcher.config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    log.info(
        "SLURM: %d jobs (%s cpus, %s GB, %s min each) into %s",
        len(job_overrides),
        params.get("cpus_per_task"),
        params.get("mem_gb"),
        params.get("timeout_min"),
        sweep_dir,
    )
    job_params = []
    for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
        log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
        job_params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
    submitit.SlurmJob.watcher = watcher()  # submitit's jobs share one watcher, a class attribute
    with sbatch_errors() as said:
        try:
            jobs = executor.map_array(launcher, *zip(*job_params))
        except (submitit.core.utils.FailedJobError, subprocess.CalledProcessError) as exc:
            words = [line.split("error:", 1)[1] for line in (said() or str(exc)).splitlines() if "error:" in line]
            raise UserError(f"sbatch refused the jobs: {one_line(words[-1] if words else str(exc))}") from None
    return [job_return(launcher, job, params_) for job, params_ in zip(jobs, job_params)]


@contextlib.contextmanager
def sbatch_errors() -> Iterator[Callable[[], str]]:
    """What sbatch writes to this process's stderr (submitit leaves it there) while open, kept back
    so that a refusal is one line; written through on leaving."""
    with tempfile.TemporaryFile("w+") as kept:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(kept.fileno(), 2)

        def said() -> str:
            kept.seek(0)
            return kept.read()

        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            text = said()
            if text and sys.exc_info()[0] is None:
                sys.stderr.write(text)


def job_return(launcher: Any, job: Any, job_params: tuple) -> JobReturn:
    """The job's JobReturn; for a job that ended without one, `LostJob` (NaN, its folder and why), so
    that the sweep's other jobs are still awaited and counted."""
    from submitit.core.utils import UncompletedJobError

    from rnnbench.launch.sweep import LostJob

    try:
        return job.results()[0]
    except UncompletedJobError:
        overrides, _, idx = job_params[:3]
        folder = job_folder(launcher, overrides)
        state = job.watcher.get_state(job.job_id, mode="cache")
        reason = (
            f"the SLURM job {job.job_id} ended without finishing (state {state}; its log: {job.paths.stderr}); "
            "run the same command again to resume it"
        )
        log.error("job #%d (%s): %s", idx, " ".join(filter_overrides(overrides)), reason)
        return JobReturn(
            overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=LostJob(str(folder), reason)
        )


def job_folder(launcher: Any, overrides: list[str]) -> Path:
    """The folder a job of the sweep writes to, named as Hydra names it in the job."""
    config = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
    running = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(config)
    try:
        return Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)
    finally:
        HydraConfig.instance().cfg = running


def memory_gb(job_overrides: Sequence[Sequence[str]]) -> int:
    """Memory per job for `mem_gb: auto`, in whole GB: the largest training-step estimate over the
    sweep's configs (jobs that differ only in seeds or optimizer settings — a batched launcher's
    group, batched.group_jobs — estimated once) plus the process, with HEADROOM."""
    from rnnbench.config import compose
    from rnnbench.launch.batched import group_jobs
    from rnnbench.training.build import build
    from rnnbench.training.trainer import step_memory

    largest = 0
    for group in group_jobs(job_overrides, max_members=len(job_overrides)):
        overrides = job_overrides[group[0]]
        try:
            largest = max(largest, step_memory(build(compose(*overrides)), limit=2**62))
        except UserError as exc:
            raise UserError(f"{' '.join(filter_overrides(overrides))}: {exc}") from None
    return max(1, math.ceil((largest + PROCESS_BYTES) * HEADROOM / GIB))


def watcher(delay_s: int = 60) -> SlurmInfoWatcher:
    """submitit's job-state watcher: its own (sacct) where the cluster keeps accounting, else squeue."""
    return SlurmInfoWatcher(delay_s=delay_s) if accounting() else SqueueWatcher(delay_s=delay_s)


class SqueueWatcher(SlurmInfoWatcher):
    """Job states from squeue, which lists a job until MinJobAge after it ended (300 s by default);
    a job of the sweep no longer listed has ended (submitit then looks for its result file)."""

    def _make_command(self) -> list[str] | None:
        if super()._make_command() is None:  # no job left to watch
            return None
        return ["squeue", "--me", "--array", "--states=all", "--format=%i|%T|%N"]

    def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
        lines = (string.decode() if isinstance(string, bytes) else string).splitlines()
        info = super().read_info("\n".join(["JobID|State|NodeList", *lines[1:]]))  # sacct's header
        for job_id in self._registered - self._finished:
            info.setdefault(job_id, {"JobID": job_id, "State": "ENDED", "NodeList": ""})
        return info
