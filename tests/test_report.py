"""The reporter on fabricated records (known numbers, broken and partial records) and on real ones."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnbench.errors import UserError
from rnnbench.report import write_report
from rnnbench.report.claims import judge_claims
from rnnbench.report.collect import load_runs
from rnnbench.report.stats import compare, mean_ci, verdict, welch
from rnnbench.training.record import FORMAT, FORMAT_1, GRADS, GRADS_1, METRICS, SUMMARY
from rnnbench.training.trainer import train
from tests.conftest import compose_config


def fake_run(
    root: Path,
    name: str,
    model: str,
    seed: int,
    mse: float,
    *,
    status="completed",
    seq_len=100,
    hidden=128,
    steps_to_target=None,
    reason=None,
    curve=(0.2, 0.1),
    params=None,
    tokens_per_s=None,
    grads=None,
    analysis=None,
) -> Path:
    run = root / name
    run.mkdir(parents=True)
    summary = {
        "format": FORMAT,
        "status": status,
        "reason": reason,
        "model": model,
        "dataset": "adding",
        "seed": seed,
        "params": params or 1000 + hidden,
        "core_params": 900 + hidden,
        "tokens_per_s": tokens_per_s or 5000.0 + seed,
        "infer_tokens_per_s": 20000.0,
        "memory": {"step_mb": 1.5},
        "wall_s": 10.0,
        "steps": 100,
        "final": {"mse": mse} if status == "completed" else {},
        "best": {"mse": mse},
        "baseline": {"mse": 0.1667},
        "baseline_val": {"mse": 0.1650},
        "baseline_name": "predict 1.0",
        "steps_to_target": steps_to_target,
        "task": {"primary_metric": "mse", "metrics": {"mse": "min"}, "solved_at": 0.01},
        "hparams": {
            "seed": seed,
            "dataset.seed": seed,
            "dataset.seq_len": seq_len,
            "model.hidden_size": hidden,
            "model.name": model,
            "trainer.lr": 0.001,
            "optimizer.lr": 0.001,
            "model.cell._target_": f"rnnbench.models.{model}.Cell",
        },
    }
    if analysis:
        summary["analysis"] = analysis
    if grads:  # the norms g_1 … g_T before and after training
        summary["grad_per_time_step"] = {"step": 100, "first_over_last": grads[-1][0] / grads[-1][-1]}
        (run / GRADS).write_text(json.dumps([{"step": 0, "norms": grads[0]}, {"step": 100, "norms": grads[-1]}]))
    (run / SUMMARY).write_text(json.dumps(summary))
    (run / METRICS).write_text(
        "".join(json.dumps({"step": 50 * (i + 1), "val_mse": v}) + "\n" for i, v in enumerate(curve))
    )
    return run


@pytest.fixture
def records(tmp_path) -> Path:
    root = tmp_path / "sweep"
    fake_run(root, "0", "gru", 0, 0.010, steps_to_target=400)
    fake_run(root, "1", "gru", 1, 0.030)
    fake_run(root, "2", "lstm", 0, 0.020, steps_to_target=600)
    fake_run(root, "3", "lstm", 1, 0.040, steps_to_target=800)
    fake_run(root, "4", "lstm", 2, math.nan, status="failed", reason="diverged: loss became nan at step 7")
    running = fake_run(root, "5", "rnn", 0, 0.1)
    (running / SUMMARY).write_text((running / SUMMARY).read_text().replace('"completed"', '"running"'))
    truncated = fake_run(root, "6", "rnn", 1, 0.1)
    (truncated / SUMMARY).write_text((truncated / SUMMARY).read_text()[:40])
    partial_metrics = fake_run(root, "7", "gru", 2, 0.020)
    with open(partial_metrics / METRICS, "a") as f:
        f.write('{"step": 150, "val_m')  # a line cut short
    (root / "not_a_run").mkdir()
    (root / "not_a_run" / "notes.txt").write_text("hello")
    return root


def test_tables_aggregate_over_seeds(records, tmp_path):
    markdown = write_report([records], tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "report.csv").set_index("model")
    assert table.loc["gru", "n"] == 3 and table.loc["gru", "failed"] == 0
    assert table.loc["gru", "mse_mean"] == pytest.approx(0.02)
    assert table.loc["gru", "mse_std"] == pytest.approx(0.01)
    assert table.loc["lstm", "n"] == 2 and table.loc["lstm", "failed"] == 1
    assert table.loc["lstm", "mse_mean"] == pytest.approx(0.03)
    assert table.loc["lstm", "solved"] == 2 and table.loc["lstm", "steps_to_target"] == pytest.approx(700)
    assert table.loc["gru", "baseline_mse"] == pytest.approx(0.1667)
    assert "rnn" not in table.index, "the running and the unreadable record are skipped"
    assert "| gru " in markdown and "0.02 ± 0.01" in markdown and "0.1667" in markdown
    assert "6 runs (5 completed, 1 failed); 2 records skipped" in markdown
    assert "1 unreadable line(s) ignored" in markdown
    assert "diverged: loss became nan at step 7" in markdown
    assert "incomplete (status 'running'" in markdown and "unreadable" in markdown


def test_report_writes_every_format(records, tmp_path):
    out = tmp_path / "out"
    write_report([records], out)
    for name in ("report.md", "report.csv", "runs.csv", "report.tex", "report.html", "curves_adding.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "curves_adding.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert "<table" in page and "data:image/png;base64," in page
    assert len(pd.read_csv(out / "runs.csv")) == 6  # the failed run too, with its reason


def test_varied_knobs_become_grouping_columns(tmp_path):
    root = tmp_path / "runs"
    for i, (T, hidden) in enumerate([(50, 64), (50, 64), (200, 64), (200, 128)]):
        fake_run(root, str(i), "gru", i, 0.01 * (i + 1), seq_len=T, hidden=hidden)
    write_report([root], tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "report.csv")
    assert {"dataset.seq_len", "model.hidden_size"} <= set(table.columns)
    assert "trainer.lr" not in table.columns and "seed" not in table.columns
    assert len(table) == 3 and sorted(table["n"]) == [1, 1, 2]


def test_a_learning_rate_is_shown_by_the_name_the_user_set(tmp_path):
    root = tmp_path / "runs"
    for i, lr in enumerate([0.001, 0.001, 0.01, 0.01]):
        run = fake_run(root, str(i), "gru", i % 2, 0.01 * (i + 1))
        summary = json.loads((run / SUMMARY).read_text())
        summary["hparams"].update({"trainer.lr": lr, "optimizer.lr": lr})  # conf/optimizer: lr: ${trainer.lr}
        (run / SUMMARY).write_text(json.dumps(summary))
    write_report([root], tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "report.csv")
    assert "trainer.lr" in table.columns and "optimizer.lr" not in table.columns


def test_a_path_without_records_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no run records"):
        load_runs([tmp_path])
    with pytest.raises(UserError, match="does not exist"):
        load_runs([tmp_path / "nope"])


def test_report_over_real_runs(tmp_path):
    for model in ("rnn", "gru"):
        for seed in (0, 1):
            train(compose_config(f"model={model}", f"seed={seed}"), tmp_path / "runs" / f"{model}{seed}")
    markdown = write_report([tmp_path / "runs"], tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "report.csv").set_index("model")
    assert list(table.index) == ["gru", "rnn"] and (table["n"] == 2).all()
    assert table.loc["gru", "params"] == 3 * 8 * (2 + 8) + 6 * 8 + 8 + 1  # core + head
    assert "## adding (T=12)" in markdown


def test_model_keys_split_runs_of_one_model_only(tmp_path):
    """Models differ in their own keys by definition: that is no reason for a column. The same
    model run at two sizes is."""
    root = tmp_path / "runs"
    fake_run(root, "0", "gru", 0, 0.01, hidden=64)
    fake_run(root, "1", "lstm", 0, 0.02, hidden=128)
    write_report([root], tmp_path / "a")
    assert "model.hidden_size" not in pd.read_csv(tmp_path / "a" / "report.csv").columns
    fake_run(root, "2", "lstm", 1, 0.03, hidden=32)
    write_report([root], tmp_path / "b")
    table = pd.read_csv(tmp_path / "b" / "report.csv")
    assert "model.hidden_size" in table.columns and len(table) == 3


def test_t_interval_and_welch_on_known_numbers():
    mean, low, high = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2 and high - mean == pytest.approx(4.302653 / math.sqrt(3))  # t(0.975, 2) · s/√n
    assert math.isnan(mean_ci([5.0])[1])
    a, b = [10.0, 11.0, 12.0, 13.0], [1.0, 2.0, 4.0]
    c = welch(a, b)
    se = math.sqrt(pd.Series(a).var() / 4 + pd.Series(b).var() / 3)
    assert c.diff == pytest.approx(11.5 - 7 / 3) and c.t == pytest.approx(c.diff / se)
    df = se**4 / ((pd.Series(a).var() / 4) ** 2 / 3 + (pd.Series(b).var() / 3) ** 2 / 2)  # Welch–Satterthwaite
    from scipy import stats

    assert c.p == pytest.approx(2 * stats.t.sf(abs(c.t), df))
    reference = stats.ttest_ind(a, b, equal_var=False)
    assert (c.t, c.p) == pytest.approx((reference.statistic, reference.pvalue))
    assert c.low < c.diff < c.high and c.low > 0
    assert verdict(c, ">") == "holds" and verdict(c, "<") == "does not hold"
    assert verdict(welch([1.0, 2.0, 3.0], [1.5, 2.5, 3.5]), ">") == "inconclusive"
    assert verdict(welch([1.0], [2.0, 3.0]), "<") == "inconclusive"  # one seed: no test
    same = compare([4.0] * 4, [4.0] * 4)  # no spread: the exact permutation test, never a t of 0/0
    assert same.p == 1.0 and same.test == "exact permutation test" and verdict(same, "<=", margin=0.1) == "holds"
    assert math.isnan(welch([4.0, 4.0], [4.0, 4.0]).p)
    # non-inferiority: 'a at most b + margin'
    assert verdict(welch([1.0, 1.1, 0.9], [1.0, 1.05, 0.95]), "<=", margin=1.0) == "holds"
    assert verdict(welch([5.0, 5.1, 4.9], [1.0, 1.05, 0.95]), "<=", margin=0.1) == "does not hold"


def claim_runs(root, models, **kwargs):
    """Three seeds of each model: (name, mse values, params, tokens/s)."""
    for name, mses, params, speed in models:
        for seed, mse in enumerate(mses):
            fake_run(root, f"{name}{seed}", name, seed, mse, params=params, tokens_per_s=speed + seed, **kwargs)


def test_claims_are_judged_from_the_runs(tmp_path):
    claim_runs(
        tmp_path,
        [
            ("lstm", [0.0100, 0.0101, 0.0102], 17473, 400000),
            ("gru", [0.050, 0.052, 0.051], 13121, 160000),
            ("hybrid_stacked", [0.00995, 0.01005, 0.01015], 42433, 94000),
        ],
    )
    claims = judge_claims(load_runs([tmp_path]).runs).set_index("claim")
    assert claims.loc["LSTM has more parameters than GRU", "verdict"] == "holds"
    assert "17,473 vs gru 13,121" in claims.loc["LSTM has more parameters than GRU", "evidence"]
    speed = claims.loc["GRU trains faster than LSTM (tokens/s)"]
    assert speed["verdict"] == "does not hold" and "Welch t=" in speed["evidence"] and "p=" in speed["evidence"]
    hybrid = claims.loc["hybrid_stacked is at least as good as the better parent (mse)"]
    assert hybrid["verdict"] == "holds" and "vs lstm (the better of lstm/gru)" in hybrid["evidence"]
    assert "ConvGRU is lighter than ConvLSTM" not in claims.index  # no such runs: no verdict
    assert not claims.index.str.startswith("plain RNN gradients vanish").any()  # no gradients recorded
    assert claims["setting"].eq("adding").all()
    assert "the baseline (predict 1.0) scores 0.1667: beaten (one-sided test, 5%) by both" in hybrid["evidence"]
    assert "Hedges' g" in hybrid["evidence"] and 0 <= hybrid["p_adjusted"] < 0.05


def test_a_skill_claim_is_decided_only_where_a_side_learned(tmp_path):
    """Two models at the baseline can still differ 'significantly' (the copy-task verdict of the
    issue: both failed, and 'holds' ranked two failures): that is 'neither learned'."""
    for T in (50, 200):
        claim_runs(
            tmp_path / f"T{T}",
            [
                ("lstm", [0.1680, 0.1682, 0.1681], 17473, 400000),
                ("rnn", [0.1700, 0.1702, 0.1701], 4417, 480000),
                ("gru", [0.001, 0.002, 0.0015], 13121, 160000),
            ],
            seq_len=T,
        )
    claims = judge_claims(load_runs([tmp_path]).runs).set_index("claim")
    rnn = claims.loc["LSTM handles longer dependencies than RNN (mse at the longest T, 200)"]
    assert (
        rnn["verdict"] == "neither learned"
        and "scores 0.1667: beaten (one-sided test, 5%) by neither" in rnn["evidence"]
    )
    assert math.isnan(rnn["p_adjusted"])  # not a test of the family
    gru = claims.loc["LSTM handles longer dependencies than GRU (mse at the longest T, 200)"]
    assert gru["verdict"] == "does not hold" and "by gru only" in gru["evidence"]


def test_claims_over_a_length_sweep_and_gradients(tmp_path):
    """Gradient reach is a count: every RNN run reaches 0 steps, every LSTM run 2. Without spread,
    the exact permutation test decides — not at 3 seeds a side (its least p is 0.1), at 5 (0.008)."""
    vanishing = [[1e-8, 1e-4, 1.0]] * 2
    kept = [[0.1, 0.5, 1.0]] * 2
    for T, rnn_mse in ((50, 0.05), (200, 0.17)):
        claim_runs(
            tmp_path / f"T{T}",
            [("rnn", [rnn_mse, rnn_mse + 0.001, rnn_mse - 0.001, rnn_mse + 0.002, rnn_mse - 0.002], 4417, 480000)],
            seq_len=T,
            grads=vanishing,
        )
        claim_runs(
            tmp_path / f"T{T}",
            [("lstm", [0.001, 0.0012, 0.0011, 0.0013, 0.0009], 17473, 400000)],
            seq_len=T,
            grads=kept,
        )
    claims = judge_claims(load_runs([tmp_path]).runs)
    longer = claims[claims["claim"].str.startswith("LSTM handles longer dependencies than RNN")]
    assert list(longer["verdict"]) == ["holds"] and "longest T, 200" in longer["claim"].iloc[0]
    grads = claims[claims["claim"].str.startswith("plain RNN gradients vanish")]
    assert sorted(grads["setting"]) == ["adding (seq_len=200)", "adding (seq_len=50)"]
    assert (grads["verdict"] == "holds").all() and (grads["test"] == "exact permutation test").all()
    assert (
        "0 steps vs 2 steps, difference -2, the same in every run of each side (no spread)" in grads["evidence"].iloc[0]
    )
    assert grads["p"].iloc[0] == pytest.approx(2 / math.comb(10, 5))
    three = tmp_path / "three"
    for seed in range(3):
        fake_run(three, f"rnn{seed}", "rnn", seed, 0.05 + 0.001 * seed, grads=vanishing)
        fake_run(three, f"lstm{seed}", "lstm", seed, 0.001 + 0.0001 * seed, grads=kept)
    few = judge_claims(load_runs([three]).runs).set_index("claim")
    assert few.loc["plain RNN gradients vanish (gradient reach, RNN < LSTM)", "verdict"] == "inconclusive"
    assert few.loc["plain RNN gradients vanish (gradient reach, RNN < LSTM)", "p"] == pytest.approx(0.1)
    unlearned = tmp_path / "unlearned"  # both at the baseline: the gradient a failed training left decides nothing
    for seed in range(5):
        fake_run(unlearned, f"rnn{seed}", "rnn", seed, 0.1667 + 0.001 * seed, grads=vanishing)
        fake_run(unlearned, f"lstm{seed}", "lstm", seed, 0.1667 + 0.001 * (seed - 2), grads=kept)
    gated = judge_claims(load_runs([unlearned]).runs).set_index("claim")
    row = gated.loc["plain RNN gradients vanish (gradient reach, RNN < LSTM)"]
    assert row["verdict"] == "neither learned" and "beaten (one-sided test, 5%) by neither" in row["evidence"]


def test_counting_claim_reads_how_far_each_model_generalised(tmp_path):
    """Weiss et al. (2018): LSTM counts past its training n, GRU and RNN do not."""
    for name, reach in (("lstm", [30, 27, 33]), ("gru", [8, 14, 9]), ("rnn", [2, 1, 3])):
        for seed, n in enumerate(reach):
            fake_run(tmp_path, f"{name}{seed}", name, seed, 0.1, analysis={"max_n_generalised": n})
    fake_run(tmp_path / "other", "x", "lstm", 0, 0.1)  # a run without the analysis does not count
    claims = judge_claims(load_runs([tmp_path]).runs).set_index("claim")
    gru = claims.loc["LSTM counts beyond its training range better than GRU (largest n generalised to)"]
    assert gru["verdict"] == "holds" and gru["evidence"].startswith("lstm vs gru: 30 vs 10.33, difference 19.67")
    assert (
        claims.loc["LSTM counts beyond its training range better than RNN (largest n generalised to)", "verdict"]
        == "holds"
    )


def test_a_difference_without_spread_is_decided_by_the_exact_test_never_p_0():
    from scipy import stats

    c = compare([1000.0] * 3, [250.0] * 3)
    assert (c.p, c.test, verdict(c, "<")) == (pytest.approx(0.1), "exact permutation test", "inconclusive")
    assert c.describe(" steps") == (
        "1000 steps vs 250 steps, difference 750, the same in every run of each side (no spread); "
        "exact permutation test p=0.1 (n=3, 3)"
    )
    five = compare([1000.0] * 5, [250.0] * 5)
    assert five.p == pytest.approx(2 / 252) and verdict(five, "<") == "does not hold"
    tie = compare([500.0] * 3, [500.0] * 3)
    assert verdict(tie, "<") == "inconclusive" and "500 vs 500, no difference, the same in every run" in tie.describe()
    near = compare([0.1] * 3, [0.2] * 3)  # 0.1 + 0.2 round-off is not spread: no Hedges' g of 1e15
    assert near.p == pytest.approx(0.1) and math.isnan(near.g) and near.test == "exact permutation test"
    ties = [3.0, 3.0, 4.0, 5.0], [1.0, 2.0, 2.0, 3.0]  # tied values: the permutation test, as scipy computes it
    expected = stats.permutation_test(
        ties, lambda x, y, axis: x.mean(axis=axis) - y.mean(axis=axis), vectorized=True, n_resamples=np.inf
    ).pvalue
    assert compare(*ties).p == pytest.approx(expected) and compare(*ties).test == "exact permutation test"
    assert math.isnan(compare([1.0, 2.0], [3.0, 4.0, 5.0]).p)  # two seeds: no test
    assert "too few seeds for a test, at least 3 a side" in compare([1.0, 2.0], [3.0, 4.0, 5.0]).describe()


def test_every_plot_and_the_latex_table(tmp_path):
    root = tmp_path / "runs"
    for T in (50, 200):
        claim_runs(
            root / f"T{T}",
            [("rnn", [0.05, 0.06], 4417, 480000), ("gru", [0.01, 0.012], 13121, 160000)],
            seq_len=T,
            grads=[[0.01, 0.1, 1.0], [0.001, 0.1, 1.0]],
        )
    markdown = write_report([root], tmp_path / "out")
    for name in ("curves_adding.png", "length_adding.png", "pareto_adding.png", "grads_adding.png"):
        data = (tmp_path / "out" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and "<h2>Claims</h2>" in page
    latex = (tmp_path / "out" / "report.tex").read_text()
    assert (
        latex.count("\\begin{tabular}") == 3
        and "League" in latex
        and "dataset.seq\\_len" in latex
        and "95\\% CI" in latex
    )
    assert "test mse 95% CI" in markdown and "gradient reach (steps)" in markdown and "## Claims" in markdown


def test_where_group_by_and_metric(records, tmp_path):
    markdown = write_report([records], tmp_path / "a", where=["model=gru"])
    assert "| gru " in markdown and "| lstm " not in markdown
    markdown = write_report([records], tmp_path / "b", where=["model=gru,lstm", "seed=0"])
    assert pd.read_csv(tmp_path / "b" / "report.csv")["n"].tolist() == [1, 1]
    write_report([records], tmp_path / "c", group_by=["dataset.seq_len"])
    assert "dataset.seq_len" in pd.read_csv(tmp_path / "c" / "report.csv").columns
    with pytest.raises(UserError, match="--where 'colour=red': expected KEY=VALUE with KEY one of: .*dataset.seq_len"):
        write_report([records], tmp_path / "d", where=["colour=red"])
    with pytest.raises(UserError, match="no runs match --where model=tcn"):
        write_report([records], tmp_path / "d", where=["model=tcn"])
    with pytest.raises(UserError, match="--group-by trainer.lrr: not a config key"):
        write_report([records], tmp_path / "d", group_by=["trainer.lrr"])
    with pytest.raises(UserError, match="--metric accuracy: adding records mse"):
        write_report([records], tmp_path / "d", metrics=["accuracy"])


def test_records_of_the_previous_format_read_as_the_current_one(tmp_path):
    """Format 1 named per-time-step quantities "per step" (flops_per_step, grad_per_step and its
    file); its records read back under the current names, so old studies still report."""
    grads = [[1e-8, 1e-4, 1.0], [1e-6, 1e-3, 1.0]]
    new = fake_run(tmp_path / "new", "0", "rnn", 0, 0.05, grads=grads)
    old = fake_run(tmp_path / "old", "0", "rnn", 1, 0.05, grads=grads)
    summary = json.loads((old / SUMMARY).read_text())
    summary.update(format=FORMAT_1, flops_per_step=123.0, grad_per_step=summary.pop("grad_per_time_step"))
    summary["hparams"]["diagnostics.grad_per_step"] = True
    (old / SUMMARY).write_text(json.dumps(summary))
    (old / GRADS).rename(old / GRADS_1)
    runs = load_runs([tmp_path]).runs.set_index("dir")
    a, b = runs.loc[str(new)], runs.loc[str(old)]
    assert b["flops_per_token"] == 123.0 and b["hp.diagnostics.grad_per_time_step"]
    assert b["grad_reach"] == a["grad_reach"] == 1
    assert b["grad_per_time_step.first_over_last"] == a["grad_per_time_step.first_over_last"]


def test_holm_adjustment_on_a_worked_example():
    from rnnbench.report.stats import holm

    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, max(0.06, 0.04·1) = 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm([math.nan, 0.01, 0.9])  # no test: not in the family
    assert math.isnan(adjusted[0]) and adjusted[1:] == pytest.approx([0.02, 0.9])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


def test_effect_size_power_and_tests_against_scipy():
    from scipy import stats

    from rnnbench.report.stats import beats, detectable, hedges_g, noninferiority_p

    a, b = [1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0]
    pooled = math.sqrt((3 * pd.Series(a).var() + 2 * pd.Series(b).var()) / 5)
    g, low, high = hedges_g(a, b)
    assert g == pytest.approx((1 - 3 / (4 * 7 - 9)) * (2.5 - 4.0) / pooled)
    assert high - g == pytest.approx(1.959964 * math.sqrt(7 / 12 + g * g / 14))
    assert math.isnan(hedges_g([1.0, 1.0], [2.0, 2.0])[0])  # no spread: an exact difference, not a size
    # one side against a fixed reference = scipy's one-sample test, one-sided
    x = [0.10, 0.12, 0.09, 0.11]
    assert beats(x, 0.1667, "<") == pytest.approx(stats.ttest_1samp(x, 0.1667, alternative="less").pvalue)
    assert beats(x, 0.05, ">") == pytest.approx(stats.ttest_1samp(x, 0.05, alternative="greater").pvalue)
    # non-inferiority '<=' with margin m = Welch's one-sided test of a − m against b
    c = welch([1.0, 1.2, 0.9, 1.1], [1.0, 1.05, 0.95])
    reference = stats.ttest_ind(
        [v - 0.3 for v in [1.0, 1.2, 0.9, 1.1]], [1.0, 1.05, 0.95], equal_var=False, alternative="less"
    )
    assert noninferiority_p(c, "<=", 0.3) == pytest.approx(reference.pvalue)
    # the detectable difference: a true difference of that size is found 80% of the time
    import numpy as np

    rng = np.random.default_rng(0)
    delta = detectable(se=math.sqrt(2 / 5), df=8.0)  # n = 5 per side, unit spread
    hits = [
        stats.ttest_ind(rng.normal(delta, 1, 5), rng.normal(0, 1, 5), equal_var=False).pvalue < 0.05
        for _ in range(4000)
    ]
    assert abs(np.mean(hits) - 0.8) < 0.03


def test_verdicts_are_read_from_p_adjusted_across_the_claims(tmp_path):
    """A difference with p ≈ 0.01 holds alone; among eight claims its Holm-adjusted p is not
    below 5% and the verdict is inconclusive, with the difference it could have detected."""
    claim_runs(
        tmp_path, [("gru", [0.010, 0.012, 0.011], 13121, 160000), ("lstm", [0.013, 0.015, 0.014], 17473, 400000)]
    )
    alone = judge_claims(load_runs([tmp_path]).runs).set_index("claim")
    assert alone.loc["GRU trains faster than LSTM (tokens/s)", "verdict"] == "does not hold"
    from rnnbench.report.claims import Judgement, decide

    c = welch([0.010, 0.012, 0.011], [0.013, 0.015, 0.014])
    assert 0.01 < c.p < 0.05
    family = decide([Judgement(f"claim {i}", "s", "e", comparison=c, expect="<") for i in range(8)])
    assert (family["verdict"] == "inconclusive").all() and (family["p_adjusted"] > 0.05).all()
    assert "underpowered: with n=3, 3 this test detects a difference of" in family["evidence"][0]
    assert decide([Judgement("one", "s", "e", comparison=c, expect="<")])["verdict"][0] == "holds"


def test_claims_csv_and_equal_budget_settings(tmp_path):
    """Runs sized by a parameter budget are compared at equal budget, whatever their widths; the
    parameter-count claim is left out there; claims.csv holds the numbers."""
    for model, hidden, mses in (("lstm", 30, [0.010, 0.011, 0.012]), ("gru", 35, [0.020, 0.021, 0.022])):
        for seed, mse in enumerate(mses):
            run = fake_run(tmp_path / "sweep", f"{model}{seed}", model, seed, mse, hidden=hidden)
            summary = json.loads((run / SUMMARY).read_text())
            summary["hparams"]["model.param_budget"] = 5000
            (run / SUMMARY).write_text(json.dumps(summary))
    write_report([tmp_path / "sweep"], tmp_path / "out")
    claims = pd.read_csv(tmp_path / "out" / "claims.csv")
    assert list(claims.columns[:9]) == [
        "claim",
        "setting",
        "verdict",
        "test",
        "p",
        "p_adjusted",
        "p_equivalence",
        "effect_size",
        "effect_low",
    ]
    assert "LSTM has more parameters than GRU" not in set(claims["claim"])
    speed = claims.set_index("claim").loc["GRU trains faster than LSTM (tokens/s)"]
    assert speed["setting"] == "adding" and speed["p_adjusted"] >= speed["p"]
    assert "Hedges' g [95% CI]" in (tmp_path / "out" / "report.md").read_text()


def test_the_table_says_why_runs_stopped_and_the_width_a_budget_gave(tmp_path):
    for seed, (reason, steps) in enumerate((("plateau", 800), ("plateau", 900), ("max_steps", 1000))):
        run = fake_run(tmp_path, f"gru{seed}", "gru", seed, 0.01)
        summary = json.loads((run / SUMMARY).read_text())
        summary.update(stop_reason=reason, steps=steps, model_info={"param_budget": 4000, "hidden_size": 34})
        summary["hparams"]["model.param_budget"] = 4000
        (run / SUMMARY).write_text(json.dumps(summary))
    runs = load_runs([tmp_path]).runs
    assert set(runs["hp.model.hidden_size"]) == {34}  # the width built, not the config's default
    from rnnbench.report.tables import display_table, summarize

    table, keys, directions = summarize(runs)
    shown = display_table(table, keys, directions, "predict 1.0", 0.01, "mse")
    assert shown["stopped"][0] == "max_steps ×1 at 1,000 steps, plateau ×2 at 850 steps"


def test_longer_dependencies_are_judged_at_the_longest_T_of_their_own_sweep(tmp_path):
    """A study's budgeted T sweep (30, 80) beside an equal-width part at T=100: the claim is made
    at T=80 within the sweep, not at the other part's T."""

    def sized(run, budget):
        summary = json.loads((run / SUMMARY).read_text())
        summary["hparams"]["model.param_budget"] = budget
        (run / SUMMARY).write_text(json.dumps(summary))

    for T in (30, 80):
        for name, mses in (("lstm", [0.001, 0.0012, 0.0011]), ("rnn", [0.16, 0.161, 0.159])):
            for seed, mse in enumerate(mses):
                sized(fake_run(tmp_path / f"T{T}", f"{name}{seed}", name, seed, mse, seq_len=T), 4000)
    claim_runs(
        tmp_path / "width", [("lstm", [0.17, 0.171, 0.169], 17473, 400000), ("rnn", [0.17, 0.171, 0.169], 4417, 480000)]
    )
    claims = judge_claims(load_runs([tmp_path]).runs)
    longer = claims[claims["claim"].str.startswith("LSTM handles longer dependencies than RNN")]
    assert list(longer["claim"]) == ["LSTM handles longer dependencies than RNN (mse at the longest T, 80)"]
    assert longer["verdict"].iloc[0] == "holds" and "param_budget=4000" in longer["setting"].iloc[0]


