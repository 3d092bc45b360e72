"""rnnbench on a real SLURM cluster (hydra/launcher=slurm): the one-node cluster that
scripts/slurm-local.sh starts on this machine, which `.ci/run` starts before the tests. Skipped
where no cluster answers. Every job here asks for one CPU and runs one torch thread, as the
reference runs on the basic launcher do, so records compare bit for bit."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import DIVERGED, TINY, run_cli


def cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(["sinfo", "--noheader", "--format=%a"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "up" in out.stdout


# CI sets RNNBENCH_SLURM_REQUIRED (.ci/run starts the cluster): there a missing cluster fails the tests.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.slurm,
    pytest.mark.skipif(
        not os.environ.get("RNNBENCH_SLURM_REQUIRED") and not cluster_up(),
        reason="no SLURM cluster here: bash scripts/slurm-local.sh starts one",
    ),
]

SLURM = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.partition=cpu"]
ONE_THREAD = ["trainer.threads=1"]
LONG = [*TINY, "model=gru", "trainer.max_steps=4000", "trainer.eval_every=1000", *ONE_THREAD]
# What differs between two runs of one config: clocks, speeds, the process, the resumes.
TIMING = {
    "wall_s",
    "train_s",
    "data_s",
    "eval_s",
    "tokens_per_s",
    "infer_tokens_per_s",
    "started_at",
    "finished_at",
    "max_rss_mb",
    "seconds_to_target",
    "resumed",
}


def records(folder) -> dict[str, dict]:
    """Run folder name → its summary without timing fields, with its metric rows without timing."""
    out = {}
    for path in folder.rglob("summary.json"):
        summary = {k: v for k, v in json.loads(path.read_text()).items() if k not in TIMING}
        metrics = path.parent / "metrics.jsonl"
        rows = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.exists() else []
        summary["rows"] = [{k: v for k, v in row.items() if k not in TIMING} for row in rows]
        out[path.parent.name] = summary
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The long GRU run on the basic launcher, never stopped."""
    where = tmp_path_factory.mktemp("reference")
    out = run_cli("train", "-m", *LONG, "hydra.sweep.dir=sweep", cwd=where)
    assert out.returncode == 0, out.stderr[-2000:]
    (record,) = records(where / "sweep").values()
    return record


def test_a_sweep_on_slurm_leaves_the_records_of_the_basic_launcher_and_lists_failures(tmp_path):
    """4 jobs, 2 of which diverge (a ReLU RNN at lr 1000 without clipping): the records equal the
    basic launcher's field for field (timing aside), the exit code and the list name the 2
    failures, the job state polling says nothing (no accounting here: squeue)."""
    sweep = [
        *TINY,
        *ONE_THREAD,
        "model=rnn",
        "model.cell.nonlinearity=relu",
        "trainer.grad_clip=null",
        "trainer.lr=0.001,1000",
        "seed=0,1",
    ]
    on_slurm = run_cli("train", "-m", *SLURM, *sweep, "hydra.sweep.dir=sweep", cwd=tmp_path)
    basic = run_cli("train", "-m", *sweep, "hydra.sweep.dir=basic", cwd=tmp_path)
    assert on_slurm.returncode == basic.returncode == 1, on_slurm.stderr[-2000:]
    assert "2 of 4 runs failed" in on_slurm.stderr and len(DIVERGED.findall(on_slurm.stderr)) == 2
    assert "sacct" not in on_slurm.stderr and "Traceback" not in on_slurm.stderr
    slurm_records, basic_records = records(tmp_path / "sweep"), records(tmp_path / "basic")
    assert len(slurm_records) == 4 and slurm_records == basic_records
    assert {r["threads"] for r in slurm_records.values()} == {1}
    assert len(list((tmp_path / "sweep" / ".submitit").glob("*_*/*_result.pkl"))) == 4  # 4 SLURM jobs, one array


def job_of(sweep) -> str:
    """The SLURM id of the (first) job of a sweep, from submitit's folders."""
    ids = sorted(
        p.name
        for p in (sweep / ".submitit").iterdir()
        if re.fullmatch(r"\d+(_\d+)?", p.name) and list(p.glob("*_log.out"))
    )
    return ids[0]


def wait_for_steps(run_glob, sweep, steps: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    end = time.time() + timeout
    while time.time() < end:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        for path in sweep.glob(f"{run_glob}/summary.json"):
            try:
                if (json.loads(path.read_text()).get("steps") or 0) >= steps:
                    return
            except json.JSONDecodeError:
                pass  # the summary is replaced atomically; a read can only be early
        time.sleep(0.2)
    pytest.fail(f"no run of {sweep} reached step {steps}")


def squeue_state(job: str) -> str:
    out = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--format=%T", "-j", job], capture_output=True, text=True
    )
    return out.stdout.strip()


def start(tmp_path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rnnbench", "train", "-m", *SLURM, *overrides, "hydra.sweep.dir=sweep"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RNNBENCH_OFFLINE": "1"},
    )


