"""`rnnbench study`: the shipped study composes at both scales, and a study runs its parts as real
sweeps into one folder and ends with the report and its claim verdicts."""
from __future__ import annotations

import json
import logging

import pytest
from hydra import compose, initialize_config_dir

from rnnbench import cli, study
from rnnbench.config import config_dir


@pytest.mark.parametrize("scale", ["quick", "full"])
def test_every_part_of_the_claims_study_composes(scale):
    parts = study.study_parts("claims", scale)
    assert {"adding", "copy", "counting", "video", "stock", "stock_bidirectional", "correction"} <= parts.keys()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        for name, overrides in parts.items():
            every = {o.split("=")[0]: o.split("=")[1].split(",") for o in overrides}
            for key, values in every.items():  # each swept value at least once
                for value in values:
                    chosen = [f"{k}={value if k == key else v[0]}" for k, v in every.items()]
                    cfg = compose("train", overrides=chosen)
                    assert cfg.dataset.name == (value if key == "dataset" else every["dataset"][0]), name
    if scale == "full":
        assert "seed=0,1,2,3,4" in parts["adding"] and "trainer.max_steps=5000" in parts["adding"]


@pytest.fixture
def own_logging():
    """Hydra points the loggers at each job's train.log and closes it after; put back what the
    other tests log to."""
    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    yield
    for lg, handlers, level, propagate in saved:
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


def test_a_study_runs_its_parts_then_reports_the_claims(tmp_path, monkeypatch, capsys, own_logging):
    small = {"adding": ["dataset=adding", "model=rnn,lstm,gru", "dataset.seq_len=6,12", "seed=0,1,2",
                        "diagnostics.grad_per_step=true"],
             "broken": ["dataset=adding", "model.nope=1"]}
    monkeypatch.setattr(study, "study_parts", lambda name, scale: small)
    tiny = ["dataset.n_train=128", "dataset.n_val=32", "dataset.n_test=32", "model.hidden_size=8",
            "trainer.max_steps=4", "trainer.eval_every=2", "trainer.batch_size=16", "trainer.progress=false"]
    monkeypatch.chdir(tmp_path)
    code = cli.main(["study", "claims", "study.dir=s", *tiny])
    out, err = capsys.readouterr()
    assert code == 1 and "study part 'broken'" in err  # a part that does not compose is reported, the rest ran
    assert len(list((tmp_path / "s" / "adding").glob("*/summary.json"))) == 18
    assert all(json.loads(p.read_text())["status"] == "completed" for p in (tmp_path / "s").rglob("summary.json"))
    assert "## Claims" in out and "LSTM has more parameters than GRU" in out
    assert "LSTM handles longer dependencies than RNN (mse at the longest T, 12)" in out
    assert (tmp_path / "s" / "report" / "grads_adding.png").is_file()
    assert (tmp_path / "s" / "report" / "length_adding.png").is_file()
