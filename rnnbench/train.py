"""The trainer: build task, model and optimizer from the config, train, evaluate, record.

`train(cfg, run_dir)` is the whole pipeline for one run and returns its summary (the dict written
to summary.json). `run_job(cfg)` is what Hydra calls for each run of `rnnbench train`: it finds the
run folder, keeps a failing run from stopping a sweep, and returns the validation value of the
task's primary metric (what an Optuna sweeper would minimise).

Size figures: `params`, `core_params`, and `flops_per_step`, the forward FLOPs of one sample
divided by the time steps it takes (flops.py; `task.sample_len`: tokens, or source + target
tokens for an encoder-decoder, or frames read + predicted for video).
Speed figures in the record: `tokens_per_s` counts the time steps fed to the model
(batch × sequence length per step) over `train_s`, the time spent in training steps (batch fetch,
forward, backward, optimizer), which excludes evaluation and set-up. `wall_s` is everything.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import platform
import resource
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from rnnbench import diagnostics
from rnnbench.checkpoint import FORMAT as CHECKPOINT_FORMAT
from rnnbench.checkpoint import check_same_config, load_checkpoint, load_into
from rnnbench.config import config_dir, group_options, instantiate
from rnnbench.data.task import TASK_KINDS, SequenceTask, Split
from rnnbench.errors import AbortJob, ConfigError, UserError, check_choice, check_float, check_int
from rnnbench.flops import count_flops
from rnnbench.loggers import build_loggers
from rnnbench.memory import SavedTensors, check_fits, train_memory
from rnnbench.record import BEST, CHECKPOINT, SUMMARY, RunRecord, atomic_write_text, flatten, to_json
from rnnbench.sweep import job_threads

log = logging.getLogger("rnnbench")


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
        if self.threads is not None:
            check_int("threads", self.threads, 1, 1024)
        check_choice("progress", self.progress, (None, True, False))
        check_choice("checkpoint", self.checkpoint, (True, False))
        check_choice("keep_best", self.keep_best, (True, False))
        self.device = resolve_device(self.device)

    def describe(self) -> dict:
        return {"device": self.device, "threads": torch.get_num_threads()}


def determinism(device: str) -> dict:
    """What a rerun with the same config and seed reproduces, for the record."""
    timing = ["tokens_per_s", "infer_tokens_per_s", "wall_s", "train_s", "data_s", "eval_s", "max_rss_mb",
              "started_at", "finished_at", "metrics.jsonl: tokens_per_s, wall_s"]
    if device.startswith("cuda"):
        return {"bit_for_bit": False, "varies": ["losses and metrics (last digits)", *timing],
                "note": "CUDA: cuDNN's RNN kernels and atomic adds in backward are not deterministic; "
                        "expect differences in the last digits that can grow over training"}
    return {"bit_for_bit": True, "varies": timing,
            "note": "CPU: losses, metrics and weights are identical for the same config, seed, torch "
                    "version and number of threads (tested); only timings differ"}


def resolve_device(device: str) -> str:
    if not isinstance(device, str) or not (device in ("auto", "cpu") or device.startswith("cuda")):
        raise ConfigError("device", "must be auto, cpu, cuda or cuda:N", device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device", "asks for CUDA but no CUDA device is available; use cpu or auto", device)
    return device


def batch_order(task: SequenceTask, n: int, batch_size: int, seed: int) -> Iterator[tuple[Tensor, bool]]:
    """Endless (row indices of a training batch, fresh) over a split of n rows; `fresh` says the
    recurrent state starts anew. A function of the seed alone, so a resumed run replays it.

    Ordinary tasks: shuffled batches of equal size, a new permutation each epoch, the remainder
    that does not fill a batch dropped; every batch is fresh.
    Stateful tasks (truncated BPTT): the n windows of the split, in order, are cut into
    `batch_size` contiguous streams of n // batch_size windows; batch j holds window j of every
    stream, so row b of batch j+1 continues row b of batch j. Fresh at the start of each epoch.
    """
    if task.stateful:
        length = n // batch_size
        while True:
            for j in range(length):
                yield torch.arange(batch_size) * length + j, j == 0
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start:start + batch_size], True


def detach_state(state: Any) -> Any:
    """The recurrent state cut from the graph of the batch that produced it (truncated BPTT)."""
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    return state


@torch.no_grad()
def evaluate(model: torch.nn.Module, task: SequenceTask, data: Split, batch_size: int) -> dict[str, float]:
    """Every metric of the task over a whole split (batch means weighted by batch size).

    A stateful task's split is `task.eval_streams` contiguous streams of equal length (the task
    cuts it so); they are read in order with the state carried, as in training."""
    was_training = model.training
    model.eval()
    if not task.stateful:
        scores = task.score_predictor(lambda x: model(x)[0], data, batch_size)
        model.train(was_training)
        return scores
    totals: dict[str, float] = defaultdict(float)
    streams = task.eval_streams
    length = len(data) // streams
    state = None
    for j in range(length):
        index = torch.arange(streams, device=data.x.device) * length + j
        pred, state = model(data.x[index], state)
        for name, value in task.score(pred, data.y[index]).items():
            totals[name] += value
    model.train(was_training)
    return task.finish_scores({name: total / length for name, total in totals.items()})


def train(cfg: DictConfig, run_dir: Path) -> dict:
    """Train one config and write its record into run_dir. Returns the summary.

    A run folder that already holds a completed run is left alone (its summary is returned); one
    whose run was killed resumes from its checkpoint (checkpoint.py) and ends exactly as an
    uninterrupted run would. A non-finite loss or gradient norm stops the run with status
    "failed" (returned, not raised). Config errors found while building raise `UserError` before
    anything is written; an exception during training is recorded (status "failed" with the
    reason) and re-raised.
    """
    run_dir = Path(run_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    previous = previous_run(run_dir, config)
    if isinstance(previous, dict) and previous.get("status") == "completed":
        log.info("%s already holds a completed run; nothing to do", run_dir)
        return previous
    resume = previous if isinstance(previous, tuple) else None  # (checkpoint, its path)
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    settings: TrainerSettings = instantiate("trainer", cfg.trainer)
    seed = check_int("seed", cfg.seed, 0)
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    task: SequenceTask = instantiate("dataset", cfg.dataset)
    splits = {name: Split(s.x.to(settings.device), s.y.to(settings.device))
              for name, s in task.splits().items()}
    if len(splits["train"]) < settings.batch_size:
        unit = "windows" if task.stateful else "samples"
        raise ConfigError("trainer.batch_size", f"must not exceed the training set size "
                          f"({len(splits['train'])} {unit}); lower it or use more training data", settings.batch_size)
    check_model_fits(cfg.model, task)
    torch.manual_seed(seed)
    model = instantiate("model", cfg.model, **task.model_args()).to(settings.device)
    teacher_forced = getattr(model, "teacher_forced", False)  # an encoder-decoder reads the targets in training
    optimizer = instantiate("optimizer", cfg.optimizer)(model.parameters())
    if resume:
        load_into(model, resume[0]["model"], "model", resume[1])
        load_into(optimizer, resume[0]["optimizer"], "optimizer", resume[1])
    else:  # a model that cannot read the task's samples, or a step too big for memory, fails here
        sample = splits["val"]
        flops = count_flops(model, sample.x[:1], **({"target": sample.y[:1]} if teacher_forced else {}))
        train_x, train_y = splits["train"].x, splits["train"].y

        def probe_loss(n: int) -> Tensor:
            pred, _ = model(train_x[:n], target=train_y[:n]) if teacher_forced else model(train_x[:n])
            return task.loss(pred, train_y[:n])

        check_fits(model, probe_loss, settings.batch_size, settings.device,
                   f"dataset.seq_len={task.seq_len} with trainer.batch_size={settings.batch_size}")
    grad_probe = None
    if diagnostics.enabled(cfg):
        build = diagnostics.twin_builder(cfg, lambda model_cfg: instantiate("model", model_cfg, **task.model_args()))
        with torch.random.fork_rng(devices=[]):  # the twin's initialisation must not move the run's RNG
            grad_probe = diagnostics.GradPerStep(model, build, task, splits["val"],
                                     OmegaConf.select(cfg, "diagnostics.batch_size", default=64))

    loggers = build_loggers(cfg.get("logger"))
    record = RunRecord(run_dir)
    if resume is None:
        (run_dir / CHECKPOINT).unlink(missing_ok=True)  # a failed run's: this one starts over
    record.write_config(OmegaConf.to_yaml(cfg, resolve=True))
    primary = task.primary_metric
    tokens_per_step = settings.batch_size * task.sample_len
    order = batch_order(task, len(splits["train"]), settings.batch_size, seed)
    state = None
    train_s = data_s = eval_s = wall_before = 0.0
    step = 0
    if resume is None:
        model_info = model.describe()
        baselines = task.baselines("test")
        summary = {
            "status": "running", "reason": None,
            "model": model_info["name"], "dataset": task.name, "seed": seed,
            "params": model_info["params"], "core_params": model_info["core_params"],
            "flops_per_step": flops / task.sample_len,
            "model_info": model_info, "task": task.describe(), "optimizer": type(optimizer).__name__,
            "hparams": flatten(config),
            "baseline": baselines[task.baseline_name], "baseline_val": task.baseline("val"),
            "baseline_name": task.baseline_name, "baselines": baselines, "analysis": {},
            "final": {}, "final_val": {}, "best": {}, "best_step": None,
            "steps": 0, "steps_to_target": None, "seconds_to_target": None,
            "tokens_per_s": None, "infer_tokens_per_s": None, "memory": None,
            "wall_s": None, "train_s": None, "data_s": None, "eval_s": None,
            "determinism": determinism(settings.device),
            **settings.describe(), "torch": str(torch.__version__), "python": platform.python_version(),
            "started_at": started_at, "finished_at": None, "resumed": [], "loggers": {},
        }
    else:
        checkpoint, _ = resume
        summary = {**checkpoint["summary"], "resumed": [*checkpoint["summary"]["resumed"],
                                                        {"step": checkpoint["step"], "at": started_at}]}
        step, state, record.rows = checkpoint["step"], checkpoint["recurrent_state"], list(checkpoint["rows"])
        train_s, data_s, eval_s, wall_before = (checkpoint["times"][k] for k in ("train_s", "data_s", "eval_s", "wall_s"))
        torch.set_rng_state(checkpoint["rng"])
        if grad_probe is not None:
            grad_probe.rows = list(checkpoint.get("grad_per_step", []))
        for _ in range(step):
            next(order)
        log.info("resuming %s from step %d", run_dir, step)
    baseline, baseline_val = summary["baseline"], summary["baseline_val"]
    loggers.start(run_dir, summary, config)
    if grad_probe is not None and resume is None:
        grad_probe.measure(model, 0)
        atomic_write_text(run_dir / diagnostics.FILE, to_json(grad_probe.rows))
    record.write_summary(summary)
    log.info("%s on %s (T=%d), seed %d: %d parameters (%d in the core), %s, %s",
             summary["model"], task.name, task.seq_len, seed, summary["params"],
             summary["core_params"], summary["model_info"].get("impl", ""), settings.device)

    window_loss, window_grad, window_n = 0.0, 0.0, 0
    failure = None

    def save_checkpoint() -> None:
        times = {"train_s": train_s, "data_s": data_s, "eval_s": eval_s,
                 "wall_s": wall_before + time.perf_counter() - started}
        record.save_checkpoint({"format": CHECKPOINT_FORMAT, "step": step, "model": model.state_dict(),
                                "optimizer": optimizer.state_dict(), "config": config, "rng": torch.get_rng_state(),
                                "recurrent_state": detach_state(state), "rows": record.rows, "summary": summary,
                                "times": times, "grad_per_step": grad_probe.rows if grad_probe else []})

    try:
        bar = tqdm(total=settings.max_steps, initial=step, desc=f"{summary['model']}/{task.name}/s{seed}", leave=False,
                   disable=None if settings.progress is None else not settings.progress, file=sys.stderr)
        with logging_redirect_tqdm(), bar:
            model.train()
            while step < settings.max_steps:
                t0 = time.perf_counter()
                index, fresh = next(order)
                x, y = splits["train"].x[index], splits["train"].y[index]
                t1 = time.perf_counter()
                state = None if fresh else detach_state(state)
                saved = SavedTensors(model.parameters()) if summary["memory"] is None else None
                with saved.counting() if saved else contextlib.nullcontext():
                    pred, state = model(x, state, target=y) if teacher_forced else model(x, state)
                    loss = task.loss(pred, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(
                    model.parameters(), settings.grad_clip if settings.grad_clip is not None else math.inf).item()
                loss_value = loss.item()
                if not math.isfinite(loss_value) or not math.isfinite(grad_norm):
                    what = "loss" if not math.isfinite(loss_value) else "gradient norm"
                    failure = f"diverged: {what} became {loss_value if what == 'loss' else grad_norm} at step {step + 1}"
                    break
                optimizer.step()
                step += 1
                if saved:
                    summary["memory"] = train_memory(model, optimizer, saved.bytes)
                t2 = time.perf_counter()
                data_s += t1 - t0
                train_s += t2 - t0
                window_loss, window_grad, window_n = window_loss + loss_value, window_grad + grad_norm, window_n + 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)

                if step % settings.eval_every == 0 or step == settings.max_steps:
                    t3 = time.perf_counter()
                    val = evaluate(model, task, splits["val"], settings.eval_batch_size)
                    eval_s += time.perf_counter() - t3
                    row = {"step": step, "train_loss": window_loss / window_n, "grad_norm": window_grad / window_n,
                           **{f"val_{k}": v for k, v in val.items()},
                           "tokens_per_s": step * tokens_per_step / train_s,
                           "wall_s": wall_before + time.perf_counter() - started}
                    window_loss, window_grad, window_n = 0.0, 0.0, 0
                    record.log_eval(row)
                    loggers.log_metrics(row, step)
                    if grad_probe is not None:
                        grad_probe.measure(model, step)
                        atomic_write_text(run_dir / diagnostics.FILE, to_json(grad_probe.rows))
                        summary["grad_per_step"] = grad_probe.summary()
                    for name, value in val.items():
                        if task.is_better(name, value, summary["best"].get(name)):
                            summary["best"][name] = value
                            if name == primary:
                                summary["best_step"] = step
                                if settings.keep_best:
                                    record.save_checkpoint({"format": CHECKPOINT_FORMAT, "step": step,
                                                            "model": model.state_dict(), "config": config}, BEST)
                    summary["final_val"] = val
                    log.info("step %6d  train loss %.4f  val %s %.4f  (baseline %.4f)  %.0f tok/s",
                             step, row["train_loss"], primary, val[primary], baseline_val[primary], row["tokens_per_s"])
                    solved = summary["steps_to_target"] is None and task.is_solved(val[primary])
                    if solved:
                        summary["steps_to_target"], summary["seconds_to_target"] = step, train_s
                    summary.update(steps=step)
                    record.write_summary(summary)
                    if settings.checkpoint:
                        save_checkpoint()
                    if solved and settings.early_stop:
                        log.info("solved (val %s %s %g): stopping early", primary,
                                 "≤" if task.metrics[primary] == "min" else "≥", task.solved_at)
                        break
    except Exception as exc:
        summary.update(status="failed", reason=failure_reason(exc), steps=step,
                       wall_s=wall_before + time.perf_counter() - started)
        loggers.finish()
        record.write_summary(summary)
        (run_dir / CHECKPOINT).unlink(missing_ok=True)  # a failed run is started over, not resumed
        raise
    summary.update(steps=step, train_s=train_s, data_s=data_s, eval_s=eval_s,
                   tokens_per_s=step * tokens_per_step / train_s if train_s > 0 else None)
    if failure is None:
        t0 = time.perf_counter()
        summary["final"] = evaluate(model, task, splits["test"], settings.eval_batch_size)
        summary["infer_tokens_per_s"] = len(splits["test"]) * task.sample_len / (time.perf_counter() - t0)
        model.eval()
        with torch.no_grad():
            summary["analysis"] = task.examine(model, run_dir)
        summary["status"] = "completed"
        if settings.checkpoint:
            save_checkpoint()
        log.info("test %s", "  ".join(f"{k} {v:.4f} (baseline {baseline[k]:.4f})"
                                      for k, v in summary["final"].items()))
    else:
        summary.update(status="failed", reason=failure)
        (run_dir / CHECKPOINT).unlink(missing_ok=True)
        log.error("%s", failure)
    summary.update(wall_s=wall_before + time.perf_counter() - started,
                   finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    loggers.finish()
    record.write_summary(summary)
    return summary


def previous_run(run_dir: Path, config: dict) -> dict | tuple[dict, Path] | None:
    """What run_dir already holds: the summary of a completed run, (checkpoint, path) of a killed
    run to resume (same config, checked), or None (nothing, or a run to start over)."""
    summary_path, checkpoint_path = run_dir / SUMMARY, run_dir / CHECKPOINT
    if not summary_path.is_file():
        return None
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # written atomically, so only a foreign file is unreadable: start over
    status = summary.get("status") if isinstance(summary, dict) else None
    if status == "completed" or status != "running" or not checkpoint_path.is_file():
        return summary if status == "completed" else None
    checkpoint = load_checkpoint(checkpoint_path)
    check_same_config(checkpoint, config, checkpoint_path)
    return checkpoint, checkpoint_path


def model_kind(model_cfg: DictConfig) -> str | None:
    """The `task_kind` of a model config's class ("sequence" unless the class says otherwise), or
    None when its _target_ cannot be imported (instantiate reports that)."""
    from hydra.utils import get_class

    try:
        return getattr(get_class(model_cfg["_target_"]), "task_kind", "sequence")
    except Exception:
        return None


def check_model_fits(model_cfg: DictConfig, task: SequenceTask) -> None:
    """Refuse, before anything is built, a model that cannot run this kind of task (a GRU
    classifier on video frames), naming the models that can."""
    kind = model_kind(model_cfg)
    if kind is None or kind == task.kind:
        return
    fitting = [name for name in group_options("model")
               if model_kind(OmegaConf.load(config_dir() / "model" / f"{name}.yaml")) == task.kind]
    raise UserError(f"model={model_cfg.get('name')} cannot run dataset={task.name}, which needs a model for "
                    f"{TASK_KINDS[task.kind]}; choose one of: {', '.join(fitting)}")


def failure_reason(exc: Exception) -> str:
    """A user error's message as it is; anything else with its type."""
    return str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"


