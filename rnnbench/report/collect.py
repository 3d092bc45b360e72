"""Find run records under some paths and load them into pandas: one row per run, one row per
evaluation. A record that cannot be trusted (unreadable, unknown format, still `running`, missing
keys) is skipped with a one-line reason; failed runs are kept, with their reasons.

A run's row is its `record.Summary` read back: identity, the fields the schema marks as report
columns (`Summary.columns()`), the metrics of `final`, `best`, `baseline`, `baseline_val` (as
"final.mse" …), the other baselines, the numbers of `analysis`, and the config as "hp.<key>"."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from rnnbench.config import incidental
from rnnbench.data.task import BY_LENGTH
from rnnbench.errors import UserError
from rnnbench.training.record import (
    AS_BUILT,
    FINISHED,
    FORMAT,
    FORMAT_1,
    METRICS,
    REFERENCE,
    REQUIRED_KEYS,
    SUMMARY,
    UNREADABLE,
    Summary,
    grads_file,
    parse_json,
    read_evals,
    read_json,
    read_timing,
)

REACH_FLOOR = 1e-3  # gradient_reach counts the steps whose gradient is at least this fraction of the last one's
HPARAM = "hp."  # prefix of the flattened config columns in the runs table
BUDGET_KEYS = ("model.param_budget", "model.state_budget")  # sizing: the width is what a budget gave
OTHER_BASELINE = "other_baseline."  # + name + "." + metric
ANALYSIS = "analysis."  # + key: numbers a task adds after training (e.g. max_n_generalised)
AT_LENGTH = "at_T."  # + T′ + "." + metric: test at another length (`rnnbench eval RUN dataset.seq_len=T′`)
TIMED, TIMED_REFERENCE = "timed.", "timed_reference."  # + tokens_per_s / kernel: timed alone, as built / reference
AT_LENGTH_BASELINE = "at_T_baseline."  # + T′ + "." + metric: the baseline on that data


@dataclass
class Runs:
    runs: pd.DataFrame  # one row per run: identity, sizes, speed, final.*, best.*, baseline(_val).*, hp.*
    curves: pd.DataFrame  # one row per evaluation: dir, step, train_loss, val_<metric>, …
    grads: dict[str, list[dict]] = field(default_factory=dict)  # dir → ‖∂L/∂h_t‖ rows (the first and the last)
    by_length: dict[str, dict[int, float]] = field(default_factory=dict)  # dir → length → accuracy (Chomsky tasks)
    skipped: list[str] = field(default_factory=list)  # records not loaded: "<dir>: <reason>"
    warnings: list[str] = field(default_factory=list)  # records loaded with a defect

    def keeping(self, frame: pd.DataFrame) -> Runs:
        """These runs narrowed to the rows of `frame` (a selection of `runs`), their curves too."""
        keep = set(frame["dir"]) if len(frame) else set()
        curves = self.curves[self.curves["dir"].isin(keep)] if len(self.curves) else self.curves
        return Runs(
            frame,
            curves,
            {d: g for d, g in self.grads.items() if d in keep},
            {d: a for d, a in self.by_length.items() if d in keep},
            self.skipped,
            self.warnings,
        )


BENCH_CSV = "bench.csv"


def find_records(paths: list[Path]) -> list[Path]:
    """Folders that hold a summary.json, at or below each path."""
    for path in paths:
        if not path.exists():
            raise UserError(f"report path '{path}' does not exist")
    found = {summary.parent for path in paths for summary in path.rglob(SUMMARY)}
    if not found and not find_benches(paths):
        raise UserError(
            f"no run records ({SUMMARY}) or bench results ({BENCH_CSV}) under "
            f"{', '.join(map(str, paths))}; make some with 'rnnbench train' or 'rnnbench bench'"
        )
    return sorted(found)


def find_benches(paths: list[Path]) -> list[Path]:
    """Folders that hold the results of `rnnbench bench`, at or below each path."""
    return sorted({csv.parent for path in paths for csv in path.rglob(BENCH_CSV)})


def set_trials_aside(runs: Runs) -> tuple[Runs, int]:
    """The runs without the tuner's trials, and how many trials there were — when there are other
    runs: a study's report compares its fresh-seed runs, its trials are summed up by the tuning
    table (`searches`). Paths that hold nothing but trials (one search) keep them."""
    if not len(runs.runs) or "trial" not in runs.runs:
        return runs, 0
    trial = runs.runs["trial"].notna()
    if trial.all() or not trial.any():
        return runs, 0
    return runs.keeping(runs.runs[~trial].reset_index(drop=True)), int(trial.sum())


def searches(paths: list[Path]) -> pd.DataFrame:
    """One row per tuner search (its best.yaml) under the paths: what it chose and what it spent."""
    import yaml
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    rows = []
    for best_file in sorted({p for path in paths for p in path.rglob("best.yaml")}):
        try:
            best = OmegaConf.to_container(OmegaConf.load(best_file))
        except (OSError, ValueError, yaml.YAMLError, OmegaConfBaseException) as exc:  # named, not fatal
            rows.append({"search": str(best_file.parent), "best": f"unreadable: {type(exc).__name__}"})
            continue
        if not isinstance(best, dict) or "trials" not in best:
            continue
        trials, steps = best.get("trials") or {}, best.get("steps") or {}
        params = best.get("best_params") or {}
        edge = best.get("at_edge") or []
        rows.append(
            {
                "search": str(best_file.parent),
                "objective": best.get("objective"),
                "best": ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
                + (f" (at the edge of its range: {', '.join(edge)})" if edge else "")
                or "no trial completed",
                "range searched": searched_range(best.get("space"), best_file.parent.name),
                "value": f"{best['best_value']:.4g}" if isinstance(best.get("best_value"), float) else None,
                "val baseline": f"{best['baseline_val']:.4g}" if isinstance(best.get("baseline_val"), float) else None,
                "beats it": {True: "yes", False: "no: no trial learned"}.get(best.get("beats_baseline")),
                "trials (done / pruned / failed)": f"{trials.get('complete', 0)} / {trials.get('pruned', 0)} / "
                f"{trials.get('fail', 0)}",
                "steps taken": steps.get("taken"),
                "of max": steps.get("without_stops"),
            }
        )
    return pd.DataFrame(rows)


def searched_range(space, folder: str) -> str | None:
    """'trainer.lr in [0.01, 1], log (extended past an edge)' from best.yaml's space (optuna
    distribution reprs); the study continues a search past an edge in <search>/extended_k/."""
    import re

    if not isinstance(space, dict):
        return None
    parts = []
    for key, dist in space.items():
        bounds = dict(re.findall(r"\b(low|high|log)=([^,)]+)", str(dist)))
        if "low" in bounds and "high" in bounds:
            scale = ", log" if bounds.get("log") == "True" else ""
            parts.append(f"{key} in [{float(bounds['low']):.3g}, {float(bounds['high']):.3g}]{scale}")
        else:
            choices = re.search(r"choices=\((.*?),?\)\)$", str(dist))
            parts.append(f"{key} in {{{choices.group(1)}}}" if choices else f"{key}: {dist}")
    return "; ".join(parts) + (" (extended past an edge)" if folder.startswith("extended_") else "")


def load_runs(paths: list[Path], include_running: bool = False) -> Runs:
    """The records under `paths`; runs still training (or killed) only with `include_running`:
    their curves so far, no test numbers."""
    rows, curves, grads, by_length, skipped, warnings = [], [], {}, {}, [], []
    for run_dir in find_records(paths):
        summary = _read_summary(run_dir, include_running)
        if isinstance(summary, str):
            skipped.append(f"{run_dir}: {summary}")
            continue
        evals, bad_lines = _read_metrics(run_dir)
        if isinstance(evals, str):
            skipped.append(f"{run_dir}: {evals}")
            continue
        rows.append(_run_row(run_dir, summary))
        if bad_lines:
            warnings.append(f"{run_dir}/{METRICS}: {bad_lines} unreadable line(s) ignored")
        curves.extend({"dir": str(run_dir), **row} for row in evals)
        accuracy = _read_by_length(run_dir)
        if accuracy:
            by_length[str(run_dir)] = accuracy
        measured = _read_grads(run_dir)
        if measured:
            grads[str(run_dir)] = measured
            rows[-1]["grad_reach"] = gradient_reach(measured[-1]["norms"])
    frame, repeated = _once_each(pd.DataFrame(rows))
    return Runs(pd.DataFrame(rows), pd.DataFrame(curves), grads, by_length, skipped, warnings + repeated).keeping(frame)


def _once_each(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Each (config, seed) once: a run met again (the same folder reported twice, or a copy — two
    paths over one sweep) is one replicate, not two; counting it twice would narrow every interval
    it is in. The first folder (in path order) is kept; a warning names the others."""
    if frame.empty or "hparams_key" not in frame:
        return frame.drop(columns="hparams_key", errors="ignore"), []
    first = ~frame.duplicated("hparams_key")
    notes = [
        f"{row.dir}: the same config and seed as {kept} — counted once (left out)"
        for row in frame[~first].itertuples()
        for kept in frame.loc[first & (frame["hparams_key"] == row.hparams_key), "dir"]
    ]
    return frame[first].drop(columns="hparams_key").reset_index(drop=True), notes


