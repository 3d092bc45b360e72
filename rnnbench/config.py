"""Where the configs live, building objects from them, and Hydra's errors as one line.

Configs are the top-level ``conf/`` folder of the repository. A wheel ships it inside the package
as ``rnnbench/conf`` (see pyproject.toml); an editable install or a checkout reads it in place.

Two resolvers name run folders (conf/train.yaml), registered by `register_resolvers` on import of
the task function's module (launch/job.py, which launch/app.py imports before Hydra starts and a launcher's
worker imports to unpickle the function, before it names the job's folder) and by `compose`:
    ${rnnbench.fresh_dir:PATH}      PATH, or PATH-2, PATH-3 …: the first that did not exist, made
                                    here — of two commands started in the same second, each gets
                                    its own folder (cached, so every job of a sweep sees one)
    ${rnnbench.run_id:OVERRIDES}    8 hex digits naming a job's task overrides (those that change
                                    what a run computes): a sweep's subfolder is a function of its
                                    config, so a changed grid never lands on another config's run
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from pathlib import Path
from typing import Any

from rnnbench.errors import ConfigError, UserError

PACKAGE_DIR = Path(__file__).resolve().parent

# Config keys that do not change what a run computes: where it writes and reads, what it shows,
# mirrors or measures on the side (a run with diagnostics trains bit for bit as one without). Runs
# that differ only in these are the same run: the report never splits groups by them and a killed
# run may resume with other values. A trailing dot covers a whole node.
INCIDENTAL_KEYS = (
    "output_root",
    "data_dir",
    "trainer.progress",
    "trainer.threads",
    "trainer.checkpoint",
    "trainer.keep_best",
    "trainer._target_",  # where the settings' class lives (it moved with the package layout), not what they say
    "diagnostics.",
    "logger.",
    "tuning.",
    "tuned",
)
# The seeds: what replicates of one setting differ in. The report averages over them.
SEED_KEYS = ("seed", "dataset.seed", "dataset.backtest.origin")  # aggregated over, not compared (origins: stock.py)

# hydra.launcher.batching (hydra/launcher=batched: launch/batched.py, training/members.py)
BATCHING = ("auto", "always", "never")
# Keys in which the members of one batched run may differ (the configs are otherwise equal).
MEMBER_KEYS = (
    "seed",
    "dataset.seed",
    "trainer.lr",
    "trainer.weight_decay",
    "optimizer.lr",
    "optimizer.weight_decay",
    "tuning.trial",
)


def incidental(key: str) -> bool:
    """Whether a flattened config key is one of INCIDENTAL_KEYS."""
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in INCIDENTAL_KEYS)


def fresh_dir(path: str) -> str:
    """`path`, or `path-2`, `path-3` …: the first that did not exist, created here. mkdir is atomic,
    so processes racing for one name each end with their own folder. Where nothing can be created
    (a read-only or full disk), `path` is returned as it is, for its writer to report the error (a
    resolver's exception would reach the user wrapped in OmegaConf's)."""
    for n in itertools.count(1):
        candidate = path if n == 1 else f"{path}-{n}"
        try:
            Path(candidate).parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(candidate)
            return candidate
        except FileExistsError:
            continue
        except OSError:
            return path
    raise AssertionError("unreachable")


def defining_overrides(overrides: Any) -> dict[str, str]:
    """Task overrides as {key (with a + or ~ it has): the override as typed}, read by Hydra's parser,
    without the keys that do not define a run (config.INCIDENTAL_KEYS): what names a sweep's job
    folder (`run_id`) and what two sweeps into one folder must agree on (sweep.SweepFolderCheck)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([str(o) for o in overrides])
    return {o.get_key_element(): o.input_line for o in parsed if not incidental(o.key_or_group)}


def quoted(value: str) -> str:
    """`value` as a quoted override value that Hydra's parser reads back as it is (a folder with
    spaces, brackets, commas, quotes or accents: `hydra.run.dir=...`)."""
    escaped = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, value).replace("'", "\\'")
    return f"'{escaped}'"


def run_id(overrides: Any) -> str:
    """A short hash of a job's task overrides, leaving out the keys that do not define a run."""
    kept = sorted(defining_overrides(overrides).values())
    return hashlib.sha256("\n".join(kept).encode()).hexdigest()[:8]


def register_resolvers() -> None:
    from omegaconf import OmegaConf

    for name, resolver in (("rnnbench.fresh_dir", fresh_dir), ("rnnbench.run_id", run_id)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver, use_cache=True)


