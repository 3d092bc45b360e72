"""The tuner (hydra/sweeper=tune, rnnbench/launch/tune.py): trials are ordinary runs on validation only,
an absurd learning rate is pruned at its first evaluation, the search resumes from its journal, and
every bad setting is one line."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from rnnbench.launch.tune import objective
from tests.conftest import TINY, run_cli

TUNE = [
    "-m",
    "hydra/sweeper=tune",
    "hydra.sweeper.sampler=random",
    *TINY,
    "trainer.max_steps=40",
    "trainer.eval_every=10",
    "trainer.lr=tag(log, interval(1e-3, 100.0))",
    "hydra.sweep.dir=search",
]
# Four sensible learning rates first (the median pruner's startup trials), then an absurd one.
ENQUEUE = (
    "+hydra.sweeper.enqueue=[{trainer.lr: 0.02},{trainer.lr: 0.03},{trainer.lr: 0.05},{trainer.lr: 0.04},"
    "{trainer.lr: 50.0}]"
)


def records(folder):
    return {p.parent.name: json.loads(p.read_text()) for p in folder.glob("*/summary.json")}


def test_an_absurd_learning_rate_is_pruned_at_its_first_evaluation(in_process, tmp_path):
    code, _, err = in_process("train", *TUNE, "hydra.sweeper.n_trials=5", ENQUEUE)
    assert code == 0, err
    runs = sorted(records(tmp_path / "search").values(), key=lambda s: s["hparams"]["tuning.trial"])
    assert [s["hparams"]["trainer.lr"] for s in runs] == [0.02, 0.03, 0.05, 0.04, 50.0]
    assert [s["status"] for s in runs] == ["completed"] * 4 + ["pruned"]
    absurd = runs[-1]
    assert absurd["stop_reason"] == "pruned" and absurd["steps"] == 10  # the first evaluation of 4
    assert all(s["stop_reason"] == "max_steps" and s["steps"] == 40 for s in runs[:4])
    assert all(s["final"] == {} and not s["hparams"]["trainer.test"] for s in runs)  # validation only
    best = OmegaConf.to_container(OmegaConf.load(tmp_path / "search" / "best.yaml"))
    chosen = min(runs[:4], key=lambda s: s["best"]["mse"])
    assert best["best_params"] == {"trainer.lr": chosen["hparams"]["trainer.lr"]}
    assert best["best_value"] == pytest.approx(chosen["best"]["mse"]) and best["objective"] == "best validation mse"
    assert best["trials"] == {"complete": 4, "pruned": 1, "fail": 0}
    assert best["steps"] == {"taken": 170, "without_stops": 200, "fraction": 0.85}

    code, _, err = in_process("train", *TUNE, "hydra.sweeper.n_trials=7", ENQUEUE)  # the same search, continued
    assert code == 0, err
    assert len(records(tmp_path / "search")) == 7  # 5 kept, 2 more asked
    assert sum(OmegaConf.load(tmp_path / "search" / "best.yaml").trials.values()) == 7


def test_the_objective_is_signed_by_the_metric_direction():
    assert objective({"task": {"primary_metric": "mse", "metrics": {"mse": "min"}}, "best": {"mse": 0.2}}) == 0.2
    assert objective({"task": {"primary_metric": "acc", "metrics": {"acc": "max"}}, "best": {"acc": 0.9}}) == -0.9
    assert objective({"task": {"primary_metric": "acc", "metrics": {"acc": "max"}}, "best": {}}) is None


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["hydra.sweeper.pruner=bogus"],
            "hydra.sweeper.pruner must be one of none, median, successive_halving, hyperband, got 'bogus'",
        ),
        (["hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials must be an integer ≥ 1, got 0"),
        (["hydra.sweeper.sampler=grid"], "hydra.sweeper.sampler must be one of tpe, random, got 'grid'"),
        (["+hydra.sweeper.pruner_args.bogus=1"], "hydra.sweeper.pruner_args do not fit the median pruner"),
        (
            ["trainer.lr=tag(log, interval(0, 1))"],
            "the search range of trainer.lr: a log-scale interval must start above 0, got 0",
        ),
        (["+hydra.sweeper.enqueue=[1,2]"], "hydra.sweeper.enqueue must be a list of {key: value} mappings, got [1, 2]"),
    ],
)
def test_bad_tuner_settings_are_one_line(in_process, args, message):
    code, _, err = in_process("train", *TUNE, "hydra.sweeper.n_trials=2", *args)
    assert code == 2 and err.startswith(f"rnnbench: error: {message}") and len(err.strip().splitlines()) == 1, err


def test_nothing_to_search_is_one_line(in_process):
    code, _, err = in_process("train", "-m", "hydra/sweeper=tune", *TINY)
    assert code == 2 and "the tuner has nothing to search" in err, err


@pytest.mark.slow
def test_trials_in_worker_processes_report_to_the_journal_and_are_pruned(tmp_path):
    """joblib workers open the study's journal to report; the absurd trial is pruned there too."""
    out = run_cli(
        "train",
        *TUNE,
        "hydra.sweeper.n_trials=5",
        ENQUEUE,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=1",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    runs = records(tmp_path / "search")
    pruned = [s for s in runs.values() if s["status"] == "pruned"]
    assert [s["hparams"]["trainer.lr"] for s in pruned] == [50.0] and pruned[0]["steps"] == 10


def test_a_best_value_at_the_edge_of_its_range_is_flagged():
    from optuna.distributions import FloatDistribution

    from rnnbench.launch.tune import at_edge

    log = FloatDistribution(1e-3, 1e-1, log=True)
    assert at_edge(1.1e-3, log) and at_edge(0.09, log) and not at_edge(1e-2, log)
    assert at_edge(0.96, FloatDistribution(0.0, 1.0)) and not at_edge(0.5, FloatDistribution(0.0, 1.0))


def test_a_search_killed_mid_trial_continues(in_process, tmp_path):
    """A trial left RUNNING in the journal (its job was killed) is marked failed when the same
    command runs again, and the search goes on to n_trials."""
    import optuna

    from rnnbench.launch.tune import JOURNAL
    from rnnbench.training.trial import journal

    folder = tmp_path / "search"
    folder.mkdir()
    study = optuna.create_study(study_name="search", storage=journal((folder / JOURNAL).resolve()))
    study.ask()  # a trial whose job never reported back
    code, _, err = in_process("train", *TUNE, "hydra.sweeper.n_trials=3")
    assert code == 0, err
    best = OmegaConf.load(folder / "best.yaml")
    assert dict(best.trials) == {"complete": 2, "pruned": 0, "fail": 1} and len(records(folder)) == 2


@pytest.mark.slow
def test_a_report_of_a_search_shows_its_pruned_trials(in_process, tmp_path):
    code, _, err = in_process("train", *TUNE, "hydra.sweeper.n_trials=5", ENQUEUE)
    assert code == 0, err
    code, out, err = in_process("report", "search")
    assert code == 0, err
    assert "5 runs (4 completed, 0 failed, 1 pruned)" in out and "Skipped" not in out
    assert "pruned at 10 steps" in out  # the absurd learning rate's row says where it stopped
    assert "Tuning: 1 search, its trials are the runs above" in out  # a search alone: its trials are the runs


def test_the_tuner_without_optuna_names_the_extra(in_process, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else find_spec(name, *a))
    code, _, err = in_process("train", *TUNE, "hydra.sweeper.n_trials=1")
    assert code == 2 and err.strip() == (
        "rnnbench: error: hydra/sweeper=tune needs Optuna, which comes with the sweep "
        "extra: pip install -c constraints.txt -e '.[sweep]'"
    ), err


@pytest.mark.slow
def test_trials_launched_together_train_as_batched_members(in_process, tmp_path):
    """n_jobs trials on hydra/launcher=batched: one batched run whose members report to the
    study each its own curve; the search's bookkeeping is that of trials run one by one. (Trials
    launched together cannot prune one another early: none has finished when they are compared.)"""
    code, _, err = in_process(
        "train",
        *TUNE,
        "hydra/launcher=batched",
        "hydra.launcher.batching=always",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.n_jobs=5",
        ENQUEUE,
    )
    assert code == 0, err
    runs = sorted(records(tmp_path / "search").values(), key=lambda s: s["hparams"]["tuning.trial"])
    assert [s["hparams"]["trainer.lr"] for s in runs] == [0.02, 0.03, 0.05, 0.04, 50.0]
    assert [(s["members"], s["member"]) for s in runs] == [(5, k) for k in range(5)]
    best = OmegaConf.to_container(OmegaConf.load(tmp_path / "search" / "best.yaml"))
    chosen = min(runs[:4], key=lambda s: s["best"]["mse"])
    assert best["best_params"] == {"trainer.lr": chosen["hparams"]["trainer.lr"]}
    assert sum(best["trials"].values()) == 5
