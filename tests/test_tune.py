"""The tuner (hydra/sweeper=tune, rnnbench/launch/tune.py): trials are ordinary runs on validation only,
an absurd learning rate is pruned at its first evaluation, the search resumes from its journal, and
every bad setting is one line."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from rnnbench.config import incidental
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


def journal_trials(folder):
    import optuna

    from rnnbench.launch.tune import JOURNAL
    from rnnbench.training.trial import journal

    return optuna.load_study(study_name=folder.name, storage=journal((folder / JOURNAL).resolve())).trials


def check_agree(folder, n_trials):
    """Journal, folders and records agree: trial k ran in trial_00k, its record says trial k with
    the journal's parameters, and every trial finished once."""
    trials = journal_trials(folder)
    runs = records(folder)
    assert sorted(runs) == [f"trial_{k:03d}" for k in range(n_trials)] and len(trials) == n_trials
    for trial in trials:
        record = runs[f"trial_{trial.number:03d}"]
        assert record["hparams"]["tuning.trial"] == trial.number
        assert record["hparams"]["trainer.lr"] == pytest.approx(trial.params["trainer.lr"])
        assert trial.state.name in ("COMPLETE", "PRUNED")
    return trials, runs


def test_a_trial_left_running_is_run_again_under_its_own_number(in_process, tmp_path):
    """A trial RUNNING in the journal (its job was killed) is launched again with its own number
    and parameters, in its own folder, and counted once: 3 trials are 3 folders and 3 records."""
    import optuna
    from optuna.distributions import FloatDistribution

    from rnnbench.launch.tune import JOURNAL
    from rnnbench.training.trial import journal

    folder = tmp_path / "search"
    folder.mkdir()
    study = optuna.create_study(study_name="search", storage=journal((folder / JOURNAL).resolve()))
    killed = study.ask({"trainer.lr": FloatDistribution(1e-3, 100.0, log=True)})
    code, _, err = in_process("train", *TUNE, "hydra.sweeper.n_trials=3")
    assert code == 0, err
    trials, _ = check_agree(folder, 3)
    assert trials[0].params == killed.params
    best = OmegaConf.load(folder / "best.yaml")
    assert dict(best.trials)["fail"] == 0


def test_an_extended_search_draws_new_trials(in_process, tmp_path):
    """n_trials=2, then the same command with n_trials=4: four trials, four folders, four distinct
    learning rates (a sampler seeded as before would propose the first two again)."""
    assert in_process("train", *TUNE, "hydra.sweeper.n_trials=2")[0] == 0
    code, _, err = in_process("train", *TUNE, "hydra.sweeper.n_trials=4")
    assert code == 0, err
    trials, _ = check_agree(tmp_path / "search", 4)
    assert len({t.params["trainer.lr"] for t in trials}) == 4
    assert sum(dict(OmegaConf.load(tmp_path / "search" / "best.yaml").trials).values()) == 4


@pytest.mark.parametrize(
    "other, says",
    [
        (["model=rnn"], "holds a search of other overrides (model: "),
        (["trainer.lr=tag(log, interval(1e-4, 1e-2))"], "holds a search of other search space (trainer.lr: "),
    ],
)
def test_a_search_folder_holds_one_search(in_process, tmp_path, other, says):
    assert in_process("train", *TUNE, "hydra.sweeper.n_trials=1")[0] == 0
    journal = (tmp_path / "search" / "tuning.journal").read_bytes()
    code, _, err = in_process("train", *TUNE, "hydra.sweeper.n_trials=2", *other)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert len(records(tmp_path / "search")) == 1 and (tmp_path / "search" / "tuning.journal").read_bytes() == journal


def test_a_second_search_into_a_running_ones_folder_is_refused(in_process, tmp_path):
    from rnnbench.launch.tune import search_lock

    with search_lock(tmp_path / "search"):
        code, _, err = in_process("train", *TUNE, "hydra.sweeper.n_trials=1")
    assert code == 2 and "another search is running there" in err and len(err.strip().splitlines()) == 1
    assert records(tmp_path / "search") == {}


@pytest.mark.parametrize("damage", ["truncated", "garbage", "a folder"])
def test_a_damaged_journal_is_refused_and_left_as_it_is(in_process, tmp_path, damage):
    folder = tmp_path / "search"
    folder.mkdir()
    path = folder / "tuning.journal"
    if damage == "a folder":
        path.mkdir()
    else:
        path.write_bytes(
            b'{"op_code": 0, "worker_id": "x", "study_name": "s' if damage == "truncated" else b"\x00\xff junk"
        )
    before = path.read_bytes() if path.is_file() else None
    code, _, err = in_process("train", *TUNE, "hydra.sweeper.n_trials=1")
    assert code == 2 and "tuning.journal" in err and len(err.strip().splitlines()) == 1, err
    assert (path.read_bytes() if path.is_file() else None) == before and records(folder) == {}


