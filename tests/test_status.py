"""`rnnbench status` on a sweep with a fabricated running run (its folder locked as a trainer
locks it), a stopped one and jobs not started; `rnnbench report --include-running`."""

from __future__ import annotations

import json
import os
import time

from omegaconf import OmegaConf

from rnnbench.training.record import RunRecord
from tests.conftest import TINY


def test_status_counts_states_and_gives_each_running_run_its_rate_and_time_left(in_process, tmp_path):
    code, _, err = in_process(
        "train", "-m", "model=rnn,gru", *TINY, "trainer.max_steps=6", "trainer.eval_every=2", "hydra.sweep.dir=sw"
    )
    assert code == 0, err
    rnn, gru = sorted((tmp_path / "sw").glob("*_s0_*"))
    for folder, step in ((rnn, 4), (gru, 2)):  # as the trainer leaves them mid-run
        summary = json.loads((folder / "summary.json").read_text())
        (folder / "summary.json").write_text(json.dumps({**summary, "status": "running", "steps": step}))
        rows = [{"step": s, "wall_s": s / 10, "val_mse": 0.5} for s in range(2, step + 1, 2)]
        (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    multirun = OmegaConf.load(tmp_path / "sw" / "multirun.yaml")  # the sweep had a third job, not started yet
    multirun.hydra.overrides.task = ["model=rnn,gru,lstm", *TINY, "trainer.max_steps=6", "trainer.eval_every=2"]
    OmegaConf.save(multirun, tmp_path / "sw" / "multirun.yaml")
    os.utime(gru / "summary.json", (time.time() - 3600, time.time() - 3600))  # its process gone an hour ago
    with RunRecord(rnn).lock():  # a trainer holds it
        code, out, _ = in_process("status", "sw")
    assert code == 0
    assert out.splitlines()[0] == "sw: 3 runs — 1 running, 1 stopped, 1 not started"
    assert f"running  {rnn.name}: step 4 of 6, 10.0 steps/s, about 0 s left" in out
    assert f"stopped  {gru.name}: its process is gone" in out and "the same command resumes it" in out
    assert "estimate: about 1 s until every run has finished" in out  # 0.2 s left + 2 waiting × 0.6 s
    code, out, _ = in_process("status", "sw")  # rnn's lock released, its record fresh, written here: killed
    assert "2 stopped, 1 not started" in out.splitlines()[0]
    summary = json.loads((rnn / "summary.json").read_text())
    (rnn / "summary.json").write_text(json.dumps({**summary, "host": "node-17"}))  # written on a cluster node
    code, out, _ = in_process("status", "sw")  # whose locks are not visible here: its fresh record says running
    assert "1 running, 1 stopped" in out.splitlines()[0]
    assert "(no process here; record written" in out and "another machine?)" in out
    os.utime(rnn / "summary.json", (time.time() - 3600, time.time() - 3600))
    code, out, _ = in_process("status", "sw")
    assert "2 stopped, 1 not started" in out.splitlines()[0]


def test_report_includes_running_runs_only_when_asked(in_process, tmp_path):
    code, _, _ = in_process("train", *TINY, "hydra.run.dir=run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    (tmp_path / "run" / "summary.json").write_text(json.dumps({**summary, "status": "running", "final": {}}))
    code, out, err = in_process("report", "run")
    assert code == 0 and "0 runs (0 completed, 0 failed); 1 records skipped" in out
    assert "still training; --include-running shows it" in out
    code, out, err = in_process("report", "run", "--include-running")
    assert code == 0, err
    assert "1 runs (0 completed, 0 failed, 1 running); 0 records skipped" in out
    header, _, row = [line for line in out.split("## adding", 1)[1].splitlines() if line.startswith("|")][:3]
    assert header.split("|")[-2].strip() == "running" and row.split("|")[-2].strip() == "1"
    assert (tmp_path / "run" / "report" / "curves_adding.png").is_file()  # its curve so far


def test_status_of_nothing_is_one_line(in_process, tmp_path):
    code, _, err = in_process("status", "nowhere")
    assert code == 2 and "status path 'nowhere' does not exist" in err
    code, _, err = in_process("status")
    assert code == 2 and "takes one folder" in err


def test_a_record_with_fields_of_the_wrong_type_is_one_unreadable_run(in_process, tmp_path):
    """One damaged record does not hide the others' states."""
    assert in_process("train", "-m", "seed=0,1", *TINY, "hydra.sweep.dir=sw")[0] == 0
    first = sorted((tmp_path / "sw").glob("*/summary.json"))[0]
    summary = json.loads(first.read_text())
    first.write_text(json.dumps({**summary, "status": "running", "steps": "many", "hparams": []}))
    code, out, err = in_process("status", "sw")
    assert code == 0, err
    assert out.splitlines()[0] == "sw: 2 runs — 1 completed, 1 unreadable"
