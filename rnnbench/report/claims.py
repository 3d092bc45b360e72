"""Claims about recurrent cells, as data, each judged from the runs that bear on it.

A claim (conf/claims/folk.yaml holds the folk ones; `rnnbench report DIR --claims FILE.yaml` and a
study file's `claims:` add one's own) names two sides — a model, or a list of models with
`pick: better`, and config switches — a `measure` and a `test`:

    measure                      what is compared                         decided with
    test, test.<metric>          the test metric (skill)                  compare(): Welch t, or the exact
    at_T.<T′>                    the test metric at another length           permutation test under ties /
                                 (`rnnbench eval`; skill)                    without spread; gated on the
                                                                            task's trivial baseline
    steps_to_target              steps to the task's target; a run that   log-rank, permutation p; Kaplan–
                                 never reached it is censored              Meier medians in the evidence
    params, core_params,         counts, the same for every seed          exact comparison, no test
    state_size, flops_per_token
    tokens_per_s                 speed: each run's training step timed    compare()
                                 alone after training, on the kernels a
                                 user gets (timing.json: training/
                                 timing.py); without one, the speed it
                                 trained at (single runs only)
    tokens_per_s_reference       the same at equal implementation: every  compare()
                                 recurrence on its reference loop
    grad_reach, analysis.<key>,  any number a record holds                compare()
    any numeric runs.csv column

    test: better / worse (on a task metric), more / fewer, non_inferior (within `margin` × b's mean)

Two runs are in one setting when they are of one dataset and alike in every dataset, trainer and
optimizer key and in the model's hidden_size (seeds, config.INCIDENTAL_KEYS and keys tuned per
model aside); a claim is judged in each setting that holds both its sides — `where` narrows the
settings ({key: value}; `longest: <key>`: at the largest value of a sweep of that key). Where a
report holds no such pair, the claim is not listed: verdicts are never written in advance.

Verdicts: holds, does not hold, equivalent, inconclusive, neither learned, too few seeds.
- The claims of one report are one family: their p-values are adjusted together (Holm–Bonferroni,
  stats.holm) and each verdict is read from its adjusted p at 5%. Exact claims need no test and are
  not in the family.
- A claim decided by a test needs at least stats.MIN_SEEDS runs a side; fewer: "too few seeds".
- A claim about skill is decided only where at least one side beats the task's trivial baseline,
  significantly (one-sided test against the baseline scored on the same test data, stats.beats) —
  or, for steps to target, reached it at least once. Where neither does, "neither learned": two
  failures can differ "significantly" and say nothing about the cells. Not in the family either.
- A directional claim whose difference is not shown is tested for equivalence (two one-sided
  tests, stats.equivalence_p) within ±`margin` of b's mean (default 10%); those p-values are a
  second family, Holm-adjusted among themselves: "equivalent" is an answer ("no difference larger
  than 10%"), not a shrug. Else "inconclusive", with the smallest difference the test could have
  detected (80% power, stats.detectable).
- Beside each difference: Hedges' g with its 95% interval (how big); the evidence names the test.

Width. Runs sized by `model.param_budget` are compared at equal budget (their hidden sizes
differ by design); the parameter-count claims say `where: {model.param_budget: null}`: at equal
hidden_size, where they mean something. Keys a study tuned per model (`tuned`, e.g. trainer.lr:
each model at its own best value) do not split settings.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rnnbench.config import SEED_KEYS, config_dir, incidental
from rnnbench.errors import UserError
from rnnbench.report.collect import (
    AT_LENGTH,
    AT_LENGTH_BASELINE,
    BUDGET_KEYS,
    HPARAM,
    TIMED,
    TIMED_REFERENCE,
    as_typed,
    config_values,
)
from rnnbench.report.stats import (
    ALPHA,
    Comparison,
    Survival,
    beats,
    claim_p,
    compare,
    equivalence_p,
    holm,
    logrank,
    short,
    verdict,
)

FOLK = config_dir() / "claims" / "folk.yaml"
TESTS = {"better": None, "worse": None, "more": ">", "fewer": "<", "non_inferior": None}
EXACT = ("params", "core_params", "state_size", "flops_per_token")  # the same for every seed of a config
SPEED = {"tokens_per_s": TIMED, "tokens_per_s_reference": TIMED_REFERENCE}  # measure → its timing columns
CLAIM_KEYS = {"claim", "a", "b", "measure", "test", "margin", "where"}
SIDE_KEYS = {"model", "pick"}
SHARED_MODEL_KEYS = ("model.hidden_size", *BUDGET_KEYS)
BUDGETS, WIDTH, TUNED = [HPARAM + key for key in BUDGET_KEYS], HPARAM + "model.hidden_size", HPARAM + "tuned"
MARGIN = 0.10  # default margin of non-inferiority and equivalence, as a fraction of b's mean
NEITHER, TOO_FEW, EQUIVALENT = "neither learned", "too few seeds", "equivalent"
# claims.csv; the report's tables show DISPLAY.
COLUMNS = [
    "claim",
    "setting",
    "verdict",
    "test",
    "p",
    "p_adjusted",
    "p_equivalence",
    "effect_size",
    "effect_low",
    "effect_high",
    "detectable",
    "n_a",
    "n_b",
    "evidence",
]
DISPLAY = ["claim", "setting", "verdict", "p (Holm)", "Hedges' g [95% CI]", "evidence"]


@dataclass(frozen=True)
class Side:
    """Runs of `models` (one, or the better of several on the measure: `pick`) with `switches`."""

    models: tuple[str, ...]
    switches: dict
    pick: str | None = None

    def name(self, chosen: str | None = None) -> str:
        model = chosen or "/".join(self.models)
        return model + "".join(
            f" {k.split('.')[-1]}={'/'.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in self.switches.items()
        )


@dataclass(frozen=True)
class Claim:
    text: str
    a: Side
    b: Side
    measure: str
    test: str
    margin: float = MARGIN
    where: dict = field(default_factory=dict)
    longest: str | None = None


def load_claims(path: Path | str | None = None, entries: list | None = None) -> list[Claim]:
    """The claims of a YAML file (`claims:` list; default the folk claims) or of `entries`; a
    wrong entry is one line naming the file, the claim and what is allowed."""
    import yaml

    where = str(path or FOLK)
    if entries is None:
        try:
            data = yaml.safe_load(Path(where).read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise UserError(f"cannot read the claims file {where}: {str(exc).splitlines()[0]}") from None
        entries = data.get("claims") if isinstance(data, dict) else None
        if not isinstance(entries, list) or not entries:
            raise UserError(f"{where}: a claims file holds a non-empty list under `claims:` (see {FOLK})")
    return [_claim(entry, f"{where}, claim {i}") for i, entry in enumerate(entries, 1)]


def _claim(entry: Any, where: str) -> Claim:
    if not isinstance(entry, dict):
        raise UserError(f"{where}: a claim is a mapping with claim, a, b, measure, test (got {entry!r})")
    unknown = sorted(set(entry) - CLAIM_KEYS)
    missing = sorted({"claim", "a", "b", "measure", "test"} - set(entry))
    if unknown or missing:
        what = f"unknown key {', '.join(unknown)}" if unknown else f"missing {', '.join(missing)}"
        raise UserError(f"{where}: {what}; a claim has {', '.join(sorted(CLAIM_KEYS))}")
    where = f"{where} ({entry['claim']!r})"
    if entry["test"] not in TESTS:
        raise UserError(f"{where}: test {entry['test']!r} is not one of {', '.join(TESTS)}")
    measure = str(entry["measure"])
    if entry["test"] in ("better", "worse", "non_inferior") and not _skill(measure):
        raise UserError(
            f"{where}: test {entry['test']} needs a task metric measure (test, test.<metric>, "
            f"{AT_LENGTH}<T>), not {measure!r}; use more or fewer"
        )
    margin = entry.get("margin", MARGIN)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin < 10:
        raise UserError(f"{where}: margin must be a fraction of b's mean in [0, 10), got {margin!r}")
    conditions = dict(entry.get("where") or {})
    longest = conditions.pop("longest", None)
    return Claim(
        str(entry["claim"]),
        _side(entry["a"], f"{where}, side a"),
        _side(entry["b"], f"{where}, side b"),
        measure,
        entry["test"],
        float(margin),
        conditions,
        longest,
    )


def _side(entry: Any, where: str) -> Side:
    if isinstance(entry, str):
        entry = {"model": entry}
    if not isinstance(entry, dict) or "model" not in entry:
        raise UserError(f"{where}: a side names its model, e.g. {{model: lstm, model.bidirectional: true}}")
    bad = [k for k in entry if k not in SIDE_KEYS and not k.startswith(("model.", "dataset.", "trainer."))]
    if bad:
        raise UserError(f"{where}: {', '.join(bad)}: a side holds model, pick and config keys (model.*, …)")
    models = entry["model"] if isinstance(entry["model"], list) else [entry["model"]]
    pick = entry.get("pick")
    if pick not in (None, "better") or (len(models) > 1) != (pick == "better"):
        raise UserError(f"{where}: a list of models needs pick: better (the better of them), one model none")
    return Side(tuple(map(str, models)), {k: v for k, v in entry.items() if k not in SIDE_KEYS}, pick)


def _skill(measure: str) -> bool:
    return measure == "test" or measure.startswith(("test.", AT_LENGTH))


@dataclass
class Judgement:
    """One claim in one setting before the family's adjustment: its test and how to read it, or a
    verdict fixed without a test (exact counts; neither side learned; too few seeds)."""

    claim: str
    setting: str
    evidence: str
    comparison: Comparison | None = None
    survival: Survival | None = None
    expect: str = ">"
    margin: float = 0.0  # of non-inferiority, in the measure's unit
    equivalence: float = math.nan  # the equivalence margin, in the measure's unit (directional claims)
    fixed: str | None = None
    notes: list[str] = field(default_factory=list)  # said after the numbers

    @property
    def p(self) -> float:
        if self.fixed:
            return math.nan
        if self.survival is not None:
            return self.survival.p
        return math.nan if self.comparison is None else claim_p(self.comparison, self.expect, self.margin)

    @property
    def test(self) -> str:
        if self.fixed in (None, NEITHER, TOO_FEW):
            found = self.survival or self.comparison
            return f"log-rank ({self.survival.test})" if self.survival else found.test if found else "none"
        return "exact (no test)"

    @property
    def p_equivalence(self) -> float:
        c = self.comparison
        if self.fixed or c is None or self.expect not in (">", "<") or math.isnan(self.equivalence):
            return math.nan
        return equivalence_p(c, self.equivalence)

    def verdict(self, q: float, q_equivalence: float) -> str:
        if self.fixed:
            return self.fixed
        if self.survival is not None:  # sign of a's time − b's: a reaches sooner when Z > 0
            sign = -1 if self.survival.z > 0 else 1
            if q < ALPHA:
                return "holds" if (sign < 0) == (self.expect == "<") else "does not hold"
            return "inconclusive"
        found = verdict(self.comparison, self.expect, self.margin, q)
        return EQUIVALENT if found == "inconclusive" and q_equivalence < ALPHA else found


def judge_claims(runs: pd.DataFrame, claims: list[Claim] | None = None) -> pd.DataFrame:
    """One row per (claim, setting) the runs can judge (COLUMNS), verdicts read from p-values
    adjusted over all of them; `claims`: default the folk claims."""
    if runs.empty or "status" not in runs:
        return pd.DataFrame(columns=COLUMNS)
    done = runs[(runs["status"] == "completed") & runs["tested"].fillna(False).astype(bool)]  # tuning trials aside
    return decide(_judgements(done, load_claims() if claims is None else claims))


def decide(judgements: list[Judgement]) -> pd.DataFrame:
    """Holm over the family of tested claims and over that of the equivalence tests, then each
    verdict and its evidence."""
    ps, eqs = [j.p for j in judgements], [j.p_equivalence for j in judgements]
    rows = []
    for j, p, q, e, qe in zip(judgements, ps, holm(ps), eqs, holm(eqs)):
        c = j.comparison
        found = j.verdict(q, qe)
        sized = c is not None and not j.fixed  # an effect size for a tested difference only
        g = (c.g, c.g_low, c.g_high) if sized else (math.nan,) * 3
        evidence = j.evidence
        if not math.isnan(g[0]):
            evidence += f"; Hedges' g {g[0]:.2f} [{g[1]:.2f}, {g[2]:.2f}]"
        if found == EQUIVALENT:
            evidence += f"; equivalent within ±{short(j.equivalence)} (TOST p={e:.3g}, Holm {qe:.3g})"
        if found == "inconclusive" and c is not None and not math.isnan(c.detectable):
            evidence += (
                f"; underpowered: with n={c.n_a}, {c.n_b} this test detects a difference of "
                f"{short(c.detectable)} or more (80% power)"
            )
        evidence += "".join(j.notes)
        counted = j.survival or c
        rows.append(
            {
                "claim": j.claim,
                "setting": j.setting,
                "verdict": found,
                "test": j.test,
                "p": p,
                "p_adjusted": q,
                "p_equivalence": qe,
                "effect_size": g[0],
                "effect_low": g[1],
                "effect_high": g[2],
                "detectable": c.detectable if c else math.nan,
                "n_a": counted.n_a if counted else None,
                "n_b": counted.n_b if counted else None,
                "evidence": evidence,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def display_claims(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims as the report's tables show them: p (adjusted) and g as text."""

    def p_text(row) -> str:
        return "—" if math.isnan(row.p) else f"{row.p:.2g} ({row.p_adjusted:.2g})"

    def g_text(row) -> str:
        return (
            "—"
            if math.isnan(row.effect_size)
            else f"{row.effect_size:.2f} [{row.effect_low:.2f}, {row.effect_high:.2f}]"
        )

    shown = claims.assign(
        **{
            "p (Holm)": [p_text(r) for r in claims.itertuples()],
            "Hedges' g [95% CI]": [g_text(r) for r in claims.itertuples()],
        }
    )
    return shown[DISPLAY]


