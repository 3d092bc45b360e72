"""Records that cannot be lost or mixed up: one folder per run and one writer per folder, a folder
that holds another config refused before anything in it is written, a full disk that keeps the
last good checkpoint, a report that is written whole or not at all, and file names no record value
can steer."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from rnnbench.config import fresh_dir, run_id
from rnnbench.errors import UserError
from rnnbench.report import write_report
from rnnbench.training import record
from rnnbench.training.record import CHECKPOINT, METRICS, SUMMARY, FolderRefused, RunRecord
from rnnbench.training.trainer import train
from tests.conftest import TINY, compose_config, run_cli
from tests.test_report import fake_run
from tests.test_resume import Killed, kill_after_checkpoint, same_results


def listing(folder):
    """Every file under `folder` with its bytes: what a refused command must leave as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- 1: a folder of its own, one writer -----------------------------------------------------------


def test_fresh_dirs_are_made_exclusively(tmp_path):
    names = [fresh_dir(str(tmp_path / "runs" / "same_second")) for _ in range(3)]
    assert [os.path.basename(n) for n in names] == ["same_second", "same_second-2", "same_second-3"]
    assert all(os.path.isdir(n) for n in names)
    unwritable = tmp_path / "a_file"
    unwritable.write_text("x")
    assert fresh_dir(str(unwritable / "runs" / "x")) == str(unwritable / "runs" / "x")  # its writer says why


def test_a_sweep_subfolder_is_named_by_the_config_not_the_job_number():
    assert run_id(["model=rnn", "seed=0"]) == run_id(["seed=0", "model=rnn"]) != run_id(["model=rnn", "seed=1"])
    assert run_id(["model=rnn", "trainer.progress=true", "output_root=x"]) == run_id(["model=rnn"])  # incidental keys


def test_a_second_writer_of_a_folder_is_refused_and_writes_nothing(tmp_path):
    cfg = compose_config()
    with RunRecord(tmp_path / "run").lock():
        before = listing(tmp_path)
        with pytest.raises(FolderRefused, match=r"run is in use by another rnnbench process.*choose another folder"):
            train(cfg, tmp_path / "run")
        assert listing(tmp_path) == before
    assert train(cfg, tmp_path / "run")["status"] == "completed"  # the lock goes with its holder


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    """flock belongs to the process: kill -9 releases it, there is no stale lock file to clean."""
    folder = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from rnnbench.training.record import RunRecord\n"
            f"with RunRecord({str(folder)!r}).lock():\n    print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(FolderRefused):
        with RunRecord(folder).lock():
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with RunRecord(folder).lock():
        assert not any(folder.iterdir())  # and nothing was written to hold it


