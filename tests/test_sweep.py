"""Sweeps on Hydra's launcher and sweeper plugins (the `sweep` extra): parallel jobs writing into
one sweep folder, submitit's local executor, a ready search of rnnbench's tuner; and the outcome bookkeeping that
sets the exit code whichever process ran the jobs."""

from __future__ import annotations

import json
import math
import os

import pytest
from omegaconf import OmegaConf

from rnnbench.launch.sweep import job_threads, outcome_of
from tests.conftest import DIVERGED, TINY, run_cli


def summaries(folder):
    return {p.parent.name: json.loads(p.read_text()) for p in folder.rglob("summary.json")}


@pytest.mark.slow
def test_parallel_jobs_write_complete_distinct_records_and_failures_are_listed(tmp_path):
    """8 jobs on 2 joblib workers into one sweep folder: 2 complete, 2 diverge (a ReLU RNN at lr
    1000 without clipping), 4 raise (seq_len=1). Every record is whole and in its own folder; the exit code and
    the report list the 6 failures with their reasons."""
    out = run_cli(
        "train",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "seed=0,1",
        "model=rnn",
        "model.cell.nonlinearity=relu",
        "trainer.lr=0.001,1000",
        "trainer.grad_clip=null",
        "dataset.seq_len=12,1",
        *TINY,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert out.returncode == 1, out.stderr[-2000:]
    assert "6 of 8 runs failed" in out.stderr and "Traceback" not in out.stderr
    records = summaries(tmp_path / "sweep")
    assert len(records) == 8  # one folder per job
    reasons = sorted(str(s["reason"]) for s in records.values())
    assert sum(bool(DIVERGED.match(r)) for r in reasons) == 2  # nan or inf, by the CPU's kernels
    assert sum("dataset.seq_len must be ≥ 2" in r for r in reasons) == 4
    completed = [s for s in records.values() if s["status"] == "completed"]
    assert len(completed) == 2 and {s["seed"] for s in completed} == {0, 1}
    assert all(s["threads"] == job_threads({"_target_": "joblib", "n_jobs": 2}) for s in completed)
    for run in (tmp_path / "sweep").iterdir():
        if run.is_dir() and (run / "metrics.jsonl").exists():  # every line whole JSON
            assert all(json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines())
    assert not list((tmp_path / "sweep").rglob("*.tmp"))  # no temporary file left behind
    report = run_cli("report", "sweep", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert report.stdout.count("diverged: loss became") == 2


@pytest.mark.slow
def test_submitit_local_runs_a_two_job_sweep(tmp_path):
    out = run_cli(
        "train",
        "-m",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=5",
        "hydra.launcher.cpus_per_task=1",
        "model=rnn,gru",
        *TINY,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    records = summaries(tmp_path / "sweep")
    assert sorted(s["model"] for s in records.values()) == ["gru", "rnn"]
    assert all(s["status"] == "completed" and s["threads"] == 1 for s in records.values())
    assert (tmp_path / "sweep" / ".submitit").is_dir()


@pytest.mark.slow
def test_a_ready_search_tries_the_space_and_keeps_every_trial(tmp_path):
    """hparams_search=adding_gru through the console script: the tuner's trials are ordinary
    records on validation only, best.yaml names the best of them."""
    out = run_cli(
        "train", "hparams_search=adding_gru", "hydra.sweeper.n_trials=3", *TINY, "hydra.sweep.dir=search", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    records = summaries(tmp_path / "search")
    assert len(records) == 3 and all(s["status"] in ("completed", "pruned") for s in records.values())
    lrs = {s["hparams"]["trainer.lr"] for s in records.values()}
    assert len(lrs) == 3 and all(1e-4 <= lr <= 3e-2 for lr in lrs)
    assert all(s["final"] == {} for s in records.values())  # no trial touches the test split
    best = OmegaConf.load(tmp_path / "search" / "best.yaml")
    completed = [s for s in records.values() if s["status"] == "completed"]
    assert best.best_value == pytest.approx(min(s["best"]["mse"] for s in completed))


def test_job_threads_share_the_cores():
    assert job_threads({"_target_": "hydra_plugins.hydra_joblib_launcher.JoblibLauncher", "n_jobs": 2}, cores=8) == 4
    assert job_threads({"_target_": "x.JoblibLauncher", "n_jobs": -1}, cores=8) == 1
    assert job_threads({"_target_": "x.JoblibLauncher", "n_jobs": -2}, cores=8) == 1
    assert job_threads({"_target_": "x.JoblibLauncher", "n_jobs": 16}, cores=8) == 1
    assert job_threads({"_target_": "x.submitit_launcher.LocalLauncher", "cpus_per_task": 3}) == 3
    assert job_threads({"_target_": "x.submitit_launcher.LocalLauncher", "cpus_per_task": None}) is None
    assert job_threads({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}) is None


def test_outcomes_are_read_from_the_records(tmp_path):
    for name, text in {
        "a": '{"status": "completed", "reason": null}',
        "b": '{"status": "failed", "reason": "x"}',
        "c": '{"status": "running"}',
        "d": "{not json",
    }.items():
        os.makedirs(tmp_path / name)
        (tmp_path / name / "summary.json").write_text(text)
    outcomes = {name: outcome_of(tmp_path / name) for name in "abcd"}
    assert [outcomes[k]["status"] for k in "abcd"] == ["completed", "failed", "running", "unreadable"]
    assert outcomes["b"]["reason"] == "x" and "resume" in outcomes["c"]["reason"]


def test_a_missing_plugin_names_the_extra():
    from hydra.errors import MissingConfigException

    from rnnbench.config import hydra_error_message

    exc = MissingConfigException("not found", missing_cfg_file="hydra/launcher/joblib", options=["basic"])
    assert hydra_error_message(exc) == (
        "unknown hydra/launcher 'joblib'; choose from: basic (joblib comes with "
        "the sweep extra: pip install -c constraints.txt -e '.[sweep]')"
    )


def test_a_job_returns_the_validation_value_only_for_a_completed_run(tmp_path, monkeypatch):
    """What an Optuna sweeper minimises: the last validation value of the primary metric of a
    completed run, NaN for a run that diverged, even after an evaluation that went well."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from rnnbench.config import config_dir
    from rnnbench.data.adding import AddingTask
    from rnnbench.launch.job import run_job

    def job(name: str) -> float:
        with initialize_config_dir(str(config_dir()), version_base="1.3"):
            cfg = compose("train", overrides=[*TINY, "hydra.mode=MULTIRUN"], return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(tmp_path / name)
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            del cfg["hydra"]
        return run_job(cfg)

    value = job("completed")
    assert value == json.loads((tmp_path / "completed" / "summary.json").read_text())["final_val"]["mse"]
    calls = {"n": 0}
    loss = AddingTask.loss

    def diverging(self, pred, y):  # call 1 is the memory probe; steps 1-3 are fine, step 4 is not
        calls["n"] += 1
        return loss(self, pred, y) * (float("nan") if calls["n"] >= 5 else 1.0)

    monkeypatch.setattr(AddingTask, "loss", diverging)
    assert math.isnan(job("diverged"))
    summary = json.loads((tmp_path / "diverged" / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["final_val"]  # it had been evaluated at step 3


@pytest.mark.slow
def test_the_batched_launcher_isolates_diverging_members_and_lists_failures(tmp_path):
    """The sweep above on hydra/launcher=batched: the 4 jobs at seq_len=12 (seeds × learning rates)
    are one batched run of 4 members, where the 2 at lr 1000 really diverge and leave the batch;
    the 4 at seq_len=1 are refused one by one. Exit code, failure list and report as above."""
    out = run_cli(
        "train",
        "-m",
        "hydra/launcher=batched",
        "hydra.launcher.batching=always",
        "seed=0,1",
        "model=rnn",
        "model.cell.nonlinearity=relu",
        "trainer.lr=0.001,1000",
        "trainer.grad_clip=null",
        "dataset.seq_len=12,1",
        *TINY,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert out.returncode == 1, out.stderr[-2000:]
    assert "6 of 8 runs failed" in out.stderr and "Traceback" not in out.stderr
    log = out.stdout + out.stderr
    assert "Launching 8 jobs in 2 runs" in log and "4 members of rnn on adding as one batched run" in log
    records = summaries(tmp_path / "sweep")
    assert len(records) == 8
    reasons = sorted(str(s["reason"]) for s in records.values())
    assert sum(bool(DIVERGED.match(r)) for r in reasons) == 2  # nan or inf, by the CPU's kernels
    assert sum("dataset.seq_len must be ≥ 2" in r for r in reasons) == 4
    completed = [s for s in records.values() if s["status"] == "completed"]
    assert len(completed) == 2 and {s["seed"] for s in completed} == {0, 1}
    assert all(s["members"] == 4 for s in records.values() if s["status"] != "failed" or s.get("steps"))
    report = run_cli("report", "sweep", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert report.stdout.count("diverged: loss became") == 2


@pytest.mark.slow
def test_the_batched_launcher_batches_what_it_can(in_process, tmp_path):
    """Seeds of the GRU are one batched run; the transformer's run one after another (its
    operations are not member-aware); a second run of the command finds every run complete."""
    args = (
        "train",
        "-m",
        "hydra/launcher=batched",
        "model=gru,transformer",
        "seed=0,1",
        *TINY,
        "trainer.max_steps=6",
        "trainer.eval_every=3",
        "hydra.sweep.dir=sweep",
    )
    code, _, err = in_process(*args)
    assert code == 0, err[-2000:]
    records = summaries(tmp_path / "sweep")
    members = {(s["model"], s["seed"]): (s["members"], s["member"]) for s in records.values()}
    assert members == {
        ("gru", 0): (2, 0),
        ("gru", 1): (2, 1),
        ("transformer", 0): (None, None),
        ("transformer", 1): (None, None),
    }
    assert all(s["status"] == "completed" for s in records.values())
    assert all((tmp_path / "sweep" / name / ".hydra" / "overrides.yaml").is_file() for name in records)
    code, _, err = in_process(*args)
    assert code == 0 and summaries(tmp_path / "sweep") == records


def test_bad_batched_launcher_settings_are_one_line(in_process):
    code, _, err = in_process(
        "train", "-m", "hydra/launcher=batched", "hydra.launcher.max_members=0", *TINY, "seed=0,1"
    )
    assert code != 0 and "hydra.launcher.max_members must be" in err and "Traceback" not in err


def test_groups_are_cut_until_every_worker_has_a_run():
    from rnnbench.launch.batched import spread

    assert spread([list(range(10))], 2) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert spread([[0, 1, 2]], 2) == [[0, 1], [2]]
    assert spread([[0, 1], [2, 3, 4]], 2) == [[0, 1], [2, 3, 4]]  # two runs already: batched as they are
    assert spread([[0], [1]], 4) == [[0], [1]]  # single jobs cannot be cut
    assert spread([[0, 1, 2, 3]], 3) == [[0], [1], [2, 3]]


@pytest.mark.slow
def test_the_batched_launcher_trains_its_runs_on_workers_side_by_side(tmp_path):
    """hydra.launcher.n_jobs=2: 4 GRU seeds become two batched runs of 2 members, one per worker
    process (1 torch thread each); every member's record equals its single run's (the basic
    launcher's) but for float32 rounding, and its folder and `.hydra/` files are as usual."""
    common = ["model=gru", "seed=0,1,2,3", *TINY, "trainer.max_steps=6", "trainer.eval_every=3"]
    out = run_cli(
        "train",
        "-m",
        "hydra/launcher=batched",
        "hydra.launcher.batching=always",
        "hydra.launcher.n_jobs=2",
        *common,
        "hydra.sweep.dir=workers",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Launching 4 jobs in 2 runs (batched launcher, batching=always, 2 workers)" in out.stdout + out.stderr
    single = run_cli("train", "-m", *common, "hydra.sweep.dir=single", cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-2000:]
    batched = {s["seed"]: s for s in summaries(tmp_path / "workers").values()}
    alone = {s["seed"]: s for s in summaries(tmp_path / "single").values()}
    assert sorted(batched) == [0, 1, 2, 3]
    assert {(s["members"], s["threads"]) for s in batched.values()} == {(2, 1)}
    assert sorted(s["member"] for s in batched.values()) == [0, 0, 1, 1]
    for seed, record in batched.items():
        assert record["status"] == "completed" and record["steps"] == alone[seed]["steps"]
        for metric, value in alone[seed]["final"].items():
            assert record["final"][metric] == pytest.approx(value, rel=1e-3, abs=1e-6)
    assert all((p / ".hydra" / "overrides.yaml").is_file() for p in (tmp_path / "workers").iterdir() if p.is_dir())


def test_bad_worker_counts_are_one_line(in_process):
    code, _, err = in_process("train", "-m", "hydra/launcher=batched", "hydra.launcher.n_jobs=0", *TINY, "seed=0,1")
    assert code != 0 and "hydra.launcher.n_jobs must be" in err and "Traceback" not in err
