"""`rnnbench list`: every option of every config group, read from the YAML files (no torch).

Each option's description is the first comment line of its YAML file; its key options are the
scalar keys a user would override (``model.hidden_size=256``). A model config that builds on a
shared base (its `defaults` name `base/recurrent`, say) shows its own keys and "+ base/…"; the
bases are listed once, after the models."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from rnnbench.config import config_dir, group_options

TITLES = {
    "model": "models",
    "model/base": "keys shared by the models that build on a base (model.KEY=VALUE)",
    "model/cell": "cells of model=seq2seq",
    "dataset": "datasets",
    "optimizer": "optimizers",
    "trainer": "trainer settings",
    "experiment": "experiments",
    "hparams_search": "tuning searches (rnnbench's Optuna tuner with pruning; needs rnnbench[sweep])",
    "study": "studies (rnnbench study NAME)",
    "logger": "loggers mirroring the run record (several: logger=[tensorboard,mlflow]; extras "
    "rnnbench[tensorboard], rnnbench[mlflow])",
    "debug": "debug settings",
}
WHOLE = ("experiment", "hparams_search", "model/cell", "study", "debug")  # chosen whole: no KEY=VALUE options listed
NOT_CHOSEN = ("model/base",)  # read by other configs, never chosen on the command line
HIDDEN_KEYS = {"_target_", "_partial_", "name", "defaults", "hydra"}


def describe_options() -> str:
    lines = []
    for group, title in TITLES.items():
        how = f"{group}=NAME" if group in WHOLE else f"{group}=NAME, then {group}.KEY=VALUE"
        lines.append(f"{title}:" if group in NOT_CHOSEN else f"{title} ({how}):")
        names = group_options(group)
        width = max(map(len, names), default=0)
        for name in names:
            path = config_dir() / group / f"{name}.yaml"
            node = OmegaConf.load(path)
            options = [f"{k}={_yaml(v)}" for k, v in _scalar_options(node).items()] + _bases(node, group)
            if group in NOT_CHOSEN and not options:
                continue
            lines.append(f"  {name:<{width}}  {_description(path.read_text(encoding='utf-8'))}")
            if options and group not in WHOLE:
                lines.append(" " * (width + 4) + " ".join(options))
        lines.append("")
    return "\n".join(lines)


def _bases(node: DictConfig, group: str) -> list[str]:
    """ "+ base/recurrent" for each shared base (model/base/…, dataset/base/…) a config builds on that adds options."""
    out = []
    for entry in node.get("defaults") or []:
        if not isinstance(entry, str) or not entry.endswith("@_here_"):
            continue
        path = config_dir() / group / f"{entry[: -len('@_here_')]}.yaml"  # relative to the config's group
        if path.is_file() and _scalar_options(OmegaConf.load(path)):
            out.append("+ " + str(path.relative_to(config_dir() / group).with_suffix("")))
    return out


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
