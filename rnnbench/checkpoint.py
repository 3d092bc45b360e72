"""Checkpoints: what a killed run resumes from, and every way a checkpoint file can be wrong.

checkpoint.pt (rewritten atomically at every evaluation and at the end, `trainer.checkpoint=true`)
holds the training loop's whole state, `train.LoopState.state_dict()` — model and optimizer
state, the step, torch's global RNG state (dropout, teacher forcing), the recurrent state carried
across batches (truncated BPTT), the times, the evaluation rows and best values — beside the
resolved config and the record so far. The batch order is not stored: it is a function of the
seed, replayed up to the step on resume. best.pt (`trainer.keep_best=true`) holds the model
weights at the best validation value.

Loading is `torch.load(weights_only=True)`: tensors and plain containers only, never code.
A run folder is resumed when its summary says `running` (the process was killed) and its
checkpoint was written by the same config (record.INCIDENTAL_KEYS may differ); a `completed` run is
left as it is; a `failed` run starts over.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnbench.errors import UserError
from rnnbench.record import flatten, incidental

FORMAT = "rnnbench.checkpoint/3"


def load_checkpoint(path: Path) -> dict:
    """The checkpoint at `path`, checked to be one this rnnbench can resume from."""
    import pickle

    import torch

    try:
        checkpoint = torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        raise UserError(f"{path} is unreadable (truncated or not a checkpoint: {_first_line(exc)}); "
                        "delete it to start the run over") from None
    found = checkpoint.get("format") if isinstance(checkpoint, dict) else None
    if found != FORMAT:
        newer = isinstance(found, str) and found.startswith("rnnbench.checkpoint/") and \
            found.rsplit("/", 1)[1].isdigit() and int(found.rsplit("/", 1)[1]) > int(FORMAT.rsplit("/", 1)[1])
        hint = "upgrade rnnbench to resume it" if newer else "delete it to start the run over"
        raise UserError(f"{path} has format {found!r}, not {FORMAT!r} that this rnnbench resumes from; {hint}")
    return checkpoint


def check_same_config(checkpoint: dict, config: dict, path: Path) -> None:
    """Refuse to resume a checkpoint written by another config, naming the keys that differ."""
    before, now = flatten(checkpoint.get("config") or {}), flatten(config)
    changed = sorted(k for k in before.keys() | now.keys() if not incidental(k) and before.get(k) != now.get(k))
    if changed:
        shown = ", ".join(f"{k}: {before.get(k)!r} → {now.get(k)!r}" for k in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise UserError(f"{path} was written by another config ({shown}{more}); resume with the same "
                        "overrides, or train into a new run folder")


def load_into(module: Any, state: dict, what: str, path: Path) -> None:
    """module.load_state_dict(state), with a mismatch reported as one line."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise UserError(f"{path}: its {what} state does not fit this {what} ({_first_line(exc)}); "
                        "delete it to start the run over") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
