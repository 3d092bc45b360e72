"""The trainer: one config, one run folder, in these phases.

    train(cfg, run_dir)
      folder      checkpoint.previous_run: what the folder holds for this config (a completed run
                  is returned as it is; a run of another config is refused)
      build       build.build(cfg): settings, task (its splits on the run's device), model, optimizer
      lock        RunRecord.lock(): this process is the folder's one writer; the folder checked again
      start       Run.start(): sizes (params, FLOPs), the memory check, the baselines → the record's
                  first summary; or Run.resume(checkpoint): the loop's state as it was saved
      loop        Run.open(): the record's first files; Run.run_loop(): training steps (Run.step:
                  next_batch, forward and backward, then update: clip, check, optimizer step), each
                  followed by Run.after_step, which every `eval_every` steps runs Run.validate:
                  validation metrics, best values, the record and the checkpoint; a cluster's
                  stop signal is taken after a step (Run.hand_over, preemption.py)
      finish      Run.finish(): test metrics, the task's analysis, the final record (Run.fail on an
                  exception)

The loop's state is one object, `LoopState`: what a checkpoint saves and what resume restores.
Batched members (members.py) drive the same phases of K runs, sharing only forward and backward.
Config errors are raised by build and start, before anything is written; from the first write on,
an exception is recorded (status "failed" with its reason) and re-raised. A non-finite loss or
gradient norm ends the run as "failed" (returned, not raised).

Figures in the record: `params`, `core_params`, `state_size` (models/recurrent.py) and
`flops_per_token`, the forward FLOPs of one
sample over the time steps it takes (flops.py; `task.sample_len`: tokens, or source + target tokens
for an encoder-decoder, or frames read + predicted for video). `tokens_per_s` counts the time steps
fed to the model (batch × sample_len per optimizer step) over `train_s`, the time spent in
training steps (batch fetch, forward, backward, optimizer), which excludes evaluation and set-up.
`wall_s` is everything.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import platform
import resource
import socket
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from rnnbench.data.task import SequenceTask, Split
from rnnbench.errors import UserError
from rnnbench.training import diagnostics, preemption
from rnnbench.training.build import Built, build
from rnnbench.training.checkpoint import FORMAT as CHECKPOINT_FORMAT
from rnnbench.training.checkpoint import load_into, previous_run
from rnnbench.training.flops import count_flops
from rnnbench.training.memory import SavedTensors, check_fits, train_memory
from rnnbench.training.record import (
    BEST,
    CHECKPOINT,
    GRADS,
    FolderRefused,
    RunRecord,
    Summary,
    cpu_kind,
    flatten,
    nesting,
)

log = logging.getLogger("rnnbench")


def determinism(device: str) -> dict:
    """What a rerun with the same config and seed reproduces, for the record."""
    timing = [
        "tokens_per_s",
        "infer_tokens_per_s",
        "wall_s",
        "train_s",
        "data_s",
        "eval_s",
        "max_rss_mb",
        "started_at",
        "finished_at",
        "metrics.jsonl: tokens_per_s, wall_s",
    ]
    if device.startswith("cuda"):
        return {
            "bit_for_bit": False,
            "varies": ["losses and metrics (last digits)", *timing],
            "note": "CUDA: cuDNN's RNN kernels and atomic adds in backward are not deterministic; "
            "expect differences in the last digits that can grow over training",
        }
    return {
        "bit_for_bit": True,
        "varies": timing,
        "note": "CPU: losses, metrics and weights are identical for the same config, seed, torch "
        "version, number of threads and kind of CPU (the record's `cpu`: the math libraries choose "
        "kernels by instruction set) (tested); only timings differ",
    }


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
            yield order[start : start + batch_size], True


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


@dataclass
class LoopState:
    """Everything the training loop changes as it goes. `state_dict()` is what checkpoint.pt holds
    besides the config and the record so far; `load_state_dict()` is all a resume restores."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    step: int = 0  # optimizer steps taken
    carried: Any = None  # the recurrent state the next batch continues from (truncated BPTT)
    train_s: float = 0.0  # in training steps: batch fetch, forward, backward, update
    data_s: float = 0.0  # of which fetching batches
    eval_s: float = 0.0  # in validation passes
    wall_before: float = 0.0  # wall seconds of the processes before this one (a resumed run)
    window_loss: float = 0.0  # sums over the steps since the last evaluation
    window_grad_norm: float = 0.0
    window_steps: int = 0
    rows: list[dict] = field(default_factory=list)  # metrics.jsonl
    best: dict[str, float] = field(default_factory=dict)  # best validation value of each metric
    best_step: int | None = None
    last_val: dict[str, float] = field(default_factory=dict)
    steps_to_target: int | None = None
    seconds_to_target: float | None = None
    memory: dict | None = None  # of the first training step
    grad_rows: list[dict] = field(default_factory=list)  # diagnostics: grad_per_time_step.json
    plateau_best: float | None = None  # the primary metric's last value that beat the one before by min_delta
    evals_without_progress: int = 0  # evaluations since then (trainer.patience)
    stop_reason: str | None = None  # Summary.stop_reason
    started: float = field(default_factory=time.perf_counter)  # this process's clock; not saved

    @property
    def wall_s(self) -> float:
        return self.wall_before + time.perf_counter() - self.started

    def _plain(self) -> list[str]:
        return [f.name for f in fields(self) if f.name not in ("model", "optimizer", "started", "wall_before")]

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            "wall_before": self.wall_s,
            **{name: getattr(self, name) for name in self._plain()},
            "carried": detach_state(self.carried),
        }

    def load_state_dict(self, state: dict, path: Path) -> None:
        load_into(self.model, state["model"], "model", path)
        load_into(self.optimizer, state["optimizer"], "optimizer", path)
        torch.set_rng_state(state["rng"])
        self.wall_before = state["wall_before"]
        for name in self._plain():
            if name in state:  # a checkpoint of an earlier rnnbench lacks the newer fields: their defaults hold
                setattr(self, name, state[name])