def test_steps_to_target_are_censored_times_decided_by_log_rank(tmp_path):
    """A run that never reached the target is censored, not counted as reaching it at its budget.
    The log-rank statistic is scipy's; its p comes from the exact permutation distribution."""
    from scipy import stats

    from rnnbench.report.stats import logrank

    found = logrank([100, 100, 200], [True] * 3, [300, 300, 300], [False] * 3)
    censored = stats.logrank(stats.CensoredData(uncensored=[100, 100, 200]), stats.CensoredData(right=[300, 300, 300]))
    assert found.z == pytest.approx(censored.statistic) and found.p == pytest.approx(2 / 20)
    assert (found.median_a, found.reached_a, found.reached_b) == (100, 3, 0) and math.isnan(found.median_b)
    rng = np.random.default_rng(1)  # larger samples: the permutation p approaches scipy's normal one
    a, b = (
        np.minimum(rng.exponential(300, 30).round(-2) + 100, 1000),
        np.minimum(rng.exponential(900, 30).round(-2) + 100, 1000),
    )
    big = logrank(a, a < 1000, b, b < 1000)
    reference = stats.logrank(
        stats.CensoredData(uncensored=a[a < 1000], right=a[a >= 1000]),
        stats.CensoredData(uncensored=b[b < 1000], right=b[b >= 1000]),
    )
    assert big.z == pytest.approx(reference.statistic) and big.p == pytest.approx(reference.pvalue, abs=0.01)
    # the new user's case: GRU reached it in 2 of 2 runs, LSTM in 0 of 2 — too few seeds, never "200 vs 200"
    for seed in range(2):
        fake_run(tmp_path / "two", f"gru{seed}", "gru", seed, 0.005, steps_to_target=50)
        fake_run(tmp_path / "two", f"lstm{seed}", "lstm", seed, 0.005)
    two = judge_claims(load_runs([tmp_path / "two"]).runs).set_index("claim")
    steps = two.loc["GRU reaches the target in fewer steps than LSTM"]
    assert steps["verdict"] == "too few seeds" and "reached it in 2/2 vs 0/2 runs" in steps["evidence"]
    assert "not reached by half (> 100 steps)" in steps["evidence"]  # censored at the steps the runs took
    for seed in range(2, 5):
        fake_run(tmp_path / "two", f"gru{seed}", "gru", seed, 0.005, steps_to_target=50)
        fake_run(tmp_path / "two", f"lstm{seed}", "lstm", seed, 0.005)
    five = judge_claims(load_runs([tmp_path / "two"]).runs).set_index("claim")
    steps = five.loc["GRU reaches the target in fewer steps than LSTM"]
    assert steps["verdict"] == "holds" and steps["test"] == "log-rank (exact permutation)"
    assert steps["p"] == pytest.approx(2 / 252)


