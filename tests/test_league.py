"""The league table: Friedman and Nemenyi against Demšar (2006) and scipy, each setting ranked, the
ranking across settings, the critical-difference diagram in every format of the report."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from rnnbench.report import write_report
from rnnbench.report.collect import load_runs
from rnnbench.report.league import across_settings, league
from rnnbench.report.stats import friedman, holm, nemenyi_cd
from tests.test_report import fake_run

# Demšar (2006), Table 6: AUC of C4.5 and three variants on 14 data sets. The paper ranks from
# unrounded values: on "voting" C4.5+cf is ahead of C4.5+m+cf, which the printed 0.975 / 0.975 hide.
DEMSAR = pd.DataFrame(
    [
        [0.763, 0.768, 0.771, 0.798],
        [0.599, 0.591, 0.590, 0.569],
        [0.954, 0.971, 0.968, 0.967],
        [0.628, 0.661, 0.654, 0.657],
        [0.882, 0.888, 0.886, 0.898],
        [0.936, 0.931, 0.916, 0.931],
        [0.661, 0.668, 0.609, 0.685],
        [0.583, 0.583, 0.563, 0.625],
        [0.775, 0.838, 0.866, 0.875],
        [1.000, 1.000, 1.000, 1.000],
        [0.940, 0.962, 0.965, 0.962],
        [0.619, 0.666, 0.614, 0.669],
        [0.972, 0.981, 0.9751, 0.975],
        [0.957, 0.978, 0.946, 0.970],
    ],
    columns=["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"],
)


def test_friedman_and_nemenyi_reproduce_demsars_worked_example():
    ranking = friedman(-DEMSAR)  # higher AUC is better: rank the negated scores
    assert list(ranking.ranks) == ["C4.5+m+cf", "C4.5+m", "C4.5+cf", "C4.5"]
    assert [round(r, 3) for r in ranking.ranks.values()] == [1.964, 2.000, 2.893, 3.143]  # the paper's
    assert round(ranking.chi2, 2) == 9.28 and round(ranking.f, 2) == 3.69  # χ²_F and F_F, as printed
    assert ranking.p_f == pytest.approx(scipy_stats.f.sf(ranking.f, 3, 39))
    assert round(ranking.cd, 2) == 1.25  # Nemenyi, k = 4, N = 14
    se = math.sqrt(4 * 5 / (6 * 14))  # each against the best-ranked: z = (R_i − R_1)/se, then Holm
    raw = {m: 2 * scipy_stats.norm.sf((r - 1.9642857) / se) for m, r in ranking.ranks.items() if m != "C4.5+m+cf"}
    assert ranking.p_vs_best["C4.5"] == pytest.approx(3 * raw["C4.5"], rel=1e-4)  # z = 2.42
    assert ranking.p_vs_best["C4.5+cf"] == pytest.approx(2 * raw["C4.5+cf"], rel=1e-4)
    assert ranking.p_vs_best["C4.5+m"] == pytest.approx(max(raw["C4.5+m"], 2 * raw["C4.5+cf"]), rel=1e-4)


def test_settings_that_all_rank_alike_leave_the_f_test_undefined_not_p_0():
    ranking = friedman(pd.DataFrame([[1.0, 2.0, 3.0]] * 5, columns=list("abc")))
    assert ranking.chi2 == pytest.approx(10.0) and math.isinf(ranking.f) and math.isnan(ranking.p_f)
    assert ranking.p == pytest.approx(scipy_stats.chi2.sf(10.0, 2))


def test_friedman_equals_scipy_where_no_setting_has_a_tie():
    scores = np.random.default_rng(0).normal(size=(9, 5))
    ranking = friedman(pd.DataFrame(scores, columns=list("abcde")))
    expected = scipy_stats.friedmanchisquare(*scores.T)
    assert ranking.chi2 == pytest.approx(expected.statistic) and ranking.p == pytest.approx(expected.pvalue)


@pytest.mark.parametrize("k, q", [(2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728), (6, 2.850), (10, 3.164)])
def test_nemenyi_critical_values_are_demsars_table(k, q):
    assert nemenyi_cd(k, 1) / math.sqrt(k * (k + 1) / 6) == pytest.approx(q, abs=1e-3)


def league_runs(root, seeds=3):
    """adding at T = 100 and 200 with rnn (stays at the baseline), lstm, gru, and hybrid_stacked at
    T = 100 only; at T = 400 every model stays at the baseline."""
    means = {
        100: {"gru": 0.010, "lstm": 0.011, "rnn": 0.160, "hybrid_stacked": 0.012},
        200: {"gru": 0.020, "lstm": 0.015, "rnn": 0.165},
        400: {"gru": 0.166, "lstm": 0.165, "rnn": 0.167},
    }
    for seq_len, models in means.items():
        for model, mean in models.items():
            for seed in range(seeds):
                fake_run(
                    root, f"{model}_{seq_len}_{seed}", model, seed, mean * (1 + 0.05 * (seed - 1)), seq_len=seq_len
                )


def test_each_setting_is_ranked_and_each_model_compared_with_its_best(tmp_path):
    league_runs(tmp_path)
    table = league(load_runs([tmp_path]).runs)
    at_100 = table[table["setting"] == "adding (seq_len=100)"].set_index("model")
    assert list(at_100.index) == ["gru", "lstm", "hybrid_stacked", "rnn"]
    assert list(at_100["rank"]) == [1, 2, 3, 4]
    assert at_100.loc["gru", "verdict"] == "best" and math.isnan(at_100.loc["gru", "p"])
    assert at_100.loc["rnn", "verdict"] == "worse" and at_100.loc["rnn", "test"] == "Welch t"
    assert at_100.loc["lstm", "verdict"] == "not shown worse"  # 10% apart with a 5% spread, n = 3
    assert at_100.loc["rnn", "beats baseline"] > 0.05 and at_100.loc["gru", "beats baseline"] < 0.05
    assert table.loc[table["setting"] == "adding (seq_len=200)", "model"].iloc[0] == "lstm"
    tested = table["p"].dropna()  # one Holm family over every setting's comparisons
    assert table.loc[tested.index, "p (Holm)"].tolist() == pytest.approx(holm(tested.tolist()))

    ranking, chosen, left_out, unlearned = across_settings(table)
    assert chosen == ["adding (seq_len=100)", "adding (seq_len=200)"]  # T = 400: no model learned
    assert unlearned == ["adding (seq_len=400)"] and left_out == ["hybrid_stacked"]
    assert ranking.ranks == {"gru": 1.5, "lstm": 1.5, "rnn": 3.0} and ranking.n == 2


def test_two_seeds_rank_but_are_not_compared(tmp_path):
    league_runs(tmp_path, seeds=2)
    table = league(load_runs([tmp_path]).runs)
    assert set(table.loc[table["rank"] > 1, "verdict"]) == {"too few seeds"}


def test_the_league_is_in_every_format_of_the_report(tmp_path):
    league_runs(tmp_path / "runs")
    markdown = write_report([tmp_path / "runs"], out=tmp_path / "out", formats=("svg",))
    out = tmp_path / "out"
    assert "## League: each setting's models ranked" in markdown
    assert "League across settings: 3 models over 2 settings" in markdown and "Nemenyi critical difference" in markdown
    assert re.search(r"models left out \(not in all of these settings\) +\| hybrid_stacked", markdown)
    csv = pd.read_csv(out / "league.csv")
    assert {"setting", "rank", "model", "p (Holm)", "verdict"} <= set(csv.columns)
    assert csv["setting"].str.startswith("across 2 settings (Friedman").sum() == 3
    assert (out / "league_cd.png").stat().st_size > 5000 and (out / "league_cd.svg").exists()
    assert "League across settings" in (out / "report.tex").read_text()
    html = (out / "report.html").read_text()
    assert "League across settings: 3 models" in html and "average ranks and the Nemenyi critical difference" in html


def test_a_report_without_a_league_writes_an_empty_league_csv(tmp_path):
    fake_run(tmp_path / "runs", "0", "gru", 0, 0.01)
    write_report([tmp_path / "runs"], out=tmp_path / "out")
    assert pd.read_csv(tmp_path / "out" / "league.csv").empty
    assert not (tmp_path / "out" / "league_cd.png").exists()