def _judgements(done: pd.DataFrame, claims: list[Claim]) -> list[Judgement]:
    """Each claim in each setting: the plain ones setting by setting, then those at the longest
    value of a sweep."""
    rows: list[Judgement] = []
    for setting, frame, _ in settings(done):
        for claim in claims:
            if claim.longest is None:
                rows += _judge(claim, setting, frame)
    for key in dict.fromkeys(c.longest for c in claims if c.longest):
        column = HPARAM + key
        if column not in done:
            continue
        for setting, family, _ in settings(done, ignore=(column,)):  # runs alike but for the swept key
            values = family[column].dropna()
            if values.nunique() < 2:
                continue
            at = family[family[column] == values.max()]
            for claim in claims:
                if claim.longest == key:
                    rows += _judge(claim, setting, at, longest=as_typed(values.max()))
    return rows


def _judge(claim: Claim, setting: str, frame: pd.DataFrame, longest: str = "") -> list[Judgement]:
    """The claim in one setting, or nothing when the setting does not hold both its sides with
    the measure recorded."""
    frame = matching(frame, claim.where)
    direction = primary_direction(frame)
    if frame.empty or (_skill(claim.measure) and direction is None):
        return []
    primary, lower_better = (direction[0], direction[1] == "<") if direction else (None, False)
    metric = claim.measure.split(".", 1)[1] if claim.measure.startswith("test.") else primary
    column, gate, unit = _column(claim.measure, metric, frame)
    if column == "tokens_per_s":  # not timed alone: a batched member's speed is its share of K runs' steps
        frame = frame[frame["members"].isna()] if "members" in frame else frame
    better = "<" if lower_better else ">"
    expect = {"better": better, "worse": ">" if better == "<" else "<", "non_inferior": better + "="}.get(
        claim.test, TESTS[claim.test]
    )
    measured = column if column in frame else None
    if claim.measure == "steps_to_target":
        measured = "steps_to_target" if "steps_to_target" in frame else None
    if measured is None:
        return []
    a = _side_runs(frame, claim.a, measured, expect)
    b = _side_runs(frame, claim.b, measured, expect)
    if a is None or b is None:
        return []
    (runs_a, name_a), (runs_b, name_b) = a, b
    text = claim.text.format(metric=metric, longest=longest)
    if claim.measure == "steps_to_target":
        return [_survival(text, setting, frame, runs_a, runs_b, (name_a, name_b), expect)]
    values_a, values_b = runs_a[measured].astype(float), runs_b[measured].astype(float)
    if claim.measure in EXACT and values_a.nunique() == 1 and values_b.nunique() == 1:
        va, vb = values_a.iloc[0], values_b.iloc[0]
        right = va > vb if expect.startswith(">") else va < vb
        return [
            Judgement(
                text,
                setting,
                f"{name_a} {va:,.0f} vs {name_b} {vb:,.0f} {claim.measure.replace('_', ' ')} "
                f"(×{va / vb:.2f}; exact, the same for every seed)",
                fixed="holds" if right else "does not hold",
            )
        ]
    comparison = compare(values_a, values_b)
    margin = claim.margin * abs(comparison.mean_b) if not math.isnan(comparison.mean_b) else math.nan
    evidence = f"{name_a} vs {name_b}: {comparison.describe(unit)}"
    if claim.measure in SPEED:
        evidence += _speed_note(column, runs_a, runs_b)
    judgement = Judgement(
        text,
        setting,
        evidence,
        comparison=comparison,
        expect=expect,
        margin=margin if expect.endswith("=") else 0.0,
        equivalence=margin if expect in (">", "<") else math.nan,
    )
    if expect.endswith("="):
        judgement.evidence += f"; margin ±{margin:.3g} ({claim.margin:.0%} of {name_b}'s mean)"
    if math.isnan(comparison.p):
        judgement.fixed = TOO_FEW
    elif gate is not None:
        gated, baseline = gate
        _gate_on_baseline(judgement, frame, baseline, better, {name_a: (runs_a, gated), name_b: (runs_b, gated)})
    return [judgement]