class Run:
    """One run of built parts into one run folder: `start` or `resume`, then `train`."""

    def __init__(self, built: Built, record: RunRecord, config: dict, started: float):
        self.built, self.config = built, config
        self.log: logging.Logger | logging.LoggerAdapter = log  # batched members tag theirs (members.py)
        self.settings, self.task, self.model = built.settings, built.task, built.model
        self.record = record
        self.loop = LoopState(built.model, built.optimizer, started=started)
        self.summary = Summary()  # start() or resume() makes it
        self.order = batch_order(self.task, len(self.task.splits()["train"]), self.settings.batch_size, built.seed)

    # --- start or resume ---------------------------------------------------------------------------
    def start(self, started_at: str) -> None:
        """A new run's first summary: what it is, its size, its baselines. A model that cannot read
        the task's samples, or a step too big for memory, fails here, before anything is written."""
        task, model, settings = self.task, self.model, self.settings
        sample = task.splits()["val"]
        flops = count_flops(model, sample.x[:1], target=sample.y[:1])
        step_memory(self.built)
        info = {**model.describe(), **model.sizing}
        baselines = task.baselines("test")
        self.summary = Summary(
            model=info["name"],
            dataset=task.name,
            seed=self.built.seed,
            hparams=flatten(self.config),
            model_info=info,
            task=task.describe(),
            optimizer=type(self.built.optimizer).__name__,
            params=info["params"],
            core_params=info["core_params"],
            state_size=info.get("state_size"),
            flops_per_token=flops / task.sample_len,
            baseline_name=task.baseline_name,
            baseline=baselines[task.baseline_name],
            baseline_val=task.baseline("val"),
            baselines=baselines,
            determinism=determinism(settings.device),
            host=socket.gethostname(),
            cpu=cpu_kind() if settings.device == "cpu" else {},
            device=settings.device,
            threads=torch.get_num_threads(),
            torch=str(torch.__version__),
            python=platform.python_version(),
            started_at=started_at,
        )

    def resume(self, checkpoint: dict, path: Path, started_at: str) -> None:
        """The loop as the checkpoint left it, and the batch order replayed up to its step."""
        self.loop.load_state_dict(checkpoint, path)
        self.summary = Summary.from_json(checkpoint["summary"])
        self.summary.threads = torch.get_num_threads()  # what this process has (trainer.threads may change)
        self.summary.host = socket.gethostname()  # a requeued job may resume on another node
        resumed = {"step": self.loop.step, "at": started_at, "threads": self.summary.threads}
        kind = cpu_kind() if self.settings.device == "cpu" else {}
        if kind != self.summary.cpu:  # the rest is computed by other kernels
            resumed["cpu"] = kind
        self.summary.resumed.append(resumed)
        for _ in range(self.loop.step):
            next(self.order)
        self.log.info("resuming %s from step %d", self.record.dir, self.loop.step)

    # --- train -------------------------------------------------------------------------------------
    def train(self, files: dict[str, str]) -> dict:
        """Open the record (with `files`: name → text), loop, finish; from the first write on, an
        exception is recorded."""
        try:
            self.open(files)
            failure = self.run_loop()
            self.finish(failure)
        except Exception as exc:
            self.fail(exc)
            raise
        return self.summary.to_dict()

    def open(self, files: dict[str, str]) -> None:
        """The record's first files, the loggers, the gradient picture before training."""
        resuming = bool(self.summary.resumed)
        if not resuming:
            self.record.drop_checkpoint()  # a failed run's: this one starts over
        self.record.write_config(OmegaConf.to_yaml(OmegaConf.create(self.config)))
        for name, text in files.items():
            self.record.write_text(name, text)
        self.built.loggers.start(self.record.dir, self.summary, self.config)
        if self.built.grad_probe is not None and not resuming:
            self.measure_grads()
        self.record.write_summary(self.summary)
        s = self.summary
        self.log.info(
            "%s on %s (T=%d), seed %d: %d parameters (%d in the core), %s, %s",
            s.model,
            s.dataset,
            self.task.seq_len,
            s.seed,
            s.params,
            s.core_params,
            s.model_info.get("impl", ""),
            s.device,
        )

    def run_loop(self) -> str | None:
        """Training steps until a stop (`stop`, or max_steps); returns why the run failed (it
        diverged), or None. `loop.stop_reason` says why the loop ended."""
        with logging_redirect_tqdm(), self.progress_bar() as bar:
            self.model.train()
            while self.loop.step < self.settings.max_steps:
                failure = self.after_step(self.step())
                bar.update(1)
                bar.set_postfix(loss=f"{self.loop.window_loss / max(self.loop.window_steps, 1):.4f}", refresh=False)
                if failure or self.loop.stop_reason:
                    return failure
                if preemption.pending():
                    self.hand_over()
        self.loop.stop_reason = self.loop.stop_reason or "max_steps"  # resumed after its last step
        return None

    def hand_over(self) -> None:
        """The cluster is stopping this job (preemption.py): a checkpoint at this step, then the
        signal's own handler (submitit's requeues the job and exits)."""
        self.write_progress()
        if self.settings.checkpoint:
            self.save_checkpoint()
        self.log.warning("stopped by the cluster at step %d of %d", self.loop.step, self.settings.max_steps)
        preemption.deliver()

    def progress_bar(self, total: int | None = None, desc: str | None = None) -> tqdm:
        settings = self.settings
        return tqdm(
            total=total or settings.max_steps,
            initial=0 if total else self.loop.step,
            leave=False,
            desc=desc or f"{self.summary.model}/{self.task.name}/s{self.built.seed}",
            file=sys.stderr,
            disable=None if settings.progress is None else not settings.progress,
        )

    def after_step(self, failure: str | None) -> str | None:
        """What follows an optimizer step (`failure`: the step's): a validation every `eval_every`
        steps and at max_steps, and `loop.stop_reason` set when the loop ends here."""
        loop = self.loop
        if failure:
            loop.stop_reason = "diverged"
            return failure
        if loop.step % self.settings.eval_every == 0 or loop.step == self.settings.max_steps:
            self.validate()
        if loop.stop_reason is None and loop.step >= self.settings.max_steps:
            loop.stop_reason = "max_steps"
        return None

    def step(self) -> str | None:
        """One optimizer step on the next batch; returns the failure when loss or gradient norm is
        not finite (the weights are then left as they were)."""
        loop, model = self.loop, self.model
        t0 = time.perf_counter()
        x, y, fresh = self.next_batch()
        t1 = time.perf_counter()
        saved = SavedTensors(model.parameters()) if loop.memory is None else None
        with saved.counting() if saved else contextlib.nullcontext():
            pred, state = model(x, None if fresh else loop.carried, target=y)
            loss = self.task.loss(pred, y)
        loop.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return self.update(loss.item(), state, saved.bytes if saved else None, t1 - t0, t0)

    def next_batch(self) -> tuple[Tensor, Tensor, bool]:
        """The next training batch (x, y) of the run's batch order, and whether it starts fresh."""
        index, fresh = next(self.order)
        train = self.task.splits()["train"]
        return train.x[index], train.y[index], fresh

    def update(
        self, loss_value: float, state: Any, activation_bytes: int | None, data_s: float, started: float
    ) -> str | None:
        """After backward: clip, check, step the optimizer, count. `activation_bytes` (first step
        only) is what the forward pass saved; `data_s` the seconds fetching the batch, `started`
        the step's start on the perf_counter clock."""
        loop, model = self.loop, self.model
        clip = self.settings.grad_clip if self.settings.grad_clip is not None else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip).item()
        if not math.isfinite(loss_value) or not math.isfinite(grad_norm):
            what, value = ("loss", loss_value) if not math.isfinite(loss_value) else ("gradient norm", grad_norm)
            return f"diverged: {what} became {value} at step {loop.step + 1}"
        loop.optimizer.step()
        loop.step += 1
        loop.carried = detach_state(state)
        if activation_bytes is not None:
            loop.memory = train_memory(model, loop.optimizer, activation_bytes)
        loop.data_s += data_s
        loop.train_s += time.perf_counter() - started
        loop.window_loss += loss_value
        loop.window_grad_norm += grad_norm
        loop.window_steps += 1
        return None

    def validate(self) -> None:
        """Validation metrics → metrics.jsonl, the loggers, best values, the target, the reasons to
        stop (`stop`), the record and the checkpoint."""
        loop, task, primary = self.loop, self.task, self.task.primary_metric
        t0 = time.perf_counter()
        val = evaluate(self.model, task, task.splits()["val"], self.settings.eval_batch_size)
        loop.eval_s += time.perf_counter() - t0
        row = {
            "step": loop.step,
            "train_loss": loop.window_loss / loop.window_steps,
            "grad_norm": loop.window_grad_norm / loop.window_steps,
            **{f"val_{k}": v for k, v in val.items()},
            "tokens_per_s": loop.step * self.tokens_per_batch / loop.train_s,
            "wall_s": loop.wall_s,
        }
        train_name, train_value = task.train_metric(row["train_loss"])
        if train_name != "loss":
            row[f"train_{train_name}"] = train_value  # the loss in the unit of a task metric (text: bpc)
        loop.window_loss, loop.window_grad_norm, loop.window_steps = 0.0, 0.0, 0
        loop.rows.append(row)
        self.record.write_metrics(loop.rows)
        self.built.loggers.log_metrics(row, loop.step)
        if self.built.grad_probe is not None:
            self.measure_grads()
        self.track_best(val)
        loop.last_val = val
        self.log.info(
            "step %6d  train %s %.4f  val %s %.4f  (baseline %.4f)  %.0f tok/s",
            loop.step,
            train_name,
            train_value,
            primary,
            val[primary],
            self.summary.baseline_val[primary],
            row["tokens_per_s"],
        )
        solved = loop.steps_to_target is None and task.is_solved(val[primary])
        if solved:
            loop.steps_to_target, loop.seconds_to_target = loop.step, loop.train_s
        loop.stop_reason = self.stop(val[primary], solved)
        self.write_progress()
        if self.settings.checkpoint:
            self.save_checkpoint()

    def stop(self, value: float, solved: bool) -> str | None:
        """Why training stops after this evaluation of the primary metric on validation, or None.

        solved    it reached the task's target and trainer.early_stop is on
        pruned    a tuning trial that the tuner's pruner gives up on (its validation curve so far is
                  reported to the trial: rnnbench/launch/tune.py)
        plateau   trainer.patience evaluations in a row without beating the reference value by
                  trainer.min_delta relative (|ref| · min_delta); the reference is the last value that
                  did, so slow drift below min_delta per evaluation does not keep a run going
        """
        loop, task, settings = self.loop, self.task, self.settings
        if solved and settings.early_stop:
            op = "≤" if task.metrics[task.primary_metric] == "min" else "≥"
            self.log.info("solved (val %s %s %g): stopping early", task.primary_metric, op, task.solved_at)
            return "solved"
        if self.built.trial is not None and self.built.trial.prune(
            value, loop.step, self.summary.baseline_val[task.primary_metric]
        ):
            self.log.info("pruned by the tuner at step %d", loop.step)
            return "pruned"
        reference = loop.plateau_best
        if reference is None or (
            task.is_better(task.primary_metric, value, reference)
            and abs(value - reference) > settings.min_delta * abs(reference)
        ):
            loop.plateau_best, loop.evals_without_progress = value, 0
            return None
        loop.evals_without_progress += 1
        if settings.patience is not None and loop.evals_without_progress >= settings.patience:
            self.log.info(
                "plateau: %d evaluations without a %g relative improvement of val %s; stopping",
                loop.evals_without_progress,
                settings.min_delta,
                task.primary_metric,
            )
            return "plateau"
        return None

    def track_best(self, val: dict[str, float]) -> None:
        """The best value of each metric; where the primary one was best (and best.pt there)."""
        loop, task = self.loop, self.task
        improved = [name for name, value in val.items() if task.is_better(name, value, loop.best.get(name))]
        loop.best.update({name: val[name] for name in improved})
        if task.primary_metric not in improved:
            return
        loop.best_step = loop.step
        if self.settings.keep_best:
            self.record.save_checkpoint(
                {
                    "format": CHECKPOINT_FORMAT,
                    "step": loop.step,
                    "model": self.model.state_dict(),
                    "config": self.config,
                },
                BEST,
            )

    def measure_grads(self) -> None:
        self.loop.grad_rows.append(self.built.grad_probe.measure(self.model, self.loop.step))
        self.record.write_json(GRADS, self.loop.grad_rows)

    @property
    def tokens_per_batch(self) -> int:
        return self.settings.batch_size * self.task.sample_len

    def write_progress(self) -> None:
        self.sync()
        self.record.write_summary(self.summary)

    def sync(self) -> None:
        """The loop's figures into the summary."""
        s, loop = self.summary, self.loop
        s.steps, s.best, s.best_step, s.final_val = loop.step, dict(loop.best), loop.best_step, dict(loop.last_val)
        s.stop_reason = loop.stop_reason
        s.steps_to_target, s.seconds_to_target, s.memory = loop.steps_to_target, loop.seconds_to_target, loop.memory
        s.train_s, s.data_s, s.eval_s = loop.train_s, loop.data_s, loop.eval_s
        s.tokens_per_s = loop.step * self.tokens_per_batch / loop.train_s if loop.train_s > 0 else None
        if self.built.grad_probe is not None:
            s.grad_per_time_step = diagnostics.summarize(loop.grad_rows)

    def save_checkpoint(self) -> None:
        self.record.save_checkpoint(
            {
                "format": CHECKPOINT_FORMAT,
                "config": self.config,
                "summary": self.summary.to_dict(),
                **self.loop.state_dict(),
            }
        )

    # --- finish ------------------------------------------------------------------------------------
    def finish(self, failure: str | None) -> None:
        """The final record: a run that ended well (completed, or pruned by the tuner) keeps its
        checkpoint, and a completed one is scored on test (unless trainer.test=false: a tuning
        trial chooses on validation only) and examined by its task; a failed one records why."""
        s = self.summary
        self.sync()
        if failure is not None:
            s.status, s.reason = "failed", failure
            self.record.drop_checkpoint()
            self.log.error("%s", failure)
        else:
            s.status = "pruned" if s.stop_reason == "pruned" else "completed"
            if s.status == "completed" and self.settings.test:
                self.score_test()
            if self.settings.checkpoint:
                self.save_checkpoint()
        self.close()

    def score_test(self) -> None:
        s, test = self.summary, self.task.splits()["test"]
        t0 = time.perf_counter()
        s.final = evaluate(self.model, self.task, test, self.settings.eval_batch_size)
        s.infer_tokens_per_s = len(test) * self.task.sample_len / (time.perf_counter() - t0)
        self.model.eval()
        with torch.no_grad():
            s.analysis = self.task.examine(self.model, self.record.dir)
        self.log.info("test %s", "  ".join(f"{k} {v:.4f} (baseline {s.baseline[k]:.4f})" for k, v in s.final.items()))

    def fail(self, exc: Exception) -> None:
        """Record an exception raised after the record was opened (the caller re-raises it). One
        of the environment (OSError: a full disk, a folder made read-only) keeps the last good
        checkpoint, so the run resumes once the cause is gone; any other starts over."""
        self.sync()
        self.summary.status, self.summary.reason = "failed", failure_reason(exc)
        if not isinstance(exc, OSError):
            self.record.drop_checkpoint()
        with contextlib.suppress(OSError):  # the disk may still be full: the summary then stays as it was
            self.close()

    def close(self) -> None:
        s = self.summary
        s.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        s.max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        s.wall_s = self.loop.wall_s
        self.built.loggers.finish()
        self.record.write_summary(s)


