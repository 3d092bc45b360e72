"""`rnnbench study`: the shipped study composes at both scales; a study tunes every variant alike,
re-runs the best configuration on fresh seeds (never a tuning seed), and reports the claims."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from rnnbench import cli
from rnnbench.config import compose
from rnnbench.errors import UserError
from rnnbench.report.collect import as_typed
from rnnbench.study import plan as study
from rnnbench.training.build import build_task

FULL = pytest.param("full", marks=pytest.mark.slow)  # every unit of a full scale composed: slow (CI runs it)


@pytest.mark.parametrize("scale", ["quick", "full"])
def test_the_recurrences_study_composes_at_equal_state_with_its_own_claims(scale):
    plan = study.study_plan("recurrences", scale)
    assert plan.parts.keys() == {"parity", "parity_longer", "recall"} and plan.seeds == (10 if scale == "quick" else 20)
    assert plan.tune["pruner_args"]["n_warmup_steps"] == (600 if scale == "quick" else 1500)  # past the plateau
    for spec in plan.parts.values():
        for unit in spec.units:
            cfg = compose(*unit.overrides)
            assert cfg.model.state_budget is not None and cfg.model.param_budget is None, unit.name
    for part in ("parity", "parity_longer"):
        negative = compose(*next(u for u in plan.parts[part].units if u.name == "deltanet_negative").overrides)
        assert negative.model.cell.negative_eigenvalues is True
    longer = compose(*plan.parts["parity_longer"].units[0].overrides)
    assert longer.trainer.max_steps >= 2 * compose(*plan.parts["parity"].units[0].overrides).trainer.max_steps
    assert [c["claim"].split()[0] for c in plan.claims] == ["DeltaNet", "DeltaNet", "DeltaNet", "sLSTM", "selective"]


@pytest.mark.parametrize("scale", ["quick", FULL])
def test_the_chomsky_study_takes_a_task_a_level_quick_and_all_fifteen_full(scale):
    from rnnbench.data.chomsky.protocol import LengthGeneralisationTask

    plan = study.study_plan("chomsky", scale)
    assert plan.parts.keys() == {"regular", "context_free", "context_sensitive"}
    assert plan.seeds == (6 if scale == "quick" else 10)  # the paper: 10 seeds, their maximum reported
    tasks = {}
    for part, spec in plan.parts.items():
        for unit in spec.units if scale == "quick" else [u for u in spec.units if u.name.startswith("lstm")]:
            cfg = compose(*unit.overrides)  # (full: the LSTM's units, one per task, to keep this quick)
            task = build_task(cfg)
            assert isinstance(task, LengthGeneralisationTask) and cfg.model.param_budget == 10000, unit.name
            assert task.level == part.replace("_", "-")
            assert task.test_stride == (20 if scale == "quick" else 1) and task.max_train_len == 40
            tasks.setdefault(part, set()).add(cfg.dataset.name)
    counts = {part: len(names) for part, names in tasks.items()}
    assert counts == (
        {p: 1 for p in tasks} if scale == "quick" else {"regular": 4, "context_free": 4, "context_sensitive": 7}
    )
    # full: the five models on each task; quick: the paper's three, where its claims are
    for part, spec in plan.parts.items():
        models = sorted(u.name.split("_")[0] for u in spec.units)
        if scale == "full":
            assert models == sorted(["gru", "lstm", "rnn", "tcn", "transformer"] * counts[part]), part
        else:
            assert models == (["lstm", "rnn", "transformer"] if part == "regular" else ["lstm", "rnn"]), part
    assert [c["where"]["dataset.name"] for c in plan.claims] == ["parity_check", "parity_check", "bucket_sort"]


@pytest.mark.parametrize("scale", ["quick", FULL])
def test_the_counting_study_tests_counting_past_training_at_equal_size(scale):
    plan = study.study_plan("counting", scale)
    assert plan.parts.keys() == {"anbn", "anbncn"} and plan.seeds == (10 if scale == "quick" else 20)
    for spec in plan.parts.values():
        assert {u.name for u in spec.units} == {"rnn", "lstm", "gru"}
        for unit in spec.units:
            cfg = compose(*unit.overrides)
            assert cfg.model.param_budget == (1500 if scale == "quick" else 3000)
            assert cfg.dataset.test_max_n > cfg.dataset.max_n
    assert {c["measure"] for c in plan.claims} == {"analysis.max_n_generalised"}


@pytest.mark.parametrize("scale", ["quick", FULL])
def test_the_tcn_table1_study_is_the_papers_at_full_scale(scale):
    plan = study.study_plan("tcn_table1", scale)
    assert plan.parts.keys() == {"adding", "copy", "digits"}
    sizes = {}
    for part, spec in plan.parts.items():
        assert {u.name for u in spec.units} == {"rnn", "lstm", "gru", "tcn"}
        cfg = compose(*spec.units[0].overrides)
        sizes[part] = (cfg.dataset.name, cfg.dataset.get("seq_len"), cfg.model.param_budget)
    if scale == "full":  # Table 1: adding T = 600 at 70K parameters, copy T = 1000 at 16K, sequential MNIST
        assert sizes == {
            "adding": ("adding", 600, 70000),
            "copy": ("copy", 1000, 16000),
            "digits": ("seq_mnist", None, 70000),
        }
    else:  # its shape at lengths a CPU trains in minutes
        assert sizes == {
            "adding": ("adding", 200, 17000),
            "copy": ("copy", 50, 16000),
            "digits": ("seq_digits", None, 17000),
        }
    assert len(plan.claims) == 3 and all(c.get("where") for c in plan.claims)
    # Table 1's numbers beside each part's runs: every part's dataset and the models it trains
    datasets = {name for name, _, _ in sizes.values()}
    for entry in plan.published:
        wanted = entry["where"]["dataset.name"]
        assert set(wanted if isinstance(wanted, list) else [wanted]) & datasets, entry["setting"]
        assert set(entry["values"]) == {"rnn", "lstm", "gru", "tcn"}


@pytest.mark.parametrize("scale", ["quick", FULL])
def test_the_mqar_study_tunes_lr_and_weight_decay_at_each_width(scale):
    plan = study.study_plan("mqar", scale)
    assert set(plan.tune["params"]) == {"trainer.lr", "trainer.weight_decay"}  # MAD-Lab's grid
    units = plan.parts["width"].units
    models = ("transformer", "lstm", "gru", "mamba", "gla", "deltanet")
    if scale == "quick":  # one width: its axis is the state size; Mamba's scan and GLA are the full scale's
        assert {u.name for u in units} == set(models) - {"mamba", "gla"}
    else:
        assert {u.name for u in units} == {f"{m}_hidden_size{h}" for m in models for h in (64, 128, 256)}
    cfg = compose(*units[-1].overrides)
    assert cfg.optimizer._target_ == "torch.optim.AdamW"  # decoupled decay: Adam's L2 of 0.1 stopped every run
    assert (cfg.dataset.seq_len, cfg.dataset.n_pairs) == ((64, 4) if scale == "quick" else (128, 8))
    assert cfg.model.hidden_size == (32 if scale == "quick" else 256)  # (full: the last unit, the widest)


def quick_scale_at_tiny_sizes(name: str, tmp_path, monkeypatch, capsys) -> tuple[study.Plan, list[Path]]:
    """A shipped study's quick plan at 3 seeds and 1 trial, run at debug=tiny in tmp_path/s: (the
    plan, the summary.json of each fresh-seed run)."""
    quick = study.study_plan(name)
    quick.seeds, quick.tune = 3, {**quick.tune, "n_trials": 1}
    monkeypatch.setattr("rnnbench.study.protocol.study_plan", lambda name, scale: quick)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["study", name, "study.dir=s", "debug=tiny", "trainer.max_steps=4", "trainer.eval_every=2"])
    _, err = capsys.readouterr()
    assert code == 0, err[-3000:]
    return quick, [p for p in (tmp_path / "s").rglob("summary.json") if "tuning" not in str(p)]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["counting", "tcn_table1", "mqar"])
def test_a_papers_study_runs_its_quick_scale_end_to_end_at_tiny_sizes(name, tmp_path, monkeypatch, capsys, own_logging):
    quick, tested = quick_scale_at_tiny_sizes(name, tmp_path, monkeypatch, capsys)
    assert len(tested) == 3 * sum(len(spec.units) for spec in quick.parts.values())
    claims = (tmp_path / "s" / "report" / "claims.csv").read_text()
    trained = {u.name for spec in quick.parts.values() for u in spec.units}
    for claim in quick.claims:  # judged where its models trained (mqar's Mamba claim: the full scale)
        sides = [claim[side]["model"] for side in ("a", "b")]
        models = {m for side in sides for m in (side if isinstance(side, list) else [side])}
        assert (claim["claim"].split(" (")[0] in claims) == (models <= trained), claim["claim"]
    if quick.published:  # the paper's numbers beside the runs, one row per entry and model
        published = pd.read_csv(tmp_path / "s" / "report" / "published.csv")
        assert len(published) == sum(len(e["values"]) for e in quick.published) and (published["n"] == 3).all()


@pytest.mark.slow
def test_the_chomsky_studys_quick_scale_runs_end_to_end_at_tiny_sizes(tmp_path, monkeypatch, capsys, own_logging):
    _, tested = quick_scale_at_tiny_sizes("chomsky", tmp_path, monkeypatch, capsys)
    assert len(tested) == 7 * 3 and all((d.parent / "by_length.json").is_file() for d in tested)
    report = tmp_path / "s" / "report"
    assert {f"by_length_{t}.png" for t in ("parity_check", "reverse_string", "bucket_sort")} <= {
        p.name for p in report.iterdir()
    }
    claims = (report / "claims.csv").read_text()
    assert "generalises parity to longer strings" in claims and "sorts longer strings" in claims


@pytest.mark.parametrize("scale", ["quick", FULL])
def test_every_unit_of_the_claims_study_composes(scale):
    plan = study.study_plan("claims", scale)
    assert {"width", "video", "adding", "copy", "counting", "stock", "correction"} <= plan.parts.keys()
    assert plan.seeds == (10 if scale == "quick" else 20)
    for part, spec in plan.parts.items():
        tuned, units = spec.tuned, spec.units
        assert tuned == (part not in ("width", "video"))
        for unit in units:
            cfg = compose(*unit.overrides)
            for override in unit.overrides:
                key, value = override.split("=", 1)
                if "." in key:
                    assert as_typed(OmegaConf.select(cfg, key)) == as_typed(value), (part, unit.name, key)
            if tuned:
                assert cfg.model.param_budget is not None, (part, unit.name)  # equal size
    units = {u.name for u in plan.parts["adding"].units}  # each model at each length of the part's T sweep
    lengths = (30, 80)  # the cite scale buys seeds and trials at the quick lengths (1.5 h on 2 cores)
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
    # a part of `models:`: a model=… among its overrides names the models (any sweep syntax), not crossed
    for models in ("model=choice(rnn, gru)", "model=rnn, gru"):
        units = study._units("p", ["lstm", "tcn"], ["dataset=adding", models])
        assert [(u.name, u.overrides) for u in units] == [
            ("rnn", ["dataset=adding", "model=rnn"]),
            ("gru", ["dataset=adding", "model=gru"]),
        ]
    assert [u.name for u in study._units("p", ["lstm", "tcn"], ["model=gru"])] == ["gru"]
    assert [u.name for u in study._units("p", ["lstm", "tcn"], ["dataset=adding"])] == ["lstm", "tcn"]


@pytest.mark.slow
def test_a_study_tunes_each_variant_then_runs_fresh_seeds_and_reports(tmp_path, monkeypatch, capsys, own_logging):
    tiny = study.Plan(
        seeds=3, tune={"params": {"trainer.lr": "tag(log, interval(1e-3, 1e-1))"}, "n_trials": 3}, launcher=[]
    )
    tiny.parts = {
        "adding": study.Part(
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
        "width": study.Part(
            False, study._units("width", {m: [f"model={m}"] for m in ("lstm", "gru")}, ["dataset=adding"])
        ),
        "broken": study.Part(True, study._units("broken", {"x": ["model.nope=1"]}, ["dataset=adding"])),
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
    paths = [p for p in (tmp_path / "s").rglob("summary.json") if "extended_" not in str(p)]  # searches past an edge
    records = [json.loads(p.read_text()) for p in paths]
    trials = [r for r in records if r["hparams"]["tuning.trial"] is not None]
    tested = [r for r in records if r["hparams"]["tuning.trial"] is None]
    assert len(trials) == 4 * 3 and len(tested) == 4 * 3 + 2 * 3
    assert {r["seed"] for r in trials} == {study.TUNING_SEED + 3} and {r["seed"] for r in tested} == {300, 301, 302}
    assert all(r["final"] == {} for r in trials) and all(r["final"] for r in tested)  # only fresh runs see test
    for unit in ("rnn_seq_len6", "lstm_seq_len12"):
        searches = [study.read_best(p) for p in (tmp_path / "s" / "adding" / "tuning" / unit).rglob("best.yaml")]
        best = functools.reduce(study.better, searches)["best_params"]  # of the search and its continuations
        runs = [json.loads(p.read_text()) for p in (tmp_path / "s" / "adding" / "test" / unit).glob("*/summary.json")]
        assert {r["hparams"]["trainer.lr"] for r in runs} == {best["trainer.lr"]}
        assert all(r["hparams"]["tuned"] == ["trainer.lr"] for r in runs)
    assert "## Claims" in out and "LSTM has more parameters than GRU" in out  # the width part, equal hidden_size
    assert re.search(r"Tuning: \d+ searches, \d+ trials set aside", out)
    claims = (tmp_path / "s" / "report" / "claims.csv").read_text()
    assert "handles longer dependencies than RNN" in claims


def test_a_search_at_the_edge_of_a_log_range_continues_past_it():
    params = {"trainer.lr": "tag(log, interval(1e-3, 1e-1))", "model.hidden_size": "choice(16, 32)"}
    high = {"best_params": {"trainer.lr": 0.092, "model.hidden_size": 16}, "at_edge": ["trainer.lr"]}
    low = {"best_params": {"trainer.lr": 0.00105, "model.hidden_size": 16}, "at_edge": ["trainer.lr"]}
    assert study.extended_space(params, high) == {**params, "trainer.lr": "tag(log, interval(0.01, 1))"}
    assert study.extended_space(params, low) == {**params, "trainer.lr": "tag(log, interval(0.0001, 0.01))"}
    assert study.extended_space(params, {**high, "at_edge": []}) is None
    linear = {"trainer.lr": "interval(0.001, 0.1)"}  # a linear range may have a hard bound: not shifted
    assert study.extended_space(linear, high) is None
    one, other = {"best_value": 0.2}, {"best_value": 0.1}
    assert study.better(one, other) is other and study.better(one, None) is one
    higher = {"best_value": 0.2, "higher_is_better": True}
    assert study.better(higher, {"best_value": 0.1, "higher_is_better": True}) is higher


def test_the_tuning_table_names_each_range_and_the_extended_searches(tmp_path):
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    from rnnbench.report.collect import searches

    for folder, low, high in (("gru", 1e-3, 1e-1), ("gru/extended_1", 1e-2, 1.0)):
        (tmp_path / folder).mkdir(parents=True)
        space = {"trainer.lr": repr(FloatDistribution(low, high, log=True)), "seed": repr(CategoricalDistribution([1]))}
        best = {"trials": {"complete": 6}, "best_params": {"trainer.lr": 0.09}, "best_value": 0.1, "space": space}
        OmegaConf.save(best, tmp_path / folder / "best.yaml")
    assert list(searches([tmp_path])["range searched"]) == [
        "trainer.lr in [0.001, 0.1], log; seed in {1}",
        "trainer.lr in [0.01, 1], log; seed in {1} (extended past an edge)",
    ]


def test_a_study_of_fewer_than_three_seeds_is_refused_in_one_line(monkeypatch, capsys):
    plan = study.study_plan("claims")
    plan.seeds = 2
    monkeypatch.setattr("rnnbench.study.protocol.study_plan", lambda name, scale: plan)
    assert cli.main(["study", "claims"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "rnnbench: error: protocol.seeds must be an integer from 3 to 100 (fresh seeds per variant; a claim "
        "needs at least 3 runs a side), got 2"
    )


@pytest.mark.parametrize("learned", [True, False])
def test_a_search_continues_past_its_edge_only_if_it_learned(tmp_path, monkeypatch, learned):
    """A search whose best beat the trivial baseline and lies at an edge is continued; one where no
    trial beat it (ties at the majority-class accuracy, say) is not: its edge is noise."""
    from rnnbench.study import protocol

    searched = []

    def sweep(what, folder, overrides):  # a search whose best is lr 0.099, at the top of [1e-3, 1e-1]
        searched.append(folder)
        folder.mkdir(parents=True)
        best = {
            "best_params": {"trainer.lr": 0.099},
            "best_value": 0.5 if not learned else 0.9,
            "at_edge": ["trainer.lr"],
        }
        (folder / "best.yaml").write_text(yaml.safe_dump({**best, "higher_is_better": True, "beats_baseline": learned}))
        return 0

    monkeypatch.setattr(protocol, "sweep", sweep)
    plan = study.Plan(seeds=3, tune={"params": {"trainer.lr": "tag(log, interval(1e-3, 1e-1))"}}, launcher=[])
    unit = study._units("p", ["gru"], ["dataset=adding"])[0]
    best, failed = protocol.tune(plan, unit, tmp_path / "gru", 7, [])
    assert failed == 0 and best["best_params"] == {"trainer.lr": 0.099}
    expected = ["gru", "gru/extended_1", "gru/extended_2"] if learned else ["gru"]
    assert [str(f.relative_to(tmp_path)) for f in searched] == expected


@pytest.mark.slow
def test_fresh_seeds_train_as_members_the_edge_is_extended_and_speed_is_timed_alone(
    tmp_path, monkeypatch, capsys, own_logging
):
    """The shipped protocol's launcher (batched, 2 workers) on a tiny plan: the GRU's 4 fresh seeds
    are two batched runs of 2 members, the LSTM's run one after another (the fused kernel); a
    search whose only trial sits at the top of its range is continued on [0.01, 1]; the timed part's
    runs carry timing.json and the speed claim reads it, naming the kernels."""
    shipped = study.study_plan("claims")
    tiny = study.Plan(
        seeds=4,
        tune={
            "params": {"trainer.lr": "tag(log, interval(1e-3, 1e-1))"},
            "n_trials": 1,
            "enqueue": "[{trainer.lr: 0.099}]",
        },
        launcher=shipped.launcher,
        timing={"runs": 3, "rounds": 2, "min_time": 0.01},
    )
    tiny.parts = {
        "adding": study.Part(True, study._units("adding", {"gru": ["model=gru"]}, ["dataset=adding"])),
        "width": study.Part(
            False, study._units("width", {m: [f"model={m}"] for m in ("lstm", "gru")}, ["dataset=adding"]), timed=True
        ),
    }
    monkeypatch.setattr("rnnbench.study.protocol.study_plan", lambda name, scale: tiny)

    # 4 steps learn nothing, and a search that learned nothing is not continued (tested above): the
    # search is taken as learned here, to run the continued one end to end
    def learned(path):
        best = study.read_best(path)
        return best and {**best, "beats_baseline": True}

    monkeypatch.setattr("rnnbench.study.protocol.read_best", learned)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["study", "claims", "study.dir=s", "debug=tiny", "trainer.max_steps=4", "trainer.eval_every=2"])
    out, err = capsys.readouterr()
    assert code == 0, err[-3000:]
    assert "hydra/launcher=batched" in shipped.launcher and shipped.seeds >= 10
    records = {p.parent: json.loads(p.read_text()) for p in (tmp_path / "s").rglob("summary.json")}
    tested = [r for r in records.values() if r["hparams"]["tuning.trial"] is None]
    gru = [r for r in tested if r["model"] == "gru"]
    lstm = [r for r in tested if r["model"] == "lstm"]
    assert len(gru) == 8 and {r["members"] for r in gru} == {2}  # recorded as members
    assert len(lstm) == 4 and {r["members"] for r in lstm} == {None}  # fused LSTM: one after another
    search = tmp_path / "s" / "adding" / "tuning" / "gru"
    assert OmegaConf.load(search / "best.yaml").at_edge == ["trainer.lr"]
    extended = OmegaConf.load(search / "extended_1" / "best.yaml")
    assert "high=1.0" in extended.space["trainer.lr"] and "low=0.01" in extended.space["trainer.lr"]
    assert "range extended past its edge" in err
    timed = [d for d in records if (d / "timing.json").is_file()]
    assert len(timed) == 6 and all("width" in str(d) for d in timed)  # 3 runs of each variant of the timed part
    timing = json.loads((timed[0] / "timing.json").read_text())
    assert {"as_built", "reference"} <= timing.keys() and timing["as_built"]["tokens_per_s"] > 0
    claims = (tmp_path / "s" / "report" / "claims.csv").read_text()
    assert "timed alone after training: compiled GRU vs oneDNN LSTM" in claims
    assert "GRU trains faster than LSTM at equal implementation" in claims


def study_file_from_the_docs(tmp_path, **protocol) -> Path:
    """docs/extending.md's MGU cell, its config and its study file, written as a user would."""
    from tests.test_readme import readme_block

    for name in ("mycells.py", "my_conf/model/mgu.yaml", "mgu_study.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(readme_block(f"# {name}"))
    if protocol:
        spec = yaml.safe_load((tmp_path / "mgu_study.yaml").read_text())
        (tmp_path / "mgu_study.yaml").write_text(yaml.safe_dump({**spec, "protocol": protocol}))
    return tmp_path / "mgu_study.yaml"


def test_a_study_file_is_read_with_its_folders_claims_and_the_shipped_protocol(tmp_path):
    plan = study.study_plan(str(study_file_from_the_docs(tmp_path)))
    shipped = study.study_plan("claims")
    assert plan.name == "mgu_study" and plan.seeds == shipped.seeds and plan.launcher == shipped.launcher
    assert [u.name for u in plan.parts["adding"].units] == [
        f"{m}_seq_len{t}" for m in ("mgu", "gru", "lstm") for t in (30, 80)
    ]
    assert plan.searchpath == [tmp_path / "my_conf"] and plan.pythonpath == [tmp_path]
    assert plan.overrides() == [f"hydra.searchpath=[file://{tmp_path / 'my_conf'}]"]
    assert plan.claims[0]["a"] == {"model": "mgu"}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"colour": 1},
            "mgu_study.yaml: unknown key colour; a study file holds claims, parts, protocol, published, pythonpath",
        ),
        ({"parts": None}, "mgu_study.yaml: a study file holds `parts:`"),
        ({"searchpath": ["nowhere"]}, "mgu_study.yaml: searchpath lists folders relative to the file; not a folder"),
        ({"parts": {"adding": {"overrides": []}}}, "study part 'adding' needs `models: [...]` or `variants:"),
        ({"claims": [{"claim": "x", "a": {"model": "mgu"}}]}, "mgu_study.yaml, claim 1"),
        ({"claims": []}, "mgu_study.yaml: `claims:` is a non-empty list of claims"),
    ],
)
def test_a_wrong_study_file_is_one_line_before_anything_runs(tmp_path, in_process, change, message):
    path = study_file_from_the_docs(tmp_path)
    spec = {**yaml.safe_load(path.read_text()), **change}
    path.write_text(yaml.safe_dump({k: v for k, v in spec.items() if v is not None}))
    code, _, err = in_process("study", str(path))
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_a_study_file_runs_its_own_cell_on_the_protocol_and_decides_its_claim(
    tmp_path, monkeypatch, capsys, own_logging
):
    """docs/extending.md's study end to end, small: the MGU (a cell outside the package, its config
    on the study file's search path) tuned and run on fresh seeds beside GRU and LSTM as batched
    members on two workers, and the file's claim decided in the report — not the folk claims."""
    path = study_file_from_the_docs(
        tmp_path,
        seeds=3,
        tune={"params": {"trainer.lr": "tag(log, interval(1e-3, 1e-1))"}, "n_trials": 2, "n_jobs": 2},
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", "")
    code = cli.main(["study", str(path), "study.dir=s", "debug=tiny", "trainer.max_steps=4", "trainer.eval_every=2"])
    out, err = capsys.readouterr()
    assert code == 0, err[-3000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "s").rglob("summary.json")]
    tested = [r for r in records if r["hparams"]["tuning.trial"] is None]
    assert {r["model"] for r in tested} == {"mgu", "gru", "lstm"} and len(tested) == 3 * 2 * 3
    assert {r["members"] for r in tested if r["model"] == "mgu"} - {None}  # batched in the workers
    assert yaml.safe_load((tmp_path / "s" / "claims.yaml").read_text())["claims"][0]["a"] == {"model": "mgu"}
    claims = pd.read_csv(tmp_path / "s" / "report" / "claims.csv")
    assert set(claims["claim"]) == {"MGU is at least as good as GRU (mse)"} and len(claims) == 2  # T = 30, 80
    assert "League" in out