def _column(measure: str, metric: str | None, frame: pd.DataFrame) -> tuple[str, tuple[str, str] | None, str]:
    """(runs column, gate, unit). The gate — (a runs column, its baseline column) or None — is what
    each side must beat the task's trivial baseline on for the claim to be judged (else NEITHER)."""
    if measure == "test" or measure.startswith("test."):
        return f"final.{metric}", (f"final.{metric}", f"baseline.{metric}"), ""
    if measure.startswith(AT_LENGTH):
        length = measure[len(AT_LENGTH) :]
        column = f"{AT_LENGTH}{length}.{metric}"
        return column, (column, f"{AT_LENGTH_BASELINE}{length}.{metric}"), ""
    if measure in SPEED:
        frames = "kind" in frame and (frame["kind"] == "frames").any()
        timed = SPEED[measure] + "tokens_per_s"
        timed_alone = timed in frame and frame[timed].notna().any()
        column = timed if timed_alone or measure != "tokens_per_s" else measure
        return column, None, " frames/s" if frames else " tok/s"
    if measure == "grad_reach":
        # read after training: a model that never left the baseline carries the gradient its failed
        # training left (saturated gates, set by its learning rate), which says nothing about its
        # cell — so the same gate as the skill measures, on the task's own metric
        return measure, ((f"final.{metric}", f"baseline.{metric}") if metric else None), " steps"
    return measure, None, ""


