"""The tuner: Hydra's sweeper over Optuna (≥ 4), with trials pruned on their validation curves.

    rnnbench train -m hydra/sweeper=tune 'trainer.lr=tag(log, interval(1e-4, 3e-2))' model=lstm ...
    rnnbench train hparams_search=adding_gru      (conf/hparams_search/: ready searches)

Every trial is an ordinary `rnnbench train` job (any launcher) with its own record. What it
optimises is the **best validation value of the task's primary metric** over the trial's
evaluations; Optuna's study always minimises ``sign · value`` (sign −1 for a metric where higher
is better), so one study serves every task and the job needs no direction from the user.

Pruning: at each evaluation the job reports its value to its trial (`TrialReport.prune` in
training/trial.py, called by the trainer's `Run.stop`) and asks the pruner
(`hydra.sweeper.pruner`: median, successive_halving, hyperband or none); a pruned trial stops
there and its record says ``status: pruned`` and the step (``steps``). The study lives in an
Optuna journal file, ``<sweep dir>/tuning.journal``, which trials in other processes (joblib,
submitit) open to report, and which makes the search resumable: the same command with
``hydra.sweep.dir=<that folder>`` continues up to n_trials (`TunerImpl.sweep`: trial k runs in
``trial_00k/``; a trial killed with its job runs again under its number and resumes).

Trials choose on validation only: the tuner runs them with ``trainer.test=false``, so no trial
touches the test split. The search ends by writing ``<sweep dir>/best.yaml``: the best trial's
parameters and value, the trials by state, and the optimizer steps the trials took against
n_trials × max_steps (what pruning and plateau stops saved), and ``fresh_seeds``: the command that
runs the best configuration on three seeds the search did not use, scored on test, into
``<sweep dir>/fresh_seeds/`` (also logged; `rnnbench study` does this step itself).

Search space: `hydra.sweeper.params` (key → Hydra sweep syntax) plus any sweep override on the
command line (``model.hidden_size=32,64``):
    interval(a, b)            float in [a, b]; tag(log, interval(a, b)) on a log scale;
                              int(interval(a, b)) an integer
    choice(x, y, …) / x,y,…   one of these values
    range(a, b[, step])       an integer (or float) from a up to b, exclusive
This module imports Optuna only when a search or a trial runs (Hydra imports the plugin at every
start).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import re
import shlex
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from rnnbench.config import SEED_KEYS, compose, incidental, quoted
from rnnbench.errors import ConfigError, UserError, check_int
from rnnbench.launch.sweep import run_folder
from rnnbench.training.trial import PRUNERS, journal, left_baseline, make_pruner

log = logging.getLogger("rnnbench")

JOURNAL, BEST = "tuning.journal", "best.yaml"
TRIAL_DIR = "trial_{:03d}"  # a trial's run folder in the search folder, by its number
SAMPLERS = {"tpe": "TPESampler", "random": "RandomSampler"}
# Keys the tuner sets on every trial: where the trial reports (incidental to the run: config.INCIDENTAL_KEYS),
# and that it never sees the test split.
TRIAL_KEYS = ("tuning.storage", "tuning.study", "tuning.trial", "trainer.test")


def distribution(override) -> Any:
    """The Optuna distribution of a parsed Hydra sweep override."""
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    key, value = override.get_key_element(), override.value()
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution(list(value.list))
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if all(isinstance(v, int) for v in (start, stop, step)):
            return IntDistribution(start, stop - step, step=step)
        return FloatDistribution(start, stop - step, step=step)
    if isinstance(value, IntervalSweep):
        log_scale = "log" in value.tags
        if log_scale and value.start <= 0:
            raise UserError(f"the search range of {key}: a log-scale interval must start above 0, got {value.start}")
        if value.start >= value.end:
            raise UserError(
                f"the search range of {key}: the interval must be increasing, got ({value.start}, {value.end})"
            )
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log_scale)
        return FloatDistribution(value.start, value.end, log=log_scale)
    raise UserError(
        f"the search range of {key}: {override.input_line!r} is not a search range; use interval(a, b), "
        "tag(log, interval(a, b)), choice(x, y, …) or range(a, b)"
    )


def split_arguments(arguments: list[str], params: dict) -> tuple[list[str], dict]:
    """(fixed overrides, key → distribution) from the command line and hydra.sweeper.params."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    lines = [f"{key}={value}" for key, value in params.items()]
    space = {o.get_key_element(): distribution(o) for o in parser.parse_overrides(lines)}
    fixed = []
    for override in parser.parse_overrides(arguments):
        key = override.get_key_element()
        if override.is_sweep_override():
            space[key] = distribution(override)
        elif key not in TRIAL_KEYS:
            fixed.append(override.input_line)
    return fixed, space