def config_dir() -> Path:
    for candidate in (PACKAGE_DIR / "conf", PACKAGE_DIR.parent / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise UserError(
        f"rnnbench's configs are missing: no train.yaml in {PACKAGE_DIR / 'conf'} "
        f"or {PACKAGE_DIR.parent / 'conf'}; reinstall rnnbench"
    )


def group_options(group: str) -> list[str]:
    """The options of a config group: its YAML file names."""
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def compose(*overrides: str) -> Any:
    """conf/train.yaml with `overrides`, as `rnnbench train` composes it, for use outside a run:
    tests, `rnnbench bench`, a notebook. Inside a Hydra app (a run that checks other configs) it
    uses the app's config search path. Values that Hydra fills at run time — a model's or a
    dataset's name is the config's own, `${hydra:runtime.choices.model}` — are resolved here, as
    a run would resolve them."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    register_resolvers()
    if GlobalHydra.instance().is_initialized():
        cfg = hydra_compose("train", overrides=list(overrides), return_hydra_config=True)
    else:
        with initialize_config_dir(str(config_dir()), version_base="1.3"):
            cfg = hydra_compose("train", overrides=list(overrides), return_hydra_config=True)
    running = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(cfg)
    try:
        for key in _hydra_interpolations(OmegaConf.to_container(cfg, resolve=False)):
            OmegaConf.update(cfg, key, OmegaConf.select(cfg, key))
    finally:
        HydraConfig.instance().cfg = running
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def _hydra_interpolations(tree: dict, prefix: str = "") -> list[str]:
    """Keys (dotted) of the values that interpolate Hydra's run-time config, outside `hydra` itself."""
    keys = []
    for key, value in tree.items():
        if prefix == "" and key == "hydra":
            continue
        if isinstance(value, dict):
            keys += _hydra_interpolations(value, f"{prefix}{key}.")
        elif isinstance(value, str) and "${hydra:" in value:
            keys.append(f"{prefix}{key}")
    return keys


def instantiate(group: str, node: Any, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, with a failure caused by the config turned into a one-line
    `UserError` naming the config key (``model.hidden_size must be …``)."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, ConfigError):
            raise cause.prefixed(group) from None
        if isinstance(cause, UserError):
            raise (cause if str(cause).startswith(group) else UserError(f"{group}: {cause}")) from None
        if isinstance(cause, TypeError) and "argument" in str(cause):
            raise UserError(f"{group}: {cause}") from None
        if isinstance(cause, MemoryError) or (isinstance(cause, RuntimeError) and "allocate" in str(cause)):
            raise UserError(
                f"{group}: its weights do not fit in memory ({one_line(str(cause))[:160]}); "
                f"make it smaller ({group}.hidden_size, num_layers)"
            ) from None
        located = re.search(r"Error locating target '([^']+)'", str(exc))
        if located:
            key = re.search(r"full_key: (\S+)", str(exc))
            where = key.group(1) if key else group
            raise UserError(
                f"{where}._target_ '{located.group(1)}' cannot be imported ({_root_cause(exc)}); "
                "give a dotted path to a class in an importable module"
            ) from None
        raise


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc)


def one_line(text: str) -> str:
    """A multi-line message (Hydra's, say) as one line."""
    lines = (line.strip() for line in text.splitlines())
    return " ".join(line for line in lines if line and not line.startswith("Set the environment variable"))


def yaml_error_message(exc: BaseException) -> str:
    """One line for a YAML file that does not parse: the file, where, and what the parser expected."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}" if mark else "a config file"
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{where} is not valid YAML ({problem}); fix the file"


# Launchers of the `sweep` extra (pyproject.toml); the tuner (hydra/sweeper=tune) says itself when Optuna is missing.
PLUGINS = ("joblib", "submitit_local", "submitit_slurm")


# What other tools call some of our keys (PyTorch, Lightning, Keras habits) → ours.
KEY_ALIASES = {
    "learning_rate": "lr",
    "epochs": "max_steps",
    "steps": "max_steps",
    "max_epochs": "max_steps",
    "hidden": "hidden_size",
    "hidden_dim": "hidden_size",
    "n_layers": "num_layers",
    "layers": "num_layers",
    "wd": "weight_decay",
    "clip": "grad_clip",
    "gradient_clip_val": "grad_clip",
}


def unknown_key_message(exc: BaseException, overrides: list[str]) -> str | None:
    """For an override of a key the config does not have (`trainer.lrr=0.1`), one line with the
    nearest keys it does have, instead of Hydra's hint to add it with +, which the group's class
    would then refuse; None for any other error."""
    import difflib

    from omegaconf import OmegaConf

    found = re.search(r"Could not override '([^']+)'", str(exc))
    if not found:
        return None
    key = found.group(1)
    groups = [  # the groups chosen (model=lstm), which decide what keys there are
        o for o in overrides if re.fullmatch(r"[\w/]+=[\w.\-]+", o) and not o.startswith(("hydra", f"{key}="))
    ]
    try:
        cfg = compose(*groups)
    except Exception:  # the groups chosen do not compose either: Hydra's own message
        return None
    parent, _, name = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    if not OmegaConf.is_dict(node):
        return f"{key} is not a key of this config ({parent} has no keys); rnnbench train --cfg job shows the config"
    siblings = sorted(str(k) for k in node if not str(k).startswith("_"))
    alias = KEY_ALIASES.get(name)
    near = [alias] if alias in siblings else difflib.get_close_matches(name, siblings, n=3, cutoff=0.6)
    where = parent or "the config"
    hint = f"did you mean {' or '.join(f'{parent}.{n}' if parent else n for n in near)}?" if near else ""
    has = f"{where} has: {', '.join(siblings)}" if siblings else f"{where} takes no keys here"
    return f"{key} is not a key of this config; {hint + ' ' if hint else ''}{has}"


def hydra_error_message(exc: BaseException) -> str:
    """One line for an error Hydra raised while composing the config."""
    from hydra.errors import MissingConfigException

    options = getattr(exc, "options", None)
    missing = getattr(exc, "missing_cfg_file", None) or ""
    if isinstance(exc, MissingConfigException) and options and "/" in missing:
        group, _, name = missing.rpartition("/")
        hint = ""
        if group in ("hydra/launcher", "hydra/sweeper") and name in PLUGINS:
            hint = f" ({name} comes with the sweep extra: pip install -c constraints.txt -e '.[sweep]')"
        return f"unknown {group} '{name}'; choose from: {', '.join(sorted(options))}{hint}"
    if isinstance(exc.__cause__, UserError):  # a plugin of ours (the tuner) refused a setting: its own line
        return str(exc.__cause__)
    text = str(exc)
    if exc.__cause__ is not None and str(exc.__cause__) not in text:
        text += " " + str(exc.__cause__)
    return one_line(text)
