"""The run record: one folder per run, readable without rnnbench. This module owns its layout:

    config.yaml              the resolved config (every default and override filled in)
    metrics.jsonl            one JSON object per evaluation: step, train_loss, grad_norm, val_<metric>…
                             (and train_bpc for text: the loss in the unit of the task's metric)
    summary.json             identity, sizes, speeds, results, baselines, status: `Summary`
    checkpoint.pt            the resume point, rewritten at every evaluation (trainer.LoopState)
    best.pt                  model weights at the best validation value (trainer.keep_best=true)
    grad_per_time_step.json  ‖∂L/∂h_t‖ at every time step t (diagnostics.grad_per_time_step=true)
    train.log                the log (Hydra's job logging: conf/hydra/job_logging/rnnbench.yaml)
    tensorboard/             event files (logger=tensorboard)
    .hydra/                  Hydra's copy of the config and the overrides (`rnnbench resume` reads them)
    task extras              what a task's `examine` leaves (data/task.py, TASK_FILES)

Every file is written whole to a temporary file in the same folder, flushed, fsynced and renamed
over the target, so a reader (or a crash) never sees half a file, and a failed write (a full
disk) leaves the previous version in place: the last good checkpoint survives until a complete new
one replaces it. A write that fails raises OSError naming the file. Files get the permissions the
umask gives new files (not mkstemp's 0600). metrics.jsonl is rewritten whole at each evaluation for
the same reason; it has one line per evaluation, so this stays cheap. A temporary file left by a
killed writer is removed when the next writer opens the folder (`RunRecord.lock`).

One live writer per run folder: `RunRecord.lock` takes an exclusive `flock` on the folder itself
(no lock file: a refused command writes nothing), which the kernel releases when the process
ends, however it ends — so a killed run never leaves its folder locked.

`Summary` is the schema of summary.json, every field once: the trainer fills it, the report reads
it (`Summary.from_json`, which also reads records of the previous format), the loggers mirror it.
A field's `report` metadata makes it a column of the report's runs table and says how a group of
runs combines it ("same": identical by construction, like sizes; "mean": over seeds); for a field
holding a mapping, {key: how} picks its keys. Adding a report column is one such field here and
one display line in report/tables.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rnnbench.config import incidental
from rnnbench.errors import UserError

FORMAT = "rnnbench.run/2"
EVAL_FORMAT, EVAL_DIR = (
    "rnnbench.eval/1",
    "eval",
)  # RUN_DIR/eval/<overrides>.json: `rnnbench eval` (commands/evaluate.py)
TIMING, TIMING_FORMAT = "timing.json", "rnnbench.timing/1"  # RUN_DIR/timing.json: timing.py
AS_BUILT, REFERENCE = "as_built", "reference"  # its passes: the kernels a user gets; every recurrence on its loop
CONFIG, METRICS, SUMMARY, CHECKPOINT, BEST = "config.yaml", "metrics.jsonl", "summary.json", "checkpoint.pt", "best.pt"
GRADS, TENSORBOARD, HYDRA = "grad_per_time_step.json", "tensorboard", ".hydra"
# What a completed record must hold for the report; an older or foreign one lacking a key is skipped.
REQUIRED_KEYS = (
    "format",
    "status",
    "reason",
    "model",
    "dataset",
    "seed",
    "params",
    "tokens_per_s",
    "wall_s",
    "final",
    "best",
    "baseline",
)

# The statuses of a run that ended as it should: left as it is, counted as a result (not a failure).
FINISHED = ("completed", "pruned")


def changes(before: dict, now: dict) -> str:
    """'key: old → new' for the keys whose values differ, INCIDENTAL_KEYS aside — the first three
    and how many more; empty when the two agree."""
    changed = sorted(k for k in before.keys() | now.keys() if not incidental(k) and before.get(k) != now.get(k))
    shown = ", ".join(f"{k}: {before.get(k)!r} → {now.get(k)!r}" for k in changed[:3])
    return shown + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")


def _report(how: str | dict[str, str], default: Any = None) -> Any:
    return field(default=default, metadata={"report": how})


@dataclass
class Summary:
    """summary.json. Grouped as a reader meets them: status; what was run; its size; its baselines;
    its results; its speed and memory; where and when. Metrics are {name: value} with the task's
    metric names (`task["metrics"]` says which way is better; `task["primary_metric"]` is the one
    "best", "solved" and early stopping refer to)."""

    format: str = FORMAT
    status: str = "running"  # running | completed | failed | pruned (a tuning trial the tuner gave up on)
    reason: str | None = None  # why it failed
    stop_reason: str | None = None  # why training stopped (trainer.Run.stop): solved|plateau|max_steps|diverged|pruned
    # what was run
    model: str | None = None
    dataset: str | None = None
    seed: int | None = None
    hparams: dict = field(default_factory=dict)  # the resolved config, flattened ("trainer.lr": 0.001)
    model_info: dict = field(default_factory=dict)  # the model's describe(): name, impl, readout, …
    task: dict = field(default_factory=dict)  # the task's describe(): metrics, sizes of the splits, …
    optimizer: str | None = None
    # its size
    params: int | None = _report("same")  # every parameter of the model
    core_params: int | None = _report("same")  # the recurrent core's (no embedding, readout, head)
    state_size: int | None = _report("same")  # numbers its state carries per sample (None: no fixed state)
    flops_per_token: float | None = _report("same")  # forward FLOPs of one sample per time step (flops.py)
    # the task's reference predictors, scored by the same code on the same data
    baseline_name: str | None = None  # the trivial one
    baseline: dict = field(default_factory=dict)  # the trivial one on test
    baseline_val: dict = field(default_factory=dict)  # … on validation (the curves' split)
    baselines: dict = field(default_factory=dict)  # every reference predictor on test: {name: metrics}
    # results
    final: dict = field(default_factory=dict)  # test metrics of the final model
    final_val: dict = field(default_factory=dict)  # validation metrics at the last evaluation
    best: dict = field(default_factory=dict)  # best validation value of each metric
    best_step: int | None = None  # where the primary metric was best
    analysis: dict = field(default_factory=dict)  # what the task adds after training (examine)
    steps: int | None = _report("mean", 0)  # optimizer steps taken
    steps_to_target: int | None = _report("mean")  # first evaluation with the primary metric at solved_at
    seconds_to_target: float | None = _report("mean")  # training seconds (train_s) until then
    # speed and memory
    tokens_per_s: float | None = _report("mean")  # batch × time steps per optimizer step, over train_s
    infer_tokens_per_s: float | None = _report("mean")  # the final test pass, no gradients
    memory: dict | None = _report({"step_mb": "mean"})  # of one training step (memory.py)
    grad_per_time_step: dict | None = _report({"first_over_last": "mean"})  # diagnostics.py
    wall_s: float | None = _report("mean")  # everything, set-up included
    train_s: float | None = None  # training steps: batch fetch, forward, backward, update
    data_s: float | None = None  # of which fetching batches
    eval_s: float | None = None  # validation passes
    max_rss_mb: float | None = None
    # where and when
    host: str | None = None  # the machine of the process that last wrote the record (`rnnbench status`)
    cpu: dict = field(default_factory=dict)  # cpu_kind(): a CPU run repeats bit for bit on one kind
    device: str | None = None
    threads: int | None = None
    torch: str | None = None
    python: str | None = None
    determinism: dict = field(default_factory=dict)  # what a rerun reproduces
    started_at: str | None = None
    finished_at: str | None = None
    resumed: list = field(default_factory=list)  # {"step", "at", "threads"} for each resume
    members: int | None = (
        None  # K: trained as one of K batched members (rnnbench/training/members.py); None: a single run
    )
    member: int | None = None  # its index among them
    loggers: dict = field(default_factory=dict)  # each logger's identity (and error, if it failed)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict) -> Summary:
        """A summary read back, upgraded from an earlier format; unknown keys are ignored and
        missing ones take their defaults (a failed run's record holds few). A field of the wrong
        type (text where a number belongs, a list for a mapping) raises ValueError naming it."""
        if data.get("format") == FORMAT_1:
            data = _upgrade_1(data)
        known = {f.name: f for f in fields(cls) if f.name in data}
        for name, f in known.items():
            problem = _type_problem(data[name], f.type, numbers_inside=name in METRIC_MAPS or name == "memory")
            if problem:
                raise ValueError(f"{name} {problem}")
        for name, scores in (data.get("baselines") or {}).items():
            problem = _type_problem(scores, "dict", numbers_inside=True)
            if problem:
                raise ValueError(f"baselines.{name} {problem}")
        return cls(**{name: data[name] for name in known})

    def columns(self) -> dict[str, Any]:
        """The fields with `report` metadata, flat: "params", "memory.step_mb", …"""
        out = {}
        for f in fields(self):
            how, value = f.metadata.get("report"), getattr(self, f.name)
            if isinstance(how, dict):
                out.update({f"{f.name}.{key}": (value or {}).get(key) for key in how})
            elif how is not None:
                out[f.name] = value
        return out


METRIC_MAPS = ("final", "final_val", "best", "baseline", "baseline_val")  # metric name → value
_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "dict": (dict,), "list": (list,), "None": (type(None),)}


def _type_problem(value: Any, annotation: str, numbers_inside: bool = False) -> str | None:
    """Why `value` does not fit a field annotated `annotation` ("int | None", "dict" …), or None."""
    allowed = tuple(t for part in annotation.split("|") for t in _TYPES[part.strip()])
    if isinstance(value, bool) or not isinstance(value, allowed):
        return f"holds {value!r:.60}, not {annotation.replace('None', 'null')}"
    if numbers_inside and isinstance(value, dict):
        bad = [k for k, v in value.items() if isinstance(v, bool) or not isinstance(v, (int, float, type(None)))]
        if bad:
            return f"holds {value[bad[0]]!r:.60} for {bad[0]}, not a number"
    return None


def aggregations() -> dict[str, str]:
    """Column of the runs table → how a group of runs combines it ("same" or "mean")."""
    out = {}
    for f in fields(Summary):
        how = f.metadata.get("report")
        if isinstance(how, dict):
            out.update({f"{f.name}.{key}": combine for key, combine in how.items()})
        elif how is not None:
            out[f.name] = how
    return out


# Format 1 (before the record had a schema) named per-time-step quantities "per step".
FORMAT_1 = "rnnbench.run/1"
_RENAMED_1 = {
    "flops_per_step": "flops_per_token",
    "grad_per_step": "grad_per_time_step",
    "diagnostics.grad_per_step": "diagnostics.grad_per_time_step",
}
GRADS_1 = "grad_per_step.json"


def _upgrade_1(data: dict) -> dict:
    data = {_RENAMED_1.get(k, k): v for k, v in data.items()}
    if isinstance(data.get("hparams"), dict):
        data["hparams"] = {_RENAMED_1.get(k, k): v for k, v in data["hparams"].items()}
    return {**data, "format": FORMAT}


def grads_file(run_dir: Path) -> Path:
    """The run's ‖∂L/∂h_t‖ file, under its current name or that of format 1."""
    path = Path(run_dir) / GRADS
    return path if path.is_file() else Path(run_dir) / GRADS_1


def atomic_write(path: Path, write: Callable[[Any], None], binary: bool = False) -> None:
    """Call write(file) on a temporary file beside `path`, then rename it over `path`. An OSError
    (disk full, permission) names `path`; the previous file, if any, is left as it was."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


TMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))


def to_json(obj: Any) -> str:
    """JSON with non-finite floats as null (JSON has no NaN), stable key order."""
    return json.dumps(_finite(obj), indent=2, sort_keys=True)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} → {"a.b": 1}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


@contextlib.contextmanager
def held_folder(folder: Path, refusal: str):
    """An exclusive flock on `folder` itself while the context is open (no lock file: the kernel
    releases it when the process ends, however it ends); `FolderRefused(refusal)` if another
    process holds it."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderRefused(refusal) from None
        yield
    finally:
        os.close(fd)


class FolderRefused(UserError):
    """A run folder another process is writing, or one that holds another run: refused before
    anything in it is written (a sweep stops rather than records a failure there)."""


UNREADABLE = (OSError, ValueError, RecursionError)
"""What reading a foreign JSON file can raise: OSError; ValueError (not UTF-8, not JSON, an integer
past Python's 4,300-digit limit); RecursionError (nesting deeper than the interpreter's stack)."""


def parse_json(text: str) -> Any:
    """json.loads that raises only ValueError for any text (see UNREADABLE), naming what was wrong."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None


def read_json(path: Path) -> Any:
    """The JSON value in `path`; OSError or ValueError (with the reason) when it cannot be read."""
    return parse_json(Path(path).read_text(encoding="utf-8"))


def read_summary(run_dir: Path) -> dict | None:
    """summary.json of a run folder as written, or None when there is none or it cannot be read
    (records are written atomically, so only a foreign file is unreadable)."""
    try:
        data = read_json(Path(run_dir) / SUMMARY)
    except UNREADABLE:
        return None
    return data if isinstance(data, dict) else None


class RunRecord:
    """Writer for one run folder; the folder is made by the first write."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)

    @contextlib.contextmanager
    def lock(self):
        """Hold the folder for this process: a second writer is refused with `FolderRefused`. On
        entry, temporary files a killed writer left behind are removed (no one else writes here)."""
        refusal = (
            f"{self.dir} is in use by another rnnbench process (a run is writing there now); wait for it to "
            "end, or choose another folder"
        )
        with held_folder(self.dir, refusal):
            for stale in self.dir.glob(f".*{TMP_SUFFIX}"):
                stale.unlink(missing_ok=True)
            yield self

    def _path(self, name: str) -> Path:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write_text(self, name: str, text: str) -> None:
        atomic_write_text(self._path(name), text)

    def write_config(self, yaml_text: str) -> None:
        atomic_write_text(self._path(CONFIG), yaml_text)

    def write_metrics(self, rows: list[dict]) -> None:
        atomic_write_text(self._path(METRICS), "".join(json.dumps(_finite(r), sort_keys=True) + "\n" for r in rows))

    def write_summary(self, summary: Summary) -> None:
        atomic_write_text(self._path(SUMMARY), to_json(summary.to_dict()) + "\n")

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_text(self._path(name), to_json(obj))

    def save_checkpoint(self, state: dict, name: str = CHECKPOINT) -> None:
        """Serialised in memory first, so that a full disk fails as an OSError of the file write
        (torch's own writer reports it as a RuntimeError), and the previous checkpoint stays."""
        import torch

        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write(self._path(name), lambda f: f.write(buffer.getbuffer()), binary=True)

    def drop_checkpoint(self) -> None:
        """A failed run is started over, not resumed: its checkpoint goes."""
        (self.dir / CHECKPOINT).unlink(missing_ok=True)


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo ({} where there is none)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_name(info: dict[str, str] | None = None) -> str:
    """This machine's processor as /proc/cpuinfo names it (platform's guess elsewhere)."""
    import platform

    return (info if info is not None else _cpuinfo()).get("model name") or platform.processor() or platform.machine()


# The instruction sets by which oneDNN and MKL choose their kernels: two CPUs that differ in these
# can give different last digits for the same run.
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")


def cpu_kind() -> dict:
    """What decides a CPU run's last digits besides the config: the processor, the instruction
    sets the math libraries choose kernels by, torch's CPU capability, and the libraries."""
    import re

    import torch

    info, build = _cpuinfo(), torch.__config__.show()
    flags = info.get("flags", "").split()
    onednn, blas = re.search(r"MKL-DNN (v[\d.]+)", build), re.search(r"BLAS_INFO=(\w+)", build)
    return {
        "cpu": cpu_name(info),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "isa": [flag for flag in ISA_FLAGS if flag in flags],
        "onednn": onednn.group(1) if onednn else None,
        "blas": blas.group(1) if blas else None,
    }


def read_evals(run_dir: Path) -> list[dict]:
    """The eval records of a run (unreadable ones left out)."""
    records = []
    for path in sorted((run_dir / EVAL_DIR).glob("*.json")):
        try:
            record = read_json(path)
        except UNREADABLE:
            continue
        if isinstance(record, dict) and record.get("format") == EVAL_FORMAT:
            records.append(record)
    return records


def read_timing(run_dir: Path) -> dict:
    """A run's timing record (timing.py), or {} when it has none or it cannot be read."""
    try:
        record = read_json(run_dir / TIMING)
    except UNREADABLE:
        return {}
    return record if isinstance(record, dict) and record.get("format") == TIMING_FORMAT else {}


def nesting(folder: Path, sweep: bool = False) -> str | None:
    """Why records would nest if a run (or, `sweep`, a sweep) wrote into `folder`, or None: it is
    inside a run's folder (a parent holds a summary.json), or it is a run folder itself and a sweep
    would put runs inside it, or it is a sweep's folder and a run would write beside its runs."""
    folder = Path(folder).absolute()
    for parent in folder.parents:
        if (parent / SUMMARY).is_file():
            return f"{folder} is inside the run folder {parent}; choose a folder outside it"
    if sweep and (folder / SUMMARY).is_file():
        return f"{folder} holds a run; sweep into a new folder (leave hydra.sweep.dir out)"
    if not sweep and (folder / "multirun.yaml").is_file():
        return f"{folder} holds a sweep; give the run a folder of its own (leave hydra.run.dir out)"
    return None
