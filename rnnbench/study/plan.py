"""`rnnbench study NAME`: a comparison run on the fair protocol, then one report over it.

The protocol (Collins et al. 2017; Melis et al. 2018), for each part of conf/study/NAME.yaml:

  1. Equal tuning. Every variant of the part (a model, or a model with a switch) gets the same
     search: the tuner (hydra/sweeper=tune, launch/tune.py) with the study's `tune` settings — the same
     number of trials, the same steps per trial, the same space (at least trainer.lr, log scale),
     pruning on validation curves — on the validation split only, with the *tuning seed*. A part
     with a sweep over other keys (dataset.seq_len=50,200) tunes each variant at each value.
  2. Fresh seeds. The best configuration of each variant is trained again on `seeds` fresh seeds
     (never the tuning seed) and only these runs are scored on test. They carry `tuned=[keys]`,
     so the report compares variants each at its own tuned values.
  3. Equal size. Parts set `model.param_budget` (models/sizing.py): models are compared at equal
     parameter count; a part with `tune: false` (the `width` part) compares them at equal
     hidden_size instead, for the claims that are about width (parameter counts, speed per token).
  4. Adaptive budgets: `trainer.patience` stops runs on a plateau; every record says why it stopped.

Seeds. With ``study.seed_offset=K`` the study runs on seeds no other offset uses: tuning seed
TUNING_SEED + K, fresh seeds 100·K … 100·K + seeds − 1 (`seeds_for`). Running the quick study at
two offsets and comparing the verdicts is the stability check of docs/protocol.md.

Layout: <output_root>/studies/NAME/<time>/<part>/tuning/<unit>/ (the trials, best.yaml) and
<part>/test/<unit>/ (the fresh-seed runs), one Hydra sweep each; tuning.csv (one row per unit);
report/. The same command with ``study.dir=<that folder>`` continues a killed study: searches
resume from their journals, completed runs are kept.

Scales: a part's `full` overrides replace its own (same key) at ``study.scale=full``, and the
protocol's `full` settings replace the protocol's (seeds, trials).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from rnnbench.config import config_dir, group_options
from rnnbench.errors import UserError

SCALES = ("quick", "full")
TUNING_SEED = 1_000_000  # + seed_offset; fresh seeds are 100·offset + 0 … seeds − 1
MAX_SEEDS = 100


@dataclass
class Unit:
    """One variant of a part at one value of the part's other sweeps: tuned, then run on fresh seeds."""

    part: str
    name: str  # folder name: variant and setting
    overrides: list[str]  # the variant's and the setting's, with the part's fixed ones


@dataclass
class Plan:
    seeds: int
    tune: dict  # n_trials, params, sampler settings (hydra.sweeper.*)
    launcher: list[str]
    parts: dict[str, tuple[bool, list[Unit]]] = field(default_factory=dict)  # part → (tuned?, units)


def seeds_for(offset: int, n: int) -> tuple[int, list[int]]:
    """(tuning seed, fresh seeds) of a study run at `offset`: disjoint within and across offsets."""
    if not 0 <= n <= MAX_SEEDS:
        raise UserError(f"a study part must ask for 1 to {MAX_SEEDS} fresh seeds, got {n}")
    return TUNING_SEED + offset, [MAX_SEEDS * offset + k for k in range(n)]