def _speed_note(column: str, runs_a: pd.DataFrame, runs_b: pd.DataFrame) -> str:
    """How the speeds were measured: the kernels of each side when timed alone, else a warning."""
    if column == "tokens_per_s":
        return "; the speeds they trained at (not timed alone: rnnbench time DIR)"
    kernel = column.replace("tokens_per_s", "kernel")
    names = [
        " / ".join(map(str, runs[kernel].dropna().unique())) if kernel in runs else "?" for runs in (runs_a, runs_b)
    ]
    return f"; timed alone after training: {names[0]} vs {names[1]}"


def _side_runs(frame, side: Side, column: str, expect: str) -> tuple[pd.DataFrame, str] | None:
    """The side's runs that recorded `column` and its name; for `pick: better`, the model with
    the better mean (by the claim's direction); None when no run of the side recorded it."""
    found = []
    for model in side.models:
        runs = _select(frame, model, side.switches)
        if column == "steps_to_target" and len(runs):
            found.append((runs, model))
        elif column in runs and runs[column].notna().any():
            found.append((runs[runs[column].notna()], model))
    if not found:
        return None
    if side.pick == "better":
        if len(found) < len(side.models):
            return None  # the better of them needs all of them
        pick = min if expect[0] == "<" else max
        runs, model = pick(found, key=lambda f: f[0][column].astype(float).mean())
        return runs, f"{side.name(model)} (the better of {'/'.join(side.models)})"
    return found[0][0], side.name()