class TunerImpl:
    """What hydra_plugins.rnnbench_tuner.Tuner delegates to (settings: conf/hydra/sweeper/tune.yaml)."""

    def __init__(
        self,
        n_trials: int,
        n_jobs: int,
        sampler: str,
        seed: int,
        pruner: str,
        pruner_args: dict | None,
        params: dict | None,
        study_name: str | None,
        enqueue: list | None = None,
    ):
        if importlib.util.find_spec("optuna") is None:
            raise UserError(
                "hydra/sweeper=tune needs Optuna, which comes with the sweep extra: "
                "pip install -c constraints.txt -e '.[sweep]'"
            )
        self.n_trials = check_int("hydra.sweeper.n_trials", n_trials, 1)
        self.n_jobs = check_int("hydra.sweeper.n_jobs", n_jobs, 1)
        if sampler not in SAMPLERS:
            raise ConfigError("hydra.sweeper.sampler", f"must be one of {', '.join(SAMPLERS)}", sampler)
        if pruner not in PRUNERS:
            raise ConfigError("hydra.sweeper.pruner", f"must be one of {', '.join(PRUNERS)}", pruner)
        self.sampler, self.seed, self.pruner = sampler, check_int("hydra.sweeper.seed", seed, 0), pruner
        self.pruner_args = dict(pruner_args or {})
        self.params, self.study_name = dict(params or {}), study_name
        if not isinstance(enqueue or [], list) or not all(isinstance(p, dict) for p in enqueue or []):
            raise ConfigError("hydra.sweeper.enqueue", "must be a list of {key: value} mappings", enqueue)
        self.enqueue = [dict(p) for p in enqueue or []]

    def sweep(self, sweeper, arguments: list[str]) -> list:
        """Ask, launch and tell trials up to n_trials; write best.yaml; return the trials' JobReturns.

        A search continued in its folder (the same command again, or a larger n_trials) goes on
        where it stopped: a trial whose job was killed is launched again under its own number and
        resumes in its own folder, and is counted once; new trials are drawn by a sampler seeded
        past the trials already asked, so they are not the first ones again. One search holds a
        folder: a second one running there, or one of another model or space, is refused."""
        import optuna

        fixed, space = split_arguments(arguments, self.params)
        if not space:
            raise UserError(
                "the tuner has nothing to search: give a range on the command line (e.g. "
                "'trainer.lr=tag(log, interval(1e-4, 3e-2))') or hydra.sweeper.params in a config"
            )
        folder = Path(str(sweeper.config.hydra.sweep.dir))
        with search_lock(folder):
            path = folder.resolve() / JOURNAL  # absolute: a launcher may run the job elsewhere
            check_journal(path)
            name = self.study_name or folder.name
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            storage = journal(path)
            wanted, pruner = definition(fixed, space), make_pruner(self.pruner, self.pruner_args)
            exists, asked = _has_study(storage, name), 0
            if exists:  # continued: checked before anything is appended to the journal
                study_id = storage.get_study_id_from_name(name)
                check_same_search(storage.get_study_user_attrs(study_id), folder, wanted)
                asked = len(storage.get_all_trials(study_id))
            sampler = getattr(optuna.samplers, SAMPLERS[self.sampler])(seed=self.seed + asked)  # draws anew
            if exists:
                study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
            else:
                study = optuna.create_study(
                    study_name=name, storage=storage, sampler=sampler, direction="minimize", pruner=pruner
                )
            study.set_user_attr("definition", wanted)
            study.set_user_attr("pruner", self.pruner)
            study.set_user_attr("pruner_args", self.pruner_args)
            killed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            finished = len(study.trials) - len(killed)
            if asked == 0:
                for params in self.enqueue:  # tried first, in this order
                    study.enqueue_trial(params)
            resuming = f", {len(killed)} killed to resume" if killed else ""
            log.info(
                "tuning %s: %d trials (%d done%s), pruner %s, into %s",
                name,
                self.n_trials,
                finished,
                resuming,
                self.pruner,
                folder,
            )
            returns = []
            while killed or finished < self.n_trials:
                trials = killed[: self.n_jobs]
                killed = killed[len(trials) :]
                while len(trials) < min(self.n_jobs, self.n_trials - finished):
                    trials.append(study.ask(space))
                batch = [[*fixed, *trial_overrides(t.number, t.params, path, name)] for t in trials]
                sweeper.validate_batch_is_legal(batch)
                launched = sweeper.launcher.launch(batch, initial_job_idx=min(t.number for t in trials))
                for trial, job in zip(trials, launched):
                    self.tell(study, trial.number, run_folder(job))
                returns.extend(launched)
                finished += len(trials)
            best = summarize(study, folder, self.n_trials, space)
            if best["best_trial"] is not None:
                best["fresh_seeds"] = fresh_seeds_command(folder / TRIAL_DIR.format(best["best_trial"]), folder)
            OmegaConf.save(OmegaConf.create(best), folder / BEST)
        log.info("best of %s: %s (value %s)", name, best["best_params"], best["best_value"])
        if best["beats_baseline"] is False:
            log.warning(
                "no trial of %s left the task's trivial baseline on validation (%s): the best parameters "
                "are the best of runs that did not learn; widen the search or train longer",
                name,
                best["baseline_val"],
            )
        if best.get("fresh_seeds"):
            log.info("next, the test numbers: the best configuration on fresh seeds (docs/protocol.md):")
            log.info("  %s", best["fresh_seeds"])
        return returns

    @staticmethod
    def tell(study, trial: int, run_dir: Path) -> None:
        """The trial's outcome, read from its record: pruned, failed, or its best validation value."""
        from optuna.trial import TrialState

        from rnnbench.training.record import read_summary

        summary = read_summary(run_dir) or {}
        status, value = summary.get("status"), objective(summary)
        if status == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
        elif status != "completed" or value is None:
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, value)