@pytest.mark.slow
def test_two_runs_started_in_the_same_second_keep_both_records(tmp_path):
    """The reproduction of the defect: two commands at once, one config apart, one output root."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rnnbench", "train", *TINY, f"trainer.lr={lr}", "output_root=X"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "RNNBENCH_OFFLINE": "1"},
        )
        for lr in (0.001, 0.02, 0.001)
    ]
    assert [p.wait() for p in procs] == [0, 0, 0]
    records = [json.loads(p.read_text()) for p in (tmp_path / "X" / "runs").glob("*/summary.json")]
    assert sorted(r["hparams"]["trainer.lr"] for r in records) == [0.001, 0.001, 0.02]
    assert all(r["status"] == "completed" for r in records)


@pytest.mark.slow
def test_two_processes_racing_for_one_folder_leave_one_whole_run(tmp_path):
    """Both name the same hydra.run.dir: one trains, the other is refused in one line (it waits
    for nothing and writes nothing), and the record equals an uninterrupted run's."""
    args = [
        "train",
        *TINY,
        "trainer.max_steps=300",
        "trainer.eval_every=50",
        "dataset.seq_len=50",
        "dataset.n_train=2000",
        "model.hidden_size=32",
    ]
    env = {**os.environ, "RNNBENCH_OFFLINE": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rnnbench", *args, "hydra.run.dir=race"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = sorted((p.wait(), p.stderr.read()) for p in procs)
    assert outcomes[0][0] == 0 and outcomes[1][0] == 2, outcomes
    assert "race is in use by another rnnbench process" in outcomes[1][1] and len(outcomes[1][1].splitlines()) == 1
    assert run_cli(*args, "hydra.run.dir=alone", cwd=tmp_path).returncode == 0
    same_results(tmp_path / "race", tmp_path / "alone")


# --- 2, 3: a folder that holds another config -------------------------------------------------------


def test_a_completed_run_of_another_config_is_refused_naming_the_keys(tmp_path):
    train(compose_config(), tmp_path)
    before = listing(tmp_path)
    with pytest.raises(
        FolderRefused,
        match=r"holds a completed run of another config \(optimizer.lr: 0.001 → 0.05, "
        r"trainer.lr: 0.001 → 0.05\); train into a new run folder",
    ):
        train(compose_config("trainer.lr=0.05"), tmp_path)
    assert listing(tmp_path) == before
    assert train(compose_config("trainer.progress=true"), tmp_path)["status"] == "completed"  # incidental: the same run


def test_a_refused_command_leaves_the_killed_run_it_was_refused_for_resumable(in_process, tmp_path, monkeypatch):
    args = [*TINY, "trainer.max_steps=9", "hydra.run.dir=run"]
    with monkeypatch.context() as m:
        kill_after_checkpoint(m, at_step=3)
        with pytest.raises(Killed):
            in_process("train", *args)
    before = listing(tmp_path / "run")
    code, _, err = in_process("train", *args, "trainer.lr=0.05")
    assert code == 2 and "checkpoint.pt was written by another config (optimizer.lr" in err
    assert listing(tmp_path / "run") == before  # .hydra/overrides.yaml included
    code, _, err = in_process("resume", "run", "trainer.threads=1", "trainer.threads=2")
    assert code == 0, err
    summary = json.loads((tmp_path / "run" / SUMMARY).read_text())
    assert summary["status"] == "completed" and summary["resumed"][0]["step"] == 3
    assert summary["threads"] == summary["resumed"][0]["threads"] == 2  # the override replaced, and recorded
    assert (tmp_path / "run" / ".hydra" / "overrides.yaml").read_text().count("trainer.threads") == 1


def test_a_sweep_folder_holds_one_sweep(in_process, tmp_path):
    """The same sweep again continues it (every run there, nothing trained twice); more seeds add
    runs beside the old ones; other overrides are refused before anything is written."""
    sweep = ["-m", *TINY, "model=rnn,gru", "hydra.sweep.dir=sweep"]
    assert in_process("train", *sweep)[0] == 0
    runs = {p.parent.name: p.read_bytes() for p in (tmp_path / "sweep").glob("*/summary.json")}
    assert len(runs) == 2 and all(name.startswith(("rnn_adding_s0_", "gru_adding_s0_")) for name in runs)
    assert in_process("train", *sweep)[0] == 0
    assert {p.parent.name: p.read_bytes() for p in (tmp_path / "sweep").glob("*/summary.json")} == runs
    before = listing(tmp_path / "sweep")
    code, _, err = in_process("train", *sweep, "trainer.lr=0.05")
    assert code == 2 and "sweep holds a sweep of other overrides (trainer.lr: None → '0.05')" in err
    assert listing(tmp_path / "sweep") == before  # multirun.yaml included


@pytest.mark.parametrize(
    "first, second, says",
    [
        (["hydra.run.dir=run"], ["-m", "seed=0,1", "hydra.sweep.dir=run"], "run holds a run; sweep into a new folder"),
        (["hydra.run.dir=run"], ["-m", "seed=0,1", "hydra.sweep.dir=run/inner"], "is inside the run folder"),
        (["hydra.run.dir=run"], ["hydra.run.dir=run/inner"], "is inside the run folder"),
        (["-m", "seed=0,1", "hydra.sweep.dir=sweep"], ["hydra.run.dir=sweep"], "sweep holds a sweep; give the run"),
    ],
)
def test_records_never_nest(in_process, tmp_path, first, second, says):
    """No run's record inside another run's folder, and no single run beside a sweep's runs: the
    second command is refused in one line and writes nothing."""
    assert in_process("train", *first, *TINY)[0] == 0
    before = listing(tmp_path)
    code, _, err = in_process("train", *second, *TINY)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert listing(tmp_path) == before


# --- 6: a full disk -----------------------------------------------------------------------------------


def full_disk_at(monkeypatch, name: str, after: int = 0):
    """Writes of `name` fail with ENOSPC after `after` successful ones, as on a full disk."""
    replace, done = os.replace, {"n": 0}

    def replace_or_fail(src, dst):
        if os.path.basename(dst) == name:
            done["n"] += 1
            if done["n"] > after:
                raise OSError(errno.ENOSPC, "No space left on device")
        return replace(src, dst)

    monkeypatch.setattr(record.os, "replace", replace_or_fail)


def test_a_full_disk_keeps_the_last_good_checkpoint_and_the_run_resumes(tmp_path, monkeypatch):
    cfg = compose_config("trainer.max_steps=9")
    train(cfg, tmp_path / "whole")
    with monkeypatch.context() as m:
        full_disk_at(m, CHECKPOINT, after=1)  # the step-3 checkpoint is written, the step-6 one is not
        with pytest.raises(OSError):
            train(cfg, tmp_path / "full")
    summary = json.loads((tmp_path / "full" / SUMMARY).read_text())
    assert summary["status"] == "failed" and summary["reason"].startswith(
        f"cannot write {tmp_path / 'full' / CHECKPOINT}: the disk is full; the last good checkpoint is kept"
    )
    assert torch.load(tmp_path / "full" / CHECKPOINT, weights_only=True)["step"] == 3
    assert not list((tmp_path / "full").glob(".*.tmp"))
    resumed = train(cfg, tmp_path / "full")
    assert resumed["status"] == "completed" and resumed["resumed"][0]["step"] == 3
    same_results(tmp_path / "whole", tmp_path / "full")


def test_a_report_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    for seed in range(2):
        fake_run(root, f"gru{seed}", "gru", seed, 0.01 + seed / 100)
    write_report([root], tmp_path / "out")
    before = listing(tmp_path / "out")
    with monkeypatch.context() as m:
        full_disk_at(m, "report.html")
        with pytest.raises(UserError, match="report that was there is unchanged"):
            write_report([root], tmp_path / "out")
    assert listing(tmp_path / "out") == before  # no half set, no empty PNG, no temporary folder


@pytest.fixture
def small_disk(tmp_path):
    """A real 256 KiB file system (tmpfs; needs root, as in CI), unmounted after the test."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_a_report_onto_a_full_disk_is_one_line_and_leaves_no_folder(in_process, tmp_path, small_disk):
    root = tmp_path / "runs"
    for seed in range(2):
        fake_run(root, f"gru{seed}", "gru", seed, 0.01 + seed / 100)
    (small_disk / "filler").write_bytes(b"\0" * 200_000)  # the plots no longer fit: matplotlib's PNG writer fails
    code, _, err = in_process("report", str(root), "--out", str(small_disk / "report"))
    assert code == 2 and err == (
        f"rnnbench: error: cannot write to {small_disk / 'report'}: the disk is full (no space left on device); "
        "free some space, or choose a folder on another disk with --out DIR\n"
    )
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]  # no empty report folder left


def test_records_no_parser_can_read_are_skipped_and_long_names_fit_file_names(in_process, tmp_path, recwarn):
    root = tmp_path / "runs"
    for seed in range(2):
        for model in ("gru", "m" * 300):
            run = fake_run(root, f"{model[:8]}{seed}", model, seed, 0.01 + seed / 100)
            summary = json.loads((run / SUMMARY).read_text())
            (run / SUMMARY).write_text(json.dumps({**summary, "dataset": "d" * 300}))
    deep, digits = fake_run(root, "deep", "gru", 5, 0.01), fake_run(root, "digits", "gru", 6, 0.01)
    (deep / SUMMARY).write_text("[" * 100_000 + "]" * 100_000)
    text = (digits / SUMMARY).read_text()
    (digits / SUMMARY).write_text(text.replace('"seed": 6', '"seed": ' + "9" * 5000))
    code, out, err = in_process("report", str(root), "--out", str(tmp_path / "out"))
    assert code == 0 and not [w for w in recwarn if "layout" in str(w.message)]  # long labels are cut to fit
    assert f"{deep}: summary.json is unreadable (nested too deeply to read); skipped" in out
    assert f"{digits}: summary.json is unreadable (Exceeds the limit (4300 digits)" in out
    names = [p.name for p in (tmp_path / "out").iterdir()]
    assert "curves_" + "d" * 55 + "-" in " ".join(names) and max(map(len, names)) < 80


def test_a_full_disk_is_one_line_naming_the_place(in_process, monkeypatch):
    full_disk_at(monkeypatch, "config.yaml")
    code, _, err = in_process("train", *TINY, "hydra.run.dir=run")
    assert (
        code == 2 and err.startswith("rnnbench: error: cannot write to ") and "run/config.yaml: the disk is full" in err
    )
    assert len(err.strip().splitlines()) == 1


# --- 7, 8, 10 -------------------------------------------------------------------------------------------


def test_report_files_and_text_cannot_be_steered_by_record_values(tmp_path):
    root = tmp_path / "runs"
    for seed in range(2):
        run = fake_run(root, f"x{seed}", "<script>alert(1)</script>", seed, 0.01 + seed / 100)
        summary = json.loads((run / SUMMARY).read_text())
        summary["dataset"] = "../../escaped \\input{secret} 100% & #1"
        (run / SUMMARY).write_text(json.dumps(summary))
    markdown = write_report([root], tmp_path / "out")
    assert not list(tmp_path.glob("*.png")) and not list((tmp_path / "runs").glob("*.png"))
    assert all(p.parent == tmp_path / "out" for p in (tmp_path / "out").rglob("*.png"))
    assert "<script>" not in markdown and "&lt;script>" in markdown
    latex = (tmp_path / "out" / "report.tex").read_text()
    assert "\\input{secret}" not in latex and "\\textbackslash{}input\\{secret\\} 100\\% \\& \\#1" in latex
    assert "<script>" not in (tmp_path / "out" / "report.html").read_text()


def test_a_failure_after_the_loop_is_recorded_as_failed(tmp_path, monkeypatch):
    from rnnbench.data.adding import AddingTask

    def broken(self, model, run_dir):
        raise RuntimeError("examine broke")

    monkeypatch.setattr(AddingTask, "examine", broken, raising=False)
    with pytest.raises(RuntimeError, match="examine broke"):
        train(compose_config(), tmp_path)
    summary = json.loads((tmp_path / SUMMARY).read_text())
    assert (summary["status"], summary["reason"]) == ("failed", "RuntimeError: examine broke")
    assert not (tmp_path / CHECKPOINT).exists()  # a bug starts over


def test_record_files_get_the_usual_permissions_and_stale_temporaries_go(tmp_path):
    mask = os.umask(0o022)
    try:
        stale = tmp_path / f".{CHECKPOINT}.abc123.tmp"
        tmp_path.mkdir(exist_ok=True)
        stale.write_bytes(b"half a checkpoint")
        train(compose_config(), tmp_path)
    finally:
        os.umask(mask)
    assert not stale.exists()
    assert {oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir() if p.is_file()} == {"0o644"}


def test_a_record_of_the_wrong_types_is_skipped_with_its_reason(tmp_path):
    good = fake_run(tmp_path, "good", "gru", 0, 0.01)
    variants = {
        "params": "12",
        "final": {"mse": "low"},
        "hparams": [],
        "memory": {"step_mb": "x"},
        "tokens_per_s": "fast",
        "best": 3,
        "baseline": None,
        "seed": 1.5,
        "steps_to_target": "never",
        "analysis": [1],
        "task": "adding",
        "baselines": {"x": [1]},
        "resumed": {},
        "wall_s": True,
    }
    for name, value in variants.items():
        run = fake_run(tmp_path, f"bad_{name}", "gru", 1, 0.02)
        summary = json.loads((run / SUMMARY).read_text())
        summary[name] = value
        (run / SUMMARY).write_text(json.dumps(summary))
    row = fake_run(tmp_path, "bad_row", "gru", 2, 0.03)
    (row / METRICS).write_text('{"step": 50, "val_mse": "0.1"}\n')
    from rnnbench.report.collect import load_runs

    runs = load_runs([tmp_path])
    assert list(runs.runs["dir"]) == [str(good)]
    reasons = {line.split(": ", 1)[0].rsplit("/", 1)[1]: line for line in runs.skipped}
    assert set(reasons) == {f"bad_{name}" for name in variants} | {"bad_row"}
    assert "summary.json: params holds '12', not int | null; skipped" in reasons["bad_params"]
    assert "metrics.jsonl line 1: val_mse holds '0.1', not a number; skipped" in reasons["bad_row"]
    assert write_report([tmp_path], tmp_path / "out")  # the report goes on with the good one


def test_the_promised_python_versions_are_the_ones_the_pins_serve():
    import tomllib
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    requires = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11,<3.13" and "Python 3.11 or 3.12" in (repo / "README.md").read_text()
    assert (3, 11) <= sys.version_info[:2] < (3, 13)


KILLER = """
import io, os, signal, sys, tempfile
from pathlib import Path
from rnnbench import cli
from rnnbench.training import record

moment, at_step = sys.argv[1], int(sys.argv[2])
save = record.RunRecord.save_checkpoint


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def half_then_die(path, write, binary=False):  # the checkpoint's temporary file, half written
    buffer = io.BytesIO()
    write(buffer)
    fd, _ = tempfile.mkstemp(dir=Path(path).parent, prefix=f".{Path(path).name}.", suffix=".tmp")
    os.write(fd, buffer.getvalue()[: len(buffer.getvalue()) // 2])
    os.fsync(fd)
    die()


def killing_save(self, state, name=record.CHECKPOINT):
    if name != record.CHECKPOINT or state["step"] != at_step:
        return save(self, state, name)
    if moment == "before":
        die()
    if moment == "during":
        record.atomic_write = half_then_die
    save(self, state, name)
    die()


record.RunRecord.save_checkpoint = killing_save
sys.exit(cli.main(sys.argv[3:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "kills",
    [
        [("before", 3)],
        [("after", 3)],
        [("during", 6)],
        [("after", 3), ("during", 9)],
        [("before", 3), ("after", 6), ("after", 9)],
    ],
    ids=["before the first checkpoint", "right after one", "while writing one", "twice", "three times"],
)
def test_kill_9_at_every_moment_resumes_to_the_uninterrupted_result(tmp_path, kills):
    """A real SIGKILL at each kind of moment (before the first checkpoint is written, right after a
    checkpoint, half way through a checkpoint's temporary file, several times in one run); the same
    command then finishes the run with the metrics of an uninterrupted one, bit for bit."""
    args = [
        "train",
        *TINY,
        "model=lstm",
        "model.num_layers=2",
        "model.dropout=0.3",
        "trainer.max_steps=12",
        "trainer.eval_every=3",
        "trainer.threads=1",
    ]
    env = {**os.environ, "RNNBENCH_OFFLINE": "1"}
    assert run_cli(*args, "hydra.run.dir=whole", cwd=tmp_path).returncode == 0
    for moment, step in kills:
        killed = subprocess.run(
            [sys.executable, "-c", KILLER, moment, str(step), *args, "hydra.run.dir=killed"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        assert json.loads((tmp_path / "killed" / SUMMARY).read_text())["status"] == "running"
    assert run_cli(*args, "hydra.run.dir=killed", cwd=tmp_path).returncode == 0
    same_results(tmp_path / "whole", tmp_path / "killed")
    assert not list((tmp_path / "killed").glob(".*.tmp"))