def test_no_difference_within_the_margin_is_equivalent_and_a_duplicate_counts_once(tmp_path):
    claim_runs(
        tmp_path / "a",
        [
            ("gru", [0.0100, 0.0101, 0.0099, 0.0100, 0.0102, 0.0098], 13121, 100000),
            ("lstm", [0.01005, 0.01015, 0.00995, 0.01008, 0.00992, 0.01012], 17473, 100000),
        ],
    )
    claims = judge_claims(load_runs([tmp_path / "a"]).runs).set_index("claim")
    speed = claims.loc["GRU trains faster than LSTM (tokens/s)"]
    assert speed["verdict"] == "equivalent" and "equivalent within ±1e+04 (TOST p=" in speed["evidence"]
    import shutil

    shutil.copytree(tmp_path / "a", tmp_path / "b")
    runs = load_runs([tmp_path / "a", tmp_path / "b"])
    assert len(runs.runs) == 12 and len(runs.warnings) == 12
    assert (
        f"{tmp_path / 'b' / 'gru0'}: the same config and seed as {tmp_path / 'a' / 'gru0'} — counted once"
        in (runs.warnings[0])
    )


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"claim": "x", "a": "gru", "b": "lstm", "measure": "params", "test": "bigger"}, "test 'bigger' is not one of"),
        ({"claim": "x", "a": "gru", "b": "lstm", "measure": "params"}, "missing test"),
        ({"claim": "x", "a": "gru", "b": "lstm", "measure": "params", "test": "better"}, "needs a task metric"),
        ({"claim": "x", "a": {"model": ["gru", "lstm"]}, "b": "rnn", "measure": "test", "test": "better"}, "pick"),
        ({"claim": "x", "a": "gru", "b": "lstm", "measure": "test", "test": "more", "colour": 1}, "unknown key"),
    ],
)
def test_a_wrong_claim_is_one_line_naming_it(in_process, tmp_path, entry, message):
    import yaml

    fake_run(tmp_path / "runs", "0", "gru", 0, 0.01)
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({"claims": [entry]}))
    code, _, err = in_process("report", "runs", "--claims", "mine.yaml")
    assert code == 2 and message in err and "mine.yaml, claim 1" in err and len(err.strip().splitlines()) == 1