def trial_overrides(number: int, params: dict, journal_path: Path, study: str) -> list[str]:
    """What a trial's job adds to the search's own overrides: its parameters, where it reports, no
    test split, and its folder, named by its number (trial_007)."""
    return [
        *(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in params.items()),
        f"tuning.storage={journal_path}",
        f"tuning.study={study}",
        f"tuning.trial={number}",
        "trainer.test=false",
        f"hydra.sweep.subdir={TRIAL_DIR.format(number)}",
    ]


def fresh_seeds_command(trial_dir: Path, folder: Path, n_seeds: int = 3) -> str | None:
    """`rnnbench train -m …` that runs a trial's configuration, scored on test, on `n_seeds` seeds
    the search did not use, into ``<search folder>/fresh_seeds``; None when the trial's record
    cannot be read. The configuration is spelled out as the trial's config groups plus every value
    that differs from their defaults (what a search config such as hparams_search=… set, and the
    chosen parameters), so the command does not search again."""
    from rnnbench.training.record import HYDRA, flatten, read_summary

    try:
        hydra = OmegaConf.load(trial_dir / HYDRA / "hydra.yaml").hydra
        choices, searchpath = hydra.runtime.choices, list(hydra.get("searchpath") or [])
    except (OSError, ValueError, AttributeError):
        return None
    trial = (read_summary(trial_dir) or {}).get("hparams")
    if not isinstance(trial, dict):
        return None
    groups = [
        f"{g}={o}"
        for g, o in sorted(choices.items(), key=lambda c: c[0] not in ("model", "dataset"))
        if o is not None and any(k.startswith(f"{g}.") for k in trial)
    ]  # model=gru …; a group of `@package _global_` (hparams_search) is spelled out below
    if searchpath:  # configs of one's own (a study file's folders): found again where the groups are
        groups.insert(0, f"hydra.searchpath=[{','.join(searchpath)}]")
    base = flatten(OmegaConf.to_container(compose(*groups)))
    changed = [
        f"{key}={_override_value(value)}"
        for key, value in trial.items()
        if base.get(key, object()) != value
        and not str(base.get(key)).startswith("${")  # an alias (optimizer.lr: ${trainer.lr}) follows its source
        and key not in (*TRIAL_KEYS, *SEED_KEYS)
        and not incidental(key)
    ]
    seed = trial.get("seed", 0)
    seeds = ",".join(str(seed + k) for k in range(1, n_seeds + 1))
    where = f"hydra.sweep.dir={_override_value(str(folder.absolute() / 'fresh_seeds'))}"
    return shlex.join(["rnnbench", "train", "-m", *groups, *changed, f"seed={seeds}", where])


