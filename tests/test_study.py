"""`rnnbench study`: the shipped study composes at both scales; a study tunes every variant alike,
re-runs the best configuration on fresh seeds (never a tuning seed), and reports the claims."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from rnnbench import cli
from rnnbench.config import compose
from rnnbench.errors import UserError
from rnnbench.report.collect import as_typed
from rnnbench.study import plan as study


@pytest.mark.parametrize("scale", ["quick", "full"])
def test_every_unit_of_the_claims_study_composes(scale):
    plan = study.study_plan("claims", scale)
    assert {"width", "video", "adding", "copy", "counting", "stock", "correction"} <= plan.parts.keys()
    assert plan.seeds == (3 if scale == "quick" else 5)
    for part, (tuned, units) in plan.parts.items():
        assert tuned == (part not in ("width", "video"))
        for unit in units:
            cfg = compose(*unit.overrides)
            for override in unit.overrides:
                key, value = override.split("=", 1)
                if "." in key:
                    assert as_typed(OmegaConf.select(cfg, key)) == as_typed(value), (part, unit.name, key)
            if tuned:
                assert cfg.model.param_budget is not None, (part, unit.name)  # equal size
    units = {u.name for u in plan.parts["adding"][1]}  # each model at each length of the part's T sweep
    lengths = (30, 80) if scale == "quick" else (50, 120)
    assert units == {
        f"{m}_seq_len{T}" for m in ("rnn", "lstm", "gru", "hybrid_stacked", "hybrid_parallel") for T in lengths
    }


def test_fresh_seeds_never_reuse_a_tuning_seed():
    seen_fresh, seen_tuning = set(), set()
    for offset in range(50):
        tuning, fresh = study.seeds_for(offset, 5)
        assert tuning not in fresh and len(set(fresh)) == 5
        assert not seen_fresh & set(fresh) and tuning not in seen_tuning  # offsets do not overlap
        seen_fresh |= set(fresh)
        seen_tuning.add(tuning)
    assert not seen_fresh & seen_tuning
    with pytest.raises(UserError, match="study.seed_offset must be an integer in"):
        study.study_options(["study.seed_offset=-1"])


def test_the_tuner_settings_become_one_search_per_unit():
    overrides = study.tuner_overrides(
        {
            "params": {"trainer.lr": "tag(log, interval(1e-3, 1e-1))"},
            "n_trials": 6,
            "pruner_args": {"n_startup_trials": 2},
        }
    )
    assert overrides == [
        "hydra/sweeper=tune",
        "trainer.lr=tag(log, interval(1e-3, 1e-1))",
        "hydra.sweeper.n_trials=6",
        "+hydra.sweeper.pruner_args.n_startup_trials=2",
    ]
    units = study._units("p", {"a": ["model=gru"]}, ["dataset=adding", "dataset.seq_len=6,12", "x=[1,2]"])
    assert [(u.name, u.overrides) for u in units] == [
        ("a_seq_len6", ["dataset=adding", "x=[1,2]", "model=gru", "dataset.seq_len=6"]),
        ("a_seq_len12", ["dataset=adding", "x=[1,2]", "model=gru", "dataset.seq_len=12"]),
    ]


@pytest.mark.slow
def test_a_study_tunes_each_variant_then_runs_fresh_seeds_and_reports(tmp_path, monkeypatch, capsys, own_logging):
    tiny = study.Plan(
        seeds=2, tune={"params": {"trainer.lr": "tag(log, interval(1e-3, 1e-1))"}, "n_trials": 3}, launcher=[]
    )
    tiny.parts = {
        "adding": (
            True,
            study._units(
                "adding",
                {m: [f"model={m}"] for m in ("rnn", "lstm")},
                [
                    "dataset=adding",
                    "dataset.seq_len=6,12",
                    "model.param_budget=300",
                    "diagnostics.grad_per_time_step=true",
                ],
            ),
        ),
        "width": (False, study._units("width", {m: [f"model={m}"] for m in ("lstm", "gru")}, ["dataset=adding"])),
        "broken": (True, study._units("broken", {"x": ["model.nope=1"]}, ["dataset=adding"])),
    }
    monkeypatch.setattr("rnnbench.study.protocol.study_plan", lambda name, scale: tiny)
    monkeypatch.chdir(tmp_path)
    code = cli.main(
        [
            "study",
            "claims",
            "study.dir=s",
            "study.seed_offset=3",
            "debug=tiny",
            "trainer.max_steps=4",
            "trainer.eval_every=2",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1 and "study step broken: tuning x" in err  # a unit that does not compose is said; the rest ran
    records = [json.loads(p.read_text()) for p in (tmp_path / "s").rglob("summary.json")]
    trials = [r for r in records if r["hparams"]["tuning.trial"] is not None]
    tested = [r for r in records if r["hparams"]["tuning.trial"] is None]
    assert len(trials) == 4 * 3 and len(tested) == 4 * 2 + 2 * 2
    assert {r["seed"] for r in trials} == {study.TUNING_SEED + 3} and {r["seed"] for r in tested} == {300, 301}
    assert all(r["final"] == {} for r in trials) and all(r["final"] for r in tested)  # only fresh runs see test
    for unit in ("rnn_seq_len6", "lstm_seq_len12"):
        best = OmegaConf.load(tmp_path / "s" / "adding" / "tuning" / unit / "best.yaml").best_params
        runs = [json.loads(p.read_text()) for p in (tmp_path / "s" / "adding" / "test" / unit).glob("*/summary.json")]
        assert {r["hparams"]["trainer.lr"] for r in runs} == {best["trainer.lr"]}
        assert all(r["hparams"]["tuned"] == ["trainer.lr"] for r in runs)
    assert "## Claims" in out and "LSTM has more parameters than GRU" in out  # the width part, equal hidden_size
    assert "Tuning: 4 searches, 12 trials set aside" in out
    claims = (tmp_path / "s" / "report" / "claims.csv").read_text()
    assert "handles longer dependencies than RNN" in claims