def matching(frame: pd.DataFrame, conditions: dict) -> pd.DataFrame:
    """The runs whose config matches each {key: value} (null: not set; a list: any of it)."""
    for key, wanted in conditions.items():
        column = HPARAM + key
        values = frame[column] if column in frame else pd.Series(None, index=frame.index, dtype=object)
        if wanted is None:
            frame = frame[values.isna()]
        else:
            allowed = {as_typed(v) for v in (wanted if isinstance(wanted, list) else [wanted])}
            frame = frame[[not _missing(v) and as_typed(v) in allowed for v in values]]
    return frame


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _survival(text, setting, frame, runs_a, runs_b, names, expect) -> Judgement:
    """Steps to the target as time to an event (stats.logrank): a run that never reached it is
    censored at the steps it took."""
    sides = []
    for runs in (runs_a, runs_b):
        reached = runs["steps_to_target"].notna()
        sides += [runs["steps_to_target"].fillna(runs["steps"]).astype(float), reached]
    survival = logrank(*sides)
    every = frame.get(HPARAM + "trainer.eval_every", pd.Series(dtype=float)).dropna()
    resolution = f"; measured at each evaluation (every {as_typed(every.iloc[0])} steps)" if len(every) else ""
    judgement = Judgement(
        text,
        setting,
        f"{names[0]} vs {names[1]}: {survival.describe(names=names)}{resolution}",
        survival=survival,
        expect=expect,
    )
    if survival.reached_a == 0 and survival.reached_b == 0:
        judgement.fixed = NEITHER  # neither ever reached the target
    elif math.isnan(survival.p):
        judgement.fixed = TOO_FEW
    return judgement