def study_plan(name: str, scale: str = "quick") -> Plan:
    names = group_options("study")
    if name not in names:
        raise UserError(f"unknown study '{name}'; choose from: {', '.join(names)}")
    if scale not in SCALES:
        raise UserError(f"study.scale must be one of {', '.join(SCALES)}, got {scale!r}")
    spec = OmegaConf.to_container(OmegaConf.load(config_dir() / "study" / f"{name}.yaml"), resolve=True)
    protocol = spec.get("protocol") or {}
    if scale == "full":
        protocol = {
            **protocol,
            **(protocol.get("full") or {}),
            "tune": {**protocol.get("tune", {}), **(protocol.get("full") or {}).get("tune", {})},
        }
    plan = Plan(
        seeds=int(protocol.get("seeds", 3)), tune=protocol.get("tune", {}), launcher=protocol.get("launcher", [])
    )
    for part, body in (spec.get("parts") or {}).items():
        overrides = {override_key(o): o for o in body.get("overrides", [])}
        if scale == "full":
            overrides.update({override_key(o): o for o in body.get("full", [])})
        variants = body.get("variants") or {m: [f"model={m}"] for m in body.get("models", [])}
        plan.parts[part] = (body.get("tune", True), _units(part, variants, list(overrides.values())))
    return plan


def _units(part: str, variants: dict[str, list[str]], overrides: list[str]) -> list[Unit]:
    """Each variant at each combination of the part's sweeps (a,b,c values, read by Hydra's
    override parser; seeds are the study's)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    fixed, sweeps = [], []
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.get_key_element()
        if override.key_or_group == "seed":
            raise UserError(f"study part '{part}' sets seed; the study chooses seeds (study.seed_offset)")
        if override.is_sweep_override():
            sweeps.append([(key, v) for v in override.sweep_string_iterator()])
        else:
            fixed.append(override.input_line)
    units = []
    for variant, variant_overrides in variants.items():
        for combo in itertools.product(*sweeps):
            label = "_".join(f"{k.split('.')[-1]}{v}" for k, v in combo)
            units.append(
                Unit(
                    part,
                    re.sub(r"[^A-Za-z0-9_.+-]", "-", variant + (f"_{label}" if label else "")),
                    [*fixed, *variant_overrides, *(f"{k}={v}" for k, v in combo)],
                )
            )
    return units


def tuner_overrides(tune: dict) -> list[str]:
    """The study's `tune` settings as the tuner's overrides: the space, then hydra.sweeper.*."""
    out = ["hydra/sweeper=tune"]
    for key, value in (tune.get("params") or {}).items():
        out.append(f"{key}={value}")
    for key, value in tune.items():
        if key == "params":
            continue
        if isinstance(value, dict):
            out += [f"+hydra.sweeper.{key}.{k}={v}" for k, v in value.items()]
        else:
            out.append(f"hydra.sweeper.{key}={value}")
    return out


def best_overrides(best_yaml: Path) -> dict | None:
    """The best parameters of a finished search (best.yaml), or None when no trial completed."""
    if not best_yaml.is_file():
        return None
    best = OmegaConf.to_container(OmegaConf.load(best_yaml))
    return best.get("best_params") or None


def study_options(args: list[str]) -> tuple[str, Path | None, int, list[str]]:
    """(scale, folder to continue or None, seed offset, the overrides for every part) from the
    command's arguments: study.scale=…, study.dir=… and study.seed_offset=… are the study's; the
    rest go to Hydra."""
    scale, folder, offset, rest = "quick", None, 0, []
    for arg in args:
        if arg.startswith("study.scale="):
            scale = arg.split("=", 1)[1]
        elif arg.startswith("study.dir="):
            folder = Path(arg.split("=", 1)[1])
        elif arg.startswith("study.seed_offset="):
            text = arg.split("=", 1)[1]
            if not text.isdigit() or int(text) > 9999:
                raise UserError(f"study.seed_offset must be an integer in [0, 9999], got {text!r}")
            offset = int(text)
        elif override_key(arg) == "seed":
            raise UserError(
                f"{arg}: a study chooses its seeds (a tuning seed, then fresh ones); "
                "use study.seed_offset=K for seeds no other offset uses"
            )
        else:
            rest.append(arg)
    return scale, folder, offset, rest


def override_key(override: str) -> str:
    """The key an override sets (`+x.y=1` → x.y): a later override of the same key replaces it."""
    return override.split("=", 1)[0].lstrip("+~")