def test_a_preempted_job_checkpoints_is_requeued_and_ends_as_if_never_stopped(tmp_path, uninterrupted):
    """SLURM's preemption signal (USR2, what it sends `signal_delay_s` before a time limit) in the
    middle of training: the job checkpoints at the end of its step, submitit requeues it, and the
    requeued job resumes there and ends with the uninterrupted run's record."""
    proc = start(tmp_path, *LONG)
    wait_for_steps("*", tmp_path / "sweep", 1000, proc)
    job = job_of(tmp_path / "sweep")
    subprocess.run(["scancel", "--signal=USR2", job], check=True)
    end = time.time() + 60
    while squeue_state(job) not in ("PENDING", "REQUEUED") and time.time() < end:
        time.sleep(0.2)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)  # SLURM holds it ~2 min
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    (path,) = (tmp_path / "sweep").glob("*/summary.json")
    resumed = json.loads(path.read_text())["resumed"]
    assert len(resumed) == 1 and 1000 <= resumed[0]["step"] < 4000  # from the step it was stopped at
    log = (tmp_path / "sweep" / ".submitit" / job).glob("*_log.out")
    assert "stopped by the cluster at step" in next(log).read_text()
    (record,) = records(tmp_path / "sweep").values()
    assert record == uninterrupted


def test_a_job_killed_without_warning_is_listed_and_the_same_command_resumes_it(tmp_path, uninterrupted):
    """The job's process killed as the kernel's OOM killer or a failing node would (SIGKILL, no
    warning): the sweep lists it, and the same command resumes it from its last checkpoint."""
    proc = start(tmp_path, *LONG)
    wait_for_steps("*", tmp_path / "sweep", 2000, proc)
    subprocess.run(["pkill", "-KILL", "-f", f"submitit.core._submit {tmp_path / 'sweep' / '.submitit'}"], check=True)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "1 of 1 runs failed" in err, err[-2000:]
    assert "ended without finishing (state" in err and "run the same command again to resume it" in err
    again = run_cli("train", "-m", *SLURM, *LONG, "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    (path,) = (tmp_path / "sweep").glob("*/summary.json")
    assert [r["step"] for r in json.loads(path.read_text())["resumed"]] == [2000]  # its last checkpoint
    (record,) = records(tmp_path / "sweep").values()
    assert record == uninterrupted


@pytest.mark.parametrize(
    "override, says",
    [
        (
            "hydra.launcher.partition=gpu",
            "hydra.launcher.partition=gpu: no such partition on this cluster; choose from: cpu",
        ),
        ("hydra.launcher.cpus_per_task=0", "hydra.launcher.cpus_per_task must be an integer in [1, 4096], got 0"),
        ("hydra.launcher.cpus_per_task=4096", "the nodes of partition cpu have"),
        ("hydra.launcher.mem_gb=100000", "the partition's nodes have"),
        ("hydra.launcher.constraint=nope", "sbatch refused the jobs: Batch job submission failed: Invalid feature"),
    ],
)
def test_bad_launcher_settings_are_one_line(tmp_path, override, says):
    out = run_cli("train", "-m", *SLURM, *TINY, "model=gru", override, "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert out.returncode == 2 and says in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert not list((tmp_path / "sweep").rglob("summary.json"))


def test_a_study_part_runs_on_slurm(tmp_path, monkeypatch, capsys, own_logging):
    """A study's tuning (trials launched two at a time, each batch a job array) and its fresh-seed
    runs as SLURM jobs: `hydra/launcher=slurm` on the study's command replaces the plan's launcher."""
    from rnnbench import cli
    from rnnbench.study import plan as study

    tiny = study.Plan(
        seeds=3,
        tune={"params": {"trainer.lr": "tag(log, interval(1e-3, 1e-1))"}, "n_trials": 2, "n_jobs": 2},
        launcher=["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    )
    tiny.parts = {
        "adding": study.Part(
            True,
            study._units(
                "adding", {m: [f"model={m}"] for m in ("rnn", "gru")}, ["dataset=adding", "dataset.seq_len=6"]
            ),
        )
    }
    monkeypatch.setattr("rnnbench.study.protocol.study_plan", lambda name, scale: tiny)
    monkeypatch.chdir(tmp_path)
    code = cli.main(
        ["study", "claims", "study.dir=s", *SLURM, *TINY, *ONE_THREAD, "trainer.max_steps=20", "trainer.eval_every=10"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err[-3000:]
    paths = list((tmp_path / "s").rglob("summary.json"))
    summaries = [json.loads(p.read_text()) for p in paths]
    assert all(s["status"] == "completed" for s in summaries)
    fresh = [p for p in paths if "/test/" in str(p) or "fresh_seeds" in str(p)]
    # 2 trials per model, 2 more where the best learning rate ends at the range's edge (issue 30)
    assert len(fresh) == 2 * 3 and len(paths) - len(fresh) in (4, 6, 8), sorted(map(str, paths))
    assert len(list((tmp_path / "s").rglob(".submitit/*_*/*_result.pkl"))) == len(paths)  # every run a SLURM job
    assert "## Claims" in out or "| model" in out