def train(cfg: DictConfig, run_dir: Path, files: dict[str, str] | None = None) -> dict:
    """Train one config and write its record into run_dir (with `files`, name → text, beside it).
    Returns the summary (as in summary.json).

    What the folder holds decides (checkpoint.previous_run): a completed run of this config is
    left alone (its summary is returned), a run that did not complete resumes from its checkpoint
    and ends exactly as an uninterrupted run would, anything else starts over; a run of another
    config is refused. That is checked before building (a quick refusal) and again once the
    folder is locked for this process (another may have written it meanwhile); a folder another
    process is writing is refused. Nothing is written into the folder before those checks pass.
    """
    try:
        with prepared(cfg, run_dir) as run:
            return run.train(files or {})
    except Completed as done:
        return done.summary


class Completed(Exception):
    """`prepared` found the completed run of this config in the folder: nothing to train."""

    def __init__(self, summary: dict):
        super().__init__(summary.get("status"))
        self.summary = summary


@contextlib.contextmanager
def prepared(cfg: DictConfig, run_dir: Path) -> Iterator[Run]:
    """The run of `cfg` in `run_dir`, built, started or resumed, its folder locked while the
    context is open; raises `Completed` (with its summary) when the folder holds it completed."""
    started, started_at = time.perf_counter(), datetime.now(UTC).isoformat(timespec="seconds")
    refused = nesting(run_dir)
    if refused:
        raise FolderRefused(refused)
    record, config = RunRecord(run_dir), OmegaConf.to_container(cfg, resolve=True)
    state, previous = previous_run(record.dir, config)
    if state == "completed":
        log.info("%s already holds a completed run of this config; nothing to do", record.dir)
        raise Completed(previous)
    built = build(cfg)
    with record.lock():
        state, previous = previous_run(record.dir, config)
        if state == "completed":
            raise Completed(previous)
        run = Run(built, record, config, started)
        if state == "resume":
            run.resume(previous, record.dir / CHECKPOINT, started_at)
        else:
            run.start(started_at)
        yield run


def step_memory(built: Built, limit: int | None = None) -> int:
    """One training step's estimated memory in bytes (memory.check_fits), refused in one line when
    above what is available (`limit`, default: memory.available_bytes)."""
    task, model, settings = built.task, built.model, built.settings
    train = task.splits()["train"]

    def probe_loss(n: int) -> Tensor:
        return task.loss(model(train.x[:n], target=train.y[:n])[0], train.y[:n])

    return check_fits(
        model,
        probe_loss,
        settings.batch_size,
        settings.device,
        f"dataset.seq_len={task.seq_len} with trainer.batch_size={settings.batch_size}",
        limit=limit,
    )


def failure_reason(exc: Exception) -> str:
    """A user error's message as it is; a file that could not be written named, with the way on;
    anything else with its type."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename:
        why = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc)).lower()
        return (
            f"cannot write {exc.filename}: {why}; the last good checkpoint is kept: once that is fixed, the "
            "same command (or rnnbench resume on the run folder) continues the run"
        )
    return f"{type(exc).__name__}: {exc}"
