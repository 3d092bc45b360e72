"""A run's link to the tuner's trial (launch/tune.py): the study's journal file, its pruner, and
`TrialReport`, through which the trainer reports each validation value and learns whether the
trial is pruned. Optuna is imported only when a trial runs.

Pruning on a plateau. Tasks with a late jump (parity, MQAR, the Chomsky tasks) keep every trial at
the trivial baseline for a while; a median of such values is noise, and a pruner comparing them
cuts trials by it (chomsky's quick run pruned the RNN's one learning rate that learns parity at
its first evaluation, 0.510 against a median of 0.511). So a trial still at the baseline —
|progress| < ON_PLATEAU, `progress` below — is pruned only once another trial of its search has left
the baseline at that step: then there is a learning rate that learns by now, and this one does
not. A trial that has moved (either way) is the pruner's as usual."""

from __future__ import annotations

import math
from pathlib import Path

from omegaconf import DictConfig

from rnnbench.errors import UserError

PRUNERS = {
    "none": "NopPruner",
    "median": "MedianPruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
}
# median: no pruning before 4 trials have finished (the median of fewer is noise).
PRUNER_DEFAULTS = {"median": {"n_startup_trials": 4}}
ON_PLATEAU = 0.1  # a value within this fraction of the baseline-to-perfect gap is still at the baseline


def progress(value: float, baseline: float, lower_is_better: bool) -> float:
    """The fraction of the gap from the trivial baseline to a perfect score that `value` has closed:
    0 at the baseline, 1 perfect, below 0 worse. Perfect is 0 for a metric to minimise (a loss, an
    error rate) and 1 for one to maximise (every such metric here is an accuracy or a score ≤ 1)."""
    gap = (0.0 if lower_is_better else 1.0) - baseline
    return (value - baseline) / gap if gap else 0.0


def left_baseline(value: float, baseline: float, lower_is_better: bool) -> bool:
    """Whether `value` has closed ON_PLATEAU of the gap to a perfect score: learned, not noise at chance."""
    return progress(value, baseline, lower_is_better) >= ON_PLATEAU


def journal(path: str | Path):
    """The Optuna storage of a study: a journal file (file-locked appends; no database needed)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(path)))


def make_pruner(name: str, args: dict | None):
    import optuna

    if name not in PRUNERS:
        raise UserError(f"hydra.sweeper.pruner must be one of {', '.join(PRUNERS)}, got {name!r}")
    try:
        return getattr(optuna.pruners, PRUNERS[name])(**{**PRUNER_DEFAULTS.get(name, {}), **(args or {})})
    except (TypeError, ValueError) as exc:
        raise UserError(f"hydra.sweeper.pruner_args do not fit the {name} pruner: {exc}") from None


class TrialReport:
    """A job's link to its trial: `prune(value, step, baseline)` reports the validation value and says
    whether the pruner stops the trial."""

    def __init__(self, tuning: DictConfig, lower_is_better: bool):
        import optuna

        storage = journal(tuning.storage)
        study_id = storage.get_study_id_from_name(tuning.study)
        attrs = storage.get_study_user_attrs(study_id)
        study = optuna.load_study(
            study_name=tuning.study,
            storage=storage,
            pruner=make_pruner(attrs.get("pruner", "none"), attrs.get("pruner_args")),
        )
        self.trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, int(tuning.trial))
        self.storage, self.study, self.trial = storage, study, optuna.trial.Trial(study, self.trial_id)
        self.lower_is_better, self.sign = lower_is_better, 1.0 if lower_is_better else -1.0

    def prune(self, value: float, step: int, baseline: float | None = None) -> bool:
        """Report `value` at `step`; whether the pruner stops the trial (not while this trial and
        every other one at `step` are at `baseline`, the task's trivial baseline on validation)."""
        from optuna.trial import TrialState

        if self.storage.get_trial(self.trial_id).state != TrialState.RUNNING:  # the tuner already closed it
            return False
        self.trial.report(self.sign * value, step)
        if not self.trial.should_prune():
            return False
        if (
            baseline is None
            or not math.isfinite(baseline)
            or not math.isfinite(value)
            or abs(progress(value, baseline, self.lower_is_better)) >= ON_PLATEAU
        ):
            return True
        others = [
            t.intermediate_values.get(step)
            for t in self.study.get_trials(deepcopy=False)
            if t.number != self.trial.number
        ]
        return any(v is not None and left_baseline(self.sign * v, baseline, self.lower_is_better) for v in others)


def trial_report(cfg: DictConfig, lower_is_better: bool) -> TrialReport | None:
    """The trial this job runs for the tuner (cfg.tuning, set by the tuner), or None."""
    tuning = cfg.get("tuning")
    if not tuning or tuning.get("trial") is None:
        return None
    return TrialReport(tuning, lower_is_better)