def filter_runs(runs: Runs, where: list[str]) -> Runs:
    """Keep the runs matching every `KEY=VALUE[,VALUE…]` of `where`; KEY is a record field (model,
    dataset, seed, status) or a config key (dataset.seq_len, trainer.lr)."""
    frame = runs.runs
    for condition in where:
        key, sep, values = condition.partition("=")
        column = key if key in frame.columns else HPARAM + key
        if not sep or not key or column not in frame.columns:
            known = sorted(
                {"model", "dataset", "seed", "status"}
                | {c[len(HPARAM) :] for c in frame.columns if c.startswith(HPARAM)}
            )
            raise UserError(f"--where {condition!r}: expected KEY=VALUE with KEY one of: {', '.join(known)}")
        wanted = set(values.split(","))
        frame = frame[frame[column].map(lambda v, wanted=wanted: as_typed(v) in wanted)]
    if frame.empty:
        raise UserError(f"no runs match --where {' '.join(where)}")
    return runs.keeping(frame)


def hashable(value):
    """A config value that pandas can group and compare: lists and mappings as JSON text."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value


def config_values(column: pd.Series) -> pd.Series:
    """A config column ("hp.<key>") as values that decide whether runs were run alike: hashable,
    and a null budget (model.param_budget, model.state_budget) as "none" — no budget is a setting of
    its own (equal width), not a missing key (which never splits runs)."""
    values = column.map(hashable)
    if column.name in [HPARAM + key for key in BUDGET_KEYS]:
        values = values.astype(object).where(values.notna(), "none")
    return values


def as_typed(value) -> str:
    """A value as typed on the command line: 100 for 100.0, true for True."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_summary(run_dir: Path, include_running: bool = False) -> Summary | str:
    """The summary, or why it is skipped (a running one unless `include_running`)."""
    try:
        data = read_json(run_dir / SUMMARY)
    except UNREADABLE as exc:
        return f"{SUMMARY} is unreadable ({textwrap.shorten(str(exc), 90)}); skipped"
    found = data.get("format") if isinstance(data, dict) else "?"
    if found not in (FORMAT, FORMAT_1):
        return f"not an rnnbench run record (format {found!r}, expected {FORMAT!r}); skipped"
    status = data.get("status")
    if status == "running" and not include_running:
        return "incomplete (status 'running': killed, or still training; --include-running shows it); skipped"
    if status == "failed" and not {"model", "dataset", "reason"} <= data.keys():
        return "failed run without model/dataset/reason; skipped"
    if status not in (*FINISHED, "failed", "running"):
        return f"unknown status {status!r}; skipped"
    missing = [k for k in REQUIRED_KEYS if k not in data] if status in FINISHED else []
    if missing:
        return f"missing {', '.join(missing)}; skipped"
    try:
        return Summary.from_json(data)
    except ValueError as exc:
        return f"{SUMMARY}: {exc}; skipped"