def _override_value(value: Any) -> str:
    """A resolved config value as Hydra's override parser reads it back."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(map(_override_value, value)) + "]"
    plain = re.fullmatch(r"[A-Za-z_/][A-Za-z0-9_./-]*", value) and value.lower() not in ("null", "true", "false")
    return value if plain else quoted(value)


def search_lock(folder: Path):
    """Hold the search folder while the search runs: a second search into it is refused in one line."""
    from rnnbench.training.record import held_folder

    return held_folder(
        folder,
        f"{folder}: another search is running there; wait for it to end, or tune into another folder "
        "(leave hydra.sweep.dir out)",
    )


def check_journal(path: Path) -> None:
    """Refuse, in one line and without touching it, a journal that Optuna could not read: a folder,
    a file that is not JSON lines (truncated, overwritten), or one of another program."""
    if not path.exists():
        return
    how = "move it away to start the search anew, or tune into another folder"
    if not path.is_file():
        raise UserError(f"{path} is not a file (a tuning journal is); {how}")
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
        ops = [json.loads(line) for line in lines if line.strip()]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is damaged (not the JSON lines of a tuning journal: {exc}); {how}") from None
    if not all(isinstance(op, dict) and "op_code" in op for op in ops):
        raise UserError(f"{path} is not a tuning journal (its lines are not Optuna's operations); {how}")


def _has_study(storage, name: str) -> bool:
    import optuna

    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return False
    except optuna.exceptions.OptunaError:
        return False
    return True


def definition(fixed: list[str], space: dict) -> dict:
    """What makes a search this search: the overrides that define its runs (key → as typed) and
    its space (key → distribution)."""
    from rnnbench.config import defining_overrides

    return {
        "overrides": {key: line.split("=", 1)[-1] for key, line in defining_overrides(fixed).items()},
        "space": {key: repr(dist) for key, dist in space.items()},
    }


def check_same_search(attrs: dict, folder: Path, wanted: dict) -> None:
    """A folder holds one search: refuse one of other overrides or another space (the study's
    `definition`, in its user attributes), naming the difference."""
    from rnnbench.training.record import changes

    held = attrs.get("definition")
    for part, what in (("overrides", "overrides"), ("space", "search space")):
        changed = changes(held[part], wanted[part]) if held else ""
        if changed:
            raise UserError(
                f"{folder} holds a search of other {what} ({changed}); tune into another folder (leave "
                "hydra.sweep.dir out), or repeat its settings"
            )


def objective(summary: dict) -> float | None:
    """sign · best validation value of the primary metric (what the study minimises), or None."""
    task = summary.get("task") or {}
    primary = task.get("primary_metric")
    value = (summary.get("best") or {}).get(primary)
    if value is None or not math.isfinite(value):
        return None
    return value if (task.get("metrics") or {}).get(primary) == "min" else -value


def at_edge(value: float, dist, fraction: float = 0.05) -> bool:
    """Whether a numeric value lies in the outer `fraction` of its range (on a log scale for a
    log-scale range): the search may have cut off the optimum."""
    low, high = dist.low, dist.high
    if dist.log:
        value, low, high = math.log(value), math.log(low), math.log(high)
    return high > low and min(value - low, high - value) <= fraction * (high - low)


def summarize(study, folder: Path, n_trials: int, space: dict) -> dict:
    """best.yaml: the best parameters and value, those at the edge of their range, the trials by
    state, and the steps they took."""
    from optuna.trial import TrialState

    from rnnbench.training.record import read_summary

    trials = study.get_trials(deepcopy=False)
    states = {
        state.name.lower(): sum(t.state == state for t in trials)
        for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    }
    summaries = [s for s in (read_summary(p.parent) for p in folder.glob("*/summary.json")) if s]
    steps = sum(s.get("steps") or 0 for s in summaries)
    budget = sum((s.get("hparams") or {}).get("trainer.max_steps", 0) for s in summaries)
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    best = min(completed, key=lambda t: t.value) if completed else None
    metric = next((s["task"]["primary_metric"] for s in summaries if s.get("task")), None)
    higher = next((s["task"]["metrics"][metric] == "max" for s in summaries if s.get("task")), False)
    best_value = (-best.value if higher else best.value) if best else None
    baseline = next((s["baseline_val"].get(metric) for s in summaries if isinstance(s.get("baseline_val"), dict)), None)
    beats = None
    if best_value is not None and baseline is not None:
        beats = left_baseline(best_value, baseline, lower_is_better=not higher)
    return {
        "study": study.study_name,
        "objective": f"best validation {metric or 'value of the primary metric'}"
        + (" (higher is better)" if higher else ""),
        "best_params": dict(best.params) if best else None,
        "best_value": best_value,
        "higher_is_better": higher,
        "best_trial": best.number if best else None,
        "baseline_val": baseline,  # the task's trivial predictor on the same validation data
        "beats_baseline": beats,
        "at_edge": [
            k for k, v in (best.params if best else {}).items() if hasattr(space.get(k), "low") and at_edge(v, space[k])
        ],
        "space": {k: repr(d) for k, d in space.items()},
        "n_trials": n_trials,
        "trials": states,
        "steps": {
            "taken": int(steps),
            "without_stops": int(budget),
            "fraction": round(steps / budget, 4) if budget else None,
        },
    }
