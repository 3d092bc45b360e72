"""`rnnbench study NAME`: a ready set of sweeps (conf/study/NAME.yaml), then one report over all.

A study file lists `parts`; each is the overrides of one `rnnbench train -m` sweep, and optionally
`full`: overrides that replace the part's own (same key) at ``study.scale=full``. Parts run one
after the other into <output_root>/studies/NAME/<time>/<part> (a part's jobs may run side by side
with a launcher override); a failed run does not stop the study. Re-running the same command with
``study.dir=<that folder>`` skips completed runs and resumes killed ones, like any sweep.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from rnnbench.config import config_dir, group_options
from rnnbench.errors import UserError

SCALES = ("quick", "full")


def study_parts(name: str, scale: str = "quick") -> dict[str, list[str]]:
    """part name → its overrides at this scale."""
    names = group_options("study")
    if name not in names:
        raise UserError(f"unknown study '{name}'; choose from: {', '.join(names)}")
    if scale not in SCALES:
        raise UserError(f"study.scale must be one of {', '.join(SCALES)}, got {scale!r}")
    spec = OmegaConf.to_container(OmegaConf.load(config_dir() / "study" / f"{name}.yaml"))
    parts = {}
    for part, body in (spec.get("parts") or {}).items():
        overrides = {_key(o): o for o in body["overrides"]}
        if scale == "full":
            overrides.update({_key(o): o for o in body.get("full", [])})
        parts[part] = list(overrides.values())
    return parts


def study_options(args: list[str]) -> tuple[str, Path | None, list[str]]:
    """(scale, folder to continue or None, the overrides for every part) from the command's
    arguments: study.scale=… and study.dir=… are the study's; the rest go to Hydra."""
    scale, folder, rest = "quick", None, []
    for arg in args:
        if arg.startswith("study.scale="):
            scale = arg.split("=", 1)[1]
        elif arg.startswith("study.dir="):
            folder = Path(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return scale, folder, rest


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")