@pytest.mark.slow
def test_a_search_killed_mid_trial_resumes_that_trial(tmp_path):
    """kill -9 while a trial trains, then the same command: the killed trial resumes in its own
    folder from its checkpoint, under its own number; journal, folders and records agree."""
    import os
    import signal
    import subprocess
    import sys
    import time

    args = [
        *TUNE,
        "hydra.sweeper.n_trials=3",
        "trainer.max_steps=400",
        "trainer.eval_every=20",
        "trainer.lr=tag(log, interval(1e-3, 1e-2))",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "rnnbench", "train", *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    checkpoint = tmp_path / "search" / "trial_001" / "checkpoint.pt"
    deadline = time.time() + 240
    while not checkpoint.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert checkpoint.exists()
    out = run_cli("train", *args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    _, runs = check_agree(tmp_path / "search", 3)
    assert runs["trial_001"]["resumed"] and runs["trial_001"]["status"] in ("completed", "pruned")


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


def test_a_search_where_no_trial_learns_says_so(in_process, tmp_path, caplog):
    """best.yaml, the log and the report's tuning table set the best value against the task's
    baseline on the same validation data: a best of runs that learnt nothing is not a finding."""
    import logging

    logger = logging.getLogger("rnnbench")
    logger.addHandler(caplog.handler)  # Hydra's logging config sends it to the terminal, not to pytest
    try:
        code, _, err = in_process(
            "train", *TUNE, "hydra.sweeper.n_trials=2", "trainer.lr=tag(log, interval(1e-9, 1e-8))"
        )
    finally:
        logger.removeHandler(caplog.handler)
    assert code == 0, err
    best = OmegaConf.load(tmp_path / "search" / "best.yaml")
    assert best.beats_baseline is False and best.best_value >= best.baseline_val
    assert "no trial of search left the task's trivial baseline on validation" in caplog.text
    code, out, _ = in_process("report", "search")
    assert code == 0 and "no: no trial learned" in out


def test_the_best_configuration_is_printed_as_a_command_for_fresh_seeds(in_process, tmp_path, caplog):
    """best.yaml and the log end with the command that runs the best trial's configuration on seeds
    the search did not use, with what a search config set spelled out (not searched again)."""
    import logging
    import shlex

    logger = logging.getLogger("rnnbench")
    logger.addHandler(caplog.handler)
    try:
        code, _, err = in_process("train", *TUNE, "hydra.sweeper.n_trials=2", "trainer.grad_clip=null", "seed=4")
    finally:
        logger.removeHandler(caplog.handler)
    assert code == 0, err
    best = OmegaConf.load(tmp_path / "search" / "best.yaml")
    command = best.fresh_seeds
    assert command in caplog.text
    words = shlex.split(command)
    assert words[:3] == ["rnnbench", "train", "-m"] and "optimizer.lr" not in command  # an alias follows trainer.lr
    assert "seed=5,6,7" in words and "trainer.grad_clip=null" in words and "trainer.test" not in command
    code, _, err = in_process(*words[1:])
    assert code == 0, err
    fresh = records(tmp_path / "search" / "fresh_seeds").values()
    chosen = best.best_params["trainer.lr"]
    assert sorted(s["seed"] for s in fresh) == [5, 6, 7]
    assert all(s["hparams"]["trainer.lr"] == chosen and s["final"] and s["status"] == "completed" for s in fresh)
    trial = records(tmp_path / "search")[f"trial_{best.best_trial:03d}"]["hparams"]
    differs = {k for s in fresh for k, v in s["hparams"].items() if trial.get(k) != v and not incidental(k)}
    assert differs == {"seed", "dataset.seed", "trainer.test"}  # the same run, on test, on other seeds


def plateau_search(tmp_path, values_of_first_trial):
    """A median-pruned search in a journal whose trial 0 finished with `values_of_first_trial` (step
    → validation accuracy, higher is better) and a TrialReport of trial 1, still running."""
    import optuna

    from rnnbench.training.trial import TrialReport, journal, make_pruner

    tmp_path.mkdir()
    storage = journal(tmp_path / "tuning.journal")
    study = optuna.create_study(study_name="s", storage=storage, pruner=make_pruner("median", {"n_startup_trials": 1}))
    study.set_user_attr("pruner", "median")
    study.set_user_attr("pruner_args", {"n_startup_trials": 1})
    first = study.ask()
    for step, value in values_of_first_trial.items():
        first.report(-value, step)
    study.tell(first, -max(values_of_first_trial.values()))
    study.ask()
    tuning = OmegaConf.create({"storage": str(tmp_path / "tuning.journal"), "study": "s", "trial": 1})
    return TrialReport(tuning, lower_is_better=False)


def test_a_trial_at_the_baseline_is_not_pruned_while_every_trial_is_there(tmp_path):
    """Parity at chance (baseline 0.5): 0.510 against another trial's 0.521 is noise, not a worse
    learning rate; once the other trial has left the baseline (0.9), the same value is pruned."""
    report = plateau_search(tmp_path / "a", {200: 0.521, 400: 0.53})
    assert not report.prune(0.510, 200, baseline=0.5)  # the median pruner alone would stop it
    assert not report.prune(0.505, 400, baseline=0.5)
    report = plateau_search(tmp_path / "b", {200: 0.9})
    assert report.prune(0.510, 200, baseline=0.5)


def test_a_trial_that_moved_from_the_baseline_is_the_pruners(tmp_path):
    report = plateau_search(tmp_path / "a", {200: 0.521})
    assert report.prune(0.2, 200, baseline=0.5)  # far worse than chance: diverging, pruned
    report = plateau_search(tmp_path / "b", {200: 0.95})
    assert report.prune(0.7, 200, baseline=0.5)  # learning, but slower than the median
    report = plateau_search(tmp_path / "c", {200: 0.521})
    assert report.prune(0.51, 200, baseline=None)  # no baseline: the pruner alone
    report = plateau_search(tmp_path / "d", {200: 0.521})
    assert report.prune(float("nan"), 200, baseline=0.5)  # a value that is no number: the pruner's


def test_progress_is_the_fraction_of_the_gap_to_a_perfect_score():
    from rnnbench.training.trial import progress

    assert progress(0.75, 0.5, lower_is_better=False) == 0.5
    assert progress(0.05, 0.2, lower_is_better=True) == pytest.approx(0.75)
    assert progress(0.4, 0.2, lower_is_better=True) == -1.0
    assert progress(1.0, 1.0, lower_is_better=False) == 0.0
