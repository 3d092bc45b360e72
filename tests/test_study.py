"""`rnnbench study`: the shipped study composes at both scales, and a study runs its parts as real
sweeps into one folder and ends with the report and its claim verdicts."""
from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from rnnbench import cli, study
from rnnbench.config import compose
from rnnbench.report.collect import as_typed


@pytest.mark.parametrize("scale", ["quick", "full"])
def test_every_part_of_the_claims_study_composes(scale):
    parts = study.study_parts("claims", scale)
    assert {"adding", "copy", "counting", "video", "stock", "stock_bidirectional", "correction"} <= parts.keys()
    for name, overrides in parts.items():
        every = {o.split("=")[0]: o.split("=")[1].split(",") for o in overrides}
        choices = [(key, value) for key, values in every.items() for value in values[1:] if "." not in key
                   and key != "seed"]  # each other option of a config group (model=gru, dataset=anbncn)
        for key, value in [(None, None), *choices]:
            cfg = compose(*(f"{k}={value if k == key else v[0]}" for k, v in every.items()))
            assert cfg.dataset.name == (value if key == "dataset" else every["dataset"][0]), name
            for k, values in every.items():  # every key exists and takes the part's value
                if "." in k and k.split(".")[0] in ("dataset", "model", "trainer"):
                    assert as_typed(OmegaConf.select(cfg, k)) in values, (name, k)
    if scale == "full":
        assert "seed=0,1,2,3,4" in parts["adding"] and "trainer.max_steps=5000" in parts["adding"]


@pytest.mark.slow
def test_a_study_runs_its_parts_then_reports_the_claims(tmp_path, monkeypatch, capsys, own_logging):
    small = {"adding": ["dataset=adding", "model=rnn,lstm,gru", "dataset.seq_len=6,12", "seed=0,1,2",
                        "diagnostics.grad_per_time_step=true"],
             "broken": ["dataset=adding", "model.nope=1"]}
    monkeypatch.setattr(study, "study_parts", lambda name, scale: small)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["study", "claims", "study.dir=s", "debug=tiny", "trainer.max_steps=4", "trainer.eval_every=2"])
    out, err = capsys.readouterr()
    assert code == 1 and "study part 'broken'" in err  # a part that does not compose is reported, the rest ran
    assert len(list((tmp_path / "s" / "adding").glob("*/summary.json"))) == 18
    assert all(json.loads(p.read_text())["status"] == "completed" for p in (tmp_path / "s").rglob("summary.json"))
    assert "## Claims" in out and "LSTM has more parameters than GRU" in out
    assert "LSTM handles longer dependencies than RNN (mse at the longest T, 12)" in out
    assert (tmp_path / "s" / "report" / "grads_adding.png").is_file()
    assert (tmp_path / "s" / "report" / "length_adding.png").is_file()
