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
  5. Searches that converge. A search whose best value of a log-scale range lies at its edge
     (tune.at_edge: the outer 5%) is continued on the range shifted half its width past that edge,
     in <search>/extended_k/, up to MAX_EXTENSIONS times; the best of the unit's searches is
     chosen (`extended_space`). Not a search none of whose trials beat the trivial baseline: its
     "best" is a tie or noise among runs that did not learn, and the report says so.
  6. Speed measured alone. The parts with `timing: true` (the speed claims' parts) have their
     fresh-seed runs' training step timed after training, alone and interleaved, on the kernels a
     user gets and on reference loops (training/timing.py; `timing` settings of the protocol).

Seeds as members. The fresh seeds of a unit differ only in seed: the protocol's launcher,
hydra/launcher=batched with 2 workers, trains them as batched members where that was measured to
pay (members.slower_batched) — 10 seeds as two batched runs of 5 side by side — and one after
another in each worker where not (torch's fused LSTM on the CPU). A study needs at least
MIN_SEEDS fresh seeds per variant: fewer decide no claim (report/stats.py).

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
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from rnnbench.config import config_dir, group_options
from rnnbench.errors import UserError

SCALES = ("quick", "full")
TUNING_SEED = 1_000_000  # + seed_offset; fresh seeds are 100·offset + 0 … seeds − 1
MIN_SEEDS, MAX_SEEDS = 3, 100  # MIN_SEEDS: stats.MIN_SEEDS, the fewest runs a side a claim is decided on
MAX_EXTENSIONS = 2  # continued searches past an edge, per unit
TIMING = {"runs": 5, "rounds": 3, "min_time": 0.05}  # per variant: runs timed; passes; seconds per run and pass


@dataclass
class Unit:
    """One variant of a part at one value of the part's other sweeps: tuned, then run on fresh seeds."""

    part: str
    name: str  # folder name: variant and setting
    overrides: list[str]  # the variant's and the setting's, with the part's fixed ones


@dataclass
class Part:
    tuned: bool  # searched on the protocol's tuning (else compared at the part's fixed values)
    units: list[Unit]
    timed: bool = False  # its fresh-seed runs timed alone after training (speed claims)


@dataclass
class Plan:
    seeds: int
    tune: dict  # n_trials, params, sampler settings (hydra.sweeper.*)
    launcher: list[str]
    parts: dict[str, Part] = field(default_factory=dict)
    timing: dict = field(default_factory=lambda: dict(TIMING))
    name: str = "claims"  # the study's folder name: the shipped study's, or a study file's stem
    claims: list | None = None  # a study file's `claims:` entries (report/claims.py); None: the folk claims
    published: list | None = None  # a study file's `published:` numbers, set beside its runs (report/published.py)
    searchpath: list[Path] = field(default_factory=list)  # config folders of a study file, for every run
    pythonpath: list[Path] = field(default_factory=list)  # folders of its Python code (cells, tasks)

    def overrides(self) -> list[str]:
        """What every run of the study gets besides its unit's: the study file's config folders."""
        return [f"hydra.searchpath=[{','.join(f'file://{p}' for p in self.searchpath)}]"] if self.searchpath else []


def seeds_for(offset: int, n: int) -> tuple[int, list[int]]:
    """(tuning seed, fresh seeds) of a study run at `offset`: disjoint within and across offsets."""
    if not isinstance(n, int) or not MIN_SEEDS <= n <= MAX_SEEDS:
        raise UserError(
            f"protocol.seeds must be an integer from {MIN_SEEDS} to {MAX_SEEDS} (fresh seeds per variant; "
            f"a claim needs at least {MIN_SEEDS} runs a side), got {n!r}"
        )
    return TUNING_SEED + offset, [MAX_SEEDS * offset + k for k in range(n)]


def study_plan(name: str, scale: str = "quick") -> Plan:
    """The plan of conf/study/NAME.yaml, or of a study file (NAME ends in .yaml); both are read by
    study_file."""
    if scale not in SCALES:
        raise UserError(f"study.scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if not is_study_file(name):
        names = group_options("study")
        if name not in names:
            raise UserError(f"unknown study '{name}'; choose from: {', '.join(names)}, or a study file (PATH.yaml)")
    # a shipped study is a study file too: its protocol over the claims study's, its own claims if any
    spec, extra = study_file(Path(name) if is_study_file(name) else config_dir() / "study" / f"{name}.yaml")
    protocol = spec.get("protocol") or {}
    if scale == "full":
        protocol = {
            **protocol,
            **(protocol.get("full") or {}),
            "tune": {**protocol.get("tune", {}), **(protocol.get("full") or {}).get("tune", {})},
        }
    plan = Plan(
        seeds=protocol.get("seeds", 3),
        tune=protocol.get("tune", {}),
        launcher=protocol.get("launcher", []),
        timing={**TIMING, **(protocol.get("timing") or {})},
        **extra,
    )
    for part, body in (spec.get("parts") or {}).items():
        if not isinstance(body, dict) or not (body.get("models") or body.get("variants")):
            raise UserError(f"study part '{part}' needs `models: [...]` or `variants: {{name: [overrides]}}`")
        overrides = {override_key(o): o for o in body.get("overrides", [])}
        if scale == "full":
            overrides.update({override_key(o): o for o in body.get("full", [])})
        units = _units(part, body.get("variants") or body["models"], list(overrides.values()))
        plan.parts[part] = Part(body.get("tune", True), units, bool(body.get("timing", False)))
    return plan


STUDY_FILE_KEYS = {"protocol", "parts", "claims", "published", "searchpath", "pythonpath"}


def is_study_file(name: str) -> bool:
    return name.endswith((".yaml", ".yml"))


def study_file(path: Path) -> tuple[dict, dict]:
    """A study of one's own, outside the package: `parts` (as in conf/study/claims.yaml), an
    optional `protocol` (what it sets replaces the shipped study's protocol, key by key: the same
    tuning, seeds and launcher unless said otherwise), `claims` (decided instead of the folk
    claims; report/claims.py), `published` (a paper's numbers, set beside the runs that measured
    the same; report/published.py), `searchpath` (folders of configs — model/, dataset/ — and
    `pythonpath` (folders of Python code, e.g. the cells the configs name), relative to the file.
    (the spec, the Plan fields it sets); a wrong file is one line."""
    import yaml

    from rnnbench.report.claims import load_claims
    from rnnbench.report.published import load_published

    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read the study file {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("parts"), dict) or not spec["parts"]:
        raise UserError(f"{path}: a study file holds `parts:` (a mapping of parts; see conf/study/claims.yaml)")
    unknown = sorted(set(spec) - STUDY_FILE_KEYS)
    if unknown:
        raise UserError(
            f"{path}: unknown key {', '.join(unknown)}; a study file holds {', '.join(sorted(STUDY_FILE_KEYS))}"
        )
    shipped = OmegaConf.to_container(OmegaConf.load(config_dir() / "study" / "claims.yaml"), resolve=True)
    spec["protocol"] = {**shipped["protocol"], **(spec.get("protocol") or {})}
    folders = {}
    for key in ("searchpath", "pythonpath"):
        entries = spec.get(key) or []
        entries = [entries] if isinstance(entries, str) else entries
        found = [(path.parent / str(entry)).resolve() for entry in entries]
        missing = [str(f) for f in found if not f.is_dir()]
        if not isinstance(entries, list) or missing:
            raise UserError(f"{path}: {key} lists folders relative to the file; not a folder: {', '.join(missing)}")
        folders[key] = found
    claims = spec.get("claims")
    if claims is not None:
        if not isinstance(claims, list) or not claims:
            raise UserError(f"{path}: `claims:` is a non-empty list of claims (see conf/claims/folk.yaml)")
        load_claims(path, entries=claims)  # checked now, not after the study's runs
    published = spec.get("published")
    if published is not None:
        load_published(path, published)
    return spec, {"name": path.stem, "claims": claims, "published": published, **folders}


def _units(part: str, variants: dict[str, list[str]] | list[str], overrides: list[str]) -> list[Unit]:
    """Each variant at each combination of the part's sweeps (a,b,c values, read by Hydra's
    override parser; seeds are the study's). `variants` names each variant's overrides, or lists
    models (a part of `models:`: one variant a model); then a `model=…` among the overrides (say
    `model=a,b` under `full:`) names the models instead of being crossed with them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    fixed, sweeps = [], []
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.get_key_element()
        if override.key_or_group == "seed":
            raise UserError(f"study part '{part}' sets seed; the study chooses seeds (study.seed_offset)")
        if key == "model" and isinstance(variants, list):
            sweep = override.is_sweep_override()  # the values as the other sweeps' below: Hydra's strings
            variants = list(override.sweep_string_iterator()) if sweep else [override.get_value_element_as_str()]
        elif override.is_sweep_override():
            sweeps.append([(key, v) for v in override.sweep_string_iterator()])
        else:
            fixed.append(override.input_line)
    units = []
    if isinstance(variants, list):
        variants = {model: [f"model={model}"] for model in variants}
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


def read_best(best_yaml: Path) -> dict | None:
    """A finished search's best.yaml, or None when it has none or no trial completed."""
    if not best_yaml.is_file():
        return None
    best = OmegaConf.to_container(OmegaConf.load(best_yaml))
    return best if best.get("best_params") else None


def better(one: dict | None, other: dict | None) -> dict | None:
    """The better of two searches' best.yaml (same objective), either when the other is None."""
    if one is None or other is None:
        return one or other
    sign = -1 if one.get("higher_is_better") else 1
    return other if sign * other["best_value"] < sign * one["best_value"] else one


def extended_space(params: dict, best: dict) -> dict | None:
    """The tuning space with each log-scale range whose best value lies at its edge (best.yaml's
    at_edge) shifted by half its width (in log space) past that edge — [1e-3, 1e-1] with a best of
    0.09 becomes [1e-2, 1] — or None when no such range is at an edge (a linear range is not
    shifted: it may have a hard bound, e.g. 0)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import IntervalSweep

    parser, space, shifted = OverridesParser.create(), dict(params), False
    for key in best.get("at_edge") or []:
        if key not in params:
            continue
        sweep = parser.parse_override(f"{key}={params[key]}").value()
        if not isinstance(sweep, IntervalSweep) or "log" not in sweep.tags or sweep.start <= 0:
            continue
        low, high, value = float(sweep.start), float(sweep.end), float(best["best_params"][key])
        half = (high / low) ** 0.5
        factor = half if math.log(value / low) > math.log(high / value) else 1 / half
        space[key] = f"tag(log, interval({low * factor:.6g}, {high * factor:.6g}))"
        shifted = True
    return space if shifted else None


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
