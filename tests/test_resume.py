"""A killed run resumes from its checkpoint and ends exactly as an uninterrupted run; completed runs
are left alone; bad checkpoints are refused in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from rnnbench.errors import UserError
from rnnbench.training.checkpoint import FORMAT
from rnnbench.training.record import BEST, CHECKPOINT, METRICS, SUMMARY
from rnnbench.training.trainer import train
from tests.conftest import compose_config, run_cli


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / METRICS).read_text().splitlines()]


def same_results(a, b):
    """Bit-for-bit equal losses, validation and test metrics; times may differ."""
    assert [{k: v for k, v in r.items() if k not in ("tokens_per_s", "wall_s")} for r in rows(a)] == [
        {k: v for k, v in r.items() if k not in ("tokens_per_s", "wall_s")} for r in rows(b)
    ]
    sa, sb = (json.loads((d / SUMMARY).read_text()) for d in (a, b))
    for key in ("final", "final_val", "best", "best_step", "steps", "status"):
        assert sa[key] == sb[key], key


class Killed(BaseException):
    """Stands in for kill -9 in-process: not an Exception, so the trainer records nothing."""


def kill_after_checkpoint(monkeypatch, at_step):
    from rnnbench.training.record import RunRecord

    save = RunRecord.save_checkpoint

    def save_then_die(self, state, name=CHECKPOINT):
        save(self, state, name)
        if name == CHECKPOINT and state["step"] == at_step:
            raise Killed

    monkeypatch.setattr(RunRecord, "save_checkpoint", save_then_die)


@pytest.mark.parametrize(
    "overrides",
    [
        ("model=lstm", "model.num_layers=2", "model.dropout=0.3"),  # dropout: torch's RNG must be restored
        ("model=gru", "dataset=text"),  # truncated BPTT: the carried recurrent state must be restored
        ("model=seq2seq", "dataset=reverse", "model.teacher_forcing=0.5"),  # coin flips from torch's RNG
    ],
)
def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch, overrides):
    cfg = compose_config(*overrides, "trainer.max_steps=9", "trainer.eval_every=3")
    train(cfg, tmp_path / "whole")
    with monkeypatch.context() as m:
        kill_after_checkpoint(m, at_step=3)
        with pytest.raises(Killed):
            train(cfg, tmp_path / "killed")
    assert json.loads((tmp_path / "killed" / SUMMARY).read_text())["status"] == "running"
    summary = train(cfg, tmp_path / "killed")
    assert summary["resumed"][0]["step"] == 3
    same_results(tmp_path / "whole", tmp_path / "killed")


def test_a_completed_run_is_not_trained_again(tmp_path):
    cfg = compose_config()
    first = train(cfg, tmp_path)
    before = (tmp_path / SUMMARY).read_bytes()
    again = train(cfg, tmp_path)
    assert again["final"] == first["final"] and (tmp_path / SUMMARY).read_bytes() == before


def test_resuming_with_another_config_is_refused(tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        kill_after_checkpoint(m, at_step=3)
        with pytest.raises(Killed):
            train(compose_config(), tmp_path)
    with pytest.raises(
        UserError, match=r"written by another config \(model.hidden_size: 8 → 16\); resume with the same"
    ):
        train(compose_config("model.hidden_size=16"), tmp_path)
    train(compose_config("trainer.progress=true"), tmp_path)  # display settings may change


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:200]), r"is unreadable \(truncated or not a checkpoint"),
        (lambda p: p.write_bytes(b"not a checkpoint"), r"is unreadable \(truncated or not a checkpoint"),
        (
            lambda p: torch.save({"format": "rnnbench.checkpoint/9"}, p),
            "has format 'rnnbench.checkpoint/9'.*upgrade rnnbench",
        ),
        (lambda p: torch.save({"step": 3}, p), "has format None"),
        (
            lambda p: torch.save({**torch.load(p, weights_only=True), "model": {"w": torch.zeros(1)}}, p),
            "its model state does not fit this model",
        ),
    ],
)
def test_bad_checkpoints_are_refused_in_one_line(tmp_path, monkeypatch, damage, message):
    with monkeypatch.context() as m:
        kill_after_checkpoint(m, at_step=3)
        with pytest.raises(Killed):
            train(compose_config(), tmp_path)
    damage(tmp_path / CHECKPOINT)
    with pytest.raises(UserError, match=message) as info:
        train(compose_config(), tmp_path)
    assert "\n" not in str(info.value) and ("delete it" in str(info.value) or "upgrade" in str(info.value))


def test_checkpoints_load_with_weights_only_and_keep_best(tmp_path):
    train(compose_config("trainer.keep_best=true"), tmp_path)
    for name in (CHECKPOINT, BEST):
        state = torch.load(tmp_path / name, weights_only=True)
        assert state["format"] == FORMAT and "model" in state
    summary = json.loads((tmp_path / SUMMARY).read_text())
    assert torch.load(tmp_path / BEST, weights_only=True)["step"] == summary["best_step"]


def test_a_failed_run_keeps_no_checkpoint_and_starts_over(tmp_path, monkeypatch):
    from rnnbench.data.adding import AddingTask

    loss = AddingTask.loss
    monkeypatch.setattr(AddingTask, "loss", lambda self, p, y: loss(self, p, y) * float("nan"))
    assert train(compose_config(), tmp_path)["status"] == "failed"
    assert not (tmp_path / CHECKPOINT).exists()
    monkeypatch.setattr(AddingTask, "loss", loss)
    assert train(compose_config(), tmp_path)["status"] == "completed"


@pytest.mark.slow
def test_kill_9_then_resume_from_the_command_line(tmp_path):
    """A real SIGKILL after the first checkpoint; `rnnbench resume` finishes the run with the
    metrics of an uninterrupted one."""
    args = [
        "train",
        "model=lstm",
        "model.num_layers=2",
        "model.dropout=0.2",
        "model.hidden_size=32",
        "dataset.seq_len=100",
        "dataset.n_train=4000",
        "trainer.max_steps=600",
        "trainer.eval_every=50",
        "trainer.batch_size=32",
        "trainer.progress=false",
        "trainer.threads=1",
    ]
    assert run_cli(*args, "hydra.run.dir=whole", cwd=tmp_path).returncode == 0
    env = {**os.environ, "RNNBENCH_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnbench", *args, "hydra.run.dir=killed"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = tmp_path / "killed" / CHECKPOINT
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    summary = json.loads((tmp_path / "killed" / SUMMARY).read_text())
    assert summary["status"] == "running", "the run finished before it could be killed; make it longer"
    out = run_cli("resume", str(tmp_path / "killed"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    resumed = json.loads((tmp_path / "killed" / SUMMARY).read_text())
    assert resumed["resumed"][0]["step"] >= 50
    same_results(tmp_path / "whole", tmp_path / "killed")


@pytest.mark.slow
def test_an_unwritable_output_folder_is_one_line(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    out = run_cli("train", "output_root=a_file/outputs", "trainer.max_steps=1", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert (
        out.stderr.startswith("rnnbench: error: cannot write to a_file/outputs")
        and "not a directory; choose a writable folder with output_root=DIR" in out.stderr
    )


def test_a_record_from_before_the_package_layout_is_the_same_run():
    """The trainer settings' class moved (rnnbench.train → rnnbench.training.build): a run started
    before resumes and is grouped with new ones (config.INCIDENTAL_KEYS)."""
    from rnnbench.training.record import changes, flatten

    old = flatten({"trainer": {"_target_": "rnnbench.train.TrainerSettings", "lr": 0.01}})
    new = flatten({"trainer": {"_target_": "rnnbench.training.build.TrainerSettings", "lr": 0.01}})
    assert changes(old, new) == ""
    assert "trainer.lr" in changes(old, {**new, "trainer.lr": 0.1})


@pytest.mark.parametrize("name", ["runs/é [1]", "runs/it's, a=b", 'runs/"quoted"'])
def test_resume_takes_any_folder_name(in_process, tmp_path, name):
    """`rnnbench resume DIR` hands DIR to Hydra quoted: accents, brackets, quotes, commas and
    equals signs in a path are a folder, not override syntax."""
    from rnnbench.config import quoted
    from tests.conftest import TINY

    assert in_process("train", *TINY, f"hydra.run.dir={quoted(name)}")[0] == 0
    summary = json.loads((tmp_path / name / "summary.json").read_text())
    code, _, err = in_process("resume", name)
    assert code == 0, err
    assert json.loads((tmp_path / name / "summary.json").read_text()) == summary  # completed: left as it is


def test_a_folder_without_permission_is_one_line(in_process, monkeypatch):
    """As a user without write permission sees it (CI runs as root, who may write anywhere: the
    refusal is made by os.mkdir here)."""
    import errno

    from tests.conftest import TINY

    mkdir = os.mkdir

    def denied(path, *args, **kwargs):
        if "locked" in str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", denied)
    code, _, err = in_process("train", *TINY, "output_root=locked/outputs")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "permission denied; choose a writable folder with output_root=DIR" in err
