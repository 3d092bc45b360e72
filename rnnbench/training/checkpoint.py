"""Checkpoints: what a killed run resumes from, what a run folder already holds, and every way a
checkpoint file can be wrong.

checkpoint.pt (rewritten atomically at every evaluation and at the end, `trainer.checkpoint=true`)
holds the training loop's whole state, `trainer.LoopState.state_dict()` — model and optimizer
state, the step, torch's global RNG state (dropout, teacher forcing), the recurrent state carried
across batches (truncated BPTT), the times, the evaluation rows and best values — beside the
resolved config and the record so far. The batch order is not stored: it is a function of the
seed, replayed up to the step on resume. best.pt (`trainer.keep_best=true`) holds the model
weights at the best validation value.

Loading is `torch.load(weights_only=True)`: tensors and plain containers only, never code.
`previous_run` says what a folder holds for a config. A run that did not finish resumes from
its checkpoint when there is one — killed (its summary still says `running`), or stopped by its
environment (a full disk: the checkpoint is kept for that) — and was written by the same config
(config.INCIDENTAL_KEYS may differ); a finished run of the same config (`completed`, or `pruned`
by the tuner) is left as it is; a
run without a checkpoint (diverged, or killed before its first) starts over. A run of another
config, completed or not, is refused naming the keys that differ, and so is a checkpoint that
cannot be read: `FolderRefused`, before anything in the folder is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnbench.training.record import CHECKPOINT, FINISHED, FolderRefused, Summary, changes, flatten, read_summary

FORMAT = "rnnbench.checkpoint/3"


def load_checkpoint(path: Path) -> dict:
    """The checkpoint at `path`, checked to be one this rnnbench can resume from."""
    import pickle

    import torch

    try:
        checkpoint = torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        raise FolderRefused(
            f"{path} is unreadable (truncated or not a checkpoint: {_first_line(exc)}); delete it to start the run over"
        ) from None
    found = checkpoint.get("format") if isinstance(checkpoint, dict) else None
    if found != FORMAT:
        newer = (
            isinstance(found, str)
            and found.startswith("rnnbench.checkpoint/")
            and found.rsplit("/", 1)[1].isdigit()
            and int(found.rsplit("/", 1)[1]) > int(FORMAT.rsplit("/", 1)[1])
        )
        hint = "upgrade rnnbench to resume it" if newer else "delete it to start the run over"
        raise FolderRefused(f"{path} has format {found!r}, not {FORMAT!r} that this rnnbench resumes from; {hint}")
    return checkpoint


def previous_run(run_dir: Path, config: dict) -> tuple[str, dict | None]:
    """What `run_dir` holds for `config`: ("completed", its summary: a finished run), ("resume", the checkpoint),
    or ("new", None) — nothing, a run without a checkpoint, or a summary that cannot be read
    (records are written atomically, so only a foreign file is unreadable). Reads, never writes."""
    summary = read_summary(run_dir)
    if summary is None:
        return "new", None
    if summary.get("status") in FINISHED:
        check_same_config(
            Summary.from_json(summary).hparams,
            config,
            f"{run_dir} holds a {summary['status']} run of",
            "train into a new run folder (or hydra.sweep.dir)",
        )
        return "completed", summary
    path = run_dir / CHECKPOINT
    if not path.is_file():
        return "new", None
    checkpoint = load_checkpoint(path)
    check_same_config(
        flatten(checkpoint.get("config") or {}),
        config,
        f"{path} was written by",
        "resume with the same overrides, or train into a new run folder",
    )
    return "resume", checkpoint


def check_same_config(before: dict, config: dict, what: str, remedy: str) -> None:
    """Refuse a folder whose run had another config (`before`, flattened), naming the keys that
    differ; config.INCIDENTAL_KEYS may."""
    changed = changes(before, flatten(config))
    if changed:
        raise FolderRefused(f"{what} another config ({changed}); {remedy}")


def load_into(module: Any, state: dict, what: str, path: Path, refusal: str | None = None) -> None:
    """module.load_state_dict(state), with a mismatch reported as one line (`refusal`, or: delete
    the checkpoint)."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise FolderRefused(
            refusal
            or f"{path}: its {what} state does not fit this {what} ({_first_line(exc)}); "
            "delete it to start the run over"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