def _run_row(run_dir: Path, s: Summary) -> dict:
    row = {
        "dir": str(run_dir),
        "status": s.status,
        "reason": s.reason,
        "dataset": s.dataset,
        "model": s.model,
        "seed": s.seed,
        **s.columns(),
        "baseline_name": s.baseline_name,
        "primary_metric": s.task.get("primary_metric"),
        "solved_at": s.task.get("solved_at"),
        "metric_directions": s.task.get("metrics"),
        "kind": s.task.get("kind"),
        "stop_reason": s.stop_reason,
        "tested": bool(s.final),  # tested: scored on test (not a tuning trial)
        "trial": s.hparams.get("tuning.trial"),  # the tuner's trial number, for a trial
        "members": s.members,  # K when trained as one of K batched members (its speeds are shared time)
        "torch": s.torch,
        "device": s.device,
    }
    for part in ("final", "best", "baseline", "baseline_val"):
        row.update({f"{part}.{k}": v for k, v in getattr(s, part).items()})
    for name, scores in s.baselines.items():  # further reference predictors (stock: linear AR)
        if name != s.baseline_name:
            row.update({f"{OTHER_BASELINE}{name}.{k}": v for k, v in scores.items()})
    row.update(
        {f"{ANALYSIS}{k}": v for k, v in s.analysis.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    )
    row.update({HPARAM + k: v for k, v in s.hparams.items()})
    row["hparams_key"] = json.dumps(  # what a run is: its dataset, model and defining config, seed included
        [s.dataset, s.model, sorted((k, hashable(v)) for k, v in s.hparams.items() if not incidental(k))],
        default=str,
    )
    for record in read_evals(run_dir):  # rnnbench eval; only the length changed: length generalisation
        if set(record["changed"]) == {"dataset.seq_len"}:
            row.update({f"{AT_LENGTH}{record['seq_len']}.{k}": v for k, v in record["metrics"].items()})
            row.update({f"{AT_LENGTH_BASELINE}{record['seq_len']}.{k}": v for k, v in record["baseline"].items()})
    timing = read_timing(run_dir)  # speed measured alone after training (training/timing.py)
    for name, prefix in ((AS_BUILT, TIMED), (REFERENCE, TIMED_REFERENCE)):
        if isinstance(timing.get(name), dict):
            row.update({prefix + key: timing[name].get(key) for key in ("tokens_per_s", "kernel")})
    if any(s.model_info.get(key[len("model.") :]) is not None for key in BUDGET_KEYS):  # the width a budget gave
        row[HPARAM + "model.hidden_size"] = s.model_info["hidden_size"]
    return row


def gradient_reach(norms: list[float], floor: float = REACH_FLOOR) -> int:
    """How many steps back the gradient still counts: the number of t < T with
    ‖∂L/∂h_t‖ ≥ floor · ‖∂L/∂h_T‖. Unlike a ratio it stays finite when the gradient underflows to
    0 (a tanh RNN at T = 200 in float32)."""
    last = norms[-1] if norms else 0.0
    return int(sum(g >= floor * last for g in norms[:-1])) if last > 0 else 0


def _read_grads(run_dir: Path) -> list[dict]:
    """The first and the last measurement of ‖∂L/∂h_t‖ (record.GRADS, diagnostics.py), if any."""
    path = grads_file(run_dir)
    if not path.is_file():
        return []
    try:
        rows = read_json(path)
    except UNREADABLE:
        return []
    rows = (
        [r for r in rows if isinstance(r, dict) and isinstance(r.get("norms"), list)] if isinstance(rows, list) else []
    )
    return [rows[0], rows[-1]] if len(rows) > 1 else rows


def _read_by_length(run_dir: Path) -> dict[int, float]:
    """Accuracy at each input length (data.task.BY_LENGTH, written by the Chomsky tasks), if any."""
    try:
        found = read_json(run_dir / BY_LENGTH) if (run_dir / BY_LENGTH).is_file() else {}
    except UNREADABLE:
        return {}
    if not isinstance(found, dict):
        return {}
    return {int(k): float(v) for k, v in found.items() if str(k).isdigit() and isinstance(v, (int, float))}


def _read_metrics(run_dir: Path) -> tuple[list[dict] | str, int]:
    """The evaluation rows and how many lines could not be parsed (a line cut short: ignored, with
    a warning); or why the record is skipped: a row whose values are not all numbers."""
    path = run_dir / METRICS
    if not path.is_file():
        return [], 0
    rows, bad = [], 0
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        try:
            row = parse_json(line)
        except ValueError:
            bad += 1
            continue
        if not isinstance(row, dict) or "step" not in row:
            bad += 1
            continue
        wrong = [k for k, v in row.items() if isinstance(v, bool) or not isinstance(v, (int, float, type(None)))]
        if wrong:
            return f"{METRICS} line {number}: {wrong[0]} holds {row[wrong[0]]!r:.60}, not a number; skipped", bad
        rows.append(row)
    return rows, bad
