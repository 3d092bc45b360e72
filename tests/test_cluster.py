"""The parts of running on SLURM that need no cluster: a stop signal taken at a step's end with a
checkpoint that resumes exactly (preemption.py), job states read from squeue (launch/slurm.py), the
memory a SLURM job was given, and the one line when there is no SLURM. On a real cluster:
tests/test_slurm.py."""

from __future__ import annotations

import json
import os
import signal

import pytest

from rnnbench.errors import UserError
from rnnbench.training import memory, preemption
from rnnbench.training.trainer import train
from tests.conftest import compose_config, run_cli
from tests.test_resume import same_results


class Requeued(BaseException):
    """What submitit's handler does after `scontrol requeue`: leave the process (SystemExit)."""


def test_a_stop_signal_is_noted_and_handed_to_the_displaced_handler_at_the_step_end(tmp_path):
    """A tiny run gets SIGUSR2 before its first step (as from SLURM while it builds): it finishes
    step 1, checkpoints there (not a validation step), hands the signal on; trained again, it
    resumes at step 1 and ends exactly as a run never stopped."""
    cfg = compose_config("trainer.max_steps=9", "trainer.eval_every=3")
    train(cfg, tmp_path / "whole")
    received = []

    def submitit_like(signum, frame):
        received.append(signum)
        raise Requeued

    previous = signal.signal(signal.SIGUSR2, submitit_like)
    try:
        with pytest.raises(Requeued), preemption.deferred((signal.SIGUSR2,)):
            os.kill(os.getpid(), signal.SIGUSR2)
            assert preemption.pending() and not received  # noted, not handled
            train(cfg, tmp_path / "stopped")
        assert received == [signal.SIGUSR2] and signal.getsignal(signal.SIGUSR2) is submitit_like
    finally:
        signal.signal(signal.SIGUSR2, previous)
    summary = json.loads((tmp_path / "stopped" / "summary.json").read_text())
    assert summary["status"] == "running" and summary["steps"] == 1
    resumed = train(cfg, tmp_path / "stopped")
    assert [r["step"] for r in resumed["resumed"]] == [1]
    same_results(tmp_path / "whole", tmp_path / "stopped")


def test_a_signal_after_training_is_dropped_and_handlers_are_restored():
    calls = []
    previous = signal.signal(signal.SIGUSR2, lambda s, f: calls.append(s))
    try:
        with preemption.deferred((signal.SIGUSR2,)):
            os.kill(os.getpid(), signal.SIGUSR2)
            assert preemption.pending()
        assert not preemption.pending() and calls == []
        os.kill(os.getpid(), signal.SIGUSR2)
        assert calls == [signal.SIGUSR2]  # the displaced handler is back
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_only_submitit_jobs_defer_signals(monkeypatch):
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    assert preemption.job_signals() == ()
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    assert preemption.job_signals() == (signal.SIGUSR2, signal.SIGTERM)
    monkeypatch.setenv("SUBMITIT_PREEMPT_SIGNAL", "USR1")
    assert preemption.job_signals() == (signal.SIGUSR1, signal.SIGTERM)


def test_job_states_come_from_squeue_and_a_job_no_longer_listed_has_ended():
    pytest.importorskip("submitit")
    from rnnbench.launch.slurm import SqueueWatcher

    watcher = SqueueWatcher(delay_s=60)
    for job in ("41_0", "41_1", "41_2", "42"):
        watcher.register_job(job)
    out = "JOBID|STATE|NODELIST\n41_0|RUNNING|node1\n41_1|PENDING|\n42|COMPLETED|node2\n"  # squeue --format=%i|%T|%N
    watcher._info_dict.update(watcher.read_info(out))
    assert [watcher.get_state(j, mode="cache") for j in ("41_0", "41_1", "41_2", "42")] == [
        "RUNNING",
        "PENDING",
        "ENDED",
        "COMPLETED",
    ]
    assert watcher.is_done("41_2", mode="cache") and not watcher.is_done("41_1", mode="cache")
    assert watcher._make_command()[:2] == ["squeue", "--me"]


def test_a_slurm_jobs_memory_is_its_allocation(monkeypatch):
    free = memory.available_bytes("cpu")
    monkeypatch.setenv("SLURM_MEM_PER_NODE", "64")  # MB, as sbatch --mem=64M sets it
    assert memory.available_bytes("cpu") == min(free, 64 * memory.MIB)
    cfg = compose_config("model=lstm", "model.hidden_size=256", "dataset.seq_len=400", "trainer.batch_size=128")
    with pytest.raises(UserError, match=r"is available \(to this SLURM job: hydra.launcher.mem_gb asks for more\)"):
        from rnnbench.training.build import build
        from rnnbench.training.trainer import step_memory

        step_memory(build(cfg))


def test_without_slurm_the_launcher_says_so(tmp_path):
    out = run_cli("train", "-m", "hydra/launcher=slurm", "debug=tiny", cwd=tmp_path, PATH=str(tmp_path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "sbatch is not installed here (scripts/slurm-local.sh starts a one-node cluster" in out.stderr
