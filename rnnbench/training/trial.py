"""A run's link to the tuner's trial (launch/tune.py): the study's journal file, its pruner, and
`TrialReport`, through which the trainer reports each validation value and learns whether the
trial is pruned. Optuna is imported only when a trial runs."""

from __future__ import annotations

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
    """A job's link to its trial: `prune(value, step)` reports the validation value and says
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
        self.storage, self.trial = storage, optuna.trial.Trial(study, self.trial_id)
        self.sign = 1.0 if lower_is_better else -1.0

    def prune(self, value: float, step: int) -> bool:
        from optuna.trial import TrialState

        if self.storage.get_trial(self.trial_id).state != TrialState.RUNNING:  # the tuner already closed it
            return False
        self.trial.report(self.sign * value, step)
        return self.trial.should_prune()


def trial_report(cfg: DictConfig, lower_is_better: bool) -> TrialReport | None:
    """The trial this job runs for the tuner (cfg.tuning, set by the tuner), or None."""
    tuning = cfg.get("tuning")
    if not tuning or tuning.get("trial") is None:
        return None
    return TrialReport(tuning, lower_is_better)
