"""`rnnbench list`: every option of every config group, read from the YAML files (no torch).

Each option's description is the first comment line of its YAML file; its key options are the
scalar keys a user would override (``model.hidden_size=256``)."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from rnnbench.config import config_dir, group_options

TITLES = {"model": "models", "model/cell": "cells of model=seq2seq", "dataset": "datasets",
          "optimizer": "optimizers", "trainer": "trainer settings", "experiment": "experiments",
          "hparams_search": "hyperparameter searches (Optuna; needs rnnbench[sweep])",
          "study": "studies (rnnbench study NAME)",
          "logger": "loggers mirroring the run record (several: logger=[tensorboard,mlflow]; needs rnnbench[loggers])"}
WHOLE = ("experiment", "hparams_search", "model/cell", "study")  # chosen whole: no KEY=VALUE options listed
HIDDEN_KEYS = {"_target_", "_partial_", "name", "defaults", "hydra"}


def describe_options() -> str:
    lines = []
    for group, title in TITLES.items():
        how = f"{group}=NAME" if group in WHOLE else f"{group}=NAME, then {group}.KEY=VALUE"
        lines.append(f"{title} ({how}):")
        names = group_options(group)
        width = max(map(len, names), default=0)
        for name in names:
            path = config_dir() / group / f"{name}.yaml"
            lines.append(f"  {name:<{width}}  {_description(path.read_text(encoding='utf-8'))}")
            options = _scalar_options(OmegaConf.load(path))
            if options and group not in WHOLE:
                lines.append(" " * (width + 4) + " ".join(f"{k}={_yaml(v)}" for k, v in options.items()))
        lines.append("")
    return "\n".join(lines)


def _yaml(value) -> str:
    """A value as it is typed on the command line (null, true, 0.001)."""
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _description(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("#") and not line.startswith("# @package"):
            return line.lstrip("# ").strip()
    return ""


def _scalar_options(node: DictConfig, prefix: str = "") -> dict[str, str]:
    out = {}
    for key in node:
        if key in HIDDEN_KEYS:
            continue
        value = node._get_node(key)
        if isinstance(value, DictConfig):
            out.update(_scalar_options(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value._value() if hasattr(value, "_value") else value
    return out