def test_a_claims_file_of_ones_own_is_decided_over_a_folder(in_process, tmp_path):
    """The README's own cell (mgu) against GRU: a claim nobody wrote into rnnbench."""
    import yaml

    claim_runs(
        tmp_path / "runs",
        [("mgu", [0.0050, 0.0052, 0.0051], 9000, 300000), ("gru", [0.010, 0.011, 0.012], 13121, 160000)],
    )
    claim = {"claim": "MGU beats GRU ({metric})", "a": "mgu", "b": "gru", "measure": "test", "test": "better"}
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({"claims": [claim]}))
    code, out, err = in_process("report", "runs", "--claims", "mine.yaml")
    assert code == 0, err
    claims = pd.read_csv(tmp_path / "runs" / "report" / "claims.csv")
    assert list(claims["claim"]) == ["MGU beats GRU (mse)"] and claims["verdict"][0] == "holds"
    assert "MGU beats GRU (mse)" in out


def test_published_numbers_are_set_beside_the_runs_that_measured_the_same(tmp_path):
    """A study's published.yaml (report/published.py): the paper's number per model beside the
    measured mean [95% CI], best seed, n and the setting the runs were at."""
    import yaml

    root = tmp_path / "study"
    for seed, (gru, lstm) in enumerate([(0.010, 0.20), (0.012, 0.16), (0.014, 0.18)]):
        fake_run(root, f"gru{seed}", "gru", seed, gru, seq_len=200)
        fake_run(root, f"lstm{seed}", "lstm", seed, lstm, seq_len=200)
    entry = {
        "source": "Bai, Kolter & Koltun 2018, Table 1",
        "setting": "adding, T = 600",
        "convention": "one run per model",
        "where": {"dataset.seq_len": 200},
        "metric": "mse",
        "values": {"gru": 5.3e-5, "lstm": 0.164, "tcn": 5.8e-5},
    }
    (root / "published.yaml").write_text(yaml.safe_dump({"published": [entry]}))
    markdown = write_report([root], tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "published.csv").set_index("model")
    assert table.loc["gru", "published"] == 5.3e-5 and table.loc["gru", "n"] == 3
    assert table.loc["gru", "mean"] == pytest.approx(0.012) and table.loc["gru", "best seed"] == 0.010  # mse: min
    assert table.loc["lstm", "ci_low"] == pytest.approx(mean_ci([0.20, 0.16, 0.18])[1])
    assert table.loc["gru", "measured at"] == "adding, T = 200, 1,128 params"
    assert table.loc["tcn", "n"] == 0 and table.loc["tcn", "measured at"] == "not run"  # listed, not hidden
    assert "## Beside the published numbers" in markdown and "0.012 [" in markdown


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"source": "x", "setting": "y", "metric": "mse"}, "values"),
        ({"source": "x", "setting": "y", "metric": "mse", "values": {"gru": "small"}}, "values maps each model"),
        ({"source": "x", "setting": "y", "metric": "mse", "values": {"gru": 1}, "page": 3}, "page"),
    ],
)
def test_a_wrong_published_entry_is_one_line_naming_it(in_process, tmp_path, entry, message):
    import yaml

    (tmp_path / "mine.yaml").write_text(
        yaml.safe_dump({"parts": {"p": {"models": ["gru"], "overrides": ["dataset=adding"]}}, "published": [entry]})
    )
    code, _, err = in_process("study", "mine.yaml")
    assert code == 2 and message in err and "published entry 1" in err and len(err.strip().splitlines()) == 1


def test_an_interval_is_cut_to_its_metrics_range():
    """Three seeds at 1.0 and two at 0.5: the t-interval passes 1; an accuracy cannot."""
    accuracies = [1.0, 1.0, 1.0, 0.5, 0.5]
    mean, low, high = mean_ci(accuracies)
    assert high > 1 and mean_ci(accuracies, "acc") == (mean, low, 1.0)
    assert mean_ci([0.001, 0.2, 0.002], "mse")[1] == 0.0 and mean_ci([0.001, 0.2, 0.002])[1] < 0
    assert mean_ci(accuracies, "my_own_metric") == (mean, low, high)  # a metric of unknown range is not cut