def _gate_on_baseline(judgement: Judgement, frame, baseline: str, better, sides: dict) -> None:
    """Which side beats the task's trivial baseline (one-sided test at 5% against the baseline on
    the same test data, stats.beats); if neither does, the verdict is NEITHER."""
    if baseline not in frame or frame[baseline].isna().all():
        return
    base = float(frame[baseline].astype(float).mean())
    ps = {name: beats(runs[column].astype(float), base, better) for name, (runs, column) in sides.items()}
    beaten = [name for name, p in ps.items() if p < ALPHA]
    who = "both" if len(beaten) == len(sides) else f"{beaten[0]} only" if beaten else "neither"
    name = frame["baseline_name"].dropna()
    label = f"the baseline ({name.iloc[0]})" if len(name) else "the baseline"
    tests = ", ".join(f"{side} p={short(p)}" for side, p in ps.items())
    judgement.notes.append(f"; {label} scores {short(base)}: beaten (one-sided test, 5%) by {who} ({tests})")
    if not beaten:
        judgement.fixed = NEITHER


def settings(done: pd.DataFrame, ignore: tuple[str, ...] = ()) -> Iterator[tuple[str, pd.DataFrame, list[str]]]:
    """(label, runs, varied keys) for each setting: runs of one dataset alike in every key that
    is not the model's own (a key some runs lack does not split them), nor tuned per model, nor the
    width of runs sized by a parameter budget, nor one of `ignore` (columns)."""
    for dataset, frame in done.groupby("dataset", sort=True):
        tuned = {HPARAM + k for keys in frame.get(TUNED, pd.Series(dtype=object)).dropna() for k in keys} & set(frame)
        tuned |= {
            c for c in frame.columns if any(frame[c].equals(frame[t]) for t in tuned)
        }  # optimizer.lr ≡ trainer.lr
        keys = [
            c
            for c in frame.columns
            if c.startswith(HPARAM)
            and _setting_key(c[len(HPARAM) :])
            and c not in tuned
            and c != TUNED
            and c not in ignore
        ]
        values = frame[keys].apply(config_values) if keys else frame[[]]
        budgets = [b for b in BUDGETS if b in values]
        if budgets and WIDTH in values:  # sized by a budget: their widths differ by design
            unsized = (values[budgets] == "none").all(axis=1)
            values[WIDTH] = values[WIDTH].astype(object).where(unsized, "by budget")
        varied = [k for k in keys if values[k].nunique() > 1]
        if not varied:
            yield str(dataset), frame, []
            continue
        for combo, members in frame.groupby([values[k] for k in varied], dropna=False, sort=True):
            combo = combo if isinstance(combo, tuple) else (combo,)
            label = ", ".join(f"{k.split('.')[-1]}={as_typed(v)}" for k, v in zip(varied, combo) if v != "by budget")
            yield f"{dataset} ({label})", members, varied


def _setting_key(key: str) -> bool:
    """Whether two runs must agree on this config key to be compared: not a seed, not incidental,
    and of the model's own keys only those every model shares."""
    if key in SEED_KEYS or incidental(key):
        return False
    return not key.startswith("model.") or key in SHARED_MODEL_KEYS


def _select(frame: pd.DataFrame, model: str, switches: dict) -> pd.DataFrame:
    chosen = frame[frame["model"] == model]
    for key, wanted in switches.items():
        column = HPARAM + key
        if column not in chosen:
            return chosen.iloc[0:0]
        allowed = wanted if isinstance(wanted, (list, tuple)) else [wanted]
        chosen = chosen[chosen[column].isin(allowed)]
    return chosen


def primary_direction(frame: pd.DataFrame) -> tuple[str, str] | None:
    """(primary metric, '<' if lower is better else '>') of these runs' task."""
    for primary, metrics in zip(frame["primary_metric"], frame["metric_directions"]):
        if isinstance(primary, str) and isinstance(metrics, dict) and primary in metrics:
            return primary, "<" if metrics[primary] == "min" else ">"
    return None