def run_job(cfg: DictConfig) -> float:
    """Hydra's task function for `rnnbench train`.

    A single run lets an error propagate (the CLI prints a `UserError` as one line). In a sweep,
    any error is recorded as a failed run (summary.json with its reason) and the sweep goes on.
    In a sweep whose launcher runs jobs side by side, torch gets the job's share of the cores
    (sweep.job_threads) unless `trainer.threads` says otherwise.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    threads = job_threads(hydra_cfg.launcher) if cfg.trainer.get("threads") is None else None
    if threads is not None and hydra_cfg.mode == RunMode.MULTIRUN:
        torch.set_num_threads(threads)
    try:
        summary = train(cfg, run_dir)
    except Exception as exc:
        if hydra_cfg.mode != RunMode.MULTIRUN:
            if isinstance(exc, UserError):
                raise AbortJob(exc) from None  # the CLI prints it as one line
            raise  # a bug: Hydra shows the traceback
        reason = failure_reason(exc)
        if isinstance(exc, UserError):
            log.error("error: %s", reason)
        else:
            log.exception("run failed: %s", reason)
        if not (run_dir / SUMMARY).exists():  # failed before train() started its record
            RunRecord(run_dir).write_summary({"status": "failed", "reason": reason, "model": cfg.model.get("name"),
                                              "dataset": cfg.dataset.get("name"), "seed": cfg.get("seed")})
        return math.nan
    return summary["final_val"].get(summary["task"]["primary_metric"], math.nan)
